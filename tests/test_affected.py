"""``build.py affected``: what a change since a git commit affects (tabbook/affected.py).

The plan is static, so these tests run no kernel: the import graph on made-up modules and on this
checkout, the files no rule maps, and the real ``build.py affected --plan`` in a throwaway git
checkout whose chapter is edited in one framework's cell, then in its prose.
"""
from __future__ import annotations

import shutil
import subprocess

import nbformat
import pytest

from tabbook import affected, convert, execute
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
    assert "tests/test_data.py" not in planned  # tabbook.data imports nothing that changed
    assert planned["tests/test_pyast.py"] == "it reads every file of tabbook/, and tabbook/claimrecords.py changed"
    assert "tests/test_pyast.py" not in affected.plan_tests(ROOT, ["tests/test_toc.py"])
    browser = affected.plan_tests(ROOT, ["tests/conftest.py"])
    assert browser["tests/test_book.py"] == "it imports tests.conftest"
    assert affected.plan_tests(ROOT, ["docs/testing.md", "notebooks/devices.md"]) == {}


def test_files_no_rule_maps_are_listed_for_the_whole_suite():
    unmapped = affected.plan_unmapped(["docs/testing.md", "conftest.py", "tabs/pytorch/requirements.txt",
                                       "notebooks/devices.md", "notebooks/devices.claims.yml",
                                       "notebooks/devices.claims.record", "tabs/mxnet/devices.ipynb",
                                       "tabbook/cli.py", "tests/test_cli.py", affected.SANITIZE, "build.py"], ROOT)
    assert list(unmapped) == ["docs/testing.md", "conftest.py", "tabs/pytorch/requirements.txt", "build.py"]
    assert "nbval" in unmapped["conftest.py"]
    assert "environment tests" in unmapped["tabs/pytorch/requirements.txt"]


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
        notebook.metadata["tabbook"]["execution_key"] = execute.execution_key(notebook, name)
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
    notebook.metadata["tabbook"]["execution_key"] = "0" * 64
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


def test_the_pytest_runs_side_by_side_split_whole_notebooks_by_their_time_and_keep_unit_tests_in_the_first():
    from tabbook import cli

    four = [("custom-gradients", name) for name in NAMES]
    groups = cli.pytest_groups([], four, 2)
    assert len(groups) == 2 and sorted(sum(groups, [])) == sorted(f"tabs/{name}/custom-gradients.ipynb"
                                                                  for name in NAMES)
    assert cli.pytest_groups(["tests/test_toc.py"], four[:1], 2) == [["tests/test_toc.py"],
                                                                     ["tabs/mxnet/custom-gradients.ipynb"]]
    assert cli.pytest_groups(["tests/test_toc.py"], [], 2) == [["tests/test_toc.py"]]
    assert cli.pytest_groups(["tests/test_toc.py"], four, 1) == [["tests/test_toc.py",
                                                                  *(f"tabs/{n}/custom-gradients.ipynb" for n in NAMES)]]
