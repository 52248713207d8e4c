"""Split a chapter into one notebook per framework (nbformat v4), ready to execute.

Each framework notebook holds, in source order, the shared cells and the cells tagged for that
framework. Framework tags are dropped (the notebook belongs to one framework); other tags stay.
Every cell records its index in the chapter under ``metadata.dlblocks.cell`` so the book can merge
the four executed notebooks back into one page. Conversion is deterministic: the same chapter
gives byte-identical notebooks (cell ids are derived from the chapter cell index).
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import nbformat

from .files import atomic_write_text
from . import provenance, savedcode, standalone
from .frameworks import ROOT, get
from .source import Chapter, cell_id

NBFORMAT_MINOR = 5
#: The tag of a cell the book removes (a notebook setting a learner should not copy).
REMOVED = "remove-cell"
#: The kernelspec the notebooks name: Jupyter's default Python kernel.
GENERIC_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def to_notebook(chapter: Chapter, framework: str) -> nbformat.NotebookNode:
    """The unexecuted notebook of ``chapter`` for ``framework`` (a name from FRAMEWORKS).

    The notebook starts with the cells that let it run on its own (:mod:`tabbook.standalone`),
    which carry the saved code it uses (:func:`tabbook.savedcode.for_notebook`).

    Raises:
        KeyError: for an unknown framework; ValueError if the chapter omits ``framework``;
        BuildError: the notebook imports a package its framework's lock does not pin;
        SourceError: its use of saved code is wrong (a name no chapter saves, for instance).
    """
    fw = get(framework)
    if framework in chapter.omitted:
        raise ValueError(f"{chapter.name} omits {framework}: {chapter.omitted[framework]}")
    cells = []
    for index, cell in enumerate(chapter.cells):
        if framework not in cell.frameworks:
            continue
        metadata = {"dlblocks": {"cell": index, "line": cell.line}}
        if cell.tags:
            metadata["tags"] = list(cell.tags)
        if cell.kind == "code" and REMOVED in cell.tags:
            # Notebook settings, which the book removes: collapsed to their first line in the
            # notebook too (nbformat's key, which JupyterLab and Notebook 7 honour).
            metadata["jupyter"] = {"source_hidden": True}
        if cell.kind == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=metadata)
        else:
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=metadata)
        new["id"] = cell_id(chapter.name, f"{index:03d}")
        cells.append(new)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.nbformat_minor = NBFORMAT_MINOR
    notebook.metadata = {
        # The generic kernelspec, which every Jupyter and Colab has: a reader's Jupyter opens the
        # notebook without a kernel dialog. The book's tools run it in the framework's own kernel,
        # named under dlblocks.kernel (execute, nbval through conftest.py, claims, bench).
        "kernelspec": dict(GENERIC_KERNELSPEC),
        "language_info": {"name": "python"},
        "dlblocks": {
            "chapter": chapter.name,
            "title": chapter.title,
            "title_cell": chapter.title_cell,  # the chapter index of the title's cell (tabbook.provenance)
            "framework": framework,
            "kernel": fw.kernel_name,
            "source": _relative(chapter.path),
        },
    }
    if chapter.report:  # evaluated after the last cell by the executor (tabbook.report)
        notebook.metadata["dlblocks"]["report"] = dict(chapter.report)
    standalone.add_setup_cells(notebook, fw, chapter.name, savedcode.for_notebook(chapter, framework))
    return notebook


def code_fingerprint(notebook: nbformat.NotebookNode) -> str:
    """A sha256 of what the notebook runs and shows before execution: the converter's cells
    (:func:`converter_cells`) and their tags.

    Outputs, execution counts, execution metadata and the cell the executor adds (the "Executed
    on" line, :mod:`tabbook.provenance`) are left out, so an executed notebook and a fresh
    conversion of an unchanged source have the same fingerprint.
    """
    cells = [
        {"type": cell.cell_type, "source": cell.source, "tags": cell.metadata.get("tags", []),
         "cell": cell.metadata.get("dlblocks", {}).get("cell")}
        for cell in converter_cells(notebook)
    ]
    kernel = notebook.metadata.get("dlblocks", {}).get("kernel") or notebook.metadata.get("kernelspec", {}).get("name")
    payload = json.dumps({"kernel": kernel, "cells": cells}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def converter_indices(notebook: nbformat.NotebookNode) -> list[int]:
    """The indices of the cells of ``notebook`` that the converter made: all but the "Executed
    on" cell that the executor adds (:mod:`tabbook.provenance`)."""
    return [index for index, cell in enumerate(notebook.cells) if not provenance.is_line_cell(cell)]


def converter_cells(notebook: nbformat.NotebookNode) -> list:
    """The cells of ``notebook`` that the converter made (:func:`converter_indices`)."""
    return [notebook.cells[index] for index in converter_indices(notebook)]


def stale_metadata(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> list[int]:
    """The indices of the cells of ``stored`` whose metadata is not what the converter now gives
    them in ``fresh`` (:func:`to_notebook` of the same chapter and framework): the setup cells'
    collapse settings, a cell's source line. Both notebooks must have the same
    :func:`code_fingerprint`, so that their cells pair up one to one; the executor adds no cell
    metadata, so any difference is the converter's.

    Raises:
        ValueError: the notebooks have different cells (their fingerprints differ).
    """
    if code_fingerprint(stored) != code_fingerprint(fresh):
        raise ValueError("the notebooks have different cells: compare the metadata of notebooks with "
                         "the same code fingerprint only")
    return [index for index, new in zip(converter_indices(stored), converter_cells(fresh))
            if stored.cells[index].metadata != new.metadata]


def with_fresh_metadata(stored: nbformat.NotebookNode, fresh: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``stored`` whose cells carry the metadata of the cells of ``fresh``
    (:func:`stale_metadata`); sources, outputs and the notebook's own metadata are ``stored``'s.

    Raises:
        ValueError: the notebooks have different cells.
    """
    updated = copy.deepcopy(stored)
    counterpart = dict(zip(converter_indices(stored), converter_cells(fresh)))
    for index in stale_metadata(stored, fresh):
        updated.cells[index].metadata = copy.deepcopy(counterpart[index].metadata)
    return updated


def notebook_path(chapter_name: str, framework: str) -> Path:
    """Where the notebook of ``chapter_name`` for ``framework`` lives: tabs/<framework>/<name>.ipynb."""
    return get(framework).tab_dir / f"{chapter_name}.ipynb"


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Validate ``notebook`` against the nbformat schema and write it atomically to ``path``."""
    nbformat.validate(notebook)
    atomic_write_text(path, nbformat.writes(notebook) + "\n")


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()
