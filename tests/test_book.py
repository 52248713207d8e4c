"""The HTML book in a real browser: Debian's Chromium driven by Playwright, pages on localhost.

Every page visit records the browser's requests and console errors; each test asserts that no
request left 127.0.0.1 and that the console stayed clean.
"""
from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pypdf
import pytest

from tabbook import book, convert, pdf, provenance
from tabbook.envs import envs_root
from tabbook.frameworks import NAMES, NOTEBOOKS, ROOT, get
from tabbook.source import find_chapters, read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text, serve


ARTIFACTS = ROOT / "build" / "test-artifacts"


#: The repository the tested book says it is published from (book/conf.py's setting, as a fork
#: sets it): the checkout that runs the tests may have no GitHub remote, and then no such link.
REPOSITORY = "https://github.com/tabbook-tests/four-frameworks"


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The book built from the committed notebooks, served on localhost, published (as
    book/conf.py's setting says) from :data:`REPOSITORY`, discussions included."""
    out = tmp_path_factory.mktemp("book")
    chapters = [read_chapter(path) for path in find_chapters(NOTEBOOKS)]
    with pytest.MonkeyPatch.context() as setting:
        setting.setenv("TABBOOK_REPOSITORY", REPOSITORY)
        setting.delenv("TABBOOK_DISCUSSIONS", raising=False)
        seconds = book.build(chapters, source_dir=out / "src", html_dir=out / "html")
        print(f"book built in {seconds:.1f} s")
        base, httpd = serve(out / "html")
        yield base, out / "html"
    httpd.shutdown()


@pytest.fixture(scope="session")
def gap_site(tmp_path_factory):
    """A small book whose second group has no MindSpore cell (notebooks converted, not executed)."""
    out = tmp_path_factory.mktemp("gap")
    (out / "notebooks").mkdir()
    source = out / "notebooks" / "gaps.md"
    source.write_text(chapter_text(*FOUR, "Now a step three frameworks share.\n",
                                   cell("[mxnet, pytorch, tensorflow]", "y = 2")))
    chapter = read_chapter(source)
    for name in NAMES:
        convert.write_notebook(convert.to_notebook(chapter, name), out / "tabs" / name / "gaps.ipynb")
    book.build([chapter], tabs=out / "tabs", source_dir=out / "src", html_dir=out / "html")
    base, httpd = serve(out / "html")
    yield base
    httpd.shutdown()


def selected_tabs(page) -> list[str]:
    """The label of the selected tab in every tab group of the page, in page order."""
    return page.eval_on_selector_all(
        ".sd-tab-set", "sets => sets.map(s => s.querySelector('input:checked + label').textContent.trim())")


def test_clicking_a_framework_switches_every_group(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    # every tab group of a section page (a dozen or more) shows one framework, then another
    assert len(set(selected_tabs(page))) == 1 and len(selected_tabs(page)) >= 10
    page.locator(".sd-tab-set").nth(3).get_by_text("TensorFlow", exact=True).click()
    assert selected_tabs(page) == ["TensorFlow"] * page.locator(".sd-tab-set").count()


def test_the_choice_follows_through_the_chapters_in_toc_order_and_survives_a_reload(site, page):
    base, _ = site
    page.goto(f"{base}/index.html")
    page.locator(".sd-tab-set").first.get_by_text("TensorFlow", exact=True).click()
    for chapter in [path.stem for path in find_chapters(NOTEBOOKS)]:  # in notebooks/toc.yml's order
        page.locator("a.right-next").click()
        page.wait_for_url(f"**/{chapter}.html")
        assert set(selected_tabs(page)) == {"TensorFlow"}, chapter
    page.reload()
    assert set(selected_tabs(page)) == {"TensorFlow"}


def test_the_url_selects_a_framework(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html?framework=mindspore")
    assert set(selected_tabs(page)) == {"MindSpore"}
    page.goto(f"{base}/index.html")  # and it is remembered
    assert set(selected_tabs(page)) == {"MindSpore"}


def test_a_group_without_a_framework_shows_a_note(gap_site, page):
    page.goto(f"{gap_site}/gaps.html?framework=mindspore")
    group = page.locator(".sd-tab-set").nth(1)
    panel = group.locator(".sd-tab-content:visible")
    assert panel.inner_text().strip().endswith("Not available in MindSpore.")
    assert panel.locator("pre").count() == 0, "no other framework's code in the MindSpore tab"
    group.get_by_text("PyTorch", exact=True).click()
    assert "y = 2" in group.locator(".sd-tab-content:visible").inner_text()


def test_output_images_load(site, page):
    base, _ = site
    page.goto(f"{base}/training-on-mnist.html?framework=pytorch")
    images = page.locator("img.output")
    assert images.count() >= 4  # the training curves of every framework
    widths = images.evaluate_all("images => images.map(image => image.complete ? image.naturalWidth : 0)")
    assert all(width > 0 for width in widths)


def test_notebooks_and_source_are_linked_for_download(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    hrefs = page.eval_on_selector_all("a.download", "links => links.map(link => link.href)")
    assert sum(href.endswith("custom-layers.ipynb") for href in hrefs) == 4
    assert any(href.endswith("/custom-layers.md") for href in hrefs)
    for href in hrefs:
        assert page.request.get(href).ok, href


def test_each_framework_has_its_download_and_colab_link(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    repository, branch = book.repository_settings()
    owner_repo = urlparse(repository).path.strip("/")
    rows = page.eval_on_selector_all(".tabbook-run li", "items => items.map(item => item.innerText)")
    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "links => links.map(l => l.href)")
    assert colab == [f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/tabs/{name}/custom-layers.ipynb"
                     for name in ("pytorch", "tensorflow", "mindspore")]
    assert [row.split(":")[0] for row in rows] == ["MXNet", "PyTorch", "TensorFlow", "MindSpore"]
    assert "Open in Colab: not available (MXNet 1.9.1 does not run on Python 3.12 or later: it imports distutils" in rows[0]
    for name in NAMES:  # each row's download is its own framework's notebook
        href = page.eval_on_selector(f".tabbook-run li:nth-child({NAMES.index(name) + 1}) a.download", "a => a.href")
        downloaded = json.loads(page.request.get(href).text())
        assert downloaded["metadata"]["dlblocks"]["framework"] == name
        assert downloaded["metadata"]["kernelspec"]["name"] == "python3"
    assert page.eval_on_selector_all(f"header a[href='{repository}']", "links => links.length") >= 1


def test_each_framework_offers_all_its_notebooks_as_one_zip(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    chapters = [read_chapter(path) for path in find_chapters(NOTEBOOKS)]
    for name in NAMES:
        title = get(name).title
        hrefs = page.eval_on_selector_all(
            f".tabbook-run li:nth-child({NAMES.index(name) + 1}) a.download",
            "links => links.filter(l => l.innerText.includes('notebooks (zip)')).map(l => [l.innerText, l.href])")
        assert [text for text, _ in hrefs] == [f"all {title} notebooks (zip)"]
        response = page.request.get(hrefs[0][1])
        assert response.ok, hrefs[0][1]
        folder = f"four-frameworks-{name}/"
        expected = [f"{chapter.name}.ipynb" for chapter in chapters if name in chapter.frameworks]
        with zipfile.ZipFile(io.BytesIO(response.body())) as archive:
            library = [f"dlblocks/{module}.py" for module in ("__init__", "data", get(name).module)]
            assert archive.namelist() == [folder + member for member in [*expected, "requirements.txt", *library]]
            for member in library:  # the reader's library, as in library/
                assert archive.read(folder + member) == (ROOT / "library" / member).read_bytes()
            for member in expected:  # in toc order, each the notebook a reader downloads alone
                data = archive.read(folder + member)
                notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
                nbformat.validate(notebook)
                assert notebook.metadata.dlblocks.framework == name
                assert data == (ROOT / "tabs" / name / member).read_bytes()
            assert archive.read(folder + "requirements.txt") == get(name).requirements.read_bytes()


def test_each_framework_row_says_when_its_notebook_was_executed(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    rows = page.eval_on_selector_all(".tabbook-run li", "items => items.map(item => item.innerText)")
    for name, row in zip(NAMES, rows, strict=True):
        line = provenance.shown_line(nbformat.read(ROOT / "tabs" / name / "custom-layers.ipynb", as_version=4))
        assert line and line.startswith("Executed on ")
        assert line in row, row


@pytest.mark.parametrize("name", ["index", "custom-layers", "file-io"])
def test_the_sidebar_holds_the_whole_table_of_contents_and_the_header_no_chapter(site, page, name):
    """Navigation for a book of ten sections and more (issue 22): every part and every section of
    notebooks/toc.yml in the sidebar, in order, the current one marked; the header row lists none."""
    from tabbook import toc

    base, _ = site
    page.goto(f"{base}/{name}.html")
    chapters = {chapter.name: chapter for chapter in map(read_chapter, find_chapters(NOTEBOOKS))}
    parts = toc.parts_of(list(chapters), NOTEBOOKS)
    sidebar = page.locator("nav.tabbook-toc")
    assert sidebar.is_visible()
    assert sidebar.locator(".caption-text").all_inner_texts() == [part.caption for part in parts]
    links = sidebar.locator("li.toctree-l1 > a")
    assert [text.split(". ", 1)[1] for text in links.all_inner_texts()] == [
        chapters[chapter].title for part in parts for chapter in part.chapters]
    assert [href.split("#")[0] or f"{name}.html" for href in links.evaluate_all("all => all.map(a => a.getAttribute('href'))")] \
        == [f"{chapter}.html" for part in parts for chapter in part.chapters]
    if name != "index":
        assert sidebar.locator("li.current > a").inner_text().endswith(chapters[name].title)
    assert page.locator(f"header a[href$='{name}.html'], header a[href$='file-io.html']").count() == 0


def test_the_run_box_is_open_on_a_desktop_and_closed_on_a_phone(site, open_page):
    """On a phone (390 px) the "Run it yourself" box would fill the first screen: it starts closed
    there, and opens with a tap; on a desktop it is open."""
    base, _ = site
    desktop = open_page()
    desktop.goto(f"{base}/custom-layers.html")
    assert desktop.locator("details.tabbook-run").evaluate("box => box.open")
    assert desktop.locator("details.tabbook-run a.download").first.is_visible()
    phone = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{base}/custom-layers.html")
    box = phone.locator("details.tabbook-run")
    assert not box.evaluate("box => box.open")
    assert not box.locator("a.download").first.is_visible()
    assert box.bounding_box()["height"] < 844 / 4
    box.locator("summary").tap()
    assert box.locator("a.download").first.is_visible()


#: How the README and docs/the-book.md say to serve the book, and the search page's note from disk.
SERVE = "python3 -m http.server -d build/html"


def _search(page, url: str) -> dict:
    """Search the book at ``url`` (search.html?q=...): once Sphinx says it finished, the number
    of results, of excerpts shown under them, and the from-disk note's text where it is shown."""
    page.goto(url)
    page.wait_for_function("""() => /^Search finished/.test(
        document.querySelector('#search-results p.search-summary')?.innerText ?? '')""", timeout=15000)
    results = page.locator("#search-results li")
    # the excerpts are fetched after the list is drawn: wait for them where there are any
    page.wait_for_function("""() => { const items = document.querySelectorAll('#search-results li');
        return location.protocol === 'file:' || Array.from(items).every(li => li.querySelector('p.context')); }""",
                           timeout=15000)
    note = page.locator(".tabbook-search-from-disk")
    return {"results": results.count(), "excerpts": page.locator("#search-results li p.context").count(),
            "note": " ".join(note.inner_text().split()) if note.is_visible() else None}


def test_search_finds_a_word_of_the_chapter_with_excerpts_over_http(site, page):
    base, _ = site
    found = _search(page, f"{base}/search.html?q=CenteredLayer")
    assert page.locator("#search-results a[href*='custom-layers']").count() == 1
    assert found["results"] >= 1 and found["excerpts"] == found["results"] and found["note"] is None
    assert "centeredlayer" in page.locator("#search-results li p.context").first.inner_text().lower()


def test_search_from_disk_lists_pages_without_excerpts_and_says_to_serve_the_folder(site, page):
    """Sphinx (9.0) fetches each result's page for its excerpt; a page opened from disk may not
    fetch another (Chromium: CORS), and Sphinx has no option to show excerpts without fetching.
    From disk the search page lists the results without excerpts, with no error in the console
    (the page fixture checks), and says what the README and docs/the-book.md say: serve it."""
    _, html = site
    found = _search(page, (html / "search.html").as_uri() + "?q=CenteredLayer")
    assert page.locator("#search-results a[href*='custom-layers']").count() == 1
    assert found["results"] >= 1 and found["excerpts"] == 0
    assert found["note"] is not None and SERVE in found["note"]
    for doc in ("README.md", "docs/the-book.md"):
        text = " ".join((ROOT / doc).read_text().split())
        assert SERVE in text and "excerpt" in text, f"{doc} says to serve the book for search excerpts"


def test_dark_mode_and_the_page_toc(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    assert page.locator("nav.page-toc a", has_text="Trainable Parameters and Constants").count() == 1
    page.locator("button.theme-switch-button:visible").click()
    page.locator(".theme-change-button[data-mode=dark]:visible").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(part) for part in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 3 * 80, f"the page is not dark: {background}"


def test_the_book_opens_from_a_file_url(site, page):
    _, html = site
    page.goto((html / "custom-layers.html").as_uri())
    page.locator(".sd-tab-set").first.get_by_text("MXNet", exact=True).click()
    assert set(selected_tabs(page)) == {"MXNet"}


def test_screenshot_of_a_chapter_page(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html?framework=pytorch")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "custom-layers.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 10_000


# --- outputs as a reader sees them (issue 12) and hostile outputs (issue 11) ---------------------

OMIT_FRONT = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mindspore: \"MindSpore has no CPU kernel for this fixture\"\n", 1)
HOSTILE_HTML = ('</div></div></div><script>window.pwned = 1</script>'
                '<script src="https://example.invalid/x.js"></script>'
                '<img src="https://example.invalid/pixel.png" onerror="window.pwned = 2">'
                '<b>inside-marker</b><table><tr><td>cell-marker</td></tr></table>')


def _output(kind, **fields):
    return nbformat.v4.new_output(kind, **fields)


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory, browser):
    """A book of one chapter that leaves MindSpore out (front matter), whose notebooks carry
    outputs of every kind, some hostile: split streams, stderr with a machine path, ANSI codes,
    HTML with scripts and tags that try to close the tab, Markdown, SVG and JPEG figures."""
    out = tmp_path_factory.mktemp("hostile")
    (out / "notebooks").mkdir()
    source = out / "notebooks" / "hostile.md"
    source.write_text(chapter_text(*FOUR[:3], "After the code, shared prose: after-marker.\n",
                                   cell("[all]", "show()"), front=OMIT_FRONT))
    chapter = read_chapter(source)
    jpeg_page = browser.new_page()
    jpeg = jpeg_page.evaluate("""() => { const c = document.createElement('canvas'); c.width = 60; c.height = 30;
        const x = c.getContext('2d'); x.fillStyle = '#c00'; x.fillRect(0, 0, 60, 30);
        return c.toDataURL('image/jpeg').split(',')[1]; }""")
    jpeg_page.close()
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><script>window.pwned = 3</script>'
           '<rect width="120" height="60" fill="#08c"/></svg>')
    machine = f"{envs_root()}/pytorch-0123456789ab/lib/python3.11/site-packages/torch/warn.py"
    streams = [_output("stream", name="stdout", text=f"epoch {n}\n") for n in (1, 2, 3)] + [
        _output("stream", name="stderr", text=f"{machine}:7: UserWarning: careful\n"),
        _output("stream", name="stdout", text="\x1b[31mred text\x1b[0m\n"),
        _output("execute_result", data={"text/plain": f"'{ROOT}/secret.txt'"}, execution_count=1)]
    shown = [_output("display_data", data={"text/html": HOSTILE_HTML, "text/plain": "<HTML>"}),
             _output("display_data", data={"text/markdown": "**bold markdown** <script>window.pwned = 4</script>",
                                           "text/plain": "<Markdown>"}),
             _output("display_data", data={"image/svg+xml": svg, "text/plain": "<SVG>"}),
             _output("display_data", data={"image/jpeg": jpeg, "text/plain": "<JPEG>"}),
             _output("error", ename="ValueError", evalue="bad",
                     traceback=["\x1b[0;31mValueError\x1b[0m: bad", f"File {machine}:1"])]
    for name in chapter.frameworks:
        notebook = convert.to_notebook(chapter, name)
        for nb_cell in notebook.cells:
            index = nb_cell.metadata.get("dlblocks", {}).get("cell")
            if name == "pytorch" and index == 2:
                nb_cell.outputs = streams
            if index == 5:
                nb_cell.outputs = shown
        convert.write_notebook(notebook, out / "tabs" / name / "hostile.ipynb")
    book.build([chapter], tabs=out / "tabs", source_dir=out / "src", html_dir=out / "html")
    base, httpd = serve(out / "html")
    yield base, out / "html"
    httpd.shutdown()


def _panel_texts(page) -> list[str]:
    return page.eval_on_selector_all(".sd-tab-content", "panels => panels.map(p => p.innerText)")


def test_an_injected_script_does_not_run_and_fetches_nothing(hostile_site, page):
    base, _ = hostile_site
    page.goto(f"{base}/hostile.html?framework=pytorch")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned") is None
    assert "inside-marker" in page.locator("div.output.html").first.inner_text()
    # the page fixture asserts that no request left 127.0.0.1


def test_closing_tags_in_an_output_stay_inside_its_tab(hostile_site, page):
    base, _ = hostile_site
    page.goto(f"{base}/hostile.html?framework=tensorflow")
    for marker in ("inside-marker", "cell-marker"):
        inside = page.get_by_text(marker).evaluate_all("all => all.map(e => e.closest('.sd-tab-content') !== null)")
        assert inside == [True, True, True], marker
    after = page.get_by_text("after-marker")
    assert after.evaluate("e => e.closest('.sd-tab-set') === null"), "the shared prose after it is outside the tabs"
    assert page.locator(".sd-tab-set").count() == 2
    assert all(page.locator(".sd-tab-set").nth(n).locator("label").count() == 4 for n in range(2))


def test_the_content_security_policy_blocks_inline_and_external_scripts(hostile_site, page):
    base, html = hostile_site
    text = (html / "hostile.html").read_text()
    probe = re.sub(r"(<body[^>]*>)", r'\1<script>window.inlineRan = 1</script>'
                   r'<script src="https://example.invalid/x.js"></script>', text, count=1)
    (html / "csp-probe.html").write_text(probe)
    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    page.goto(f"{base}/csp-probe.html")
    assert page.evaluate("window.inlineRan") is None
    assert any("Content Security Policy" in error for error in page.errors), page.errors
    page.errors.clear()  # the violations were the point of this test
    page.requests[:] = [url for url in page.requests if "example.invalid" not in url]


def test_every_page_has_the_policy_first_and_no_inline_script(site, hostile_site):
    for folder in (site[1], hostile_site[1]):
        for path in folder.glob("*.html"):  # the pages (_static holds the theme's own templates)
            if path.name == "csp-probe.html":
                continue
            text = path.read_text()
            head = text[:text.index("</head>")]
            assert 'http-equiv="Content-Security-Policy"' in head, path
            assert head.index("Content-Security-Policy") < head.index("<script"), path
            assert "script-src 'self';" in head
            inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text)
            assert inline == [], f"{path}: inline scripts {inline}"
            assert len(re.findall(r'<meta name="viewport"', text)) == 1, path


def test_one_block_per_stream_and_stderr_looks_like_a_warning(hostile_site, page):
    base, _ = hostile_site
    page.goto(f"{base}/hostile.html?framework=pytorch")
    panel = page.locator(".sd-tab-content:visible").first
    stdout = panel.locator("div.output.stdout")
    assert stdout.count() == 2  # epochs 1 to 3 in one block; the line after stderr in another
    assert stdout.first.inner_text().strip() == "epoch 1\nepoch 2\nepoch 3"
    stderr = panel.locator("div.output.stderr")
    assert stderr.count() == 1
    colour = "e => getComputedStyle(e.querySelector('pre')).borderLeftColor"
    assert stderr.evaluate(colour) != stdout.first.evaluate(colour)
    assert stderr.evaluate("e => getComputedStyle(e.querySelector('div.highlight'), '::before').content") == '"stderr"'
    warning = page.evaluate("""() => { const probe = document.createElement('i');
        probe.style.color = 'var(--pst-color-warning)'; document.body.append(probe);
        const colour = getComputedStyle(probe).color; probe.remove(); return colour; }""")
    assert stderr.evaluate(colour) == warning


def test_the_training_log_is_one_block_in_every_framework(site, page):
    base, _ = site
    page.goto(f"{base}/training-on-mnist.html")
    counts = page.evaluate("""() => Array.from(document.querySelectorAll('div.highlight-python'))
        .filter(block => block.innerText.includes('history = train(') || block.innerText.includes('history = net.fit('))
        .map(block => { let n = 0;
            for (let e = block.nextElementSibling; e && !e.matches('div.highlight-python'); e = e.nextElementSibling)
                if (e.matches('div.output.stdout')) n++;
            return n; })""")
    assert counts == [1, 1, 1, 1]


def test_no_page_shows_a_path_of_the_build_machine(site, hostile_site):
    paths = [str(ROOT), str(envs_root()), str(Path.home()) + "/"]
    for folder in (site[1], hostile_site[1]):
        for path in [*folder.glob("*.html"), *folder.glob("_images/*.svg"), folder / "searchindex.js"]:
            text = path.read_text()
            found = [machine for machine in paths if machine in text]
            assert found == [], f"{path} shows {found}"
    hostile = (hostile_site[1] / "hostile.html").read_text()
    assert "&lt;env&gt;/lib/python3.11/site-packages/torch/warn.py" in hostile
    assert "&lt;repo&gt;/secret.txt" in hostile


def test_no_executed_notebook_holds_a_path_of_the_build_machine():
    for path in (ROOT / "tabs").glob("*/*.ipynb"):
        text = path.read_text()
        for machine in (str(ROOT), str(envs_root()), str(Path.home()) + "/"):
            assert machine not in text, f"{path} holds {machine}"


def test_other_output_types_render(hostile_site, page):
    base, _ = hostile_site
    page.goto(f"{base}/hostile.html?framework=mxnet")
    panel = page.locator(".sd-tab-content:visible").nth(1)
    assert panel.locator("div.output.markdown strong").inner_text() == "bold markdown"
    sources = panel.locator("figure.output-figure img").evaluate_all(
        "images => images.map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0])")
    assert [src.rsplit(".", 1)[1] for src, _ in sources] == ["svg", "jpg"]
    assert all(width > 0 for _, width in sources)
    assert panel.locator("figure.output-figure figcaption").all_inner_texts() == ["Figure 1.1.", "Figure 1.2."]
    assert "ValueError: bad" in panel.locator("div.output.error").inner_text()
    page.goto(f"{base}/hostile.html?framework=pytorch")
    body = page.locator("article").inner_text()
    assert "red text" in body and "\x1b" not in body and "[31m" not in body and "[0;31m" not in body


def test_an_omitted_framework_shows_its_note_in_every_group(hostile_site, page):
    base, _ = hostile_site
    page.goto(f"{base}/hostile.html?framework=mindspore")
    panels = page.locator(".sd-tab-content:visible")
    assert panels.count() == 2
    for n in range(2):
        note = panels.nth(n).locator(".admonition.note")
        assert note.is_visible()
        assert note.inner_text().strip().endswith("Not available in MindSpore: MindSpore has no CPU kernel for this fixture")
        assert panels.nth(n).locator("pre").count() == 0


def test_the_framework_in_the_address_ignores_case(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html?framework=PyTorch")
    assert set(selected_tabs(page)) == {"PyTorch"}
    assert page.url.endswith("?framework=pytorch")


def test_an_unknown_framework_in_the_address_keeps_the_saved_choice(site, page):
    base, _ = site
    page.goto(f"{base}/index.html")
    page.locator(".sd-tab-set").first.get_by_text("MindSpore", exact=True).click()
    page.goto(f"{base}/custom-layers.html?framework=jax")
    assert set(selected_tabs(page)) == {"MindSpore"}
    assert page.evaluate("localStorage.getItem('sphinx-design-tab-id-framework')") == "mindspore"
    assert "framework=" not in page.url


def test_a_search_hit_lands_on_its_match_in_its_framework_tab(site, page):
    base, _ = site
    page.goto(f"{base}/index.html?framework=pytorch")  # the reader's choice: PyTorch
    page.goto(f"{base}/search.html?q=GradientTape")
    page.locator("#search-results a[href*='custom-layers']").first.click()
    page.wait_for_url("**/custom-layers.html*")
    hit = page.locator("span.highlighted.tabbook-search-hit")
    hit.wait_for(state="visible", timeout=5000)
    assert hit.inner_text().lower() == "gradienttape"
    assert set(selected_tabs(page)) == {"TensorFlow"}, "the tab that holds the match is open"
    box = hit.bounding_box()
    assert box and 0 <= box["y"] <= page.viewport_size["height"], "the page scrolled to the match"
    assert page.evaluate("localStorage.getItem('sphinx-design-tab-id-framework')") == "pytorch", \
        "the reader's own choice is kept for the next page"


def test_the_copy_button_copies_the_code_only(site, open_page):
    base, _ = site
    page = open_page(permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"{base}/training-on-mnist.html?framework=pytorch")
    assert page.locator("div.output button.copybtn").count() == 0, "outputs have no copy button"
    block = page.locator(".sd-tab-content:visible div.highlight-python", has_text="history = train(").first
    code = block.locator("pre").inner_text()
    block.hover()
    block.locator("button.copybtn").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.strip() == code.strip()
    assert "epoch" not in copied.lower().replace("num_epochs", "")


def test_figures_are_sharp_numbered_and_described(site, page):
    base, _ = site
    page.goto(f"{base}/training-on-mnist.html?framework=tensorflow")
    figures = page.locator("figure.output-figure:visible")
    assert figures.count() == 2
    for n in range(2):
        image = figures.nth(n).locator("img")
        src, natural, shown = image.evaluate("i => [i.getAttribute('src'), i.naturalWidth, i.clientWidth]")
        assert src.endswith(".svg") or natural >= 2 * shown, (src, natural, shown)
        assert "Figure" not in image.get_attribute("alt") and len(image.get_attribute("alt")) > 30
    # The chapter's number is its place in notebooks/toc.yml: its sections and figures are N.M.
    number = [path.stem for path in find_chapters(NOTEBOOKS)].index("training-on-mnist") + 1
    assert figures.locator("figcaption").all_inner_texts()[0].startswith(f"Figure {number}.1.")
    assert figures.locator("figcaption").all_inner_texts()[1].startswith(f"Figure {number}.2.")
    headings = page.locator("article h2").all_inner_texts()
    assert headings[0].startswith(f"{number}.1. ")
    assert page.locator("article h1").inner_text().startswith(f"{number}. ")


def test_mathjax_only_on_pages_with_math(site, page):
    base, _ = site
    page.goto(f"{base}/index.html")
    assert page.locator("script[src*='mathjax']").count() == 0
    page.goto(f"{base}/custom-layers.html")
    assert page.locator("script[src*='mathjax/tex-chtml']").count() == 1
    page.locator("mjx-container").first.wait_for(timeout=10000)


def test_a_link_to_another_section_goes_to_its_page_and_code_keeps_its_text(tmp_path):
    """``[Title](name.ipynb)`` links notebook to notebook in Jupyter and page to page in the book
    (tabbook.bookguard.SectionLinks); the same text in a code span or a fence is left as written."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "toc.yml").write_text("parts:\n  - caption: Part\n    chapters: [first, second]\n")
    (folder / "first.md").write_text(chapter_text(*FOUR, title="# First"))
    (folder / "second.md").write_text(chapter_text(
        "See [the first section](first.ipynb), not "
        "`[code](first.ipynb)`.\n\n```text\n[fenced](first.ipynb)\n```\n", *FOUR, title="# Second"))
    chapters = [read_chapter(folder / f"{name}.md") for name in ("first", "second")]
    for chapter in chapters:
        for name in NAMES:
            convert.write_notebook(convert.to_notebook(chapter, name), tmp_path / "tabs" / name / f"{chapter.name}.ipynb")
    book.build(chapters, tabs=tmp_path / "tabs", source_dir=tmp_path / "src", html_dir=tmp_path / "html")
    html = (tmp_path / "html" / "second.html").read_text()
    assert re.search(r'<a class="reference internal" href="first.html"><span class="std std-doc">the first section', html) \
        or 'href="first.html"' in html, html[:2000]
    assert "[code](first.ipynb)" in html and "[fenced](first.ipynb)" in html
    assert "first.md" not in html.replace("_sources_md/first.md", "").replace("first.md.txt", "")


def test_the_chapter_links_its_discussion(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    chapter = read_chapter(NOTEBOOKS / "custom-layers.md")
    expected = book.discussion_link(chapter)
    assert expected is not None, "book/conf.py sets a discussion URL pattern"
    assert page.locator(f"a[href='{expected[1]}']").count() == 1


@pytest.mark.parametrize("name", ["index", "custom-layers"])
def test_a_phone_needs_no_sideways_scrolling_and_tabs_fit_one_row(site, open_page, name):
    base, _ = site
    page = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{base}/{name}.html")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    rows = page.eval_on_selector_all(".sd-tab-set", """sets => sets.map(s =>
        new Set(Array.from(s.querySelectorAll(':scope > label')).map(l => l.offsetTop)).size)""")
    assert rows and set(rows) == {1}, "every group's tab labels are on one row"
    wide = page.evaluate("""() => Array.from(document.querySelectorAll('div.output:not(.stdout) pre'))
        .filter(p => p.getClientRects().length && p.scrollWidth > p.clientWidth + 1).length""")
    assert wide == 0, "output lines other than stdout's wrap"
    outside = page.evaluate("""() => Array.from(document.querySelectorAll('div.output'))
        .filter(o => o.getClientRects().length && o.getBoundingClientRect().right > 390).length""")
    assert outside == 0, "every output block fits the page (stdout scrolls inside its box)"
    tops = page.eval_on_selector_all("figure.output-figure", """all => all
        .filter(f => f.getClientRects().length).map(f => f.getBoundingClientRect().top)""")
    assert len(set(tops)) == len(tops), "on a phone the figures stack"
    titles = page.eval_on_selector_all(".prev-next-area p.prev-next-title", """titles => titles.map(e => {
        const box = e.getBoundingClientRect(), line = parseFloat(getComputedStyle(e).lineHeight);
        return box.height < 1.9 * line || box.width > 0.6 * e.closest('.prev-next-area').clientWidth; })""")
    assert titles and all(titles), "a previous/next title is one line, or wraps across the page's width"


#: The rendered lines of each visible output block, and whether it scrolls sideways inside itself.
RENDERED = """selector => Array.from(document.querySelectorAll(selector)).filter(p => p.getClientRects().length)
    .map(p => { const style = getComputedStyle(p);
        const content = p.scrollHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
        return {text: p.innerText.replace(/\\n$/, ''), rendered: Math.round(content / parseFloat(style.lineHeight)),
                scrolls: p.scrollWidth > p.clientWidth + 1, right: p.getBoundingClientRect().right}; })"""


@pytest.mark.parametrize("name", NAMES)
def test_on_a_phone_the_training_log_keeps_one_line_an_epoch(site, open_page, name):
    """At 390 px a log's 56-character epoch lines do not fit: wrapped, every one would break in
    two (issue 22). They keep their lines and scroll inside the output's box; the page does not."""
    base, _ = site
    page = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{base}/training-on-mnist.html?framework={name}")
    logs = [block for block in page.evaluate(RENDERED, "div.output.stdout pre")
            if re.match(r"(?i)epoch +1[:/]", block["text"])]  # ours, or Keras' "Epoch 1/15"
    assert len(logs) == 1, "one training log in the selected framework"
    log = logs[0]
    assert log["rendered"] == len(log["text"].splitlines()) >= 2, log
    assert log["scrolls"] and log["right"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_on_a_phone_an_output_with_a_very_long_line_stays_inside_the_page(site, open_page, stream):
    """A line of 400 characters without a space (a tensor printed on one line, a path): the
    output block holding it stays inside the 390 px page, scrolling (stdout) or wrapped (stderr)."""
    base, _ = site
    page = open_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(f"{base}/custom-layers.html?framework=pytorch")
    page.evaluate("""stream => {
        const shown = Array.from(document.querySelectorAll('div.output.stdout')).find(o => o.getClientRects().length);
        const block = shown.cloneNode(true);
        block.className = `output ${stream} long-line`; block.querySelector('pre').textContent = '0123456789'.repeat(40);
        shown.after(block); }""", stream)
    [block] = page.evaluate(RENDERED, "div.long-line pre")
    assert block["right"] <= 390, block
    assert (block["scrolls"], block["rendered"] > 1) == ((True, False) if stream == "stdout" else (False, True))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width,height", [(1300, 900), (390, 844)])
def test_screenshots_at_desktop_and_phone_widths(site, open_page, scheme, width, height):
    base, _ = site
    page = open_page(viewport={"width": width, "height": height}, color_scheme=scheme)
    page.goto(f"{base}/training-on-mnist.html?framework=pytorch")
    assert page.evaluate("document.documentElement.dataset.theme") == scheme
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    device = "desktop" if width > 600 else "phone"
    page.screenshot(path=str(ARTIFACTS / f"training-on-mnist-{device}-{scheme}.png"))
    page.locator("figure.output-figure:visible").first.scroll_into_view_if_needed()
    path = ARTIFACTS / f"training-on-mnist-{device}-{scheme}-figures.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000


@pytest.fixture(scope="session")
def pdfs(site, browser):
    """The PDFs of the book, printed by build.py pdf's code into the served book."""
    _, html = site
    chapters = [read_chapter(path) for path in find_chapters(NOTEBOOKS)]
    seconds, printed = pdf.build(chapters, source_dir=html.parent / "src", html_dir=html,
                                 single_dir=html.parent / "single", browser=browser)
    assert printed == list(NAMES)
    print(f"PDFs printed in {seconds:.1f} s")
    return {name: html / book.pdf_name(name) for name in NAMES}


#: Code that only one framework's chapter cells hold (whitespace removed, as PDF text has its own).
FRAMEWORK_CODE = {"mxnet": "importmxnetasmx", "pytorch": "importtorch", "tensorflow": "importtensorflowastf",
                  "mindspore": "importmindsporeasms"}


def _headings(name: str) -> list[str]:
    """The section headings (``## ``) of a chapter source, in order."""
    return [line[3:].strip() for line in (NOTEBOOKS / f"{name}.md").read_text().splitlines() if line.startswith("## ")]


def _numbered(name: str, heading: str) -> str:
    """A section heading as the PDF's text holds it, letters and digits only:
    ``<chapter>.<section>.<heading>``."""
    chapter = [path.stem for path in find_chapters(NOTEBOOKS)].index(name) + 1
    letters = re.sub(r"[^\w.]", "", heading)
    return f"{chapter}.{_headings(name).index(heading) + 1}.{letters}"


def test_each_pdf_holds_its_framework_code_only(site, pdfs, page):
    base, _ = site
    order = [path.stem for path in find_chapters(NOTEBOOKS)]
    page.goto(f"{base}/index.html")
    links = page.eval_on_selector_all("a.tabbook-pdf", "links => links.map(l => [l.innerText, l.href])")
    assert [text for text, _ in links] == ["MXNet", "PyTorch", "TensorFlow", "MindSpore"]
    for (_, href), name in zip(links, NAMES):
        response = page.request.get(href)
        assert response.ok and response.body().startswith(b"%PDF"), href
        reader = pypdf.PdfReader(pdfs[name])
        assert len(reader.pages) > 10
        text = re.sub(r"\s+", "", "".join(page_.extract_text() for page_ in reader.pages))
        assert FRAMEWORK_CODE[name] in text, f"{name}'s PDF lacks its code"
        others = [other for other in NAMES if other != name and FRAMEWORK_CODE[other] in text]
        assert others == [], f"{name}'s PDF holds code of {others}"
        # Every chapter, in the order of notebooks/toc.yml, to the end of the last one: each
        # chapter's first section heading, numbered as the book numbers it, in that order.
        # PDF text may hold ligatures (fl), other quotes and dashes than the source.
        text = re.sub(r"[^\w.]", "", unicodedata.normalize("NFKC", text))
        firsts = [_numbered(name, _headings(name)[0]) for name in order]
        assert all(first in text for first in firsts), [first for first in firsts if first not in text]
        assert [text.index(first) for first in firsts] == sorted(text.index(first) for first in firsts)
        figure = order.index("training-on-mnist") + 1
        assert f"Figure{figure}.1." in text and _numbered("custom-layers", "Exercises") in text and "Solution2" in text
        last = order[-1]
        assert _numbered(last, "Summary") in text and "Discussthischapter" in text, "the book is printed to its end"


def _outline_titles(entries) -> list[str]:
    """The titles of a PDF's bookmarks (pypdf's nested outline), depth first."""
    return [title for entry in entries
            for title in (_outline_titles(entry) if isinstance(entry, list) else [entry.title])]


def test_the_pdfs_link_the_book_and_the_configured_repository_only(pdfs):
    """Every link of a PDF is a file of the book, relative to the PDF, or the configured
    repository's Colab notebook or discussion: no file:// path of the build machine (issue 22);
    and its bookmarks read as its headings."""
    file_io = [path.stem for path in find_chapters(NOTEBOOKS)].index("file-io") + 1
    colab = f"https://colab.research.google.com/github/{urlparse(REPOSITORY).path.strip('/')}/blob/"
    for name, path in pdfs.items():
        reader = pypdf.PdfReader(path)
        links = [annotation.get_object()["/A"]["/URI"] for page_ in reader.pages
                 for annotation in page_.get("/Annots") or [] if "/URI" in (annotation.get_object().get("/A") or {})]
        relative = [link for link in links if not link.startswith("https://")]
        assert relative and all((path.parent / link).resolve().is_file() for link in relative), relative
        assert [link for link in links if "file:" in link] == []
        elsewhere = [link for link in links if link.startswith("https://")
                     and not link.startswith((colab, f"{REPOSITORY}/discussions?"))]
        assert elsewhere == [], f"{name}: links to what is not configured"
        titles = _outline_titles(reader.outline)
        assert "1. Layers and Modules" in titles and f"{file_io}. File I/O" in titles
        assert [title for title in titles if "  " in title or re.search(r"(\d+\.)+ \1", title)] == []
