"""The "Executed on ..." line under each stored notebook's title (tabbook.provenance): present and
true, outside every key, written without executing, and reported by ``check`` when it is not true."""
from __future__ import annotations

import datetime
import json
import re
import subprocess

import nbformat
import pytest

from tabbook import check, convert, execute, provenance, standalone, stored
from tabbook.errors import BuildError
from tabbook.frameworks import NOTEBOOKS, ROOT, get
from tabbook.source import find_chapters, read_chapter

from .conftest import current_stored

CHAPTER, FRAMEWORK = "training-on-mnist", "pytorch"


def _stored_notebooks():
    for path in find_chapters(NOTEBOOKS):
        chapter = read_chapter(path)
        for name in chapter.frameworks:
            yield chapter, name, convert.notebook_path(chapter.name, name)


@pytest.mark.parametrize("chapter,framework,path", [pytest.param(*item, id=f"{item[0].name}-{item[1]}")
                                                    for item in _stored_notebooks()])
def test_every_stored_notebook_says_under_its_title_what_it_ran_with(chapter, framework, path):
    notebook = nbformat.read(path, as_version=4)
    executed = notebook.metadata.dlblocks.get("executed")
    assert executed is not None, f"{path}: no record of its execution; run: python build.py execute {chapter.name}"
    distribution = provenance.DISTRIBUTIONS[framework]
    version = standalone.lock_pins(get(framework))[distribution]
    python = ".".join(notebook.metadata.language_info.version.split(".")[:2])
    device = provenance.device_label(notebook.metadata.dlblocks.get("results", {}).get("device"))
    expected = f"Executed on {executed['date']} with {distribution} {version}, Python {python}, {device}"
    cells = [cell for cell in notebook.cells if provenance.is_line_cell(cell)]
    assert [cell.source for cell in cells] == [expected]
    assert cells[0].cell_type == "markdown"
    # Right under the title: the cell after the chapter's first one, the title's.
    title = next(index for index, cell in enumerate(notebook.cells) if not cell.metadata.dlblocks.get("generated"))
    assert notebook.cells[title].source.splitlines()[0] == f"# {chapter.title}"
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
    assert with_line.metadata.dlblocks.execution_key == execute.execution_key(fresh, FRAMEWORK)
    # The mutation keys (tabbook.claimrecords.mutation_key) are execution keys of mutants of fresh
    # conversions, which have no line.
    assert not any(provenance.is_line_cell(cell) for cell in fresh.cells)
    # nbval compares the outputs of code cells only: the line is a Markdown cell.
    assert provenance.EXECUTED_ID not in {cell.metadata.dlblocks.get("generated") for cell in with_line.cells
                                          if cell.cell_type == "code"}


def stored_without_kernel(tmp_path, monkeypatch, name: str, framework: str):
    """(the chapter ``name``, its stored notebook of ``framework`` as current_stored gives it, a
    path in tmp_path to write it to), with execution forbidden: a notebook whose key is
    unchanged must not be executed again."""
    def no_kernel(*args, **kwargs):
        raise AssertionError("a notebook whose key is unchanged was executed again")

    monkeypatch.setattr(execute, "_execute", no_kernel)
    return read_chapter(NOTEBOOKS / f"{name}.md"), current_stored(name, framework), tmp_path / f"{name}.ipynb"


@pytest.fixture
def stale_line(tmp_path, monkeypatch):
    """(the chapter, a copy of the stored notebook whose line has no date, its path)."""
    return stored_without_kernel(tmp_path, monkeypatch, CHAPTER, FRAMEWORK)


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
        cell.source = cell.source.replace(notebook.metadata.dlblocks.executed["date"], "1999-01-01")
    elif change == "date":
        notebook.metadata.dlblocks.executed["date"] = "1999-01-02"
    else:
        notebook.metadata.dlblocks.executed["versions"]["torch"] = "0.1"
    convert.write_notebook(notebook, target)
    found = check._notebook_problems(chapter, FRAMEWORK, target)
    assert len(found) == 1 and said in found[0], found
    assert found[0].startswith(f'{target}: its "Executed on" line is not true: the notebook ')


def test_a_notebook_with_no_date_says_how_to_get_one(stale_line):
    chapter, notebook, target = stale_line
    del notebook.metadata.dlblocks["executed"]
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
    key = committed["metadata"]["dlblocks"]["execution_key"]
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
                                         ("/job:localhost/replica:0/task:0/device:GPU:0", "GPU"), ("cuda", "GPU"),
                                         ("Ascend", None), ("TPU v9 (trust me)", None), ("cpux", None), ("my cpu", None),
                                         (5, None)])
def test_the_device_is_named_as_a_reader_knows_it(value, label):
    """Red team: any other text used to pass through to the line unchanged (None: check rejects it)."""
    assert provenance.device_label(value) == label


@pytest.mark.parametrize("executed", [[], {"date": "yesterday", "versions": {"torch": "2"}},
                                      {"date": "2026-12-03", "versions": {}}, {"date": "2026-12-03", "versions": {"torch": 2}}])
def test_a_malformed_record_is_a_damaged_notebook(tmp_path, executed):
    notebook = current_stored(CHAPTER, FRAMEWORK)
    notebook.metadata.dlblocks["executed"] = executed
    target = tmp_path / "n.ipynb"
    target.write_text(nbformat.writes(notebook))
    with pytest.raises(stored.DamagedNotebook, match="metadata.dlblocks.executed is"):
        stored.read(target, CHAPTER, FRAMEWORK)


def test_the_book_shows_a_line_only_where_it_is_true_and_as_text():
    from tabbook import book

    notebook = current_stored(CHAPTER, FRAMEWORK)
    shown = book._executed_line(notebook)
    assert shown.replace("\\", "") == provenance.shown_line(notebook)
    # A hostile notebook: metadata and line agree, and would make a link and raw HTML in MyST.
    notebook.metadata.dlblocks.executed["versions"] = {"torch": "[x](https://example.org) <b>bold</b> {download}`a`"}
    notebook = provenance.with_line(notebook)
    shown = book._executed_line(notebook)
    assert shown.replace("\\", "") == provenance.shown_line(notebook)
    assert not any(char in shown.replace("\\" + char, "") for char in "[]()<>{}`")
    # A line that says other than the metadata is not shown (check reports it).
    cell = next(cell for cell in notebook.cells if provenance.is_line_cell(cell))
    cell.source = "Executed on 1999-01-01 with torch 1, Python 2.7, CPU"
    assert book._executed_line(notebook) == ""


# Red team 3: a cell marked as the line was left out of every check, wherever it was and whatever
# it held; a code cell so marked ran in nbval and shipped in the downloads. A notebook that is
# current on this branch (the tests above use one that the lead re-executes).
CURRENT_CHAPTER, CURRENT_FRAMEWORK = "devices", "mxnet"


@pytest.fixture
def current(tmp_path, monkeypatch):
    """(the chapter, a copy of a current stored notebook with a true line, the path to write it to)."""
    chapter, notebook, target = stored_without_kernel(tmp_path, monkeypatch, CURRENT_CHAPTER, CURRENT_FRAMEWORK)
    convert.write_notebook(notebook, target)
    assert check._notebook_problems(chapter, CURRENT_FRAMEWORK, target) == []
    return chapter, notebook, target


def _marked(kind: str, source: str):
    cell = {"code": nbformat.v4.new_code_cell, "raw": nbformat.v4.new_raw_cell,
            "markdown": nbformat.v4.new_markdown_cell}[kind](source)
    cell.metadata["dlblocks"] = {"generated": provenance.EXECUTED_ID}
    if kind == "code":
        cell.execution_count = 99
    return cell


@pytest.mark.parametrize("case,said", [
    ("code at the end", "has a code cell (cell {last}) marked as its \"Executed on\" line"),
    ("raw at the end", "has a raw cell (cell {last}) marked as its \"Executed on\" line"),
    ("the line made a code cell", "has a code cell (cell {place}) marked as its \"Executed on\" line"),
    ("markdown at the end", "has an \"Executed on\" cell (cell {last}) that is not right after its title"),
    ("a second line", "has an \"Executed on\" cell (cell {second}) that is not right after its title"),
    ("the line moved to the end", "has an \"Executed on\" cell (cell {last}) that is not right after its title"),
])
def test_a_cell_marked_as_the_line_that_is_not_the_line_fails_check_and_the_book_and_execute_drops_it(
        current, case, said):
    chapter, notebook, target = current
    place = provenance.title_index(notebook) + 1
    assert provenance.marked_indices(notebook) == [place]
    line_cell = notebook.cells[place]
    if case == "code at the end":
        notebook.cells.append(_marked("code", "import os; _ = os.system('id > /tmp/x')"))
    elif case == "raw at the end":
        notebook.cells.append(_marked("raw", line_cell.source))
    elif case == "the line made a code cell":
        notebook.cells[place] = _marked("code", line_cell.source)
    elif case == "markdown at the end":
        notebook.cells.append(_marked("markdown", line_cell.source))
    elif case == "a second line":
        notebook.cells.insert(place + 1, _marked("markdown", line_cell.source))
    else:
        notebook.cells.append(notebook.cells.pop(place))
    convert.write_notebook(notebook, target)
    said = said.format(last=len(notebook.cells), place=place + 1, second=place + 2)
    found = check._notebook_problems(chapter, CURRENT_FRAMEWORK, target)
    assert len(found) == 1 and found[0].startswith(f'{target}: its "Executed on" line is not true: the notebook {said}')
    assert found[0].endswith(f"delete that cell, or let python build.py execute {CURRENT_CHAPTER} rewrite the line, "
                             "which drops every other marked cell, without executing again")
    # The book reads every notebook with read_matching before it copies it into a download or a zip.
    with pytest.raises(BuildError, match=f"the notebook {re.escape(said)}"):
        stored.read_matching(chapter, CURRENT_FRAMEWORK, target)
    # The fix that check gives: execute rewrites the line and drops every other marked cell.
    result = execute.execute(convert.to_notebook(chapter, CURRENT_FRAMEWORK), target)
    assert result.status == "cached" and "not executed again" in result.notes[0], result
    assert "marked as its line where no line may be (dropped)" in result.notes[0] or case == "the line moved to the end"
    assert check._notebook_problems(chapter, CURRENT_FRAMEWORK, target) == []
    after = nbformat.read(target, as_version=4)
    assert provenance.marked_indices(after) == [place] and after.cells[place].cell_type == "markdown"
    assert "os.system" not in target.read_text()


def test_the_book_refuses_a_notebook_with_a_hidden_marked_code_cell_before_writing_any_download(current, tmp_path):
    from tabbook import book

    chapter, notebook, target = current
    notebook.cells.append(_marked("code", "import os; _ = os.system('id > /tmp/x')"))
    tabs = tmp_path / "tabs"
    for name in chapter.frameworks:
        (tabs / name).mkdir(parents=True)
        (tabs / name / target.name).write_bytes(convert.notebook_path(CURRENT_CHAPTER, name).read_bytes())
    convert.write_notebook(notebook, tabs / CURRENT_FRAMEWORK / target.name)
    with pytest.raises(BuildError, match="has a code cell .* marked as its \"Executed on\" line"):
        book.write_sources([chapter], tabs, tmp_path / "site")
    assert not list((tmp_path / "site").rglob(f"{CURRENT_FRAMEWORK}/*.ipynb"))
    assert not list((tmp_path / "site").rglob("*.zip"))


def test_a_line_with_other_text_in_its_place_fails_check_and_the_book(current):
    chapter, notebook, target = current
    cell = notebook.cells[provenance.title_index(notebook) + 1]
    cell.source = cell.source + " (and a TPU)"
    convert.write_notebook(notebook, target)
    found = check._notebook_problems(chapter, CURRENT_FRAMEWORK, target)
    assert len(found) == 1 and "(and a TPU)" in found[0] and "under its title where its metadata gives" in found[0]
    assert found[0].endswith(f"bring it up to date, without executing again, with: python build.py execute "
                             f"{CURRENT_CHAPTER}")
    with pytest.raises(BuildError, match="where its metadata gives"):
        stored.read_matching(chapter, CURRENT_FRAMEWORK, target)


def _tomorrow() -> str:
    return (datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)).isoformat()


@pytest.mark.parametrize("change,said", [
    ("no date", "records the date '2026-99-99', which is no date"),
    ("future", "records the date {tomorrow}, which is after today"),
    ("extra package", "records the versions of 'evil-pkg', 'mxnet', where it must record only its framework's"),
    ("another distribution", "records the versions of 'evil-pkg', where it must record only its framework's"),
    ("device", "reports the device 'TPU v9 (trust me)', which is not a CPU or GPU device that the book knows"),
])
def test_a_false_record_fails_check_even_where_the_line_agrees_with_it(current, change, said):
    """Red team: a made-up date, an extra package and a made-up device passed check where the line said them too."""
    chapter, notebook, target = current
    executed = notebook.metadata.dlblocks.executed
    if change == "no date":
        executed["date"] = "2026-99-99"
    elif change == "future":
        executed["date"] = _tomorrow()
    elif change == "extra package":
        executed["versions"]["evil-pkg"] = "6.6.6"
    elif change == "another distribution":
        executed["versions"] = {"evil-pkg": "6.6.6"}
    else:
        notebook.metadata.dlblocks.setdefault("results", {})["device"] = "TPU v9 (trust me)"
    assert provenance.line(notebook) is None
    # The line rewritten to say what the false record says.
    versions = ", ".join(f"{name} {version}" for name, version in executed["versions"].items())
    python = ".".join(notebook.metadata.language_info.version.split(".")[:2])
    device = "TPU v9 (trust me)" if change == "device" else provenance.device_label(
        notebook.metadata.dlblocks.get("results", {}).get("device"))
    cell = notebook.cells[provenance.title_index(notebook) + 1]
    cell.source = f"Executed on {executed['date']} with {versions}, Python {python}, {device}"
    convert.write_notebook(notebook, target)
    said = said.format(tomorrow=_tomorrow())
    found = check._notebook_problems(chapter, CURRENT_FRAMEWORK, target)
    assert len(found) == 1 and found[0].startswith(f'{target}: its "Executed on" line is not true: the notebook {said}')
    assert found[0].endswith(f"execute it again, which records what it ran with: python build.py execute "
                             f"{CURRENT_CHAPTER} -f {CURRENT_FRAMEWORK} --force")
    with pytest.raises(BuildError, match="that its metadata cannot give"):
        stored.read_matching(chapter, CURRENT_FRAMEWORK, target)
    from tabbook import book
    assert book._executed_line(notebook) == ""
