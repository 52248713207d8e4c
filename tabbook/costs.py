"""What one more notebook and one more mutation cost the test suite, per framework, computed from
what the book recorded: each executed notebook's ``metadata.tabbook.seconds`` (its execution, the
kernel's start included) and each mutation record's ``seconds`` (its run, two at a time).

``python -m tabbook.costs`` prints the table that docs/testing.md quotes (Markdown).

In ``build.py test``, nbval executes every notebook once (about its recorded execution time), and
the book's mutation test runs only the mutations whose record is missing or stale plus a sample
of :data:`tabbook.claimrecords.SAMPLE_SIZE`; so one more notebook costs its execution time in
every run, and one more mutation costs its run only when its record is stale (or when it is drawn
for the day's sample).
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .frameworks import NAMES, NOTEBOOKS, TABS, get


def notebook_seconds(tabs: Path = TABS) -> dict[str, list[float]]:
    """{framework: the recorded execution seconds of each of its notebooks under ``tabs``}; a
    notebook that recorded none, or cannot be read, is left out."""
    found: dict[str, list[float]] = {}
    for path in sorted(tabs.glob("*/*.ipynb")):
        try:
            seconds = float(json.loads(path.read_text(encoding="utf-8"))["metadata"]["tabbook"]["seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.setdefault(path.parent.name, []).append(seconds)
    return found


def mutation_seconds(notebooks: Path = NOTEBOOKS) -> dict[str, list[float]]:
    """{framework: the recorded seconds of each mutation run in the records under ``notebooks``};
    a record that cannot be read is left out (``build.py check`` reports it)."""
    found: dict[str, list[float]] = {}
    for path in sorted(notebooks.glob("*.claims.record")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["mutations"]
            for entry in entries:
                found.setdefault(str(entry["framework"]), []).append(float(entry["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def table(notebooks: dict[str, list[float]], mutations: dict[str, list[float]]) -> str:
    """A Markdown table, one row per framework (book order) and one for all: notebooks and their
    mean execution seconds (one more notebook's cost to nbval), mutations, mutations per notebook
    and their mean seconds (one more mutation's cost when it runs), to a tenth."""
    rows = ["| framework | notebooks | s per notebook (mean) | s all notebooks | mutations | mutations per notebook "
            "| s per mutation (mean) | s all mutations |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    names = [name for name in NAMES if name in notebooks or name in mutations]

    def row(title: str, runs: list[float], runs_m: list[float]) -> str:
        mean = statistics.fmean(runs) if runs else 0.0
        mean_m = statistics.fmean(runs_m) if runs_m else 0.0
        per = len(runs_m) / len(runs) if runs else 0.0
        return (f"| {title} | {len(runs)} | {mean:.1f} | {sum(runs):.0f} | {len(runs_m)} | {per:.1f} | "
                f"{mean_m:.1f} | {sum(runs_m):.0f} |")

    for name in names:
        rows.append(row(get(name).title, notebooks.get(name, []), mutations.get(name, [])))
    rows.append(row("all", [s for name in names for s in notebooks.get(name, [])],
                    [s for name in names for s in mutations.get(name, [])]))
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(notebook_seconds(), mutation_seconds()))
