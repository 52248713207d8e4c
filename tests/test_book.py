"""The HTML book in a real browser: Debian's Chromium driven by Playwright, pages on localhost.

Every page visit records the browser's requests and console errors; each test asserts that no
request left 127.0.0.1 and that the console stayed clean.
"""
from __future__ import annotations

import functools
import json
import re
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright import sync_api as playwright_api

from tabbook import book, convert
from tabbook.frameworks import NAMES, NOTEBOOKS, ROOT
from tabbook.source import find_chapters, read_chapter

from .conftest import FOUR, cell, chapter_text


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "build" / "test-artifacts"


def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; return (base URL, server)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", httpd


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The book built from the committed notebooks, served on localhost."""
    out = tmp_path_factory.mktemp("book")
    chapters = [read_chapter(path) for path in find_chapters(NOTEBOOKS)]
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


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Debian's Chromium: apt-get install chromium")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (empty local storage) whose requests and errors are recorded."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda request: page.requests.append(request.url))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    external = [url for url in page.requests
                if urlparse(url).scheme not in ("data", "blob", "file") and urlparse(url).hostname != "127.0.0.1"]
    assert external == [], "requests left the machine"
    assert page.errors == [], "the browser console reported errors"
    context.close()


def selected_tabs(page) -> list[str]:
    """The label of the selected tab in every tab group of the page, in page order."""
    return page.eval_on_selector_all(
        ".sd-tab-set", "sets => sets.map(s => s.querySelector('input:checked + label').textContent.trim())")


def test_clicking_a_framework_switches_every_group(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    assert len(set(selected_tabs(page))) == 1 and len(selected_tabs(page)) > 20
    page.locator(".sd-tab-set").nth(3).get_by_text("TensorFlow", exact=True).click()
    assert set(selected_tabs(page)) == {"TensorFlow"}


def test_the_choice_follows_to_the_next_page_and_survives_a_reload(site, page):
    base, _ = site
    page.goto(f"{base}/index.html")
    page.locator(".sd-tab-set").first.get_by_text("TensorFlow", exact=True).click()
    page.locator("a.right-next").click()
    page.wait_for_url("**/custom-layers.html")
    assert set(selected_tabs(page)) == {"TensorFlow"}
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
    page.goto(f"{base}/custom-layers.html?framework=pytorch")
    images = page.locator("img.output")
    assert images.count() >= 4  # the training curves of every framework
    widths = images.evaluate_all("images => images.map(image => image.complete ? image.naturalWidth : 0)")
    assert all(width > 0 for width in widths)


def test_notebooks_and_source_are_linked_for_download(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    hrefs = page.eval_on_selector_all("a.download", "links => links.map(link => link.href)")
    assert sum(href.endswith("custom-layers.ipynb") for href in hrefs) == 4
    assert any(href.endswith("custom-layers.md.txt") for href in hrefs)
    for href in hrefs:
        assert page.request.get(href).ok, href


def test_each_framework_has_its_download_and_colab_link(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    repository, branch = book.repository_settings()
    owner_repo = urlparse(repository).path.strip("/")
    rows = page.eval_on_selector_all(".admonition li", "items => items.map(item => item.innerText)")
    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "links => links.map(l => l.href)")
    assert colab == [f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/tabs/{name}/custom-layers.ipynb"
                     for name in ("pytorch", "tensorflow", "mindspore")]
    assert [row.split(":")[0] for row in rows] == ["MXNet", "PyTorch", "TensorFlow", "MindSpore"]
    assert "Open in Colab: not available (MXNet 1.9.1 has no wheel for Python 3.12" in rows[0]
    for name in NAMES:  # each row's download is its own framework's notebook
        href = page.eval_on_selector(f".admonition li:nth-child({NAMES.index(name) + 1}) a.download", "a => a.href")
        downloaded = json.loads(page.request.get(href).text())
        assert downloaded["metadata"]["tabbook"]["framework"] == name
        assert downloaded["metadata"]["kernelspec"]["name"] == "python3"
    assert page.eval_on_selector_all(f"header a[href='{repository}']", "links => links.length") >= 1


def test_search_finds_a_word_of_the_chapter(site, page):
    base, _ = site
    page.goto(f"{base}/search.html?q=hybridize")
    page.wait_for_selector("#search-results a[href*='custom-layers']", timeout=15000)


def test_dark_mode_and_the_page_toc(site, page):
    base, _ = site
    page.goto(f"{base}/custom-layers.html")
    assert page.locator("nav.page-toc a", has_text="Training on MNIST").count() == 1
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
