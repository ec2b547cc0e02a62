#!/usr/bin/env python3
"""Qwen3-VL on this machine's CPU, side by side: deepstack-cli, llama.cpp and transformers, taking turns.

The same random weights of a published shape (default Qwen3-VL-2B) serve all three: transformers' random model is
saved, llama.cpp's own convert_hf_to_gguf.py turns it into the GGUF files users download (text BF16, mmproj F16)
and its llama-quantize makes Q8_0 and Q4_K_M; deepstack-cli reads those same GGUF files. Each system answers a
640x480 picture (300 image tokens) with greedy decoding, the systems alternating within each repeat; the table
gives medians (vision encode, prefill and decode tokens/s, peak RSS) and our ratios to llama.cpp on the same file.
The JSON (with the CPU model and its features) and a plot go to docs/benchmarks/.

Not part of CI. Needs a virtual environment with `pip install torch transformers safetensors sentencepiece pillow
matplotlib`, a C++ compiler and cmake (llama.cpp is built from the llama-cpp-python sdist into the cache, once),
and deepstack-cli built (installer/build.sh). Takes 15-30 minutes on 2 cores, most of it the first time.
    python3 benchmarks/side_by_side.py --deepstack-cli build/app/deepstack-cli --tokenizer ../shared/data/qwen3-tokenizer
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


def cpu_description():
    model, flags = platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and model == platform.machine():
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = ["avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile", "avx_vnni"]
    return {"model": model, "cores": os.cpu_count(), "features": [f for f in wanted if f in flags]}


def peak_rss_of(command, cwd=None, env=None):
    """Runs `command` and returns (status, stdout, stderr, peak RSS bytes) with wait4's accounting of that child."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_chunks, err_chunks = [], []
    readers = [threading.Thread(target=lambda s=process.stdout, c=out_chunks: c.append(s.read())),
               threading.Thread(target=lambda s=process.stderr, c=err_chunks: c.append(s.read()))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(process.pid, 0)
    for r in readers:
        r.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, "".join(out_chunks), "".join(err_chunks), usage.ru_maxrss * 1024


def build_llama_cpp(cache: Path):
    binaries = cache / "llama-build" / "bin"
    if (binaries / "llama-mtmd-cli").exists() and (binaries / "llama-quantize").exists():
        return next((cache / "llama-sdist").glob("*/vendor/llama.cpp")), binaries
    sdist = cache / "llama-sdist"
    sdist.mkdir(parents=True, exist_ok=True)
    if not list(sdist.glob("*.tar.gz")):
        log("downloading the llama-cpp-python sdist (llama.cpp's source)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "llama-cpp-python",
                        "-d", str(sdist)], check=True)
    archive = next(sdist.glob("*.tar.gz"))
    if not list(sdist.glob("*/vendor/llama.cpp")):
        with tarfile.open(archive) as tar:
            tar.extractall(sdist, filter="data")
    source = next(sdist.glob("*/vendor/llama.cpp"))
    log("building llama.cpp (llama-mtmd-cli, llama-quantize): several minutes")
    subprocess.run(["cmake", "-S", str(source), "-B", str(cache / "llama-build"), "-DCMAKE_BUILD_TYPE=Release",
                    "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
                    "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_OPENSSL=OFF"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(cache / "llama-build"), "-j", str(os.cpu_count() or 2), "--target",
                    "llama-mtmd-cli", "llama-quantize"], check=True, stdout=subprocess.DEVNULL)
    return source, binaries


def make_models(cache: Path, preset: str, tokenizer: Path, llama_source: Path, binaries: Path):
    """The random checkpoint (Hugging Face layout) and its GGUF files; each made once per cache."""
    hf = cache / f"{preset}-hf"
    files = {"bf16": cache / f"{preset}-BF16.gguf", "q8_0": cache / f"{preset}-Q8_0.gguf",
             "q4_k_m": cache / f"{preset}-Q4_K_M.gguf", "mmproj": cache / f"mmproj-{preset}-F16.gguf"}
    if not (hf / "config.json").exists():
        log(f"random {preset} weights (transformers)")
        sys.path.insert(0, str(HERE))
        import torch
        from transformers import Qwen3VLForConditionalGeneration
        from transformers_qwen3_vl import config_for
        torch.manual_seed(0)
        model = Qwen3VLForConditionalGeneration(config_for(preset, 0)).to(torch.bfloat16)
        partial = cache / f"{preset}-hf.partial"
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial, safe_serialization=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tokenizer / name, partial / name)
        json.dump({"image_processor_type": "Qwen2VLImageProcessorFast", "patch_size": 16, "temporal_patch_size": 2,
                   "merge_size": 2, "image_mean": [0.5] * 3, "image_std": [0.5] * 3,
                   "size": {"shortest_edge": 65536, "longest_edge": 16777216}}, open(partial / "preprocessor_config.json", "w"))
        del model
        partial.rename(hf)
    for kind, outtype, mmproj in (("bf16", "bf16", False), ("mmproj", "f16", True)):
        if not files[kind].exists():
            log(f"converting to {files[kind].name} (llama.cpp's convert_hf_to_gguf.py)")
            partial = files[kind].with_suffix(".partial")  # a run stopped halfway leaves no file that looks done
            command = [sys.executable, str(llama_source / "convert_hf_to_gguf.py"), str(hf), "--outtype", outtype,
                       "--outfile", str(partial)] + (["--mmproj"] if mmproj else [])
            subprocess.run(command, check=True, cwd=llama_source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            partial.rename(files[kind])
    for kind, ggml in (("q8_0", "Q8_0"), ("q4_k_m", "Q4_K_M")):
        if not files[kind].exists():
            log(f"quantizing to {files[kind].name} (llama-quantize)")
            partial = files[kind].with_suffix(".partial")
            subprocess.run([str(binaries / "llama-quantize"), str(files["bf16"]), str(partial), ggml], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            partial.rename(files[kind])
    return hf, files


def synthetic_picture(path: Path, width: int, height: int):
    if path.exists():
        return
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)).save(path)


def run_ours(cli, model, mmproj, args):
    command = [str(cli), "bench", "--model", str(model), "--mmproj", str(mmproj), "--image", args.image,
               "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
               "--repeat", str(args.passes)]
    status, out, err, rss = peak_rss_of(command)
    if status != 0:
        raise RuntimeError(f"deepstack-cli failed ({status}): {err[-2000:]}")
    j = json.loads(out)
    return {"vision_s": j["vision_encode_ms"] / 1000, "prefill_tok_s": j["prefill_tokens_per_s"],
            "decode_tok_s": j["decode_tokens_per_s"], "prompt_tokens": j["prompt_tokens"],
            "image_tokens": j["image"]["tokens"], "peak_rss_bytes": j.get("peak_rss_bytes", rss), "raw": j}


def run_llama(binaries, model, mmproj, picture, args):
    command = [str(binaries / "llama-mtmd-cli"), "-m", str(model), "--mmproj", str(mmproj), "--image", str(picture),
               "-p", "Describe this picture.", "-n", str(args.new_tokens), "-t", str(args.threads), "--temp", "0",
               "--ignore-eos", "-c", "4096", "-lv", "4"]  # -lv 4: the timings are info-level logs
    # llama.cpp's warm-up (an empty decode) touches every weight, so its timed turn, like our median pass, runs on
    # mapped pages rather than paying the first page faults of the file.
    status, out, err, rss = peak_rss_of(command)
    if status != 0:
        raise RuntimeError(f"llama-mtmd-cli failed ({status}): {err[-2000:]}")
    text = out + err
    encode = re.search(r"(?:slice encoded|batch encoding done) in (\d+) ms", text)
    prompt = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", text)
    decode = re.search(r"eval time =\s*([\d.]+) ms /\s*(\d+) runs", text)
    if not (encode and prompt and decode):
        raise RuntimeError("could not read llama-mtmd-cli's timings:\n" + text[-3000:])
    vision_ms = int(encode.group(1))
    # llama.cpp's prompt-eval clock runs from the first decode of the turn to the last, the picture's encoding
    # between them included: the prefill is what remains.
    prefill_ms = float(prompt.group(1)) - vision_ms
    return {"vision_s": vision_ms / 1000, "prefill_tok_s": int(prompt.group(2)) / (prefill_ms / 1000),
            "decode_tok_s": int(decode.group(2)) / (float(decode.group(1)) / 1000),
            "prompt_tokens": int(prompt.group(2)), "peak_rss_bytes": rss}


def run_transformers(args):
    command = [sys.executable, str(HERE / "transformers_qwen3_vl.py"), "--preset", args.preset, "--dtype", "bf16",
               "--image", args.image, "--new-tokens", str(args.new_tokens), "--threads", str(args.threads),
               "--repeat", str(args.passes)]
    status, out, err, rss = peak_rss_of(command)
    if status != 0:
        raise RuntimeError(f"transformers failed ({status}): {err[-2000:]}")
    j = json.loads(out)
    return {"vision_s": j["vision_encode_ms"] / 1000, "prefill_tok_s": j["prefill_tokens_per_s"],
            "decode_tok_s": j["decode_tokens_per_s"], "prompt_tokens": j["prompt_tokens"], "peak_rss_bytes": rss}


def median_of(runs):
    keys = ("vision_s", "prefill_tok_s", "decode_tok_s", "peak_rss_bytes")
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {"runs": len(runs), "prompt_tokens": runs[0]["prompt_tokens"]}


def plot(results, path: Path, title: str):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plot")
        return
    rows = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    colours = {"deepstack-cli": "#2b6cb0", "llama.cpp": "#dd6b20", "transformers": "#718096"}
    for axis, (key, label) in zip(axes, (("decode_tok_s", "decode, tokens/s"), ("prefill_tok_s", "prefill, tokens/s"),
                                         ("vision_s", "vision encode, s (lower is better)"))):
        names = [f"{r['system']}\n{r['weights']}" for r in rows]
        axis.barh(names, [r[key] for r in rows], color=[colours[r["system"]] for r in rows])
        axis.set_title(label)
        axis.invert_yaxis()
        for i, r in enumerate(rows):
            axis.text(r[key], i, f" {r[key]:.3g}", va="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deepstack-cli", default=str(REPO / "build" / "app" / "deepstack-cli"))
    p.add_argument("--tokenizer", default=str(REPO.parent / "shared" / "data" / "qwen3-tokenizer"))
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/deepstack-studio/side-by-side"))
    p.add_argument("--preset", default="qwen3-vl-2b", choices=["qwen3-vl-2b", "qwen3-vl-4b", "qwen3-vl-8b"])
    p.add_argument("--weights", default="bf16,q8_0,q4_k_m")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--repeat", type=int, default=2, help="rounds of all systems, alternating")
    p.add_argument("--passes", type=int, default=3,
                   help="timed passes inside one deepstack-cli or transformers process (the median is kept): the "
                        "first pass of a process pays for the first touch of mapped weights, which a round's "
                        "other systems may have pushed out of memory")
    p.add_argument("--image", default="640x480")
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--no-transformers", action="store_true")
    p.add_argument("--prepare-only", action="store_true", help="build llama.cpp and make the model files, then stop")
    p.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    args = p.parse_args()

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    llama_source, binaries = build_llama_cpp(cache)
    _, files = make_models(cache, args.preset, Path(args.tokenizer), llama_source, binaries)
    width, height = (int(v) for v in args.image.split("x"))
    picture = cache / f"noise-{width}x{height}.png"
    synthetic_picture(picture, width, height)
    if args.prepare_only:
        log("prepared: " + ", ".join(str(f) for f in files.values()))
        return

    weights = args.weights.split(",")
    runs = {}
    for repeat in range(args.repeat):
        # Alternate who goes first, so that neither always meets a warm or a cold page cache.
        order = ["deepstack-cli", "llama.cpp"] if repeat % 2 == 0 else ["llama.cpp", "deepstack-cli"]
        for kind in weights:
            for system in order:
                log(f"repeat {repeat + 1}/{args.repeat}: {system} {kind}")
                run = run_ours(args.deepstack_cli, files[kind], files["mmproj"], args) if system == "deepstack-cli" \
                    else run_llama(binaries, files[kind], files["mmproj"], picture, args)
                runs.setdefault((system, kind), []).append(run)
        if not args.no_transformers:
            log(f"repeat {repeat + 1}/{args.repeat}: transformers bf16")
            runs.setdefault(("transformers", "bf16"), []).append(run_transformers(args))

    results = [{"system": s, "weights": k, **median_of(r)} for (s, k), r in runs.items()]
    ours_raw = runs[("deepstack-cli", weights[0])][0]["raw"]
    report = {"date": datetime.date.today().isoformat(), "cpu": cpu_description(), "threads": args.threads,
              "preset": args.preset, "image": args.image, "new_tokens": args.new_tokens, "repeat": args.repeat, "passes": args.passes,
              "deepstack_cli": {k: ours_raw.get(k) for k in ("libtorch", "libtorch_cpu_kernels", "libtorch_blas",
                                                              "quantized_kernels", "compute")},
              "llama_cpp": str(llama_source.parent.parent.name), "files": {k: v.name for k, v in files.items()},
              "results": results, "ratios_to_llama_cpp": {}}
    print(f"\n{args.preset}, {args.image}, {args.new_tokens} new tokens, {args.threads} threads, {report['cpu']['model']}")
    print(f"{'system':14} {'weights':8} {'vision s':>9} {'prefill t/s':>12} {'decode t/s':>11} {'peak RSS GiB':>13}")
    for r in results:
        print(f"{r['system']:14} {r['weights']:8} {r['vision_s']:9.2f} {r['prefill_tok_s']:12.1f} {r['decode_tok_s']:11.2f}"
              f" {r['peak_rss_bytes'] / 2**30:13.2f}")
    for kind in weights:
        ours = next(r for r in results if r["system"] == "deepstack-cli" and r["weights"] == kind)
        theirs = next(r for r in results if r["system"] == "llama.cpp" and r["weights"] == kind)
        ratio = {"vision_speed": theirs["vision_s"] / ours["vision_s"], "prefill": ours["prefill_tok_s"] / theirs["prefill_tok_s"],
                 "decode": ours["decode_tok_s"] / theirs["decode_tok_s"], "peak_rss": ours["peak_rss_bytes"] / theirs["peak_rss_bytes"]}
        report["ratios_to_llama_cpp"][kind] = ratio
        print(f"deepstack-cli / llama.cpp, {kind}: vision speed x{ratio['vision_speed']:.2f}, prefill x{ratio['prefill']:.2f},"
              f" decode x{ratio['decode']:.2f}, peak RSS x{ratio['peak_rss']:.2f}")

    slug = re.sub(r"[^a-z0-9]+", "-", report["cpu"]["model"].lower()).strip("-")[:40]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"side-by-side-{args.preset}-{slug}-{report['date']}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(results, out / f"{stem}.png", f"{args.preset}, {args.image} picture, {args.threads} threads, {report['cpu']['model']}")
    log(f"wrote {out / stem}.json and .png")


if __name__ == "__main__":
    main()
