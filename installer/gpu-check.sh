#!/usr/bin/env bash
# The GPU check: the parity tests on CUDA against the same reference outputs the CPU suites use, then
# `deepstack-cli bench` (random weights of the published Qwen3-VL-2B/-8B and DeepStack-L-7B shapes, CUDA peak memory)
# beside transformers' Qwen3-VL on the same GPU in the same run (benchmarks/transformers_qwen3_vl.py). One call of at
# most 8 minutes; the figures go to the README (section "On a GPU").
#
#   installer/gpu-check.sh prepare  here, on the development machine: builds deepstack-cli and the parity tests
#                                   against the LibTorch the GPU machine has (PyPI's torch of the same version,
#                                   DEEPSTACK_GPU_TORCH_VERSION, default 2.11.0: the lent GPU machine's image), and
#                                   packs them with the libraries that machine lacks (OpenCV, ICU, PCRE2, Qt Core
#                                   and Test) into .gpu/bundle.tar.xz. That machine has no network and none of these
#                                   development packages; it has python3 with torch (CUDA) and transformers.
#   installer/gpu-check.sh run      there, in a copy of this repository with .gpu/ carried: unpacks the bundle, uses
#                                   that machine's own torch libraries, writes gpu-check.log, summary.md and
#                                   gpu-benchmarks.json to $OUT (default ./gpu-report).
#   installer/gpu-check.sh local    both on one machine with a GPU and the build dependencies (installer/setup-debian.sh):
#                                   builds against the default LibTorch (installer/setup-torch.sh) and runs.
#   installer/gpu-check.sh train [OPTIONS]
#                                   there, like run, but a stretch of the demo model's training (issue 20) on the GPU:
#                                   from models/demo/latest (its config.json and tokenizer.model are the base; the
#                                   weights are --init-from unless DEEPSTACK_GPU_TRAIN_FROM names others, or is empty:
#                                   from scratch, as the twin without stacks, OPTIONS --no-stacks, starts), a cosine
#                                   schedule sized by a short measured run to end within DEEPSTACK_GPU_TRAIN_SECONDS
#                                   (default 330), then the card's evaluation on the GPU. $OUT/demo-train gets
#                                   model.safetensors, glyph_head.safetensors, config.json, evaluation.json,
#                                   state.json and train.log: copy
#                                   them over a copy of models/demo/latest and compare its card with the committed one.
#                                   OPTIONS go to `deepstack-cli train` after the defaults (later ones win); with
#                                   --start-step S and --steps N (a run going on in its own schedule, such as the
#                                   twin: S from its folder's training.json) it makes as many of steps S.. as fit.
#   installer/gpu-check.sh train-local [OPTIONS]
#                                   the same on this machine, built against the default LibTorch
#                                   (DEEPSTACK_GPU_TRAIN_DEVICE=cpu tries it without a GPU).
# DEEPSTACK_GPU_DEADLINE (seconds, default 420): steps that would start later are reported as skipped.
# DEEPSTACK_GPU_ONLY (an extended regular expression): run only the steps whose names match.
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
mode="${1:-}"

# The LibTorch test suites are one program (tests/support/test_main.h); the parity suites are run from it by name.
programs=(deepstack-cli deepstack_torch_tests)

build() {  # build DIR TORCH_DIR
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDEEPSTACK_BUILD_GUI=OFF -DDEEPSTACK_TORCH_DIR="$2" >/dev/null &&
        ninja -C "$1" "${programs[@]}"
}

# Libraries every x86-64 Linux with a CUDA driver has, newer than Debian 12's: never carried.
is_base_library() {
    case "$1" in
        linux-vdso.so.*|libc.so.6|libm.so.6|libdl.so.2|libpthread.so.0|librt.so.1|ld-linux-x86-64.so.2|libstdc++.so.6|libgcc_s.so.1) return 0 ;;
    esac
    return 1
}

# OpenCV's image codecs link GDAL and GDCM (geodata and medical formats, ~300 MB with their own dependencies) that
# our programs never decode: a library of the same name stands in for each, whose every function returns 0, which
# is how they say "nothing opened" (OpenCV calls GDALAllRegister when it first decodes anything).
make_stand_ins() {  # make_stand_ins STAGE_LIB
    local codecs needed symbols c
    codecs=$(ldd "$1/../bin/deepstack-cli" | awk '$1 ~ /^libopencv_imgcodecs/ { print $3 }')
    [ -n "$codecs" ] || return 0
    for needed in $(objdump -p "$codecs" | awk '$1 == "NEEDED" && $2 ~ /^lib(gdal|gdcm)/ { print $2 }'); do
        local real
        real=$(ldconfig -p | awk -v n="$needed" '$1 == n { print $NF; exit }')
        symbols=$(comm -12 <(nm -D --undefined-only "$codecs" | awk '{ print $2 }' | sort -u) \
                           <(nm -D --defined-only "$real" | awk '{ print $3 }' | sort -u))
        c="$1/stand-in.c"
        {
            echo "long deepstack_stand_in(void) { return 0; }  /* $needed is not in the GPU check's bundle */"
            for s in $symbols; do echo "__asm__(\".globl $s\\n.type $s, @function\\n.set $s, deepstack_stand_in\");"; done
        } > "$c"
        gcc -shared -fPIC -O1 -Wl,-soname,"$needed" -o "$1/$needed" "$c" || return 1
        rm -f "$c"
        echo "gpu-check: $needed stands in for $(echo "$symbols" | wc -w) symbols OpenCV's codecs import"
    done
}

prepare() {
    local version torch_dir stage lib f
    version="${DEEPSTACK_GPU_TORCH_VERSION:-2.11.0}"
    torch_dir=$(DEEPSTACK_TORCH_VERSION="$version" installer/setup-torch.sh) || return 1
    build build-gpu "$torch_dir" || return 1
    stage=.gpu/stage
    rm -rf .gpu && mkdir -p "$stage/bin" "$stage/lib"
    for f in "${programs[@]}"; do
        find build-gpu -name "$f" -type f -perm -u+x -exec cp {} "$stage/bin/" \;
        strip --strip-unneeded "$stage/bin/$f"
    done
    lib="$(cd "$stage/lib" && pwd)"
    make_stand_ins "$lib" || return 1
    # Everything else the programs load that is neither LibTorch's (the GPU machine has its own) nor the base set.
    for f in "$stage"/bin/*; do
        LD_LIBRARY_PATH="$lib:$torch_dir/lib" ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'
    done | sort -u | while read -r name path; do
        case "$path" in "$torch_dir"/*|*/nvidia/*) continue ;; esac
        is_base_library "$name" && continue
        [ -e "$lib/$name" ] || cp -L "$path" "$lib/$name"
    done
    echo "$version" > "$stage/torch-version"
    git rev-parse --short HEAD > "$stage/commit"
    # The check on this machine, on the CPU: the bundled parity test passes (it decodes pictures, through the
    # stand-ins), and every library it loads comes from the bundle, LibTorch or the base set.
    local loaded strays
    loaded=$(mktemp)
    if ! LD_DEBUG=libs LD_DEBUG_OUTPUT="$loaded" LD_LIBRARY_PATH="$lib:$torch_dir/lib" \
         DEEPSTACK_TEST_DATA_DIR="$repo/tests/data" "$stage/bin/deepstack_torch_tests" test_deepstack_llama >/dev/null; then
        echo "gpu-check: the bundled test_deepstack_llama fails on this machine's CPU" >&2
        return 1
    fi
    strays=$(cat "$loaded".* | awk '/calling init:/ { print $NF }' | sort -u |
             grep -v -e "^$lib/" -e "^$torch_dir/" -e "/nvidia/" | while read -r p; do
                 is_base_library "$(basename "$p")" || echo "$p"; done)
    rm -f "$loaded" "$loaded".*
    if [ -n "$strays" ]; then
        echo "gpu-check: the bundled test loaded libraries from outside the bundle:" $strays >&2
        return 1
    fi
    tar -C "$stage" -cf - . | xz -T2 -6 > .gpu/bundle.tar.xz
    rm -rf "$stage"
    echo "gpu-check: .gpu/bundle.tar.xz $(du -h .gpu/bundle.tar.xz | cut -f1) for torch $version," \
         "commit $(git rev-parse --short HEAD); carry .gpu to the GPU machine and run installer/gpu-check.sh run"
}

run_checks() {  # run_checks BIN_DIR
    local bin="$1" out="${OUT:-$repo/gpu-report}" work deadline started
    mkdir -p "$out"
    work=$(mktemp -d)
    deadline="${DEEPSTACK_GPU_DEADLINE:-420}"
    started=$(date +%s)
    : > "$out/summary.md"
    exec > >(tee -a "$out/gpu-check.log") 2>&1

    step() {  # step NAME CAP_SECONDS STDOUT_FILE|- COMMAND...
        local name="$1" cap="$2" to="$3" t0 rc
        shift 3
        if [ -n "${DEEPSTACK_GPU_ONLY:-}" ] && ! echo "$name" | grep -qE "$DEEPSTACK_GPU_ONLY"; then
            return
        fi
        if [ $(( $(date +%s) - started )) -gt "$deadline" ]; then
            echo "| $name | skipped: past the ${deadline}-s deadline | |" >> "$out/summary.md"
            return
        fi
        echo "=== $name"
        t0=$(date +%s.%N)
        if [ "$to" = - ]; then timeout "$cap" "$@"; else timeout "$cap" "$@" > "$to"; fi
        rc=$?
        local took
        took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        if [ "$rc" = 0 ]; then echo "| $name | passed | ${took} s |" >> "$out/summary.md"
        elif [ "$rc" = 124 ]; then echo "| $name | FAILED: over ${cap} s | ${took} s |" >> "$out/summary.md"
        else echo "| $name | FAILED (exit $rc) | ${took} s |" >> "$out/summary.md"; fi
    }

    echo "gpu-check: commit $(cat "$bin/../commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null), $(date -u +%FT%TZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    grep -m1 "model name" /proc/cpuinfo || true
    python3 -c 'import torch; print("python3 torch", torch.__version__, "cuda", torch.version.cuda, "GPU seen:", torch.cuda.is_available())' || true

    # Parity on the GPU: the same comparisons with the same tolerances as on the CPU.
    export DEEPSTACK_TEST_DEVICE=cuda DEEPSTACK_TEST_DATA_DIR="$repo/tests/data"
    step "test_torch_bridge" 120 - "$bin/deepstack_torch_tests" test_torch_bridge
    step "test_qwen3_vl on CUDA (tiny-qwen3-vl)" 120 - "$bin/deepstack_torch_tests" test_qwen3_vl
    step "test_qwen3_vl on CUDA (tiny-qwen3-vl-untied)" 120 - env DEEPSTACK_FIXTURE=tiny-qwen3-vl-untied "$bin/deepstack_torch_tests" test_qwen3_vl
    step "test_deepstack_llama on CUDA" 120 - "$bin/deepstack_torch_tests" test_deepstack_llama
    unset DEEPSTACK_TEST_DEVICE
    # The whole engine on CUDA (loading, the conversation, sampling): greedy fp32 chats give the CPU's tokens.
    local compare='
        for model in "$REPO/models/demo/latest" "$REPO/tests/data/fixtures/deepstack/deepstack-l"; do
            for device in cuda cpu; do
                "$CLI" chat --model "$model" --image "$REPO/tests/data/images/wide-banker.png" --prompt "What is the total?" \
                    --max-tokens 16 --dtype f32 --json --device $device > "$WORK/chat-$device.json" || exit 1
            done
            python3 -c "import json, sys
a, b = (json.load(open(sys.argv[1] + f))[\"tokens\"] for f in (\"/chat-cuda.json\", \"/chat-cpu.json\"))
print(sys.argv[2], \"cuda\", a, \"cpu\", b)
sys.exit(a != b)" "$WORK" "$model" || exit 1
        done'
    step "chat on CUDA gives the CPU's tokens (demo model, DeepStack-L fixture; fp32)" 120 - \
        env CLI="$bin/deepstack-cli" REPO="$repo" WORK="$work" bash -c "$compare"

    # Benchmarks, ours then transformers' for each shape, bf16, 32 greedy tokens, each phase the median of 3
    # passes, the GPU's clocks and load sampled meanwhile.
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw --format=csv -lms 500 > "$out/gpu-clocks.csv" 2>/dev/null &
    local sampler=$!
    local ours=("$bin/deepstack-cli" bench --device cuda --dtype bf16 --new-tokens 32 --repeat 3)
    local theirs=(python3 "$repo/benchmarks/transformers_qwen3_vl.py" --device cuda --dtype bf16 --new-tokens 32 --repeat 3)
    step "bench qwen3-vl-2b 640x480 (ours)" 150 "$work/ours-2b-640x480.json" "${ours[@]}" --random qwen3-vl-2b --image 640x480
    step "bench qwen3-vl-2b 640x480 (transformers)" 180 "$work/transformers-2b-640x480.json" "${theirs[@]}" --preset qwen3-vl-2b --image 640x480
    step "bench qwen3-vl-8b 640x480 (ours)" 150 "$work/ours-8b-640x480.json" "${ours[@]}" --random qwen3-vl-8b --image 640x480
    step "bench qwen3-vl-8b 640x480 (transformers)" 180 "$work/transformers-8b-640x480.json" "${theirs[@]}" --preset qwen3-vl-8b --image 640x480
    step "bench qwen3-vl-8b 1920x1080 (ours)" 150 "$work/ours-8b-1920x1080.json" "${ours[@]}" --random qwen3-vl-8b --image 1920x1080
    step "bench qwen3-vl-8b 1920x1080 (transformers)" 180 "$work/transformers-8b-1920x1080.json" "${theirs[@]}" --preset qwen3-vl-8b --image 1920x1080
    step "bench deepstack-l-7b 1024x768 (ours)" 150 "$work/ours-deepstack-l-7b-1024x768.json" "$bin/deepstack-cli" bench --device cuda --dtype bf16 --new-tokens 32 --random deepstack-l-7b --image 1024x768
    # How much of a decode step is the host's: the same run with one CPU thread.
    step "bench qwen3-vl-2b 640x480 (ours, 1 CPU thread)" 150 "$work/ours-2b-640x480-1-thread.json" "${ours[@]}" --threads 1 --random qwen3-vl-2b --image 640x480
    kill "$sampler" 2>/dev/null

    python3 - "$work" "$out" <<'EOF'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
runs = {}
for f in sorted(work.glob("*.json")):
    try:
        runs[f.stem] = json.loads(f.read_text())
    except ValueError as e:
        runs[f.stem] = {"error": f"unreadable: {e}"}
(out / "gpu-benchmarks.json").write_text(json.dumps(runs, indent=2))
gib = lambda b: f"{b / 2**30:.2f} GiB" if b else "-"
rows = ["", "| run | image tokens | vision | prefill | decode | peak GPU memory (reserved) |", "|---|---|---|---|---|---|"]
for name, r in runs.items():
    if "vision_encode_ms" not in r:
        continue
    rows.append(f"| {name} | {r['image']['tokens']} | {r['vision_encode_ms']:.1f} ms | {r['prefill_tokens_per_s']:.0f} tok/s "
                f"| {r['decode_tokens_per_s']:.1f} tok/s | {gib(r.get('peak_cuda_bytes'))} |")
rows += ["", "| shape | vision, ours / transformers (time) | prefill speed, ours / transformers | decode speed, ours / transformers |",
         "|---|---|---|---|"]
for name, r in runs.items():
    if not name.startswith("ours-") or "vision_encode_ms" not in r:
        continue
    t = runs.get("transformers-" + name[len("ours-"):])
    if not t or "vision_encode_ms" not in t:
        continue
    rows.append(f"| {name[len('ours-'):]} | {r['vision_encode_ms'] / t['vision_encode_ms']:.2f} "
                f"| {r['prefill_tokens_per_s'] / t['prefill_tokens_per_s']:.2f} | {r['decode_tokens_per_s'] / t['decode_tokens_per_s']:.2f} |")
with open(out / "summary.md", "a") as f:
    f.write("\n".join(rows) + "\n")
EOF
    echo "=== summary"
    cat "$out/summary.md"
    rm -rf "$work"
    ! grep -q "FAILED" "$out/summary.md"
}

train_demo() {  # train_demo BIN_DIR [TRAIN OPTIONS...]
    local bin="$1" out="${OUT:-$repo/gpu-report}/demo-train" work seconds device from started
    shift
    seconds="${DEEPSTACK_GPU_TRAIN_SECONDS:-330}"
    device="${DEEPSTACK_GPU_TRAIN_DEVICE:-cuda}"
    from="${DEEPSTACK_GPU_TRAIN_FROM-$repo/models/demo/latest}"
    started=$(date +%s)
    mkdir -p "$out"
    work=$(mktemp -d)
    exec > >(tee -a "$out/train.log") 2>&1
    echo "gpu-check train: commit $(cat "$bin/../commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null), $(date -u +%FT%TZ)," \
         "device $device, $seconds s, from ${from:-scratch}"
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
    grep -m1 "model name" /proc/cpuinfo || true

    mkdir -p "$work/base"
    cp "$repo/models/demo/latest/config.json" "$repo/models/demo/latest/tokenizer.model" "$work/base/"
    # The defaults of the CPU stretches (models/demo/TRAINING.md); the page synthesis runs on the host's cores.
    local options=(--base "$work/base" --device "$device" --batch 8 --lr 5e-4 --reading-turn --glyph-loss 1
                   --text-height 10 --model-bf16 --log-every 10 --checkpoint-every 100
                   --threads "$(( $(nproc) > 8 ? 8 : $(nproc) ))" --seed "$(date +%s)")
    [ -n "$from" ] && options+=(--init-from "$from")
    options+=("$@")

    # The schedule must end inside the time: the rate of a short run (its last logged steps, past CUDA's start)
    # sizes it, leaving room for the evaluation and the final checkpoint.
    "$bin/deepstack-cli" train "${options[@]}" --out "$work/calibration" --steps 1000 --warmup 5 --stop-after 20 --start-step 0 \
        > "$work/calibration.log" 2>&1 || { cat "$work/calibration.log"; echo "gpu-check train: the short run failed"; return 1; }
    local pages_per_s batch left steps
    pages_per_s=$(awk '/pages\/s/ { r = $(NF-1) } END { print r }' "$work/calibration.log")
    batch=$(printf '%s\n' "${options[@]}" | awk 'p { b = $0; p = 0 } $0 == "--batch" { p = 1 } END { print b }')
    left=$(( seconds - ($(date +%s) - started) - 90 ))
    steps=$(awk -v r="$pages_per_s" -v b="$batch" -v t="$left" 'BEGIN { s = int(0.9 * r * t / b); print (s < 20 ? 0 : s) }')
    echo "gpu-check train: $pages_per_s pages/s in the short run; a schedule of $steps steps of $batch pages"
    [ "$steps" -gt 0 ] || { echo "gpu-check train: no time left for a schedule"; return 1; }
    local warmup=$(( steps / 20 > 100 ? 100 : steps / 20 + 1 ))
    local schedule=(--steps "$steps" --warmup "$warmup")
    # A run that goes on in its own schedule (OPTIONS with --steps and --start-step, as the twin carried from
    # models/demo/twin/training.json): as many of its steps as fit.
    if printf '%s\n' "$@" | grep -qx -- --start-step; then schedule=(--stop-after "$steps"); fi
    # SIGTERM makes the trainer checkpoint and stop: a schedule that runs long still brings its weights back.
    timeout -k 60 -s TERM "$(( left + 30 ))" "$bin/deepstack-cli" train "${options[@]}" --out "$work/run" "${schedule[@]}"
    echo "gpu-check train: the trainer exited with $? after $(( $(date +%s) - started )) s"
    [ -f "$work/run/model/model.safetensors" ] || { echo "gpu-check train: no model folder was written"; return 1; }
    cp "$work/run/model/model.safetensors" "$work/run/model/config.json" "$out/"
    cp "$work/run/model/glyph_head.safetensors" "$out/" 2>/dev/null || true
    cp "$work/run/checkpoint/state.json" "$work/run/model/training.json" "$out/" 2>/dev/null || true
    # The card's numbers on the GPU (greedy answers; another device may flip a near-tie, test_demo_model's margin).
    cp "$repo/models/demo/latest/generation_config.json" "$repo/models/demo/latest/sample_questions.json" "$work/run/model/" 2>/dev/null || true
    DEEPSTACK_CLI="$bin/deepstack-cli" DEEPSTACK_EVALUATE_DEVICE="$device" "$repo/models/demo/evaluate.sh" "$work/run/model" &&
        cp "$work/run/model/evaluation.json" "$out/"
    python3 - "$out/evaluation.json" <<'EOF' || true
import json, sys
card = json.load(open(sys.argv[1]))
for label, part in (("pages 0-199", card), ("pages 50 000-50 399", card["far_pages"])):
    for name in ("stacked", "without_stacks"):
        small, every = part[name]["small_print"], part[name]["all"]
        print("gpu-check train: %s, %s: small print %d / %d, all %d / %d" % (label, name, small["correct"], small["asked"], every["correct"], every["asked"]))
EOF
    rm -rf "$work"
    ls -la "$out"
}

unpack_bundle() {  # sets bin_dir to wrappers of the bundle's programs on this machine's torch
    if [ ! -f .gpu/bundle.tar.xz ]; then
        echo "gpu-check: .gpu/bundle.tar.xz is missing: run installer/gpu-check.sh prepare first and carry .gpu" >&2
        exit 1
    fi
    unpacked=$(mktemp -d)
    tar -C "$unpacked" -xJf .gpu/bundle.tar.xz || exit 1
    torch_dir=$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))') || {
        echo "gpu-check: this machine's python3 has no torch" >&2; exit 1; }
    have=$(python3 -c 'import torch; print(torch.__version__.split("+")[0])')
    if [ "$have" != "$(cat "$unpacked/torch-version")" ]; then
        echo "gpu-check: the bundle was built for torch $(cat "$unpacked/torch-version"), this machine has $have:" \
             "prepare again with DEEPSTACK_GPU_TORCH_VERSION=$have" >&2
        exit 1
    fi
    # Only our programs see the bundled libraries (python3 and its packages keep their own).
    mkdir -p "$unpacked/run"
    for f in "$unpacked"/bin/*; do
        printf '#!/bin/sh\nLD_LIBRARY_PATH="%s:%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s" "$@"\n' \
            "$torch_dir/lib" "$unpacked/lib" "$f" > "$unpacked/run/$(basename "$f")"
        chmod +x "$unpacked/run/$(basename "$f")"
    done
    bin_dir="$unpacked/run"
}

build_here() {  # sets bin_dir to this machine's build of the programs against the default LibTorch
    local torch_dir
    torch_dir=$(installer/setup-torch.sh) || exit 1
    build build-gpu "$torch_dir" || exit 1
    mkdir -p build-gpu/bin-links
    for f in "${programs[@]}"; do ln -sf "$(find "$PWD/build-gpu" -name "$f" -type f -perm -u+x | head -1)" build-gpu/bin-links/; done
    bin_dir="$PWD/build-gpu/bin-links"
}

case "$mode" in
    prepare)
        prepare
        ;;
    run)
        unpack_bundle
        run_checks "$bin_dir"
        ;;
    train)
        unpack_bundle
        train_demo "$bin_dir" "${@:2}"
        ;;
    local)
        build_here
        run_checks "$bin_dir"
        ;;
    train-local)
        build_here
        train_demo "$bin_dir" "${@:2}"
        ;;
    *)
        sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
