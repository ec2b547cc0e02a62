#!/usr/bin/env bash
# Rebuilds tiny-llama-sp.model (needs the `sentencepiece` Debian package for spm_train).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/corpus.txt" <<'PY'
import random, sys
random.seed(1)
words = ('the invoice total number date amount name address receipt form label table red blue circle square '
         'how many what is of a in to and for').split()
with open(sys.argv[1], 'w') as f:
    for _ in range(3000):
        f.write(' '.join(random.choice(words) for _ in range(random.randint(3, 12))) + ' ' + str(random.randint(0, 99999)) + '\n')
    # A little of other scripts, so that some non-ASCII pieces exist; the rest falls back to bytes.
    for _ in range(300):
        f.write(random.choice(['Größe der Rechnung', 'prix à payer', 'сумма счёта', '合計金額', 'الفاتورة']) + '\n')
PY
spm_train --input="$work/corpus.txt" --model_prefix="$work/tiny-llama-sp" --vocab_size=400 --model_type=bpe \
    --character_coverage=1.0 --byte_fallback=true --bos_id=1 --eos_id=2 --unk_id=0 --pad_id=-1 \
    --normalization_rule_name=identity --add_dummy_prefix=true \
    --remove_extra_whitespaces=false --split_digits=true --allow_whitespace_only_pieces=true >/dev/null 2>&1
cp "$work/tiny-llama-sp.model" "$here/"
