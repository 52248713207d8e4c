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
import re
import shutil
import time
from pathlib import Path

import nbformat

from .errors import BuildError
from .execute import strip_ansi
from .files import atomic_write_text
from .frameworks import NAMES, ROOT, get
from .merge import MergedCell, merge
from .source import Chapter

CONF_DIR = ROOT / "book"
SOURCE_DIR = ROOT / "build" / "book-src"
HTML_DIR = ROOT / "build" / "html"
SYNC_GROUP = "framework"


def build(chapters: list[Chapter], tabs: Path | None = None, source_dir: Path = SOURCE_DIR,
          html_dir: Path = HTML_DIR) -> float:
    """Generate the MyST sources from the executed notebooks and run Sphinx; return the seconds.

    ``tabs`` is the folder of the executed notebooks (default: tabs/ of this checkout).

    Raises:
        BuildError: a notebook is missing (run ``build.py execute`` first) or Sphinx failed.
    """
    start = time.perf_counter()
    write_sources(chapters, tabs or (ROOT / "tabs"), source_dir)
    from sphinx.cmd.build import build_main

    code = build_main(["-b", "html", "-q", "-W", "--keep-going", "-c", str(CONF_DIR),
                       str(source_dir), str(html_dir)])
    if code != 0:
        raise BuildError(f"Sphinx failed (exit code {code}); its messages are above")
    return time.perf_counter() - start


def write_sources(chapters: list[Chapter], tabs: Path, source_dir: Path) -> None:
    """Write index.md, one page per chapter, their images and the downloadable files."""
    if source_dir.exists():
        shutil.rmtree(source_dir)
    source_dir.mkdir(parents=True)
    for chapter in chapters:
        notebooks = {}
        for name in chapter.frameworks:
            path = tabs / name / f"{chapter.name}.ipynb"
            if not path.exists():
                raise BuildError(f"{path} is missing; build it first with: python build.py execute {chapter.name}")
            notebooks[name] = nbformat.read(path, as_version=4)
            download = source_dir / "_downloads" / name / path.name
            download.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, download)
        sources = source_dir / "_sources_md"
        sources.mkdir(exist_ok=True)
        shutil.copy(chapter.path, sources / f"{chapter.name}.md.txt")
        atomic_write_text(source_dir / f"{chapter.name}.md", chapter_page(chapter, notebooks, source_dir))
    atomic_write_text(source_dir / "index.md", index_page(chapters))


def index_page(chapters: list[Chapter]) -> str:
    """The book's front page: what the book is, how to pick a framework, the table of contents."""
    tabs = []
    for name in NAMES:
        pins = [line for line in get(name).requirements.read_text().splitlines()
                if line.split("==")[0].lower().replace("_", "-") in _MAIN_PACKAGES[name]]
        body = (f"The {get(name).title} notebooks run in their own environment, pinned in "
                f"`tabs/{name}/requirements.txt`:\n\n```text\n" + "\n".join(pins) + "\n```\n\n"
                f"Open one in Jupyter with the kernel `{get(name).kernel_name}`.")
        tabs.append(_tab_item(name, body))
    toc = "\n".join(chapter.name for chapter in chapters)
    return (
        "# Deep-Learning Building Blocks in Four Frameworks\n\n"
        "Every chapter shows the same ideas in MXNet, PyTorch, TensorFlow and MindSpore. Pick your "
        "framework on any tab: every code block of the book follows, and the book remembers your "
        "choice. A link can choose it too: add `?framework=pytorch` to the address.\n\n"
        + _tab_set(tabs)
        + f"\n```{{toctree}}\n:maxdepth: 2\n:caption: Chapters\n\n{toc}\n```\n"
    )


_MAIN_PACKAGES = {"mxnet": {"mxnet", "numpy"}, "pytorch": {"torch", "numpy"},
                  "tensorflow": {"tensorflow-cpu", "keras", "numpy"}, "mindspore": {"mindspore", "numpy"}}


def chapter_page(chapter: Chapter, notebooks: dict[str, nbformat.NotebookNode], source_dir: Path) -> str:
    """The MyST page of ``chapter`` from its executed notebooks (framework name -> notebook)."""
    parts: list[str] = []
    run: list[MergedCell] = []
    for item in merge(notebooks):
        source = chapter.cells[item.index]
        rendered = {name: _render_cell(cell, chapter, name, item.index, source_dir)
                    for name, cell in item.cells.items()}
        if source.shared and len(set(rendered.values())) == 1:
            if run:
                parts.append(_run_tabs(run, chapter, source_dir))
                run = []
            text = next(iter(rendered.values()))
            parts.append(_with_downloads(text, chapter) if item.index == 0 else text)
        else:
            run.append(item)
    if run:
        parts.append(_run_tabs(run, chapter, source_dir))
    return "\n\n".join(parts) + "\n"


def _with_downloads(text: str, chapter: Chapter) -> str:
    """Insert the links to the notebooks and the source after the chapter's title."""
    links = " · ".join(f"{{download}}`{get(name).title} <_downloads/{name}/{chapter.name}.ipynb>`"
                       for name in chapter.frameworks)
    block = (f"\n\n```{{admonition}} Run it yourself\n:class: tip\n\nNotebooks: {links}. "
             f"Source: {{download}}`{chapter.name}.md <_sources_md/{chapter.name}.md.txt>`.\n```\n")
    title, _, rest = text.partition("\n")
    return title + block + rest


def _run_tabs(run: list[MergedCell], chapter: Chapter, source_dir: Path) -> str:
    items = []
    for name in NAMES:
        cells = [(item.index, item.cells[name]) for item in run if name in item.cells]
        if name in chapter.omitted:
            body = _note(f"Not available in {get(name).title}: {chapter.omitted[name]}")
        elif not cells:
            body = _note(f"Not available in {get(name).title}.")
        else:
            body = "\n\n".join(_render_cell(cell, chapter, name, index, source_dir) for index, cell in cells)
        items.append(_tab_item(name, body))
    return _tab_set(items)


def _tab_set(items: list[str]) -> str:
    return f"::::::{{tab-set}}\n:sync-group: {SYNC_GROUP}\n\n" + "\n".join(items) + "::::::\n"


def _tab_item(name: str, body: str) -> str:
    return f":::::{{tab-item}} {get(name).title}\n:sync: {name}\n\n{body}\n:::::\n"


def _note(text: str) -> str:
    return f"::::{{note}}\n{text}\n::::"


def _render_cell(cell, chapter: Chapter, framework: str, index: int, source_dir: Path) -> str:
    """A cell as MyST. The tags remove-cell, remove-input, remove-output and remove-stderr hide
    parts of it from the page, as in MyST-NB; the notebook keeps them."""
    tags = set(cell.metadata.get("tags", []))
    if cell.cell_type == "markdown":
        return "" if "remove-cell" in tags else cell.source
    if "remove-cell" in tags:
        return ""
    parts = [] if "remove-input" in tags else [_fenced(cell.source, "python")]
    for number, output in enumerate(cell.get("outputs", [])):
        if "remove-output" in tags or ("remove-stderr" in tags and output.get("name") == "stderr"):
            continue
        parts.append(_render_output(output, f"{chapter.name}/{framework}-{index:03d}-{number}", source_dir))
    return "\n\n".join(part for part in parts if part)


def _render_output(output, stem: str, source_dir: Path) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _fenced(output["text"], "text", "output " + output.get("name", "stdout"))
    if kind == "error":
        return _fenced(strip_ansi("\n".join(output.get("traceback", []))), "text", "output error")
    data = output.get("data", {})
    if "image/png" in data:
        image = source_dir / "_images_out" / f"{stem}.png"
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(base64.b64decode(data["image/png"]))
        alt = data.get("text/plain", "output figure").replace("\n", " ").replace('"', "'")
        return f"```{{image}} _images_out/{stem}.png\n:alt: {alt}\n:class: output\n```"
    if "text/html" in data:
        return _fenced(data["text/html"], "{raw} html")
    if "text/plain" in data:
        return _fenced(data["text/plain"], "text", "output result")
    return ""


def _fenced(text: str, info: str, css_class: str | None = None) -> str:
    """``text`` in a backtick fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    if css_class:
        return f"{fence}{{code-block}} {info}\n:class: {css_class}\n\n{text.rstrip()}\n{fence}"
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"
