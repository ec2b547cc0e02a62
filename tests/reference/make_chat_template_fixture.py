#!/usr/bin/env python3
"""Writes tests/data/fixtures/qwen3_vl_chat_template.json: Qwen3-VL-Instruct's chat template (the Jinja text of
../shared/specs/qwen3-vl.md appendix A) rendered by transformers for a few conversations, which
test_qwen3_vl_template compares with the core's renderer.

Run outside CI, in a virtual environment with `pip install transformers`:
    python tests/reference/make_chat_template_fixture.py ../shared/specs/qwen3-vl.md
"""
import json
import re
import sys
from pathlib import Path

import transformers
from transformers.utils.chat_template_utils import render_jinja_template

spec = Path(sys.argv[1]).read_text(encoding="utf-8")
appendix = spec[spec.index("## Appendix A"):]
template = re.search(r"```jinja\n(.*?)```", appendix, re.S).group(1)

IMG = {"type": "image"}
CASES = [
    ("one image, no system", [{"role": "user", "content": [IMG, {"type": "text", "text": "What is the total?"}]}]),
    ("system and two images", [{"role": "system", "content": "You read invoices."},
                               {"role": "user", "content": [IMG, IMG, {"type": "text", "text": "Compare them."}]}]),
    ("text only", [{"role": "user", "content": "Hello there"}]),
    ("two turns", [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": [IMG, {"type": "text", "text": "Read the date."}]},
                   {"role": "assistant", "content": "2026-11-23"},
                   {"role": "user", "content": "And the total?"}]),
]

cases = []
for name, messages in CASES:
    rendered, _ = render_jinja_template(conversations=[messages], chat_template=template, add_generation_prompt=True)
    cases.append({"name": name, "messages": messages, "rendered": rendered[0]})
out = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "qwen3_vl_chat_template.json"
out.write_text(json.dumps({"transformers": transformers.__version__, "cases": cases}, ensure_ascii=False, indent=1) + "\n")
for c in cases:
    print(repr(c["rendered"]))
