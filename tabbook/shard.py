"""Splitting the test suite across CI machines: ``build.py test --shard K/N``.

Shard K of N runs a deterministic share of the notebooks, whole notebooks, balanced by the
execution time each notebook recorded when it was last executed (``metadata.dlblocks.seconds``,
written by :mod:`tabbook.execute`): every test that belongs to one notebook (nbval over it, its
mutation tests, its standalone run) runs in that notebook's shard, and the tests that belong to
no notebook (the unit and browser tests) run in shard 1, which the balancing counts as
:data:`UNIT_SECONDS` of work. The assignment is the longest-processing-time rule: notebooks in
decreasing order of time (ties by name), each to the shard with the least work so far (ties to
the lowest number), so the N shards partition the notebooks, and the same notebooks and times
give the same shards on every machine.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

#: Seconds of work counted for shard 1's tests that belong to no notebook (measured on the idle
#: 2-core machine, one pytest process, 2026-12-04: 1,292 s in all, less 367 s of nbval and 41 s of
#: mutation runs; docs/testing.md). The notebooks' recorded execution times were mostly taken
#: under load and are larger than their nbval time on an idle machine.
UNIT_SECONDS = 880.0
#: Seconds counted for a notebook that recorded no execution time (executed before it was recorded).
UNKNOWN_SECONDS = 60.0
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

Key = tuple[str, str]  # (chapter, framework)


def parse(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N), 1 <= K <= N.

    Raises:
        ValueError: with a message saying what a shard looks like.
    """
    match = _SHARD.match(text or "")
    if not match:
        raise ValueError(f"--shard {text!r}: write K/N, for example 1/3 (shard 1 of 3)")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def assign(seconds: dict[Key, float], n: int, preload: float = UNIT_SECONDS) -> dict[Key, int]:
    """The shard (1..n) of each notebook, from its execution time in seconds; shard 1 starts with
    ``preload`` seconds of other tests."""
    load = [0.0] * n
    load[0] = preload
    shards: dict[Key, int] = {}
    for key in sorted(seconds, key=lambda key: (-seconds[key], key)):
        shard = min(range(n), key=lambda index: (load[index], index))
        shards[key] = shard + 1
        load[shard] += seconds[key]
    return shards


def recorded_seconds(tabs: Path) -> dict[Key, float]:
    """Each notebook under ``tabs`` (``<framework>/<chapter>.ipynb``) with its recorded execution
    time, or :data:`UNKNOWN_SECONDS` where it has none or cannot be read."""
    found: dict[Key, float] = {}
    for path in sorted(tabs.glob("*/*.ipynb")):
        try:
            seconds = float(json.loads(path.read_text(encoding="utf-8"))["metadata"]["dlblocks"]["seconds"])
        except (OSError, ValueError, KeyError, TypeError, RecursionError):  # damaged: stored.read says how
            seconds = UNKNOWN_SECONDS
        found[(path.stem, path.parent.name)] = seconds
    return found
