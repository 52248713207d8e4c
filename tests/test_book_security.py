"""What a chapter and its outputs can do to a reader (issue 24), in Chromium (as tests/test_book.py).

- An SVG output, opened by its own address (where it is a document of the book's origin, with no
  Content-Security-Policy): nothing runs and no request leaves, whatever the cell drew.
- A chapter whose prose got past the source check (built here from cells changed after it was
  read): the book's second wall (tabbook/bookguard.py) publishes no file of the machine, no meta
  refresh takes the reader away, no script runs.
- A chapter that uses what the book allows (an asset picture, a download, HTML of the outputs'
  allow-list) shows it.
"""
from __future__ import annotations

import base64
import dataclasses
import re

import nbformat
import pytest

from tabbook import book, convert
from tabbook.errors import BuildError
from tabbook.source import read_chapter

from .conftest import FOUR, chapter_text, serve

HOSTILE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="120" height="60" '
    'onload="window.pwned = 1; fetch(\'https://example.invalid/onload\')">'
    '<script>window.pwned = 2; fetch("https://example.invalid/script")</script>'
    '<style>@import url(https://example.invalid/a.css); rect { fill: url(https://example.invalid/b.svg#g) }</style>'
    '<image href="https://example.invalid/c.png" width="10" height="10"/>'
    '<use xlink:href="https://example.invalid/d.svg#x"/>'
    '<a href="javascript:window.pwned = 3"><text x="5" y="20">link</text></a>'
    '<foreignObject width="50" height="50"><iframe xmlns="http://www.w3.org/1999/xhtml" '
    'src="https://example.invalid/e"></iframe></foreignObject>'
    '<rect width="120" height="60" fill="#08c" onmouseover="window.pwned = 4"/></svg>')
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
SECRET = "TOPSECRET-4242"


def _built(out, text, prose=None, outputs=None):
    """Build a one-chapter book from ``text`` (its last Markdown cell replaced by ``prose``, past the
    source check, where given; ``outputs`` put into its code cell 1 of every framework); serve it."""
    source = out / "notebooks" / "page.md"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(text)
    chapter = read_chapter(source)
    if prose is not None:
        cells = list(chapter.cells)
        last = max(index for index, cell in enumerate(cells) if cell.kind == "markdown")
        cells[last] = dataclasses.replace(cells[last], source=prose)
        chapter = dataclasses.replace(chapter, cells=tuple(cells))
    for name in chapter.frameworks:
        notebook = convert.to_notebook(chapter, name)
        for cell in notebook.cells:
            if cell.metadata.get("dlblocks", {}).get("cell") == 2 and outputs:
                cell.outputs = outputs
        convert.write_notebook(notebook, out / "tabs" / name / "page.ipynb")
    problems = ""
    try:
        book.build([chapter], tabs=out / "tabs", source_dir=out / "src", html_dir=out / "html")
    except BuildError as error:
        problems = str(error)
    base, httpd = serve(out / "html")
    return base, out / "html", problems, httpd


@pytest.fixture(scope="module")
def svg_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("svg")
    figure = nbformat.v4.new_output("display_data", data={"image/svg+xml": HOSTILE_SVG, "text/plain": "<Figure>"})
    base, html, problems, httpd = _built(out, chapter_text(*FOUR), outputs=[figure])
    assert problems == ""
    yield base, html
    httpd.shutdown()


def test_an_svg_opened_by_its_address_runs_nothing_and_fetches_nothing_outside(svg_site, open_page):
    base, html = svg_site
    images = sorted(html.glob("_images/*.svg"))
    assert images, "the figure is published"
    text = images[0].read_text()
    for gone in ("<script", "onload", "onmouseover", "javascript:", "foreignObject", "@import", "url(http",
                 'href="http'):
        assert gone not in text, gone
    page = open_page()
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page.goto(f"{base}/_images/{images[0].name}")
    page.wait_for_load_state("networkidle")
    page.mouse.move(60, 30)
    page.mouse.click(10, 18)
    page.wait_for_timeout(300)
    assert page.evaluate("window.pwned") is None
    assert page.locator("rect").count() == 1, "the drawing is kept"
    # What the filter made relative to the book can only ask the book's own server (and miss).
    page.errors[:] = [error for error in page.errors if "404" not in error]


def test_the_page_shows_the_sanitized_svg(svg_site, open_page):
    base, _ = svg_site
    page = open_page()
    page.goto(f"{base}/page.html?framework=pytorch")
    image = page.locator(".sd-tab-content:visible figure.output-figure img").first
    assert image.evaluate("i => i.complete && i.naturalWidth") > 0


@pytest.fixture(scope="module")
def prose_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("prose")
    secret = out / "secret.txt"
    secret.write_text(SECRET)
    hostile = (f'<meta http-equiv="refresh" content="0;url=https://example.invalid/away">\n\n'
               f"```{{include}} {secret}\n```\n\n"
               f"```{{eval-rst}}\n.. include:: {secret}\n.. raw:: html\n\n   <script>window.pwned = 5</script>\n```\n\n"
               f"![leak]({secret}) [leak](path:{secret}) {{download}}`{secret}`\n\n"
               '<b onclick="window.pwned = 6">bold-marker</b> <!-- --!><script>window.pwned = 7</script> -->\n')
    base, html, problems, httpd = _built(out, chapter_text(*FOUR, "Placeholder prose.\n"), prose=hostile)
    yield base, html, problems
    httpd.shutdown()


def test_prose_past_the_source_check_still_publishes_no_file_and_runs_nothing(prose_site, open_page):
    base, html, problems = prose_site
    assert "is not a file of the book" in problems and "disabled" in problems, problems
    assert "notebooks/page.md:" in problems, "Sphinx's warnings name the chapter's lines"
    leaked = [str(path) for path in html.rglob("*") if path.is_file() and SECRET.encode() in path.read_bytes()]
    assert leaked == []
    page = open_page()
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page.goto(f"{base}/page.html")
    page.wait_for_timeout(1500)  # a refresh of 0 s would have left by now
    assert page.url.startswith(f"{base}/page.html")
    page.get_by_text("bold-marker").click()
    assert page.evaluate("window.pwned") is None
    assert page.locator("meta[http-equiv=refresh]").count() == 0


def test_a_chapter_shows_its_assets_and_allowed_html(tmp_path, open_page):
    (tmp_path / "notebooks" / "assets").mkdir(parents=True)
    (tmp_path / "notebooks" / "assets" / "dot.png").write_bytes(PNG)
    (tmp_path / "notebooks" / "assets" / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "notebooks" / "assets" / "unnamed.txt").write_text("not named by any chapter")
    prose = ("A dot: ![a dot](assets/dot.png), the data: {download}`data <assets/data.csv>`.\n\n"
             "<details><summary>More</summary>\n\nHidden <sub>text</sub>.\n\n</details>\n")
    base, html, problems, httpd = _built(tmp_path, chapter_text(*FOUR, prose))
    try:
        assert problems == ""
        page = open_page()
        page.goto(f"{base}/page.html")
        assert page.locator("img[alt='a dot']").evaluate("i => i.complete && i.naturalWidth") == 1
        href = page.locator("a.download", has_text="data").get_attribute("href")
        assert page.request.get(f"{base}/{href}").text() == "a,b\n1,2\n"
        page.get_by_text("More").click()
        assert page.get_by_text("Hidden").is_visible()
        assert not [path for path in html.rglob("unnamed.txt")], "only the files a chapter names are published"
    finally:
        httpd.shutdown()
