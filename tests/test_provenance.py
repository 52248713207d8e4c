"""The "Executed on ..." line under each stored notebook's title (tabbook.provenance): present and
true, outside every key, written without executing, and reported by ``check`` when it is not true."""
from __future__ import annotations

import json
import subprocess

import nbformat
import pytest

from tabbook import check, convert, execute, provenance, standalone, stored
from tabbook.frameworks import NOTEBOOKS, ROOT, get
from tabbook.source import find_chapters, read_chapter

from .conftest import current_stored

CHAPTER, FRAMEWORK = "training-on-mnist", "pytorch"


def _stored_notebooks():
    for path in find_chapters(NOTEBOOKS):
        chapter = read_chapter(path)
        for name in chapter.frameworks:
            yield chapter, name, convert.notebook_path(chapter.name, name)


@pytest.mark.parametrize("chapter,framework,path", [pytest.param(*item, id=f"{item[1]}-{item[0].name}")
                                                    for item in _stored_notebooks()])
def test_every_stored_notebook_says_under_its_title_what_it_ran_with(chapter, framework, path):
    notebook = nbformat.read(path, as_version=4)
    executed = notebook.metadata.tabbook.get("executed")
    assert executed is not None, f"{path}: no record of its execution; run: python build.py execute {chapter.name}"
    distribution = provenance.DISTRIBUTIONS[framework]
    version = standalone.lock_pins(get(framework))[distribution]
    python = ".".join(notebook.metadata.language_info.version.split(".")[:2])
    device = provenance.device_label(notebook.metadata.tabbook.get("results", {}).get("device"))
    expected = f"Executed on {executed['date']} with {distribution} {version}, Python {python}, {device}"
    cells = [cell for cell in notebook.cells if provenance.is_line_cell(cell)]
    assert [cell.source for cell in cells] == [expected]
    assert cells[0].cell_type == "markdown"
    # Right under the title: the cell after the chapter's first one, the title's.
    title = next(index for index, cell in enumerate(notebook.cells) if not cell.metadata.tabbook.get("generated"))
    assert notebook.cells[title].source.startswith(f"# {chapter.title}\n")
    assert notebook.cells[title + 1] is cells[0]
    assert executed["versions"] == {distribution: version}


def test_the_line_is_in_no_key_and_not_for_nbval():
    chapter = read_chapter(NOTEBOOKS / f"{CHAPTER}.md")
    with_line = current_stored(CHAPTER, FRAMEWORK)
    without = nbformat.reads(nbformat.writes(with_line), as_version=4)
    without.cells = [cell for cell in without.cells if not provenance.is_line_cell(cell)]
    assert provenance.shown_line(with_line) and provenance.shown_line(without) is None
    fresh = convert.to_notebook(chapter, FRAMEWORK)
    # The code fingerprint, and so the execution key that check compares with the stored one.
    assert convert.code_fingerprint(with_line) == convert.code_fingerprint(without) == convert.code_fingerprint(fresh)
    assert with_line.metadata.tabbook.execution_key == execute.execution_key(fresh, FRAMEWORK)
    # The mutation keys (tabbook.claimrecords.mutation_key) are execution keys of mutants of fresh
    # conversions, which have no line.
    assert not any(provenance.is_line_cell(cell) for cell in fresh.cells)
    # nbval compares the outputs of code cells only: the line is a Markdown cell.
    assert provenance.EXECUTED_ID not in {cell.metadata.tabbook.get("generated") for cell in with_line.cells
                                          if cell.cell_type == "code"}


@pytest.fixture
def stale_line(tmp_path, monkeypatch):
    """(the chapter, a copy of the stored notebook whose line has no date, its path)."""
    def no_kernel(*args, **kwargs):
        raise AssertionError("a notebook whose key is unchanged was executed again")

    monkeypatch.setattr(execute, "_execute", no_kernel)
    chapter = read_chapter(NOTEBOOKS / f"{CHAPTER}.md")
    notebook = current_stored(CHAPTER, FRAMEWORK)
    target = tmp_path / f"{CHAPTER}.ipynb"
    return chapter, notebook, target


def test_execute_on_unchanged_sources_writes_the_line_and_check_then_passes(stale_line):
    chapter, notebook, target = stale_line
    notebook.cells = [cell for cell in notebook.cells if not provenance.is_line_cell(cell)]
    convert.write_notebook(notebook, target)
    found = check._notebook_problems(chapter, FRAMEWORK, target)
    assert len(found) == 1 and found[0].startswith(f'{target}: its "Executed on" line is not true: the notebook has no '
                                                   f'line "{provenance.line(notebook)}" under its title; bring it up to date')
    result = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert (result.status, result.error) == ("cached", "")
    assert result.notes == [f'brought its line "{provenance.line(notebook)}" up to date (not executed again)']
    assert check._notebook_problems(chapter, FRAMEWORK, target) == []
    after = nbformat.read(target, as_version=4)
    assert provenance.shown_line(after) == provenance.line(notebook)
    again = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert (again.status, again.notes) == ("cached", [])


@pytest.mark.parametrize("change,said", [
    ("line", 'says "Executed on 1999-01-01 with torch'),
    ("date", "where its metadata gives \"Executed on 1999-01-02"),
    ("version", "records torch 0.1 where its lock pins"),
])
def test_a_line_that_is_not_true_is_reported(stale_line, change, said):
    chapter, notebook, target = stale_line
    cell = next(cell for cell in notebook.cells if provenance.is_line_cell(cell))
    if change == "line":
        cell.source = cell.source.replace(notebook.metadata.tabbook.executed["date"], "1999-01-01")
    elif change == "date":
        notebook.metadata.tabbook.executed["date"] = "1999-01-02"
    else:
        notebook.metadata.tabbook.executed["versions"]["torch"] = "0.1"
    convert.write_notebook(notebook, target)
    found = check._notebook_problems(chapter, FRAMEWORK, target)
    assert len(found) == 1 and said in found[0], found
    assert found[0].startswith(f'{target}: its "Executed on" line is not true: the notebook ')


def test_a_notebook_with_no_date_says_how_to_get_one(stale_line):
    chapter, notebook, target = stale_line
    del notebook.metadata.tabbook["executed"]
    convert.write_notebook(notebook, target)
    found = check._notebook_problems(chapter, FRAMEWORK, target)
    assert found == [f'{target}: its "Executed on" line is not true: the notebook records no date of execution; bring '
                     f"it up to date, without executing again, with: python build.py execute {CHAPTER} (it takes the "
                     "date of the commit that brought the notebook's execution key; a notebook never committed gets "
                     f"a date only by executing it again: add -f {FRAMEWORK} --force)"]
    # Outside the checkout git knows nothing of it: execute leaves it as it is.
    before = target.read_text()
    result = execute.execute(convert.to_notebook(chapter, FRAMEWORK), target)
    assert (result.status, result.notes) == ("cached", [])
    assert target.read_text() == before


def test_the_date_of_an_older_notebook_is_that_of_the_commit_that_brought_its_key():
    path = convert.notebook_path(CHAPTER, FRAMEWORK)
    committed = json.loads(subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:{path.relative_to(ROOT)}"],
                                          capture_output=True, text=True, check=True).stdout)
    key = committed["metadata"]["tabbook"]["execution_key"]
    date = provenance.committed_date(path, key)
    assert date is not None
    # The key is in the notebook of the commit of that date, and in no earlier one.
    commits = subprocess.run(["git", "-C", str(ROOT), "log", "--format=%H %cs", "--", str(path.relative_to(ROOT))],
                             capture_output=True, text=True, check=True).stdout.split("\n")
    holding = [line.split() for line in commits if line
               and key in subprocess.run(["git", "-C", str(ROOT), "show", f"{line.split()[0]}:{path.relative_to(ROOT)}"],
                                         capture_output=True, text=True).stdout]
    assert holding and holding[-1][1] == date
    assert provenance.committed_date(path, "0" * 64) is None


@pytest.mark.parametrize("value,label", [(None, "CPU"), ("cpu", "CPU"), ("cpu(0)", "CPU"), ("/CPU:0", "CPU"),
                                         ("CPU", "CPU"), ("cuda:0", "GPU"), ("gpu(0)", "GPU"), ("/GPU:0", "GPU"),
                                         ("Ascend", "Ascend")])
def test_the_device_is_named_as_a_reader_knows_it(value, label):
    assert provenance.device_label(value) == label


@pytest.mark.parametrize("executed", [[], {"date": "yesterday", "versions": {"torch": "2"}},
                                      {"date": "2026-12-03", "versions": {}}, {"date": "2026-12-03", "versions": {"torch": 2}}])
def test_a_malformed_record_is_a_damaged_notebook(tmp_path, executed):
    notebook = current_stored(CHAPTER, FRAMEWORK)
    notebook.metadata.tabbook["executed"] = executed
    target = tmp_path / "n.ipynb"
    target.write_text(nbformat.writes(notebook))
    with pytest.raises(stored.DamagedNotebook, match="metadata.tabbook.executed is"):
        stored.read(target, CHAPTER, FRAMEWORK)


def test_the_book_shows_a_line_only_where_it_is_true_and_as_text():
    from tabbook import book

    notebook = current_stored(CHAPTER, FRAMEWORK)
    shown = book._executed_line(notebook)
    assert shown.replace("\\", "") == provenance.shown_line(notebook)
    # A hostile notebook: metadata and line agree, and would make a link and raw HTML in MyST.
    notebook.metadata.tabbook.executed["versions"] = {"torch": "[x](https://example.org) <b>bold</b> {download}`a`"}
    notebook = provenance.with_line(notebook)
    shown = book._executed_line(notebook)
    assert shown.replace("\\", "") == provenance.shown_line(notebook)
    assert not any(char in shown.replace("\\" + char, "") for char in "[]()<>{}`")
    # A line that says other than the metadata is not shown (check reports it).
    cell = next(cell for cell in notebook.cells if provenance.is_line_cell(cell))
    cell.source = "Executed on 1999-01-01 with torch 1, Python 2.7, CPU"
    assert book._executed_line(notebook) == ""
