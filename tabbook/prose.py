"""What a chapter's prose may put on the book's pages: directives, roles, links, pictures, HTML.

A chapter source may come from a stranger's pull request, and its Markdown cells are handed to
MyST and Sphinx, which can read any file of the build machine (``{include} /etc/passwd``), copy it
into the published book (an image, a ``{download}``, a Markdown link to a local file), or put any
HTML in the page (``<meta http-equiv="refresh">``, which no Content-Security-Policy stops). So each
Markdown cell, and the other chapter text that reaches a page (a code cell's figure ``caption``,
the reasons of omitted frameworks), is parsed here with MyST's own parser, configured as the book
configures it (``book/conf.py``: ``colon_fence``, ``dollarmath``), and every construct that
reaches outside the text is checked, in directive bodies and titles too, recursively:

* **Directives** come from an allow-list (:data:`DIRECTIVES`: admonitions, figures, tables, tabs,
  cards, code and math). Directives that insert a file's text (``include``, ``literalinclude``,
  ``raw``, ``csv-table`` with ``:file:`` or ``:url:``), ``{eval-rst}`` (all of reStructuredText,
  ``.. include::`` and ``.. raw::`` with it) and those that change the page's head or the book's
  structure (``meta``, ``toctree``, ``title``) are refused: the page must show the text that the
  notebook a reader downloads holds, and nothing else.
* **Roles** come from an allow-list (:data:`ROLES`); ``{download}`` takes a path (below).
* **Paths** (an image or figure, a card's picture, ``{download}``, a Markdown image, and a
  Markdown link that is no URL, anchor or label) name a file in the book's assets folder,
  ``notebooks/assets/`` (:data:`ASSETS`), written relative to the chapter file or from the
  chapters' folder (``/assets/plot.png``); a path that leaves the chapters' folder, or that
  resolves (links followed) outside ``notebooks/assets/``, is an error. The build copies exactly
  the files named into the book (:attr:`tabbook.source.Chapter.assets`).
* **Links to other sections** name the section's notebook (``[Layers and
  Modules](layers-and-modules.ipynb)``), which Jupyter opens beside the reader's notebook; the
  chapter must exist, and the book links to its page instead (:mod:`tabbook.bookguard`).
* **Pictures from other hosts** are refused (the book's policy would block them), and so are
  links whose scheme is not ``http``, ``https`` or ``mailto`` (``javascript:``, ``data:``,
  ``file:``).
* **Raw HTML** (an HTML block or an inline tag) may use only what outputs may use: the
  allow-list of :mod:`tabbook.sanitize` (:func:`tabbook.sanitize.refusal`). The page is
  sanitized with the same allow-list as well (:mod:`tabbook.bookguard`).

Every refusal is a :class:`~tabbook.errors.SourceError` at ``notebooks/<chapter>.md:<line>``,
raised by :func:`tabbook.source.read_chapter`, so every command reports it before Sphinx runs.
"""
from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
import urllib.parse
from pathlib import Path

from docutils.parsers.rst import Directive

from . import sanitize
from .errors import SourceError

#: The folder, under the chapters' folder, whose files a chapter's pictures and downloads name.
ASSETS = "assets"
#: Directive bodies: "myst" (parsed as MyST, checked recursively), "literal" (shown as it is),
#: "none". Every other directive is refused.
_ADMONITIONS = ("note", "tip", "hint", "important", "caution", "warning", "attention", "danger", "error",
                "seealso", "admonition", "versionadded", "versionchanged", "deprecated", "versionremoved")
DIRECTIVES: dict[str, str] = {
    **{name: "myst" for name in _ADMONITIONS},
    **{name: "myst" for name in ("dropdown", "tab-set", "tab-item", "grid", "grid-item", "grid-item-card", "card",
                                 "topic", "sidebar", "epigraph", "pull-quote", "highlights", "compound", "container",
                                 "glossary", "hlist", "centered", "rubric", "figure", "table", "list-table")},
    **{name: "literal" for name in ("code-block", "code", "sourcecode", "math", "csv-table", "parsed-literal")},
    "image": "none",
}
#: Options whose value is a path to a picture (an image or figure's argument is one too).
PATH_OPTIONS = frozenset({"img-top", "img-bottom", "img-background"})
#: Options whose value is a link target.
LINK_OPTIONS = frozenset({"target", "link"})
#: Options that make a directive read a file or a URL.
READING_OPTIONS = frozenset({"file", "url"})
#: Why a directive that is known to read files or change the page is refused (the hint).
_REFUSED = {
    "include": "insert the text itself: a reader's notebook would not hold the included file",
    "literalinclude": "put the code in a ```python fence (or a code cell): a reader's notebook would not hold the file",
    "raw": "write Markdown; HTML in prose may use the tags that outputs may use",
    "eval-rst": "write MyST: every directive the book allows has a MyST form (```{note}, ```{figure}, ...)",
    "meta": "the book sets the pages' head itself",
    "toctree": "the book's parts and chapters are listed in notebooks/toc.yml",
    "title": "the chapter's title is its first '# ' heading",
}
ROLES = frozenset({
    "math", "eq", "ref", "numref", "doc", "term", "abbr", "sub", "sup", "subscript", "superscript", "code",
    "kbd", "guilabel", "menuselection", "command", "file", "samp", "dfn", "emphasis", "strong", "literal",
    "pep", "rfc", "title-reference", "octicon", "download", "func", "class", "meth", "mod", "attr", "data",
    "obj", "exc", "const", "any", "option", "envvar", "keyword",
})
ROLE_PREFIXES = ("py:", "bdg", "btn-")
#: Link schemes that go out of the book as plain links; MyST's own (inv:, project:, path:) are handled.
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_ROLE_TARGET = re.compile(r"^(.*?)\s*<([^<>]+)>\s*$", re.S)
_MAX_DEPTH = 20


@functools.cache
def _parser():
    """MyST's markdown-it parser, with the syntax extensions of book/conf.py."""
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    return create_md_parser(MdParserConfig(enable_extensions={"colon_fence", "dollarmath"}), RendererHTML)


@dataclasses.dataclass
class _Context:
    path: Path  # the chapter source, for messages
    root: Path  # the chapters' folder (notebooks/)
    assets: set[Path]  # the asset files named so far


def chapters_root(path: Path) -> Path:
    """The chapters' folder of the chapter at ``path``: the book's ``notebooks/`` when it lies
    below it, else the chapter's own folder (a fixture's)."""
    from .frameworks import NOTEBOOKS

    try:
        path.resolve().relative_to(NOTEBOOKS.resolve())
        return NOTEBOOKS
    except ValueError:
        return path.parent


def check(path: Path, text: str, line: int, root: Path | None = None, what: str = "prose") -> set[Path]:
    """Check ``text`` (Markdown of the chapter at ``path`` that starts on its line ``line``) as
    the module says; return the asset files it names (absolute paths under ``root/assets``).
    ``root`` is the chapters' folder (default :func:`chapters_root`); ``what`` names the text in
    messages ("prose", "the figure caption", ...).

    Raises:
        SourceError: at the line of the first refused construct, saying why and what to do.
    """
    context = _Context(Path(path), root or chapters_root(Path(path)), set())
    _check_text(context, text, line, what, 0)
    return context.assets


def _check_text(context: _Context, text: str, line: int, what: str, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise SourceError(context.path, line, f"directives nested more than {_MAX_DEPTH} deep",
                          "nest fewer directives")
    env: dict = {}
    tokens = _parser().parse(text, env)
    for label, reference in env.get("references", {}).items():
        where = line + (reference.get("map") or [0])[0]
        _check_link(context, reference["href"], where, f"the link reference [{label.lower()}]")
    lines = text.splitlines()
    html: list[tuple[str, int]] = []  # the text's HTML blocks and inline tags, with their lines
    for token in tokens:
        at = line + (token.map[0] if token.map else 0)
        if token.type in ("fence", "colon_fence"):
            if token.type == "colon_fence":
                _check_colon_closed(context, lines, token, at)
            _check_fence(context, token, at, what, depth)
        elif token.type == "html_block":
            html.append((token.content, at))
        elif token.type == "inline":
            _check_inline(context, token, at, html)
    _check_html(context, html)


def _check_colon_closed(context: _Context, lines: list[str], token, at: int) -> None:
    end = token.map[1] - 1
    last = lines[end].strip() if token.map[0] < end < len(lines) else ""
    if not (set(last) == {":"} and len(last) >= len(token.markup)):
        raise SourceError(context.path, at, f"this {token.markup}{token.info.strip()} block is never closed, so it "
                                            "would take in everything after it on the page",
                          f"close it with a line of {token.markup}")


def _check_fence(context: _Context, token, at: int, what: str, depth: int) -> None:
    parts = token.info.strip().split(maxsplit=1)
    name = parts[0] if parts else ""
    if not (name.startswith("{") and name.endswith("}")):
        if token.type == "colon_fence":  # a plain div: its content is MyST
            _check_text(context, token.content, at + 1, what, depth + 1)
        return  # a code block: shown as it is
    directive = name[1:-1].strip().lower()  # docutils finds directives in any letter case
    argument = parts[1] if len(parts) > 1 else ""
    if directive not in DIRECTIVES:
        hint = _REFUSED.get(directive, "use one of " + ", ".join(sorted(DIRECTIVES)))
        kind = "reads files or changes the page outside the text" if directive in _REFUSED else \
            "is not one the book allows in a chapter"
        raise SourceError(context.path, at, f"the directive {{{name[1:-1]}}} {kind}", hint)
    parsed = _parse_directive(context, token, argument, at)
    body, options, offset = parsed
    for key in sorted(set(options) & READING_OPTIONS):
        raise SourceError(context.path, at, f"the {{{directive}}} option :{key}: reads a file or a URL into the page",
                          "put the data in the directive's body")
    if directive in ("image", "figure"):
        _check_picture(context, argument.strip(), at, f"the {{{directive}}}")
    elif argument.strip():
        _check_text(context, argument, at, what, depth + 1)
    for key, value in options.items():
        if not isinstance(value, str):
            continue
        if key in PATH_OPTIONS:
            _check_picture(context, value.strip(), at, f"the {{{directive}}} option :{key}:")
        elif key in LINK_OPTIONS:
            _check_link(context, value.strip(), at, f"the {{{directive}}} option :{key}:")
        else:  # titles and captions are parsed as MyST too
            _check_text(context, value, at, what, depth + 1)
    if DIRECTIVES[directive] == "myst" and body:
        _check_text(context, "\n".join(body), at + 1 + offset, what, depth + 1)
    elif DIRECTIVES[directive] == "none" and any(part.strip() for part in body):
        raise SourceError(context.path, at, f"the {{{directive}}} directive takes no body", "remove the lines inside it")


def _unconverted(value):
    return "" if value is None else value


class _AnyOptions(dict):
    """An option_spec that accepts every option as its text (the allow-list decides)."""

    def __contains__(self, key) -> bool:
        return True

    def __getitem__(self, key):
        return _unconverted

    def get(self, key, default=None):
        return _unconverted


class _AnyDirective(Directive):
    option_spec = _AnyOptions(any=_unconverted)
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True


def _parse_directive(context: _Context, token, argument: str, at: int) -> tuple[list[str], dict, int]:
    """(body lines, options, lines before the body) of a directive token, as MyST splits them."""
    from myst_parser.parsers.directives import MarkupError, parse_directive_text

    content = token.content
    if token.type == "colon_fence" and content.startswith(":::"):
        content = "\n" + content  # as MyST does: a nested fence is no option line
    try:
        parsed = parse_directive_text(_AnyDirective, argument, content, line=at)
    except MarkupError as error:
        raise SourceError(context.path, at, f"malformed directive options: {error}",
                          "write options as ':key: value' lines, or YAML between '---' lines") from None
    except Exception as error:  # the YAML of the options
        raise SourceError(context.path, at, f"malformed directive options: {str(error).splitlines()[0]}",
                          "write options as ':key: value' lines, or YAML between '---' lines") from None
    options = parsed.options if isinstance(parsed.options, dict) else {}
    return list(parsed.body), options, parsed.body_offset


def _check_inline(context: _Context, token, at: int, html: list[tuple[str, int]]) -> None:
    cursor = [0]  # where in the paragraph's text the previous child was found: each child's line

    def line_of(needle: str) -> int:
        position = token.content.find(needle, cursor[0]) if needle else -1
        if position < 0:
            return at + token.content.count("\n", 0, cursor[0])
        cursor[0] = position + len(needle)
        return at + token.content.count("\n", 0, position)

    for child in token.children or []:
        if child.type == "myst_role":
            _check_role(context, child, line_of("{" + str(child.meta.get("name", "")) + "}"))
        elif child.type == "html_inline":
            html.append((child.content, line_of(child.content)))
        elif child.type == "image":
            source = child.attrs.get("src", "")
            _check_picture(context, source, line_of(source), "the Markdown image")
        elif child.type == "link_open":
            href = child.attrs.get("href", "")
            _check_link(context, href, line_of(href), "the link")


def _check_role(context: _Context, token, at: int) -> None:
    name = str(token.meta.get("name", "")).strip().lower()
    if name not in ROLES and not name.startswith(ROLE_PREFIXES):
        raise SourceError(context.path, at, f"the role {{{token.meta.get('name')}}} is not one the book allows in a "
                                            "chapter", "use one of " + ", ".join(sorted(ROLES)))
    if name == "download":
        match = _ROLE_TARGET.match(token.content)
        target = match.group(2) if match else token.content
        asset = _asset(context, target.strip(), at, "the {download} role")
        if asset is None:
            raise SourceError(context.path, at, f"the {{download}} role names {target.strip()!r}, which is no file "
                                                f"in {_assets_label(context)}",
                              f"put the file in {_assets_label(context)} and name it from there")


def _check_html(context: _Context, html: list[tuple[str, int]]) -> None:
    refusal = sanitize.refusal([fragment for fragment, _ in html])
    if refusal is not None:
        index, line, message = refusal
        raise SourceError(context.path, html[index][1] + line - 1, f"HTML in prose: {message}",
                          "HTML in a chapter may use only what cell outputs may use: "
                          + ", ".join(f"<{tag}>" for tag in sorted(sanitize.TAGS))
                          + "; write Markdown for links and pictures")


def _check_picture(context: _Context, source: str, at: int, what: str) -> None:
    if source.lower().startswith("data:image/"):
        return
    scheme = _SCHEME.match(source)
    if scheme and len(scheme.group(1)) > 1:
        raise SourceError(context.path, at, f"{what} comes from {source!r}: the book loads pictures only from "
                                            "itself (its Content-Security-Policy would block it)",
                          f"save the picture in {_assets_label(context)} and name that file")
    if _asset(context, source, at, what) is None:
        raise SourceError(context.path, at, f"{what} names {source!r}, which is no file in {_assets_label(context)}",
                          f"put the picture in {_assets_label(context)} and name it from the chapter, "
                          f"as {ASSETS}/<file>")


def _check_link(context: _Context, href: str, at: int, what: str) -> None:
    target = urllib.parse.unquote(href.strip())
    if not target or target.startswith("#"):
        return
    scheme = _SCHEME.match(target)
    if scheme and len(scheme.group(1)) > 1:  # one letter: a Windows drive, read as a path below
        name = scheme.group(1).lower()
        if name in URL_SCHEMES or name == "inv":
            return
        if name not in ("path", "project"):
            raise SourceError(context.path, at, f"{what} goes to a {name}: address ({href!r})",
                              "link to http, https or mailto addresses, to a section (#label) or to a chapter")
        target = target[len(name) + 1:]
        if _NOTEBOOK.search(target.partition("#")[0]):
            raise SourceError(context.path, at, f"{what} goes to a notebook with a {name}: prefix ({href!r})",
                              "link to a section by its notebook's name alone, as "
                              "[Layers and Modules](layers-and-modules.ipynb)")
    path, _, _ = target.partition("#")
    if _NOTEBOOK.search(path):
        chapter = context.root / f"{path[:-len('.ipynb')]}.md"
        if not _SECTION_LINK.fullmatch(path) or path != href.strip().partition("#")[0]:
            raise SourceError(context.path, at, f"{what} goes to the notebook {href.strip()!r}, which is not written "
                                                "as the name of a section's notebook",
                              "link to a section by its notebook's file name as it is, without a folder, query or "
                              "escapes, as [Layers and Modules](layers-and-modules.ipynb)")
        if not chapter.is_file():
            raise SourceError(context.path, at, f"{what} goes to the section {path!r}, but there is no chapter "
                                                f"{chapter.name} beside this one",
                              "link to a section of the book by its notebook's name, as "
                              "[Layers and Modules](layers-and-modules.ipynb), or write the title without a link "
                              "until that section exists")
        return
    if path:
        _asset(context, path, at, what, links=True)


#: A link to another section: its notebook's file name, which works between the notebooks of a
#: folder in Jupyter, and which the book turns into a link to that section's page
#: (:class:`tabbook.bookguard.SectionLinks`).
_SECTION_LINK = re.compile(r"\w[\w.-]*\.ipynb")
#: Anything that looks like a link to a notebook (any letter case, a query after it).
_NOTEBOOK = re.compile(r"\.ipynb($|\?)", re.IGNORECASE)


def _asset(context: _Context, target: str, at: int, what: str, links: bool = False) -> Path | None:
    """The asset file that ``target`` names, or None where it names no file (a label, or a
    chapter for a link).

    Raises:
        SourceError: the path leaves the chapters' folder, reads differently from the chapter file
            and from the page (a chapter in a subfolder), or resolves outside the assets folder.
    """
    root = context.root
    relative_dir = context.path.parent.relative_to(root) if context.path.parent != root else Path()
    absolute = target.startswith("/")
    written = target.lstrip("/") if absolute else target
    from_chapter = posixpath.normpath(posixpath.join("" if absolute else relative_dir.as_posix(), written))
    from_page = posixpath.normpath(written)  # the book's pages sit at the top of the book
    if from_chapter == ".." or from_chapter.startswith("../") or from_page.startswith("../") or from_page == "..":
        raise SourceError(context.path, at, f"{what} names {target!r}, outside the chapters' folder",
                          f"put the file in {_assets_label(context)} and name it from there")
    if from_chapter != from_page:
        raise SourceError(context.path, at, f"{what} names {target!r}, which the chapter file and its page (at the "
                                            "top of the book) would read as two different files",
                          f"name it from the chapters' folder: /{from_chapter}")
    candidate = root / from_chapter
    if not (candidate.exists() or candidate.is_symlink()):
        if links and not absolute and "/" not in written and not written.startswith("."):
            return None  # a label or a page name: Sphinx resolves it, or says it cannot
        if links:
            raise SourceError(context.path, at, f"{what} names {target!r}, which is no file in "
                                                f"{_assets_label(context)}",
                              f"link to a chapter by its name, or put the file in {_assets_label(context)}")
        return None
    real = candidate.resolve()
    assets = root / ASSETS
    if links and candidate.suffix == ".md" and candidate.parent == root and real.parent == root.resolve():
        return None  # a link to a chapter's page
    inside = not assets.is_symlink() and real.is_file() and _below(real, assets.resolve()) \
        and _below(assets.resolve(), root.resolve())
    if not inside:
        raise SourceError(context.path, at, f"{what} names {target!r}, which is "
                                            + ("a link to a file " if candidate.is_symlink() else "")
                                            + f"outside {_assets_label(context)}",
                          f"the book publishes only files of {_assets_label(context)}: move the file there")
    context.assets.add(candidate.absolute())
    return candidate


def _below(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _assets_label(context: _Context) -> str:
    from .errors import display_path

    return display_path(context.root / ASSETS) + "/"
