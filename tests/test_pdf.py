"""build.py pdf prints a PDF again only when what it is printed from changed (tabbook/pdf.py).

Sphinx and Chromium are replaced here by stand-ins that write the one-page book and record each
print; tests/test_book.py prints the real book with the real Chromium."""
from __future__ import annotations

import json

import pytest

from tabbook import book, pdf
from tabbook.errors import BuildError
from tabbook.frameworks import NAMES


def _tiny_pdf(title: str) -> bytes:
    """A one-page PDF whose title is ``title``."""
    import io

    import pypdf

    writer = pypdf.PdfWriter()
    writer.add_blank_page(72, 72)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _title(path) -> str:
    import pypdf

    return pypdf.PdfReader(path).metadata.title


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
                return _tiny_pdf(self.framework)

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
    assert _title(html / book.pdf_name("mindspore")) == "mindspore"
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


LONG = "A Section Whose Title Is Long Enough to Wrap onto a Second Line of the Printed Page of the Book"


@pytest.fixture
def printed(tmp_path, browser, monkeypatch):
    """A small book (one chapter, notebooks converted, not executed) built and printed by the
    real Chromium, published from no repository; returns (html folder, chapter)."""
    from tabbook import convert
    from tabbook.source import read_chapter

    from .conftest import FOUR, chapter_text

    monkeypatch.setenv("TABBOOK_REPOSITORY", "")
    monkeypatch.delenv("TABBOOK_DISCUSSIONS", raising=False)
    (tmp_path / "notebooks").mkdir()
    source = tmp_path / "notebooks" / "links.md"
    source.write_text(chapter_text(FOUR[0], f"## {LONG}\n\nMore prose.\n", *FOUR[1:], "## Summary\n\nDone.\n",
                                   title="# Links and Bookmarks"))
    chapter = read_chapter(source)
    for name in NAMES:
        convert.write_notebook(convert.to_notebook(chapter, name), tmp_path / "tabs" / name / "links.ipynb")
    html = tmp_path / "html"
    book.build([chapter], tabs=tmp_path / "tabs", source_dir=tmp_path / "src", html_dir=html)
    _, done = pdf.build([chapter], source_dir=tmp_path / "src", html_dir=html, single_dir=tmp_path / "single",
                              browser=browser)
    assert done == list(NAMES)
    return html, chapter


def _links(reader) -> list[str]:
    return [annotation.get_object()["/A"]["/URI"] for page in reader.pages for annotation in page.get("/Annots") or []
            if "/URI" in (annotation.get_object().get("/A") or {})]


def _outline(entries, depth=0) -> list[str]:
    titles = []
    for entry in entries:
        titles += _outline(entry, depth + 1) if isinstance(entry, list) else ["  " * depth + entry.title]
    return titles


def test_a_pdf_links_the_book_relative_to_itself_and_no_machine_path(printed, tmp_path):
    """Chromium writes file:///<build machine>/... for a download or a PDF link: dead for every
    reader, and it tells where the book was built (issue 22)."""
    import pypdf

    html, _ = printed
    for name in NAMES:
        path = html / book.pdf_name(name)
        links = _links(pypdf.PdfReader(path, strict=True))  # strict: the appended update is well formed
        assert [link for link in links if "file:" in link or str(tmp_path) in link] == []
        downloads = [link for link in links if link.endswith("links.ipynb")]
        assert len(downloads) == 4 and all(link.startswith("../_downloads/") for link in downloads), links
        assert "../pdf/four-frameworks-mxnet.pdf" in links and any(link.endswith("links.md") for link in links)
        for link in links:  # each one is a file of the HTML book
            assert (path.parent / link).resolve().is_file(), link
        assert not [link for link in links if "colab" in link or "github" in link], "no repository is configured"


def test_bookmarks_read_as_the_headings_and_browser_instructions_are_not_printed(printed):
    import pypdf

    html = printed[0]
    reader = pypdf.PdfReader(html / book.pdf_name("pytorch"), strict=True)
    assert _outline(reader.outline) == ["Deep-Learning Building Blocks in Four Frameworks", "  1. Links and Bookmarks",
                                        f"    1.1. {LONG}", "    1.2. Summary"]
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Every chapter shows the same ideas" in text and "Download notebook" in text
    for instruction in ("Ctrl+K", "Ctrl+F", "?framework=", "Pick your framework"):
        assert instruction not in text, instruction


def test_published_rewrites_book_links_drops_other_file_links_and_retitles_bookmarks(tmp_path):
    """pdf.published on a PDF made here (no Chromium): the three kinds of link, and bookmarks
    titled as Chromium titles them, are appended as an update that a strict reader reads."""
    import io

    import pypdf
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    single = tmp_path / "single"
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    for uri in (f"{single.as_uri()}/_downloads/abc/links.ipynb", "file:///etc/passwd", "https://example.org/x"):
        writer.add_annotation(0, DictionaryObject({
            NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
            NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                                NameObject("/URI"): TextStringObject(uri)})}))
    chapter = writer.add_outline_item("1. Links andBookmarks", 0)
    writer.add_outline_item("1.1. 1.1. A Long Section andA Long Section andTitle", 0, parent=chapter)
    writer.add_outline_item("1.2. Summary", 0, parent=chapter)
    original = io.BytesIO()
    writer.write(original)

    data = pdf.published(original.getvalue(), single, ["1. Links and Bookmarks", "1.1. A Long Section and Title",
                                                       "1.2. Summary"])
    assert data.startswith(original.getvalue()), "an incremental update: the original bytes stay"
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    actions = [annotation.get_object().get("/A") for annotation in reader.pages[0]["/Annots"]]
    assert [action and action["/URI"] for action in actions] == [
        "../_downloads/abc/links.ipynb", None, "https://example.org/x"]
    assert _outline(reader.outline) == ["1. Links and Bookmarks", "  1.1. A Long Section and Title", "  1.2. Summary"]
    assert pdf.published(data, single, ["1. Links and Bookmarks", "1.1. A Long Section and Title",
                                        "1.2. Summary"]) == data, "nothing left to change"


@pytest.mark.parametrize("linked", ["resolved", "as given"])
def test_published_reads_book_links_through_a_symlinked_folder(tmp_path, linked):
    """A build folder reached through a symlink: links written with the folder's resolved or its
    given path are both the book's (red team: they lost their target)."""
    import io

    import pypdf
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    (tmp_path / "real" / "single").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    single = tmp_path / "link" / "single"
    folder = single.resolve() if linked == "resolved" else single
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    writer.add_annotation(0, DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
        NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"), NameObject("/URI"):
                                            TextStringObject(f"{folder.as_uri()}/_downloads/x/devices.ipynb")})}))
    original = io.BytesIO()
    writer.write(original)
    reader = pypdf.PdfReader(io.BytesIO(pdf.published(original.getvalue(), single, [])))
    assert reader.pages[0]["/Annots"][0].get_object()["/A"]["/URI"] == "../_downloads/x/devices.ipynb"
