"""Read a chapter source (MyST Markdown) into cells tagged with their frameworks.

The chapter format is jupytext's MyST Markdown (https://jupytext.readthedocs.io, "MyST
Markdown"): YAML front matter, prose, and ```` ```{code-cell} ```` directives; ``+++`` splits
Markdown cells and may carry their metadata. jupytext does the parsing; this module validates
what jupytext accepts silently or reports without a line (unclosed fences, cells it would read as
prose, invalid tags and metadata), on the same parser (markdown-it) jupytext uses, and applies the
tagging rule:

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

import codecs
import dataclasses
import difflib
import os
import re
import unicodedata
from pathlib import Path

import nbformat
import yaml
from jupytext.myst import (MystMetadataParsingError, get_parser, myst_to_notebook, parse_directive_options,
                           read_cell_metadata)

from .errors import SourceError
from . import prose, pyast, savedcode, toc
from .frameworks import ALL_TAG, NAMES

#: Tags that are not frameworks but are understood by the tools downstream (nbval, MyST-NB).
#: ``solution``: an exercise's solution, which the book collapses into a dropdown. ``save``: a code
#: cell whose code also goes into ``library/dlblocks/<module>.py`` (:mod:`tabbook.savedcode`).
OTHER_TAGS = frozenset({"raises-exception", "full-width", "margin", "scroll-output", "solution",
                        savedcode.SAVE_TAG})
OTHER_TAG_PREFIXES = ("nbval-", "hide-", "remove-", "bench-")
#: Tags the tools would understand but the book cannot honour: what is wrong, and what to do.
REJECTED_TAGS = {
    "skip-execution": ("the book executes every code cell, and nbval runs it again in the tests",
                       "to show code that must not run, put it in prose, in a ```python fence (after "
                       '+++ {"tags": ["pytorch"]} for one framework)'),
}
#: Names a chapter cannot have: the pages the book and Sphinx make themselves (index.md is the
#: book's front page; search, genindex and the module index are Sphinx's).
RESERVED_NAMES = frozenset({"index", "search", "genindex", "modindex", "py-modindex"})
#: The longest chapter name in bytes: a file name has at most 255, and the build writes
#: ``.<name>.ipynb.<8 random characters>.tmp`` and ``<name>.claims.yml`` beside others.
NAME_MAX_BYTES = 200
#: Code-cell options that describe the cell's figures in the book: its alt text and caption.
FIGURE_OPTIONS = ("alt", "caption")

_JUPYTEXT_LINE = re.compile(r"at line (\d+)")
_METADATA_HINT = ("cell metadata is YAML after ':' (`:tags: [pytorch]`) or between '---' lines in a "
                  'code cell, and JSON after \'+++\' (`+++ {"tags": ["pytorch"]}`) for prose')
#: Byte order marks of encodings other than UTF-8 (UTF-32 first: its LE mark begins with UTF-16's).
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
              (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
#: Characters str.splitlines (and so jupytext) breaks lines at, but markdown-it does not.
_ODD_LINE_BREAK = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One cell of a chapter.

    ``frameworks`` lists the frameworks the cell goes to, in book order; ``shared`` is True for
    cells that go to every framework (untagged prose, or code tagged ``all``). ``tags`` are the
    remaining, non-framework tags (nbval markers and the like). ``line`` is 1-based in the source;
    ``code_line`` is the line of a code cell's first line of code (after the fence and its options).
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
    code_line: int = 0


@dataclasses.dataclass(frozen=True)
class Chapter:
    """A parsed, validated chapter: its name (the file stem), title, cells and omissions."""

    path: Path
    name: str
    title: str
    cells: tuple[Cell, ...]
    omitted: dict[str, str]  # framework -> reason the chapter leaves it out
    #: The files of the assets folder (notebooks/assets/) that the chapter's prose names: its
    #: pictures and downloads, the only files of the machine the book copies for it (tabbook.prose).
    assets: tuple[Path, ...] = ()
    #: The results the build reports for this chapter (the summary table): name -> a Python
    #: expression evaluated in the notebook's kernel after its last cell (:mod:`tabbook.report`).
    report: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The index in ``cells`` of the cell that holds the title (:func:`_title`).
    title_cell: int = 0

    @property
    def frameworks(self) -> tuple[str, ...]:
        """The frameworks this chapter is built for, in book order."""
        return tuple(name for name in NAMES if name not in self.omitted)


def read_chapter(path: Path | str) -> Chapter:
    """Parse and validate the chapter at ``path``.

    Raises:
        SourceError: with ``path:line``, what is wrong and how to fix it, for a file that cannot
            be read or is not UTF-8, a name that cannot be a chapter's, malformed front matter or
            cell metadata, an unclosed fence, a cell that jupytext would not see as a cell (nested
            in a list, a block quote, HTML or a directive) or that no notebook would keep (a raw
            cell), an unknown tag, an untagged or empty code cell, an empty chapter, a missing
            title, an undeclared framework gap, a git conflict marker, or prose (a caption, an
            omission's reason) that would reach outside the book (:mod:`tabbook.prose`).
    """
    path = Path(path)
    check_chapter_name(path)
    text = _decode(path, _read_bytes(path))
    lines = text.splitlines()
    _check_conflicts(path, lines)
    tokens = get_parser().parse(text + "\n")
    front = _front_matter(path, lines, tokens)
    markdown_meta = _check_blocks(path, lines, tokens)
    try:
        notebook = myst_to_notebook(text, add_source_map=True)
    except MystMetadataParsingError as error:  # _check_blocks reports these first, with their line
        match = _JUPYTEXT_LINE.search(str(error))
        raise SourceError(path, int(match.group(1)) if match else None,
                          f"malformed cell metadata: {_first_line(error)}", _METADATA_HINT) from None
    omitted = _omissions(path, front)
    report = _report(path, front, lines)
    cells = _cells(path, notebook, lines, markdown_meta)
    if not cells:
        raise SourceError(path, 1, "the chapter is empty", "write a '# Title' and at least one cell")
    title, title_cell = _title(path, cells)
    _check_coverage(path, cells, omitted)
    return Chapter(path, path.stem, title, tuple(cells), omitted, _assets(path, lines, cells, omitted), report,
                   title_cell)


#: Lines that git leaves in a file whose merge it could not finish.
_CONFLICT = re.compile(r"^(<{7}|>{7}|\|{7})(?: .*)?$|^={7}[ \t]*$")


def _check_conflicts(path: Path, lines: list[str]) -> None:
    """Raise at the first line that git's conflict markers begin (``<<<<<<<``, ``|||||||``,
    ``=======``, ``>>>>>>>``): left in a chapter they would be published as prose (``=======``
    even turns the line above it into a heading) or break a cell."""
    for number, text in enumerate(lines, 1):
        match = _CONFLICT.match(text)
        if match:
            marker = match.group(1) or "======="
            raise SourceError(path, number, f"a git conflict marker ({marker}): a merge left this chapter unfinished",
                              "keep the side you want, delete the <<<<<<<, =======, >>>>>>> lines, and check the "
                              "result (a heading underline of exactly seven '=' reads the same: write '# Title' "
                              "instead)")


def _assets(path: Path, lines: list[str], cells: list[Cell], omitted: dict[str, str]) -> tuple[Path, ...]:
    """Check what of the chapter reaches its page besides code (:mod:`tabbook.prose`): the prose,
    each code cell's figure captions and the reasons of omitted frameworks; return the asset
    files they name, sorted."""
    found: set[Path] = set()
    for cell in cells:
        if cell.kind == "markdown":
            found |= prose.check(path, cell.source, cell.line)
        for caption in cell.caption:
            found |= prose.check(path, caption, cell.line, what="a figure caption")
    for name, reason in omitted.items():
        line = next((number for number, text in enumerate(lines, 1) if text.strip().startswith(f"{name}:")), 2)
        found |= prose.check(path, reason, line, what=f"the reason for omitting {name}")
    return tuple(sorted(found))


def check_chapter_name(path: Path) -> None:
    """Reject a chapter file name that cannot be a chapter's.

    A chapter's name (the file stem) becomes ``tabs/<framework>/<name>.ipynb``, a page of the book
    (``<name>.html``), a command-line argument of ``build.py`` and the prefix of its notebooks'
    cell ids. So it is made of letters (any script), digits, ``_``, ``-`` and ``.``, starts with a
    letter, digit or ``_``, is at most :data:`NAME_MAX_BYTES` bytes in UTF-8, and is none of the
    pages the book makes itself (:data:`RESERVED_NAMES`, in any letter case).

    Raises:
        SourceError: naming the file, what is wrong with the name and a name that would do.
    """
    name = path.stem
    suggestion = re.sub(r"[^\w.-]+", "-", name).strip("-.") or "chapter"
    if not re.fullmatch(r"\w[\w.-]*", name) or name.endswith("."):
        bad = sorted({char for char in name if not re.fullmatch(r"[\w.-]", char)})
        what = (f"starts with {name[:1]!r}" if name[:1] in "-." and not bad else
                "has " + ", ".join(_describe(char) for char in bad) if bad else f"ends with {name[-1:]!r}")
        raise SourceError(
            path, None, f"the chapter name {name!r} {what}: a chapter's name is a file name under tabs/, "
                        "a page of the book and an argument of build.py",
            f"use letters, digits, '_', '-' and '.' and begin with a letter or digit: rename it to "
            f"{suggestion}.md")
    if len(name.encode("utf-8")) > NAME_MAX_BYTES:
        raise SourceError(path, None, f"the chapter name is {len(name.encode('utf-8'))} bytes long; at most "
                                      f"{NAME_MAX_BYTES} fit in the file names the build writes",
                          "rename it to a shorter name")
    if name.casefold() in RESERVED_NAMES or name.casefold().startswith("genindex-"):
        raise SourceError(path, None, f"the chapter name {name!r} is the name of a page the book makes itself "
                                      f"({', '.join(sorted(RESERVED_NAMES))})",
                          f"rename it, for instance to {name}-chapter.md")


def cell_id(chapter_name: str, suffix: str) -> str:
    """The notebook cell id ``<chapter name>-<suffix>``, made valid for nbformat (at most 64 of
    ``[A-Za-z0-9_-]``): other characters of the name become ``-``, and it is cut to 50."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', chapter_name)[:50]}-{suffix}"


def _describe(char: str) -> str:
    if char == " ":
        return "a space"
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})"


def _read_bytes(path: Path) -> bytes:
    if path.exists() and not path.is_file():  # a FIFO would block the read, a device never end
        raise SourceError(path, None, "not a regular file", "a chapter is a Markdown file; move this away")
    try:
        return path.read_bytes()
    except OSError as error:
        if path.is_symlink() and not path.exists():
            raise SourceError(path, None, f"a link to {os.readlink(path)}, which does not exist",
                              "fix the link or delete it") from None
        raise SourceError(path, None, f"cannot read the chapter: {error.strerror or error}",
                          "check that it is a readable file") from None


def _decode(path: Path, data: bytes) -> str:
    """The text of the file: UTF-8, without a byte order mark, with ``\\n`` line ends.

    Raises:
        SourceError: for another encoding (UTF-16 or UTF-32, which a byte order mark gives away,
            or bytes that are not UTF-8), or a character that Python splits lines at but Markdown
            does not (which would cut cells in the wrong places).
    """
    for bom, encoding in _WIDE_BOMS:
        if data.startswith(bom):
            raise SourceError(path, 1, f"the file is {encoding}, not UTF-8",
                              f"save it as UTF-8 (for instance `iconv -f {encoding} -t UTF-8`)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise SourceError(
            path,
            line,
            f"the file is not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start})",
            "save the file as UTF-8 (for instance `iconv -f latin1 -t utf-8`)",
        ) from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    odd = _ODD_LINE_BREAK.search(text)
    if odd:
        char = odd.group()
        raise SourceError(path, text.count("\n", 0, odd.start()) + 1,
                          f"the character {_describe(char)} is a line break to Python but not to Markdown, "
                          "so the cells would be cut in the wrong places",
                          "replace it with a newline or a space")
    return text


def _front_matter(path: Path, lines: list[str], tokens) -> dict:
    """The front matter as a dict (empty when there is none), as jupytext's parser delimits it."""
    if not tokens or tokens[0].type != "front_matter":
        first = next((index for index, text in enumerate(lines) if text.strip()), None)
        if first is not None and lines[first].strip() == "---":
            if first > 0:
                raise SourceError(path, first + 1, "the front matter must begin on the first line of the file",
                                  "delete the lines before the first ---")
            if all(text.strip() != "---" for text in lines[1:]):
                raise SourceError(path, 1, "the front matter opened here is never closed",
                                  "end the YAML front matter with a line of three dashes: ---")
        return {}
    try:
        front = yaml.safe_load(tokens[0].content) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(error, "problem", None) or str(error)
        raise SourceError(path, line, f"malformed front matter: {problem}",
                          "the front matter is YAML between two '---' lines") from None
    if not isinstance(front, dict):
        raise SourceError(path, 2, "malformed front matter: expected 'key: value' entries",
                          "the front matter is a YAML mapping between two '---' lines")
    return front


def _check_blocks(path: Path, lines: list[str], tokens) -> dict[int, int]:
    """Check the block structure as jupytext's parser (markdown-it) sees it.

    Every fence is closed; every ``{code-cell}`` is a top-level block, where jupytext makes it a
    cell (not inside a list item, a block quote, an HTML block, an indented block or another
    directive, where it would silently stay prose); there is no ``{raw-cell}`` (no framework
    notebook or page would keep it); and the metadata of every cell is valid, with its line.
    Return, for each ``+++`` line with metadata (0-based), the line number to report it at.
    """
    containers: list[str] = []
    markdown_meta: dict[int, int] = {}
    for token in tokens:
        if token.nesting == 1:
            containers.append(token.type)
        elif token.nesting == -1:
            containers.pop()
        if token.map is None:
            continue
        line = token.map[0] + 1
        if token.type == "fence":
            _check_closed(path, lines, token)
            directive = token.info.strip()
            if directive.startswith(("{code-cell}", "{raw-cell}")):
                kind = directive.split("}")[0] + "}"
                inside = [name for name in containers if name in _CONTAINERS]
                if inside:
                    raise SourceError(path, line, f"this {kind} is inside {_CONTAINERS[inside[-1]]}, where "
                                                  "jupytext reads it as prose: it would never run",
                                      "start the cell at the beginning of a line, outside the "
                                      + _CONTAINERS[inside[-1]].split(" ", 1)[1])
                if kind == "{raw-cell}":
                    raise SourceError(path, line, "a {raw-cell} is neither run nor shown in the book",
                                      "make it a {code-cell} with tags, or show the text in prose "
                                      "in a ```text fence")
                _check_metadata(path, line, "code", _directive_options(path, line, token))
            elif directive.startswith("{"):
                _reject_cells_within(path, token, f"the directive {directive.split()[0]} opened at line {line}")
        elif token.type == "html_block":
            _reject_cells_within(path, token, f"the HTML block that begins at line {line}")
        elif token.type == "code_block":
            _reject_cells_within(path, token, f"the indented code block that begins at line {line}")
        elif token.type == "myst_block_break" and token.content.strip():
            try:
                metadata = read_cell_metadata(token, 0)
            except MystMetadataParsingError as error:
                raise SourceError(path, line, f"malformed cell metadata: {_first_line(error)}",
                                  _METADATA_HINT) from None
            _check_metadata(path, line, "markdown", metadata)
            markdown_meta[token.map[0]] = line
    return markdown_meta


#: The blocks that a code cell cannot be nested in, as the reader would describe them.
_CONTAINERS = {"list_item_open": "a list item", "blockquote_open": "a block quote"}
_CELL_OPENER = re.compile(r"^[ \t>]*(`{3,}|~{3,})\s*\{(code-cell|raw-cell)\}")


def _reject_cells_within(path: Path, token, container: str) -> None:
    for offset, text in enumerate(token.content.splitlines()):
        match = _CELL_OPENER.match(text)
        if match:
            # A fence's content starts on the line after its opener; other blocks' on their first.
            line = token.map[0] + offset + (2 if token.type == "fence" else 1)
            raise SourceError(path, line, f"this {{{match.group(2)}}} is inside {container}, where jupytext "
                                          "reads it as prose: it would never run",
                              "close that block before the cell (a blank line ends an HTML block) and "
                              "start the cell at the beginning of a line")


def _check_closed(path: Path, lines: list[str], token) -> None:
    fence = token.markup
    end = token.map[1]
    last = lines[end - 1] if token.map[0] < end - 1 < len(lines) else ""
    closer = re.match(r"^[ \t>]*(`{3,}|~{3,})\s*$", last)
    if end - 1 >= len(lines) or not closer or closer.group(1)[0] != fence[0] or len(closer.group(1)) < len(fence):
        info = token.info.strip()
        what = "code-cell directive" if info.startswith("{code-cell}") else f"fence {fence}{info}"
        raise SourceError(path, token.map[0] + 1, f"this {what} is never closed",
                          f"close it with a line of {fence} (as many {fence[0]} as the opener)")


def _directive_options(path: Path, line: int, token) -> dict:
    try:
        _, options = parse_directive_options(token.content, "")
    except MystMetadataParsingError as error:
        raise SourceError(path, line, f"malformed cell metadata: {_first_line(error)}", _METADATA_HINT) from None
    return options


def _check_metadata(path: Path, line: int, kind: str, metadata) -> None:
    """Validate a cell's metadata where it is written: tags first (with this book's rules), then
    the rest against the notebook format's schema (nbformat), which jupytext applies later."""
    example = "`:tags: [pytorch]`" if kind == "code" else '`+++ {"tags": ["pytorch"]}`'
    if not isinstance(metadata, dict):
        raise SourceError(path, line, f"cell metadata must be 'key: value' entries, got {metadata!r}",
                          _METADATA_HINT)
    tags = metadata.get("tags", [])
    if isinstance(tags, str):
        raise SourceError(path, line, f"tags must be a list, got the text {tags!r}",
                          f"put the tags in brackets: {example.replace('pytorch', tags.strip() or 'pytorch')}")
    if not isinstance(tags, list):
        raise SourceError(path, line, f"tags must be a list of names, got {tags!r}", f"write {example}")
    seen = set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise SourceError(path, line, f"tag {tag!r} is not a name (YAML reads it as "
                                          f"{type(tag).__name__ if tag is not None else 'nothing'})",
                              f"tags are names, for instance {example}; quote a name YAML would read "
                              "otherwise")
        if "," in tag or tag != tag.strip():
            raise SourceError(path, line, f"tag {tag!r} has a comma or surrounding spaces",
                              f"separate tags with commas inside the brackets: {example}")
        if tag in seen:
            raise SourceError(path, line, f"tag {tag!r} is given twice", "give each tag once")
        seen.add(tag)
        if not (tag in NAMES or tag == ALL_TAG or tag in OTHER_TAGS or tag.startswith(OTHER_TAG_PREFIXES)):
            if tag in REJECTED_TAGS:
                raise SourceError(path, line, f"tag {tag!r}: {REJECTED_TAGS[tag][0]}", REJECTED_TAGS[tag][1])
            known = (*NAMES, ALL_TAG, *sorted(OTHER_TAGS))
            raise SourceError(path, line, f"unknown tag {tag!r}", _did_you_mean(tag, known))
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    try:
        make("", metadata=metadata)
    except nbformat.ValidationError as error:
        parts = list(getattr(error, "absolute_path", []))
        where = "".join(f"[{part!r}]" for part in parts[parts[:1] == ["metadata"]:])
        raise SourceError(path, line, f"cell metadata{where} is not valid in a notebook: {error.message}",
                          _METADATA_HINT) from None


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


#: The keys of the front matter's ``tabbook`` mapping.
_SETTINGS = ("omit", "report")
_REPORT_HINT = 'write tabbook: {report: {test_accuracy: "test_accuracy", device: "str(device)"}}'


def _report(path: Path, front: dict, lines: list[str]) -> dict[str, str]:
    """The chapter's ``tabbook.report``: result names (identifiers) -> Python expressions.

    Raises:
        SourceError: an unknown key under ``tabbook``, a report that is not a mapping, a name that
            is not an identifier, or an expression that is not one valid Python expression.
    """
    import ast

    settings = front.get("tabbook") or {}
    line = _front_line(lines, "tabbook")
    for key in settings:
        if key not in _SETTINGS:
            raise SourceError(path, line, f"front matter 'tabbook' has the unknown key {key!r}",
                              _did_you_mean(str(key), _SETTINGS))
    report = settings.get("report") or {}
    if not isinstance(report, dict):
        raise SourceError(path, line, "front matter 'tabbook.report' must map result names to expressions", _REPORT_HINT)
    for name, expression in report.items():
        if not (isinstance(name, str) and name.isidentifier()):
            raise SourceError(path, line, f"the report name {name!r} is not a Python identifier", _REPORT_HINT)
        try:
            if not isinstance(expression, str):
                raise SyntaxError(f"{expression!r} is not a text")
            body = pyast.parse(expression.strip()).body
            if len(body) != 1 or not isinstance(body[0], ast.Expr):
                raise SyntaxError("it is not a single expression")
        except SyntaxError as error:
            raise SourceError(path, line, f"the report expression for {name!r} is not one Python expression "
                                          f"({error.msg if hasattr(error, 'msg') and error.msg else error})",
                              _REPORT_HINT) from None
    return {name: expression.strip() for name, expression in report.items()}


def _front_line(lines: list[str], key: str) -> int:
    """The line of the front matter's top-level ``key:`` (2, the first line inside it, if not found)."""
    for number, text in enumerate(lines[1:], 2):
        if text.strip() == "---":
            break
        if text.startswith(f"{key}:"):
            return number
    return 2


def _cells(path: Path, notebook, lines: list[str], markdown_meta: dict[int, int]) -> list[Cell]:
    cells: list[Cell] = []
    for nb_cell, start in zip(notebook.cells, notebook.metadata["source_map"]):
        if nb_cell.cell_type == "code":
            line = start  # the 1-based line of the opening fence
        else:
            # ``start`` is the 0-based line after the previous block; the cell's text begins at
            # its first non-blank line. Its metadata, if any, is on the '+++' line before ``start``.
            line = next((index + 1 for index in range(start, len(lines)) if lines[index].strip()), start + 1)
        tags = nb_cell.metadata.get("tags", [])
        tag_line = line  # where the tags are written: a Markdown cell's on its '+++' line
        if nb_cell.cell_type == "markdown" and nb_cell.metadata:
            tag_line = next((index + 1 for index in range(min(start, len(lines)) - 1, -1, -1)
                             if lines[index].startswith("+++")), line)
        frameworks, other = _split_tags(path, tag_line, tags)
        shared = ALL_TAG in tags or (nb_cell.cell_type == "markdown" and not frameworks)
        if nb_cell.cell_type == "code" and not frameworks and not shared:
            raise SourceError(
                path, line, "this code cell names no framework",
                f"tag it with the frameworks that run it (`:tags: [pytorch]`; one or more of "
                f"{', '.join(NAMES)}) or with `:tags: [{ALL_TAG}]` if every framework runs it")
        if shared and frameworks:
            raise SourceError(path, tag_line, f"the cell is tagged both '{ALL_TAG}' and {', '.join(frameworks)}",
                              f"keep either '{ALL_TAG}' or the framework tags")
        if nb_cell.cell_type == "code" and not nb_cell.source.strip():
            raise SourceError(path, line, "this code cell is empty",
                              "write its code, or delete it (an empty cell is never executed, so its "
                              "notebook would never count as executed)")
        if nb_cell.cell_type == "markdown" and frameworks:
            heading = _heading(nb_cell.source)
            if heading is not None:
                raise SourceError(
                    path, line + heading,
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
            code_line=_code_line(lines, line, nb_cell.source) if nb_cell.cell_type == "code" else line,
        ))
        if savedcode.SAVE_TAG in other:
            if nb_cell.cell_type != "code":
                raise SourceError(path, line, "prose cannot be tagged `save`: only code goes into the saved modules",
                                  "remove the tag, or put it on the code cell to save")
            savedcode.check_saved_cell(path, cells[-1])  # definitions and pinned imports: raises at the line
    return cells


def _code_line(lines: list[str], fence: int, source: str) -> int:
    """The 1-based line of the first line of a code cell's ``source``, whose fence is at ``fence``."""
    body = source.splitlines()
    for start in range(fence, len(lines)):
        if lines[start:start + len(body)] == body:
            return start + 1
    return fence + 1


def _blocks(source: str):
    """The block tokens of Markdown ``source``, as jupytext's parser (markdown-it) reads them."""
    return get_parser().parse(source + "\n")


def _heading(source: str) -> int | None:
    """The 0-based line, within ``source``, of its first top-level Markdown heading, or None."""
    for token in _blocks(source):
        if token.type == "heading_open" and token.level == 0:
            return token.map[0]
    return None


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


def _title(path: Path, cells: list[Cell]) -> tuple[str, int]:
    """(the chapter's title, the index of its cell): the first level-1 heading of shared prose.

    Raises:
        SourceError: there is none, or a code cell comes before it (a notebook shows its title,
            its "Executed on" line and its setup cell before any code).
    """
    for index, cell in enumerate(cells):
        if cell.kind == "markdown" and cell.shared:
            tokens = _blocks(cell.source)
            for token, content in zip(tokens, tokens[1:]):
                if token.type == "heading_open" and token.tag == "h1" and token.level == 0:
                    code = next((earlier for earlier in cells[:index] if earlier.kind == "code"), None)
                    if code is not None:
                        raise SourceError(path, code.line, "a code cell comes before the chapter's title",
                                          "begin the chapter with its '# Title' and put the code after it")
                    return content.content.strip(), index
    raise SourceError(path, cells[0].line, "the chapter has no title",
                      "begin the chapter with shared prose whose first heading is '# Title'")


def _check_coverage(path: Path, cells: list[Cell], omitted: dict[str, str]) -> None:
    """Every framework has code (a cell tagged with it, or ``all``) unless the front matter
    omits it, and a framework that is omitted has no cell of its own."""
    if len(omitted) == len(NAMES):
        raise SourceError(path, 2, "the front matter omits every framework: the chapter would make no notebook",
                          "remove the omission of at least one framework and give it code")
    if not any(cell.kind == "code" for cell in cells):
        raise SourceError(path, 1, "the chapter has no code cell",
                          "add code cells tagged with their frameworks (`:tags: [pytorch]`), or `:tags: [all]` "
                          "for code every framework runs")
    for name in NAMES:
        has_code = any(cell.kind == "code" and name in cell.frameworks for cell in cells)
        if name in omitted:
            line = next((c.line for c in cells if c.kind == "code" and name in c.frameworks and not c.shared), None)
            if line is not None:
                raise SourceError(path, line, f"the front matter omits {name} but this cell is tagged {name}",
                                  f"remove the omission of {name}, or the tag")
        elif not has_code:
            raise SourceError(
                path, 1, f"the chapter has no code for {name} and does not declare it omitted",
                f"tag code cells with {name}, or declare the gap in the front matter: "
                f'tabbook: {{omit: {{{name}: "why it is left out"}}}}')


def _first_line(error: Exception) -> str:
    text = str(error)
    text = text.split(": ", 1)[1] if ": " in text.split("\n", 1)[0] else text
    return " ".join(text.split("\n", 2)[:1])


def is_hidden(path: Path, folder: Path) -> bool:
    """Whether ``path`` is hidden below ``folder``: a name on the way starts with '.' (editor
    and Jupyter files such as ``.ipynb_checkpoints/`` or Emacs's ``.#name.md`` locks)."""
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def find_chapters(folder: Path) -> list[Path]:
    """The chapter sources under ``folder``, in the order of its table of contents
    (:mod:`tabbook.toc`; sorted by path where there is none): every ``*.md`` below it,
    recursively, that is not hidden (:func:`is_hidden`), not a folder and not in the assets
    folder (``assets/``, :data:`tabbook.prose.ASSETS`). A broken link is kept
    (reading it says what is wrong); the name rules are :func:`check_chapter_name`'s, applied when
    it is read.

    Raises:
        SourceError: when two sources share a name, in any letter case, since both would be written
            to ``tabs/<framework>/<name>.ipynb`` (one file on a case-insensitive file system); when
            the table of contents and the chapters disagree (:func:`tabbook.toc.order`).
    """
    paths = sorted(path for path in folder.rglob("*.md")
                   if not is_hidden(path, folder) and not path.is_dir()
                   and path.relative_to(folder).parts[0] != prose.ASSETS)
    seen: dict[str, Path] = {}
    for path in paths:
        key = path.stem.casefold()
        if key in seen:
            case = ("" if seen[key].stem == path.stem else
                    "; names that differ only in letter case are one file on macOS and Windows")
            raise SourceError(path, None, f"a second chapter named {path.stem!r} (the first is {seen[key]}{case})",
                              "chapter names are file names and must be unique; rename one of them")
        seen[key] = path
    return toc.order(paths, folder)
