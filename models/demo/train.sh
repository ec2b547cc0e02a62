#!/bin/bash
# Reproduces the demo model and its model card's table: trains the stacked model and its twin without stacks
# (same pages, same steps, same context length), side by side, one thread each, then evaluates both on the
# held-out pages. Resumable: run it again after an interruption and each run goes on from its checkpoint.
#   models/demo/train.sh [WORK_FOLDER]     (default: ./demo-train)
# Afterwards: WORK/stacked/model is what models/demo/model holds (plus sample_questions.json and the card),
# WORK/stacked.json and WORK/flat.json are what models/demo/evaluation holds.
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
