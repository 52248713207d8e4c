"""build.py pdf prints a PDF again only when what it is printed from changed (tabbook/pdf.py).

Sphinx and Chromium are replaced here by stand-ins that write the one-page book and record each
print; tests/test_book.py prints the real book with the real Chromium."""
from __future__ import annotations

import json

import pytest

from tabbook import book, pdf
from tabbook.errors import BuildError
from tabbook.frameworks import NAMES


class FakeBrowser:
    """Playwright's browser as pdf._print uses it; ``fail_on`` names a framework whose print fails."""

    def __init__(self, fail_on: str | None = None):
        self.printed, self.fail_on = [], fail_on

    def new_context(self, **options):
        browser = self

        class Page:
            def goto(self, url, **options):
                self.framework = url.rsplit("=", 1)[1]

            def evaluate(self, script):
                return None

            def wait_for_load_state(self, state):
                return None

            def pdf(self, **options):
                if self.framework == browser.fail_on:
                    from playwright.sync_api import Error
                    raise Error("Target closed")
                browser.printed.append(self.framework)
                return b"%PDF-1.7 " + self.framework.encode()

        class Context:
            def new_page(self):
                return Page()

            def close(self):
                return None

        return Context()


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """A book source folder, and a stand-in for Sphinx that writes the one-page book from the
    text in ``page`` (with doctrees that differ on every build, as Sphinx's pickles may)."""
    source, html, single = tmp_path / "src", tmp_path / "html", tmp_path / "single"
    source.mkdir()
    (source / "index.md").write_text("# Book\n")
    page = {"html": "<p>first</p>", "builds": 0}

    def run_sphinx(builder, source_dir, out_dir, chapters):
        page["builds"] += 1
        (out_dir / ".doctrees").mkdir(parents=True, exist_ok=True)
        (out_dir / ".doctrees" / "index.doctree").write_text(str(page["builds"]))
        (out_dir / "index.html").write_text(page["html"])

    monkeypatch.setattr(book, "run_sphinx", run_sphinx)

    def build(**options):
        browser = options.pop("browser", FakeBrowser())
        seconds, printed = pdf.build([], source_dir=source, html_dir=html, single_dir=single, browser=browser,
                                     **options)
        assert printed == browser.printed
        return printed

    return html, page, build


def test_unchanged_pdfs_are_not_printed_again(folders):
    html, page, build = folders
    assert build() == list(NAMES)
    assert (html / book.pdf_name("mindspore")).read_bytes() == b"%PDF-1.7 mindspore"
    assert build() == [], "nothing changed (the doctrees do not count)"
    page["html"] = "<p>second</p>"
    assert build() == list(NAMES), "the page changed"
    assert build() == []


def test_a_missing_pdf_a_lost_record_and_force_print_again(folders):
    html, page, build = folders
    build()
    (html / book.pdf_name("pytorch")).unlink()
    assert build() == ["pytorch"]
    (html / "pdf" / pdf.PRINTED).write_text("{not json")
    assert build() == list(NAMES)
    assert build(force=True) == list(NAMES)


def test_an_interrupted_print_is_printed_again_by_the_next_run(folders):
    html, page, build = folders
    build()
    page["html"] = "<p>changed</p>"
    with pytest.raises(BuildError, match="Chromium could not print the book"):
        build(browser=FakeBrowser(fail_on="tensorflow"))
    assert json.loads((html / "pdf" / pdf.PRINTED).read_text()) == {}, "no PDF counts as printed from the new page"
    assert build() == list(NAMES)


def test_the_digest_covers_every_file_of_the_page_but_the_doctrees(tmp_path):
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "book.css").write_text("a {}")
    (tmp_path / ".doctrees").mkdir()
    (tmp_path / ".doctrees" / "x").write_text("1")
    first = pdf.printed_from(tmp_path)
    (tmp_path / ".doctrees" / "x").write_text("2")
    assert pdf.printed_from(tmp_path) == first
    (tmp_path / "_static" / "book.css").write_text("a { color: red }")
    assert pdf.printed_from(tmp_path) != first
