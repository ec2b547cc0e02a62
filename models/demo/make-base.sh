#!/bin/bash
# Makes the demo model's starting point in models/demo/base: its architecture (config.json, written here by hand)
# and a sentencepiece BPE tokenizer (tokenizer.model) trained with spm_train on the text of 4000 synthetic
# training pages (questions, answers) and the vicuna_v1 template's words. Digits are split one per token, so
# numbers are read digit by digit. Reproducible: same pages, same spm_train flags.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cli="${DEEPSTACK_CLI:-$here/../../build/app/deepstack-cli}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$cli" synth --out "$work/pages" --count 4000 > /dev/null
python3 - "$work/pages/questions.jsonl" > "$work/corpus.txt" <<'PY'
import json, sys
print("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.")
print("USER: ASSISTANT:")
for line in open(sys.argv[1]):
    q = json.loads(line)
    print(q["question"])
    print(q["answer"])
PY
spm_train --input="$work/corpus.txt" --model_prefix="$work/tokenizer" --model_type=bpe --vocab_size=512 \
    --character_coverage=1.0 --byte_fallback=true --split_digits=true --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=-1 \
    --normalization_rule_name=identity --add_dummy_prefix=true --remove_extra_whitespaces=false \
    --num_threads=2 --minloglevel=2 > /dev/null
cp "$work/tokenizer.model" "$here/base/tokenizer.model"
echo "wrote $here/base/tokenizer.model"
