"""Read a chapter source (MyST Markdown) into cells tagged with their frameworks.

The chapter format is jupytext's MyST Markdown (https://jupytext.readthedocs.io, "MyST
Markdown"): YAML front matter, prose, and ```` ```{code-cell} ```` directives; ``+++`` splits
Markdown cells and may carry their metadata. jupytext does the parsing; this module validates
what jupytext accepts silently (unclosed fences, unknown tags) and applies the tagging rule:

* a **code cell** must name the frameworks it belongs to in its tags (one or several of
  ``mxnet``, ``pytorch``, ``tensorflow``, ``mindspore``), or carry the tag ``all`` when
  every framework runs it. An untagged code cell is an error: guessing would put code in
  the wrong tab.
* a **Markdown cell** without a framework tag is shared prose and goes to every framework;
  one with framework tags is prose for those frameworks only.
* a framework that a chapter leaves out entirely is declared in the front matter with the
  reason, ``tabbook: {omit: {mindspore: "reason"}}``; an undeclared gap is an error.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path

import jupytext
import yaml
from jupytext.myst import MystMetadataParsingError

from .errors import SourceError
from .frameworks import ALL_TAG, NAMES

#: Tags that are not frameworks but are understood by the tools downstream (nbval, MyST-NB).
#: ``solution``: an exercise's solution, which the book collapses into a dropdown.
OTHER_TAGS = frozenset({"raises-exception", "skip-execution", "full-width", "margin", "scroll-output",
                        "solution"})
OTHER_TAG_PREFIXES = ("nbval-", "hide-", "remove-", "bench-")
#: Code-cell options that describe the cell's figures in the book: its alt text and caption.
FIGURE_OPTIONS = ("alt", "caption")

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CODE_CELL = re.compile(r"^\{code-cell\}")
_JUPYTEXT_LINE = re.compile(r"at line (\d+)")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of a chapter.

    ``frameworks`` lists the frameworks the cell goes to, in book order; ``shared`` is True for
    cells that go to every framework (untagged prose, or code tagged ``all``). ``tags`` are the
    remaining, non-framework tags (nbval markers and the like). ``line`` is 1-based in the source.
    ``alt`` and ``caption`` describe the figures a code cell draws (its ``:alt:`` and ``:caption:``
    options, a text or a list with one text per figure): the book's alt texts and numbered captions.
    """

    kind: str  # "code" or "markdown"
    source: str
    frameworks: tuple[str, ...]
    shared: bool
    tags: tuple[str, ...]
    line: int
    alt: tuple[str, ...] = ()
    caption: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Chapter:
    """A parsed, validated chapter: its name (the file stem), title, cells and omissions."""

    path: Path
    name: str
    title: str
    cells: tuple[Cell, ...]
    omitted: dict[str, str]  # framework -> reason the chapter leaves it out

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The frameworks this chapter is built for, in book order."""
        return tuple(name for name in NAMES if name not in self.omitted)


def read_chapter(path: Path | str) -> Chapter:
    """Parse and validate the chapter at ``path``.

    Raises:
        SourceError: with ``path:line``, what is wrong and how to fix it, for a file that is not
            UTF-8, malformed front matter or cell metadata, an unclosed fence, an unknown tag, an
            untagged code cell, an empty chapter, a missing title, or an undeclared framework gap.
    """
    path = Path(path)
    text = _decode(path, path.read_bytes())
    front, body_start = _front_matter(path, text)
    lines = text.splitlines()
    code_lines = _code_cell_lines(path, lines, body_start)
    try:
        notebook = jupytext.reads(text, fmt="md:myst")
    except MystMetadataParsingError as error:
        match = _JUPYTEXT_LINE.search(str(error))
        raise SourceError(
            path,
            int(match.group(1)) if match else None,
            f"malformed cell metadata: {_first_line(error)}",
            "cell metadata is YAML after ':' (`:tags: [pytorch]`) or between '---' lines in a "
            'code cell, and JSON after \'+++\' (`+++ {"tags": ["pytorch"]}`) for prose',
        ) from None
    omitted = _omissions(path, front)
    cells = _cells(path, notebook.cells, lines, code_lines, body_start)
    if not cells:
        raise SourceError(path, 1, "the chapter is empty", "write a '# Title' and at least one cell")
    title = _title(path, cells)
    _check_coverage(path, cells, omitted)
    return Chapter(path, path.stem, title, tuple(cells), omitted)


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SourceError(
            path,
            line,
            f"the file is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
            "save the file as UTF-8 (for instance `iconv -f latin1 -t utf-8`)",
        ) from None


def _front_matter(path: Path, text: str) -> tuple[dict, int]:
    """Return the front matter as a dict and the 0-based index of the first body line."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            break
    else:
        raise SourceError(path, 1, "the front matter opened here is never closed",
                          "end the YAML front matter with a line of three dashes: ---")
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(error, "problem", None) or str(error)
        raise SourceError(path, line, f"malformed front matter: {problem}",
                          "the front matter is YAML between two '---' lines") from None
    if not isinstance(front, dict):
        raise SourceError(path, 2, "malformed front matter: expected 'key: value' entries",
                          "the front matter is a YAML mapping between two '---' lines")
    return front, end + 1


def _code_cell_lines(path: Path, lines: list[str], start: int) -> list[int]:
    """Return the 1-based line of every ``{code-cell}`` opener; reject unclosed fences."""
    openers: list[int] = []
    index = start
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, info = match.group("fence"), match.group("info").strip()
        opened = index
        is_code_cell = bool(_CODE_CELL.match(info))
        index += 1
        while index < len(lines):
            close = _FENCE.match(lines[index])
            if (close and close.group("info").strip() == "" and close.group("fence")[0] == fence[0]
                    and len(close.group("fence")) >= len(fence)):
                break
            index += 1
        else:
            what = "code-cell directive" if is_code_cell else f"fence {fence}{info}"
            raise SourceError(path, opened + 1, f"this {what} is never closed",
                              f"close it with a line of {fence} (as many {fence[0]} as the opener)")
        if is_code_cell:
            openers.append(opened + 1)
        index += 1
    return openers


def _omissions(path: Path, front: dict) -> dict[str, str]:
    settings = front.get("tabbook") or {}
    if not isinstance(settings, dict):
        raise SourceError(path, 2, "front matter 'tabbook' must be a mapping",
                          'write tabbook: {omit: {mindspore: "why it is left out"}}')
    omit = settings.get("omit") or {}
    if not isinstance(omit, dict):
        raise SourceError(path, 2, "front matter 'tabbook.omit' must map frameworks to reasons",
                          'write tabbook: {omit: {mindspore: "why it is left out"}}')
    for name, reason in omit.items():
        if name not in NAMES:
            raise SourceError(path, 2, f"front matter omits unknown framework {name!r}",
                              _did_you_mean(str(name), NAMES))
        if not isinstance(reason, str) or not reason.strip():
            raise SourceError(path, 2, f"the omission of {name} gives no reason",
                              f'write the reason readers will see: {name}: "why it is left out"')
    return {name: omit[name].strip() for name in NAMES if name in omit}


def _cells(path: Path, nb_cells, lines: list[str], code_lines: list[int], body_start: int) -> list[Cell]:
    cells: list[Cell] = []
    code_index = 0
    search_from = body_start
    for nb_cell in nb_cells:
        if nb_cell.cell_type == "code":
            line = code_lines[code_index]
            code_index += 1
        else:
            line = _find_line(lines, nb_cell.source, search_from)
        search_from = max(search_from, line)
        tags = nb_cell.metadata.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise SourceError(path, line, f"tags must be a list of names, got {tags!r}",
                              "write `:tags: [pytorch, nbval-ignore-output]`")
        frameworks, other = _split_tags(path, line, tags)
        shared = ALL_TAG in tags or (nb_cell.cell_type == "markdown" and not frameworks)
        if nb_cell.cell_type == "code" and not frameworks and not shared:
            raise SourceError(
                path, line, "this code cell names no framework",
                f"tag it with the frameworks that run it (`:tags: [pytorch]`; one or more of "
                f"{', '.join(NAMES)}) or with `:tags: [{ALL_TAG}]` if every framework runs it")
        if shared and frameworks:
            raise SourceError(path, line, f"the cell is tagged both '{ALL_TAG}' and {', '.join(frameworks)}",
                              f"keep either '{ALL_TAG}' or the framework tags")
        if nb_cell.cell_type == "markdown" and frameworks:
            heading = _heading(nb_cell.source)
            if heading is not None:
                raise SourceError(
                    path, _find_line(lines, heading, line - 1),
                    f"a heading in prose for {', '.join(frameworks)} only: the book puts that prose in a "
                    f"tab, where a section cannot start, and the other frameworks' notebooks lose it",
                    "put a line '+++' before the heading, so that it starts a shared Markdown cell")
        figure = {}
        for key in FIGURE_OPTIONS:
            value = nb_cell.metadata.get(key, [])
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(text, str) for text in values):
                raise SourceError(path, line, f"the cell's {key} must be text or a list of texts, got {value!r}",
                                  f'write `:{key}: "what the figure shows"`, or a list with one text per figure')
            figure[key] = tuple(" ".join(text.split()) for text in values)
        cells.append(Cell(
            kind=nb_cell.cell_type,
            source=nb_cell.source,
            frameworks=NAMES if shared else frameworks,
            shared=shared,
            tags=other,
            line=line,
            **figure,
        ))
    return cells


def _heading(source: str) -> str | None:
    """The first Markdown heading line (``# ...`` to ``###### ...``) of ``source`` outside code
    fences, or None."""
    fenced = False
    for text in source.splitlines():
        if _FENCE.match(text):
            fenced = not fenced
        elif not fenced and re.match(r"^ {0,3}#{1,6}(\s|$)", text):
            return text
    return None


def _find_line(lines: list[str], source: str, start: int) -> int:
    """The 1-based line where a Markdown cell whose text is ``source`` begins, at or after ``start``."""
    first = next((text for text in source.splitlines() if text.strip()), "")
    for index in range(start, len(lines)):
        if lines[index].strip() == first.strip():
            return index + 1
    return start + 1


def _split_tags(path: Path, line: int, tags: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    frameworks = []
    other = []
    for tag in tags:
        if tag in NAMES:
            frameworks.append(tag)
        elif tag == ALL_TAG:
            continue
        elif tag in OTHER_TAGS or tag.startswith(OTHER_TAG_PREFIXES):
            other.append(tag)
        else:
            known = (*NAMES, ALL_TAG, *sorted(OTHER_TAGS))
            raise SourceError(path, line, f"unknown tag {tag!r}", _did_you_mean(tag, known))
    ordered = tuple(name for name in NAMES if name in frameworks)
    return ordered, tuple(other)


def _did_you_mean(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known frameworks: {', '.join(NAMES)}"


def _title(path: Path, cells: list[Cell]) -> str:
    for cell in cells:
        if cell.kind == "markdown" and cell.shared:
            for text in cell.source.splitlines():
                if text.startswith("# "):
                    return text[2:].strip()
    raise SourceError(path, cells[0].line, "the chapter has no title",
                      "begin the chapter with shared prose whose first heading is '# Title'")


def _check_coverage(path: Path, cells: list[Cell], omitted: dict[str, str]) -> None:
    for name in NAMES:
        has_code = any(cell.kind == "code" and not cell.shared and name in cell.frameworks
                       for cell in cells)
        if name in omitted and has_code:
            line = next(c.line for c in cells if c.kind == "code" and name in c.frameworks and not c.shared)
            raise SourceError(path, line, f"the front matter omits {name} but this cell is tagged {name}",
                              f"remove the omission of {name}, or the tag")
        if name not in omitted and not has_code:
            raise SourceError(
                path, 1, f"the chapter has no code for {name} and does not declare it omitted",
                f"tag code cells with {name}, or declare the gap in the front matter: "
                f'tabbook: {{omit: {{{name}: "why it is left out"}}}}')


def _first_line(error: Exception) -> str:
    text = str(error)
    text = text.split(": ", 1)[1] if ": " in text.split("\n", 1)[0] else text
    return " ".join(text.split("\n", 2)[:1])


def find_chapters(folder: Path) -> list[Path]:
    """The chapter sources under ``folder`` (``*.md``, recursively), sorted by path.

    Raises:
        SourceError: when two sources share a file name, since both would be written to
            ``tabs/<framework>/<name>.ipynb``.
    """
    paths = sorted(folder.rglob("*.md"))
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise SourceError(path, None, f"a second chapter named {path.stem!r} (the first is {seen[path.stem]})",
                              "chapter names are file names and must be unique; rename one of them")
        seen[path.stem] = path
    return paths
