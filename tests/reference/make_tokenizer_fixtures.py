#!/usr/bin/env python3
"""Writes tests/data/fixtures/qwen3_tokenizer.json: token ids that Hugging Face `tokenizers` gives for a set of
texts with the real Qwen3 tokenizer (../shared/data/qwen3-tokenizer/tokenizer.json), the reference that
test_bpe_tokenizer compares the core's byte-level BPE with.

Run outside CI, in a virtual environment with `pip install tokenizers`:
    python tests/reference/make_tokenizer_fixtures.py ../shared/data/qwen3-tokenizer/tokenizer.json
"""
import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer
import tokenizers

TEXTS = [
    "",
    "Hello, world!",
    "What is the invoice number?",
    "  leading spaces and trailing   ",
    "tabs\tand\nnew\r\nlines\n\n\n",
    "I'm sure you've seen they'll, we'd, it's — THEY'RE, I'M, WE'VE",
    "Numbers: 1234567890 3.14159 -42 1,000,000 0x1F",
    "Ünïcödé çåfé naïve coöperate",
    "e\u0301 versus \u00e9 and A\u030a versus \u00c5 (NFC)",
    "中文测试：今天天气很好。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 문장입니다.",
    "Русский текст, Ελληνικά, עברית, العربية",
    "emoji 😀👍🏽 👨‍👩‍👧‍👦 flags 🇩🇪🇯🇵",
    "def f(x):\n    return x ** 2  # square\n",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>Describe this.",
    "<think>\n\n</think>\n\nplain text after think tags",
    "text<|endoftext|>more text <|im_end|>",
    "not special: <|im_start and <|unknown|> and |>",
    "   \n   \n",
    "a\u00a0non-breaking\u2009thin\u3000ideographic space",
    "zero\u200bwidth\u200djoiner",
    "Total: $1,234.56 (USD) — due 2026-11-23; ref #INV-00042/B",
    "https://example.com/path?query=1&other=two#frag",
    "x" * 300,
    "   ",
    "\n",
    "Ⅻ ⅔ ① ²³ ﬁ ﬀ",
    "mixed CASE 's 'S 'T 'Re",
]


def random_texts(count, seed):
    rng = random.Random(seed)
    pieces = ["the", " ", "  ", "\n", "\t", "é", "e\u0301", "中", "文", "😀", "'s", "'LL", "12", "3", ".", ",", "<|im_end|>",
              "ab", "Zq", "\u0300", "ß", "ǅ", "\r\n", "--", "__", "$", "¥", "🇩", "\u200d", "ＡＢ"]
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(count)]


def main():
    tokenizer_path = Path(sys.argv[1])
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    cases = []
    for text in TEXTS + random_texts(200, seed=20261123):
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False)})
    out = Path(__file__).resolve().parent.parent / "data" / "fixtures" / "qwen3_tokenizer.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"reference": f"tokenizers {tokenizers.__version__}", "tokenizer": "qwen3-tokenizer/tokenizer.json",
                               "cases": cases}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(cases)} cases -> {out}")


if __name__ == "__main__":
    main()
