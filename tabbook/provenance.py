"""The "Executed on ..." line under a stored notebook's title: what the notebook needs and when
it was last executed, e.g. ``Executed on 2026-12-03 with torch 2.13.0, Python 3.11, CPU``.

Its facts are the execution's, kept in the notebook's metadata:

* the date (UTC) and the framework's distribution and version, which the executor records in
  ``metadata.tabbook.executed`` (``{"date": "2026-12-03", "versions": {"torch": "2.13.0"}}``;
  the version is the lock's, which the execution key covers, so it is the one the execution had);
* Python's major.minor, from ``metadata.language_info.version``, which the kernel reports to
  nbclient at execution;
* the device: the ``device`` value that a chapter reports (``tabbook: report:``, in
  ``metadata.tabbook.results``), shown as ``CPU`` or ``GPU``; ``CPU`` where the chapter reports none.

The line is a generated Markdown cell (``metadata.tabbook.generated`` is :data:`EXECUTED_ID`)
right after the title cell. The converter does not make it and the code fingerprint leaves it out
(:func:`tabbook.convert.converter_cells`), so writing it executes nothing and changes neither an
execution key nor a mutation key. ``build.py execute`` writes it after an execution, and brings
it up to date on a notebook whose key is current (for a notebook executed before the date was
recorded, the date is that of the commit that brought its execution key: :func:`committed_date`).
``build.py check`` reports a line that is missing or says other than the metadata.
"""
from __future__ import annotations

import copy
import datetime
import re
import subprocess
from pathlib import Path

import nbformat

from .frameworks import ROOT, get
from .source import cell_id

#: ``metadata.tabbook.generated`` of the line's cell.
EXECUTED_ID = "executed"
#: The distribution that is each framework (the lock's name, PEP 503 form).
DISTRIBUTIONS = {"mxnet": "mxnet", "pytorch": "torch", "tensorflow": "tensorflow-cpu", "mindspore": "mindspore"}
#: What :func:`problem` says of a notebook that records no date of execution.
NO_DATE = "records no date of execution"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def record(notebook: nbformat.NotebookNode, framework: str, date: str) -> None:
    """Record in ``notebook`` (in place) that it was executed on ``date`` (``YYYY-MM-DD``) with the
    framework's version of its lock: ``metadata.tabbook.executed``.

    Raises:
        BuildError: the lock cannot be read (:func:`tabbook.standalone.lock_pins`);
        KeyError: the lock does not pin the framework.
    """
    from .standalone import lock_pins  # standalone imports the converter's modules

    distribution = DISTRIBUTIONS[framework]
    version = lock_pins(get(framework))[distribution]
    notebook.metadata["tabbook"]["executed"] = {"date": date, "versions": {distribution: version}}


def today() -> str:
    """Today's date in UTC, ``YYYY-MM-DD``."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def line(notebook: nbformat.NotebookNode) -> str | None:
    """The line that the notebook's metadata gives (see the module's docstring), or None where
    the metadata lacks the date or Python's version (a notebook executed before they were recorded)."""
    meta = notebook.metadata.get("tabbook", {})
    executed = meta.get("executed")
    python = notebook.metadata.get("language_info", {}).get("version")
    if not isinstance(executed, dict) or not isinstance(python, str) or not _well_formed(executed):
        return None
    versions = ", ".join(f"{name} {version}" for name, version in executed["versions"].items())
    major_minor = ".".join(python.split(".")[:2])
    device = device_label((meta.get("results") or {}).get("device"))
    return f"Executed on {executed['date']} with {versions}, Python {major_minor}, {device}"


def shape_problem(executed) -> str | None:
    """What is wrong with a notebook's ``metadata.tabbook.executed``, or None: it must be a
    mapping with a ``date`` (``YYYY-MM-DD``) and ``versions``, a mapping of texts."""
    if not isinstance(executed, dict):
        return "is not a mapping"
    if not _well_formed(executed):
        return 'is not {"date": "YYYY-MM-DD", "versions": {distribution: version}}'
    return None


def _well_formed(executed: dict) -> bool:
    date, versions = executed.get("date"), executed.get("versions")
    return (isinstance(date, str) and bool(_DATE.fullmatch(date)) and isinstance(versions, dict) and bool(versions)
            and all(isinstance(key, str) and isinstance(value, str) for key, value in versions.items()))


def device_label(device) -> str:
    """``CPU`` or ``GPU`` for a device that a chapter reports (``cpu``, ``cpu(0)``, ``/CPU:0``,
    ``cuda:0``, ``gpu(0)``, ``/GPU:0``); ``CPU`` for none (None); any other text as it is."""
    if device is None:
        return "CPU"
    text = str(device)
    if "cpu" in text.lower():
        return "CPU"
    if re.search(r"gpu|cuda", text, re.IGNORECASE):
        return "GPU"
    return text


def is_line_cell(cell) -> bool:
    """Whether ``cell`` is the generated "Executed on" cell."""
    return cell.get("metadata", {}).get("tabbook", {}).get("generated") == EXECUTED_ID


def shown_line(notebook: nbformat.NotebookNode) -> str | None:
    """The text of the notebook's "Executed on" cell, or None where it has none."""
    cell = next((cell for cell in notebook.cells if is_line_cell(cell)), None)
    return cell.source if cell is not None else None


def with_line(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose "Executed on" cell says :func:`line`, right after the title
    cell (the first cell the converter made from the chapter); ``notebook`` itself where its
    metadata gives no line, or its cell already says it."""
    text = line(notebook)
    if text is None or shown_line(notebook) == text:
        return notebook
    updated = copy.deepcopy(notebook)
    updated.cells = [cell for cell in updated.cells if not is_line_cell(cell)]
    title = next((index for index, cell in enumerate(updated.cells)
                  if not cell.metadata.get("tabbook", {}).get("generated")), len(updated.cells) - 1)
    cell = nbformat.v4.new_markdown_cell(text, metadata={"tabbook": {"generated": EXECUTED_ID}})
    cell["id"] = cell_id(updated.metadata.get("tabbook", {}).get("chapter", "notebook"), EXECUTED_ID)
    updated.cells.insert(title + 1, cell)
    return updated


def problem(notebook: nbformat.NotebookNode, framework: str) -> str | None:
    """What is wrong with the "Executed on" line of a stored notebook whose execution key is
    current, or None: no date recorded, a version other than the lock's, no line, or a line
    that says other than the metadata. The answer is a clause for a message (no file, no fix)."""
    from .standalone import lock_pins

    executed = notebook.metadata.get("tabbook", {}).get("executed")
    if executed is None:
        return NO_DATE
    distribution = DISTRIBUTIONS[framework]
    pinned = lock_pins(get(framework)).get(distribution)
    recorded = executed.get("versions", {}).get(distribution) if isinstance(executed, dict) else None
    if recorded != pinned:
        return f"records {distribution} {recorded} where its lock pins {pinned}"
    expected, shown = line(notebook), shown_line(notebook)
    if expected is None:
        return "has no Python version in its metadata (language_info.version)"
    if shown is None:
        return f"has no line \"{expected}\" under its title"
    if shown != expected:
        return f"says \"{shown}\" under its title where its metadata gives \"{expected}\""
    return None


def committed_date(path: Path, key: str) -> str | None:
    """The date (``YYYY-MM-DD``) of the first commit of this checkout in which the notebook at
    ``path`` holds the execution ``key``: when it was executed, for a notebook executed before the
    executor recorded the date. None where git does not know it (no checkout, never committed)."""
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return None
    try:
        found = subprocess.run(["git", "-C", str(ROOT), "log", "--reverse", "--format=%cs", f"-S{key}", "--",
                                relative.as_posix()], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    dates = found.stdout.split() if found.returncode == 0 else []
    return dates[0] if dates and _DATE.fullmatch(dates[0]) else None
