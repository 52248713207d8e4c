"""Hostile sources and damaged notebooks through every command: a message, never a traceback.

Each input is written into a private copy of the repository layout (notebooks/, tabs/ with the
real locks, build/converted/), then ``convert``, ``check``, ``execute`` (which fails before any
kernel starts when the source is bad) and ``html`` run on it through ``build.py``'s entry point.
The assertions: a non-zero exit where the input is an error, the ``path:line`` of the mistake
where there is a line, no ``Traceback`` in the output, and tabs/ unchanged. The ``outside-*``
cases (issue 24) are prose that would reach outside the book: directives that read or insert
files (nested, in any letter case, in ``{eval-rst}``), paths and links that leave
``notebooks/assets/``, pictures from other hosts, HTML outside the outputs' allow-list, captions,
omission reasons and git conflict markers (tabbook/prose.py, docs/security.md).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import re
import json
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import nbformat
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tabbook import book, cli, frameworks
from tabbook.convert import to_notebook, write_notebook
from tabbook.frameworks import NAMES
from tabbook.source import read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text

GOOD = chapter_text(*FOUR)
OMIT_ALL = "---\ntabbook:\n  omit: {mxnet: a, pytorch: b, tensorflow: c, mindspore: d}\n---\n"


@contextlib.contextmanager
def layout(root: Path):
    """notebooks/, tabs/ (with the real locks) and build/ under ``root``, used by build.py."""
    chapters, tabs = root / "notebooks", root / "tabs"
    chapters.mkdir(parents=True)
    for name in NAMES:
        (tabs / name).mkdir(parents=True)
        shutil.copy(frameworks.TABS / name / "requirements.txt", tabs / name)
    original_build = book.build

    def build(chapters_, **_):  # the book of this layout, not of the checkout
        return original_build(chapters_, tabs=tabs, source_dir=root / "build" / "src", html_dir=root / "build" / "html")

    with mock.patch.object(frameworks, "TABS", tabs), mock.patch.object(cli, "NOTEBOOKS", chapters), \
            mock.patch.object(cli, "CONVERTED", root / "build" / "converted"), mock.patch.object(book, "build", build):
        yield chapters, tabs


@pytest.fixture
def repo(tmp_path):
    with layout(tmp_path) as folders:
        yield folders


def snapshot(folder: Path) -> dict:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return code, err


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line of ``text`` that starts with ``needle``."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if line.startswith(needle)]
    return hits[nth - 1]


def code_cell_with(options: str, code: str = "x = 0") -> str:
    return f"```{{code-cell}}\n{options}\n{code}\n```\n"


NESTED_LIST = GOOD + "\n+++\n\n- a step:\n\n  ```{code-cell}\n  :tags: [pytorch]\n  y = 1\n  ```\n"
NESTED_QUOTE = GOOD + "\n+++\n\n> ```{code-cell}\n> :tags: [pytorch]\n> y = 1\n> ```\n"
NESTED_HTML = GOOD + "\n+++\n\n<div class='box'>\n```{code-cell}\n:tags: [pytorch]\ny = 1\n```\n</div>\n"
NESTED_DIRECTIVE = GOOD + "\n+++\n\n````{note}\n```{code-cell}\n:tags: [pytorch]\ny = 1\n```\n````\n"
INDENTED = GOOD + "\n+++\n\nText.\n\n    ```{code-cell}\n    :tags: [pytorch]\n    ```\n"
RAW = GOOD + "\n```{raw-cell}\n\\newpage\n```\n"
STRING_TAGS = chapter_text(cell("pytorch", "x = 1"), *FOUR)
STRING_TAGS_PROSE = GOOD + '\n+++ {"tags": "pytorch"}\n\nPyTorch prose.\n'

#: name -> (file name, content, the text after the file's path in the message).
BAD = {
    "tags-a-string": ("c.md", STRING_TAGS, ":11: tags must be a list, got the text 'pytorch'"),
    "prose-tags-a-string": ("c.md", STRING_TAGS_PROSE,
                            f":{line_of(STRING_TAGS_PROSE, '+++ {')}: tags must be a list, got the text 'pytorch'"),
    "tag-a-number": ("c.md", chapter_text(cell("[pytorch, 3]", "x = 1"), *FOUR), ":11: tag 3 is not a name"),
    "tag-null": ("c.md", chapter_text(cell("[pytorch, null]", "x = 1"), *FOUR), ":11: tag None is not a name"),
    "tag-true": ("c.md", chapter_text(cell("[yes, pytorch]", "x = 1"), *FOUR), ":11: tag True is not a name"),
    "tags-a-mapping": ("c.md", chapter_text(cell("{pytorch: 1}", "x = 1"), *FOUR), ":11: tags must be a list of names"),
    "tag-twice": ("c.md", chapter_text(cell("[pytorch, pytorch]", "x = 1"), *FOUR), ":11: tag 'pytorch' is given twice"),
    "prose-tag-a-list-in-a-list": ("c.md", GOOD + '\n+++ {"tags": [["mxnet"]]}\n\nX.\n', ":31: tag ['mxnet'] is not a name"),
    "metadata-invalid-for-nbformat": ("c.md", chapter_text(code_cell_with(":tags: [pytorch]\n:collapsed: maybe"), *FOUR),
                                      ":11: cell metadata['collapsed'] is not valid in a notebook"),
    "skip-execution": ("c.md", chapter_text(cell("[all, skip-execution]", "x = 1"), *FOUR),
                       ":11: tag 'skip-execution': the book executes every code cell"),
    "empty-code-cell": ("c.md", chapter_text(cell("[all]", ""), *FOUR), ":11: this code cell is empty"),
    "blank-code-cell": ("c.md", chapter_text(cell("[pytorch]", "   \n\n"), *FOUR), ":11: this code cell is empty"),
    "cell-in-a-list-item": ("c.md", NESTED_LIST, f":{line_of(NESTED_LIST, '  ```{code-cell}')}: this {{code-cell}} "
                                                 "is inside a list item, where jupytext reads it as prose"),
    "cell-in-a-block-quote": ("c.md", NESTED_QUOTE, f":{line_of(NESTED_QUOTE, '> ```{code-cell}')}: this {{code-cell}} "
                                                    "is inside a block quote"),
    "cell-in-html": ("c.md", NESTED_HTML, f":{line_of(NESTED_HTML, '```{code-cell}', 5)}: this {{code-cell}} is inside "
                                          f"the HTML block that begins at line {line_of(NESTED_HTML, '<div')}"),
    "cell-in-a-directive": ("c.md", NESTED_DIRECTIVE, f":{line_of(NESTED_DIRECTIVE, '```{code-cell}', 5)}: this "
                                                      "{code-cell} is inside the directive {note}"),
    "cell-indented": ("c.md", INDENTED, f":{line_of(INDENTED, '    ```{code-cell}')}: this {{code-cell}} is inside "
                                        "the indented code block"),
    "raw-cell": ("c.md", RAW, f":{line_of(RAW, '```{raw-cell}')}: a {{raw-cell}} is neither run nor shown in the book"),
    "every-framework-omitted": ("c.md", chapter_text(front=OMIT_ALL), ":2: the front matter omits every framework"),
    "every-framework-omitted-with-all-code": ("c.md", chapter_text(cell("[all]", "x = 1"), front=OMIT_ALL),
                                              ":2: the front matter omits every framework"),
    "prose-only": ("c.md", chapter_text(), ":1: the chapter has no code cell"),
    "front-matter-after-a-blank-line": ("c.md", "\n" + GOOD, ":2: the front matter must begin on the first line"),
    "utf-16": ("c.md", GOOD.encode("utf-16"), ":1: the file is UTF-16, not UTF-8"),
    "utf-32": ("c.md", GOOD.encode("utf-32"), ":1: the file is UTF-32, not UTF-8"),
    "line-separator": ("c.md", GOOD + "\nA pasted\u2028line.\n", f":{GOOD.count(chr(10)) + 2}: the character "
                                                                "'\\u2028' (U+2028 LINE SEPARATOR) is a line break"),
    "name-with-a-space": ("my chapter.md", GOOD, ": the chapter name 'my chapter' has a space"),
    "name-with-a-hash": ("a#b.md", GOOD, ": the chapter name 'a#b' has '#'"),
    "name-starting-with-a-dash": ("-draft.md", GOOD, ": the chapter name '-draft' starts with '-'"),
    "name-ending-with-a-dot": ("draft..md", GOOD, ": the chapter name 'draft.' ends with '.'"),
    "name-too-long": ("é" * 120 + ".md", GOOD, ": the chapter name is 240 bytes long; at most 200"),
    "name-index": ("index.md", GOOD, ": the chapter name 'index' is the name of a page the book makes itself"),
    "name-Search": ("Search.md", GOOD, ": the chapter name 'Search' is the name of a page the book makes itself"),
    "name-genindex": ("genindex.md", GOOD, ": the chapter name 'genindex' is the name of a page"),
    "name-py-modindex": ("py-modindex.md", GOOD, ": the chapter name 'py-modindex' is the name of a page"),
    "dangling-link": ("gone.md", None, ": a link to nowhere.md, which does not exist"),
}


def prose(text: str) -> str:
    """GOOD with ``text`` as its last Markdown cell."""
    return GOOD + "\n+++\n\n" + text


def at(text: str, needle: str) -> int:
    """The 1-based line of the first line of ``text`` that holds ``needle``."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


#: Prose that would reach outside the book (issue 24): name -> (prose, the line's needle, message).
OUTSIDE = {
    "include": ("```{include} ../../../secret/key.txt\n```\n", "{include}",
                "the directive {include} reads files or changes the page outside the text"),
    "include-any-case": ("```{Include} /etc/passwd\n```\n", "{Include}", "the directive {Include} reads files"),
    "literalinclude-in-a-tip-in-a-note": ("::::{note}\nText.\n\n:::{tip}\n```{literalinclude} /etc/passwd\n```\n"
                                          ":::\n::::\n", "{literalinclude}", "the directive {literalinclude} reads"),
    "eval-rst-include": ("```{eval-rst}\n.. include:: /etc/passwd\n```\n", "{eval-rst}", "the directive {eval-rst}"),
    "raw-html": ("```{raw} html\n<meta http-equiv=refresh content=0>\n```\n", "{raw}", "the directive {raw}"),
    "meta-directive": ("```{meta}\n:http-equiv=refresh: 0;url=https://example.invalid\n```\n", "{meta}",
                       "the directive {meta}"),
    "csv-table-file": ("```{csv-table}\n:file: /etc/passwd\n```\n", "{csv-table}", "the {csv-table} option :file:"),
    "image-above": ("```{image} ../../etc/x.png\n```\n", "{image}", "the {image} names '../../etc/x.png', outside the"),
    "image-absolute": ("```{figure} /etc/passwd\n:alt: x\n\nA caption.\n```\n", "{figure}",
                       "the {figure} names '/etc/passwd', which is no file in"),
    "markdown-image": ("Look: ![x](../../../etc/passwd)\n", "Look:", "the Markdown image names"),
    "image-from-another-host": ("![x](https://example.invalid/x.png)\n", "![x]", "the Markdown image comes from 'https://example.invalid/x.png': the book loads pictures only"),
    "card-image": (":::{card} Title\n:img-top: ../../../etc/passwd\n\nBody\n:::\n", ":::{card}",
                   "the {card} option :img-top: names"),
    "download-role": ("Get {download}`it <../../../etc/passwd>`.\n", "Get", "the {download} role names"),
    "role-in-a-title": (":::{note} Title {download}`/etc/passwd`\nBody\n:::\n", ":::{note}",
                        "the {download} role names '/etc/passwd', which is no file in"),
    "link-to-a-file": ("See [the key](../../../secret/key.txt).\n", "See", "the link names"),
    "link-by-reference": ("See [the key][k].\n\n[k]: ../../../secret/key.txt\n", "[k]:", "the link reference [k]"),
    "link-to-a-missing-section": ("See [Compilation](compilation.ipynb#graphs).\n", "See",
                                  "the link goes to the section 'compilation.ipynb', but there is no chapter "
                                  "compilation.md beside this one"),
    "link-to-a-section-in-other-case": ("See [D](Devices.IPYNB).\n", "See",
                                        "the link goes to the notebook 'Devices.IPYNB', which is not written"),
    "link-to-a-section-with-a-query": ("See [D](nosuch.ipynb?y).\n", "See",
                                       "the link goes to the notebook 'nosuch.ipynb?y', which is not written"),
    "link-to-a-section-escaped": ("See [D](%64evices.ipynb).\n", "See",
                                  "the link goes to the notebook '%64evices.ipynb', which is not written"),
    "link-to-a-section-as-a-path": ("See [D](path:devices.ipynb).\n", "See",
                                    "the link goes to a notebook with a path: prefix"),
    "path-link": ("See [it](path:../../x).\n", "See", "the link names"),
    "meta-refresh": ('<meta http-equiv="refresh" content="3;url=https://example.invalid">\n', "<meta",
                     "HTML in prose: <meta> is not allowed"),
    "inline-script": ("Text <script>x()</script> text.\n", "Text", "HTML in prose: <script> is not allowed"),
    "event-handler": ('<div onclick="x()">a</div>\n', "<div", "HTML in prose: the attribute 'onclick' of <div> is not allowed"),
    "closes-the-tab": ("Text.\n\n</div></div>\n", "</div>", "HTML in prose: </div> closes an element that this text did not open"),
    "comment-trick": ("<!-- --!><script>x()</script> -->\n", "<!--", "HTML in prose: a comment that a browser ends earlier"),
    "unclosed-colon-fence": (":::{note}\nText that never ends\n", ":::{note}", "this :::{note} block is never closed"),
    "unknown-role": ("A {raw-html}`<b>` role.\n", "A {raw", "the role {raw-html} is not one the book allows"),
    "conflict-start": ("<<<<<<< HEAD\nMine.\n", "<<<<<<<", "a git conflict marker (<<<<<<<)"),
    "conflict-middle": ("Mine.\n=======\nTheirs.\n", "=======", "a git conflict marker (=======)"),
}
for _name, (_text, _needle, _message) in OUTSIDE.items():
    BAD[f"outside-{_name}"] = ("c.md", prose(_text), f":{at(prose(_text), _needle)}: {_message}")
BAD["outside-caption"] = ("c.md", chapter_text(*FOUR, code_cell_with(
    '---\ntags: [all]\ncaption: "Loss {download}`/etc/passwd`"\n---', "plot()")),
    f":{at(chapter_text(*FOUR, code_cell_with('---', 'plot()')), 'plot()') - 2}: the {{download}} role names")
BAD["outside-omit-reason"] = ("c.md", chapter_text(*FOUR[:3], front=FRONT.replace(
    "---\n", '---\ntabbook:\n  omit:\n    mindspore: "see <meta http-equiv=refresh content=0>"\n', 1)),
    ":4: HTML in prose: <meta> is not allowed")
BAD["outside-conflict-in-code"] = ("c.md", chapter_text(*FOUR, cell("[all]", "<<<<<<< HEAD\nx = 1\n=======\nx = 2\n"
                                                                        ">>>>>>> other")),
                                   f":{at(chapter_text(*FOUR, cell('[all]', '<<<<<<< HEAD')), '<<<<<<<')}: a git "
                                   "conflict marker")


def write(chapters: Path, file_name: str, content) -> Path:
    path = chapters / file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        path.symlink_to("nowhere.md")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_hostile_source_is_an_error_at_its_place_in_every_command(repo, capsys, case):
    chapters, tabs = repo
    file_name, content, expected = BAD[case]
    path = write(chapters, file_name, content)
    before = snapshot(tabs)
    for step in (["convert"], ["check"], ["execute"], ["html"], ["claims"]):
        code, err = run(capsys, *step)
        assert code == 1, step
        assert f"{path}{expected}" in err, (step, err)
    assert snapshot(tabs) == before
    assert not (tabs.parent / "build" / "converted").exists()


def converted(chapters: Path) -> dict[str, list[str]]:
    folder = chapters.parent / "build" / "converted"
    return {name: sorted(p.name for p in (folder / name).glob("*.ipynb")) for name in NAMES if (folder / name).is_dir()}


@pytest.mark.parametrize("text", [
    GOOD + "\n+++\n\n```x = 1``` is inline code, not a fence.\n",
    chapter_text("```np.ones(3)``` is inline code too.\n", *FOUR),
    chapter_text("``` ``x`` ``` is inline code holding backticks.\n", *FOUR),
], ids=["after-the-cells", "before-the-cells", "holding-backticks"])
def test_inline_code_in_triple_backticks_is_prose(repo, capsys, text):
    chapters, _ = repo
    path = write(chapters, "c.md", text)
    assert run(capsys, "convert")[0] == 0
    prose = "\n".join(cell.source for cell in read_chapter(path).cells if cell.kind == "markdown")
    assert "is inline code" in prose
    assert [cell.source for cell in read_chapter(path).cells if cell.kind == "code"] == ["x = 1", "x = 2", "x = 3", "x = 4"]


@pytest.mark.parametrize("encode", [
    lambda text: b"\xef\xbb\xbf" + text.encode(),
    lambda text: text.replace("\n", "\r\n").encode(),
    lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
    lambda text: text.replace("\n", "\r").encode(),
], ids=["bom", "crlf", "bom-crlf", "cr"])
def test_editor_markers_keep_the_front_matter(repo, capsys, encode):
    chapters, _ = repo
    front = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mindspore: kept short\n", 1)
    path = write(chapters, "c.md", encode(chapter_text(*FOUR[:3], front=front)))
    chapter = read_chapter(path)
    assert chapter.omitted == {"mindspore": "kept short"} and chapter.title == "A chapter"
    assert not any("---" in cell.source or "\r" in cell.source for cell in chapter.cells)
    assert [cell.line for cell in chapter.cells if cell.kind == "code"] == [14, 19, 24]
    assert run(capsys, "convert")[0] == 0
    assert converted(chapters) == {name: ["c.ipynb"] for name in NAMES[:3]}


def test_hidden_files_and_folders_are_not_chapters(repo, capsys):
    chapters, tabs = repo
    write(chapters, "c.md", GOOD)
    write(chapters, ".ipynb_checkpoints/c-checkpoint.md", GOOD)
    write(chapters, ".#c.md", None)  # Emacs's lock: a dangling link
    write(chapters, ".drafts/d.md", "not even a chapter")
    write(chapters, ".hidden.md", "```{code-cell}\n")
    write(chapters, ".ipynb_checkpoints/c-checkpoint.claims.yml", "broken: [")
    assert run(capsys, "convert")[0] == 0
    assert converted(chapters) == {name: ["c.ipynb"] for name in NAMES}
    code, err = run(capsys, "check")
    assert code == 1 and all(name not in err for name in ("c-checkpoint", ".#c", "d.md", ".hidden.md"))
    assert err.count("missing; rebuild it with: python build.py execute c\n") == 4


def test_a_folder_named_like_a_chapter_is_searched_not_read(repo, capsys):
    chapters, _ = repo
    write(chapters, "part.md/c.md", GOOD)
    assert run(capsys, "convert")[0] == 0
    assert converted(chapters) == {name: ["c.ipynb"] for name in NAMES}


def test_names_that_differ_in_letter_case_are_one_chapter_too_many(repo, capsys):
    chapters, _ = repo
    write(chapters, "Intro.md", GOOD)
    second = write(chapters, "sub/intro.md", GOOD)
    code, err = run(capsys, "convert")
    assert code == 1 and f"{second}: a second chapter named 'intro'" in err and "letter case" in err


@pytest.mark.parametrize("name", ["régression", "a.b", "_x", "深度学习", "x" * 200, "v2_layers-1"])
def test_names_a_notebook_cell_id_cannot_hold_still_convert(repo, capsys, name):
    chapters, _ = repo
    write(chapters, f"{name}.md", GOOD)
    assert run(capsys, "convert")[0] == 0
    for framework in NAMES:
        notebook = nbformat.read(chapters.parent / "build" / "converted" / framework / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        assert len({cell.id for cell in notebook.cells}) == len(notebook.cells)


def test_all_cells_are_code_for_every_framework(repo, capsys):
    chapters, _ = repo
    path = write(chapters, "c.md", chapter_text(cell("[all]", "import numpy"), cell("[all]", "print(numpy.ones(2))")))
    assert read_chapter(path).frameworks == NAMES
    assert run(capsys, "convert")[0] == 0
    assert converted(chapters) == {name: ["c.ipynb"] for name in NAMES}


# Damaged notebooks under tabs/: check and html name the file and say how to recover.

def stored_notebooks(chapters: Path, tabs: Path, text: str) -> Path:
    """Write the chapter ``text`` and its (unexecuted) notebooks under tabs/; return its path."""
    path = write(chapters, "c.md", text)
    chapter = read_chapter(path)
    for name in chapter.frameworks:
        write_notebook(to_notebook(chapter, name), tabs / name / "c.ipynb")
    return path


def conflicted(text: str) -> str:
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    return "".join(lines[:middle] + ["<<<<<<< HEAD\n", lines[middle], "=======\n", lines[middle],
                                     ">>>>>>> other\n"] + lines[middle + 1:])


DAMAGE = {
    "truncated": (lambda text: text[: len(text) // 2], r"tabs/pytorch/c.ipynb:\d+: the notebook is not valid JSON"),
    "empty": (lambda text: "", "tabs/pytorch/c.ipynb: the notebook is empty"),
    "empty-json": (lambda text: "{}", "tabs/pytorch/c.ipynb: not a valid notebook"),
    "a-list": (lambda text: "[]", "tabs/pytorch/c.ipynb: not a valid notebook"),
    "conflict-markers": (conflicted, r"tabs/pytorch/c.ipynb:\d+: the notebook holds git conflict markers \(<<<<<<<\)"),
    "not-utf8": (lambda text: text.replace('"cells"', '"cells\udcff"'), "tabs/pytorch/c.ipynb: cannot read this notebook"),
    "cells-not-a-list": (lambda text: json.dumps({**json.loads(text), "cells": 3}), "tabs/pytorch/c.ipynb: not a valid notebook"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_notebook_is_named_with_how_to_recover(repo, capsys, case):
    chapters, tabs = repo
    stored_notebooks(chapters, tabs, GOOD)
    target = tabs / "pytorch" / "c.ipynb"
    damage, expected = DAMAGE[case]
    damaged = damage(target.read_text())
    target.write_bytes(damaged.encode("utf-8", "surrogateescape"))
    before = snapshot(tabs)
    for step in ("check", "html"):
        code, err = run(capsys, step)
        assert code == 1
        assert re.search(expected, err), (step, err)
        message = next(line for line in err.splitlines() if "tabs/pytorch/c.ipynb" in line)
        if "conflict" in case:
            assert f"git checkout --ours -- {target}" in message
        else:
            assert f"git checkout -- {target}" in message
        assert "python build.py execute c -f pytorch --force" in message
    assert snapshot(tabs) == before


# The book after the source changed without executing again: an error, never a misaligned page.

def line_after(needle: str):
    """The line of the first line of the changed text that starts with ``needle``."""
    return lambda text: line_of(text, needle)


#: The chapter the notebooks were executed from: GOOD and one more PyTorch cell (chapter cell 6).
BEFORE = GOOD + "\n" + cell("[pytorch]", "y = 5")
CHANGES = {
    "gained-shared-prose": (lambda t: t.replace("Some prose.\n", "Some prose.\n\n+++\n\nA new paragraph.\n", 1),
                            "its cell from chapter cell 2 differs", line_after("A new paragraph.")),
    "gained-a-cell-at-the-end": (lambda t: t + "\n" + cell("[pytorch]", "y = 2"), "chapter cell 7 is missing from it",
                                 lambda text: line_of(text, "y = 2") - 2),
    "lost-a-cell": (lambda t: t.replace(cell("[pytorch]", "y = 5"), ""), "its cell from chapter cell 6 differs", None),
    "edited-a-cell": (lambda t: t.replace("x = 2", "x = 22"), "its cell from chapter cell 3 differs",
                      lambda text: line_of(text, "x = 22") - 2),
    "retagged-a-cell": (lambda t: t.replace("[pytorch]", "[pytorch, remove-input]"), "its cell from chapter cell 3 differs",
                        lambda text: line_of(text, "x = 2") - 2),
}


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_the_book_refuses_notebooks_the_source_moved_away_from(repo, capsys, case):
    chapters, tabs = repo
    path = stored_notebooks(chapters, tabs, BEFORE)
    change, what, line = CHANGES[case]
    new = change(BEFORE)
    path.write_text(new)
    before = snapshot(tabs)
    code, err = run(capsys, "html")
    assert code == 1
    assert "c.ipynb no longer matches c.md (" + what + "): execute it again with: python build.py execute c" in err
    if line is not None:
        assert f"first difference: {path}:{line(new)}\n" in err
    assert snapshot(tabs) == before
    assert not (tabs.parent / "build" / "html").exists()


def test_the_book_accepts_notebooks_that_match(repo, tmp_path):
    chapters, tabs = repo
    path = stored_notebooks(chapters, tabs, GOOD)
    book.write_sources([read_chapter(path)], tabs, tmp_path / "src")
    assert (tmp_path / "src" / "c.md").is_file()


# Property-based: random file names and tag values through convert.

def convert_in_a_fresh_layout(files: dict[str, str | bytes]) -> tuple[int, str, Path]:
    """Write ``files`` into notebooks/ of a new layout, run convert; (exit code, stderr, notebooks/)."""
    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as root, layout(Path(root)) as (chapters, tabs):
        for name, content in files.items():
            write(chapters, name, content)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["convert"])
        converted_ok = all((chapters.parent / "build" / "converted" / name).is_dir() for name in NAMES)
    assert "Traceback" not in out.getvalue() + err.getvalue(), out.getvalue() + err.getvalue()
    return code, err.getvalue(), chapters, converted_ok


FILE_NAMES = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), min_size=1, max_size=90) \
    .map(lambda stem: stem + ".md").filter(lambda name: len(name.encode()) <= 255)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file_name=FILE_NAMES)
@example(file_name=".#c.md")
@example(file_name="my chapter.md")
@example(file_name="Index.md")
@example(file_name="a\nb.md")
@example(file_name="é" * 84 + ".md")
def test_any_file_name_converts_or_is_named_in_an_error(file_name):
    code, err, chapters, converted_ok = convert_in_a_fresh_layout({file_name: GOOD})
    assert code in (0, 1)
    if code == 1:
        assert err.startswith(f"error: {chapters / file_name}: "), err
    else:  # a hidden file is no chapter: nothing to convert
        assert converted_ok != file_name.startswith(".")


TAG_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(
        [*NAMES, "all", "nbval-ignore-output", "remove-input", "solution", "skip-execution", "pytroch", "a,b", " pytorch",
         "", "all "]) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=2),
    max_leaves=6)


@settings(max_examples=120, deadline=None)
@given(tags=TAG_VALUES, prose=st.booleans())
def test_any_tag_value_converts_or_is_an_error_at_its_line(tags, prose):
    if prose:
        text = GOOD + f"\n+++ {json.dumps({'tags': tags})}\n\nSome prose for a framework.\n"
        line = GOOD.count("\n") + 2
    else:
        text = chapter_text(code_cell_with(":tags: " + yaml.safe_dump(tags, default_flow_style=True, width=10**6).strip()
                                           .removesuffix("\n...").strip()), *FOUR)
        line = 11
    code, err, chapters, _ = convert_in_a_fresh_layout({"c.md": text})
    assert code in (0, 1)
    if code == 1:
        assert err.startswith(f"error: {chapters / 'c.md'}:{line}: "), err


FRAGMENTS = ["```", "````", "~~~", "```{code-cell}", "```{raw-cell}", "{code-cell}", ":tags: [all]", ":tags: pytorch",
             "+++", '+++ {"tags": ["mxnet"]}', "+++ {", "---", "- ", "  ", "> ", "<div>", "</div>", "<!--", "-->", "# ",
             "x = 1", "`", "\n", "\n\n", "\t", "    ", "\r\n", "\ufeff", "\u2028", "é",
             # issue 24: directives, roles, links and HTML that could reach outside the book
             ":::", "::::{note}", "```{note}", "{include}", "```{include} ", "{download}`", "![x](", "[x](", "](",
             "../", "/etc/passwd", "assets/", "<meta http-equiv=refresh content=0>", "<b>", "</b>", "<script>",
             "=======", "<<<<<<< ", ":img-top: ", "path:", "javascript:", "[k]: ", ")"]


@settings(max_examples=120, deadline=None)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=25))
def test_any_prose_converts_or_is_an_error_at_a_line(parts):
    text = GOOD + "\n+++\n\n" + "".join(parts) + "\n"
    code, err, chapters, _ = convert_in_a_fresh_layout({"c.md": text})
    assert code in (0, 1)
    if code == 1:
        assert re.match(rf"error: {re.escape(str(chapters / 'c.md'))}:\d+: ", err), err
