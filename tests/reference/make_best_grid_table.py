#!/usr/bin/env python3
"""Writes tests/data/fixtures/deepstack/best-grid.json: the grid of crops the authors' code chooses for a range of
picture sizes, which test_deepstack_llama's bestGrid compares with select_grid.

The two functions that choose (get_possible_resolutions_by_crops and select_best_resolution in llava/mm_utils.py of
MengLcool/DeepStack-VL) are read from a checkout of that repository and run alone: the module's other imports
(transformers, llava) are not needed, so only their definitions are taken from its syntax tree.

Run outside CI (no third-party packages needed):
    python tests/reference/make_best_grid_table.py PATH/TO/DeepStack-VL
"""
import ast
import json
import sys
from pathlib import Path

WANTED = {"get_possible_resolutions_by_crops", "select_best_resolution"}

# (name, width, height): page scans, banners, strips, photos, the ties between grids, and pictures smaller than a crop.
CASES = [
    ("square", 1000, 1000),
    ("A4 portrait scan", 1240, 1754),
    ("A4 landscape scan", 1754, 1240),
    ("US letter at 150 dpi", 1275, 1650),
    ("wide banner", 1600, 300),
    ("receipt strip", 300, 1400),
    ("landscape photo", 640, 480),
    ("portrait photo", 480, 640),
    ("16:9 screenshot", 1920, 1080),
    ("panorama 3:1", 1200, 400),
    ("tall 1:3", 400, 1200),
    ("exactly two crops wide", 672, 336),
    ("exactly one crop", 336, 336),
    ("small 2:1: every grid holds it, the first least wasteful wins", 200, 100),
    ("small 1:2", 100, 200),
    ("tiny", 30, 20),
    ("one pixel", 1, 1),
]


def authors_functions(checkout: Path):
    source = (checkout / "llava" / "mm_utils.py").read_text()
    tree = ast.parse(source)
    kept = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in WANTED]
    if {node.name for node in kept} != WANTED:
        raise SystemExit(f"{checkout}: llava/mm_utils.py lacks one of {sorted(WANTED)}")
    namespace = {"ast": ast}
    exec(compile(ast.Module(body=kept, type_ignores=[]), "mm_utils.py", "exec"), namespace)
    return namespace["get_possible_resolutions_by_crops"], namespace["select_best_resolution"]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    possible, select = authors_functions(Path(sys.argv[1]))
    rows = []
    for num_crops, crop in ((4, 336), (9, 336), (4, 224)):
        resolutions = possible(num_crops, {"width": crop, "height": crop})
        for name, width, height in CASES:
            best_width, best_height = select((width, height), resolutions)
            rows.append({"name": name, "num_crops": num_crops, "crop": crop, "width": width, "height": height,
                         "columns": best_width // crop, "rows": best_height // crop})
    out = Path(__file__).resolve().parents[1] / "data" / "fixtures" / "deepstack" / "best-grid.json"
    out.write_text(json.dumps({"source": "MengLcool/DeepStack-VL llava/mm_utils.py select_best_resolution over "
                                         "get_possible_resolutions_by_crops(num_crops, crop)",
                               "cases": rows}, indent=1) + "\n")
    print(f"wrote {out}: {len(rows)} cases")


if __name__ == "__main__":
    main()
