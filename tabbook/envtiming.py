"""Time building the framework environments, pip against uv, cold and warm, in one run.

    python -m tabbook.envtiming [--uv-only] [FRAMEWORK...]      (in the tooling environment, .venv)

For each framework, one after the other, four builds of its CPU environment, each into a new
empty ``$TABBOOK_ENVS``: pip with an empty pip cache (cold), uv with an empty uv cache (cold), then
each again with the cache its cold build filled (warm). A build is what ``build.py env`` does:
Python's ``venv``, then the lock installed (:func:`tabbook.envs.ensure_env`), without the kernel.
The caches are temporary folders (``PIP_CACHE_DIR``, ``UV_CACHE_DIR``); nothing outside them and
the temporary environments is touched. Prints a Markdown table of seconds.
"""
from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from . import envs
from .frameworks import NAMES, get

RUNS = (("pip", "cold"), ("uv", "cold"), ("pip", "warm"), ("uv", "warm"))


def build_seconds(framework: str, installer: str, caches: Path, root: Path) -> float:
    """Seconds to build ``framework``'s CPU environment with ``installer`` into the new folder
    ``root``, with pip's and uv's caches under ``caches`` (kept between calls).

    Raises:
        BuildError: the build failed (the installer's fallback is switched off: the one named runs).
    """
    saved = {key: os.environ.get(key) for key in ("TABBOOK_ENVS", "TABBOOK_INSTALLER", "PIP_CACHE_DIR",
                                                   "UV_CACHE_DIR", envs.DEVICE_VARIABLE)}
    os.environ.update(TABBOOK_ENVS=str(root), TABBOOK_INSTALLER=installer, PIP_CACHE_DIR=str(caches / "pip"),
                      UV_CACHE_DIR=str(caches / "uv"), **{envs.DEVICE_VARIABLE: "cpu"})
    try:
        start = time.perf_counter()
        envs.ensure_env(get(framework), log=lambda line: None)
        return time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def measure(frameworks=NAMES, log=print, runs=RUNS) -> dict[str, dict[tuple[str, str], float]]:
    """{framework: {(installer, "cold" | "warm"): seconds}} for every run of ``runs``."""
    results: dict[str, dict[tuple[str, str], float]] = {}
    with tempfile.TemporaryDirectory(prefix="tabbook-envtiming-") as folder:
        caches = Path(folder) / "caches"
        for framework in frameworks:
            results[framework] = {}
            for number, (installer, cache) in enumerate(runs):
                seconds = build_seconds(framework, installer, caches, Path(folder) / f"envs-{framework}-{number}")
                results[framework][(installer, cache)] = seconds
                log(f"{framework}: {installer} {cache}: {seconds:.1f} s")
    return results


def table(results: dict[str, dict[tuple[str, str], float]]) -> str:
    """The Markdown table of :func:`measure`'s results, one row per framework and a total."""
    runs = list(next(iter(results.values())))
    rows = ["| framework | " + " | ".join(f"{installer}, {cache}" for installer, cache in runs) + " |",
            "| --- |" + " ---: |" * len(runs)]
    for framework, times in results.items():
        rows.append(f"| {get(framework).title} | " + " | ".join(f"{times[run]:.1f}" for run in runs) + " |")
    totals = [sum(times[run] for times in results.values()) for run in runs]
    rows.append("| all | " + " | ".join(f"**{total:.1f}**" for total in totals) + " |")
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    runs = [run for run in RUNS if run[0] == "uv"] if "--uv-only" in argv else RUNS
    frameworks = [name for name in argv if name != "--uv-only"] or list(NAMES)
    results = measure(frameworks, runs=runs)
    print(f"\nseconds per environment build, {platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
