"""A Sphinx extension, the book's second wall against what a chapter's prose puts on a page.

The first wall is :mod:`tabbook.prose`: every command refuses a chapter whose prose reads a file
outside ``notebooks/assets/`` or holds HTML outside the outputs' allow-list, at its line, before
Sphinx runs. This extension makes the same hold in Sphinx itself, whatever got past that check:

* **no file is inserted into a page**: docutils' ``file_insertion_enabled`` is off, so
  ``include``, ``literalinclude`` and the ``:file:``/``:url:`` options of ``raw`` and
  ``csv-table`` refuse to run (the generated pages need none of them);
* **no file outside the book's own folders is copied into it**: every picture and every download
  of a page must be a file under one of :data:`FOLDERS` of the generated sources (the outputs'
  images, the notebooks and chapter sources offered for download, the assets the chapters
  name); any other is removed from the page, with a warning naming the chapter's line, before
  Sphinx's collectors copy it (which fails the build);
* **the prose's HTML is sanitized**: the HTML blocks and inline tags of a chapter page, in order,
  pass through the outputs' allow-list (:func:`tabbook.sanitize.html_pieces`), so a ``<meta>``
  refresh, a script or an event handler never reaches the reader;
* **links between sections** (``[Title](name.ipynb)``, as the notebooks link each other) go to
  the section's page (:class:`SectionLinks`);
* **outputs** are written by the ``tabbook-output`` directive, which sanitizes its body again and
  wraps it in its classes (the only raw HTML of a chapter page that is not prose).

``book/conf.py`` lists this extension.
"""
from __future__ import annotations

import os
import re

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from . import sanitize

#: The folders of the generated sources whose files a page may show or offer (book.write_sources).
FOLDERS = ("_images_out", "_downloads", "_sources_md", "assets")
_CLASSES = re.compile(r"^[a-z][a-z0-9 -]*$")
logger = logging.getLogger(__name__)


class OutputDirective(SphinxDirective):
    """``{tabbook-output} <classes>``: a cell's HTML output (already sanitized by the page's
    writer), sanitized again and wrapped in ``<div class="<classes>">``."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec: dict = {}

    def run(self):
        classes = self.arguments[0].strip()
        if not _CLASSES.match(classes):
            raise self.error(f"tabbook-output: classes {classes!r} are not plain names")
        html = sanitize.html("\n".join(self.content))
        node = nodes.raw("", f'<div class="{classes}">\n{html}\n</div>', format="html")
        node["tabbook_output"] = True
        self.set_source_info(node)
        return [node]


def _no_file_insertion(app) -> None:
    app.env.settings["file_insertion_enabled"] = False


def _inside(app, path: str) -> bool:
    real = os.path.realpath(path)
    for folder in FOLDERS:
        root = os.path.realpath(os.path.join(app.srcdir, folder))
        if real.startswith(root + os.sep) and os.path.isfile(real):
            return True
    return False


def _check_files(app, doctree) -> None:
    """Remove every picture and download of the page that is not a file of :data:`FOLDERS`."""
    docname = app.env.docname
    for node in list(doctree.findall(nodes.image)):
        uri = node.get("uri", "")
        if uri.startswith("data:"):
            continue
        if "://" in uri or not _inside(app, app.env.relfn2path(uri, docname)[1]):
            logger.warning(f"the picture {uri!r} is not a file of the book (notebooks/assets/): removed",
                           location=node)
            node.parent.remove(node)
    for node in list(doctree.findall(addnodes.download_reference)):
        target = node.get("reftarget", "")
        if "://" in target:
            continue  # a link to a web page, not a copied file
        if not _inside(app, app.env.relfn2path(target, docname)[1]):
            logger.warning(f"the download {target!r} is not a file of the book (notebooks/assets/): removed",
                           location=node)
            node.replace_self(nodes.inline("", node.astext()))


def _sanitize_prose_html(app, doctree) -> None:
    """Pass the page's raw HTML that is not an output through the outputs' allow-list."""
    if app.env.docname == app.config.root_doc:  # the front page is the build's own
        return
    raws = [node for node in doctree.findall(nodes.raw)
            if "html" in node.get("format", "").split() and not node.get("tabbook_output")]
    if not raws:
        return
    for node, clean in zip(raws, sanitize.html_pieces([node.astext() for node in raws])):
        if clean != node.astext():
            node[:] = [nodes.Text(clean)]


class SectionLinks(SphinxPostTransform):
    """A chapter links another section by its notebook's name, ``[Title](name.ipynb#anchor)``,
    which Jupyter opens beside the reader's notebook (:mod:`tabbook.prose` has checked that the
    chapter exists). MyST leaves such a link a reference it cannot resolve; this turns it into a
    reference to the section's page, before MyST's resolver (priority 9) runs. Only parsed links
    are touched: the same text in code or in an escaped bracket stays as written."""

    default_priority = 8

    def run(self, **kwargs) -> None:
        for node in self.document.findall(addnodes.pending_xref):
            if node.get("reftype") != "myst" or node.get("refdomain"):
                continue
            path, _, anchor = node["reftarget"].partition("#")
            if path.endswith(".ipynb") and "/" not in path and path[:-len(".ipynb")] in self.env.all_docs:
                node["refdomain"] = "doc"
                node["reftarget"] = path[:-len(".ipynb")]
                node["reftargetid"] = anchor or None


def setup(app):
    app.connect("builder-inited", _no_file_insertion)
    app.add_post_transform(SectionLinks)
    # Before Sphinx's own collectors of pictures and downloads (priority 500), which copy them.
    app.connect("doctree-read", _check_files, priority=100)
    app.connect("doctree-read", _sanitize_prose_html, priority=100)
    app.add_directive("tabbook-output", OutputDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
