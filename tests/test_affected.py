"""``build.py affected``: what a change since a git commit affects (tabbook/affected.py).

The plan is static, so these tests run no kernel: the import graph on made-up modules and on this
checkout, the files no rule maps, and the real ``build.py affected --plan`` in a throwaway git
checkout whose chapter is edited in one framework's cell, then in its prose.
"""
from __future__ import annotations

import shutil
import subprocess
import uuid

import nbformat
import pytest

from tabbook import affected, convert, execute, provenance
from tabbook.frameworks import NAMES, ROOT
from tabbook.source import read_chapter

from .conftest import FOUR, chapter_text
from .project import make_project


def graph_of(tmp_path, files: dict[str, str]) -> dict[str, set[str]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return affected.import_graph(tmp_path)


def test_imports_are_read_anywhere_in_a_module_relative_ones_resolved(tmp_path):
    graph = graph_of(tmp_path, {
        "tabbook/__init__.py": "",
        "tabbook/a.py": "from . import b\nfrom .c import thing\n",
        "tabbook/b.py": "def f():\n    import tabbook.c\n",
        "tabbook/c.py": "import os\n",
        "tabbook/cli.py": "",
        "tabbook/saved/__init__.py": "from .. import c\n",
        "tests/__init__.py": "",
        "tests/helper.py": "RUN = ['python', 'build.py']\n",
        "tests/test_x.py": "from .helper import RUN\nfrom tabbook.a import f\n",
    })
    assert graph["tabbook.a"] == {"tabbook", "tabbook.b", "tabbook.c"}
    assert graph["tabbook.b"] == {"tabbook", "tabbook.c"}  # an import inside a function counts
    assert graph["tabbook.c"] == set()  # the standard library is not in the graph
    assert graph["tabbook.saved"] == {"tabbook", "tabbook.c"}  # a package's `..` is its parent
    assert graph["tests.helper"] == {"tabbook", "tabbook.cli"}  # it names build.py: it runs the command line
    assert graph["tests.test_x"] == {"tests", "tests.helper", "tabbook", "tabbook.a"}


def test_a_test_that_takes_a_fixture_of_tests_conftest_depends_on_it(tmp_path):
    graph = graph_of(tmp_path, {
        "tests/conftest.py": "import pytest\n@pytest.fixture\ndef page():\n    pass\n"
                             "@pytest.fixture(scope='session')\ndef browser():\n    pass\n",
        "tests/test_uses.py": "def test_one(browser):\n    pass\n",
        "tests/test_not.py": "def test_two(tmp_path):\n    pass\n",
    })
    assert "tests.conftest" in graph["tests.test_uses"]
    assert "tests.conftest" not in graph["tests.test_not"]
    chain = affected.import_chain(graph, "tests.test_uses", {"tests.conftest"})
    assert chain == ["tests.test_uses", "tests.conftest"]


def test_the_unit_tests_of_this_checkout_are_found_through_their_imports():
    planned = affected.plan_tests(ROOT, ["tabbook/claimrecords.py", "tests/test_toc.py"])
    assert planned["tests/test_claims.py"] == "it imports tabbook.claimrecords"
    assert planned["tests/test_toc.py"] == "it changed"
    assert planned["tests/test_check.py"] == "it imports tabbook.claimrecords (through tabbook.check)"
    # the command line imports it, and tests.project runs the command line as a process:
    assert planned["tests/test_signals.py"] == "it imports tabbook.claimrecords (through tests.project, tabbook.cli)"
    assert "library/tests/test_data.py" not in planned  # dlblocks.data imports nothing that changed
    assert planned["tests/test_pyast.py"] == "it reads every .py file of tabbook/, and tabbook/claimrecords.py changed"
    assert "tests/test_pyast.py" not in affected.plan_tests(ROOT, ["tests/test_toc.py"])
    browser = affected.plan_tests(ROOT, ["tests/conftest.py"])
    assert browser["tests/test_book.py"] == "it imports tests.conftest"
    assert affected.plan_tests(ROOT, ["notebooks/devices.md"]) == {}


def test_the_readers_library_and_its_tests_are_mapped():
    """library/: dlblocks is imported as dlblocks (library/dlblocks/), its tests are run too; the
    build carries the hand-written modules into notebooks, so tabbook.standalone depends on them;
    the package test installs a copy of the whole folder."""
    assert affected.module_name("library/dlblocks/data.py") == "dlblocks.data"
    assert affected.module_file("dlblocks.data") == "library/dlblocks/data.py"
    assert affected.module_file("dlblocks") == "library/dlblocks/__init__.py"
    assert affected.module_name("library/tests/test_data.py") == "library.tests.test_data"
    planned = affected.plan_tests(ROOT, ["library/dlblocks/data.py"])
    assert planned["library/tests/test_data.py"] == "it imports dlblocks.data"
    assert planned["library/tests/test_package.py"] == ("it reads every file of library/, and "
                                                        "library/dlblocks/data.py changed")
    assert planned["tests/test_standalone.py"] == "it imports dlblocks.data (through tabbook.standalone)"
    assert affected.plan_tests(ROOT, ["library/tests/test_data.py"]) == {
        "library/tests/test_data.py": "it changed",
        "library/tests/test_package.py": "it reads every file of library/, and library/tests/test_data.py changed"}
    changed = ["library/pyproject.toml", "library/dlblocks/torch.py", "library/tests/test_package.py"]
    assert affected.plan_unmapped(changed, ROOT, affected.named_files(ROOT, changed)) == {}
    assert "library/tests/test_package.py" in affected.plan_tests(ROOT, ["library/pyproject.toml"])


def test_files_no_rule_maps_are_listed_for_the_whole_suite():
    # a file no test names: made here, since a string of this module that named it would name it
    nowhere = f"{uuid.uuid4().hex}/{uuid.uuid4().hex}.txt"
    changed = [nowhere, "conftest.py", "pytest.ini", "tabs/pytorch/requirements.txt",
               "tabs/pytorch/requirements.in", "notebooks/devices.md", "notebooks/devices.claims.yml",
               "notebooks/devices.claims.record", "notebooks/toc.yml", "tabs/mxnet/devices.ipynb", "tabbook/cli.py",
               "tests/test_cli.py", "tests/new-data.txt", affected.SANITIZE, "build.py", "README.md"]
    unmapped = affected.plan_unmapped(changed, ROOT, affected.named_files(ROOT, changed))
    # build.py, README.md and tests/sanitize.cfg are named by the tests that read them (below)
    assert unmapped == {nowhere: "no rule maps it to tests, and no test names it"}


def test_a_test_whose_import_has_no_file_is_planned_and_says_so(tmp_path):
    """A module renamed or deleted: the tests that import it, directly or not, fail at that
    import, so they run (before, the import graph dropped the import and nothing ran)."""
    files = {
        "tabbook/__init__.py": "NAME = 'x'\n",
        "tabbook/kept.py": "from . import renamed\n",
        "tabbook/whole.py": "import tabbook.gone\n",
        "tests/__init__.py": "",
        "tests/test_direct.py": "from tabbook.renamed import f\n",
        "tests/test_through.py": "from tabbook import kept\n",
        "tests/test_attribute.py": "from tabbook import NAME\nfrom tabbook.kept import renamed\n",
        "tests/test_fine.py": "import os\n",
    }
    graph = graph_of(tmp_path, files)
    assert affected.missing_modules(graph) == {"tabbook.renamed", "tabbook.gone"}
    assert graph["tabbook.kept"] == {"tabbook", "tabbook.renamed"}
    assert "tabbook.renamed" in graph["tests.test_direct"]
    planned = affected.plan_tests(tmp_path, [])  # nothing changed: the broken imports still run
    assert planned["tests/test_direct.py"] == ("it imports tabbook.renamed, which has no file (renamed or deleted): "
                                              "it fails at that import until the import is fixed")
    assert planned["tests/test_through.py"].startswith("it imports tabbook.renamed (through tabbook.kept), which has no")
    # `from tabbook.kept import renamed` reaches tabbook.kept, which imports the missing module
    assert "tests/test_attribute.py" in planned and "tests/test_fine.py" not in planned


def test_a_name_bound_in_a_packages_init_is_not_a_missing_module(tmp_path):
    graph = graph_of(tmp_path, {
        "tabbook/__init__.py": "from .a import helper\nif True:\n    FLAG = 1\ntry:\n    import numpy as np\n"
                               "except ImportError:\n    np = None\n",
        "tabbook/a.py": "def helper():\n    pass\n",
        "tests/test_x.py": "from tabbook import helper, FLAG, np, a\nfrom tabbook import deleted\n",
        "tests/test_star.py": "from tabbook.sub import anything\n",
        "tabbook/sub/__init__.py": "from os.path import *\n",
    })
    assert affected.missing_modules(graph) == {"tabbook.deleted"}


def test_a_change_of_a_test_helper_that_is_not_a_test_module_plans_the_tests_that_use_it():
    every = affected._test_files(affected.import_graph(ROOT))
    for path in ("conftest.py", "pytest.ini"):
        planned = affected.plan_tests(ROOT, [path])
        assert sorted(planned) == every, path
        assert planned["tests/test_toc.py"].startswith(f"{path} changed: ")
    sanitize = affected.plan_tests(ROOT, [affected.SANITIZE])
    by_file_name = 'it names "sanitize.cfg", the file name of tests/sanitize.cfg, which changed'
    assert sanitize == {"tests/test_cell_processes.py": by_file_name, "tests/test_readme.py": by_file_name}
    helper = affected.plan_tests(ROOT, ["tests/project.py"])
    assert helper["tests/test_signals.py"] == "it imports tests.project"
    data = f"tests/{uuid.uuid4().hex}.bin"  # made here: a string of this module that named it would name it
    unknown = affected.plan_tests(ROOT, [data])
    assert sorted(unknown) == every
    assert unknown["tests/test_toc.py"] == (f"{data} changed and no test names it, so which tests "
                                           "read it cannot be known: every test module")
    assert "tests/test_readme.py" in affected.plan_tests(ROOT, ["README.md"])


def test_a_conftest_with_hooks_or_autouse_fixtures_plans_every_test(tmp_path):
    graph_of(tmp_path, {"tests/conftest.py": "import pytest\n@pytest.fixture\ndef thing():\n    pass\n",
                        "tests/test_a.py": "def test_a(thing):\n    pass\n",
                        "tests/test_b.py": "def test_b():\n    pass\n"})
    assert sorted(affected.plan_tests(tmp_path, ["tests/conftest.py"])) == ["tests/test_a.py"]
    (tmp_path / "tests" / "conftest.py").write_text("import pytest\n@pytest.fixture(autouse=True)\ndef thing():\n"
                                                    "    pass\n")
    assert sorted(affected.plan_tests(tmp_path, ["tests/conftest.py"])) == ["tests/test_a.py", "tests/test_b.py"]


def test_a_chapter_change_plans_the_tests_that_read_the_real_book():
    planned = affected.plan_tests(ROOT, ["notebooks/custom-layers.md"], {"custom-layers"})
    # the tests of test_book.py over the real book (its `site`), not those over books they make:
    book = "tests/test_book.py::test_clicking_a_framework_switches_every_group"
    assert planned[book] == "it opens the page of custom-layers, which changed (the module's tests that read the book)"
    whole = "tests/test_book.py::test_each_pdf_holds_its_framework_code_only"
    assert planned[whole] == ("it reads the real book's chapters and notebooks, and custom-layers changed "
                              "(the module's tests that read the book)")
    assert "tests/test_book.py::test_a_group_without_a_framework_shows_a_note" not in planned
    # the tests over a book they make with made-up outputs (hostile_site: f"{ROOT}/secret.txt" is text)
    assert "tests/test_book.py::test_an_injected_script_does_not_run_and_fetches_nothing" not in planned
    assert "tests/test_book.py" not in planned
    assert "tests/test_standalone.py::test_the_install_cell_pins_exactly_the_imported_packages_at_the_lock" in planned
    assert "tests/test_parity.py" not in planned  # it reads File I/O only
    assert "tests/test_parity.py" in affected.plan_tests(ROOT, ["tabs/mxnet/file-io.ipynb"], {"file-io"})
    assert book in affected.plan_tests(ROOT, ["notebooks/toc.yml"], {"*"})
    assert affected.browser_tests(ROOT, [book]) == [book]
    graph = affected.import_graph(ROOT)
    for path, chapters in affected.BOOK_READERS.items():  # each names the chapter it reads, or a module it imports does
        modules = [affected.module_name(path), *graph[affected.module_name(path)]]
        text = "".join((ROOT / (name.replace(".", "/") + ".py")).read_text() for name in modules
                       if (ROOT / (name.replace(".", "/") + ".py")).is_file())
        for chapter in chapters or ():
            assert (ROOT / "notebooks" / f"{chapter}.md").is_file() and chapter in text, (path, chapter)


def test_requirements_files_are_named_for_what_they_are_and_plan_the_tests_that_check_them():
    planned = affected.plan_tests(ROOT, ["tabs/pytorch/requirements.in"])
    assert list(planned) == ["tests/test_environments.py"]
    assert "a lock's input (its direct pins" in planned["tests/test_environments.py"]
    assert "a lock" not in planned["tests/test_environments.py"].replace("a lock's input", "")
    lock = affected.plan_tests(ROOT, ["tabs/pytorch/requirements.txt"])
    assert sorted(lock) == ["tests/test_environments.py", "tests/test_installers.py"]
    assert lock["tests/test_installers.py"] == "tabs/pytorch/requirements.txt changed: a lock"


def test_only_the_tests_that_drive_chromium_ask_for_it():
    every = affected._test_files(affected.import_graph(ROOT))
    found = affected.browser_tests(ROOT, every)
    assert {"tests/test_book.py", "tests/test_book_security.py", "tests/test_reader_view.py",
            "tests/test_pdf.py"} <= set(found)  # test_pdf's `printed` fixture takes the real browser
    assert "tests/test_toc.py" not in found and "tests/test_chromium.py" not in found  # stand-ins only


def test_affected_asks_for_chromium_only_when_a_planned_test_drives_it(monkeypatch):
    from tabbook import chromium, cli

    asked, ran = [], []
    plan = affected.Plan("HEAD", [], {}, {}, [], [], {"tests/test_toc.py": "it changed"}, {})
    monkeypatch.setattr(affected, "make_plan", lambda *args: plan)
    monkeypatch.setattr(chromium, "ensure", lambda **kwargs: asked.append(True))
    monkeypatch.setattr(cli, "run_pytest", lambda arguments: ran.append(arguments) or 0)
    monkeypatch.setattr(cli.check_module, "problems", lambda folder: [])
    monkeypatch.setattr(cli.savedcode, "write_modules", lambda chapters, folder: [])
    args = cli._parser().parse_args(["affected"])
    assert cli.cmd_affected(args) == 0
    assert asked == [] and ran == [["tests/test_toc.py"]]
    plan.tests["tests/test_book.py"] = "it reads the real book"
    plan.browser = ["tests/test_book.py"]
    assert cli.cmd_affected(args) == 0
    assert asked == [True]


def test_a_test_that_reads_a_file_through_a_variable_is_planned_and_the_reason_is_true():
    """Red team 3, BAD 2: every string constant of a test module counts as a path it may read."""
    readme = affected.plan_tests(ROOT, ["README.md"])
    # test_book loops `for doc in ("README.md", "docs/the-book.md")` in its search-from-disk test
    assert readme["tests/test_book.py"] == "it names README.md, which changed"
    assert "tests/test_book.py" in affected.plan_tests(ROOT, ["docs/the-book.md"])
    picture = "docs/images/custom-layers.png"
    planned = affected.plan_tests(ROOT, [picture])
    # test_readme names it in a module-level constant, read as ROOT / PICTURE
    assert planned["tests/test_readme.py"] == f"it names {picture}, which changed"
    # test_book names only the file name (its screenshot ARTIFACTS / "custom-layers.png"): said so
    assert planned["tests/test_book.py"] == (f'it names "custom-layers.png", the file name of {picture}, '
                                             f"which changed")
    for path in ("README.md", picture):
        assert path not in affected.plan_unmapped([path], ROOT, affected.named_files(ROOT, [path]))


def test_a_folder_a_test_names_covers_the_files_under_it(tmp_path):
    graph_of(tmp_path, {"tests/test_glob.py": "from pathlib import Path\nROOT = Path('.')\nFOLDER = 'assets'\n\n\n"
                                              "def test_it():\n    for path in (ROOT / FOLDER).glob('*/*.txt'):\n"
                                              "        assert path.read_text()\n",
                        "tests/test_other.py": "def test_other():\n    assert 'assetsx'\n"})
    planned = affected.plan_tests(tmp_path, ["assets/a/b.txt"])
    assert planned == {"tests/test_glob.py": 'it names the folder "assets", which holds assets/a/b.txt, which changed'}
    changed = ["assets/a/b.txt"]
    assert affected.plan_unmapped(changed, tmp_path, affected.named_files(tmp_path, changed)) == {}


def test_a_notebook_change_plans_the_test_that_globs_every_executed_notebook():
    """test_book's check that no executed notebook holds a path of the build machine reads
    (ROOT / "tabs").glob(...): a notebook change must run it."""
    test = "tests/test_book.py::test_no_executed_notebook_holds_a_path_of_the_build_machine"
    assert test in affected.plan_tests(ROOT, ["tabs/pytorch/custom-layers.ipynb"], {"custom-layers"})
    assert test in affected.plan_tests(ROOT, ["notebooks/custom-gradients.md"], {"custom-gradients"})


def test_a_non_python_file_of_tabbook_does_not_plan_the_test_that_reads_its_python_files():
    """Red team 3, WEAK 6: test_pyast reads the .py files of tabbook/, not every file; and a file
    is planned or listed as not checked, never both."""
    changed = ["tabbook/notes.txt"]
    planned = affected.plan_tests(ROOT, changed)
    assert "tests/test_pyast.py" not in planned
    unmapped = affected.plan_unmapped(changed, ROOT, affected.named_files(ROOT, changed))
    assert bool(planned) != bool(unmapped), (planned, unmapped)
    assert affected.plan_tests(ROOT, ["tabbook/cli.py"])["tests/test_pyast.py"] == (
        "it reads every .py file of tabbook/, and tabbook/cli.py changed")


def test_a_file_name_with_a_newline_is_shown_quoted_on_one_line():
    name = "docs/a\nb.md"
    plan = affected.Plan("HEAD", [name], {}, {}, [], [], {}, {name: "no rule maps it to tests, and no test names it"})
    text = affected.describe(plan)
    assert "  'docs/a\\nb.md'" in text.splitlines()
    assert "  'docs/a\\nb.md': no rule maps it to tests, and no test names it" in text.splitlines()


def test_module_names():
    assert affected.module_name("tabbook/claims.py") == "tabbook.claims"
    assert affected.module_name("tabbook/saved/__init__.py") == "tabbook.saved"
    assert affected.module_name("tests/test_cli.py") == "tests.test_cli"
    assert affected.module_name("conftest.py") == "conftest"
    assert affected.module_name("bench/run.py") is None
    assert affected.module_name("tabbook/notes.md") is None


# --- the real command in a throwaway git checkout ----------------------------------------------

PROSE = "Some prose."


def git(root, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path):
    """A throwaway checkout, committed in git, of one chapter in four frameworks whose stored
    notebooks are its conversion with the execution key it has now (as if executed)."""
    if shutil.which("git") is None:
        pytest.fail("these tests need git")
    project = make_project(tmp_path)
    (project.root / ".gitignore").write_text("/.venv/\n/build/\n__pycache__/\n")
    (project.root / "notebooks" / "chap.md").write_text(chapter_text(*FOUR))
    store(project)
    git(project.root, "init", "-q")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(project.root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "book")
    return project


def store(project) -> None:
    """Write the chapter's notebooks under tabs/ as an execution would: its cells, its key."""
    chapter = read_chapter(project.root / "notebooks" / "chap.md")
    for name in NAMES:
        notebook = convert.to_notebook(chapter, name)
        notebook.metadata["dlblocks"]["execution_key"] = execute.execution_key(notebook, name)
        (project.tabs / name / "chap.ipynb").write_text(nbformat.writes(notebook))


def plan_output(project, *args: str) -> str:
    done = project.run("affected", "--plan", *args)
    assert done.returncode == 0, done.stdout
    assert "Traceback" not in done.stdout
    return done.stdout


def test_a_clean_checkout_affects_nothing(repo):
    out = plan_output(repo)
    assert "affected: 0 file(s) changed since HEAD" in out
    assert "notebooks to execute (if their key changed) and check with nbval: 0" in out
    assert "unit test modules to run: 0" in out


def test_an_edit_of_one_frameworks_cell_affects_that_framework_only_and_plan_runs_nothing(repo):
    source = repo.root / "notebooks" / "chap.md"
    source.write_text(source.read_text().replace("x = 2", "x = 22"))
    before = {path: path.read_bytes() for path in repo.tabs.rglob("*.ipynb")}
    out = plan_output(repo)
    line = next(number for number, text in enumerate(source.read_text().splitlines(), 1) if text == "x = 22") - 2
    assert f"  PyTorch: chap: the code cell at notebooks/chap.md:{line} changed\n" in out
    assert "notebooks to execute (if their key changed) and check with nbval: 1\n" in out
    assert "  notebooks/chap.md\n" in out
    assert {path: path.read_bytes() for path in repo.tabs.rglob("*.ipynb")} == before


def test_a_prose_edit_affects_every_framework_and_since_compares_with_an_older_commit(repo):
    source = repo.root / "notebooks" / "chap.md"
    source.write_text(source.read_text().replace(PROSE, "Other prose."))
    out = plan_output(repo)
    assert "notebooks to execute (if their key changed) and check with nbval: 4\n" in out
    assert all(f"  {title}: chap: the prose cell at notebooks/chap.md:" in out
               for title in ("MXNet", "PyTorch", "TensorFlow", "MindSpore"))
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "prose")
    assert "check with nbval: 4\n" in plan_output(repo)  # HEAD's notebooks are not its chapter's
    store(repo)
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "executed")
    assert "check with nbval: 0\n" in plan_output(repo)
    assert "check with nbval: 4\n" in plan_output(repo, "--since", "HEAD~2")


def test_a_stored_notebook_executed_with_another_key_is_affected(repo):
    stored = repo.tabs / "tensorflow" / "chap.ipynb"
    notebook = nbformat.reads(stored.read_text(), as_version=4)
    notebook.metadata["dlblocks"]["execution_key"] = "0" * 64
    stored.write_text(nbformat.writes(notebook))
    git(repo.root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "old key")
    out = plan_output(repo)
    assert "  TensorFlow: chap: tabs/tensorflow/chap.ipynb was executed with another lock or notebook helpers\n" in out


def test_an_unknown_ref_and_a_folder_outside_git_are_clear_errors(repo, tmp_path):
    done = repo.run("affected", "--since", "no-such-branch")
    assert done.returncode == 1 and "Traceback" not in done.stdout
    assert "error: --since no-such-branch: git knows no commit by that name" in done.stdout
    shutil.rmtree(repo.root / ".git")
    done = repo.run("affected", "--plan")
    assert done.returncode == 1 and "Traceback" not in done.stdout
    assert "is not a git checkout" in done.stdout and "python3 build.py test" in done.stdout


def test_the_graph_of_this_checkout_parses_every_module():
    graph = affected.import_graph(ROOT)
    assert "tabbook.affected" in graph and "tests.test_affected" in graph
    assert "tabbook.affected" in graph["tests.test_affected"]


def test_the_one_pytest_run_spreads_whole_files_and_notebooks_over_its_workers():
    from tabbook import cli

    four = [("custom-gradients", name) for name in NAMES]
    notebooks = [f"tabs/{name}/custom-gradients.ipynb" for name in NAMES]
    assert cli.pytest_arguments(["tests/test_toc.py"], four, 2) == [
        "-n", "2", "--dist", "loadfile", "tests/test_toc.py", *notebooks]
    assert cli.pytest_arguments(["tests/test_toc.py"], [], 2) == ["tests/test_toc.py"], "one file: no workers"
    assert cli.pytest_arguments([], four, 1) == notebooks
    assert cli.pytest_arguments([], [], 2) == []


# --- red team: the real command, for what the plan missed ----------------------------------------

def commit(root, message: str) -> None:
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", message)


def test_a_renamed_module_plans_the_tests_importing_its_old_name_and_fails_the_run(repo):
    (repo.root / "tests").mkdir()
    (repo.root / "tests" / "__init__.py").write_text("")
    (repo.root / "tabbook" / "helper_x.py").write_text("VALUE = 1\n")
    (repo.root / "tests" / "test_uses.py").write_text("from tabbook.helper_x import VALUE\n\n\ndef test_it():\n"
                                                      "    assert VALUE == 1\n")
    commit(repo.root, "helper")
    git(repo.root, "mv", "tabbook/helper_x.py", "tabbook/helper_y.py")
    out = plan_output(repo)
    assert ("  tests/test_uses.py: it imports tabbook.helper_x, which has no file (renamed or deleted): it fails at "
            "that import until the import is fixed\n") in out
    assert "unit test modules to run: 1 (none drives Chromium)\n" in out
    (repo.root / "tabbook" / "user.py").write_text("from . import helper_x\n")  # imported by no test
    out = plan_output(repo)
    assert ("imports of modules that have no file (fail): 2\n  tabbook/user.py imports tabbook.helper_x, which has "
            "no file (renamed or deleted): fix the import\n  tests/test_uses.py imports tabbook.helper_x") in out
    done = repo.run("affected", timeout=300)
    assert done.returncode == 1 and "Traceback (most recent call last):\n  File \"/" not in done.stdout.split(
        "pytest")[0], done.stdout
    assert "tabbook/user.py imports tabbook.helper_x, which has no file" in done.stdout.split("unit test modules")[1]
    assert "3 problem(s) above, pytest exited 2" in done.stdout  # pytest: an error collecting tests/test_uses.py
    assert "ModuleNotFoundError: No module named 'tabbook.helper_x'" in done.stdout  # the test failed visibly


def test_a_chapter_edit_plans_the_real_books_test_and_a_root_conftest_every_notebook(repo):
    (repo.root / "tests").mkdir()
    (repo.root / "tests" / "test_book.py").write_text("from tabbook.frameworks import NOTEBOOKS\n\n\n"
                                                      "def test_book():\n    assert NOTEBOOKS\n\n\n"
                                                      "def test_other():\n    pass\n")
    (repo.root / "conftest.py").write_text("# nbval's settings\n")
    commit(repo.root, "tests")
    source = repo.root / "notebooks" / "chap.md"
    source.write_text(source.read_text().replace(PROSE, "Other prose."))
    out = plan_output(repo)
    assert ("  tests/test_book.py, 1 of its tests (test_book): it reads the real book's chapters and notebooks, "
            "and chap changed (the module's tests that read the book)\n") in out
    assert "test_other" not in out
    git(repo.root, "checkout", "notebooks/chap.md")
    (repo.root / "conftest.py").write_text("# nbval's settings, changed\n")
    out = plan_output(repo)
    assert "check with nbval: 4\n" in out
    assert "  MXNet: chap: conftest.py changed: nbval compares every notebook through it\n" in out
    assert ("  tests/test_book.py: conftest.py changed: pytest loads it for every test, and nbval runs every "
            "notebook through it\n") in out
    assert "not checked by this run" not in out


def test_a_blank_line_edit_brings_metadata_up_to_date_without_executing_so_check_passes(repo):
    source = repo.root / "notebooks" / "chap.md"
    assert repo.run("convert").returncode == 0  # the saved modules of the copied tabbook/ are the book's
    for path in repo.tabs.rglob("*.ipynb"):  # as if executed: check wants every code cell run
        notebook = nbformat.reads(path.read_text(), as_version=4)
        for number, cell in enumerate(notebook.cells, 1):
            if cell.cell_type == "code":
                cell.execution_count = number
        notebook.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
        provenance.record(notebook, path.parent.name, provenance.today())  # and the executor's line
        path.write_text(nbformat.writes(provenance.with_line(notebook)))
    commit(repo.root, "executed")
    assert repo.run("check").returncode == 0, repo.run("check").stdout
    text = source.read_text()
    source.write_text(text.replace("\n```{code-cell}\n:tags: [mxnet]", "\n\n```{code-cell}\n:tags: [mxnet]"))
    assert source.read_text() != text
    assert repo.run("check").returncode == 1  # the notebooks' source lines moved
    out = plan_output(repo)
    assert "check with nbval: 0\n" in out
    assert "brought up to date as convert and execute would, without executing: 4\n" in out
    assert "  PyTorch: chap: the metadata of " in out and "(a cell's source line moved)\n" in out
    keys = {path: nbformat.reads(path.read_text(), as_version=4).metadata["dlblocks"]["execution_key"]
            for path in repo.tabs.rglob("*.ipynb")}
    done = repo.run("affected", timeout=300)
    assert done.returncode == 0, done.stdout
    assert "executed in" not in done.stdout and "brought the metadata of" in done.stdout
    assert repo.run("check").returncode == 0
    assert {path: nbformat.reads(path.read_text(), as_version=4).metadata["dlblocks"]["execution_key"]
            for path in repo.tabs.rglob("*.ipynb")} == keys


def test_git_refusing_the_checkout_is_reported_in_gits_words_with_the_fix(repo, tmp_path):
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "git").write_text(
        "#!/bin/sh\necho \"fatal: detected dubious ownership in repository at '$2'\" >&2\n"
        "echo \"To add an exception for this directory, call:\" >&2\n"
        "echo \"\tgit config --global --add safe.directory $2\" >&2\nexit 128\n")
    (fake / "git").chmod(0o755)
    done = repo.run("affected", "--plan", env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert done.returncode == 1 and "Traceback" not in done.stdout
    assert "not a git checkout" not in done.stdout
    assert "git says:\n  fatal: detected dubious ownership in repository at" in done.stdout
    assert f"git config --global --add safe.directory {repo.root}" in done.stdout


def test_a_chapter_edit_that_keeps_the_outline_runs_the_whole_book_tests_and_its_pages_only():
    """Issue 23's author's loop: of test_book.py's tests over the real book, a prose or code edit of
    Custom Gradients runs those that read the whole book (the PDFs, the search, every page), and
    none that opens only other chapters' pages; a changed heading (or toc.yml) runs every one."""
    edit = affected.plan_tests(ROOT, ["notebooks/custom-gradients.md"], {"custom-gradients"})
    for test in ("test_each_pdf_holds_its_framework_code_only", "test_search_finds_a_word_of_the_chapter_with_excerpts_over_http",
                 "test_every_page_has_the_policy_first_and_no_inline_script",
                 "test_the_choice_follows_through_the_chapters_in_toc_order_and_survives_a_reload"):
        assert f"tests/test_book.py::{test}" in edit, test
    for test in ("test_clicking_a_framework_switches_every_group", "test_mathjax_only_on_pages_with_math",
                 "test_screenshots_at_desktop_and_phone_widths"):  # custom-layers, index; training-on-mnist
        assert f"tests/test_book.py::{test}" not in edit, test
    moved = affected.plan_tests(ROOT, ["notebooks/custom-gradients.md"], {"custom-gradients"},
                                moved=["notebooks/custom-gradients.md"])
    assert set(affected.book_tests(ROOT, "tests/test_book.py")) <= set(moved)
    assert moved["tests/test_book.py::test_mathjax_only_on_pages_with_math"] == (
        "it reads the real book's chapters and notebooks, and custom-gradients changed; notebooks/custom-gradients.md "
        "changed what every page shows (the module's tests that read the book)")
    assert "tests/test_parity.py" not in moved and "tests/test_bench.py" not in moved  # they read one other chapter
    mnist = affected.plan_tests(ROOT, ["notebooks/training-on-mnist.md"], {"training-on-mnist"})
    assert mnist["tests/test_book.py::test_screenshots_at_desktop_and_phone_widths"] == (
        "it opens the page of training-on-mnist, which changed (the module's tests that read the book)")


def test_the_install_cell_test_runs_for_the_affected_notebooks_only():
    from tests import test_standalone

    test = "tests/test_standalone.py::test_the_install_cell_pins_exactly_the_imported_packages_at_the_lock"
    assert test in affected.PER_NOTEBOOK
    [mark] = [mark for mark in test_standalone.test_the_install_cell_pins_exactly_the_imported_packages_at_the_lock.pytestmark
              if mark.name == "parametrize"]
    ids = mark.kwargs["ids"]  # the ids plan_tests writes: <chapter>-<framework>, one per notebook
    assert "custom-gradients-pytorch" in ids and len(ids) == len(test_standalone.NOTEBOOK_CASES)
    planned = affected.plan_tests(ROOT, ["notebooks/custom-gradients.md"], {"custom-gradients"},
                                  {("custom-gradients", "pytorch"), ("custom-gradients", "mxnet")})
    assert sorted(node for node in planned if node.startswith(test)) == [
        f"{test}[custom-gradients-mxnet]", f"{test}[custom-gradients-pytorch]"]
    assert test in affected.plan_tests(ROOT, ["notebooks/custom-gradients.md"], {"custom-gradients"})  # none given


@pytest.mark.parametrize("before, after, same", [
    ("# T\n\nSome prose.\n", "# T\n\nOther prose.\n", True),
    ("# T\n\n```{code-cell}\n# a comment\nx = 1\n```\n", "# T\n\n```{code-cell}\n# another\nx = 1\n```\n", True),
    ("# T\n\n## A section\n", "# T\n\n## A section, renamed\n", False),
    ("# T\n", "# Title\n", False),
    ("# T\n\nx\n", "# T\n\nx\n\n### A subsection\n", False),
    ("---\ntabbook:\n  omit: {}\n---\n# T\n", "---\ntabbook:\n  omit: {mxnet: no}\n---\n# T\n", False),
    ("# T\n\nSee {ref}`x`.\n", "# T\n\nSee {ref}`x`, again.\n", False),  # a cross-reference: every word counts
])
def test_a_chapters_outline_is_its_front_matter_and_headings(before, after, same):
    assert (affected.outline(before) == affected.outline(after)) is same
    assert affected.outline(None) != affected.outline(before)


def scopes_of(tmp_path, body: str) -> dict:
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    (tmp_path / "notebooks" / "alpha.md").write_text("# Alpha\n")
    (tmp_path / "notebooks" / "beta.md").write_text("# Beta\n")
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test_book.py").write_text(
        "import pytest\nfrom tabbook.source import find_chapters\nfrom tabbook.frameworks import NOTEBOOKS\n\n\n"
        "@pytest.fixture(scope='session')\ndef site():\n    chapters = find_chapters(NOTEBOOKS)\n    yield 'url', 'folder'\n\n\n"
        + body)
    return affected.page_scopes(tmp_path, "tests/test_book.py")


@pytest.mark.parametrize("body, scope", [
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html')\n", {"alpha"}),
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html?framework=mxnet')\n"
     "    page.locator('.sd-tab-set').get_by_text('PyTorch').click()\n", {"alpha"}),
    ("@pytest.mark.parametrize('name', ['index', 'beta'])\ndef test_x(site, page, name):\n    base, _ = site\n"
     "    page.goto(f'{base}/{name}.html')\n", {"index", "beta"}),
    # a link clicked, a file of the built book read, a fetch, a search page, script that navigates, the chapters
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html')\n"
     "    page.locator('a.right-next').click()\n", None),
    ("def test_x(site, page):\n    _, html = site\n    page.goto((html / 'alpha.html').as_uri())\n", None),
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html')\n    page.request.get(base)\n", None),
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/search.html?q=x')\n", None),
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html')\n"
     "    page.evaluate('() => location.assign(\"beta.html\")')\n", None),
    ("def test_x(site, page):\n    base, _ = site\n    page.goto(f'{base}/alpha.html')\n    find_chapters(NOTEBOOKS)\n", None),
    ("def open_it(page, base):\n    page.goto(base + '/alpha.html')\n\n\ndef test_x(site, page):\n    base, _ = site\n"
     "    open_it(page, base)\n", None),  # an address that is not f'{base}/<page>.html'
    ("def test_x(site, page):\n    base, _ = site\n", None),  # no page opened: what it reads is not known
])
def test_a_book_test_reads_the_pages_it_opens_and_nothing_else_or_else_the_whole_book(tmp_path, body, scope):
    assert scopes_of(tmp_path, body) == {"test_x": None if scope is None else frozenset(scope)}


def test_the_tests_that_read_no_mutation_record_run_beside_the_mutations(monkeypatch):
    """Issue 23: after a code edit the stale mutations take most of the loop; the planned tests
    and nbval start beside them when no planned test can read a record they rewrite."""
    from tabbook import claimrecords, cli

    assert affected.runs_beside_mutations(ROOT, ["tests/test_book.py::test_each_pdf_holds_its_framework_code_only",
                                                 "tests/test_standalone.py"])
    for reader in ("tests/test_claims.py", "tests/test_check.py", "tests/test_cli.py"):  # records, or the command line
        assert not affected.runs_beside_mutations(ROOT, ["tests/test_standalone.py", reader]), reader
    order = []
    chapter = read_chapter(ROOT / "notebooks" / "custom-gradients.md")
    mutation = type("Mutation", (), {"claim": "a claim"})()
    due = {"custom-gradients": [claimrecords.Due(mutation, "pytorch", "key", "stale")]}
    plan = affected.Plan("HEAD", [], {}, due, [], [], {"tests/test_standalone.py": "it changed"}, {})
    monkeypatch.setattr(affected, "make_plan", lambda *args: plan)
    monkeypatch.setattr(cli, "start_pytest", lambda arguments: order.append(("start", arguments)) or "started")
    monkeypatch.setattr(cli, "finish_pytest", lambda run: order.append(("finish", run)) or 0)
    monkeypatch.setattr(cli, "run_pytest", lambda arguments: order.append(("run", arguments)) or 0)
    monkeypatch.setattr(cli, "run_mutations", lambda *args: order.append(("mutations", args[0].name)) or [])
    monkeypatch.setattr(cli.claims_module, "load_claims", lambda chapter: None)
    monkeypatch.setattr(cli.claims_module, "coverage_table", lambda coverages: "")
    monkeypatch.setattr(cli.check_module, "problems", lambda folder: order.append(("check",)) or [])
    monkeypatch.setattr(cli.savedcode, "write_modules", lambda chapters, folder: [])
    monkeypatch.setattr(cli.envs, "is_ready", lambda framework: True)
    args = cli._parser().parse_args(["affected"])
    assert cli.cmd_affected(args) == 0
    assert order == [("start", ["tests/test_standalone.py"]), ("mutations", chapter.name), ("check",), ("finish", "started")]
    order.clear()
    plan.tests = {"tests/test_claims.py": "it reads the records"}
    assert cli.cmd_affected(args) == 0
    assert order == [("mutations", chapter.name), ("check",), ("run", ["tests/test_claims.py"])]


@pytest.mark.parametrize("changed, every", [(["tabs/pytorch/requirements.txt"], True), (["notebooks/toc.yml"], True),
                                            (["tabs/pytorch/custom-gradients.ipynb"], False)])
def test_a_lock_or_the_toc_runs_every_test_of_the_book_pages(monkeypatch, changed, every):
    """The front page shows each framework's pins from its lock, and every page the table of
    contents: a change of either is a change of every page (plan_tests gets "*", or the lock as
    a file that changed what every page shows)."""
    asked, plan_tests = [], affected.plan_tests
    monkeypatch.setattr(affected, "changed_files", lambda root, base: changed)
    monkeypatch.setattr(affected, "plan_notebooks", lambda *args: {})
    monkeypatch.setattr(affected, "plan_mutations", lambda chapters: ({}, []))
    monkeypatch.setattr(affected, "saved_changes", lambda chapters, root: {})
    monkeypatch.setattr(affected, "plan_tests", lambda root, changed, read, notebooks, moved: asked.append((read, moved)) or {})
    affected.make_plan([], ROOT)
    read, moved = asked[0]
    assert ("*" in read or bool(moved)) is every
    planned = plan_tests(ROOT, ["tabs/pytorch/requirements.txt"], {"custom-layers"}, moved=["tabs/pytorch/requirements.txt"])
    assert "tests/test_book.py::test_mathjax_only_on_pages_with_math" in planned  # it opens the front page
