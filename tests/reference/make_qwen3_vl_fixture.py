#!/usr/bin/env python3
"""Writes tests/data/fixtures/tiny-qwen3-vl/ and tiny-qwen3-vl-untied/: tiny random Qwen3-VLs in the real checkpoint layout (config.json,
model.safetensors) and reference.safetensors with what transformers computes for a fixed two-image prompt:
position ids, the vision tower's merged and DeepStack outputs, prefill logits, and greedy decoding with the KV
cache (tokens and the logits of each step). test_qwen3_vl compares the core with it.

Run outside CI, in a virtual environment with `pip install torch transformers safetensors`:
    python tests/reference/make_qwen3_vl_fixture.py
"""
import json
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
# name -> (tied lm_head, deepstack_visual_indexes, text layers, attention_bias, seed). A seed is kept only if greedy
# decoding emits none of the vision tokens (a full forward pass over prompt + output must see the images' runs only).
VARIANTS = {"tiny-qwen3-vl": (True, [1, 2, 3], 4, False, 20261123),
            "tiny-qwen3-vl-untied": (False, [0, 1, 2], 3, True, 20261130)}
VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 250, 251, 252, 253
EOS = 249


def tiny_config(tied, taps, layers, bias):
    return Qwen3VLConfig(
        text_config=dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=16, attention_bias=bias, max_position_embeddings=4096,
                         rms_norm_eps=1e-6, tie_word_embeddings=tied, bos_token_id=248, eos_token_id=EOS,
                         rope_parameters=dict(rope_type="default", rope_theta=5000000.0, mrope_interleaved=True,
                                              mrope_section=[4, 2, 2])),
        vision_config=dict(depth=4, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=16,
                           temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=64,
                           num_position_embeddings=64, deepstack_visual_indexes=taps,
                           hidden_act="gelu_pytorch_tanh"),
        image_token_id=IMAGE_PAD, video_token_id=VIDEO_PAD, vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END, tie_word_embeddings=tied)


def make(name, tied, taps, layers, bias, seed):
    OUT = FIXTURES / name
    torch.manual_seed(seed)
    config = tiny_config(tied, taps, layers, bias)
    model = Qwen3VLForConditionalGeneration(config).eval().to(torch.float32)
    # Default initialisation (std 0.02) leaves every activation tiny; wider weights make the comparison bite.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or ".norm1." in name or ".norm2." in name or "_norm." in name:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.15 * torch.randn_like(p))

    OUT.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    json.dump({"eos_token_id": [EOS], "do_sample": False}, open(OUT / "generation_config.json", "w"), indent=2)

    # Two images: a 4x6 and a 6x4 patch grid (2x3 and 3x2 merged tokens), in a short prompt.
    grids = torch.tensor([[1, 4, 6], [1, 6, 4]])
    tokens_per_image = [int(g.prod()) // 4 for g in grids]
    ids = [1, 17, 33, VISION_START] + [IMAGE_PAD] * tokens_per_image[0] + [VISION_END, 40, 41, 42, VISION_START] \
        + [IMAGE_PAD] * tokens_per_image[1] + [VISION_END, 60, 61, 62, 63, 7]
    input_ids = torch.tensor([ids])
    mm_token_type_ids = (input_ids == IMAGE_PAD).int()
    pixel_values = torch.randn(int(sum(int(g.prod()) for g in grids)), 3 * 2 * 16 * 16)

    with torch.no_grad():
        position_ids, rope_deltas = model.model.get_rope_index(input_ids, mm_token_type_ids, image_grid_thw=grids)
        vision = model.model.visual(pixel_values, grid_thw=grids, return_dict=True)
        out = model(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids,
                    mm_token_type_ids=mm_token_type_ids, attention_mask=torch.ones_like(input_ids))
        generated = model.generate(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids,
                                   mm_token_type_ids=mm_token_type_ids, attention_mask=torch.ones_like(input_ids),
                                   max_new_tokens=32, do_sample=False, output_logits=True,
                                   return_dict_in_generate=True, eos_token_id=None, pad_token_id=0)

    new_tokens = generated.sequences[0, input_ids.shape[1]:]
    tensors = {
        "input_ids": input_ids[0].contiguous(),
        "pixel_values": pixel_values.contiguous(),
        "image_grid_thw": grids.contiguous(),
        "position_ids": position_ids[:, 0].contiguous(),
        "rope_delta": rope_deltas.reshape(1).contiguous(),
        "vision.embeds": vision.pooler_output.contiguous(),
        "logits": out.logits[0].contiguous(),
        "generated": new_tokens.contiguous(),
        "generated.logits": torch.stack(generated.logits, dim=0)[:, 0].contiguous(),
    }
    for k, feature in enumerate(vision.deepstack_features):
        tensors[f"vision.deepstack.{k}"] = feature.contiguous()
    save_file(tensors, OUT / "reference.safetensors",
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    vision_tokens = {VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD}
    if vision_tokens & set(new_tokens.tolist()):
        raise SystemExit(f"{OUT.name}: seed {seed} makes greedy decoding emit a vision token; choose another seed")
    print(f"wrote {OUT}: {len(ids)} prompt tokens, generated {new_tokens.tolist()}")


def main():
    for name, (tied, taps, layers, bias, seed) in VARIANTS.items():
        make(name, tied, taps, layers, bias, seed)


if __name__ == "__main__":
    main()
