#!/bin/bash
# The first runs of the demo model and its twin without stacks (same pages, same steps, same context length),
# side by side, one thread each, then both evaluated on held-out pages. Resumable: run it again after an
# interruption and each run goes on from its checkpoint.
#   models/demo/train.sh [WORK_FOLDER]     (default: ./demo-train)
# These are the baseline options of TRAINING.md's table: the weights in latest/ and twin/ came from stretches that
# each went on from the last one's weights (`train --init-from`), and every row there lists its options beyond
# these ones; models/README.md, "Training that survives the machine", has the command of a stretch.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cli="${DEEPSTACK_CLI:-$here/../../build/app/deepstack-cli}"
work="${1:-demo-train}"
mkdir -p "$work"
options=(--base "$here/base" --steps 2000 --batch 8 --warmup 100 --lr 1e-3 --seed 1 --reading-turn --glyph-loss 1 --threads 1 --checkpoint-every 25 --log-every 25)
"$cli" train "${options[@]}" --out "$work/stacked" > "$work/stacked.log" 2>&1 &
stacked=$!
"$cli" train "${options[@]}" --out "$work/flat" --no-stacks > "$work/flat.log" 2>&1 &
flat=$!
wait "$stacked" || { echo "the stacked run failed: see $work/stacked.log" >&2; exit 1; }
wait "$flat" || { echo "the run without stacks failed: see $work/flat.log" >&2; exit 1; }
for run in stacked flat; do
    "$cli" evaluate --model "$work/$run/model" --pages 200 --reading > "$work/$run.json"
    "$cli" evaluate --model "$work/$run/model" --pages 50 --field-attention > "$work/$run-attention.json"
done
echo "wrote $work/stacked.json, $work/flat.json and the attention measures beside them"
