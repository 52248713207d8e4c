"""Outputs as the book and the notebooks publish them: merged streams, no machine paths,
sanitized HTML and Markdown, figures with their alt text and numbers, Sphinx's messages
pointing at the chapter source."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabbook import book, convert, sanitize, scrub
from tabbook.envs import envs_root
from tabbook.errors import BuildError
from tabbook.frameworks import NAMES, ROOT
from tabbook.source import read_chapter

from .conftest import FOUR, cell, chapter_text


def stream(name, text):
    return nbformat.v4.new_output("stream", name=name, text=text)


# --- streams ---------------------------------------------------------------------------------

def test_consecutive_streams_of_one_name_become_one_output():
    outputs = [stream("stdout", "epoch 1\n"), stream("stdout", "epoch 2\n"), stream("stderr", "warn\n"),
               stream("stderr", "more\n"), stream("stdout", "done\n")]
    merged = scrub.coalesce_streams(outputs)
    assert [(o["name"], o["text"]) for o in merged] == [
        ("stdout", "epoch 1\nepoch 2\n"), ("stderr", "warn\nmore\n"), ("stdout", "done\n")]
    assert outputs[0]["text"] == "epoch 1\n", "the notebook's outputs are not changed in place"


def test_a_carriage_return_keeps_the_last_text_of_its_line():
    merged = scrub.coalesce_streams([stream("stdout", "10%\r"), stream("stdout", "100%\nnext\n")])
    assert merged[0]["text"] == "100%\nnext\n"


@given(st.lists(st.tuples(st.sampled_from(["stdout", "stderr"]), st.text(alphabet="ab\n", max_size=5)),
                max_size=8))
def test_merging_keeps_every_character_in_order(pieces):
    merged = scrub.coalesce_streams([stream(name, text) for name, text in pieces])
    assert "".join(o["text"] for o in merged) == "".join(text for _, text in pieces)
    assert all(a["name"] != b["name"] for a, b in zip(merged, merged[1:]))


# --- machine paths ---------------------------------------------------------------------------

def test_machine_paths_become_placeholders(monkeypatch):
    monkeypatch.setenv("DLBLOCKS_MNIST_DIR", "/data/somewhere/mnist")
    env = envs_root() / "tensorflow-91d513facbb8"
    text = (f"{env}/lib/python3.11/site-packages/keras/src/layers/layer.py:421: UserWarning: ...\n"
            f"File {ROOT}/tabbook/data.py, in load\n"
            f"reading /data/somewhere/mnist/train-images-idx3-ubyte\n"
            f"{tempfile.gettempdir()}/tmpab12/x.json and {Path.home()}/notes.txt")
    scrubbed = scrub.scrub_text(text)
    assert scrubbed == ("<env>/lib/python3.11/site-packages/keras/src/layers/layer.py:421: UserWarning: ...\n"
                        "File <repo>/tabbook/data.py, in load\n"
                        "reading <mnist>/train-images-idx3-ubyte\n"
                        "<tmp>/tmpab12/x.json and ~/notes.txt")


def test_a_path_is_replaced_only_as_a_whole_folder():
    home = str(Path.home())
    assert scrub.scrub_text(f"{home}extra/x /var{tempfile.gettempdir()}/y") == \
        f"{home}extra/x /var{tempfile.gettempdir()}/y"


def test_a_notebook_is_scrubbed_in_every_kind_of_output():
    path = f"{envs_root()}/pytorch-0123/lib/python3.11/site-packages/torch/x.py"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        stream("stderr", path[:20]), stream("stderr", path[20:] + ": warning\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": path, "text/html": f"<b>{path}</b>"}),
        nbformat.v4.new_output("error", ename="E", evalue=path, traceback=[f"File {path}"]),
    ])])
    scrub.scrub_notebook(notebook)
    text = nbformat.writes(notebook)
    assert str(envs_root()) not in text
    assert notebook.cells[0].outputs[0]["text"].startswith("<env>/lib/python3.11/site-packages/torch/x.py")
    assert len(notebook.cells[0].outputs) == 3  # the two stderr pieces are one


def test_execute_scrubs_before_it_writes():
    source = (ROOT / "tabbook" / "execute.py").read_text()
    assert "scrub.scrub_notebook(notebook)" in source
    assert source.index("scrub.scrub_notebook(notebook)") < source.index("convert.write_notebook(notebook, path)")


# --- HTML and Markdown outputs ----------------------------------------------------------------

HOSTILE = [
    "<script>window.pwned = 1</script>",
    '<script src="https://example.invalid/x.js"></script>',
    '<img src="x" onerror="window.pwned = 1">',
    '<img src="https://example.invalid/pixel.png">',
    '<svg onload="window.pwned = 1"></svg>',
    '<a href="javascript:alert(1)">x</a><a href="https://example.invalid">y</a>',
    '<iframe src="https://example.invalid"></iframe>',
    '<style>body { display: none }</style>',
    '<div style="background: url(https://example.invalid/a.png)">s</div>',
    '<form action="https://example.invalid"><input name="q"></form>',
    '<object data="https://example.invalid/x.swf"></object><embed src="x">',
    '<link rel="stylesheet" href="https://example.invalid/x.css"><meta http-equiv="refresh" content="0">',
    '<base href="https://example.invalid/">',
]


@pytest.mark.parametrize("fragment", HOSTILE)
def test_hostile_html_loses_what_could_run_or_fetch(fragment):
    clean = sanitize.html(fragment).lower()
    for forbidden in ("<script", "onerror", "onload", "javascript:", "http", "<iframe", "<style", "style=",
                      "<form", "<input", "<object", "<embed", "<link", "<meta", "<base", "<svg", "href"):
        assert forbidden not in clean, (fragment, clean)


def test_closing_tags_cannot_escape_the_output():
    assert sanitize.html("</div></div></div>text<div>open") == "text<div>open</div>"


def test_tables_images_and_formatting_pass():
    fragment = ('<table class="dataframe"><thead><tr><th colspan="2">h</th></tr></thead>'
                '<tbody><tr><td>1</td><td><b>2</b></td></tr></tbody></table>'
                '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot"><p><em>e</em><sub>1</sub></p>')
    clean = sanitize.html(fragment)
    for kept in ('<th colspan="2">h</th>', "<b>2</b>", '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">',
                 "<em>e</em>", "<sub>1</sub>"):
        assert kept in clean


def test_markdown_is_rendered_then_sanitized():
    html = sanitize.markdown("**bold** and <script>x()</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<strong>bold</strong>" in html and "<td>2</td>" in html and "<script" not in html


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abcdivscriptonerrorimgsrc:")), max_size=60))
def test_no_fragment_opens_a_script_or_an_event_handler(fragment):
    clean = sanitize.html(fragment).lower()
    assert "<script" not in clean
    assert not re.search(r"<[^>]*\son[a-z]*\s*=", clean), clean
    assert clean.count("<div") == clean.count("</div>")


# --- the page of a chapter ----------------------------------------------------------------------

def write_book_sources(tmp_path: Path, text: str, outputs: dict[str, dict[int, list]]):
    """A chapter whose notebooks are converted (not executed), with the given outputs put into
    its code cells: outputs[framework][chapter cell index] = [output, ...]."""
    source = tmp_path / "notebooks" / "page.md"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text)
    chapter = read_chapter(source)
    notebooks = {}
    for name in chapter.frameworks:
        notebook = convert.to_notebook(chapter, name)
        for nb_cell in notebook.cells:
            index = nb_cell.metadata.get("dlblocks", {}).get("cell")
            if nb_cell.cell_type == "code" and index in outputs.get(name, {}):
                nb_cell.outputs = outputs[name][index]
        notebooks[name] = notebook
    return chapter, notebooks


def test_figures_have_the_cells_alt_text_and_numbers(tmp_path):
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    figure = nbformat.v4.new_output("display_data", data={"image/svg+xml": svg, "text/plain": "<Figure size 1x1>"})
    plot = ('```{code-cell}\n---\ntags: [all]\nalt:\n- "the loss falls"\n- "the accuracy rises"\n'
            'caption: ["Loss.", "Accuracy."]\n---\nplot()\n```\n')
    chapter, notebooks = write_book_sources(tmp_path, chapter_text(*FOUR, plot),
                                            {name: {5: [figure, figure]} for name in NAMES})
    page = book.chapter_page(chapter, notebooks, tmp_path / "src", number=3)
    assert page.count(':alt: "the loss falls"') == 4 and page.count(':alt: "the accuracy rises"') == 4
    assert page.count("**Figure 3.1.** Loss.") == 4 and page.count("**Figure 3.2.** Accuracy.") == 4
    assert "<Figure size" not in page
    assert len(list((tmp_path / "src" / "_images_out").rglob("*.svg"))) == 8


def test_stderr_and_stdout_blocks_and_ansi(tmp_path):
    outputs = [stream("stdout", "a\n"), stream("stdout", "\x1b[31mred\x1b[0m\n"), stream("stderr", "careful\n")]
    chapter, notebooks = write_book_sources(tmp_path, chapter_text(*FOUR), {"pytorch": {2: outputs}})
    page = book.chapter_page(chapter, notebooks, tmp_path / "src")
    assert page.count(":class: output stdout") == 1 and page.count(":class: output stderr") == 1
    assert "\x1b" not in page and "a\nred\n" in page


def test_an_html_output_stays_inside_its_tab(tmp_path):
    html = nbformat.v4.new_output("display_data", data={"text/html": "</div></div><script>x()</script><b>ok</b>",
                                                         "text/plain": "HTML"})
    chapter, notebooks = write_book_sources(tmp_path, chapter_text(*FOUR), {"mxnet": {1: [html]}})
    page = book.chapter_page(chapter, notebooks, tmp_path / "src")
    assert "```{tabbook-output} output html\n<b>ok</b>\n```" in page  # the directive wraps it in <div class="output html">
    assert "<script" not in page


def test_the_discussion_link_follows_the_configured_pattern(tmp_path, monkeypatch):
    chapter, notebooks = write_book_sources(tmp_path, chapter_text(*FOUR, title="# A chapter & more"), {})
    monkeypatch.setenv("TABBOOK_DISCUSSIONS", "https://forum.example.org/t/{chapter}?title={title}")
    page = book.chapter_page(chapter, notebooks, tmp_path / "src")
    assert "(https://forum.example.org/t/page?title=A%20chapter%20%26%20more)" in page
    monkeypatch.setenv("TABBOOK_DISCUSSIONS", "")
    assert "Discuss" not in book.chapter_page(chapter, notebooks, tmp_path / "src")
    monkeypatch.setenv("TABBOOK_DISCUSSIONS", "https://forum.example.org/{section}")
    with pytest.raises(BuildError, match="placeholders {chapter} and {title}"):
        book.chapter_page(chapter, notebooks, tmp_path / "src")
    monkeypatch.setenv("TABBOOK_DISCUSSIONS", "javascript:alert(1)//{chapter}")
    with pytest.raises(BuildError, match="not an https:// address"):
        book.chapter_page(chapter, notebooks, tmp_path / "src")


def test_sphinx_messages_name_the_chapter_source_line(tmp_path):
    text = chapter_text(*FOUR, "Prose line one.\n\nA broken reference {ref}`nosuchlabel` here.\n",
                        cell("[all]", "y = 1"))
    chapter, notebooks = write_book_sources(tmp_path, text, {})
    for name, notebook in notebooks.items():
        convert.write_notebook(notebook, tmp_path / "tabs" / name / "page.ipynb")
    with pytest.raises(BuildError) as raised:
        book.build([chapter], tabs=tmp_path / "tabs", source_dir=tmp_path / "src", html_dir=tmp_path / "html")
    broken = text.splitlines().index("A broken reference {ref}`nosuchlabel` here.") + 1
    message = str(raised.value)
    assert f"{chapter.path}:{broken}:" in message, message
    assert "nosuchlabel" in message and str(tmp_path / "src") not in message


@pytest.mark.parametrize("hostile", [
    ":" * 40,
    "log\n::::::\n\n```{include} /etc/passwd\n```\n\n::::::{tab-set}\n:::::{tab-item} x\n",
    "::::::::::::::::::::::::::::::::::::::::::::::::::::::::::::\n```{raw} html\n<meta http-equiv=refresh content=0>\n```",
])
def test_an_output_cannot_close_the_tabs_around_it(tmp_path, hostile):
    """A row of colons that starts a line of an output (text or HTML) must not end the
    colon-fenced tab set and tab items around it: the book makes every fence longer."""
    html_output = nbformat.v4.new_output("display_data", data={"text/html": f"<b>x</b>\n{hostile}\n",
                                                                "text/plain": "HTML"})
    chapter, notebooks = write_book_sources(  # in the first tab (MXNet), before the other three
        tmp_path, chapter_text(*FOUR), {"mxnet": {1: [stream("stdout", hostile + "\n"), html_output]}})
    for name, notebook in notebooks.items():
        convert.write_notebook(notebook, tmp_path / "tabs" / name / "page.ipynb")
    book.build([chapter], tabs=tmp_path / "tabs", source_dir=tmp_path / "src", html_dir=tmp_path / "html")
    page = (tmp_path / "html" / "page.html").read_text()
    assert "root:x:0:0" not in page and not re.search(r"<meta[^>]*refresh", page)
    for name in NAMES:  # the tab set holds every framework's tab: nothing after the output escaped
        assert re.search(f'<label [^>]*class="sd-tab-label"[^>]*data-sync-id="{name}"', page), name
    assert page.count('class="sd-tab-set') == 1 and "{tab-item}" not in page.replace("{tab-item} x", "")
