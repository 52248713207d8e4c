"""Shared fixtures: chapter sources written to a temporary folder, and one Chromium for the
whole session (driven by Playwright) with pages whose requests and console errors are checked.

The browser fixtures live here, not in a test module: a module that imported them from another
would get a second session fixture, and Playwright's sync API refuses to start inside the
first one's event loop.
"""
from __future__ import annotations

import functools
import http.server
import textwrap
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tabbook import chromium

CHROMIUM = chromium.find() or "/usr/bin/chromium"

FRONT = """---
jupytext:
  text_representation:
    format_name: myst
---
"""


def cell(tags: str, code: str) -> str:
    """A MyST code cell with the given ``:tags:`` line."""
    return f"```{{code-cell}}\n:tags: {tags}\n{code}\n```\n"


def chapter_text(*cells: str, title: str = "# A chapter", front: str = FRONT) -> str:
    """A chapter source: front matter, a title and the given cells, blank-line separated."""
    return front + "\n" + title + "\n\nSome prose.\n\n" + "\n".join(cells)


FOUR = [cell("[mxnet]", "x = 1"), cell("[pytorch]", "x = 2"), cell("[tensorflow]", "x = 3"),
        cell("[mindspore]", "x = 4")]


@pytest.fixture
def write_chapter(tmp_path: Path):
    """Write a chapter source and return its path: write_chapter(text, name="chap")."""

    def write(text: str | bytes, name: str = "chap") -> Path:
        path = tmp_path / f"{name}.md"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text) if text.startswith("\n") else text)
        return path

    return write


def current_stored(chapter_name: str, framework: str):
    """The stored notebook of ``chapter_name`` for ``framework`` (tabs/) with its "Executed on"
    line as ``build.py execute`` brings it up to date without executing (:mod:`tabbook.provenance`;
    the same notebook where it is current already)."""
    import nbformat

    from tabbook import convert, provenance

    path = convert.notebook_path(chapter_name, framework)
    notebook = nbformat.read(path, as_version=4)
    if "executed" not in notebook.metadata.dlblocks:  # executed before the date was recorded
        date = provenance.committed_date(path, notebook.metadata.dlblocks.execution_key)
        assert date, f"{path}: git knows no commit that brought its execution key"
        provenance.record(notebook, framework, date)
    return provenance.with_line(notebook)


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
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Chromium: python3 build.py test installs it where it may, "
                    f"else run: {chromium.MANUAL}")
    from playwright import sync_api as playwright_api

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """open_page(**context options): a page in a fresh browser context (empty local storage)
    whose requests and console errors are recorded; at the end of the test, no request may have
    left 127.0.0.1 and the console must be free of errors."""
    pages = []

    def open_(**options):
        options.setdefault("viewport", {"width": 1300, "height": 900})
        context = browser.new_context(**options)
        page = context.new_page()
        page.requests, page.errors = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        pages.append((context, page))
        return page

    yield open_
    for context, page in pages:
        external = [url for url in page.requests
                    if urlparse(url).scheme not in ("data", "blob", "file") and urlparse(url).hostname != "127.0.0.1"]
        assert external == [], "requests left the machine"
        assert page.errors == [], "the browser console reported errors"
        context.close()


@pytest.fixture
def page(open_page):
    """A desktop-sized page (see open_page)."""
    return open_page()
