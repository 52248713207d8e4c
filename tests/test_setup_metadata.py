"""The setup cell's collapse metadata: what the converter writes, and how a stored notebook gets it
without being executed again (``build.py execute``) or is reported until it has it (``build.py check``)."""
from __future__ import annotations

import errno
import json
import os

import nbformat
import pytest

from tabbook import check, convert, execute, standalone
from tabbook.frameworks import NOTEBOOKS, TABS
from tabbook.source import read_chapter

from .conftest import current_stored

CHAPTER, FRAMEWORK = "training-on-mnist", "pytorch"


@pytest.fixture
def stored_copy(tmp_path):
    """(the chapter, a copy of its stored PyTorch notebook whose setup cells lack the collapse
    metadata and whose first chapter code cell names an old source line, the copy's text)."""
    chapter = read_chapter(NOTEBOOKS / f"{CHAPTER}.md")
    notebook = json.loads(nbformat.writes(current_stored(CHAPTER, FRAMEWORK)))  # its "Executed on" line current
    for cell in notebook["cells"]:
        if cell["metadata"].get("dlblocks", {}).get("generated"):
            for key in standalone.SETUP_METADATA:
                cell["metadata"].pop(key, None)
    chapter_cell = next(cell for cell in notebook["cells"]
                        if cell["cell_type"] == "code" and not cell["metadata"]["dlblocks"].get("generated"))
    chapter_cell["metadata"]["dlblocks"]["line"] += 1
    target = tmp_path / f"{CHAPTER}.ipynb"
    target.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return chapter, target, target.read_text()


def test_the_setup_cell_carries_what_each_tool_honours():
    notebook = convert.to_notebook(read_chapter(NOTEBOOKS / f"{CHAPTER}.md"), FRAMEWORK)
    setup = [cell for cell in notebook.cells if cell.metadata.get("dlblocks", {}).get("generated")]
    assert [cell.metadata.dlblocks.generated for cell in setup] == [standalone.SETUP_ID]
    assert notebook.cells[1:2] == setup  # right after the title
    assert notebook.cells[0].source == f"# {notebook.metadata.dlblocks.title}"
    [cell] = setup
    assert cell.metadata.jupyter == {"source_hidden": True}  # outputs stay: they say what was installed
    assert cell.metadata.cellView == "form"
    assert cell.metadata.tags == ["remove-cell"]
    # Colab titles a form by its first line; JupyterLab shows that line as the placeholder.
    assert cell.source.splitlines()[0] == "#@title Setup: the packages and the book's code this notebook uses"
    assert not any("jupyter" in cell.metadata or "cellView" in cell.metadata for cell in notebook.cells
                   if cell is not setup[0] and "remove-cell" not in cell.metadata.get("tags", []))
    nbformat.validate(notebook)  # jupyter.source_hidden is nbformat's own key, cellView an extra one


def test_metadata_is_not_part_of_the_execution_key(stored_copy):
    chapter, target, _ = stored_copy
    fresh = convert.to_notebook(chapter, FRAMEWORK)
    stale = nbformat.read(target, as_version=4)
    assert convert.code_fingerprint(stale) == convert.code_fingerprint(fresh)
    assert stale.metadata.dlblocks.execution_key == execute.execution_key(fresh, FRAMEWORK)


def test_execute_brings_the_metadata_up_to_date_without_executing(stored_copy, monkeypatch):
    chapter, target, before = stored_copy

    def no_kernel(*args, **kwargs):
        raise AssertionError("a notebook whose key is unchanged was executed again")

    monkeypatch.setattr(execute, "_execute", no_kernel)
    result = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert result.status == "cached" and result.error == ""
    assert set(result.records) == {"device", "test_accuracy"}  # read from the stored notebook
    assert len(result.notes) == 1 and result.notes[0].startswith(
        "brought the metadata of cell 3 (the generated setup cell), cell ")
    assert result.notes[0].endswith(" up to date (the converter's changed; not executed again)")
    after = nbformat.read(target, as_version=4)
    fresh = convert.to_notebook(chapter, FRAMEWORK)
    # The converter's cells have the converter's metadata; the executor's "Executed on" cell is as it was.
    assert [cell.metadata for cell in convert.converter_cells(after)] == [cell.metadata for cell in fresh.cells]
    assert len(after.cells) == len(fresh.cells) + 1
    # Everything else is as it was, byte for byte: outputs, execution counts, the notebook's metadata.
    old, new = json.loads(before), json.loads(target.read_text())
    for cell in (*old["cells"], *new["cells"]):
        cell.pop("metadata")
    assert old == new
    # And now it is current: nothing more to write.
    mtime = target.stat().st_mtime_ns
    again = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert (again.status, again.notes) == ("cached", [])
    assert target.stat().st_mtime_ns == mtime


def test_a_metadata_rewrite_that_fails_leaves_the_notebook_and_says_so(stored_copy, monkeypatch):
    chapter, target, before = stored_copy

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    result = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert result.status == "failed"
    assert "the metadata of cell 3 (the generated setup cell)" in result.error
    assert result.error.endswith("could not be written (No space left on device); the notebook there is as it "
                                 "was. Fix the cause (permissions, disk space), then run again")
    assert target.read_text() == before
    assert sorted(path.name for path in target.parent.iterdir()) == [target.name]  # no temporary file left


def test_check_reports_out_of_date_metadata_and_the_command_that_fixes_it(stored_copy):
    chapter, target, _ = stored_copy
    found = check._notebook_problems(chapter, FRAMEWORK, target)
    assert len(found) == 1
    assert found[0].startswith(f"{target}: the metadata of cell 3 (the generated setup cell), cell ")
    assert found[0].endswith("is not what the converter gives now (the setup cell's collapse settings, or a source "
                             f"line); bring it up to date, without executing again, with: python build.py execute {CHAPTER}")
    convert.write_notebook(current_stored(CHAPTER, FRAMEWORK), target)
    assert check._notebook_problems(chapter, FRAMEWORK, target) == []


def test_hand_edited_cells_with_the_old_key_are_left_to_check(stored_copy):
    chapter, target, _ = stored_copy
    notebook = json.loads(target.read_text())
    notebook["cells"][-1]["source"] = "print('edited by hand')"
    target.write_text(json.dumps(notebook))
    before = target.read_text()
    result = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert (result.status, result.notes) == ("cached", [])
    assert target.read_text() == before
    assert "does not match" in check._notebook_problems(chapter, FRAMEWORK, target)[0]


def test_no_stored_notebook_names_the_build_tool():
    """A reader's notebook imports the reader's library (dlblocks), never the build tool: not in a
    cell, an output or the metadata (issue 21's ``grep -r tabbook tabs/*/*.ipynb``)."""
    paths = sorted(TABS.glob("*/*.ipynb"))
    assert len(paths) >= 40
    assert [path.relative_to(TABS).as_posix() for path in paths if "tabbook" in path.read_text(encoding="utf-8")] == []
