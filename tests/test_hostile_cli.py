"""Hostile input round three (issue 24), the command line and the table of contents: a message
for every mistake, never a traceback, and no silent guess.

- ``build.py test -k x`` hands its arguments to pytest in the order given;
- ``--jobs 0`` (execute, the main job) and ``claims -j 0`` are rejected as ``--timeout 0`` is;
- an unwritable ``build/`` (a read-only checkout, or a file named build) is a message;
- ``claims`` with a claims file whose chapter is missing says what ``check`` says;
- ``toc.yml`` nested hundreds deep, or with a key twice, is an error at its file and line.
"""
from __future__ import annotations

import pytest

from tabbook import cli, toc
from tabbook.errors import SourceError

from .test_hostile_source import GOOD, layout, run, write


@pytest.fixture
def repo(tmp_path):
    with layout(tmp_path) as folders:
        yield folders


@pytest.mark.parametrize("argv, expected", [
    (["test", "-k", "data"], ["-k", "data"]),
    (["test", "tests/test_toc.py", "-k", "toc and not order", "-x"], ["tests/test_toc.py", "-k", "toc and not order", "-x"]),
    (["test", "--", "-k", "x"], ["-k", "x"]),
    (["test", "-q", "--shard", "1/3", "-p", "no:randomly"], ["-q", "--shard", "1/3", "-p", "no:randomly"]),
    (["test"], []),
    (["--timeout", "30", "test", "-k", "x"], ["-k", "x"]),
])
def test_pytest_gets_the_arguments_after_test_in_their_order(monkeypatch, argv, expected):
    seen = []
    monkeypatch.setattr(cli, "cmd_test", lambda args: seen.append(args.pytest_args) or 0)
    assert cli.main(argv) == 0
    assert seen == [expected]


def test_a_chapter_named_test_is_not_the_test_step(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "cmd_all", lambda args: seen.append(args.chapters) or 0)
    assert cli.main(["all", "test"]) == 0
    assert seen == [["test"]]


@pytest.mark.parametrize("argv", [["execute", "--jobs", "0"], ["execute", "-j", "-1"], ["--jobs", "0"],
                                  ["claims", "-j", "0"], ["all", "-j", "x"]])
def test_jobs_below_one_are_rejected_as_a_timeout_of_zero_is(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument -j/--jobs: " in err and ("is not at least 1" in err or "is not a whole number" in err), err


@pytest.mark.parametrize("damage", ["a file named build", "a read-only build"])
def test_an_unwritable_build_folder_is_a_message(monkeypatch, tmp_path, capsys, damage):
    build = tmp_path / "build"
    if damage == "a file named build":
        build.write_text("not a folder")
    else:
        build.mkdir()
        build.chmod(0o555)
    monkeypatch.setattr(cli, "WRITER_LOCK", build / ".writer.lock")
    ran = []
    monkeypatch.setattr(cli, "cmd_html", lambda args: ran.append(True) or 0)
    try:
        code, err = run(capsys, "html")
    finally:
        if build.is_dir():
            build.chmod(0o755)
    if damage == "a read-only build" and ran:
        pytest.skip("this user writes into a read-only folder (root): nothing to report")
    assert code == 1 and not ran
    assert err.startswith(f"error: {build / '.writer.lock'}: cannot create the lock that keeps two builds"), err
    assert "build/ must be a folder this user can write" in err


def test_claims_names_a_claims_file_without_its_chapter_as_check_does(repo, capsys):
    chapters, _ = repo
    write(chapters, "c.md", GOOD)
    stray = write(chapters, "gone.claims.yml", "mutations: []\n")
    expected = (f"{stray}: no chapter gone.md beside it, so its mutations never run; rename it after its "
                "chapter, or delete it")
    code, err = run(capsys, "check")
    assert code == 1 and expected in err
    for argv in (["claims"], ["claims", "c"], ["claims", "gone"]):
        code, err = run(capsys, *argv)
        assert code == 1 and err == f"error: {expected}\n", (argv, err)


@pytest.mark.parametrize("text, line, message", [
    ("parts:\n" + "- " * 400 + "x\n", 2, "expected a mapping with 'caption'"),
    ("parts:\n" + "[" * 3000 + "]" * 3000 + "\n", None, None),
    ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", None, "is nested too deeply to read"),
    ("parts:\n  - caption: A\n    chapters: [a]\nparts:\n  - caption: B\n    chapters: [b]\n", 4,
     "the key 'parts' appears twice in one mapping (first at line 1)"),
    ("parts:\n  - caption: A\n    caption: B\n    chapters: [a]\n", 3,
     "the key 'caption' appears twice in one mapping (first at line 2)"),
], ids=["dashes", "brackets", "braces", "parts-twice", "caption-twice"])
def test_a_deep_or_ambiguous_toc_is_an_error_at_its_line(tmp_path, capsys, text, line, message):
    folder = tmp_path / "nb"
    folder.mkdir()
    (folder / "a.md").write_text(GOOD)
    (folder / "toc.yml").write_text(text)
    with pytest.raises(SourceError) as caught:
        toc.read_parts(folder)
    assert caught.value.line == line or line is None
    if message:
        assert message in caught.value.message
