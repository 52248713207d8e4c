"""How many pytest workers ``build.py test`` and ``build.py affected`` start (pytest-xdist).

The suite's parts wait on other processes much of the time (a framework's kernel, Chromium, a
nested ``build.py``), and one pytest process keeps one core busy at most: with a worker per core,
pytest-xdist runs whole test files and whole notebooks side by side (``--dist loadfile``: nbval's
items of a notebook share one kernel, so a notebook never splits; the tests of a module share its
fixtures, so a book built for a module is built once). See docs/testing.md.
"""
from __future__ import annotations

import os

#: Memory one worker may hold at once, in bytes: its pytest process, one framework's kernel
#: (MindSpore's Training on MNIST, the largest, holds about 2.5 GiB) and Chromium or a nested
#: build.py.
WORKER_MEMORY = 4 * 2**30

#: pytest options after which the run's own choice of workers stands (or no worker can serve:
#: a debugger needs the terminal, output not captured, ``-s``, would be lost in a worker, a
#: collection runs nothing).
OWN_CHOICE = ("-n", "--numprocesses", "--dist", "-d", "--pdb", "--trace", "-s", "--capture",
              "--co", "--collect-only", "--collectonly")


def cpus() -> int:
    """The CPUs this process may run on (its affinity, which a container's limit narrows; else
    the machine's count); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def memory() -> int | None:
    """The machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def count(cpu_count: int | None = None, memory_bytes: int | None = None) -> int:
    """Workers for a pytest run: one per CPU, at most one per :data:`WORKER_MEMORY` of memory, at
    least 1. ``cpu_count`` and ``memory_bytes`` default to this machine's (:func:`cpus`,
    :func:`memory`)."""
    cpu_count = cpus() if cpu_count is None else cpu_count
    memory_bytes = memory() if memory_bytes is None else memory_bytes
    limit = cpu_count if memory_bytes is None else min(cpu_count, memory_bytes // WORKER_MEMORY)
    return max(1, limit)


def _option(arg: str) -> str:
    """The option an argument gives: ``--dist`` of ``--dist=load``, ``-n`` of ``-n2``."""
    if arg.startswith("--"):
        return arg.split("=", 1)[0]
    return arg[:2] if arg.startswith("-") else arg


def options(pytest_args: list[str], workers: int) -> list[str]:
    """The pytest options that spread a run over ``workers`` processes, whole files and notebooks
    per worker (``-n WORKERS --dist loadfile``); none for one worker, or where ``pytest_args``
    choose for themselves (:data:`OWN_CHOICE`, ``-p no:xdist``)."""
    chosen = any(_option(arg) in OWN_CHOICE for arg in pytest_args)
    if workers <= 1 or chosen or "no:xdist" in pytest_args or "-pno:xdist" in pytest_args:
        return []
    return ["-n", str(workers), "--dist", "loadfile"]
