"""Notebooks that run on their own: the generated setup cells. Every notebook under tabs/ is run
as a reader runs it by nbval itself (conftest.py: an empty folder, a kernel of the framework's
environment with no PYTHONPATH and no checkout on sys.path, MNIST from DLBLOCKS_MNIST_DIR, and a
last item that asserts so); the last test here proves that item fails when it should."""
from __future__ import annotations

import ast
import collections
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from tabbook import envs, provenance, standalone
from tabbook.convert import to_notebook
from tabbook.errors import BuildError, SourceError
from tabbook.frameworks import NOTEBOOKS, ROOT, get
from tabbook.source import find_chapters, read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text

CHAPTERS = [read_chapter(path) for path in find_chapters(NOTEBOOKS)]
NOTEBOOK_CASES = [(chapter, name) for chapter in CHAPTERS for name in chapter.frameworks]


def requirements_of(notebook) -> dict[str, str]:
    """REQUIREMENTS as the generated setup cell states it."""
    first = standalone.setup_of(notebook)
    assert first.metadata.dlblocks.generated == "setup"
    tree = ast.parse("\n".join(line for line in first.source.splitlines() if not line.lstrip().startswith("%")))
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "REQUIREMENTS":
            return ast.literal_eval(node.value)
    raise AssertionError("no REQUIREMENTS in the setup cell")


@pytest.mark.parametrize("chapter, framework", NOTEBOOK_CASES, ids=[f"{c.name}-{f}" for c, f in NOTEBOOK_CASES])
def test_the_install_cell_pins_exactly_the_imported_packages_at_the_lock(chapter, framework):
    notebook = to_notebook(chapter, framework)
    stated = requirements_of(notebook)
    # Independently of tabbook.standalone's table: ask the framework's environment which
    # distributions provide the modules the notebook's cells import.
    modules = sorted({name.split(".")[0] for name in standalone.imported_modules(notebook)} - {"dlblocks"})
    script = ("import importlib.metadata, json, sys\n"
              "provided = importlib.metadata.packages_distributions()\n"
              "print(json.dumps({m: provided.get(m, []) for m in sys.argv[1:] if m not in sys.stdlib_module_names}))")
    found = json.loads(subprocess.run([str(envs.env_python(get(framework))), "-c", script, *modules],
                                      check=True, capture_output=True, text=True).stdout)
    lock = standalone.lock_pins(get(framework))
    expected = {}
    for module, distributions in found.items():
        pinned = [standalone.normalise(d) for d in distributions if standalone.normalise(d) in lock]
        assert len(pinned) == 1, f"{module} is provided by {distributions}, pinned: {pinned}"
        expected[pinned[0]] = lock[pinned[0]]
        for companion in standalone.COMPANIONS.get(pinned[0], ()):
            expected[companion] = lock[companion]
    assert stated == expected


@pytest.mark.parametrize("framework, module", [("mxnet", "mxnet"), ("mindspore", "mindspore")])
def test_a_framework_whose_metadata_admits_a_numpy_it_cannot_run_with_brings_the_locks_numpy(
        write_chapter, framework, module):
    # mxnet 1.9.1 declares numpy<2 but fails to import with NumPy >= 1.24; mindspore 2.10.0
    # declares numpy>=1.25 but needs NumPy < 2: a notebook that imports only the framework must
    # still pin the lock's numpy, or pip installs one that breaks the framework's import.
    chapter = read_chapter(write_chapter(chapter_text(cell(f"[{framework}]", f"import {module}"), *FOUR)))
    lock = standalone.lock_pins(get(framework))
    assert requirements_of(to_notebook(chapter, framework)) == {
        module: lock[module], "numpy": lock["numpy"]}


def test_an_import_the_lock_does_not_pin_is_a_clear_error(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", "import requests_oauthlib"), *FOUR)))
    with pytest.raises(BuildError, match=r"imports 'requests_oauthlib', which is not pinned in "
                                         r"tabs/pytorch/requirements.txt; add it to requirements.in"):
        to_notebook(chapter, "pytorch")


def test_standard_library_and_magics_need_no_pin_and_helpers_are_inlined_only_when_imported(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(
        cell("[all]", "%matplotlib inline\nimport os.path, json\nfrom collections import Counter"), *FOUR)))
    notebook = to_notebook(chapter, "pytorch")
    assert requirements_of(notebook) == {}
    assert [c.metadata.dlblocks.get("generated") for c in notebook.cells[:3]] == [None, "setup", None]  # after the title
    assert standalone.embedded_modules(standalone.setup_of(notebook).source) == {}
    assert standalone.setup_of(notebook).source.splitlines()[0] == "#@title Setup: the packages this notebook uses"
    chapter = read_chapter(write_chapter(chapter_text(cell("[all]", "from dlblocks.data import load_mnist"), *FOUR)))
    notebook = to_notebook(chapter, "mxnet")
    assert [c.metadata.dlblocks.get("generated") for c in notebook.cells[:3]] == [None, "setup", None]  # after the title
    assert list(standalone.embedded_modules(standalone.setup_of(notebook).source)) == ["dlblocks.data"]
    assert standalone.setup_of(notebook).source.splitlines()[0] == standalone.TITLE


def test_the_mxnet_cell_stops_with_a_message_on_a_newer_python(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(*FOUR)))
    source = standalone.setup_of(to_notebook(chapter, "mxnet")).source
    # Its comment says what it keeps: not every version, where the framework (imported) has limits.
    assert "kept, whatever its version.\n" in source
    importing = read_chapter(write_chapter(chapter_text(cell("[mxnet]", "import mxnet"), *FOUR[1:]), "imp"))
    assert ("kept, whatever its version, except a version that the\n# framework cannot run with (LIMITS below)."
            in standalone.setup_of(to_notebook(importing, "mxnet")).source)
    namespace = {"__name__": "cell"}
    fake_sys = type(sys)("sys")
    fake_sys.version_info = collections.namedtuple("version_info", "major minor micro releaselevel serial")(
        3, 12, 0, "final", 0)
    code = source.replace("import sys\n", "", 1).split("REQUIREMENTS = {")[0]
    with pytest.raises(RuntimeError, match=r"MXNet 1.9.1 does not run on Python 3.12 or later: it imports distutils, "
                                           r"which Python 3.12 removed, and needs NumPy < 1.24, which has no wheel "
                                           r"for it; this kernel runs Python 3.12: run this notebook in a Python 3.11 "
                                           r"kernel"):
        exec(code, dict(namespace, sys=fake_sys))


def reader_kernel(tmp_path, framework: str) -> str:
    """A kernelspec, in a folder of its own on JUPYTER_PATH, that starts the framework
    environment's Python with PYTHONPATH removed: nothing of this checkout is importable."""
    name = f"reader-{framework}"
    folder = tmp_path / "jupyter" / "kernels" / name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps({
        "argv": ["/usr/bin/env", "-u", "PYTHONPATH", str(envs.env_python(get(framework))),
                 "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"reader {framework}", "language": "python"}))
    return name


@pytest.mark.parametrize("code, message", [
    ("open('made-here', 'w').close()", "the notebook wrote ['made-here'] beside itself"),
    (f"import sys\nsys.path.append({str(ROOT)!r})", "AssertionError"),
    ("import os, tempfile\nopen('made-here', 'w').close()\nos.chdir(tempfile.mkdtemp())",
     "the notebook wrote ['made-here'] beside itself"),
])
def test_nbval_runs_each_notebook_as_its_reader_and_fails_one_that_leans_on_the_checkout(
        write_chapter, code, message):
    """nbval's extra item (conftest.py, "reader's view") fails a notebook that wrote a file
    beside itself or put the checkout on sys.path, and passes the same notebook without that."""
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", code), *FOUR)))
    folder = ROOT / "build" / f"reader-check-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = folder / "chap.ipynb"
        nbformat.write(to_notebook(chapter, "pytorch"), path)
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert run.returncode == 1 and "reader's view" in run.stdout and message in run.stdout, run.stdout[-3000:]
        nbformat.write(to_notebook(read_chapter(write_chapter(chapter_text(cell("[pytorch]", "x = 0"), *FOUR))),
                               "pytorch"), path)
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0 and "passed" in run.stdout, run.stdout[-3000:]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_notebook_carries_the_smallest_part_of_a_library_module_that_runs(write_chapter, tmp_path):
    whole = standalone.HELPERS["dlblocks.data"].read_text(encoding="utf-8")
    for code, expected in [("from dlblocks.data import load_mnist", whole), ("import dlblocks.data", whole),
                           ("from dlblocks import data", whole)]:
        chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", code), *FOUR)))
        assert standalone.embedded_modules(standalone.setup_of(to_notebook(chapter, "pytorch")).source) == {
            "dlblocks.data": "\n" + expected + ("" if expected.endswith("\n") else "\n")}
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch]", "from dlblocks.data import parse_idx"), *FOUR)))
    notebook = to_notebook(chapter, "pytorch")
    part = standalone.embedded_modules(standalone.setup_of(notebook).source)["dlblocks.data"]
    assert len(part.splitlines()) < len(whole.splitlines()) / 3
    assert "def parse_idx" in part and "class MNISTError" in part and "def load_mnist" not in part
    assert part.lstrip().startswith('"""MNIST as NumPy arrays')  # the module's docstring: the data set's source
    # It runs: the setup cell (no %pip line) and the import, in the framework's Python, outside the checkout.
    script = standalone._without_magics(standalone.setup_of(notebook).source) + (
        "\nfrom dlblocks.data import parse_idx\n"
        "print(parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).tolist())")
    done = subprocess.run([str(envs.env_python(get("pytorch"))), "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert (done.returncode, done.stdout.splitlines()[-1:]) == (0, ["[7, 9]"]), done.stderr
    assert "is installed" not in done.stdout
    # A dlblocks installed as a distribution (pip install ./library) is shadowed by the copy: one line says so.
    installed = tmp_path / "site"
    (installed / "dlblocks-0.9.dist-info").mkdir(parents=True)
    (installed / "dlblocks-0.9.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: dlblocks\nVersion: 0.9\n")
    done = subprocess.run([str(envs.env_python(get("pytorch"))), "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                                          "PYTHONPATH": str(installed)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["dlblocks 0.9 is installed; this notebook imports its own copy of the "
                                             "modules it uses, the code it was executed with", "[7, 9]"]
    # Red team: a broken installation (METADATA not UTF-8, or without a version) beside an importable
    # dlblocks neither stops the cell nor wins over the copy; it names no version it cannot read.
    (installed / "dlblocks-0.9.dist-info" / "METADATA").write_bytes(b"Name: dlblocks\nSummary: caf\xe9 \xff\xfe\n")
    (installed / "dlblocks").mkdir()
    (installed / "dlblocks" / "__init__.py").write_text("")
    (installed / "dlblocks" / "data.py").write_text("raise ImportError('the installed copy was imported')\n")
    for metadata in (b"Name: dlblocks\nSummary: caf\xe9 \xff\xfe\n", b"Name: dlblocks\n"):
        (installed / "dlblocks-0.9.dist-info" / "METADATA").write_bytes(metadata)
        done = subprocess.run([str(envs.env_python(get("pytorch"))), "-c", script], cwd=tmp_path, capture_output=True,
                              text=True, env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                                              "PYTHONPATH": str(installed)})
        assert (done.returncode, done.stdout.splitlines()[-1:]) == (0, ["[7, 9]"]), done.stderr
        assert "is installed" not in done.stdout
    path = write_chapter(chapter_text(cell("[pytorch]", "import math\nfrom dlblocks.data import load_mnits"), *FOUR))
    with pytest.raises(SourceError) as caught:
        to_notebook(read_chapter(path), "pytorch")
    line = path.read_text().splitlines().index("from dlblocks.data import load_mnits") + 1
    assert (caught.value.path, caught.value.line) == (path, line)
    assert (caught.value.message, caught.value.hint) == ("dlblocks.data has no 'load_mnits'", "did you mean 'load_mnist'?")


def test_the_smallest_copy_keeps_what_changes_the_names_it_carries(tmp_path, monkeypatch):
    # Red-team: a statement that mutates a kept name, or a definition under try, must be carried.
    module = tmp_path / "data.py"
    module.write_text('"""A module."""\nimport os\n\nFILES = {"a": 1}\nFILES["b"] = 2\nUNUSED = 3\n\n'
                      'try:\n    from shutil import which\nexcept ImportError:\n    def which(name):\n        return None\n\n\n'
                      'def names():\n    return sorted(FILES)\n\n\ndef find(name):\n    return which(name)\n\n\n'
                      'def other():\n    return os.sep\n')
    monkeypatch.setitem(standalone.HELPERS, "dlblocks.data", module)
    part = standalone.helper_closure("dlblocks.data", {"names", "find"})
    namespace = {}
    exec(compile(part, "data.py", "exec"), namespace)
    assert namespace["names"]() == ["a", "b"] and namespace["find"]("python3") is not None
    assert "def other" not in part and "UNUSED" not in part
    assert standalone.helper_closure("dlblocks.data", {"which"}).count("def which") == 1


@pytest.mark.parametrize("before, title", [
    ("", "# The title\n\n+++\n\nThe introduction."),  # the book's chapters: the title a cell of its own
    ("", "# The title\n\nThe introduction in the same cell."),
    ('+++ {"tags": ["pytorch"]}\n\nA note of one framework.\n\n+++\n\n', "# The title"),
    ("A fenced block:\n\n```text\n# not a title\n```\n\n+++\n\n", "# The title"),
    ("<!-- # hidden -->\n\n+++\n\n", "# The title"),
    ("", "The title\n========="),
])
def test_the_setup_cell_follows_the_title_cell_wherever_it_is(write_chapter, before, title):
    # Red team 7: the setup cell and the "Executed on" line both find the title as the source does.
    chapter = read_chapter(write_chapter(FRONT + "\n" + before + title + "\n\n" + "\n".join(FOUR)))
    assert chapter.title == "The title"
    notebook = to_notebook(chapter, "pytorch")
    index = provenance.title_index(notebook)
    assert notebook.cells[index].metadata.dlblocks.cell == chapter.title_cell
    assert "The title" in notebook.cells[index].source
    assert notebook.cells[index + 1] is standalone.setup_of(notebook)
    assert all(cell.cell_type == "markdown" for cell in notebook.cells[:index])


def test_code_before_the_title_is_refused_at_its_line(write_chapter):
    path = write_chapter(FRONT + "\n" + cell("[all]", "x = 0") + "\n# The title\n\n" + "\n".join(FOUR))
    with pytest.raises(SourceError) as caught:
        read_chapter(path)
    assert caught.value.line == path.read_text().splitlines().index("```{code-cell}") + 1  # the cell's first line
    assert caught.value.message == "a code cell comes before the chapter's title"
