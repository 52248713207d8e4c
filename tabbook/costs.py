"""What one more notebook and one more mutation cost the test suite, per framework, computed from
what the book recorded: each executed notebook's ``metadata.dlblocks.seconds`` (its execution, the
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
import reprlib
import math
import statistics
import sys
from pathlib import Path
from typing import Callable

from .errors import display_path
from .frameworks import NAMES, NOTEBOOKS, TABS, get


def seconds_value(value) -> float | None:
    """``value`` as seconds: a finite number at least 0 (a bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def notebook_seconds(tabs: Path = TABS, warn: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """{framework: the recorded execution seconds of each of its notebooks under ``tabs``}.

    A notebook that recorded none (not executed) is left out silently; one that cannot be read
    (no such file, not UTF-8, not JSON, JSON nested too deeply for the parser, no metadata),
    or whose ``metadata.dlblocks.seconds`` is not a finite number of seconds at least 0 (``nan``,
    a string), is left out with a line to ``warn`` (default: standard error) naming the file.
    """
    warn = warn or _stderr
    found: dict[str, list[float]] = {}
    for path in sorted(tabs.glob("*/*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:  # RecursionError: nested too deeply
            warn(f"warning: {display_path(path)}: not a readable notebook ({_reason(error)}); left out of the costs "
                 f"(restore it with: git checkout -- {display_path(path)}, or execute it again)")
            continue
        tabbook = meta.get("dlblocks") if isinstance(meta, dict) else None
        if not isinstance(tabbook, dict) or "seconds" not in tabbook:
            continue  # not executed
        seconds = seconds_value(tabbook["seconds"])
        if seconds is None:
            warn(f"warning: {display_path(path)}: metadata.dlblocks.seconds is {_shown(tabbook['seconds'])}, not a number "
                 "of seconds (finite, at least 0); left out of the costs (execute the notebook again to record it)")
            continue
        found.setdefault(path.parent.name, []).append(seconds)
    return found


def mutation_seconds(notebooks: Path = NOTEBOOKS, warn: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """{framework: the recorded seconds of each mutation run in the records under ``notebooks``}.

    A record that cannot be read is left out, and an entry without a framework name or a finite
    number of seconds at least 0 (``nan``, a string, a missing key) is skipped, each with a line
    to ``warn`` (default: standard error) naming the file and the entry (its number, from 1, and
    its claim); the entries after a bad one are kept. ``build.py check`` reports such records too.
    """
    warn = warn or _stderr
    found: dict[str, list[float]] = {}
    for path in sorted(notebooks.glob("*.claims.record")):
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["mutations"]
            if not isinstance(entries, list):
                raise TypeError(f"'mutations' is {type(entries).__name__}, not a list")
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            warn(f"warning: {display_path(path)}: not a readable record ({_reason(error)}); left out of the costs "
                 f"(restore it with: git checkout -- {display_path(path)}, or run its claims again: "
                 "python3 build.py claims --run)")
            continue
        for number, entry in enumerate(entries, 1):
            entry = entry if isinstance(entry, dict) else {}
            framework, seconds = entry.get("framework"), seconds_value(entry.get("seconds"))
            if not isinstance(framework, str) or seconds is None:
                what = ("no framework name" if not isinstance(framework, str) else
                        f"seconds {_shown(entry.get('seconds'))}, not a number of seconds (finite, at least 0)")
                warn(f"warning: {display_path(path)}: mutation entry {number}"
                     + (f" (claim {_shown(entry['claim'])})" if "claim" in entry else "")
                     + f": {what}; skipped (run it again with: python3 build.py claims --run)")
                continue
            found.setdefault(framework, []).append(seconds)
    return found


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _shown(value) -> str:
    """``value`` as Python writes it, cut short (a value read from a file may be nested or long)."""
    return _SHORT.repr(value)


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 80


def _reason(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "its JSON is nested too deeply to read"
    if isinstance(error, KeyError):
        return f"no {error.args[0]!r} key"
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


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


def main() -> int:
    """Print the table of the book's recorded costs (warnings, if any, to standard error)."""
    print(table(notebook_seconds(TABS), mutation_seconds(NOTEBOOKS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
