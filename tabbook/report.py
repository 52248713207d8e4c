"""The results a notebook reports to the build, without a cell that the reader sees.

A chapter names its results in its front matter, as Python expressions over the notebook's
variables::

    tabbook:
      report:
        test_accuracy: "test_accuracy"
        device: "str(device)"

:mod:`tabbook.execute` appends one cell (:func:`append_cell`) to the notebook it executes, runs
it after the chapter's last cell, reads the values it printed and removes it again
(:func:`take_values`) before the notebook is written, so the stored notebook holds no cell of the
book's machinery. The values go to the notebook's metadata (``metadata.dlblocks.results``), where
the summary table (``build.py``'s main job) and a cached run read them (:func:`results`).
"""
from __future__ import annotations

import json
import math
from typing import Any

import nbformat

from .errors import BuildError

#: The ``metadata.dlblocks.generated`` mark of the appended cell.
GENERATED = "report"
#: The line the appended cell prints before the values' JSON, so nothing else can be mistaken for it.
_MARK = "tabbook-report:"


def append_cell(notebook: nbformat.NotebookNode) -> bool:
    """Append the cell that prints the notebook's report (``metadata.dlblocks.report``: name ->
    expression) as one JSON line: numbers as floats, texts as texts. Return whether there was one
    to append."""
    report = notebook.metadata.get("dlblocks", {}).get("report") or {}
    if not report:
        return False
    # Each expression on lines of its own, so that a comment in it cannot swallow what follows.
    entries = "".join(f"    {json.dumps(name)}: (\n{expression}\n    ),\n" for name, expression in report.items())
    code = ("import json as _tabbook_json\n"
            f"print({_MARK!r} + _tabbook_json.dumps({{_name: _value if isinstance(_value, str) else float(_value)\n"
            "    for _name, _value in {\n" + entries + "}.items()}))\n")
    cell = nbformat.v4.new_code_cell(code, metadata={"dlblocks": {"generated": GENERATED}})
    cell["id"] = "tabbook-report"
    notebook.cells.append(cell)
    return True


def is_report_cell(cell: Any) -> bool:
    """Whether ``cell`` is the cell :func:`append_cell` appended."""
    return cell.get("metadata", {}).get("dlblocks", {}).get("generated") == GENERATED


def take_values(notebook: nbformat.NotebookNode) -> dict[str, float | str]:
    """Remove the executed report cell from the end of ``notebook`` and return what it printed;
    the values also go to ``metadata.dlblocks.results``. An empty dict where there is no such cell.

    Raises:
        BuildError: the cell printed no report line, or a number that is not finite.
    """
    if not notebook.cells or not is_report_cell(notebook.cells[-1]):
        return {}
    cell = notebook.cells.pop()
    text = "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")
    lines = [line for line in text.splitlines() if line.startswith(_MARK)]
    meta = notebook.metadata["dlblocks"]
    if len(lines) != 1:
        raise BuildError(f"{meta['source']}: the front matter's tabbook.report printed no result; "
                         f"its expressions must not print")
    values = json.loads(lines[0][len(_MARK):])
    for name, value in values.items():
        if not isinstance(value, str) and not math.isfinite(value):
            raise BuildError(f"{meta['source']}: the result {name!r} of the front matter's tabbook.report is "
                             f"{value}, not a finite number")
    meta["results"] = values
    return values


def results(notebook: Any) -> dict[str, float | str]:
    """The results an executed notebook (an nbformat node) reported: ``metadata.dlblocks.results``
    (numbers as floats, texts as they are)."""
    stored = notebook.get("metadata", {}).get("dlblocks", {}).get("results") or {}
    return {name: value if isinstance(value, str) else float(value) for name, value in stored.items()}
