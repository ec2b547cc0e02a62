#!/usr/bin/env python3
"""Writes tests/data/images/*.png (test images) and tests/data/fixtures/qwen3-vl-images/: what transformers'
Qwen2VLImageProcessorFast (the Qwen3-VL processor, with Qwen3-VL's preprocessor_config.json) makes of them:
image_grid_thw, the resized uint8 image (torchvision bicubic + antialias; both its float path and its native
uint8 CPU path, saved as PNG) and the final pixel_values: whole for the small image, every 32nd patch (from the
first) for the others, which would not fit whole.

Run outside CI, in a virtual environment with `pip install torch torchvision transformers pillow safetensors`:
    python tests/reference/make_qwen3_vl_image_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
import transformers
from PIL import Image
from safetensors.torch import save_file
from torchvision.transforms.v2 import functional as F
from transformers import Qwen2VLImageProcessorFast

ROOT = Path(__file__).resolve().parent.parent / "data"
IMAGES = ROOT / "images"
OUT = ROOT / "fixtures" / "qwen3-vl-images"
PREPROCESSOR = {"size": {"longest_edge": 16777216, "shortest_edge": 65536}, "patch_size": 16, "temporal_patch_size": 2,
                "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def pattern(width, height, seed):
    """A smooth picture with edges and some noise: compresses well, and resampling errors show."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 127 + 120 * np.sin(x / 17.0 + seed) * np.cos(y / 23.0)
    g = 255 * ((x // 24 + y // 24) % 2)
    b = 255 * x / max(width - 1, 1)
    image = np.stack([r, g, b], axis=-1) + rng.normal(0, 2, (height, width, 3))
    return Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8), "RGB")


# name, size (w, h), pixel budget (min, max) or None for the checkpoint's
CASES = [
    ("wide-banker", (1104, 128), None),   # 1104 / 32 = 34.5: Python rounds half to even (1088), not up (1120)
    ("small-upscaled", (300, 200), None),  # below min_pixels: scaled up
    ("tiny-budget", (96, 64), (4096, 65536)),  # kept small so that its pixel_values fit in the fixture whole
    ("big-budget", (640, 480), (16384, 65536)),  # above max_pixels: scaled down
]


def main():
    IMAGES.mkdir(parents=True, exist_ok=True)
    OUT.mkdir(parents=True, exist_ok=True)
    tensors, index = {}, {}
    for seed, (name, (w, h), budget) in enumerate(CASES):
        image = pattern(w, h, seed)
        image.save(IMAGES / f"{name}.png")
        config = dict(PREPROCESSOR)
        if budget:
            config["size"] = {"shortest_edge": budget[0], "longest_edge": budget[1]}
        processor = Qwen2VLImageProcessorFast(**config)
        out = processor(images=[Image.open(IMAGES / f"{name}.png")], return_tensors="pt")
        grid = out["image_grid_thw"][0]
        new_h, new_w = int(grid[1]) * 16, int(grid[2]) * 16
        chw = torch.from_numpy(np.asarray(image)).permute(2, 0, 1).contiguous()
        native = F.resize(chw, [new_h, new_w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
        float_path = F.resize(chw.float(), [new_h, new_w], interpolation=F.InterpolationMode.BICUBIC, antialias=True)
        float_path = float_path.clamp(0, 255).round().to(torch.uint8)
        Image.fromarray(native.permute(1, 2, 0).numpy()).save(OUT / f"{name}.resized-native.png")
        Image.fromarray(float_path.permute(1, 2, 0).numpy()).save(OUT / f"{name}.resized-float.png")
        tensors[f"{name}.grid_thw"] = grid.contiguous()
        if name == "tiny-budget":
            tensors[f"{name}.pixel_values"] = out["pixel_values"].contiguous()
        tensors[f"{name}.pixel_values_every_32nd"] = out["pixel_values"][::32].clone()
        index[name] = {"size": [w, h], "budget": budget, "grid_thw": grid.tolist(),
                       "native_vs_float_max_diff": int((native.int() - float_path.int()).abs().max())}
    save_file(tensors, OUT / "reference.safetensors",
              metadata={"transformers": transformers.__version__, "torchvision": torchvision.__version__})
    (OUT / "cases.json").write_text(json.dumps(index, indent=1) + "\n")
    print(json.dumps(index, indent=1))


if __name__ == "__main__":
    main()
