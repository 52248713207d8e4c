"""Defects a hostile tester found, each through the real commands.

- Kernels ran with ``tabs/<framework>/`` as their working directory, so a cell writing a file by
  a relative path added a file to the repository or changed the committed lock. ``execute`` and
  nbval (through ``conftest.py``) now start every kernel in a new empty temporary folder that is
  removed afterwards.
- Notebooks under ``tabs/`` that are valid JSON and valid notebooks but have metadata or outputs
  of shapes the build does not read (or JSON nested too deeply to parse) gave tracebacks in
  ``check``, ``html`` and ``execute``. Now ``check`` and ``html`` name the file, what is wrong and
  how to recover; ``execute`` says the notebook was damaged and executes it again.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from tabbook import book, cli, stored
from tabbook.errors import BuildError, display_path
from tabbook.frameworks import NAMES, ROOT

from .conftest import FOUR, cell, chapter_text
from .test_hostile_source import GOOD, layout, run, snapshot, stored_notebooks
from .test_outputs import write_book_sources

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


@pytest.fixture
def repo(tmp_path):
    with layout(tmp_path) as folders:
        yield folders


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The folder where this process makes its temporary folders (the kernels' included)."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- BAD-2: a kernel's relative paths land in a temporary folder, never in tabs/ -------------------

def writer_cell(record: Path) -> str:
    """A PyTorch cell that checks it starts in an empty folder, writes files by relative paths
    (one of them the name of the committed lock) and records its working directory in ``record``."""
    return cell("[pytorch]", "\n".join([
        "import os",
        "assert os.listdir('.') == [], os.listdir('.')",
        "open('x-file', 'w').write('x')",
        "open('requirements.txt', 'a').write('#\\n')",
        "os.makedirs('sub', exist_ok=True); open('sub/y', 'w').write('y')",
        f"written = open({str(record)!r}, 'w').write(os.getcwd())",
    ]))


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*")}


def test_execute_runs_each_kernel_in_a_fresh_folder_that_it_removes(repo, capsys, scratch, tmp_path):
    chapters, tabs = repo
    record = tmp_path / "cwd.txt"
    stored_notebooks(chapters, tabs, chapter_text(*FOUR, writer_cell(record)))
    target = tabs / "pytorch" / "c.ipynb"
    before, names = snapshot(tabs), files_under(tabs)
    code, err = run(capsys, "execute", "c", "-f", "pytorch")
    assert code == 0, err
    assert files_under(tabs) == names, "no file was added under tabs/"
    after = snapshot(tabs)
    assert after.pop(target) != before.pop(target), "the executed notebook was written"
    assert after == before, "nothing else under tabs/ changed (the lock included)"
    workdir = Path(record.read_text())
    assert workdir.parent == scratch and workdir.name.startswith("tabbook-kernel-")
    assert not workdir.exists() and list(scratch.iterdir()) == [], "the kernel's folder was removed"


def test_nbval_runs_each_kernel_in_a_fresh_folder_that_it_removes(repo, capsys, tmp_path):
    chapters, tabs = repo
    record = tmp_path / "cwd.txt"
    stored_notebooks(chapters, tabs, chapter_text(*FOUR, writer_cell(record)))
    assert run(capsys, "execute", "c", "-f", "pytorch")[0] == 0
    record.unlink()
    before, names = snapshot(tabs), files_under(tabs)
    scratch = tmp_path / "nbval-tmp"
    scratch.mkdir()
    # The root conftest.py as a plugin: the notebook lies outside this checkout.
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-c", str(ROOT / "pytest.ini"),
                           "--rootdir", str(ROOT), "-q", str(tabs / "pytorch" / "c.ipynb")],
                          cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True,
                          timeout=300)
    # Every cell's outputs match; the last item, the reader's view, fails: the cell wrote files
    # beside the notebook, which a reader would find in their folder.
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"\b1 failed, [1-9]\d* passed", done.stdout), done.stdout
    assert "reader's view" in done.stdout and "beside itself" in done.stdout, done.stdout
    workdir = Path(record.read_text())
    assert workdir.parent == scratch and workdir.name.startswith("tabbook-nbval-")
    assert not workdir.exists(), "nbval's kernel folder was removed"
    assert files_under(tabs) == names and snapshot(tabs) == before


# --- BAD-3: damaged notebooks under tabs/ ----------------------------------------------------------

def first_code_cell(notebook: dict) -> dict:
    """The first code cell made from the chapter (not a generated setup cell)."""
    return next(c for c in notebook["cells"]
                if c["cell_type"] == "code" and not c["metadata"].get("dlblocks", {}).get("generated"))


def with_output(output: dict, raw: tuple[str, str] | None = None):
    """A damage that gives the first chapter code cell ``output``; ``raw`` replaces a placeholder
    of the written JSON by text JSON cannot make (such as ``1e400``)."""
    def damage(text: str) -> str:
        notebook = json.loads(text)
        first_code_cell(notebook)["outputs"] = [output]
        result = json.dumps(notebook, indent=1)
        return result.replace(*raw) if raw else result
    return damage


def with_metadata(where: str, value):
    def damage(text: str) -> str:
        notebook = json.loads(text)
        target = notebook if where == "notebook" else first_code_cell(notebook)
        target["metadata"]["dlblocks"] = value
        return json.dumps(notebook, indent=1)
    return damage


def image(data: str, metadata: dict) -> dict:
    return {"output_type": "display_data", "data": {"image/png": data, "text/plain": "<Figure>"}, "metadata": metadata}


#: name: (damage of the notebook's JSON text, what the message must say after "not a valid notebook (")
DAMAGE = {
    "nested-too-deeply": (lambda text: "[" * 200000, "its JSON is nested too deeply to read"),
    "cell-tabbook-not-a-mapping": (with_metadata("cell", 5), r"cell \d+: metadata.dlblocks is 5, not a mapping"),
    "notebook-tabbook-not-a-mapping": (with_metadata("notebook", "x"), 'metadata.dlblocks is "x", not a mapping'),
    "cell-line-not-a-number": (with_metadata("cell", {"cell": 2, "line": "two"}),
                               r'cell \d+: metadata.dlblocks.line is "two", not a whole number from 1'),
    "image-metadata-not-a-mapping": (with_output(image(PNG, {"image/png": "bad"})),
                                     r"""cell \d+, output 1: its metadata\['image/png'\] is "bad", not a mapping"""),
    "image-not-base64": (with_output(image("not base64!", {})), r"cell \d+, output 1: its image/png data is not valid base64"),
    "image-width-overflows": (with_output(image(PNG, {"image/png": {"width": "WIDTH"}}), ('"WIDTH"', "1e400")),
                              r"its image/png width is Infinity, not a number of pixels"),
    "recorded-value-not-a-number": (with_output({"output_type": "display_data", "data": {"text/plain": "high"},
                                                 "metadata": {"dlblocks": {"record": "test_accuracy"}}}),
                                    "the value recorded as 'test_accuracy' is \"high\", not a number"),
    "output-tabbook-not-a-mapping": (with_output({"output_type": "display_data", "data": {"text/plain": "1"},
                                                  "metadata": {"dlblocks": 5}}), "its metadata.dlblocks is 5, not a mapping"),
}


def damaged_layout(chapters: Path, tabs: Path, case: str) -> Path:
    stored_notebooks(chapters, tabs, GOOD)
    target = tabs / "pytorch" / "c.ipynb"
    target.write_text(DAMAGE[case][0](target.read_text()))
    return target


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_check_and_html_name_a_damaged_notebook_and_how_to_recover(repo, capsys, case):
    chapters, tabs = repo
    target = damaged_layout(chapters, tabs, case)
    before = snapshot(tabs)
    for step in ("check", "html"):
        code, err = run(capsys, step)  # asserts no traceback
        assert code == 1, (step, err)
        message = next(line for line in err.splitlines() if f"{target}: " in line)
        assert re.search(r"not a valid notebook \((cell \d+, output \d+: )?" + DAMAGE[case][1], message), (step, message)
        assert f"git checkout -- {target}" in message and "python build.py execute c -f pytorch --force" in message
    assert snapshot(tabs) == before
    assert not (tabs.parent / "build" / "html").exists()


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_execute_says_a_damaged_notebook_was_damaged_and_executes_it_again(repo, capsys, case):
    chapters, tabs = repo
    target = damaged_layout(chapters, tabs, case)
    before = snapshot(tabs)
    code = cli.main(["execute", "c", "-f", "pytorch"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    assert code == 0, out + err
    assert re.search(rf"pytorch: c: {re.escape(str(target))} was damaged \(not a valid notebook \((cell \d+, output \d+: )?{DAMAGE[case][1]}",
                     out), out
    assert "executing it again as if it were absent" in out
    stored.read(target, "c", "pytorch")  # now a good notebook
    after = snapshot(tabs)
    assert after.pop(target) != before.pop(target)
    assert after == before


def test_a_second_execute_finds_the_repaired_notebook_cached(repo, capsys):
    chapters, tabs = repo
    damaged_layout(chapters, tabs, "notebook-tabbook-not-a-mapping")
    assert run(capsys, "execute", "c", "-f", "pytorch")[0] == 0
    assert cli.main(["execute", "c", "-f", "pytorch"]) == 0
    out, _ = capsys.readouterr()
    assert "pytorch: c cached" in out and "damaged" not in out


# The page's own check: an output the book cannot show is an error naming notebook, cell and problem,
# also for notebooks that did not come through stored.read.

BAD_OUTPUTS = {
    "metadata-not-a-mapping": (image(PNG, {"image/png": "bad"}), """its metadata['image/png'] is "bad", not a mapping"""),
    "not-base64": (image("not base64!", {}), "its image/png data is not valid base64"),
    "bad-padding": (image(PNG[:-3], {}), "its image/png data is not valid base64"),
    "width-infinite": (image(PNG, {"image/png": {"width": float("inf")}}), "its image/png width is Infinity"),
    "width-huge": (image(PNG, {"image/png": {"width": 1e300}}), "its image/png width is 1e+300"),
    "width-a-text": (image(PNG, {"image/png": {"width": "640"}}), 'its image/png width is "640"'),
    "svg-not-a-text": ({"output_type": "display_data", "data": {"image/svg+xml": {"a": 1}}, "metadata": {}},
                       'its image/svg+xml data is {"a": 1}, not a text'),
}


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_the_page_refuses_an_output_it_cannot_show(tmp_path, case):
    output, what = BAD_OUTPUTS[case]
    text = chapter_text(*FOUR)
    chapter, notebooks = write_book_sources(tmp_path, text, {"pytorch": {2: [nbformat.from_dict(output)]}})
    with pytest.raises(BuildError) as caught:
        book.chapter_page(chapter, notebooks, tmp_path / "src")
    message = str(caught.value)
    assert message.startswith(f"{display_path(ROOT / 'tabs' / 'pytorch' / 'page.ipynb')}: "), message
    line = chapter.cells[2].line
    assert f"the cell of {display_path(chapter.path)}:{line}, output 1: {what}" in message, message
    assert "git checkout --" in message


def test_the_page_shows_a_good_retina_figure_at_its_width(tmp_path):
    good = nbformat.from_dict(image(PNG, {"image/png": {"width": 320.7}}))
    chapter, notebooks = write_book_sources(tmp_path, chapter_text(*FOUR),
                                            {name: {index: [good]} for index, name in enumerate(NAMES, 1)})
    page = book.chapter_page(chapter, notebooks, tmp_path / "src")
    assert page.count(":width: 320px") == 4
    assert (tmp_path / "src" / "_images_out" / "page" / "pytorch-002-0.png").read_bytes() == base64.b64decode(PNG)
