#!/usr/bin/env python3
"""Writes the bundled demo model's card, models/demo/latest/README.md, from what was measured: its evaluation.json
(written by evaluate.sh, re-answered by CI's test_demo_model), its config.json, the stretches of TRAINING.md and the
twin's card (compare_twins.py). With --check it writes nothing and fails when the card differs from what these
files say now (CI's test_model_card), so that the card's tables are always the ones its command reproduces.
    python3 models/demo/model_card.py [--check]
"""
import json
import re
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import compare_twins  # noqa: E402  (the same tables as the side-by-side script)

FOLDER = HERE / "latest"
TWIN = HERE / "twin"


def stacked_rows():
    """The stacked stretches' rows of TRAINING.md (the twin's T rows left out): (cells, pages in all)."""
    for line in (HERE / "TRAINING.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 10 or not re.match(r"^\d", cells[1]) or cells[0].startswith("T"):
            continue
        yield cells, int(re.match(r"[\d ]+", cells[1]).group(0).replace(" ", ""))


def stretches():
    """The stacked stretches of TRAINING.md: (name, pages in all, pages/s)."""
    found = [(cells[0].split(" ")[0], pages, float(re.match(r"[\d.]+", cells[3]).group(0))) for cells, pages in stacked_rows()]
    if not found:
        sys.exit(f"{HERE / 'TRAINING.md'}: no stretch rows found (has the table's layout changed?)")
    return found


grouped = compare_twins.grouped
counts = compare_twins.fraction


def kind_table(card, ablated):
    lines = ["| question kind | with the stacks | the same weights, stacks removed |", "|---|---|---|"]
    for key, label in compare_twins.KINDS:
        if key in card["kinds"]:
            lines.append(f"| {label} | {counts(card['kinds'][key])} | {counts(ablated['kinds'][key])} |")
    lines.append(f"| **small print** | **{counts(card['small_print'])}** | {counts(ablated['small_print'])} |")
    lines.append(f"| all questions | {counts(card['all'])} | {counts(ablated['all'])} |")
    return "\n".join(lines)


def attention_table(far_range, far, near):
    """Per decoder layer, on both page ranges: the share of the answers' attention on the picture that falls on the
    field, beside the field's share of the picture's tokens, and how often the most-attended token lies on it."""
    lines = [f"| decoder layer | on the field, pages {far_range} | most-attended token on it | on the field, pages 0-199 | "
             "most-attended token on it |", "|---|---|---|---|---|"]
    for f, n in zip(far["layers"], near["layers"]):
        lines.append(f"| {f['layer']} | {100.0 * f['mass_on_field']:.1f} % | {100.0 * f['top_token_on_field']:.1f} % | "
                     f"{100.0 * n['mass_on_field']:.1f} % | {100.0 * n['top_token_on_field']:.1f} % |")
    return "\n".join(lines)


def card_text():
    config = json.loads((FOLDER / "config.json").read_text())
    card = json.loads((FOLDER / "evaluation.json").read_text())
    vision = config["vision_config"]
    views = vision["image_size"] // vision["patch_size"]
    runs = stretches()
    pages, hours, previous = runs[-1][1], 0.0, 0
    for _, total, rate in runs:
        hours += (total - previous) / rate / 3600.0
        previous = total
    far, near = card["far_pages"], card
    far_range = f"{grouped(far['stacked']['first_page'])}-{grouped(far['stacked']['first_page'] + far['stacked']['pages'] - 1)}"
    groups = config["num_crops"]
    first = config["deepstack_start_id"]
    entering = ", ".join(str(first + k * config["deepstack_interval"]) for k in range(groups))
    far_attention, near_attention = far["stacked"]["field_attention"], near["stacked"]["field_attention"]
    far_last = far_attention["layers"][-1]
    twin_note = twin_section()
    return f"""<!-- Written by models/demo/model_card.py from evaluation.json, config.json, ../TRAINING.md and ../twin/:
     edit those (or the script), then run it; CI's test_model_card fails when this file differs. -->
# DeepStack Studio's demo model (DeepStack-L, trained from scratch on synthetic documents)

A DeepStack-L vision-language model of about 6.9 M parameters, small enough to answer on a CPU, bundled so that
DeepStack Studio opens on a model that reads small print. It answers questions about the pages of this project's
synthetic document generator (`deepstack-cli synth`): invoices, receipts, forms, parcel labels and tables whose
fields are printed too small to read in the picture's low-resolution view, and scenes of shapes. It has never seen
a real document and was not evaluated on one: do not expect it to read your scans or photos (a Qwen3-VL model
does). It is here to show what DeepStack's stacked high-resolution groups do.

## How it reads a page
- **Vision tower**: a CLIP-style ViT ({vision['num_hidden_layers']} layers, width {vision['hidden_size']}) on \
  {vision['image_size']}-pixel views of {vision['patch_size']}-pixel patches, {views * views} tokens a view. A page \
  (224 x 224 pixels) is seen as one global view at {vision['image_size']} pixels and as its {groups} quarters at \
  full resolution.
- **Projector**: `{config['mm_projector_type']}` from width {config['mm_hidden_size']} to {config['hidden_size']}, \
  then an RMSNorm with a learned gain (`mm_projector_norm`) and a learned vector per group \
  (`deepstack_group_embedding`).
- **Decoder**: LLaMA-style ({config['num_hidden_layers']} layers, width {config['hidden_size']}, \
  {config['num_attention_heads']} heads, MLP {config['intermediate_size']}), a {config['vocab_size']}-piece \
  SentencePiece BPE vocabulary (digits split, byte fallback), no system prompt.
- **DeepStack-L**: the global view's {views * views} tokens take the picture's place in the prompt. The quarters' \
  features ({2 * views} x {2 * views} in all) are sampled into {groups} groups of {views} x {views} (group (i, j) \
  takes every second token from row i and column j), and group k is added to the hidden states of the picture's \
  positions before decoder layer {first} + k (layers {entering}). `core/src/models/deepstack_llama/` is where \
  this happens.

The folder is a real checkpoint (`config.json`, `model.safetensors` in bf16, `tokenizer.model`), loaded by the same
code as the authors' released DeepStack-L checkpoints; `glyph_head.safetensors` is a training-only head (below)
that inference does not read.

## Training
- **Data**: pages drawn by the generator's training stream (its held-out stream, from which every number below
  comes, is drawn from other random streams), 224 x 224 pixels, the small print at a cap height of 10 pixels
  (5 pixels in the global view). Each page is one conversation of all its questions (the loss on every answer) and
  a second conversation that reads the page out line by line; a glyph head on the vision tower names the character
  in each slot of every high-resolution patch.
- **Recipe**: AdamW, batches of 8 pages, a warm-up and a cosine per stretch (peak learning rates from 1e-3 in the first to 4e-4 in the last), trained with
  `deepstack-cli train` (the app's own model code under LibTorch autograd). The commands, options and every
  stretch's numbers: `models/demo/TRAINING.md`.
- **Extent**: {grouped(pages)} pages in the {len(runs)} stretches of `TRAINING.md` ({runs[0][0]} from scratch, \
  each later one from the last's weights); these weights are the mean of stretches {runs[-2][0]} and \
  {runs[-1][0]}. About {hours:.0f} hours of training in all (each stretch's pages over its measured pages per \
  second).
- **Machines**: 2-core AMD EPYC virtual machines (AVX-512 up to stretch 10, AVX2 only from 12 on), no GPU.

## Evaluation
Exact match of greedy answers on held-out pages. The numbers to go by are those of pages {far_range}, which \
chose nothing; pages 0-199 chose which stretch was kept, and CI answers them again (`test_demo_model`).
"Stacks removed": the same weights answering from the global view alone (`"deepstack_args_for_ablation":
"nostack"` in a copy of the folder's `config.json`).

Held-out pages {far_range}:

{kind_table(far['stacked'], far['without_stacks'])}

Held-out pages 0-199 (the pages CI answers again):

{kind_table(near['stacked'], near['without_stacks'])}

Each page read out ("Read the page."), character similarity: \
{near['stacked']['reading']['character_similarity']:.3f} with the stacks, \
{near['without_stacks']['reading']['character_similarity']:.3f} without ({near['stacked']['reading']['exact']} and \
{near['without_stacks']['reading']['exact']} of {near['stacked']['reading']['pages']} pages exactly).

Where the answers to the small-print questions look (`--field-attention`): of their attention on the picture, the \
share that falls on the printed field asked about, per decoder layer, and how often their most-attended picture \
token lies on it ({grouped(far_attention['questions'])} questions on pages {far_range}, \
{grouped(near_attention['questions'])} on pages 0-199). The field is {100.0 * far_last['field_token_share']:.1f} % \
of the picture's tokens; in the last layer {100.0 * far_last['mass_on_field']:.1f} % of the attention lands on it.

{attention_table(far_range, far_attention, near_attention)}

{twin_note}
## Reproduce
    models/demo/evaluate.sh models/demo/latest    # answers both page ranges again, writes evaluation.json
    python3 models/demo/model_card.py             # writes this card from it
"""


def twin_section():
    if not (TWIN / "evaluation.json").is_file():
        return ""
    run = json.loads((TWIN / "training.json").read_text())
    twin = json.loads((TWIN / "evaluation.json").read_text())
    stacked = json.loads((FOLDER / "evaluation.json").read_text())
    steps, step, batch = run["identity"]["steps"], run["step"], run["identity"]["batch"]
    status = (f"trained to the end of its run ({grouped(steps * batch)} pages)" if step >= steps else
              f"still in training: step {grouped(step)} of {grouped(steps)} ({grouped(step * batch)} of "
              f"{grouped(steps * batch)} pages), so this is not yet the comparison at equal pages")
    far_stacked, far_twin = stacked["far_pages"]["stacked"], twin["far_pages"]["stacked"]
    table = compare_twins.table(far_stacked, far_twin, "Far pages")
    verdict = ""
    if step >= steps:
        gap = compare_twins.points(far_stacked["small_print"], far_twin["small_print"])
        verdict = (f"On far small print these weights lead the twin by {gap:+.1f} points (the issue's target: at least "
                   f"{compare_twins.TARGET_POINTS:.0f}).")
        equal = equal_pages_stretch(steps * batch)
        if equal is not None:
            name, right, asked = equal
            twin_share = far_twin["small_print"]["correct"] / far_twin["small_print"]["asked"]
            verdict += (f" At the twin's very pages, stretch {name}'s own weights answered {grouped(right)} / "
                        f"{grouped(asked)} ({100.0 * right / asked:.1f} %, `TRAINING.md`): "
                        f"{100.0 * (right / asked - twin_share):+.1f} points.")
    return f"""## Against its twin trained without stacks
The same config, tokenizer, pages and losses trained with `--no-stacks` from scratch in one run as long as the \
stacked model's stretches through 13 (`models/demo/twin/`), {status}:

{table}

{verdict}

"""


def equal_pages_stretch(pages):
    """The stacked stretch of TRAINING.md that ended at `pages`, with its far small-print count: (name, right, asked),
    or None where no such row measured the far pages."""
    for cells, ended in stacked_rows():
        far = re.match(r"(\d+) / (\d+)", cells[9])
        if ended == pages and far:
            return cells[0].split(" ")[0], int(far.group(1)), int(far.group(2))
    return None


def wrapped(text, width=118):
    """The card's prose wrapped as the project's Markdown is; tables, code and comments as they are."""
    out = []
    for line in text.split("\n"):
        if line.startswith(("|", "    ", "<!--")):
            out.append(line)
            continue
        line = re.sub(r"(?<=\S) {2,}", " ", line)  # the template's continued lines keep their indent
        if len(line) <= width:
            out.append(line)
        else:
            indent = "  " if line.startswith("- ") else ""
            out.append(textwrap.fill(line, width, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False))
    return "\n".join(out)


def main():
    text = wrapped(card_text())
    path = FOLDER / "README.md"
    if "--check" in sys.argv[1:]:
        if not path.is_file() or path.read_text() != text:
            sys.exit(f"{path} is not what models/demo/model_card.py writes from the folder's evaluation.json, "
                     "config.json, TRAINING.md and the twin: run it and commit the card")
        print(f"{path}: the card matches its sources")
        return
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
