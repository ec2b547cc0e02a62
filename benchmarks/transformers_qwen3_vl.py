#!/usr/bin/env python3
"""transformers' Qwen3-VL timed the way `deepstack-cli bench --random` times ours, as an anchor in the same run.

The same published shapes with random weights (core/src/engine/bench.cpp's presets), the same synthetic picture
size and pixel budget, the same prompt (vision start, the image tokens, vision end, N random text tokens) and greedy
decoding on the KV cache. The phases are split as ours are: the picture through the tower (preprocessing
included), the prefill of the whole prompt with the DeepStack features added, then one token at a time. On a GPU
one untimed pass first, as ours. Prints one JSON object with bench's keys.

Not part of CI: run where transformers is installed (the GPU machine's image has it; installer/gpu-check.sh runs it).
    python3 benchmarks/transformers_qwen3_vl.py --preset qwen3-vl-2b --device cuda --image 640x480 --new-tokens 32
"""
import argparse
import inspect
import json
import platform
import resource
import time

import torch
import transformers
from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

TEXT = dict(vocab_size=151936, head_dim=128, num_key_value_heads=8, rms_norm_eps=1e-6, max_position_embeddings=262144)
ROPE = dict(rope_type="default", rope_theta=5000000.0, mrope_interleaved=True, mrope_section=[24, 20, 20])
VISION = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, patch_size=16, temporal_patch_size=2,
              spatial_merge_size=2, num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17],
              hidden_act="gelu_pytorch_tanh", in_channels=3)
PRESETS = {
    "qwen3-vl-2b": (dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16), {}, True),
    "qwen3-vl-4b": (dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32), {}, True),
    "qwen3-vl-8b": (dict(hidden_size=4096, intermediate_size=12288, num_hidden_layers=36, num_attention_heads=32),
                    dict(depth=27, hidden_size=1152, intermediate_size=4304, deepstack_visual_indexes=[8, 16, 24]), False),
}
VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 151652, 151653, 151655, 151656


def config_for(preset, layers):
    text, vision, tied = PRESETS[preset]
    text = {**TEXT, **text, "tie_word_embeddings": tied}
    if layers:
        text["num_hidden_layers"] = min(layers, text["num_hidden_layers"])
    # transformers 5.x names the RoPE settings rope_parameters, 4.x rope_scaling + rope_theta.
    if "rope_parameters" in inspect.signature(transformers.Qwen3VLTextConfig.__init__).parameters:
        text["rope_parameters"] = dict(ROPE)
    else:
        text["rope_theta"] = ROPE["rope_theta"]
        text["rope_scaling"] = {k: v for k, v in ROPE.items() if k != "rope_theta"}
    vision = {**VISION, **vision, "out_hidden_size": text["hidden_size"]}
    return Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=IMAGE_PAD, video_token_id=VIDEO_PAD,
                         vision_start_token_id=VISION_START, vision_end_token_id=VISION_END, tie_word_embeddings=tied)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), platform.machine())
    except OSError:
        return platform.machine()


def synthetic_picture(width, height):
    """bench.cpp's synthetic_image: detail everywhere; the timings depend on shapes, not content."""
    i = torch.arange(width * height * 3, dtype=torch.int64)
    return ((i * 2654435761) % (1 << 32) >> 24).to(torch.uint8).reshape(height, width, 3)


def image_processor(max_pixels):
    from transformers import Qwen2VLImageProcessor
    return Qwen2VLImageProcessor(patch_size=16, temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3,
                                 image_std=[0.5] * 3, min_pixels=65536, max_pixels=max_pixels,
                                 size={"shortest_edge": 65536, "longest_edge": max_pixels})


def vision_outputs(model, pixel_values, grid):
    out = model.model.visual(pixel_values, grid_thw=grid)
    if isinstance(out, tuple):
        return out[0], list(out[1])
    return out.pooler_output, list(out.deepstack_features)


def rope_index(model, input_ids, grid):
    get = model.model.get_rope_index
    params = inspect.signature(get).parameters
    kwargs = {"image_grid_thw": grid}
    if "mm_token_type_ids" in params:
        kwargs["mm_token_type_ids"] = (input_ids == IMAGE_PAD).int()
    if "attention_mask" in params:
        kwargs["attention_mask"] = torch.ones_like(input_ids)
    return get(input_ids, **kwargs)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="qwen3-vl-2b", choices=sorted(PRESETS))
    p.add_argument("--layers", type=int, default=0, help="keep only the first N decoder layers (0: all)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    p.add_argument("--image", default="640x480")
    p.add_argument("--max-pixels", type=int, default=0, help="the picture budget (0: what deepstack-cli uses on the device)")
    p.add_argument("--prompt-tokens", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="timed passes; each phase reports its median")
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"])
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    width, height = (int(v) for v in a.image.split("x"))
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("transformers_qwen3_vl: --device cuda, but this torch sees no GPU")
    device = torch.device("cuda:0" if cuda else "cpu")
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    max_pixels = a.max_pixels or (16777216 if cuda else min(4 << 20, max(1, torch.get_num_threads() // 2) << 20))
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    torch.manual_seed(0)
    start = time.perf_counter()
    config = config_for(a.preset, a.layers)
    config._attn_implementation = a.attention
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with device:
        model = Qwen3VLForConditionalGeneration(config).eval()
    torch.set_default_dtype(previous)
    sync()
    load_ms = 1000 * (time.perf_counter() - start)
    processor = image_processor(max_pixels)
    picture = synthetic_picture(width, height).numpy()
    text_ids = torch.randint(0, 150000, (a.prompt_tokens,))
    lm = model.model.language_model

    def one_pass(new_tokens):
        timings = {}
        start = time.perf_counter()
        batch = processor(images=[picture], return_tensors="pt")
        pixel_values = batch["pixel_values"].to(device, dtype)
        grid = batch["image_grid_thw"].to(device)
        image_embeds, deepstack = vision_outputs(model, pixel_values, grid)
        sync()
        timings["vision"] = 1000 * (time.perf_counter() - start)
        image_tokens = image_embeds.shape[0]

        ids = torch.cat([torch.tensor([VISION_START]), torch.full((image_tokens,), IMAGE_PAD), torch.tensor([VISION_END]),
                         text_ids]).unsqueeze(0).to(device)
        start = time.perf_counter()
        positions, delta = rope_index(model, ids, grid)
        mask = ids == IMAGE_PAD
        embeds = lm.embed_tokens(ids)
        embeds = embeds.masked_scatter(mask.unsqueeze(-1), image_embeds.to(embeds.dtype))
        cache = transformers.DynamicCache(config=config.text_config)
        out = lm(inputs_embeds=embeds, position_ids=positions, past_key_values=cache, use_cache=True,
                 visual_pos_masks=mask, deepstack_visual_embeds=deepstack)
        token = model.lm_head(out.last_hidden_state[:, -1:]).argmax(-1)
        token_id = token.item()
        timings["prefill"] = 1000 * (time.perf_counter() - start)

        next_position = int(positions.max()) + 1
        steps = []
        for _ in range(new_tokens):
            start = time.perf_counter()
            position = torch.full((3, 1, 1), next_position, dtype=torch.long, device=device)
            next_position += 1
            out = lm(input_ids=token, position_ids=position, past_key_values=out.past_key_values, use_cache=True)
            token = model.lm_head(out.last_hidden_state[:, -1:]).argmax(-1)
            token_id = token.item()
            steps.append(1000 * (time.perf_counter() - start))
        timings["decode"] = steps
        timings["image_tokens"] = image_tokens
        timings["prompt_tokens"] = ids.shape[1]
        timings["last_token"] = token_id
        return timings

    warmup_ms = None
    with torch.inference_mode():
        if cuda:
            start = time.perf_counter()
            one_pass(a.new_tokens)  # as deepstack-cli bench: a whole untimed pass while the GPU's clocks rise
            warmup_ms = 1000 * (time.perf_counter() - start)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        passes = [one_pass(a.new_tokens) for _ in range(max(1, a.repeat))]

    rate = lambda p: 1000 * len(p["decode"]) / sum(p["decode"]) if p["decode"] else 0.0
    median = lambda values: sorted(values)[len(values) // 2]
    t = dict(passes[0])
    t["vision"] = median([p["vision"] for p in passes])
    t["prefill"] = median([p["prefill"] for p in passes])
    t["decode"] = next(p["decode"] for p in passes if rate(p) == median([rate(q) for q in passes]))
    decode_total = sum(t["decode"])
    report = {
        "model": f"random {a.preset} (transformers {transformers.__version__})",
        "system": "transformers",
        "device": "cuda:0" if cuda else "cpu",
        "compute": a.dtype,
        "attention": a.attention,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cpu": cpu_model(),
        "image": {"width": width, "height": height, "max_image_pixels": max_pixels, "tokens": t["image_tokens"]},
        "prompt_tokens": t["prompt_tokens"],
        "new_tokens": a.new_tokens,
        "load_ms": load_ms,
        "vision_encode_ms": t["vision"],
        "prefill_ms": t["prefill"],
        "time_to_first_token_ms": t["vision"] + t["prefill"],
        "prefill_tokens_per_s": 1000 * t["prompt_tokens"] / t["prefill"],
        "decode_tokens_per_s": 1000 * len(t["decode"]) / decode_total if decode_total else 0.0,
        "decode_ms": t["decode"],
        "warmup_pass_ms": warmup_ms,
        "passes": [{"vision_encode_ms": p["vision"], "prefill_ms": p["prefill"], "decode_tokens_per_s": rate(p)}
                   for p in passes] if len(passes) > 1 else None,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_cuda_bytes": torch.cuda.max_memory_reserved() if cuda else None,
        "peak_cuda_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else None,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
