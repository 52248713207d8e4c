"""Shared fixtures: chapter sources written to a temporary folder."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

FRONT = """---
jupytext:
  text_representation:
    format_name: myst
---
"""


def cell(tags: str, code: str) -> str:
    """A MyST code cell with the given ``:tags:`` line."""
    return f"```{{code-cell}}\n:tags: {tags}\n{code}\n```\n"


def chapter_text(*cells: str, title: str = "# A chapter", front: str = FRONT) -> str:
    """A chapter source: front matter, a title and the given cells, blank-line separated."""
    return front + "\n" + title + "\n\nSome prose.\n\n" + "\n".join(cells)


FOUR = [cell("[mxnet]", "x = 1"), cell("[pytorch]", "x = 2"), cell("[tensorflow]", "x = 3"),
        cell("[mindspore]", "x = 4")]


@pytest.fixture
def write_chapter(tmp_path: Path):
    """Write a chapter source and return its path: write_chapter(text, name="chap")."""

    def write(text: str | bytes, name: str = "chap") -> Path:
        path = tmp_path / f"{name}.md"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text) if text.startswith("\n") else text)
        return path

    return write
