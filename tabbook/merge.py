"""Merge the framework notebooks of one chapter back into the chapter's cell order.

Every cell of a framework notebook records its chapter cell index (``metadata.dlblocks.cell``),
so merging needs no guessing: cells with the same index are the same chapter cell, as each
framework executed it. The book renders each merged cell once (shared) or as a tab group.
"""
from __future__ import annotations

import dataclasses

import nbformat


@dataclasses.dataclass
class MergedCell:
    """One chapter cell: its index in the chapter and the cell as each framework holds it."""

    index: int
    cells: dict[str, nbformat.NotebookNode]  # framework -> that framework's cell (with outputs)


def merge(notebooks: dict[str, nbformat.NotebookNode]) -> list[MergedCell]:
    """Merge framework notebooks (framework name -> notebook) into chapter order.

    Raises:
        ValueError: a cell lacks its ``metadata.dlblocks.cell`` index (the notebook was not made by
            :func:`tabbook.convert.to_notebook`).
    """
    merged: dict[int, MergedCell] = {}
    for framework, notebook in notebooks.items():
        for number, cell in enumerate(notebook.cells, 1):
            if cell.metadata.get("dlblocks", {}).get("generated"):
                continue  # the setup cells of tabbook.standalone: not chapter cells
            index = cell.metadata.get("dlblocks", {}).get("cell")
            if index is None:
                raise ValueError(f"{framework} notebook, cell {number}: no metadata.dlblocks.cell; "
                                 "rebuild the notebook with build.py")
            merged.setdefault(index, MergedCell(index, {})).cells[framework] = cell
    return [merged[index] for index in sorted(merged)]
