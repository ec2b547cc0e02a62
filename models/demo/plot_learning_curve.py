#!/usr/bin/env python3
"""Draws models/demo/learning-curve.png from the table in models/demo/TRAINING.md: held-out exact match (small print
and all questions) and the pages read out (character similarity) against the pages trained, with the stacks and
with them taken away from the same weights, small print on the far held-out pages where the table has them, and
the twin trained without stacks (its table's rows, T1, T2, ...).
Needs matplotlib.
    python3 models/demo/plot_learning_curve.py
"""
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rows():
    for line in (HERE / "TRAINING.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) not in (9, 10) or not re.match(r"^\d", cells[1]):
            continue
        pages = int(re.match(r"[\d ]+", cells[1]).group(0).replace(" ", ""))
        small = re.match(r"(\d+) / (\d+)", cells[5])
        every = re.match(r"(\d+) / (\d+)", cells[6])
        reading = float(cells[7])
        removed = re.match(r"([\d.]+) \((\d+) / (\d+)(?:; small print (\d+) / (\d+))?", cells[8])
        far = re.match(r"(\d+) / (\d+)", cells[9]) if len(cells) == 10 else None
        stretch = cells[0].split(" ")[0]
        yield {
            "stretch": stretch,
            "twin": stretch.startswith("T"),  # the twin's table: T1, T2, ... (no stacks to remove)
            "pages": pages,
            "small": int(small.group(1)) / int(small.group(2)),
            "all": int(every.group(1)) / int(every.group(2)),
            "reading": reading,
            "reading_removed": float(removed.group(1)) if removed else None,
            "all_removed": int(removed.group(2)) / int(removed.group(3)) if removed else None,
            "small_removed": int(removed.group(4)) / int(removed.group(5)) if removed and removed.group(4) else None,
            "small_far": int(far.group(1)) / int(far.group(2)) if far else None,
        }


def main():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    everything = list(rows())
    data = [r for r in everything if not r["twin"]]
    twin = [r for r in everything if r["twin"]]
    pages = [r["pages"] / 1000 for r in data]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    a, b = axes
    a.plot(pages, [r["small"] for r in data], "o-", color="#2b6cb0", label="small print, with the stacks")
    a.plot(pages, [r["all"] for r in data], "s-", color="#68a0d8", label="all questions, with the stacks")
    small_removed = [(p, r["small_removed"]) for p, r in zip(pages, data) if r["small_removed"] is not None]
    a.plot([p for p, _ in small_removed], [v for _, v in small_removed], "o--", color="#dd6b20", label="small print, stacks removed")
    a.plot(pages, [r["all_removed"] for r in data], "s--", color="#f0a060", label="all questions, stacks removed")
    small_far = [(p, r["small_far"]) for p, r in zip(pages, data) if r["small_far"] is not None]
    a.plot([p for p, _ in small_far], [v for _, v in small_far], "D", color="#1a365d",
           label="small print, with the stacks, pages 50 000-50 399")
    if twin:
        twin_pages = [r["pages"] / 1000 for r in twin]
        a.plot(twin_pages, [r["small"] for r in twin], "o:", color="#2f855a", label="small print, the twin (trained without stacks)")
        a.plot(twin_pages, [r["all"] for r in twin], "s:", color="#68d391", label="all questions, the twin")
    a.set_xlabel("pages trained (thousands)")
    a.set_ylabel("exact match, held-out pages 0-199")
    a.set_ylim(0, 1)
    a.legend(fontsize=7)
    b.plot(pages, [r["reading"] for r in data], "o-", color="#2b6cb0", label="with the stacks")
    b.plot(pages, [r["reading_removed"] for r in data], "o--", color="#dd6b20", label="stacks removed")
    if twin:
        b.plot([r["pages"] / 1000 for r in twin], [r["reading"] for r in twin], "o:", color="#2f855a", label="the twin")
    b.set_xlabel("pages trained (thousands)")
    b.set_ylabel("pages read out: character similarity")
    b.set_ylim(0.4, 1)
    b.legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle("The demo model, stretch by stretch (models/demo/TRAINING.md)", fontsize=10)
    fig.tight_layout()
    fig.savefig(HERE / "learning-curve.png", dpi=100)
    print("wrote", HERE / "learning-curve.png")


if __name__ == "__main__":
    main()
