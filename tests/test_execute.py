"""Execution in a real framework kernel: results, caching, and failures that keep good notebooks."""
from __future__ import annotations

import nbformat
import pytest

from tabbook import convert, execute, provenance, standalone
from tabbook.frameworks import get
from tabbook.source import read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text


@pytest.fixture
def chapter_with(write_chapter):
    """A chapter whose PyTorch tab runs ``code`` after a first cell that prints 'ready'."""

    def make(code: str):
        text = chapter_text(cell("[pytorch]", "print('ready')"), cell("[pytorch]", code), *FOUR)
        return read_chapter(write_chapter(text))

    return make


def test_success_is_written_with_its_key_and_then_cached(write_chapter, tmp_path):
    front = FRONT.replace("---\n", '---\ntabbook:\n  report:\n    test_accuracy: "accuracy"\n', 1)
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", "print('ready')"),
                                                      cell("[pytorch]", "accuracy = 0.5"), *FOUR, front=front)))
    target = tmp_path / "chap.ipynb"
    result = execute.execute(convert.to_notebook(chapter, "pytorch"), target)
    assert (result.status, result.records) == ("executed", {"test_accuracy": 0.5})
    stored = nbformat.read(target, as_version=4)
    ready = next(cell for cell in stored.cells if cell.source == "print('ready')")
    assert ready.outputs[0].text == "ready\n"
    again = execute.execute(convert.to_notebook(chapter, "pytorch"), target)
    assert (again.status, again.records) == ("cached", {"test_accuracy": 0.5})
    # The execution recorded its date and the lock's torch, and wrote the line under the title.
    assert stored.metadata.dlblocks.executed == {"date": provenance.today(),
                                                "versions": {"torch": standalone.lock_pins(get("pytorch"))["torch"]}}
    python = ".".join(stored.metadata.language_info.version.split(".")[:2])
    assert stored.cells[0].source == "# A chapter\n\nSome prose."
    assert stored.cells[1].source == (f"Executed on {provenance.today()} with torch "
                                      f"{standalone.lock_pins(get('pytorch'))['torch']}, Python {python}, CPU")
    assert stored.cells[2] is standalone.setup_of(stored)  # then the setup cell
    assert nbformat.read(target, as_version=4) == stored  # the cached run rewrote nothing


REPORT_FRONT = FRONT.replace("---\n", '---\ntabbook:\n  report:\n    test_accuracy: "accuracy"\n'
                                      '    device: "str(place)"\n', 1)


def test_the_report_is_read_after_the_last_cell_and_leaves_no_cell(write_chapter, tmp_path):
    text = chapter_text(cell("[pytorch]", "accuracy, place = numpy_like = 0.75, 'cpu'"), *FOUR, front=REPORT_FRONT)
    chapter = read_chapter(write_chapter(text))
    target = tmp_path / "chap.ipynb"
    result = execute.execute(convert.to_notebook(chapter, "pytorch"), target)
    assert (result.status, result.records) == ("executed", {"test_accuracy": 0.75, "device": "cpu"}), result.error
    stored = nbformat.read(target, as_version=4)
    assert stored.metadata.dlblocks.results == {"test_accuracy": 0.75, "device": "cpu"}
    assert not any("accuracy" in cell.source and cell.cell_type == "code" and "report" in cell.source
                   for cell in stored.cells)
    assert len(convert.converter_cells(stored)) == len(convert.to_notebook(chapter, "pytorch").cells)
    assert [cell.cell_type for cell in stored.cells if cell not in convert.converter_cells(stored)] == ["markdown"]
    again = execute.execute(convert.to_notebook(chapter, "pytorch"), target)
    assert (again.status, again.records) == ("cached", {"test_accuracy": 0.75, "device": "cpu"})


def test_a_report_expression_that_fails_names_the_front_matter(write_chapter, tmp_path):
    front = REPORT_FRONT.replace('"accuracy"', '"accuracy_typo"')
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", "accuracy, place = 0.75, 'cpu'"),
                                                      *FOUR, front=front)))
    target = tmp_path / "chap.ipynb"
    result = execute.execute(convert.to_notebook(chapter, "pytorch"), target)
    assert result.status == "failed" and not target.exists()
    assert "the front matter's tabbook.report" in result.error and "NameError" in result.error, result.error


def test_a_raising_cell_is_reported_and_the_good_notebook_kept(chapter_with, tmp_path):
    target = tmp_path / "chap.ipynb"
    target.write_text("previous good notebook")
    result = execute.execute(convert.to_notebook(chapter_with("x = 1\nraise ValueError('bad layer')"), "pytorch"),
                             target)
    assert result.status == "failed"
    first_line = result.error.splitlines()[0]
    assert first_line == f"pytorch: chap: cell 4 (source {tmp_path}/chap.md:16) raised an exception"
    assert "ValueError: bad layer" in result.error and "----> 2 raise ValueError" in result.error
    assert target.read_text() == "previous good notebook"


def test_a_cell_past_its_timeout_is_reported(chapter_with, tmp_path):
    target = tmp_path / "chap.ipynb"
    result = execute.execute(convert.to_notebook(chapter_with("import time\ntime.sleep(30)"), "pytorch"),
                             target, timeout=3)
    assert result.status == "failed"
    assert result.error.splitlines()[0] == (f"pytorch: chap: cell 4 (source {tmp_path}/chap.md:16) ran longer than "
                                            "its timeout of 3 s (raise it with --timeout)")
    assert not target.exists()


def test_a_dying_kernel_is_reported(chapter_with, tmp_path):
    target = tmp_path / "chap.ipynb"
    result = execute.execute(convert.to_notebook(chapter_with("import os\nos._exit(1)"), "pytorch"), target)
    assert result.status == "failed"
    assert result.error.startswith(f"pytorch: chap: cell 4 (source {tmp_path}/chap.md:16) killed the kernel")
    assert not target.exists()
