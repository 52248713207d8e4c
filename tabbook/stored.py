"""Read the executed notebooks under tabs/ for ``check`` and ``html``.

A notebook there can be damaged (truncated by a full disk, emptied, left with git's conflict
markers by a merge) or stale (its chapter gained, lost, edited or retagged cells since it was
executed). Either is a :class:`BuildError` that names the file, the place where there is one,
and how to recover, never a traceback from the JSON reader or a page built from misaligned cells.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from . import convert
from .errors import BuildError, display_path
from .source import Chapter

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)


def recovery(path: Path, chapter_name: str, framework: str) -> str:
    """How to get a good notebook back at ``path``: the committed one, or a new execution."""
    return (f"restore the committed one with `git checkout -- {display_path(path)}`, or execute it again "
            f"with `python build.py execute {chapter_name} -f {framework} --force`")


def read(path: Path, chapter_name: str, framework: str) -> nbformat.NotebookNode:
    """The notebook at ``path`` (version 4), validated against the notebook format.

    Raises:
        BuildError: the file cannot be read, is empty, holds git conflict markers, is not JSON
            (with the line of the first error) or is not a valid notebook; the message says how
            to recover (:func:`recovery`).
    """
    where = display_path(path)
    fix = recovery(path, chapter_name, framework)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise BuildError(f"{where}: cannot read this notebook ({reason}); {fix}") from None
    if not text.strip():
        raise BuildError(f"{where}: the notebook is empty; {fix}")
    marker = _CONFLICT.search(text)
    if marker:
        line = text.count("\n", 0, marker.start()) + 1
        raise BuildError(f"{where}:{line}: the notebook holds git conflict markers ({marker.group(1)}), left by a "
                         f"merge; take one side with `git checkout --ours -- {where}` (or --theirs) and check it, "
                         f"or execute it again with `python build.py execute {chapter_name} -f {framework} --force`")
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise BuildError(f"{where}:{error.lineno}: the notebook is not valid JSON ({error.msg}; truncated?); "
                         f"{fix}") from None
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except (nbformat.ValidationError, ValueError, KeyError, TypeError, AttributeError) as error:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        raise BuildError(f"{where}: not a valid notebook ({message.splitlines()[0]}); {fix}") from None
    return notebook


def read_matching(chapter: Chapter, framework: str, path: Path) -> nbformat.NotebookNode:
    """The executed notebook of ``chapter`` for ``framework`` at ``path``, checked to hold
    exactly the chapter's cells as the source now has them (:func:`check_matches`).

    Raises:
        BuildError: the notebook is missing, damaged (:func:`read`) or stale.
    """
    if not path.exists():
        raise BuildError(f"{display_path(path)} is missing; build it first with: "
                         f"python build.py execute {chapter.name}")
    notebook = read(path, chapter.name, framework)
    check_matches(chapter, framework, notebook, path)
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
        meta = cell.get("metadata", {}).get("tabbook", {})
        if meta.get("generated"):
            continue
        cells.append((meta.get("cell"), cell.cell_type, cell.source, list(cell.metadata.get("tags", [])),
                      meta.get("line")))
    return cells
