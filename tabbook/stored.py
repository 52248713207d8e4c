"""Read the executed notebooks under tabs/ for ``check`` and ``html``.

A notebook there can be damaged (truncated by a full disk, emptied, left with git's conflict
markers by a merge, nested too deeply to parse, or valid JSON and a valid notebook whose
``metadata.dlblocks``, cell metadata or outputs do not have the shapes the build reads) or stale
(its chapter gained, lost, edited or retagged cells since it was executed). Either is a
:class:`BuildError` that names the file, the place where there is one, and how to recover, never
a traceback from the JSON reader or a page built from misaligned cells.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from pathlib import Path

import nbformat

from . import convert, provenance, sanitize
from .errors import BuildError, display_path
from .source import Chapter

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


def recovery(path: Path, chapter_name: str, framework: str) -> str:
    """How to get a good notebook back at ``path``: the committed one, or a new execution."""
    return (f"restore the committed one with `git checkout -- {display_path(path)}`, or execute it again "
            f"with `python build.py execute {chapter_name} -f {framework} --force`")


class DamagedNotebook(BuildError):
    """A stored notebook that cannot be used; ``what`` says why (without the file or the fix)."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


def read(path: Path, chapter_name: str, framework: str) -> nbformat.NotebookNode:
    """The notebook at ``path`` (version 4), validated against the notebook format and the shapes
    the build reads (:func:`shape_problem`).

    Raises:
        DamagedNotebook: (a BuildError) the file cannot be read, is empty, holds git conflict
            markers, is not JSON (with the line of the first error), is nested too deeply to
            parse, is not a valid notebook, or has metadata or outputs of the wrong shape; the
            message says how to recover (:func:`recovery`).
    """
    where = display_path(path)
    fix = recovery(path, chapter_name, framework)

    def damaged(what: str, line: int | None = None) -> DamagedNotebook:
        return DamagedNotebook(f"{where}{f':{line}' if line else ''}: {what}; {fix}", what)

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise damaged(f"cannot read this notebook ({reason})") from None
    if not text.strip():
        raise damaged("the notebook is empty")
    marker = _CONFLICT.search(text)
    if marker:
        line = text.count("\n", 0, marker.start()) + 1
        what = f"the notebook holds git conflict markers ({marker.group(1)}), left by a merge"
        raise DamagedNotebook(f"{where}:{line}: {what}; take one side with `git checkout --ours -- {where}` (or "
                              f"--theirs) and check it, or execute it again with `python build.py execute "
                              f"{chapter_name} -f {framework} --force`", what)
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise damaged(f"the notebook is not valid JSON ({error.msg}; truncated?)", error.lineno) from None
    except RecursionError:
        raise damaged("not a valid notebook (its JSON is nested too deeply to read)") from None
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except (nbformat.ValidationError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        if isinstance(error, RecursionError):
            message = "nested too deeply to validate"
        else:
            message = getattr(error, "message", None) or str(error) or type(error).__name__
        raise damaged(f"not a valid notebook ({message.splitlines()[0]})") from None
    problem = shape_problem(notebook)
    if problem:
        raise damaged(f"not a valid notebook ({problem})")
    return notebook


#: Image types whose output data is base64 (an SVG is text).
BASE64_IMAGES = ("image/png", "image/jpeg", "image/gif")
_TEXT_FIELDS = ("chapter", "title", "framework", "kernel", "source", "execution_key")


def shape_problem(notebook: nbformat.NotebookNode) -> str | None:
    """What is wrong with the parts of a valid notebook that the build reads and the notebook
    format leaves open, or None: ``metadata.dlblocks`` (a mapping of texts, ``seconds`` a finite
    number, ``results`` texts or finite numbers), each cell's ``metadata.dlblocks`` (a mapping; ``cell`` a number from 0, ``line`` a
    number from 1) and each output (:func:`output_problem`). The answer names the cell (1-based).
    """
    meta = notebook.metadata.get("dlblocks", {})
    if not isinstance(meta, dict):
        return f"metadata.dlblocks is {_shown(meta)}, not a mapping"
    for key in _TEXT_FIELDS:
        if key in meta and not isinstance(meta[key], str):
            return f"metadata.dlblocks.{key} is {_shown(meta[key])}, not a text"
    if "seconds" in meta and not _finite(meta["seconds"]):
        return f"metadata.dlblocks.seconds is {_shown(meta['seconds'])}, not a number of seconds"
    if "executed" in meta and provenance.shape_problem(meta["executed"]):
        return f"metadata.dlblocks.executed {provenance.shape_problem(meta['executed'])}"
    results = meta.get("results", {})
    if not isinstance(results, dict):
        return f"metadata.dlblocks.results is {_shown(results)}, not a mapping"
    for name, value in results.items():
        if not isinstance(value, str) and not _finite(value):
            return f"metadata.dlblocks.results[{name!r}] is {_shown(value)}, not a text or a finite number"
    for number, cell in enumerate(notebook.cells, 1):
        cell_meta = cell.metadata.get("dlblocks", {})
        if not isinstance(cell_meta, dict):
            return f"cell {number}: metadata.dlblocks is {_shown(cell_meta)}, not a mapping"
        for key, least in (("cell", 0), ("line", 1)):
            value = cell_meta.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
                return f"cell {number}: metadata.dlblocks.{key} is {_shown(value)}, not a whole number from {least}"
        for index, output in enumerate(cell.get("outputs", []), 1):
            problem = output_problem(output)
            if problem:
                return f"cell {number}, output {index}: {problem}"
    return None


def output_problem(output) -> str | None:
    """What is wrong with one output (of a valid notebook) that the book would show or the build
    read, or None: an image's data must decode (base64 for PNG, JPEG and GIF, well-formed XML
    for SVG), its metadata
    (``metadata["image/png"]``) must be a mapping whose ``width`` and ``height`` are positive
    finite numbers of pixels, and a recorded value (:mod:`tabbook.record`) must have its tag
    as a mapping and, unless a text, a number as its ``text/plain``.
    """
    data = output.get("data", {})
    metadata = output.get("metadata", {})
    for kind in data:
        if not kind.startswith("image/"):
            continue
        value = _joined(data[kind])
        if value is None:
            return f"its {kind} data is {_shown(data[kind])}, not a text"
        if kind in BASE64_IMAGES:
            try:
                base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                return f"its {kind} data is not valid base64"
        elif kind == "image/svg+xml":
            try:
                sanitize.svg(value)
            except ValueError:
                return f"its {kind} data is not well-formed SVG"
        shape = metadata.get(kind, {})
        if not isinstance(shape, dict):
            return f"its metadata[{kind!r}] is {_shown(shape)}, not a mapping"
        for key in ("width", "height"):
            if key in shape and not (_finite(shape[key]) and 0 < shape[key] <= 1e6):
                return f"its {kind} {key} is {_shown(shape[key])}, not a number of pixels (above 0, at most 1e6)"
    tag = metadata.get("dlblocks", {})
    if not isinstance(tag, dict):
        return f"its metadata.dlblocks is {_shown(tag)}, not a mapping"
    if tag.get("record") is not None:
        if not isinstance(tag["record"], str):
            return f"its recorded name is {_shown(tag['record'])}, not a text"
        text = _joined(data.get("text/plain"))
        if text is None:
            return f"the value recorded as {tag['record']!r} has no text/plain"
        if tag.get("type") != "text":
            try:
                float(text)
            except ValueError:
                return f"the value recorded as {tag['record']!r} is {_shown(text)}, not a number"
    return None


def _joined(value) -> str | None:
    """A text of the notebook format (a string or a list of strings) as one string, else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "".join(value)
    return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value) -> str:
    """``value`` as JSON, cut to 40 characters: for a message."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_matching(chapter: Chapter, framework: str, path: Path) -> nbformat.NotebookNode:
    """The executed notebook of ``chapter`` for ``framework`` at ``path``, checked to hold
    exactly the chapter's cells as the source now has them (:func:`check_matches`), and no cell
    marked as its "Executed on" line but the true one (:func:`tabbook.provenance.marker_problem`),
    so that the book never ships, in a download or a zip, a cell that the checks left out.

    Raises:
        BuildError: the notebook is missing, damaged (:func:`read`) or stale, or a marked cell is
            not its true "Executed on" line.
    """
    if not path.exists():
        raise BuildError(f"{display_path(path)} is missing; build it first with: "
                         f"python build.py execute {chapter.name}")
    notebook = read(path, chapter.name, framework)
    check_matches(chapter, framework, notebook, path)
    wrong = provenance.marker_problem(notebook)
    if wrong:  # the checks leave a marked cell out: such a notebook must not reach a download
        raise BuildError(f"{display_path(path)}: its \"Executed on\" line is not true: the notebook {wrong}; "
                         f"run python build.py check, which says how to fix it")
    return notebook


def check_matches(chapter: Chapter, framework: str, notebook: nbformat.NotebookNode, path: Path) -> None:
    """Check that ``notebook`` holds the cells that ``chapter`` gives ``framework`` now: the same
    chapter cells, in order, with the same kind, source and tags (the generated setup cells and
    the outputs aside), so that a page merged from it puts every cell in its place.

    Raises:
        BuildError: naming the notebook, the first chapter cell that differs, its source line,
            and the command that executes the notebook again.
    """
    fresh = _chapter_cells(convert.to_notebook(chapter, framework))
    stored = _chapter_cells(notebook)
    for position in range(max(len(fresh), len(stored))):
        new = fresh[position] if position < len(fresh) else None
        old = stored[position] if position < len(stored) else None
        if new is not None and old is not None and new[:4] == old[:4]:
            continue
        if old is not None:
            what = f"its cell from chapter cell {old[0] + 1} differs"
        else:
            what = f"chapter cell {new[0] + 1} is missing from it"
        line = new[4] if new is not None else None
        near = f"\n  first difference: {display_path(chapter.path)}:{line}" if line else ""
        raise BuildError(f"{display_path(path)} no longer matches {chapter.path.name} ({what}): execute it again "
                         f"with: python build.py execute {chapter.name}{near}")


def _chapter_cells(notebook: nbformat.NotebookNode) -> list[tuple]:
    """(chapter cell index, kind, source, tags, source line) of each cell made from the chapter."""
    cells = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("dlblocks", {})
        if meta.get("generated"):
            continue
        cells.append((meta.get("cell"), cell.cell_type, cell.source, list(cell.metadata.get("tags", [])),
                      meta.get("line")))
    return cells
