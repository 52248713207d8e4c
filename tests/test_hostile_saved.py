"""Hostile input round three (issue 24), saved code and outputs: no silent guess, and an error
where the mistake is.

- a chapter that uses saved code that only a later chapter saves: an error naming both places;
- saved code that imports a package its framework's lock does not pin: an error at the import's
  chapter line, and ``convert`` writes no saved module (nor notebook) before that passes;
- an output that ``html`` and ``check`` would refuse (image data that is not base64, an SVG that
  is not XML) is refused by ``execute`` already, at its cell's source line, and not stored.
"""
from __future__ import annotations

import pytest

from tabbook import savedcode
from tabbook.errors import SourceError
from tabbook.source import read_chapter

from .conftest import FOUR, cell, chapter_text
from .test_hostile_source import GOOD, layout, run, snapshot, stored_notebooks
from .test_saved import USE, write


@pytest.fixture
def repo(tmp_path):
    with layout(tmp_path) as folders:
        yield folders


def toc(folder, *names):
    (folder / "toc.yml").write_text("parts:\n  - caption: Part\n    chapters: [" + ", ".join(names) + "]\n")


def test_using_saved_code_that_only_a_later_chapter_saves_names_both_places(tmp_path):
    folder = tmp_path / "notebooks"
    write(folder, "a", cell("[pytorch]", USE.format(name="later")))
    write(folder, "b", cell("[pytorch, save]", "def later(x):\n    return x"))
    toc(folder, "a", "b")
    chapter = read_chapter(folder / "a.md")
    with pytest.raises(SourceError) as caught:
        savedcode.for_notebook(chapter, "pytorch")
    use_line = (folder / "a.md").read_text().splitlines().index("print(saved.later(3))") + 1
    defined = (folder / "b.md").read_text().splitlines().index("def later(x):") + 1
    assert caught.value.path == folder / "a.md" and caught.value.line == use_line
    assert f"b.md:{defined}, a later chapter of the book" in caught.value.message
    toc(folder, "b", "a")  # in the other order, the same chapters are fine
    savedcode._CACHE.clear()
    assert "def later" in savedcode.for_notebook(read_chapter(folder / "a.md"), "pytorch")["dlblocks.torch"]


def test_an_earlier_saved_definition_that_calls_a_later_one_is_named_too(tmp_path):
    folder = tmp_path / "notebooks"
    write(folder, "a", cell("[pytorch, save]", "def first(x):\n    return helper(x)"),
          cell("[pytorch]", USE.format(name="first")))
    write(folder, "b", cell("[pytorch, save]", "def helper(x):\n    return x"))
    toc(folder, "a", "b")
    with pytest.raises(SourceError) as caught:
        savedcode.for_notebook(read_chapter(folder / "a.md"), "pytorch")
    assert "b.md:" in caught.value.message and "a later chapter" in caught.value.message


def test_a_saved_import_of_an_unpinned_package_is_an_error_at_its_line_and_writes_nothing(repo, capsys):
    chapters, tabs = repo
    saved_dir = savedcode.saved_dir(chapters)
    text = chapter_text(*FOUR, cell("[pytorch, save]", "import math\nimport leftpad_nowhere\n\n\ndef f():\n"
                                                        "    return leftpad_nowhere"))
    path = chapters / "c.md"
    path.write_text(text)
    line = text.splitlines().index("import leftpad_nowhere") + 1
    for step in ("convert", "check", "execute"):
        code, err = run(capsys, step)
        assert code == 1, step
        assert f"{path}:{line}: saved code imports 'leftpad_nowhere', which " in err, (step, err)
        assert "does not pin" in err
    assert not saved_dir.exists(), "no saved module was written"
    assert not (tabs.parent / "build" / "converted").exists()


@pytest.mark.parametrize("display, what", [
    ("{'image/png': 'not base64!', 'text/plain': 'x'}", "its image/png data is not valid base64"),
    ("{'image/svg+xml': '<svg><g></svg>', 'text/plain': 'x'}", "its image/svg+xml data is not well-formed SVG"),
], ids=["png", "svg"])
def test_execute_refuses_an_output_the_book_cannot_show_at_its_line(repo, capsys, display, what):
    chapters, tabs = repo
    text = chapter_text(*FOUR, cell("[pytorch]", f"from IPython.display import display\ndisplay({display}, raw=True)"))
    path = stored_notebooks(chapters, tabs, text)
    before = snapshot(tabs)
    code, err = run(capsys, "execute", "c", "-f", "pytorch")
    assert code == 1
    line = max(number for number, text_line in enumerate(text.splitlines(), 1) if text_line == "```{code-cell}")
    assert f"pytorch: c: cell 4 (source {path}:{line}), output 1: {what}: the book cannot show it, so the " \
           f"notebook is not written" in err, err
    assert snapshot(tabs) == before
