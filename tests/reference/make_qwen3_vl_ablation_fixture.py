#!/usr/bin/env python3
"""Writes ablation.safetensors into tests/data/fixtures/tiny-qwen3-vl/ and tiny-qwen3-vl-untied/: what transformers
computes for the committed tiny Qwen3-VLs when DeepStack groups are left out, i.e. their features (the vision
tower's DeepStack merger outputs) replaced by zeros before they are added after decoder layers 0, 1, 2.

The sequence is reference.safetensors' prompt followed by its greedy answer (teacher forcing), so the logits of
every position compare with what the core's ablation scores. Keys: `logits` (nothing left out), `without.K.logits`
(group K, from 0, left out alone) and `without.all.logits` (every group), each [prompt + answer, vocabulary].

Run outside CI, in a virtual environment with `pip install torch transformers safetensors` (after
make_qwen3_vl_fixture.py, which this reads):
    python tests/reference/make_qwen3_vl_ablation_fixture.py
"""
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import Qwen3VLForConditionalGeneration

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
IMAGE_PAD = 252


def logits_without(model, inputs, groups):
    """The full forward's logits with the vision tower's DeepStack features of `groups` zeroed."""
    visual = model.model.visual
    original = visual.forward

    def zeroing(*args, **kwargs):
        out = original(*args, **kwargs)
        out.deepstack_features = [torch.zeros_like(f) if k in groups else f for k, f in enumerate(out.deepstack_features)]
        return out

    visual.forward = zeroing
    try:
        with torch.no_grad():
            return model(**inputs).logits[0].contiguous()
    finally:
        visual.forward = original


def make(folder):
    reference = load_file(folder / "reference.safetensors")
    model = Qwen3VLForConditionalGeneration.from_pretrained(folder, torch_dtype=torch.float32).eval()
    ids = torch.cat([reference["input_ids"], reference["generated"]]).unsqueeze(0)
    inputs = dict(input_ids=ids, pixel_values=reference["pixel_values"], image_grid_thw=reference["image_grid_thw"],
                  mm_token_type_ids=(ids == IMAGE_PAD).int(), attention_mask=torch.ones_like(ids))
    groups = len(model.config.vision_config.deepstack_visual_indexes)
    tensors = {"input_ids": ids[0].contiguous(), "logits": logits_without(model, inputs, set())}
    for k in range(groups):
        tensors[f"without.{k}.logits"] = logits_without(model, inputs, {k})
    tensors["without.all.logits"] = logits_without(model, inputs, set(range(groups)))
    for k in range(groups):
        change = (tensors[f"without.{k}.logits"] - tensors["logits"]).abs().max().item()
        if change < 1e-3:
            raise SystemExit(f"{folder.name}: leaving group {k} out changes no logit; the fixture would not test it")
    save_file(tensors, folder / "ablation.safetensors",
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    print(f"wrote {folder / 'ablation.safetensors'}: {ids.shape[1]} positions, {groups} groups")


def main():
    for name in ("tiny-qwen3-vl", "tiny-qwen3-vl-untied"):
        make(FIXTURES / name)


if __name__ == "__main__":
    main()
