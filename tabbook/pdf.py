"""The whole book as one PDF per framework, printed by Chromium (no TeX toolchain).

Sphinx's ``singlehtml`` builder writes the book as one page (same sources and configuration as
the HTML book, so the same numbered sections and figures). Chromium, driven by Playwright as the
browser tests drive it, opens that page once per framework with ``?framework=<name>``: the tabs
then show only that framework's code and outputs, and the print style sheet (``book/_static/
book.css``, ``@media print``) hides the tab labels and the navigation, so the PDF holds one
framework's code only. Collapsed solutions are opened for print. The PDFs go to
``build/html/pdf/``, where the book's front page links them (:func:`tabbook.book.pdf_name`).

Printing takes Chromium most of the main job's time when nothing else changed (16 s of 26 s on
the 2-core build machine), so a PDF is printed again only when what it is printed from changed:
the one-page book (every file Sphinx wrote, its doctrees left out) and this module's own code.
Their digest is kept beside the PDFs in ``pdf/printed.json``, one entry per framework.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import time
from pathlib import Path

from . import book, chromium
from .errors import BuildError
from .files import atomic_write_bytes, atomic_write_text
from .frameworks import NAMES, ROOT
from .source import Chapter

SINGLE_DIR = ROOT / "build" / "single"
#: Beside the PDFs: {framework: the digest of what its PDF was printed from} (:func:`printed_from`).
PRINTED = "printed.json"


def build(chapters: list[Chapter], source_dir: Path = book.SOURCE_DIR, html_dir: Path = book.HTML_DIR,
          single_dir: Path = SINGLE_DIR, frameworks: tuple[str, ...] = NAMES, browser=None,
          force: bool = False) -> tuple[float, list[str]]:
    """Print one PDF per framework of the book of ``chapters``, from the sources in ``source_dir``
    that :func:`tabbook.book.build` generated, into ``html_dir``/pdf. A framework's PDF is printed
    only when it is missing or what it is printed from changed (:func:`printed_from`), or with
    ``force``. ``browser``: a Playwright Chromium to print with (default: one started here, and
    only when a PDF is printed). Returns the seconds it took and the frameworks printed.

    Raises:
        BuildError: the sources are missing, Sphinx failed, Chromium is missing and cannot be
            installed here (:func:`tabbook.chromium.ensure`), or it failed.
    """
    start = time.perf_counter()
    if not (source_dir / "index.md").exists():
        raise BuildError(f"{source_dir} holds no book sources: build the book first with: python build.py html")
    book.run_sphinx("singlehtml", source_dir, single_dir, chapters)
    digest = printed_from(single_dir)
    record = (html_dir / book.pdf_name(NAMES[0])).parent / PRINTED
    done = {} if force else _read_record(record)
    stale = tuple(name for name in frameworks
                  if done.get(name) != digest or not (html_dir / book.pdf_name(name)).is_file())
    if not stale:
        return time.perf_counter() - start, []
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    # Until printing ends, the PDFs about to be printed count as not printed: an interrupted
    # print leaves them to be printed again by the next run.
    _write_record(record, {name: value for name, value in done.items() if name not in stale})
    try:
        if browser is not None:
            _print(browser, single_dir / "index.html", html_dir, stale)
        else:
            executable = chromium.ensure()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=[
                    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync"])
                try:
                    _print(browser, single_dir / "index.html", html_dir, stale)
                finally:
                    browser.close()
    except PlaywrightError as error:
        raise BuildError(f"Chromium could not print the book: {str(error).splitlines()[0]}") from None
    _write_record(record, dict(done, **{name: digest for name in stale}))
    return time.perf_counter() - start, list(stale)


def printed_from(single_dir: Path) -> str:
    """SHA-256 (hex) of what a PDF is printed from: every file under ``single_dir`` (the one-page
    book: its HTML, style sheets, scripts, images), by relative path and content, less Sphinx's
    ``.doctrees`` (its pickles change without the page changing), and this module's source."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted(single_dir.rglob("*")):
        relative = path.relative_to(single_dir)
        if path.is_file() and relative.parts[0] != ".doctrees":
            digest.update(f"\0{relative.as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_record(record: Path) -> dict[str, str]:
    """The record of printed PDFs; empty when it is missing or unreadable (everything is printed)."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)} if isinstance(data, dict) else {}


def _write_record(record: Path, data: dict[str, str]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _print(browser, page_path: Path, html_dir: Path, frameworks: tuple[str, ...]) -> None:
    """Print the one-page book at ``page_path`` once per framework into ``html_dir``/pdf."""
    for name in frameworks:
        context = browser.new_context(color_scheme="light")
        try:
            page = context.new_page()
            # The resolved path, as published() reads the links (a symlinked build/ included).
            page.goto(f"{page_path.resolve().as_uri()}?framework={name}", wait_until="load")
            _prepare_for_print(page)
            headings = page.evaluate(HEADINGS_SCRIPT) or []
            data = page.pdf(format="A4", print_background=True, outline=True, tagged=True,
                            margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                            display_header_footer=True, header_template="<span></span>",
                            footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                            '<span class="pageNumber"></span></div>')
        finally:
            context.close()
        target = html_dir / book.pdf_name(name)
        atomic_write_bytes(target, published(data, page_path.parent, headings))
        target.chmod(0o644)  # published next to the pages, readable by a web server


#: The text of every heading the printed page shows, in document order, as a reader sees it
#: (runs of white space as one space, the hidden "#" link to the heading left out).
HEADINGS_SCRIPT = """() => Array.from(document.querySelectorAll('h1, h2, h3, h4, h5, h6'))
  .filter(h => h.getClientRects().length > 0)
  .map(h => { const copy = h.cloneNode(true);
              copy.querySelectorAll('.headerlink').forEach(link => link.remove());
              return copy.textContent.replace(/\\s+/g, ' ').trim(); })"""


def published(data: bytes, page_folder: Path, headings: list[str]) -> bytes:
    """The PDF ``data`` that Chromium printed from the one-page book in ``page_folder``, made fit
    to publish beside the HTML book in its ``pdf/`` folder:

    * a link to a file of the one-page book (Chromium writes ``file:///<page_folder>/...``: a path
      of the build machine, dead for every reader) points at the same file of the HTML book,
      relative to the PDF (``../_downloads/<digest>/<chapter>.ipynb``, ``../pdf/<name>.pdf``;
      Sphinx puts a download at the same path in both builds); a link to any other ``file:`` URL
      loses its target (its text stays);
    * each bookmark reads as its heading in ``headings`` (the page's headings in document order):
      Chromium titles a bookmark with the text it painted, which loses the space at a line break
      and repeats a heading's text painted twice ("5.5. 5.5. Trainable Parameters andTrainable
      Parameters andConstants"). Bookmarks are matched to headings in order: a heading matches
      the next bookmark whose title, white space removed, holds the heading's characters in order.

    The changed objects are appended as an incremental update (:func:`_append_update`): pypdf
    reads the whole book's ten thousand objects in 20 s to rewrite it, and in 0.5 s to find them.
    """
    import pypdf
    from pypdf.generic import NameObject, TextStringObject

    reader = pypdf.PdfReader(io.BytesIO(data))
    changed = {}
    bases = {page_folder.resolve().as_uri() + "/", page_folder.absolute().as_uri() + "/"}
    for page in reader.pages:
        annotations = page.get("/Annots")
        for reference in annotations.get_object() if annotations is not None else []:
            annotation = reference.get_object()
            action = annotation.get("/A")
            uri = action.get_object().get("/URI") if action is not None else None
            if not (isinstance(uri, str) and uri.lower().startswith("file:")):
                continue
            base = next((base for base in bases if uri.startswith(base)), None)
            if base is not None:
                action.get_object()[NameObject("/URI")] = TextStringObject("../" + uri[len(base):])
                holder = reference if _is_direct(action) else action  # the object that changed
            else:
                del annotation["/A"]
                holder = reference
            changed[_key(holder)] = holder.get_object()
    keys, position = [re.sub(r"\s+", "", heading) for heading in headings], 0
    for reference, item in _outline_items(reader):
        title = re.sub(r"\s+", "", str(item.get("/Title", "")))
        for index in range(position, len(keys)):
            if keys[index] and _is_subsequence(keys[index], title):
                if str(item.get("/Title")) != headings[index]:
                    item[NameObject("/Title")] = TextStringObject(headings[index])
                    changed[(reference.idnum, reference.generation)] = item
                position = index + 1
                break
    return _append_update(data, reader, changed) if changed else data


def _is_direct(value) -> bool:
    from pypdf.generic import IndirectObject

    return not isinstance(value, IndirectObject)


def _key(reference) -> tuple[int, int]:
    """(object number, generation) of a changed link's object.

    Raises:
        BuildError: it is not an object of its own (Chromium writes each link annotation as one).
    """
    if _is_direct(reference):
        raise BuildError("Chromium wrote a link annotation that is not an indirect object; tabbook/pdf.py "
                         "cannot rewrite its target: report this with the Chromium version")
    return reference.idnum, reference.generation


def _append_update(data: bytes, reader, changed: dict[tuple[int, int], object]) -> bytes:
    """``data`` with the objects ``changed`` ({(number, generation): new object}) appended as an
    incremental update (PDF 1.7, 7.5.6): the new objects, a cross-reference section for them and a
    trailer whose /Prev is the original cross-reference section."""
    from pypdf.generic import DictionaryObject, NameObject, NumberObject

    start = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data[-1024:])
    if start is None:
        raise BuildError("Chromium's PDF does not end with startxref and %%EOF; tabbook/pdf.py cannot update it")
    out = io.BytesIO()
    out.write(data if data.endswith(b"\n") else data + b"\n")
    offsets = {}
    for (number, generation), value in sorted(changed.items()):
        offsets[number] = (out.tell(), generation)
        out.write(f"{number} {generation} obj\n".encode())
        value.write_to_stream(out)
        out.write(b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 1\n0000000000 65535 f \n")  # the head of the free list, as the first section has it
    for number, (offset, generation) in sorted(offsets.items()):
        out.write(f"{number} 1\n{offset:010d} {generation:05d} n \n".encode())
    trailer = DictionaryObject({key: value for key, value in reader.trailer.items()
                                if key in ("/Size", "/Root", "/Info", "/ID")})
    trailer[NameObject("/Prev")] = NumberObject(int(start.group(1)))
    out.write(b"trailer\n")
    trailer.write_to_stream(out)
    out.write(f"\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def _is_subsequence(short: str, long: str) -> bool:
    """Whether the characters of ``short`` occur in ``long`` in the same order."""
    rest = iter(long)
    return all(character in rest for character in short)


def _outline_items(reader) -> list:
    """The outline items (bookmarks) of ``reader``'s document in document order (depth first),
    each as (its indirect reference, the item)."""
    items = []
    root = reader.trailer["/Root"].get_object().get("/Outlines")

    def walk(reference):
        while reference is not None:
            item = reference.get_object()
            items.append((reference, item))
            walk(item.get("/First"))
            reference = item.get("/Next")

    if root is not None:
        walk(root.get_object().get("/First"))
    return items


def _prepare_for_print(page) -> None:
    """Open every collapsed solution and wait for MathJax to typeset the formulas."""
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.evaluate("() => (window.MathJax && MathJax.startup && MathJax.startup.promise) || null")
    page.wait_for_load_state("networkidle")
