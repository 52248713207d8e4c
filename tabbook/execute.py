"""Execute framework notebooks with nbclient, cached by content, written atomically.

A notebook is executed in its framework's kernel (``tabbook-<framework>``), with the notebook's
folder as working directory. Its *execution key* is the sha256 of what determines its outputs:
the cells (:func:`tabbook.convert.code_fingerprint`), the framework's lock file, and the helper
modules the notebooks import (``tabbook/data.py``, ``tabbook/record.py``). The key is stored in
the executed notebook's metadata; a notebook whose key is unchanged is not executed again.

On failure (a cell raises, the kernel dies, a cell runs past its timeout) the previous notebook
under ``tabs/`` is left as it was and the result says which cell of which source line failed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from . import convert, envs, scrub, standalone
from .errors import BuildError
from .frameworks import ROOT, get
from .record import recorded

#: Helper modules whose source is part of every execution key: the notebooks carry them.
NOTEBOOK_HELPERS = tuple(standalone.HELPERS.values())
DEFAULT_TIMEOUT = 600  # seconds per cell
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass
class Result:
    """The outcome of one chapter in one framework.

    ``status`` is "executed", "cached" (unchanged since its last execution), "failed" or
    "omitted"; ``seconds`` is the wall time of the execution (0 for cached); ``records`` holds
    the values the notebook recorded (e.g. ``test_accuracy``); ``error`` the report of a failure.
    """

    chapter: str
    framework: str
    status: str
    seconds: float = 0.0
    records: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str = ""


def execution_key(notebook: nbformat.NotebookNode, framework: str) -> str:
    """sha256 (hex) of the cells, the framework's lock and the notebook helper modules."""
    digest = hashlib.sha256(convert.code_fingerprint(notebook).encode())
    digest.update(get(framework).requirements.read_bytes())
    for helper in NOTEBOOK_HELPERS:
        digest.update(helper.read_bytes())
    return digest.hexdigest()


def read_stored(path: Path) -> nbformat.NotebookNode | None:
    """The notebook at ``path``, or None if there is none or it cannot be read."""
    if not path.exists():
        return None
    try:
        return nbformat.read(path, as_version=4)
    except Exception:  # an unreadable notebook is as good as none: execute again
        return None


def execute(notebook: nbformat.NotebookNode, path: Path, *, timeout: int = DEFAULT_TIMEOUT,
            force: bool = False) -> Result:
    """Execute ``notebook`` (as made by :func:`tabbook.convert.to_notebook`) and write it to ``path``.

    Skips execution when the notebook at ``path`` has the same execution key, unless ``force``.
    Never raises for a failing notebook: the Result says what failed; ``path`` is then untouched.
    """
    meta = notebook.metadata["tabbook"]
    chapter, framework = meta["chapter"], meta["framework"]
    key = execution_key(notebook, framework)
    stored = None if force else read_stored(path)
    if stored is not None and stored.metadata.get("tabbook", {}).get("execution_key") == key:
        return Result(chapter, framework, "cached", records=recorded(stored))
    try:
        envs.check_env(get(framework))
    except BuildError as error:
        return Result(chapter, framework, "failed", error=str(error))
    running: list[int] = []  # the index of the cell being executed, set by nbclient's hook

    def on_cell_start(cell, cell_index):
        running[:] = [cell_index]

    client = NotebookClient(notebook, timeout=timeout, kernel_name=get(framework).kernel_name,
                            resources={"metadata": {"path": str(path.parent)}}, record_timing=False,
                            on_cell_start=on_cell_start)
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError:
        return _failure(notebook, running, start, "raised an exception")
    except CellTimeoutError:
        return _failure(notebook, running, start,
                        f"ran longer than its timeout of {timeout} s (raise it with --timeout)")
    except DeadKernelError as error:
        return _failure(notebook, running, start, f"killed the kernel ({error})")
    seconds = time.perf_counter() - start
    notebook.metadata["tabbook"]["execution_key"] = key
    scrub.scrub_notebook(notebook)  # published outputs: merged streams, no paths of this machine
    convert.write_notebook(notebook, path)
    return Result(chapter, framework, "executed", seconds, recorded(notebook))


def _failure(notebook, running: list[int], start: float, what: str) -> Result:
    """The Result of a failed execution: which cell of which source line, with its traceback."""
    meta = notebook.metadata["tabbook"]
    report = f"{meta['framework']}: {meta['chapter']}: "
    if running:
        cell = notebook.cells[running[0]]
        line = cell.metadata.get("tabbook", {}).get("line")
        report += f"cell {running[0] + 1} (source {meta['source']}:{line}) {what}" + _traceback(cell)
    else:
        report += f"the kernel failed before the first cell: {what}"
    return Result(meta["chapter"], meta["framework"], "failed", time.perf_counter() - start, error=report)


def strip_ansi(text: str) -> str:
    """``text`` without the ANSI colour codes that IPython puts in tracebacks."""
    return _ANSI.sub("", text)


def _traceback(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return "\n" + strip_ansi("\n".join(output.get("traceback", [])))
    return ""
