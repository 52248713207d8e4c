"""Where the benchmark's training time goes: summaries of the profiles ``build.py bench --profile`` takes.

Two kinds of profile, both of one more run of the chapter's custom-layer network:

* py-spy (https://github.com/benfred/py-spy) samples the kernel's Python threads, waiting ones
  included, and writes collapsed stacks ("frame;frame;... count" per line, Brendan Gregg's
  flame-graph format). :func:`line_shares` attributes each sample to the line of the notebook's
  ``train`` that was running, so a line that waits for the framework's worker threads shows as
  clearly as one that spends its time in Python.
* MindSpore's own profiler times every operator in its compiled graph; :func:`operator_rows`
  reads its per-operator-type table (``cpu_op_type_info_*.csv``).
"""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

from .errors import BuildError

_FRAME = re.compile(r"^(?P<function>.+) \((?P<file>.+):(?P<line>\d+)\)$")


def line_shares(stacks: Path, function: str, filename: str) -> tuple[dict[int, float], int]:
    """Share of the samples spent on each line of ``function`` defined in ``filename``.

    Args:
        stacks: py-spy's ``--format raw`` output: one ``frame;frame;... count`` line per
            distinct stack, outermost frame first, frames written ``name (file:line)``.
        function: the function's name, e.g. ``train``.
        filename: the file that defines it (py-spy may shorten the path, so basenames are
            compared).

    Returns:
        ({line number in the file: fraction of the samples inside ``function``}, the number
        of samples inside ``function``). Where the function recurses, the innermost call counts.

    Raises:
        BuildError: the file is not there, or no sample is inside ``function``.
    """
    if not stacks.is_file():
        raise BuildError(f"{stacks}: no py-spy profile was written")
    base = Path(filename).name
    lines: Counter[int] = Counter()
    for text in stacks.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = text.rpartition(" ")
        if not count.isdigit():
            continue
        for frame in reversed(stack.split(";")):
            match = _FRAME.match(frame)
            if match and match["function"] == function and Path(match["file"]).name == base:
                lines[int(match["line"])] += int(count)
                break
    total = sum(lines.values())
    if not total:
        raise BuildError(f"{stacks}: no sample inside {function}() of {filename}")
    return {line: n / total for line, n in lines.items()}, total


def operator_rows(folder: Path, epochs: int) -> list[dict]:
    """MindSpore's operator time per type, from the profiler's output under ``folder``.

    Returns rows sorted by time, each {"operator": type, "per_epoch": executions per epoch,
    "ms_per_epoch": milliseconds per epoch}, both totals divided by ``epochs``.

    Raises:
        BuildError: the profiler wrote no ``cpu_op_type_info_*.csv`` under ``folder``.
    """
    tables = sorted(folder.glob("**/cpu_op_type_info_*.csv"))
    if not tables:
        raise BuildError(f"{folder}: MindSpore's profiler wrote no cpu_op_type_info_*.csv")
    rows = []
    with open(tables[-1], newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            rows.append({"operator": row["op_type"],
                         "per_epoch": float(row["type_occurrences"]) / epochs,
                         "ms_per_epoch": float(row["total_compute_time"]) / epochs})
    return sorted(rows, key=lambda row: -row["ms_per_epoch"])


def line_table(shares: dict[int, float], source_lines: list[str], ms_per_step: float,
               minimum: float = 0.01) -> str:
    """Markdown table of :func:`line_shares`: line, its code, share, and milliseconds per step
    (``share * ms_per_step``). Lines under ``minimum`` of the samples are summed into one row."""
    rows = ["| line | code | share of samples | ms per step |", "| ---: | --- | ---: | ---: |"]
    rest = 0.0
    for line, share in sorted(shares.items(), key=lambda item: -item[1]):
        if share < minimum:
            rest += share
            continue
        code = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else "?"
        code = code.replace("|", "\\|")
        rows.append(f"| {line} | `{code}` | {100 * share:.1f}% | {share * ms_per_step:.3f} |")
    if rest:
        rows.append(f"|  | (other lines) | {100 * rest:.1f}% | {rest * ms_per_step:.3f} |")
    return "\n".join(rows)


def operator_table(rows: list[dict], s_per_epoch: float, top: int = 8) -> str:
    """Markdown table of :func:`operator_rows`: the ``top`` operator types by time, the rest
    summed, and the operators' total against ``s_per_epoch``, the profiled run's wall time."""
    total = sum(row["ms_per_epoch"] for row in rows)
    table = ["| operator | calls per epoch | ms per epoch | share of operator time |",
             "| --- | ---: | ---: | ---: |"]
    for row in rows[:top]:
        table.append(f"| {row['operator']} | {row['per_epoch']:.0f} | {row['ms_per_epoch']:.1f} | "
                     f"{100 * row['ms_per_epoch'] / total:.1f}% |")
    rest = sum(row["ms_per_epoch"] for row in rows[top:])
    if rest:
        table.append(f"| ({len(rows) - top} other types) |  | {rest:.1f} | {100 * rest / total:.1f}% |")
    table.append(f"| **all operators** |  | {total:.1f} | {100 * total / (1000 * s_per_epoch):.0f}% of the "
                 f"profiled epoch's {s_per_epoch:.2f} s |")
    return "\n".join(table)
