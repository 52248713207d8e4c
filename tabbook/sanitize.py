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
