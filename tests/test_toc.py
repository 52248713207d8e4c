"""The table of contents (notebooks/toc.yml): the order every command follows, and its errors."""
from __future__ import annotations

import pytest

from tabbook import check, toc
from tabbook.cli import main
from tabbook.errors import SourceError
from tabbook.frameworks import NOTEBOOKS
from tabbook.source import find_chapters

CHAPTER = "# {title}\n\n```{{code-cell}}\n:tags: [all]\nprint(1)\n```\n"


def make(folder, names, toc_text=None):
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / f"{name}.md").write_text(CHAPTER.format(title=name))
    if toc_text is not None:
        (folder / "toc.yml").write_text(toc_text)
    return folder


def test_the_book_lists_its_chapters_in_the_order_of_its_toc():
    parts = toc.read_parts(NOTEBOOKS)
    assert [part.caption for part in parts] == ["Builders' Guide"]
    assert parts[0].chapters[0] == "layers-and-modules"
    assert [path.stem for path in find_chapters(NOTEBOOKS)] == list(parts[0].chapters)


def test_chapters_follow_the_toc_not_their_names(tmp_path):
    folder = make(tmp_path / "nb", ["a", "b", "c"],
                  "parts:\n  - caption: One\n    chapters: [c, a]\n  - caption: Two\n    chapters: [b]\n")
    assert [path.stem for path in find_chapters(folder)] == ["c", "a", "b"]
    assert toc.parts_of(["a", "b", "c"], folder) == [toc.Part("One", ("c", "a")), toc.Part("Two", ("b",))]
    assert toc.parts_of(["b"], folder) == [toc.Part("Two", ("b",))]


def test_without_a_toc_chapters_are_sorted_by_path(tmp_path):
    folder = make(tmp_path / "nb", ["b", "a"])
    assert [path.stem for path in find_chapters(folder)] == ["a", "b"]
    assert toc.parts_of(["a", "b"], folder) == [toc.Part("Chapters", ("a", "b"))]


@pytest.mark.parametrize("toc_text, where, message", [
    ("parts:\n  - caption: One\n    chapters: [a]\n", "b.md", "is not in the table of contents"),
    ("parts:\n  - caption: One\n    chapters:\n      - a\n      - b\n      - gone\n", "toc.yml:6",
     "lists chapter 'gone', but there is no gone.md"),
    ("parts:\n  - caption: One\n    chapters:\n      - a\n      - b\n      - a\n", "toc.yml:6",
     "chapter 'a' is listed twice (first at line 4)"),
    ("parts:\n  - caption: One\n    chapters: [a, b\n", "toc.yml:4", "is not valid YAML"),
    ("parts: a\n", "toc.yml:1", "'parts' must be a list of parts"),
    ("parts:\n  - chapters: [a, b]\n", "toc.yml:2", "a part needs a 'caption'"),
    ("parts:\n  - caption: One\n    chapters: []\n", "toc.yml:3", "'chapters' must be a list of chapter names"),
    ("parts:\n  - caption: One\n    chapters: [a, [b]]\n", "toc.yml:3", "a chapter name must be a plain string"),
    ("- a\n- b\n", "toc.yml:1", "expected a mapping with 'parts'"),
])
def test_a_toc_that_disagrees_with_the_chapters_is_an_error_at_its_line(tmp_path, toc_text, where, message):
    folder = make(tmp_path / "nb", ["a", "b"], toc_text)
    with pytest.raises(SourceError) as raised:
        find_chapters(folder)
    assert f"{where}" in str(raised.value) and message in str(raised.value)
    assert check.problems(folder) == [str(raised.value)]


def test_check_and_every_command_fail_on_a_chapter_missing_from_the_toc(tmp_path, monkeypatch, capsys):
    from tabbook import cli
    folder = make(tmp_path / "nb", ["a", "b"], "parts:\n  - caption: One\n    chapters: [a]\n")
    monkeypatch.setattr(cli, "NOTEBOOKS", folder)
    for command in (["check"], ["convert"]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "b.md: is not in the table of contents" in err and "Traceback" not in err


@pytest.mark.parametrize("toc_text, where, message", [
    ("parts:\n  - caption: One\n    chapters: [a, b, ghost]\n", "toc.yml:3", "lists chapter 'ghost'"),
    ("parts:\n  - caption: One\n    chapters:\n      - A\n      - b\n", "toc.yml:4",
     "lists chapter 'A', but the chapter is a.md (names are case-sensitive)"),
    ('parts:\n  - caption: "One\\nTwo"\n    chapters: [a, b]\n', "toc.yml:2", "a caption is one line"),
])
def test_more_toc_mistakes_are_errors_at_their_line(tmp_path, toc_text, where, message):
    folder = make(tmp_path / "nb", ["a", "b"], toc_text)
    with pytest.raises(SourceError) as raised:
        find_chapters(folder)
    assert where in str(raised.value) and message in str(raised.value), str(raised.value)


def test_a_dangling_toc_link_is_an_error_not_a_missing_toc(tmp_path):
    folder = make(tmp_path / "nb", ["a", "b"])
    (folder / "toc.yml").symlink_to(tmp_path / "nowhere.yml")
    with pytest.raises(SourceError, match="toc.yml: cannot be read"):
        find_chapters(folder)
