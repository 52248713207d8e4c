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
import os
import re
import runpy
import urllib.parse
import shutil
import time
from pathlib import Path

import nbformat

from . import standalone, stored, toc
from .errors import BuildError
from .execute import strip_ansi
from .files import atomic_write_text
from .frameworks import NAMES, ROOT, get
from .merge import MergedCell, merge
from .savedcode import SAVE_TAG
from .source import Chapter

CONF_DIR = ROOT / "book"
SOURCE_DIR = ROOT / "build" / "book-src"
HTML_DIR = ROOT / "build" / "html"
SYNC_GROUP = "framework"
#: The tag of an exercise's solution: the page collapses it into a dropdown.
SOLUTION_TAG = "solution"
#: The caption of a saved cell's code (:mod:`tabbook.savedcode`), which is otherwise shown as usual.
SAVED_CAPTION = "Saved in tabbook.saved"


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
            notebooks[name] = stored.read_matching(chapter, name, path)
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
        pins = [f"{package}=={version}" for package, version in standalone.lock_pins(get(name)).items()
                if package in _MAIN_PACKAGES[name]]
        body = (f"The {get(name).title} notebooks run in their own environment, pinned in "
                f"`tabs/{name}/requirements.txt`:\n\n```text\n" + "\n".join(pins) + "\n```\n\n"
                f"Each notebook's first cell installs them where they are missing. In a checkout of "
                f"the book's repository, `python build.py env` makes this environment and its "
                f"Jupyter kernel, `{get(name).display_name}`.")
        tabs.append(_tab_item(name, body))
    folder = Path(os.path.commonpath([chapter.path.parent for chapter in chapters]))
    toctrees = "".join(f"\n```{{toctree}}\n:maxdepth: 2\n:caption: {part.caption}\n\n" + "\n".join(part.chapters) + "\n```\n"
                       for part in toc.parts_of([chapter.name for chapter in chapters], folder))
    return (
        "# Deep-Learning Building Blocks in Four Frameworks\n\n"
        "Every chapter shows the same ideas in MXNet, PyTorch, TensorFlow and MindSpore. Pick your "
        "framework on any tab: every code block of the book follows, and the book remembers your "
        "choice. A link can choose it too: add `?framework=pytorch` to the address.\n\n"
        + _tab_set(tabs)
        + toctrees
    )


_MAIN_PACKAGES = {"mxnet": {"mxnet", "numpy"}, "pytorch": {"torch", "numpy"},
                  "tensorflow": {"tensorflow-cpu", "keras", "numpy"}, "mindspore": {"mindspore", "numpy"}}


def chapter_page(chapter: Chapter, notebooks: dict[str, nbformat.NotebookNode], source_dir: Path) -> str:
    """The MyST page of ``chapter`` from its executed notebooks (framework name -> notebook)."""
    parts: list[tuple[bool, str]] = []  # (is a solution, MyST text)
    run: list[MergedCell] = []

    run_solution = False  # whether the cells in run are a solution's

    def close_run():
        if run:
            parts.append((run_solution, _run_tabs(run, chapter, source_dir)))
            run.clear()

    for item in merge(notebooks):
        source = _source_cell(chapter, item)
        rendered = {name: _render_cell(cell, chapter, name, item.index, source_dir)
                    for name, cell in item.cells.items()}
        solution = SOLUTION_TAG in source.tags
        if run and solution != run_solution:
            close_run()
        if source.shared and len(set(rendered.values())) == 1:
            close_run()
            text = next(iter(rendered.values()))
            parts.append((solution, _with_downloads(text, chapter) if item.index == 0 else text))
        else:
            run.append(item)
            run_solution = solution
    close_run()
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
        first, _, rest = text.partition("\n")
        if first.startswith("#"):
            if current is not None:
                out.append(_dropdown(*current))
            current = [first.lstrip("#").strip(), rest.strip()]
        elif current is None:
            current = ["Solution", text]
        else:
            current.append(text)
    if current is not None:
        out.append(_dropdown(*current))
    return out


def _dropdown(title: str, *body: str) -> str:
    # Seven colons: the fence must be longer than those of the tab sets (six) it may hold.
    return f":::::::{{dropdown}} {title}\n\n" + "\n\n".join(part for part in body if part) + "\n:::::::"


def _with_downloads(text: str, chapter: Chapter) -> str:
    """Insert the links to the notebooks (download, and hosted runners) and to the source after
    the chapter's title."""
    repository, branch = repository_settings()
    rows = []
    for name in chapter.frameworks:
        links = [f"{{download}}`Download notebook <_downloads/{name}/{chapter.name}.ipynb>`"]
        for title, url in hosted_links(repository, branch, f"tabs/{name}/{chapter.name}.ipynb"):
            if name in standalone.PYTHON_LIMITS:
                links.append(f"{title}: not available ({standalone.PYTHON_LIMITS[name][1]}, which Colab runs)")
            else:
                links.append(f"[{title}]({url})")
        rows.append(f"* {get(name).title}: " + " · ".join(links))
    block = ("\n\n````{admonition} Run it yourself\n:class: tip\n\n" + "\n".join(rows) + "\n\n"
             "Each notebook runs on its own: its first cell installs the package versions it was "
             "executed with where they are missing. "
             f"Source: {{download}}`{chapter.name}.md <_sources_md/{chapter.name}.md.txt>`.\n````\n")
    title, _, rest = text.partition("\n")
    return title + block + rest


def repository_settings() -> tuple[str, str]:
    """The repository URL and branch set in the book's configuration (``book/conf.py``)."""
    conf = runpy.run_path(str(CONF_DIR / "conf.py"))
    repository = (conf.get("tabbook_repository") or "").strip()
    if repository and not re.fullmatch(r"https://[^\s\"'<>]+", repository):
        raise BuildError(f"book/conf.py: the repository URL {repository!r} is not an https:// address; "
                         "set tabbook_repository (or TABBOOK_REPOSITORY) to the repository's web address, or empty")
    return repository, conf.get("tabbook_branch") or "main"


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
    caption = SAVED_CAPTION if SAVE_TAG in tags else None
    parts = [] if "remove-input" in tags else [_fenced(cell.source, "python", caption=caption)]
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


def _fenced(text: str, info: str, css_class: str | None = None, caption: str | None = None) -> str:
    """``text`` in a backtick fence longer than any backtick run inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    if caption:
        return f"{fence}{{code-block}} {info}\n:caption: {caption}\n\n{text.rstrip()}\n{fence}"
    if css_class:
        return f"{fence}{{code-block}} {info}\n:class: {css_class}\n\n{text.rstrip()}\n{fence}"
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"
