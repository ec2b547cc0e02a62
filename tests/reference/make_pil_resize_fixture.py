#!/usr/bin/env python3
"""Writes tests/data/fixtures/pil-resize/: what Pillow's Image.resize makes of the test images (the resampling the
LLaVA / DeepStack processors use), for the core's fixed-point resampler to equal byte for byte.

Pillow 10.4, the version of the DeepStack authors' time: newer Pillow (13) picks the order of the two passes by
cost, which changes pictures that shrink more vertically than horizontally by up to 10 levels.

Run outside CI, in a virtual environment with `pip install pillow==10.4.0`, after make_qwen3_vl_image_fixture.py:
    python tests/reference/make_pil_resize_fixture.py
"""
import json
from pathlib import Path

import PIL
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent / "data"
OUT = ROOT / "fixtures" / "pil-resize"

# source image, target (w, h), filter
CASES = [
    ("big-budget", (336, 336), "bicubic"),        # LLaVA's square view: shrinks both axes by different factors
    ("tiny-budget", (288, 192), "bicubic"),        # upscale 3x, as a small picture for a grid of crops
    ("wide-banker", (336, 39), "bicubic"),        # large shrink on one axis
    ("small-upscaled", (300, 97), "bicubic"),     # one axis unchanged
    ("small-upscaled", (280, 60), "bicubic"),     # mostly a vertical shrink: Pillow 10 still resizes rows first
    ("tiny-budget", (200, 150), "bilinear"),
    ("small-upscaled", (150, 97), "bilinear"),
]
FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    index = []
    for source, (w, h), name in CASES:
        image = Image.open(ROOT / "images" / f"{source}.png").convert("RGB")
        out_name = f"{source}.{w}x{h}.{name}.png"
        image.resize((w, h), FILTERS[name]).save(OUT / out_name)
        index.append({"source": f"{source}.png", "size": [w, h], "filter": name, "output": out_name})
    (OUT / "cases.json").write_text(json.dumps({"pillow": PIL.__version__, "cases": index}, indent=1) + "\n")


if __name__ == "__main__":
    main()
