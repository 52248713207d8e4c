"""The whole book as one PDF per framework, printed by Chromium (no TeX toolchain).

Sphinx's ``singlehtml`` builder writes the book as one page (same sources and configuration as
the HTML book, so the same numbered sections and figures). Chromium, driven by Playwright as the
browser tests drive it, opens that page once per framework with ``?framework=<name>``: the tabs
then show only that framework's code and outputs, and the print style sheet (``book/_static/
book.css``, ``@media print``) hides the tab labels and the navigation, so the PDF holds one
framework's code only. Collapsed solutions are opened for print. The PDFs go to
``build/html/pdf/``, where the book's front page links them (:func:`tabbook.book.pdf_name`).
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from . import book
from .errors import BuildError
from .files import atomic_write_bytes
from .frameworks import NAMES, ROOT
from .source import Chapter

SINGLE_DIR = ROOT / "build" / "single"
CHROMIUM = "chromium"


def chromium() -> str:
    """The path of Debian's Chromium.

    Raises:
        BuildError: it is not installed.
    """
    found = shutil.which(CHROMIUM) or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not found:
        raise BuildError("the PDFs are printed by Chromium, which is not installed: apt-get install chromium")
    return found


def build(chapters: list[Chapter], source_dir: Path = book.SOURCE_DIR, html_dir: Path = book.HTML_DIR,
          single_dir: Path = SINGLE_DIR, frameworks: tuple[str, ...] = NAMES, browser=None) -> float:
    """Print one PDF per framework of the book of ``chapters``, from the sources in ``source_dir``
    that :func:`tabbook.book.build` generated, into ``html_dir``/pdf; return the seconds it took.
    ``browser``: a Playwright Chromium to print with (default: one started here).

    Raises:
        BuildError: the sources are missing, Sphinx failed, Chromium is missing or failed.
    """
    start = time.perf_counter()
    if not (source_dir / "index.md").exists():
        raise BuildError(f"{source_dir} holds no book sources: build the book first with: python build.py html")
    book.run_sphinx("singlehtml", source_dir, single_dir, chapters)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        if browser is not None:
            _print(browser, single_dir / "index.html", html_dir, frameworks)
        else:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium(), args=[
                    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                try:
                    _print(browser, single_dir / "index.html", html_dir, frameworks)
                finally:
                    browser.close()
    except PlaywrightError as error:
        raise BuildError(f"Chromium could not print the book: {str(error).splitlines()[0]}") from None
    return time.perf_counter() - start


def _print(browser, page_path: Path, html_dir: Path, frameworks: tuple[str, ...]) -> None:
    """Print the one-page book at ``page_path`` once per framework into ``html_dir``/pdf."""
    for name in frameworks:
        context = browser.new_context(color_scheme="light")
        try:
            page = context.new_page()
            page.goto(f"{page_path.as_uri()}?framework={name}", wait_until="load")
            _prepare_for_print(page)
            data = page.pdf(format="A4", print_background=True, outline=True, tagged=True,
                            margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                            display_header_footer=True, header_template="<span></span>",
                            footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                            '<span class="pageNumber"></span></div>')
        finally:
            context.close()
        target = html_dir / book.pdf_name(name)
        atomic_write_bytes(target, data)
        target.chmod(0o644)  # published next to the pages, readable by a web server


def _prepare_for_print(page) -> None:
    """Open every collapsed solution and wait for MathJax to typeset the formulas."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_load_state("networkidle")
