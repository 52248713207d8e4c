"""The static HTML book: one MyST page per chapter, framework tabs, built with Sphinx.

MyST-NB cannot put notebook cells inside a directive, so each chapter's executed notebooks are
merged (:mod:`tabbook.merge`) into one generated MyST page:

* shared prose once; shared code once when every framework printed the same output;
* each run of framework cells as one sphinx-design ``tab-set`` (``:sync-group: framework``)
  holding one ``tab-item`` per framework (``:sync:`` its name), with the code and its outputs:
  text, HTML and images (written as PNG files next to the page). A framework with no cell in
  the run gets a "not available in <framework>" note, never another framework's code.

sphinx-design's own script syncs every group of a page by the ``:sync:`` key, remembers the
choice in the browser's local storage (across pages and reloads) and reads ``?framework=<name>``
from the URL. Sphinx's configuration is ``book/conf.py``; the generated sources go to
``build/book-src`` and the HTML to ``build/html``.
"""
from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
import re
import runpy
import urllib.parse
import shutil
import time
import zipfile
from pathlib import Path

import nbformat

from . import provenance, prose, sanitize, scrub, standalone, stored, toc
from .errors import BuildError, display_path
from .execute import strip_ansi
from .files import atomic_write_text
from .frameworks import LIBRARY, LIBRARY_MODULES, NAMES, PACKAGE, ROOT, get
from .merge import MergedCell, merge
from .source import Cell, Chapter

CONF_DIR = ROOT / "book"
SOURCE_DIR = ROOT / "build" / "book-src"
HTML_DIR = ROOT / "build" / "html"
SYNC_GROUP = "framework"
#: The class of what only the HTML book shows: instructions for a browser (tabs, keys, the
#: address), hidden by the print style sheet (book/_static/book.css), so not in the PDFs.
SCREEN_ONLY = "tabbook-screen-only"
#: The class of each chapter's "Run it yourself" box (a dropdown: downloads, Colab, source).
RUN_BOX = "tabbook-run"
#: The tag of an exercise's solution: the page collapses it into a dropdown.
SOLUTION_TAG = "solution"


def build(chapters: list[Chapter], tabs: Path | None = None, source_dir: Path = SOURCE_DIR,
          html_dir: Path = HTML_DIR) -> float:
    """Generate the MyST sources from the executed notebooks and run Sphinx; return the seconds.

    ``tabs`` is the folder of the executed notebooks (default: tabs/ of this checkout).

    Raises:
        BuildError: a notebook is missing (run ``build.py execute`` first) or Sphinx reported a
            problem (its messages name the chapter source's line: ``notebooks/<chapter>.md:<line>``).
    """
    start = time.perf_counter()
    write_sources(chapters, tabs or (ROOT / "tabs"), source_dir)
    run_sphinx("html", source_dir, html_dir, chapters)
    return time.perf_counter() - start


def write_sources(chapters: list[Chapter], tabs: Path, source_dir: Path) -> None:
    """Write index.md, one page per chapter, their images and the downloadable files: each
    notebook, and each framework's notebooks as one zip (:func:`write_zips`)."""
    if source_dir.exists():
        shutil.rmtree(source_dir)
    source_dir.mkdir(parents=True)
    for number, chapter in enumerate(chapters, 1):
        notebooks = {}
        for name in chapter.frameworks:
            path = tabs / name / f"{chapter.name}.ipynb"
            notebooks[name] = stored.read_matching(chapter, name, path)
            download = source_dir / "_downloads" / name / path.name
            download.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, download)
        sources = source_dir / "_sources_md"
        sources.mkdir(exist_ok=True)
        shutil.copy(chapter.path, sources / f"{chapter.name}.md")
        _copy_assets(chapter, source_dir)
        atomic_write_text(source_dir / f"{chapter.name}.md", chapter_page(chapter, notebooks, source_dir, number))
    atomic_write_text(source_dir / "index.md", index_page(chapters))
    write_zips(chapters, tabs, source_dir)  # of the notebooks read_matching has checked above


def zip_name(framework: str) -> str:
    """The zip of ``framework``'s notebooks, relative to the generated sources."""
    return f"_downloads/{framework}/four-frameworks-{framework}-notebooks.zip"


def write_zips(chapters: list[Chapter], tabs: Path, source_dir: Path) -> None:
    """Write, for each framework, one zip of its notebooks (:func:`zip_name`): the notebooks of
    ``tabs/<framework>/`` of every chapter that has the framework, in the book's order, each as a
    reader downloads it alone (it runs on its own: docs/standalone-notebooks.md), in one folder,
    so that a link from one notebook to another (``custom-layers.ipynb``) works; and the
    framework's lock, ``requirements.txt``, for a reader who makes the environment first; and the
    reader's library for that framework, ``dlblocks/`` (its ``__init__``, its hand-written modules
    and the framework's module, :func:`library_members`), which a notebook's own copy stands in
    front of but a reader's script beside the notebooks can import. The entries carry a fixed
    date, so the same notebooks give the same zip. The notebooks are not read here:
    :func:`write_sources` has checked each (:func:`tabbook.stored.read_matching`).
    """
    for name in NAMES:
        members = []
        for chapter in chapters:
            if name in chapter.frameworks:
                path = tabs / name / f"{chapter.name}.ipynb"
                members.append((f"{chapter.name}.ipynb", path.read_bytes()))
        if not members:
            continue
        members.append(("requirements.txt", get(name).requirements.read_bytes()))
        members += library_members(name)
        target = source_dir / zip_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = f"four-frameworks-{name}/"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, data in members:
                info = zipfile.ZipInfo(folder + member, date_time=(2000, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)


def library_members(framework: str) -> list[tuple[str, bytes]]:
    """(path in a zip, content) of the reader's library files a reader of ``framework`` needs:
    ``dlblocks/__init__.py``, the hand-written modules and the framework's module where the
    chapters save code for it (``dlblocks/torch.py``)."""
    folder = LIBRARY / PACKAGE
    names = ["__init__", *LIBRARY_MODULES, get(framework).module]
    return [(f"{PACKAGE}/{name}.py", (folder / f"{name}.py").read_bytes()) for name in names
            if (folder / f"{name}.py").is_file()]


def _copy_assets(chapter: Chapter, source_dir: Path) -> None:
    """Copy the files of the assets folder that the chapter's prose names (and only those:
    :attr:`tabbook.source.Chapter.assets`, checked by :mod:`tabbook.prose`) to the same place
    under the generated sources, where the page finds them (``assets/<file>``)."""
    root = prose.chapters_root(chapter.path)
    for asset in chapter.assets:
        target = source_dir / asset.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(asset.resolve(), target)


def index_page(chapters: list[Chapter]) -> str:
    """The book's front page: what the book is, how to pick a framework, the table of contents."""
    tabs = []
    for name in NAMES:
        pins = [f"{package}=={version}" for package, version in standalone.lock_pins(get(name)).items()
                if package in _MAIN_PACKAGES[name]]
        body = (f"The {get(name).title} notebooks run in their own environment, pinned in "
                f"`tabs/{name}/requirements.txt`:\n\n```text\n" + "\n".join(pins) + "\n```\n\n"
                f"Each notebook's setup cell, under its title, installs them where they are missing. In a checkout of "
                f"the book's repository, `python build.py env` makes this environment and its "
                f"Jupyter kernel, `{get(name).display_name}`.")
        tabs.append(_tab_item(name, body))
    folder = Path(os.path.commonpath([chapter.path.parent for chapter in chapters]))
    toctrees = "".join(f"\n```{{toctree}}\n:maxdepth: 2\n:numbered:\n:caption: {part.caption}\n\n" + "\n".join(part.chapters) + "\n```\n"
                       for part in toc.parts_of([chapter.name for chapter in chapters], folder))
    pdfs = " · ".join(f'<a class="tabbook-pdf" href="{pdf_name(name)}" download>{get(name).title}</a>'
                      for name in NAMES)
    return (
        "# Deep-Learning Building Blocks in Four Frameworks\n\n"
        "Every chapter shows the same ideas in MXNet, PyTorch, TensorFlow and MindSpore.\n\n"
        # What only a browser can do is not printed in the PDFs (book.css: @media print).
        f"```{{container}} {SCREEN_ONLY}\n"
        "Pick your framework on any tab: every code block of the book follows, and the book "
        "remembers your choice. A link can choose it too: add `?framework=pytorch` to the address.\n\n"
        "Your browser's find (Ctrl+F) sees only the selected framework's tabs. The book's search "
        "(the search button, or Ctrl+K) searches the code and outputs of all four frameworks: a "
        "result opens the page at the first match, highlighted, in the tab of the framework that "
        "holds it.\n```\n\n"
        f"The whole book as a PDF, with one framework's code: {pdfs}.\n\n"
        + _tab_set(tabs)
        + toctrees
    )


def pdf_name(framework: str) -> str:
    """The PDF of the whole book with ``framework``'s code, relative to the book's root."""
    return f"pdf/four-frameworks-{framework}.pdf"


_MAIN_PACKAGES = {"mxnet": {"mxnet", "numpy"}, "pytorch": {"torch", "numpy"},
                  "tensorflow": {"tensorflow-cpu", "keras", "numpy"}, "mindspore": {"mindspore", "numpy"}}


@dataclasses.dataclass
class _Page:
    """What rendering a chapter's cells needs: the chapter, its number in the book, where images
    go, and the number of the first figure of each chapter cell that draws figures."""

    chapter: Chapter
    number: int
    source_dir: Path
    first_figure: dict[int, int] = dataclasses.field(default_factory=dict)


def chapter_page(chapter: Chapter, notebooks: dict[str, nbformat.NotebookNode], source_dir: Path,
                 number: int = 1) -> str:
    """The MyST page of ``chapter`` (the ``number``-th of the book) from its executed notebooks
    (framework name -> notebook)."""
    parts: list[tuple[bool, str]] = []  # (is a solution, MyST text)
    run: list[MergedCell] = []
    page = _Page(chapter, number, source_dir)
    merged = merge(notebooks)
    figures = 0
    for item in merged:  # a cell's figures have the same numbers in every framework
        drawn = max(len(_figure_outputs(cell)) for cell in item.cells.values())
        if drawn:
            page.first_figure[item.index] = figures + 1
            figures += drawn

    run_solution = False  # whether the cells in run are a solution's

    def close_run():
        if run:
            parts.append((run_solution, _run_tabs(run, page)))
            run.clear()

    for item in merged:
        source = _source_cell(chapter, item)
        rendered = {name: _render_cell(cell, source, page, name, item.index)
                    for name, cell in item.cells.items()}
        solution = SOLUTION_TAG in source.tags
        if run and solution != run_solution:
            close_run()
        if source.shared and len(set(rendered.values())) == 1:
            close_run()
            text = next(iter(rendered.values()))
            parts.append((solution, _with_downloads(text, chapter, notebooks) if item.index == 0 else text))
        else:
            run.append(item)
            run_solution = solution
    close_run()
    discussion = discussion_link(chapter)
    if discussion:
        parts.append((False, f"```{{rubric}} Discussions\n```\n\n[{discussion[0]}]({discussion[1]})"))
    return "\n\n".join(_collapse_solutions(parts)) + "\n"


def _source_cell(chapter: Chapter, item: MergedCell):
    """The chapter cell that ``item`` was made from.

    Raises:
        BuildError: a notebook's cell is not that cell of the chapter as it is now (the source
            changed since the notebook was executed), which would misplace cells on the page.
    """
    cell = chapter.cells[item.index] if item.index < len(chapter.cells) else None
    for framework, made in item.cells.items():
        if cell is None or made.source != cell.source or framework not in cell.frameworks:
            raise BuildError(f"tabs/{framework}/{chapter.name}.ipynb no longer matches {chapter.path.name} "
                             f"(its cell from chapter cell {item.index + 1} differs): execute it again with: "
                             f"python build.py execute {chapter.name}")
    return cell


def _collapse_solutions(parts: list[tuple[bool, str]]) -> list[str]:
    """Put the parts tagged ``solution`` into collapsed dropdowns, one per solution: a solution
    starts at a Markdown heading (its text becomes the dropdown's title), since a section
    heading cannot stand inside a directive."""
    out: list[str] = []
    current: list[str] | None = None
    for solution, text in parts:
        if not solution:
            if current is not None:
                out.append(_dropdown(*current))
                current = None
            out.append(text)
            continue
        marker, body = _split_marker(text)
        first, _, rest = body.partition("\n")
        if first.startswith("#"):
            if current is not None:
                out.append(_dropdown(*current))
            current = [first.lstrip("#").strip(), (marker + rest).strip()]
        elif current is None:
            current = ["Solution", text]
        else:
            current.append(text)
    if current is not None:
        out.append(_dropdown(*current))
    return out


def _dropdown(title: str, *body: str) -> str:
    return _directive("dropdown", "\n\n".join(part for part in body if part), title)


def _with_downloads(text: str, chapter: Chapter, notebooks: dict[str, nbformat.NotebookNode] | None = None) -> str:
    """Insert the links to the notebooks (download, all of the framework's as a zip, and hosted
    runners) and to the source after the chapter's title; under each framework's links, the
    "Executed on" line of its notebook (``notebooks``: framework name -> executed notebook) where
    the notebook has one (:mod:`tabbook.provenance`)."""
    repository, branch = repository_settings()
    notebooks = notebooks or {}
    rows = []
    for name in chapter.frameworks:
        links = [f"{{download}}`Download notebook <_downloads/{name}/{chapter.name}.ipynb>`",
                 f"{{download}}`all {get(name).title} notebooks (zip) <{zip_name(name)}>`"]
        for title, url in hosted_links(repository, branch, f"tabs/{name}/{chapter.name}.ipynb"):
            if name in standalone.PYTHON_LIMITS:
                links.append(f"{title}: not available ({standalone.PYTHON_LIMITS[name][1]}; Colab runs a newer "
                             "Python)")
            else:
                links.append(f"[{title}]({url})")
        row = f"* {get(name).title}: " + " · ".join(links)
        executed = _executed_line(notebooks.get(name))
        if executed:
            row += "\n\n  " + executed
        rows.append(row)
    # Open, but a dropdown: book/_static/tabbook.js closes it on a phone, where it would fill the
    # first screen.
    block = (f"\n\n````{{dropdown}} Run it yourself\n:open:\n:class-container: {RUN_BOX}\n\n"
             + "\n".join(rows) + "\n\n"
             "Each notebook runs on its own: its setup cell installs the package versions it was "
             "executed with where they are missing. "
             f"Source: {{download}}`{chapter.name}.md <_sources_md/{chapter.name}.md>`.\n````\n")
    marker, body = _split_marker(text)
    title, _, rest = body.partition("\n")
    return marker + title + block + rest


def _executed_line(notebook: nbformat.NotebookNode | None) -> str:
    """The notebook's "Executed on" line as MyST text (every ASCII punctuation mark escaped: the
    notebook is untrusted), where it has one and it says what its metadata gives
    (:func:`tabbook.provenance.problem`, which ``build.py check`` reports); else ""."""
    if notebook is None:
        return ""
    shown = provenance.shown_line(notebook)
    if not shown or shown != provenance.line(notebook):
        return ""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(shown.split()))


def repository_settings() -> tuple[str, str]:
    """The repository URL and branch set in the book's configuration (``book/conf.py``)."""
    conf = runpy.run_path(str(CONF_DIR / "conf.py"))
    repository = (conf.get("tabbook_repository") or "").strip()
    if repository and not re.fullmatch(r"https://[^\s\"'<>]+", repository):
        raise BuildError(f"book/conf.py: the repository URL {repository!r} is not an https:// address; "
                         "set tabbook_repository (or TABBOOK_REPOSITORY) to the repository's web address, or empty")
    return repository, conf.get("tabbook_branch") or "main"


def discussion_link(chapter: Chapter) -> tuple[str, str] | None:
    """(text, URL) of the chapter's discussion, from ``tabbook_discussions`` in ``book/conf.py``:
    a URL pattern in which ``{chapter}`` is the chapter's file name and ``{title}`` its title
    (both URL-quoted). None when the pattern is empty.

    Raises:
        BuildError: the pattern is not an https:// address or names another placeholder.
    """
    pattern = (runpy.run_path(str(CONF_DIR / "conf.py")).get("tabbook_discussions") or "").strip()
    if not pattern:
        return None
    fields = {"chapter": urllib.parse.quote(chapter.name), "title": urllib.parse.quote(chapter.title)}
    try:
        url = pattern.format(**fields)
    except (KeyError, IndexError, ValueError) as error:
        raise BuildError(f"book/conf.py: the discussion URL pattern {pattern!r} cannot be filled ({error!r}); "
                         "use only the placeholders {chapter} and {title}, or set tabbook_discussions "
                         "(or TABBOOK_DISCUSSIONS) to empty for no link") from None
    if not re.fullmatch(r"https://[^\s\"'<>()\[\]]+", url):
        raise BuildError(f"book/conf.py: the discussion URL {url!r} is not an https:// address; "
                         "set tabbook_discussions (or TABBOOK_DISCUSSIONS) to one, or to empty for no link")
    return "Discuss this chapter: questions, answers and errata", url


def hosted_links(repository: str, branch: str, path: str) -> list[tuple[str, str]]:
    """("Open in Colab", url) for the notebook at ``path`` of a GitHub ``repository`` on
    ``branch``; none for another host or an empty URL. (Binder would need one environment for
    the whole repository, where the book has four.)"""
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", repository.strip())
    if not match:
        return []
    owner, name = match.groups()
    blob = f"github/{owner}/{name}/blob/{urllib.parse.quote(branch, safe='/')}/{path}"
    return [("Open in Colab", f"https://colab.research.google.com/{blob}")]


def _run_tabs(run: list[MergedCell], page: _Page) -> str:
    chapter = page.chapter
    items = []
    for name in NAMES:
        cells = [(item.index, item.cells[name]) for item in run if name in item.cells]
        if name in chapter.omitted:
            body = _note(f"Not available in {get(name).title}: {chapter.omitted[name]}")
        elif not cells:
            body = _note(f"Not available in {get(name).title}.")
        else:
            body = "\n\n".join(_render_cell(cell, chapter.cells[index], page, name, index) for index, cell in cells)
        items.append(_tab_item(name, body))
    return _tab_set(items)


def _tab_set(items: list[str]) -> str:
    return _directive("tab-set", "\n".join(items), options=f":sync-group: {SYNC_GROUP}") + "\n"


def _tab_item(name: str, body: str) -> str:
    return _directive("tab-item", body, get(name).title, options=f":sync: {name}") + "\n"


def _note(text: str) -> str:
    return _directive("note", text)


def _directive(name: str, body: str, argument: str = "", options: str = "") -> str:
    """A colon-fenced MyST directive around ``body``. Its fence is longer than any run of colons
    that starts a line of the body, so nothing inside can close it: not a nested directive (whose
    fence is shorter by the same rule), and not an output that prints a row of colons."""
    longest = max((len(run) for run in re.findall(r"^[ \t]*(:{3,})", body, re.M)), default=2)
    fence = ":" * max(3, longest + 1)
    head = f"{fence}{{{name}}}" + (f" {argument}" if argument else "")
    return f"{head}\n" + (f"{options}\n" if options else "") + f"\n{body}\n{fence}"


def _render_cell(cell, source: Cell, page: _Page, framework: str, index: int) -> str:
    """A cell as MyST. The tags remove-cell, remove-input, remove-output and remove-stderr hide
    parts of it from the page, as in MyST-NB; the notebook keeps them. Consecutive outputs of
    one stream are one block (as Jupyter shows them), and no output shows a path of this machine
    (:mod:`tabbook.scrub`)."""
    tags = set(cell.metadata.get("tags", []))
    if "remove-cell" in tags:
        return ""
    marker = f"{_MARKER}{source.line}"
    if cell.cell_type == "markdown":
        return f"{marker}\n{cell.source}"
    parts = [marker] if "remove-input" in tags else [f"{marker}\n{_fenced(cell.source, 'python')}"]
    figure = page.first_figure.get(index, 0)
    for number, output in enumerate(_shown_outputs(cell)):
        _check_output(output, cell, page, framework, number)
        stem = f"{page.chapter.name}/{framework}-{index:03d}-{number}"
        if _image_type(output):
            drawn = figure - page.first_figure[index]
            label = f"Figure {page.number}.{figure}"
            rendered = _render_figure(output, stem, page.source_dir, label,
                                      _nth(source.alt, drawn), _nth(source.caption, drawn))
            if drawn and isinstance(parts[-1], list):  # figures in a row: one group that wraps
                parts[-1].append(rendered)
            else:
                parts.append([rendered])
            figure += 1
        else:
            parts.append(_render_output(output, stem, page.source_dir))
    # The group around consecutive figures of a cell: side by side where they fit, stacked on a phone.
    return "\n\n".join(_directive("container", "\n\n".join(part), "output-figures") if isinstance(part, list)
                       else part for part in parts if part)


#: A MyST comment before each cell on a generated page: the cell's line in the chapter source,
#: so that a message of Sphinx about the page can name the source line (:func:`source_location`).
_MARKER = "% tabbook source line "


def _split_marker(text: str) -> tuple[str, str]:
    """(the source-line marker with its newline, or "", the rest of ``text``)."""
    if text.startswith(_MARKER):
        marker, _, rest = text.partition("\n")
        return marker + "\n", rest
    return "", text


def source_location(page: Path, line: int, chapters: list[Chapter]) -> str | None:
    """``notebooks/<chapter>.md:<line>`` for ``line`` of a generated chapter ``page``: the
    nearest cell marker at or above it gives the cell; inside Markdown prose the offset within
    the cell is kept. None for a page that is no chapter's (the front page)."""
    chapter = next((chapter for chapter in chapters if chapter.name == page.stem), None)
    if chapter is None or not page.exists():
        return None
    lines = page.read_text(encoding="utf-8").splitlines()
    source_line = 1
    for index in range(min(line, len(lines)) - 1, -1, -1):
        if lines[index].startswith(_MARKER):
            start = int(lines[index][len(_MARKER):])
            cell = next((cell for cell in chapter.cells if cell.line == start), None)
            offset = line - index - 2 if cell is not None and cell.kind == "markdown" else 0
            source_line = start + max(offset, 0)
            break
    try:
        shown = chapter.path.resolve().relative_to(ROOT)
    except ValueError:
        shown = chapter.path
    return f"{shown}:{source_line}"


def map_messages(text: str, source_dir: Path, chapters: list[Chapter]) -> str:
    """Sphinx's messages with each ``<generated page>.md:<line>`` replaced by the chapter source's
    ``notebooks/<chapter>.md:<line>`` (see :func:`source_location`)."""
    def replace(match: re.Match) -> str:
        page = Path(match.group("path"))
        if not page.is_absolute():
            page = source_dir / page
        where = source_location(page, int(match.group("line")), chapters)
        return where or match.group(0)

    return re.sub(r"^(?P<path>[^\n:]+\.md):(?P<line>\d+)", replace, text, flags=re.M)


def run_sphinx(builder: str, source_dir: Path, out_dir: Path, chapters: list[Chapter]) -> None:
    """Run Sphinx's ``builder`` on the generated sources, every warning an error (as -W
    --keep-going), its messages pointing at the chapter sources.

    Raises:
        BuildError: Sphinx reported a warning or an error; the message holds them all.
    """
    import io

    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    messages = io.StringIO()
    try:
        with patch_docutils(CONF_DIR), docutils_namespace():
            app = Sphinx(source_dir, CONF_DIR, out_dir, out_dir / ".doctrees", builder,
                         status=None, warning=messages, freshenv=True)
            app.build()
    except SphinxError as error:
        messages.write(f"{error}\n")
    text = map_messages(strip_ansi(messages.getvalue()).strip(), source_dir, chapters)
    if text:
        raise BuildError(f"Sphinx ({builder}) reported problems in the book:\n{text}")


def _shown_outputs(cell) -> list:
    """The outputs of a code cell the page shows: copies, streams merged, machine paths removed."""
    tags = set(cell.metadata.get("tags", []))
    if "remove-output" in tags:
        return []
    shown = []
    for output in scrub.coalesce_streams(cell.get("outputs", [])):
        if "remove-stderr" in tags and output.get("name") == "stderr":
            continue
        output = copy.deepcopy(output)
        scrub.scrub_output(output)
        shown.append(output)
    return shown


def _figure_outputs(cell) -> list:
    return [output for output in _shown_outputs(cell) if _image_type(output)] if cell.cell_type == "code" else []


def _nth(texts: tuple[str, ...], index: int) -> str:
    """The text for the ``index``-th figure of a cell: its own, or the cell's only one."""
    if index < len(texts):
        return texts[index]
    return texts[0] if len(texts) == 1 else ""


#: Image types an output may carry, preferred first, with the file suffix the page uses.
_IMAGE_TYPES = {"image/svg+xml": "svg", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif"}


def _image_type(output) -> str | None:
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    return next((kind for kind in _IMAGE_TYPES if kind in output.get("data", {})), None)


def _check_output(output, cell, page: "_Page", framework: str, number: int) -> None:
    """Refuse an output the page cannot show (:func:`tabbook.stored.output_problem`).

    Raises:
        BuildError: naming the notebook, the cell's source line and what is wrong with the output.
    """
    problem = stored.output_problem(output)
    if problem is None:
        return
    notebook = get(framework).tab_dir / f"{page.chapter.name}.ipynb"
    line = cell.metadata.get("dlblocks", {}).get("line")
    where = f"the cell of {display_path(page.chapter.path)}:{line}" if line else "a cell generated by the converter"
    raise BuildError(f"{display_path(notebook)}: {where}, output {number + 1}: {problem}; "
                     f"{stored.recovery(notebook, page.chapter.name, framework)}")


def _render_figure(output, stem: str, source_dir: Path, label: str, alt: str, caption: str) -> str:
    """An image output (checked by :func:`_check_output`) as a numbered figure. The image is
    written next to the page: an SVG sanitized (:func:`tabbook.sanitize.svg`: shown through <img>
    it could run nothing anyway, but a reader can open its address, where it is a document of
    the book's origin), a PNG or JPEG decoded. A PNG with a width in its metadata (Jupyter's retina figures)
    is shown at that width, in pixels."""
    kind = _image_type(output)
    data = _joined(output["data"][kind])
    image = source_dir / "_images_out" / f"{stem}.{_IMAGE_TYPES[kind]}"
    image.parent.mkdir(parents=True, exist_ok=True)
    if kind == "image/svg+xml":  # opened by its address, an SVG is a document: no script, nothing fetched
        image.write_bytes(sanitize.svg(data))
    else:
        image.write_bytes(base64.b64decode("".join(data.split()), validate=True))
    if not alt:
        plain = _joined(output["data"].get("text/plain", "figure"))
        alt = "figure" if re.match(r"<Figure size", plain) else " ".join(plain.split())[:200]
    options = [f":alt: {json.dumps(alt, ensure_ascii=False)}", ":class: output", ":figclass: output-figure"]
    width = output.get("metadata", {}).get(kind, {}).get("width")
    if width is not None and int(width) > 0:  # a finite positive number (_check_output)
        options.append(f":width: {int(width)}px")
    text = f"**{label}.**" + (f" {caption}" if caption else "")
    return f"````{{figure}} _images_out/{stem}.{_IMAGE_TYPES[kind]}\n" + "\n".join(options) + \
        f"\n\n{text}\n````"


def _render_output(output, stem: str, source_dir: Path) -> str:
    """A text, HTML or Markdown output. HTML and Markdown are untrusted: they pass through
    :func:`tabbook.sanitize.html` (an allow-list) and stay inside their own element."""
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name", "stdout")
        return _fenced(strip_ansi(_joined(output["text"])), "text", f"output {name}")
    if kind == "error":
        return _fenced(strip_ansi("\n".join(output.get("traceback", []))), "text", "output error")
    data = output.get("data", {})
    if "text/html" in data:
        return _raw_html(sanitize.html(_joined(data["text/html"])), "output html")
    if "text/markdown" in data:
        return _raw_html(sanitize.markdown(_joined(data["text/markdown"])), "output markdown")
    if "text/plain" in data:
        return _fenced(strip_ansi(_joined(data["text/plain"])), "text", "output result")
    return ""


def _joined(text) -> str:
    return text if isinstance(text, str) else "".join(text)


def _raw_html(html: str, css_class: str) -> str:
    """An output's HTML on the page: the ``tabbook-output`` directive (:mod:`tabbook.bookguard`)
    wraps it in ``<div class="<css_class>">`` after sanitizing it once more."""
    return _fenced(html, f"{{tabbook-output}} {css_class}")


def _fenced(text: str, info: str, css_class: str | None = None) -> str:
    """``text`` in a backtick fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    if css_class:
        return f"{fence}{{code-block}} {info}\n:class: {css_class}\n\n{text.rstrip()}\n{fence}"
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"
