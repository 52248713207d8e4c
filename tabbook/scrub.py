"""Clean the outputs of an executed notebook before it is written: merged streams, no machine paths.

The notebooks under ``tabs/`` are published (the book shows their outputs and offers them for
download), so what a kernel printed about the build machine must not be in them. A Keras
warning, for instance, starts with the absolute path of the framework's environment under the
cache folder. :func:`scrub_notebook` replaces such paths by short placeholders:

======================================================  ===============
machine path                                            written as
======================================================  ===============
a framework environment (``~/.cache/tabbook/envs/x``)    ``<env>``
this checkout                                           ``<repo>``
the MNIST folder (``$DLBLOCKS_MNIST_DIR``)               ``<mnist>``
the base Python's standard library folder                ``<python>``
the temporary folder                                    ``<tmp>``
the home folder                                         ``~``
======================================================  ===============

It also merges consecutive stream outputs of a cell (one ``stdout`` block instead of one per
printed line, as Jupyter shows them) and applies carriage returns the way a terminal does, so
that a progress line rewritten in place is kept once. The book applies the same functions to the
notebooks it reads, so a notebook executed elsewhere is shown clean as well.
"""
from __future__ import annotations

import os
import re
import sys
import sysconfig
import tempfile
from pathlib import Path

from .envs import envs_root
from .frameworks import ROOT

#: Output fields that hold text a reader sees.
_TEXT_KEYS = ("text/plain", "text/html", "text/markdown", "text/latex", "image/svg+xml")
_CARRIAGE_RETURN = re.compile(r"[^\n]*\r(?=[^\n])")  # text a later \r on the same line overwrites


def machine_paths() -> list[tuple[str, str]]:
    """The (path, placeholder) pairs :func:`scrub_text` replaces, longest path first.

    Environment folders are matched by their parent (``envs_root()``) so that every framework's
    environment, of any lock, is covered; the rest are single folders of this machine.
    """
    pairs = [
        (str(ROOT), "<repo>"),
        (os.environ.get("DLBLOCKS_MNIST_DIR", ""), "<mnist>"),
        (sysconfig.get_paths(vars={"base": sys.base_prefix, "installed_base": sys.base_prefix})["stdlib"],
         "<python>"),
        (tempfile.gettempdir(), "<tmp>"),
        (str(Path.home()), "~"),
    ]
    unique: dict[str, str] = {}
    for path, placeholder in pairs:
        path = path.rstrip("/")
        if len(path) > 1 and path not in unique:  # never "/" or ""
            unique[path] = placeholder
            resolved = os.path.realpath(path)
            unique.setdefault(resolved, placeholder)
    return sorted(unique.items(), key=lambda pair: -len(pair[0]))


def _pattern() -> re.Pattern:
    envs = re.escape(str(envs_root()).rstrip("/")) + r"/[^/\s'\"<>:]+"
    others = [re.escape(path) for path, _ in machine_paths()]
    # A path ends at a separator or at the end of a name (not inside a longer folder name).
    return re.compile(r"(?<![\w.~-])(" + "|".join([envs, *others]) + r")(?=[/\\\s'\"<>:,;)\]}]|$)")


def scrub_text(text: str) -> str:
    """``text`` with every path of this machine replaced by its placeholder (see the table above)."""
    placeholders = dict(machine_paths())
    envs = str(envs_root()).rstrip("/") + "/"

    def replace(match: re.Match) -> str:
        path = match.group(1)
        return "<env>" if path.startswith(envs) else placeholders[path]

    return _pattern().sub(replace, text)


def apply_carriage_returns(text: str) -> str:
    """``text`` as a terminal shows it: what a carriage return overwrites on its line is dropped."""
    return _CARRIAGE_RETURN.sub("", text)


def coalesce_streams(outputs: list) -> list:
    """``outputs`` with each run of consecutive stream outputs of the same stream (stdout or
    stderr) merged into one, its text passed through :func:`apply_carriage_returns`. The output
    objects are copied where merged, never changed in place."""
    merged: list = []
    for output in outputs:
        if (output.get("output_type") == "stream" and merged
                and merged[-1].get("output_type") == "stream" and merged[-1].get("name") == output.get("name")):
            previous = merged[-1]
            merged[-1] = type(previous)(previous, text=previous["text"] + output["text"])
        else:
            merged.append(output)
    for index, output in enumerate(merged):
        if output.get("output_type") == "stream" and "\r" in output["text"]:
            merged[index] = type(output)(output, text=apply_carriage_returns(output["text"]))
    return merged


def scrub_output(output) -> None:
    """Replace machine paths in one output's visible text (streams, data, errors), in place."""
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = scrub_text(output["text"])
    elif kind == "error":
        output["evalue"] = scrub_text(output.get("evalue", ""))
        output["traceback"] = [scrub_text(line) for line in output.get("traceback", [])]
    else:
        data = output.get("data", {})
        for key in _TEXT_KEYS:
            if isinstance(data.get(key), str):
                data[key] = scrub_text(data[key])
            elif isinstance(data.get(key), list):  # a notebook may store text as a list of lines
                data[key] = [scrub_text(line) for line in data[key]]


def scrub_notebook(notebook) -> None:
    """Merge consecutive streams and remove machine paths in every code cell's outputs, in place."""
    for cell in notebook.cells:
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            cell["outputs"] = coalesce_streams(cell["outputs"])
            for output in cell["outputs"]:
                scrub_output(output)
