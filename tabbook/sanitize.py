"""Untrusted HTML from notebook outputs, made safe for the book with nh3 (the ammonia sanitizer).

A cell may display any HTML (``IPython.display.HTML``, a library's rich repr, Markdown that
holds HTML). The book publishes it, so it is treated as untrusted and cleaned with an
allow-list: tables, images, lists and basic text formatting pass; scripts, styles, forms,
frames, links, event handlers and ``style`` attributes do not. Images keep their ``src`` only
when it is a ``data:image/...`` URI, so an output never makes the reader's browser fetch
anything. nh3 parses the fragment as a browser would and writes it back balanced, so an output
of ``</div></div>`` cannot close the tab that holds it.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3
from markdown_it import MarkdownIt

#: The elements an output may use.
TAGS = frozenset({
    "table", "caption", "colgroup", "col", "thead", "tbody", "tfoot", "tr", "th", "td",
    "p", "br", "hr", "div", "span", "blockquote", "pre", "code", "kbd", "samp", "var",
    "b", "i", "em", "strong", "u", "s", "del", "ins", "mark", "small", "sub", "sup", "abbr",
    "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
    "img", "figure", "figcaption", "details", "summary",
})
#: The attributes each element may keep ("*": every element).
ATTRIBUTES = {
    "*": {"title", "lang", "dir", "align"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "reversed"},
    "img": {"src", "alt", "width", "height"},
    "details": {"open"},
}
_IMAGE_PREFIX = "data:image/"


def _keep_attribute(element: str, attribute: str, value: str) -> str | None:
    """nh3's attribute filter: an image source only as a data: URI of an image."""
    if element == "img" and attribute == "src":
        return value if value.strip().lower().startswith(_IMAGE_PREFIX) else None
    return value


def html(fragment: str) -> str:
    """``fragment`` with only the allowed elements and attributes, balanced (see the module)."""
    return nh3.clean(fragment, tags=set(TAGS), attributes={key: set(value) for key, value in ATTRIBUTES.items()},
                     url_schemes={"data"}, attribute_filter=_keep_attribute, strip_comments=True,
                     link_rel=None)


def markdown(text: str) -> str:
    """A Markdown output rendered to HTML (CommonMark with tables), then cleaned by :func:`html`.

    Markdown may carry raw HTML, so it is never handed to the book's own Markdown parser, which
    would pass that HTML through (and interpret directives)."""
    return html(MarkdownIt("commonmark").enable("table").render(text))


#: Elements whose end tag HTML lets a writer leave out, and those that have none.
_OPTIONAL_END = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption"})
_VOID = frozenset({"br", "hr", "img", "col"})


class _Audit(HTMLParser):
    """Reads HTML as a tokenizer does and notes the first thing the allow-list would remove or
    that would reach outside the fragments: (message, 1-based line within its fragment)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problem: tuple[str, int] | None = None
        self.open: list[tuple[str, int]] = []

    def _note(self, message: str) -> None:
        if self.problem is None:
            self.problem = (message, self.getpos()[0])

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs)
        if tag not in _VOID:
            self.open.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs)

    def _start(self, tag, attrs):
        if tag not in TAGS:
            self._note(f"<{tag}> is not allowed")
            return
        allowed = ATTRIBUTES["*"] | ATTRIBUTES.get(tag, set())
        for name, value in attrs:
            if name not in allowed:
                self._note(f"the attribute {name!r} of <{tag}> is not allowed")
            elif _keep_attribute(tag, name, value or "") is None:
                self._note(f"<{tag} {name}={value!r}>: an image in HTML must be a data:image/ URI; "
                           "show a picture file with ![alt](assets/<file>)")

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        names = [name for name, _ in self.open]
        if tag not in names:
            self._note(f"</{tag}> closes an element that this text did not open (it would close the page's own)")
            return
        while self.open:
            name, line = self.open.pop()
            if name == tag:
                break
            if name not in _OPTIONAL_END:
                self._note(f"<{name}> (line {line} of the HTML) is closed by </{tag}> before its own end tag")

    def handle_comment(self, data):
        # Browsers also end a comment at '--!>', and at once after '<!-->' or '<!--->'.
        if "--!>" in data or data.startswith((">", "->")):
            self._note("a comment that a browser ends earlier than it seems to end (at '--!>' or '<!-->')")

    def handle_decl(self, decl):
        self._note(f"the declaration <!{decl.split()[0] if decl.split() else ''}> is not allowed")

    def unknown_decl(self, data):
        self._note("a <![CDATA[...]]> section is not allowed")

    def handle_pi(self, data):
        self._note("a processing instruction <?...> is not allowed")


def refusal(fragments: list[str]) -> tuple[int, int, str] | None:
    """Why the HTML ``fragments`` of one text (the HTML blocks and inline tags of a chapter's
    Markdown, in order) may not go into a page, or None: an element or attribute that the
    allow-list (:data:`TAGS`, :data:`ATTRIBUTES`, images from ``data:`` only) would remove, a
    declaration, or an element closed that the fragments did not open (or left open), which
    would change the page around them. Returns (index of the fragment, 1-based line within it,
    message)."""
    opened: list[tuple[str, int]] = []
    for index, fragment in enumerate(fragments):
        audit = _Audit()
        audit.open = opened
        audit.feed(fragment)
        audit.close()
        if audit.problem is not None:
            return index, audit.problem[1], audit.problem[0]
        opened = audit.open
    unclosed = [name for name, _ in opened if name not in _OPTIONAL_END]
    if unclosed:
        return len(fragments) - 1, 1, f"<{unclosed[-1]}> is never closed in this text"
    return None


_PLACE = "\ue000{}\ue001"
_PLACES = re.compile("\ue000(\\d+)\ue001")


def html_pieces(fragments: list[str]) -> list[str]:
    """``fragments`` (the raw HTML pieces of one page, in order: blocks and single inline tags)
    cleaned by :func:`html` as one document, so that a tag opened in one piece and closed in a
    later one stays as it was; each piece's share is returned. Where the cleaned document cannot
    be cut back into the pieces (a parser moved text), each piece is cleaned alone, which is as
    safe and may drop a tag that was opened in one piece and closed in another."""
    joined = "".join(fragment + _PLACE.format(index) for index, fragment in enumerate(fragments))
    cleaned = html(joined)
    parts = _PLACES.split(cleaned)
    # parts: piece 0, "0", piece 1, "1", ..., piece n-1, "n-1", what the cleaner closed at the end
    if [int(number) for number in parts[1::2]] != list(range(len(fragments))):
        return [html(fragment) for fragment in fragments]
    pieces = parts[0::2]
    pieces[-2] += pieces[-1]
    return pieces[:-1]


#: The pictures an SVG may embed as data: URIs (matplotlib embeds images as PNG).
_SVG_DATA_IMAGES = {"image": ["png", "jpeg", "gif", "webp"]}


def svg(text: str) -> bytes:
    """An SVG output made safe to open by its own address, where it is a document of the book's
    origin: svg-hush (Cloudflare's allow-list SVG filter, through py-svg-hush) keeps the drawing
    (shapes, text, styles, gradients, clip paths, embedded PNG/JPEG/GIF/WebP data) and drops
    scripts, event handlers, ``<foreignObject>``, animations of links, and every reference to
    another host (in attributes and in CSS: ``url(https://...)`` becomes a path of the book).

    Raises:
        ValueError: ``text`` is not well-formed XML.
    """
    import py_svg_hush

    return py_svg_hush.filter_svg(text.encode("utf-8"), keep_data_url_mime_types=_SVG_DATA_IMAGES)
