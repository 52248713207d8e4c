"""The "Executed on ..." line under a stored notebook's title: what the notebook needs and when
it was last executed, e.g. ``Executed on 2026-12-03 with torch 2.13.0, Python 3.11, CPU``.

Its facts are the execution's, kept in the notebook's metadata:

* the date (UTC) and the framework's distribution and version, which the executor records in
  ``metadata.dlblocks.executed`` (``{"date": "2026-12-03", "versions": {"torch": "2.13.0"}}``;
  the version is the lock's, which the execution key covers, so it is the one the execution had);
* Python's major.minor, from ``metadata.language_info.version``, which the kernel reports to
  nbclient at execution;
* the device: the ``device`` value that a chapter reports (``tabbook: report:``, in
  ``metadata.dlblocks.results``), shown as ``CPU`` or ``GPU``; ``CPU`` where the chapter reports none.

The metadata gives no line (:func:`line` is None) unless the date is a real date not after today,
the versions name one framework's distribution (:data:`DISTRIBUTIONS`) and nothing else, and the
device is one of the known forms (:func:`device_label`); ``check`` reports each of these.

The line is a generated Markdown cell (``metadata.dlblocks.generated`` is :data:`EXECUTED_ID`)
right after the title cell (:func:`title_index`). That one cell, and only it, may carry the marker
(:func:`marker_problem`): the code fingerprint leaves marked cells out, so any other marked cell (a
code cell that nbval would run, a second line, a line elsewhere or with other text) makes
``check`` fail and the book refuse the notebook (:func:`tabbook.stored.read_matching`), so that
neither ships it in a download. The converter does not make it and the code fingerprint leaves it out
(:func:`tabbook.convert.converter_cells`), so writing it executes nothing and changes neither an
execution key nor a mutation key. ``build.py execute`` writes it after an execution, and brings
it up to date on a notebook whose key is current (for a notebook executed before the date was
recorded, the date is that of the commit that brought its execution key: :func:`committed_date`).
``build.py check`` reports a line that is missing or says other than the metadata, and any other
cell that carries the marker.
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

#: ``metadata.dlblocks.generated`` of the line's cell.
EXECUTED_ID = "executed"
#: The distribution that is each framework (the lock's name, PEP 503 form).
DISTRIBUTIONS = {"mxnet": "mxnet", "pytorch": "torch", "tensorflow": "tensorflow-cpu", "mindspore": "mindspore"}
#: What :func:`problem` says of a notebook that records no date of execution.
NO_DATE = "records no date of execution"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DEVICE = re.compile(r"(?:/job:localhost/replica:\d+/task:\d+/device:|/device:|/)?(cpu|gpu|cuda)(?::\d+|\(\d+\))?",
                     re.IGNORECASE)


def record(notebook: nbformat.NotebookNode, framework: str, date: str) -> None:
    """Record in ``notebook`` (in place) that it was executed on ``date`` (``YYYY-MM-DD``) with the
    framework's version of its lock: ``metadata.dlblocks.executed``.

    Raises:
        BuildError: the lock cannot be read (:func:`tabbook.standalone.lock_pins`);
        KeyError: the lock does not pin the framework.
    """
    from .standalone import lock_pins  # standalone imports the converter's modules

    distribution = DISTRIBUTIONS[framework]
    version = lock_pins(get(framework))[distribution]
    notebook.metadata["dlblocks"]["executed"] = {"date": date, "versions": {distribution: version}}


def today() -> str:
    """Today's date in UTC, ``YYYY-MM-DD``."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def line(notebook: nbformat.NotebookNode) -> str | None:
    """The line that the notebook's metadata gives (see the module's docstring), or None where
    the metadata lacks the date or Python's version (a notebook executed before they were
    recorded), or where :func:`metadata_problem` finds it false."""
    meta = notebook.metadata.get("dlblocks", {})
    executed = meta.get("executed")
    python = notebook.metadata.get("language_info", {}).get("version")
    if not isinstance(executed, dict) or not isinstance(python, str) or metadata_problem(notebook):
        return None
    versions = ", ".join(f"{name} {version}" for name, version in executed["versions"].items())
    major_minor = ".".join(python.split(".")[:2])
    device = device_label((meta.get("results") or {}).get("device"))
    return f"Executed on {executed['date']} with {versions}, Python {major_minor}, {device}"


def metadata_problem(notebook: nbformat.NotebookNode) -> str | None:
    """What makes the notebook's record of its execution false, or None (also where it records
    none): a ``date`` that is no real date (``datetime.date.fromisoformat``) or is after today
    (UTC), ``versions`` other than exactly one framework's distribution (:data:`DISTRIBUTIONS`),
    or a ``device`` result that :func:`device_label` does not know. A clause for a message."""
    meta = notebook.metadata.get("dlblocks", {})
    executed = meta.get("executed") if isinstance(meta, dict) else None
    if executed is None:
        return None
    if not isinstance(executed, dict) or not _well_formed(executed):
        return f'records its execution as {_short(executed)}, not {{"date": "YYYY-MM-DD", "versions": {{...}}}}'
    try:
        date = datetime.date.fromisoformat(executed["date"])
    except ValueError:
        return f"records the date {executed['date']!r}, which is no date"
    if date > datetime.datetime.now(datetime.timezone.utc).date():
        return f"records the date {executed['date']}, which is after today"
    names = sorted(executed["versions"])
    if len(names) != 1 or names[0] not in DISTRIBUTIONS.values():
        return (f"records the versions of {', '.join(_short(name) for name in names)}, where it must record only "
                f"its framework's distribution (one of {', '.join(sorted(DISTRIBUTIONS.values()))})")
    results = meta.get("results")
    device = results.get("device") if isinstance(results, dict) else None
    if device_label(device) is None:
        return f"reports the device {_short(device)}, which is not a CPU or GPU device that the book knows"
    return None


def _short(value) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def shape_problem(executed) -> str | None:
    """What is wrong with a notebook's ``metadata.dlblocks.executed``, or None: it must be a
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


def device_label(device) -> str | None:
    """``CPU`` or ``GPU`` for a device that a chapter reports in one of the frameworks' forms
    (``cpu``, ``CPU``, ``cpu(0)``, ``/CPU:0``, ``/device:CPU:0``,
    ``/job:localhost/replica:0/task:0/device:CPU:0``, ``cuda``, ``cuda:0``, ``gpu(0)``, ``/GPU:0``,
    ...); ``CPU`` for none (None); None for anything else (not a text, another device, other text)."""
    if device is None:
        return "CPU"
    found = _DEVICE.fullmatch(device) if isinstance(device, str) else None
    if found is None:
        return None
    return "CPU" if found.group(1).lower() == "cpu" else "GPU"


def is_line_cell(cell) -> bool:
    """Whether ``cell`` is the generated "Executed on" cell."""
    return cell.get("metadata", {}).get("dlblocks", {}).get("generated") == EXECUTED_ID


def title_index(notebook: nbformat.NotebookNode) -> int:
    """The index of the title cell: the cell made from the chapter's title cell (its chapter
    index is ``metadata.dlblocks.title_cell``, :attr:`tabbook.source.Chapter.title_cell`); where
    the notebook records none, or no cell has that index, the first cell the converter made from
    the chapter; the last cell where there is none."""
    chapter_cells = [index for index, cell in enumerate(notebook.cells)
                     if not cell.get("metadata", {}).get("dlblocks", {}).get("generated")]
    wanted = notebook.get("metadata", {}).get("dlblocks", {}).get("title_cell")
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        found = next((index for index in chapter_cells
                      if notebook.cells[index].get("metadata", {}).get("dlblocks", {}).get("cell") == wanted), None)
        if found is not None:
            return found
    return chapter_cells[0] if chapter_cells else len(notebook.cells) - 1


def marked_indices(notebook: nbformat.NotebookNode) -> list[int]:
    """The indices of the cells that carry the line's marker (:func:`is_line_cell`)."""
    return [index for index, cell in enumerate(notebook.cells) if is_line_cell(cell)]


def placement_problem(notebook: nbformat.NotebookNode) -> str | None:
    """What is wrong with the kind or place of the cells that carry the line's marker, or None:
    only one may, a Markdown cell right after the title cell (:func:`title_index`). The answer
    names the first wrong cell (1-based) and is a clause for a message ("the notebook ...")."""
    place = title_index(notebook) + 1
    for index in marked_indices(notebook):
        cell = notebook.cells[index]
        if cell.cell_type != "markdown":
            return (f'has a {cell.cell_type} cell (cell {index + 1}) marked as its "Executed on" line, which '
                    "only a Markdown cell may be (the checks leave marked cells out, and nbval would run it)")
        if index != place:
            return f'has an "Executed on" cell (cell {index + 1}) that is not right after its title (cell {place})'
    return None


def marker_problem(notebook: nbformat.NotebookNode) -> str | None:
    """What is wrong with the cells that carry the line's marker, or None: only one may, a
    Markdown cell right after the title cell (:func:`title_index`) whose text is exactly
    :func:`line`. The answer names the first wrong cell (1-based) and is a clause for a message
    ("the notebook ..."); None where no cell carries the marker (:func:`problem` reports that)."""
    placed = placement_problem(notebook)
    if placed:
        return placed
    expected = line(notebook)
    for index in marked_indices(notebook):
        cell = notebook.cells[index]
        if expected is None:
            why = metadata_problem(notebook) or "has no record of its execution (or of Python's version) to give it"
            return f'has an "Executed on" cell (cell {index + 1}) that its metadata cannot give: the notebook {why}'
        if cell.source != expected:
            return (f'says {_short(cell.source)} in its "Executed on" cell (cell {index + 1}) where its metadata '
                    f'gives "{expected}"')
    return None


def shown_line(notebook: nbformat.NotebookNode) -> str | None:
    """The text of the notebook's "Executed on" cell, or None where it has none."""
    cell = next((cell for cell in notebook.cells if is_line_cell(cell)), None)
    return cell.source if cell is not None else None


def with_line(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose "Executed on" cell says :func:`line`, right after the title
    cell (the first cell the converter made from the chapter); ``notebook`` itself where its
    metadata gives no line, or its cell already says it, and no other cell carries the marker.
    Every cell that carries the marker where it may not (:func:`placement_problem`) is dropped,
    also where the metadata gives no line."""
    text, misplaced = line(notebook), placement_problem(notebook) is not None
    if (text is None or shown_line(notebook) == text) and not misplaced:
        return notebook
    updated = copy.deepcopy(notebook)
    updated.cells = [cell for cell in updated.cells if not is_line_cell(cell)]  # any other marked cell too
    if text is None:
        return updated
    title = title_index(updated)
    cell = nbformat.v4.new_markdown_cell(text, metadata={"dlblocks": {"generated": EXECUTED_ID}})
    cell["id"] = cell_id(updated.metadata.get("dlblocks", {}).get("chapter", "notebook"), EXECUTED_ID)
    updated.cells.insert(title + 1, cell)
    return updated


def problem(notebook: nbformat.NotebookNode, framework: str) -> str | None:
    """What is wrong with the "Executed on" line of a stored notebook whose execution key is
    current, or None: a cell marked as the line that may not be (:func:`placement_problem`), no
    date recorded, a record that is false (:func:`metadata_problem`), a version other than the
    lock's, no line, or a line that says other than the metadata. The answer is a clause for a
    message (no file, no fix)."""
    from .standalone import lock_pins

    placed = placement_problem(notebook)
    if placed:
        return placed
    executed = notebook.metadata.get("dlblocks", {}).get("executed")
    if executed is None:
        return NO_DATE
    false = metadata_problem(notebook)
    if false:
        return false
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
