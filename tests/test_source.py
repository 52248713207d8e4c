"""The chapter source rules: tags, omissions and every malformed input, with exact messages."""
from __future__ import annotations

import pytest

from tabbook.errors import SourceError
from tabbook.frameworks import NAMES
from tabbook.source import find_chapters, read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text


def error_of(path) -> str:
    with pytest.raises(SourceError) as info:
        read_chapter(path)
    return str(info.value)


def test_tagged_cells_go_to_their_frameworks(write_chapter):
    path = write_chapter(chapter_text(cell("[pytorch, mxnet]", "a = 1"), cell("[all]", "b = 2"), *FOUR))
    chapter = read_chapter(path)
    assert chapter.title == "A chapter"
    assert chapter.frameworks == NAMES
    code = [c for c in chapter.cells if c.kind == "code"]
    assert code[0].frameworks == ("mxnet", "pytorch") and not code[0].shared
    assert code[1].frameworks == NAMES and code[1].shared
    assert [c.line for c in code[:2]] == [11, 16]


def test_untagged_prose_is_shared_and_tagged_prose_is_not(write_chapter):
    text = chapter_text(*FOUR) + '\n+++ {"tags": ["tensorflow"]}\n\nOnly for Keras readers.\n'
    chapter = read_chapter(write_chapter(text))
    prose = [c for c in chapter.cells if c.kind == "markdown"]
    assert prose[0].shared and prose[0].frameworks == NAMES
    assert prose[-1].frameworks == ("tensorflow",) and not prose[-1].shared


def test_a_heading_in_framework_only_prose_is_an_error_at_its_line(write_chapter):
    text = chapter_text(*FOUR) + '\n+++ {"tags": ["mxnet"]}\n\nMXNet only.\n\n## Next section\n\nShared?\n'
    path = write_chapter(text)
    line = text.splitlines().index("## Next section") + 1
    assert error_of(path) == (
        f"{path}:{line}: a heading in prose for mxnet only: the book puts that prose in a tab, where a "
        "section cannot start, and the other frameworks' notebooks lose it\n"
        "  hint: put a line '+++' before the heading, so that it starts a shared Markdown cell")
    fenced = chapter_text(*FOUR) + '\n+++ {"tags": ["mxnet"]}\n\n```python\n# a comment, not a heading\n```\n'
    assert read_chapter(write_chapter(fenced)).cells[-1].frameworks == ("mxnet",)


def test_nbval_tags_are_kept_apart_from_frameworks(write_chapter):
    path = write_chapter(chapter_text(cell("[pytorch, nbval-ignore-output]", "t = 1"), *FOUR))
    first = [c for c in read_chapter(path).cells if c.kind == "code"][0]
    assert first.frameworks == ("pytorch",) and first.tags == ("nbval-ignore-output",)


def test_unknown_framework_tag_suggests_the_closest(write_chapter):
    path = write_chapter(chapter_text(cell("[pytroch]", "x = 1"), *FOUR))
    assert error_of(path) == f"{path}:11: unknown tag 'pytroch'\n  hint: did you mean 'pytorch'?"


def test_untagged_code_cell_is_an_error(write_chapter):
    path = write_chapter(chapter_text("```{code-cell}\nx = 1\n```\n", *FOUR))
    assert error_of(path) == (
        f"{path}:11: this code cell names no framework\n  hint: tag it with the frameworks that "
        "run it (`:tags: [pytorch]`; one or more of mxnet, pytorch, tensorflow, mindspore) or "
        "with `:tags: [all]` if every framework runs it")


def test_all_and_a_framework_together_is_an_error(write_chapter):
    path = write_chapter(chapter_text(cell("[all, mxnet]", "x = 1"), *FOUR))
    assert error_of(path) == (f"{path}:11: the cell is tagged both 'all' and mxnet\n"
                              "  hint: keep either 'all' or the framework tags")


def test_missing_framework_must_be_declared(write_chapter):
    path = write_chapter(chapter_text(*FOUR[:3]))
    assert error_of(path) == (
        f"{path}:1: the chapter has no code for mindspore and does not declare it omitted\n"
        "  hint: tag code cells with mindspore, or declare the gap in the front matter: "
        'tabbook: {omit: {mindspore: "why it is left out"}}')


def test_declared_omission_is_allowed(write_chapter):
    front = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mindspore: no FFT on CPU\n", 1)
    chapter = read_chapter(write_chapter(chapter_text(*FOUR[:3], front=front)))
    assert chapter.omitted == {"mindspore": "no FFT on CPU"}
    assert chapter.frameworks == ("mxnet", "pytorch", "tensorflow")


def test_omission_without_reason_is_an_error(write_chapter):
    front = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mindspore: ''\n", 1)
    path = write_chapter(chapter_text(*FOUR[:3], front=front))
    assert error_of(path) == (f"{path}:2: the omission of mindspore gives no reason\n"
                              '  hint: write the reason readers will see: mindspore: "why it is left out"')


def test_omitting_a_framework_that_has_code_is_an_error(write_chapter):
    front = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mindspore: later\n", 1)
    path = write_chapter(chapter_text(*FOUR, front=front))
    assert error_of(path) == (f"{path}:29: the front matter omits mindspore but this cell is tagged "
                              "mindspore\n  hint: remove the omission of mindspore, or the tag")


def test_unclosed_code_cell(write_chapter):
    path = write_chapter(chapter_text(*FOUR, "```{code-cell}\n:tags: [all]\nx = 1\n"))
    assert error_of(path) == (f"{path}:31: this code-cell directive is never closed\n"
                              "  hint: close it with a line of ``` (as many ` as the opener)")


def test_unclosed_directive_fence_in_prose(write_chapter):
    path = write_chapter(chapter_text(*FOUR, "````{note}\nRemember this.\n"))
    assert error_of(path) == (f"{path}:31: this fence ````{{note}} is never closed\n"
                              "  hint: close it with a line of ```` (as many ` as the opener)")


def test_malformed_front_matter(write_chapter):
    path = write_chapter(chapter_text(*FOUR, front="---\njupytext: [unclosed\n---\n"))
    assert error_of(path) == (f"{path}:2: malformed front matter: expected ',' or ']', but got "
                              "'<stream end>'\n  hint: the front matter is YAML between two '---' lines")


def test_unclosed_front_matter(write_chapter):
    path = write_chapter("---\njupytext: {}\n\n# Title\n")
    assert error_of(path) == (f"{path}:1: the front matter opened here is never closed\n"
                              "  hint: end the YAML front matter with a line of three dashes: ---")


def test_malformed_code_cell_metadata(write_chapter):
    path = write_chapter(chapter_text(cell("[pytorch", "x = 1"), *FOUR))
    assert error_of(path) == (
        f"{path}:11: malformed cell metadata: Invalid YAML; while parsing a flow sequence\n"
        "  hint: cell metadata is YAML after ':' (`:tags: [pytorch]`) or between '---' lines in a "
        'code cell, and JSON after \'+++\' (`+++ {"tags": ["pytorch"]}`) for prose')


def test_malformed_markdown_cell_metadata(write_chapter):
    path = write_chapter(chapter_text(*FOUR) + '\n+++ {"tags": ["pytorch"]\n\nProse.\n')
    assert error_of(path).startswith(
        f"{path}:31: malformed cell metadata: Expecting ',' delimiter: line 1 column 21 (char 20)\n")


def test_empty_chapter(write_chapter):
    path = write_chapter(FRONT)
    assert error_of(path) == (f"{path}:1: the chapter is empty\n"
                              "  hint: write a '# Title' and at least one cell")


def test_chapter_without_title(write_chapter):
    path = write_chapter(chapter_text(*FOUR, title="Just prose."))
    assert error_of(path) == (f"{path}:7: the chapter has no title\n"
                              "  hint: begin the chapter with shared prose whose first heading is '# Title'")


def test_file_that_is_not_utf8(write_chapter):
    path = write_chapter(chapter_text(*FOUR).encode() + "\n\nCaf\xe9\n".encode("latin-1"))
    assert error_of(path) == (f"{path}:32: the file is not UTF-8 (byte 0xe9 at offset "
                              f"{len(chapter_text(*FOUR).encode()) + 5})\n"
                              "  hint: save the file as UTF-8 (for instance `iconv -f latin1 -t utf-8`)")


def test_two_chapters_with_the_same_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "same.md", tmp_path / "b" / "same.md"
    first.write_text(chapter_text(*FOUR))
    second.write_text(chapter_text(*FOUR))
    with pytest.raises(SourceError) as info:
        find_chapters(tmp_path)
    assert str(info.value) == (f"{second}: a second chapter named 'same' (the first is {first})\n"
                               "  hint: chapter names are file names and must be unique; rename one of them")


def test_the_book_chapter_reads():
    from tabbook.frameworks import NOTEBOOKS

    chapter = read_chapter(NOTEBOOKS / "custom-layers.md")
    assert chapter.title == "Custom Layers" and chapter.omitted == {}


@pytest.mark.parametrize("report, message", [
    ("[test_accuracy]", ":2: front matter 'tabbook.report' must map result names to expressions"),
    ('{"not a name": "x"}', ":2: the report name 'not a name' is not a Python identifier"),
    ('{accuracy: "x +"}', ":2: the report expression for 'accuracy' is not one Python expression"),
    ('{accuracy: "x = 1"}', ":2: the report expression for 'accuracy' is not one Python expression"),
    ("{accuracy: 3}", ":2: the report expression for 'accuracy' is not one Python expression"),
])
def test_a_malformed_report_is_an_error_at_its_line(write_chapter, report, message):
    path = write_chapter(chapter_text(*FOUR, front=FRONT.replace("---\n", f"---\ntabbook:\n  report: {report}\n", 1)))
    assert f"{path}{message}" in error_of(path)


def test_an_unknown_tabbook_setting_suggests_the_closest(write_chapter):
    path = write_chapter(chapter_text(*FOUR, front=FRONT.replace("---\n", "---\ntabbook:\n  reprot: {a: b}\n", 1)))
    assert error_of(path).startswith(f"{path}:2: front matter 'tabbook' has the unknown key 'reprot'")
    assert "report" in error_of(path)


def test_a_report_is_read_with_its_expressions(write_chapter):
    front = FRONT.replace("---\n", '---\ntabbook:\n  report:\n    device: " str(device) "\n', 1)
    assert read_chapter(write_chapter(chapter_text(*FOUR, front=front))).report == {"device": "str(device)"}
