#!/usr/bin/env python3
"""Writes tests/data/configs/deepstack-l-vicuna-7b.config.json and deepstack-l-hd-vicuna-7b.config.json: the released
DeepStack-L / -L-HD configs as far as they could be seen, completed where they could not.

What was seen (the Hub's file views of the two config.json files, which stop part way):
  - deepstack-l-hd-vicuna-7b: its first 47 lines, in order, up to a key cut off after "two" (HD_SEEN below);
  - deepstack-l-vicuna-7b: its first 26 lines, from _name_or_path to model_type; every key and value agrees with the
    HD file's except the two names listed in NOT_IN_PLAIN and _name_or_path.
What is reconstructed, and why:
  - HD_TAIL: "two..." is twoviews_unshare, which the authors' train.py writes (False: True mis-indexes this tower's
    single output); unfreeze_mm_vision_tower is true as in the LLaVA-1.6 configs HD starts from (its tower was tuned
    at mm_vision_tower_lr 2e-6); use_cache, use_mm_proj and vocab_size 32000 close every LLaVA-LLaMA config.
  - The plain file: the HD keys without those only the any-resolution model writes (NOT_IN_PLAIN), in sorted order as
    transformers writes them (sort_keys), with vicuna-7b-v1.5 as its _name_or_path. No deepstack_start_id,
    deepstack_interval or ablation flags: their sorted places lie between bos_token_id and eos_token_id, which the
    seen lines show adjacent, so the code's defaults (1, 1, none) apply.
Byte counts are not a check: the HD file's 1555 bytes fit several completions.

Run outside CI (no third-party packages): python tests/reference/make_deepstack_configs.py [--check]
"""
import json
import sys
from pathlib import Path

# The seen lines of deepstack-l-hd-vicuna-7b/config.json, in their order (deepstack_sampling after
# is_anyres_deepstack: that file was edited by hand, it is not in sorted order).
HD_SEEN = [
    ("_name_or_path", "checkpoints/llava-v1.6-vicuna-7b"),
    ("architectures", ["DeepstackLlamaForCausalLM"]),
    ("attention_bias", False),
    ("attention_dropout", 0.0),
    ("bos_token_id", 1),
    ("eos_token_id", 2),
    ("freeze_mm_mlp_adapter", False),
    ("freeze_mm_vision_resampler", False),
    ("hidden_act", "silu"),
    ("hidden_size", 4096),
    ("image_aspect_ratio", "deepstack"),
    ("initializer_range", 0.02),
    ("intermediate_size", 11008),
    ("is_anyres_deepstack", True),
    ("deepstack_sampling", "2d"),
    ("max_position_embeddings", 4096),
    ("mm_hidden_size", 1024),
    ("mm_patch_merge_type", "flat"),
    ("mm_projector_lr", None),
    ("mm_projector_type", "mlp2x_gelu"),
    ("mm_resampler_type", None),
    ("mm_use_im_patch_token", False),
    ("mm_use_im_start_end", False),
    ("mm_vision_select_feature", "patch"),
    ("mm_vision_select_layer", -2),
    ("mm_vision_tower", "openai/clip-vit-large-patch14-336"),
    ("mm_vision_tower_lr", 2e-06),
    ("model_type", "deepstack_llama"),
    ("num_attention_heads", 32),
    ("num_crops", 4),
    ("num_hidden_layers", 32),
    ("num_key_value_heads", 32),
    ("pad_token_id", 0),
    ("pretraining_tp", 1),
    ("rms_norm_eps", 1e-05),
    ("rope_scaling", None),
    ("rope_theta", 10000.0),
    ("tie_word_embeddings", False),
    ("tokenizer_model_max_length", 4096),
    ("tokenizer_padding_side", "right"),
    ("torch_dtype", "bfloat16"),
    ("transformers_version", "4.36.2"),
    ("tune_mm_mlp_adapter", False),
    ("tune_mm_vision_resampler", False),
]
HD_TAIL = [
    ("twoviews_unshare", False),
    ("unfreeze_mm_vision_tower", True),
    ("use_cache", True),
    ("use_mm_proj", True),
    ("vocab_size", 32000),
]
# Keys only the any-resolution (HD) model writes: its layout flag and sampling, the resampler and tower tuning.
NOT_IN_PLAIN = {"is_anyres_deepstack", "deepstack_sampling", "freeze_mm_vision_resampler", "mm_resampler_type",
                "mm_vision_tower_lr", "tune_mm_vision_resampler", "twoviews_unshare", "unfreeze_mm_vision_tower"}


def text(pairs):
    # transformers' to_json_string: indent 2, then a newline.
    return json.dumps(dict(pairs), indent=2) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    hd = HD_SEEN + HD_TAIL
    plain = sorted([(k, v) for k, v in hd if k not in NOT_IN_PLAIN and k != "_name_or_path"]
                   + [("_name_or_path", "checkpoints/vicuna-7b-v1.5")])
    folder = Path(__file__).resolve().parents[1] / "data" / "configs"
    wrong = 0
    for name, pairs in (("deepstack-l-hd-vicuna-7b.config.json", hd), ("deepstack-l-vicuna-7b.config.json", plain)):
        path = folder / name
        if check:
            same = path.read_text() == text(pairs)
            wrong += not same
            print(f"{path}: {'the same' if same else 'DIFFERS'}")
        else:
            path.write_text(text(pairs))
            print(f"wrote {path}")
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
