#!/usr/bin/env python3
"""The stacked demo model against its twin trained without stacks, per question kind, from the two folders' cards
(evaluation.json, written by evaluate.sh): a Markdown table for the far held-out pages (50 000-50 399, where the
targets are judged) and one for the card's pages 0-199, then the verdict on the issue's target (the stacked model
at least 10 points over its twin on small print, far pages). The twin's training.json says how far its run is: the
comparison is the issue's (same pages and steps) only once the twin has made all its steps, and it says so.
    python3 models/demo/compare_twins.py [STACKED_FOLDER [TWIN_FOLDER]]
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_POINTS = 10.0

# Printed fields read from the page (the small print) first, then the scenes' questions.
KINDS = [("cell", "table cell"), ("weight", "parcel weight"), ("date", "date"), ("total", "total"), ("code", "code"),
         ("invoice_number", "invoice number"), ("tracking", "tracking number"), ("name", "name"),
         ("count", "count (scenes)"), ("colour", "colour (scenes)")]


def load_card(folder):
    path = folder / "evaluation.json"
    if not path.is_file():
        sys.exit(f"{path}: no card; write it with models/demo/evaluate.sh {folder}")
    return json.loads(path.read_text())


def grouped(number):
    """12 345 as this project's documents write it."""
    return f"{number:,}".replace(",", " ")


def fraction(counts):
    return f"{grouped(counts['correct'])} / {grouped(counts['asked'])} ({100.0 * counts['correct'] / counts['asked']:.1f} %)"


def points(stacked, twin):
    return 100.0 * (stacked["correct"] / stacked["asked"] - twin["correct"] / twin["asked"])


def table(stacked, twin, title):
    if stacked["first_page"] != twin["first_page"] or stacked["pages"] != twin["pages"] \
            or stacked["text_height"] != twin["text_height"]:
        sys.exit(f"{title}: the two cards were not answered on the same pages "
                 f"(stacked {stacked['first_page']}+{stacked['pages']} at {stacked['text_height']}, "
                 f"twin {twin['first_page']}+{twin['pages']} at {twin['text_height']})")
    last = stacked["first_page"] + stacked["pages"] - 1
    lines = [f"{title} (held-out pages {grouped(stacked['first_page'])}-{grouped(last)}):", "",
             "| question kind | stacked | twin without stacks | points |", "|---|---|---|---|"]
    for key, label in KINDS:
        if key in stacked["kinds"] and key in twin["kinds"]:
            s, t = stacked["kinds"][key], twin["kinds"][key]
            lines.append(f"| {label} | {fraction(s)} | {fraction(t)} | {points(s, t):+.1f} |")
    for key, label in (("small_print", "**small print**"), ("all", "all questions")):
        s, t = stacked[key], twin[key]
        lines.append(f"| {label} | {fraction(s)} | {fraction(t)} | {points(s, t):+.1f} |")
    if "reading" in stacked and "reading" in twin:  # the card's pages only
        s, t = stacked["reading"], twin["reading"]
        lines.append(f"| pages read out, character similarity | {s['character_similarity']:.3f} | "
                     f"{t['character_similarity']:.3f} | {100.0 * (s['character_similarity'] - t['character_similarity']):+.1f} |")
    return "\n".join(lines)


def main():
    stacked_folder = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "latest"
    twin_folder = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "twin"
    stacked, twin = load_card(stacked_folder), load_card(twin_folder)
    # The stacked model's card as it is ("stacked"); the twin has no stacks, its folder answers as it is too.
    far = (stacked["far_pages"]["stacked"], twin["far_pages"]["stacked"])
    print(table(*far, "Far pages"))
    print()
    print(table(stacked["stacked"], twin["stacked"], "The card's pages"))
    print()
    training = twin_folder / "training.json"
    run = json.loads(training.read_text()) if training.is_file() else None
    gap = points(far[0]["small_print"], far[1]["small_print"])
    verdict = "met" if gap >= TARGET_POINTS else "not met"
    if run is None:
        print(f"{training}: missing, so the twin's step is unknown; the gap on far small print is {gap:+.1f} points")
    elif run["step"] < run["identity"]["steps"]:
        print(f"The twin stands at step {run['step']} of {run['identity']['steps']} "
              f"({grouped(run['step'] * run['identity']['batch'])} pages): not yet the issue's comparison "
              f"(same pages and steps); the gap on far small print is {gap:+.1f} points so far")
    else:
        print(f"The twin made all {run['identity']['steps']} steps ({grouped(run['step'] * run['identity']['batch'])} pages): "
              f"the stacked model is {gap:+.1f} points over it on far small print, the target "
              f"({TARGET_POINTS:.0f} points) {verdict}")


if __name__ == "__main__":
    main()
