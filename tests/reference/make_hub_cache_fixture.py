#!/usr/bin/env python3
"""Writes tests/data/fixtures/hub-cache-layout.json: the cache tree Python's huggingface_hub writes when it
downloads the GGUF fixture folder from the stand-in Hub (tests/support/fake_hub.py) as "org/tiny-gguf": every
path under models--org--tiny-gguf, with the target of each link and the content of each ref. test_hub downloads
the same repository with the core and compares its tree with this one.

Run outside CI, in a virtual environment with `pip install huggingface_hub`:
    python tests/reference/make_hub_cache_fixture.py
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import huggingface_hub

TESTS = Path(__file__).resolve().parent.parent
SERVED = TESTS / "data" / "fixtures" / "tiny-qwen3-vl-gguf"


def tree(root: Path):
    entries = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries[rel] = {"link": os.readlink(path)}
        elif path.is_dir():
            entries[rel] = {"folder": True}
        elif rel.startswith("refs/"):
            entries[rel] = {"ref": path.read_text()}
        else:
            entries[rel] = {"size": path.stat().st_size}
    return entries


def main():
    server = subprocess.Popen([sys.executable, str(TESTS / "support" / "fake_hub.py"), "--repo", f"org/tiny-gguf={SERVED}"],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[1])
        with tempfile.TemporaryDirectory() as cache:
            os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
            os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
            os.environ.pop("HF_TOKEN", None)
            from huggingface_hub import snapshot_download
            snapshot_download("org/tiny-gguf", cache_dir=cache, token=False)
            layout = tree(Path(cache) / "models--org--tiny-gguf")
    finally:
        server.kill()
    # huggingface_hub's own bookkeeping (lock files, .no_exist markers, trees/: its copy of the file listing) is not
    # part of the layout a reader relies on (blobs, snapshot links, refs).
    layout = {k: v for k, v in layout.items()
              if not k.startswith((".locks", "trees")) and "/.no_exist" not in k and not k.startswith(".no_exist")}
    out = TESTS / "data" / "fixtures" / "hub-cache-layout.json"
    out.write_text(json.dumps({"huggingface_hub": huggingface_hub.__version__, "repo": "org/tiny-gguf", "tree": layout},
                              indent=1) + "\n")
    print(f"wrote {out}: {len(layout)} entries")


if __name__ == "__main__":
    main()
