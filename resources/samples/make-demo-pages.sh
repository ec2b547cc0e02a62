#!/bin/bash
# Writes resources/samples/demo-pages.pdf, the document installer/run-app.sh opens beside the demo model: one
# held-out page of each printed layout (invoice, receipt, form, label, table), far from the pages the model card is
# measured on (held-out 9000 on), at the small-print height the model trained with, one page per PDF page sized so
# that the app's default 144 DPI gives back the pages' own 224 pixels.
# Needs deepstack-cli (DEEPSTACK_CLI, default build/app/deepstack-cli) and Python with Pillow.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cli="${DEEPSTACK_CLI:-$here/../../build/app/deepstack-cli}"
python="${PYTHON:-python3}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
"$cli" synth --out "$scratch" --split held-out --from 9000 --count 24 --text-height 10 > /dev/null
"$python" - "$scratch" "$here/demo-pages.pdf" <<'PY'
import json, sys
from PIL import Image
scratch, out = sys.argv[1], sys.argv[2]
first = {}
for line in open(scratch + "/questions.jsonl"):
    q = json.loads(line)
    first.setdefault(q["layout"], q["image"])
pages = [Image.open(scratch + "/" + first[layout]).convert("RGB") for layout in ("invoice", "receipt", "form", "label", "table")]
# JPEG at this quality keeps 10-pixel print as the model saw it in training; 144 DPI: 224 pixels a page.
pages[0].save(out, "PDF", resolution=144.0, save_all=True, append_images=pages[1:], quality=95)
PY
echo "wrote $here/demo-pages.pdf"
