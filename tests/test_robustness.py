"""Bad input and failures through the command line: precise errors, non-zero exits, nothing lost."""
from __future__ import annotations

import hashlib
import os
import shutil
import stat

import pytest

from tabbook import cli, envs, frameworks
from tabbook.errors import BuildError
from tabbook.files import atomic_write_text
from tabbook.frameworks import NAMES, get

from .conftest import FOUR, FRONT, cell, chapter_text


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A private book: notebooks/ and tabs/ (with the real locks) in tmp_path, used by build.py."""
    chapters, tabs = tmp_path / "notebooks", tmp_path / "tabs"
    chapters.mkdir()
    for name in NAMES:
        (tabs / name).mkdir(parents=True)
        shutil.copy(frameworks.TABS / name / "requirements.txt", tabs / name)
        (tabs / name / "good.ipynb").write_text(f"a previously good {name} notebook")
    monkeypatch.setattr(frameworks, "TABS", tabs)
    monkeypatch.setattr(cli, "NOTEBOOKS", chapters)
    return chapters, tabs


def snapshot(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


BAD_SOURCES = {
    "unknown-tag": (chapter_text(cell("[pytroch]", "x = 1"), *FOUR), ":11: unknown tag 'pytroch'"),
    "undeclared-gap": (chapter_text(*FOUR[:3]), ":1: the chapter has no code for mindspore"),
    "untagged-code": (chapter_text("```{code-cell}\nx = 1\n```\n", *FOUR), ":11: this code cell names no framework"),
    "unclosed-fence": (chapter_text(*FOUR, "```{code-cell}\n:tags: [all]\n"), ":31: this code-cell directive is never closed"),
    "bad-front-matter": (chapter_text(*FOUR, front="---\na: [b\n---\n"), ":2: malformed front matter"),
    "bad-cell-metadata": (chapter_text(cell("[mxnet", "x = 1"), *FOUR), ":11: malformed cell metadata"),
    "empty": (FRONT, ":1: the chapter is empty"),
    "not-utf8": (chapter_text(*FOUR).encode() + b"\n\xff\n", ":31: the file is not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_SOURCES))
def test_a_bad_source_fails_with_its_place_and_changes_nothing(book, capsys, name):
    chapters, tabs = book
    text, expected = BAD_SOURCES[name]
    path = chapters / f"{name}.md"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(tabs)
    for step in (["execute"], ["convert"], ["check"]):
        assert cli.main(step) == 1
        assert f"{path}{expected}" in capsys.readouterr().err
    assert snapshot(tabs) == before


def test_a_failing_framework_does_not_stop_the_others(book, capsys):
    chapters, tabs = book
    front = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    tensorflow: kept short\n    mindspore: kept short\n", 1)
    (chapters / "good.md").write_text(chapter_text(
        cell("[mxnet]", "print('mxnet ran')"), cell("[pytorch]", "raise RuntimeError('broken layer')"), front=front))
    before = (tabs / "pytorch" / "good.ipynb").read_text()
    assert cli.main(["execute"]) == 1
    out, err = capsys.readouterr()
    assert f"pytorch: good: cell 3 (source {chapters}/good.md:20) raised an exception" in err  # after the requirements cell
    assert "RuntimeError: broken layer" in err
    assert "| good | MXNet | executed |" in out and "| good | PyTorch | failed |" in out
    assert "| good | TensorFlow | omitted: kept short | - | - |" in out
    assert "mxnet ran" in (tabs / "mxnet" / "good.ipynb").read_text()
    assert (tabs / "pytorch" / "good.ipynb").read_text() == before


def test_ctrl_c_during_a_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "chap.ipynb"
    target.write_text("old and good")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new but never finished")
    assert target.read_text() == "old and good"
    assert [p.name for p in tmp_path.iterdir()] == ["chap.ipynb"]


def test_a_missing_environment_says_how_to_create_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_ENVS", str(tmp_path))
    with pytest.raises(BuildError) as info:
        envs.check_env(get("pytorch"))
    assert str(info.value) == (f"pytorch: no environment for the current lock at {envs.env_dir(get('pytorch'))}; "
                               "create it with: python build.py env pytorch")


def test_a_broken_environment_says_how_to_recreate_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_ENVS", str(tmp_path))
    folder = envs.env_dir(get("mxnet"))
    (folder / "bin").mkdir(parents=True)
    (folder / envs.STAMP).write_text("{}")
    python = folder / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named mxnet' >&2\nexit 1\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(BuildError) as info:
        envs.check_env(get("mxnet"))
    assert str(info.value) == (f"mxnet: the environment {folder} is broken (ModuleNotFoundError: No module "
                               "named mxnet); recreate it with: python build.py env --force mxnet")


def test_the_book_refuses_notebooks_that_no_longer_match_their_source(book, tmp_path):
    from tabbook import book as book_module
    from tabbook.convert import to_notebook, write_notebook
    from tabbook.source import read_chapter

    chapters, tabs = book
    path = chapters / "chap.md"

    def executed_from(text):
        path.write_text(text)
        for name in NAMES:
            write_notebook(to_notebook(read_chapter(path), name), tabs / name / "chap.ipynb")

    # A shared paragraph added before the code: every notebook's cell indices are now off by one.
    executed_from(chapter_text(*FOUR))
    path.write_text(chapter_text(*FOUR).replace("Some prose.\n", "Some prose.\n\n+++\n\nA new paragraph.\n", 1))
    with pytest.raises(BuildError, match=r"tabs/mxnet/chap.ipynb no longer matches chap.md \(its cell from chapter "
                                         r"cell 2 differs\): execute it again with: python build.py execute chap"):
        book_module.write_sources([read_chapter(path)], tabs, tmp_path / "src")
    # A shorter source: the notebooks hold a cell the chapter no longer has.
    executed_from(chapter_text(*FOUR, cell("[all]", "z = 0")))
    path.write_text(chapter_text(*FOUR))
    with pytest.raises(BuildError, match=r"no longer matches chap.md \(its cell from chapter cell 6 differs\)"):
        book_module.write_sources([read_chapter(path)], tabs, tmp_path / "src")


def test_a_corrupt_lock_is_a_clear_error(book, capsys):
    chapters, tabs = book
    (chapters / "chap.md").write_text(chapter_text(*FOUR))
    (tabs / "pytorch" / "requirements.txt").write_bytes(b"\xff\xfe torch==\x00\x81")
    assert cli.main(["convert"]) == 1
    err = capsys.readouterr().err
    assert "tabs/pytorch/requirements.txt: cannot read the lock" in err
    assert "make it again with: python build.py lock pytorch" in err and "Traceback" not in err


@pytest.mark.parametrize("value", ["0", "-5", "ten"])
def test_a_timeout_below_one_second_is_a_usage_error(capsys, value):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["claims", "--run", "--timeout", value])
    assert stopped.value.code == 2 and "--timeout" in capsys.readouterr().err
