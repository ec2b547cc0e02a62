#!/usr/bin/env python3
"""Writes tests/data/fixtures/tiny-qwen3-vl-gguf/: a tiny random Qwen3-VL as the GGUF files users download
(the text model and its mmproj), made by llama.cpp's own tools, with what transformers computes for it.

- tokenizer.json, tokenizer_config.json: the real Qwen3 tokenizer cut to its 256 byte tokens, its first 480
  merges and its 26 added tokens (renumbered after them), so the vocabulary is 768 rows, not 151 936;
- model-BF16.gguf and mmproj-F32.gguf: llama.cpp's convert_hf_to_gguf.py (text, then --mmproj). The weights are
  drawn, then rounded to bf16, so the BF16 file holds exactly the model transformers ran in f32;
- model-Q8_0.gguf and model-Q4_K_M.gguf: llama.cpp's llama-quantize of the BF16 file (widths of 256 so that the
  K-quants apply; Q4_K_M also writes Q6_K rows);
- reference.safetensors: a chat prompt with one picture (ids from that tokenizer), its pixel values, the prefill
  logits and 24 greedy tokens with their logits; and the prefill logits with each quantized file's weights as
  llama.cpp's gguf-py dequantizes them (logits.Q8_0, logits.Q4_K_M).

test_gguf_model loads the GGUF files through the core and compares. Run outside CI, in a virtual environment with
`pip install torch transformers safetensors sentencepiece`, and a llama.cpp source tree with llama-quantize built
(the llama-cpp-python sdist's vendor/llama.cpp):
    python tests/reference/make_qwen3_vl_gguf_fixture.py LLAMA_CPP_DIR LLAMA_QUANTIZE ../shared/data/qwen3-tokenizer
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

OUT = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "tiny-qwen3-vl-gguf"
SPEC = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "specs" / "qwen3-vl.md"
MERGES = 480
VOCAB = 768
SEED = 20261201


def cut_tokenizer(real_dir: Path, out: Path):
    """The real tokenizer's first 256 + MERGES tokens and merges, the added tokens renumbered after them."""
    real = json.loads((real_dir / "tokenizer.json").read_text(encoding="utf-8"))
    keep = 256 + MERGES
    vocab = {token: i for token, i in real["model"]["vocab"].items() if i < keep}
    merges = real["model"]["merges"][:MERGES]
    for rank, (a, b) in enumerate(merges):
        assert vocab[a + b] == 256 + rank, "the real tokenizer's merge ranks no longer follow its ids"
    real["model"]["vocab"] = vocab
    real["model"]["merges"] = merges
    renumber = {}
    for k, added in enumerate(real["added_tokens"]):
        renumber[added["id"]] = keep + k
        added["id"] = keep + k
    assert keep + len(real["added_tokens"]) <= VOCAB
    (out / "tokenizer.json").write_text(json.dumps(real, ensure_ascii=False), encoding="utf-8")

    config = json.loads((real_dir / "tokenizer_config.json").read_text(encoding="utf-8"))
    config["added_tokens_decoder"] = {str(renumber[int(i)]): v for i, v in config["added_tokens_decoder"].items()}
    spec = SPEC.read_text(encoding="utf-8")
    appendix = spec[spec.index("## Appendix A"):]
    config["chat_template"] = appendix.split("```jinja\n", 1)[1].split("```", 1)[0]
    (out / "tokenizer_config.json").write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return {a["content"]: a["id"] for a in real["added_tokens"]}


def tiny_config(special):
    return Qwen3VLConfig(
        # Four layers: llama.cpp's Qwen3-VL graph needs more decoder layers than DeepStack taps (three).
        text_config=dict(vocab_size=VOCAB, hidden_size=256, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=64, attention_bias=False,
                         max_position_embeddings=4096, rms_norm_eps=1e-6, tie_word_embeddings=False,
                         bos_token_id=special["<|endoftext|>"], eos_token_id=special["<|im_end|>"],
                         rope_parameters=dict(rope_type="default", rope_theta=5000000.0, mrope_interleaved=True,
                                              mrope_section=[12, 10, 10])),
        vision_config=dict(depth=4, hidden_size=32, intermediate_size=64, num_heads=2, in_channels=3, patch_size=16,
                           temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=256,
                           num_position_embeddings=64, deepstack_visual_indexes=[1, 2, 3],
                           hidden_act="gelu_pytorch_tanh"),
        image_token_id=special["<|image_pad|>"], video_token_id=special["<|video_pad|>"],
        vision_start_token_id=special["<|vision_start|>"], vision_end_token_id=special["<|vision_end|>"],
        tie_word_embeddings=False)


def dequantized_state(llama_dir: Path, gguf_file: Path, model):
    """The text model's weights as llama.cpp's gguf-py dequantizes them from `gguf_file`, under the model's names."""
    sys.path.insert(0, str(llama_dir / "gguf-py"))
    import gguf
    from gguf.quants import dequantize
    names = {"token_embd.weight": "model.language_model.embed_tokens.weight", "output.weight": "lm_head.weight",
             "output_norm.weight": "model.language_model.norm.weight"}
    parts = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
             "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm", "ffn_gate": "mlp.gate_proj",
             "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    state = {}
    for t in gguf.GGUFReader(str(gguf_file)).tensors:
        if t.name in names:
            name = names[t.name]
        else:
            _, layer, part, kind = t.name.split(".")
            name = f"model.language_model.layers.{layer}.{parts[part]}.{kind}"
        values = dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)])
        state[name] = torch.from_numpy(values.copy()).to(torch.float32)
    assert set(state) <= set(model.state_dict()), set(state) - set(model.state_dict())
    return state


def convert(llama_dir: Path, model_dir: Path, outfile: Path, outtype: str, mmproj: bool):
    # The converter names a BPE pre-tokenizer by hashing the ids of a test text; the cut vocabulary changes those
    # ids, so the hash check is told what the full tokenizer is (llama.cpp's name for Qwen's pre-tokenizer).
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]\n"
        "import conversion.base as base\n"
        "base.TextModel.get_vocab_base_pre = lambda self, tokenizer: 'qwen2'\n"
        "import convert_hf_to_gguf\n"
        "convert_hf_to_gguf.main()\n")
    args = [sys.executable, "-c", script, str(llama_dir), str(model_dir), "--outtype", outtype, "--outfile", str(outfile)]
    if mmproj:
        args.append("--mmproj")
    subprocess.run(args, check=True, cwd=llama_dir)


def main():
    llama_dir, quantize, real_tokenizer = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve(), Path(sys.argv[3])
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "hf"
        model_dir.mkdir()
        special = cut_tokenizer(real_tokenizer, model_dir)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (OUT / name).write_bytes((model_dir / name).read_bytes())

        torch.manual_seed(SEED)
        model = Qwen3VLForConditionalGeneration(tiny_config(special)).eval().to(torch.float32)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("norm.weight") or ".norm1." in name or ".norm2." in name or "_norm." in name:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_((0.3 if "visual" in name else 0.08) * torch.randn_like(p))
                p.copy_(p.to(torch.bfloat16).to(torch.float32))
        model.save_pretrained(model_dir, safe_serialization=True)
        json.dump({"image_processor_type": "Qwen2VLImageProcessorFast", "patch_size": 16, "temporal_patch_size": 2,
                   "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
                   "size": {"shortest_edge": 65536, "longest_edge": 16777216}},
                  open(model_dir / "preprocessor_config.json", "w"))
        json.dump({"eos_token_id": [special["<|im_end|>"], special["<|endoftext|>"]], "do_sample": False},
                  open(model_dir / "generation_config.json", "w"))

        convert(llama_dir, model_dir, OUT / "model-BF16.gguf", "bf16", mmproj=False)
        convert(llama_dir, model_dir, OUT / "mmproj-F32.gguf", "f32", mmproj=True)
        for kind in ("Q8_0", "Q4_K_M"):
            subprocess.run([str(quantize), str(OUT / "model-BF16.gguf"), str(OUT / f"model-{kind}.gguf"), kind],
                           check=True, stdout=subprocess.DEVNULL)

        # One 4x6-patch picture (2x3 merged tokens) in the chat template's form, ids from the cut tokenizer.
        from tokenizers import Tokenizer
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        grids = torch.tensor([[1, 4, 6]])
        image_tokens = int(grids.prod()) // 4
        prompt = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * image_tokens +
                  "<|vision_end|>What is the total on this invoice?<|im_end|>\n<|im_start|>assistant\n")
        ids = tokenizer.encode(prompt, add_special_tokens=False).ids
        input_ids = torch.tensor([ids])
        mm_token_type_ids = (input_ids == special["<|image_pad|>"]).int()
        pixel_values = torch.randn(int(grids.prod()), 3 * 2 * 16 * 16)
        with torch.no_grad():
            out = model(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids,
                        mm_token_type_ids=mm_token_type_ids, attention_mask=torch.ones_like(input_ids))
            generated = model.generate(input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids,
                                       mm_token_type_ids=mm_token_type_ids, attention_mask=torch.ones_like(input_ids),
                                       max_new_tokens=24, do_sample=False, output_logits=True,
                                       return_dict_in_generate=True, eos_token_id=None, pad_token_id=0)
        new_tokens = generated.sequences[0, input_ids.shape[1]:]

        # The same prompt with each quantized file's weights as gguf-py dequantizes them: what the core must
        # compute from the blocks, apart from rounding (its decode kernels also round activations to 8 bits).
        dequantized_logits = {}
        original = {k: v.clone() for k, v in model.state_dict().items()}
        for kind in ("Q8_0", "Q4_K_M"):
            model.load_state_dict(dequantized_state(llama_dir, OUT / f"model-{kind}.gguf", model), strict=False)
            with torch.no_grad():
                dequantized_logits[f"logits.{kind}"] = model(
                    input_ids=input_ids, pixel_values=pixel_values, image_grid_thw=grids, mm_token_type_ids=mm_token_type_ids,
                    attention_mask=torch.ones_like(input_ids)).logits[0].contiguous()
            model.load_state_dict(original)
        vision = {special[t] for t in ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")}
        if vision & set(new_tokens.tolist()):
            raise SystemExit(f"seed {SEED} makes greedy decoding emit a vision token; choose another seed")
        save_file({"input_ids": input_ids[0].contiguous(), "pixel_values": pixel_values.contiguous(),
                   "image_grid_thw": grids.contiguous(), "logits": out.logits[0].contiguous(),
                   "generated": new_tokens.contiguous(),
                   "generated.logits": torch.stack(generated.logits, dim=0)[:, 0].contiguous(), **dequantized_logits},
                  OUT / "reference.safetensors",
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__, "prompt": prompt})
    print(f"wrote {OUT}: {len(ids)} prompt tokens, generated {new_tokens.tolist()}")
    for f in sorted(OUT.iterdir()):
        print(f"  {f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
