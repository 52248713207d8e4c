"""What a reader sees on opening a stored notebook in a real JupyterLab and Notebook 7 (the tooling
lock's, under Chromium): the lesson first, the generated setup cells collapsed to their first line
(``jupyter.source_hidden``, :data:`tabbook.standalone.SETUP_METADATA`).

A ``jupyter lab`` server (which serves Notebook 7 too) runs for each application: on 127.0.0.1, a
free port, no token, its root a temporary folder holding copies of one stored notebook, its
configuration, data, runtime, settings and workspaces in temporary folders, so that nothing of
this machine's Jupyter (a saved workspace, a setting) changes what it shows. Each is stopped at
the end of the module (SIGTERM: it shuts down the kernels it started). Waits are on the server's
status and on selectors, never on fixed sleeps.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from tabbook import convert, provenance, standalone

CHAPTER, FRAMEWORK = "training-on-mnist", "pytorch"  # a notebook with both setup cells
STORED = convert.notebook_path(CHAPTER, FRAMEWORK)
#: Seconds to wait for the server to answer and for JupyterLab's first page (2 busy cores: about 15 s).
START_TIMEOUT = 180
#: Notebook 7.6.5's own error on every page it opens, from the keyboard-shortcuts code of its
#: notebook_core bundle (a settings change of a plugin it has not loaded), with an empty settings
#: folder as a new reader has, and with the jupytext extension moved away too (tried): not this book's.
NOTEBOOK7_ERROR = "Cannot read properties of undefined (reading 'schema')"
#: The URL of a notebook in each application, from the server's root. JupyterLab opens each in a
#: workspace of its own: the default one would reopen the notebooks of the tests before.
APPS = {"JupyterLab": "lab/workspaces/{stem}/tree/{name}", "Notebook 7": "notebooks/{name}"}


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def first_code_line(source: str) -> str:
    """The first line of ``source`` that is code (not blank, not a comment): hidden when collapsed."""
    return next(line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#"))


def without_setup_metadata(notebook: dict) -> dict:
    """``notebook`` (JSON) with the collapse metadata taken off its setup cells: the control."""
    for cell in notebook["cells"]:
        if cell["metadata"].get("dlblocks", {}).get("generated"):
            for key in standalone.SETUP_METADATA:
                cell["metadata"].pop(key, None)
    return notebook


@contextlib.contextmanager
def jupyter_server(home: Path):
    """A running ``jupyter lab`` (its base URL) whose root, under the new folder ``home``, holds
    ``reader.ipynb`` (a copy of the stored notebook) and ``control.ipynb`` (the same without the
    setup cells' collapse metadata); its own configuration, data, runtime, settings and
    workspaces there too. Stopped on exit, which fails if a kernel it started is left."""
    root = home / "root"
    root.mkdir()
    (root / "reader.ipynb").write_bytes(STORED.read_bytes())
    (root / "control.ipynb").write_text(json.dumps(without_setup_metadata(json.loads(STORED.read_text()))))
    env = dict(os.environ, **{name: str(home / folder) for name, folder in (
        ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"))})
    port = free_port()
    log_path = home / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={root}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(f"{base}/api/status"):
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)  # between polls of the status, not in place of a wait
            yield base
        finally:
            server.send_signal(signal.SIGTERM)  # the server shuts down its kernels, then exits
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
    # A kernel the server did not shut down would have left its connection file.
    assert not list((home / "runtime").glob("kernel-*.json")), log_path.read_text()[-3000:]


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out (urllib.error.URLError is an OSError)
        return False


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """jupyter(app): the base URL of the module's server for ``app`` (a key of APPS), started on
    first use: one each, as a reader has one or the other (Notebook 7, opened on a server where
    JupyterLab ran before, logs "Command 'filebrowser:open-path' not registered")."""
    with contextlib.ExitStack() as stack:
        servers: dict[str, str] = {}

        def get(app: str) -> str:
            if app not in servers:
                servers[app] = stack.enter_context(jupyter_server(tmp_path_factory.mktemp("jupyter")))
            return servers[app]

        yield get


@pytest.fixture
def open_notebook(open_page, jupyter):
    """open_notebook(app, name): a page showing ``name`` in ``app`` (a key of APPS) and its cells'
    locator and title, once the title shows. The pages are open_page's (no request off the
    machine, no console error), less Notebook 7's own error (NOTEBOOK7_ERROR), taken off at the
    end, just before open_page checks the rest."""
    pages = []

    def open_(app: str, name: str):
        page = open_page()
        pages.append((app, page))
        page.goto(f"{jupyter(app)}/{APPS[app].format(name=name, stem=name.split('.')[0])}")
        cells = page.locator(".jp-Notebook .jp-Cell")
        title = cells.locator(".jp-RenderedMarkdown h1").first
        title.wait_for(state="visible", timeout=START_TIMEOUT * 1000)
        return page, cells, title

    yield open_
    for app, page in pages:
        if app == "Notebook 7":
            page.errors[:] = [error for error in page.errors if error != NOTEBOOK7_ERROR]


@pytest.mark.parametrize("app", APPS)
def test_the_title_comes_first_and_the_setup_is_collapsed_to_one_line(open_notebook, app):
    stored = nbformat.read(STORED, as_version=4)
    setup, line = standalone.setup_of(stored), provenance.shown_line(stored)
    # The title, the line that says what the notebook ran with (tabbook.provenance), the setup cell.
    assert stored.cells[0].source == f"# {stored.metadata.dlblocks.title}"
    assert provenance.is_line_cell(stored.cells[1]) and line and line.startswith("Executed on ")
    assert stored.cells[2] is setup
    page, cells, title = open_notebook(app, "reader.ipynb")
    expect(title).to_have_text(re.compile(rf"^{re.escape(stored.metadata.dlblocks.title)}\W*$"))  # and its ¶ link
    # The first cell is the title, on the first screen; under it the line.
    expect(cells.nth(0).locator(".jp-RenderedMarkdown h1")).to_be_visible()
    box = title.bounding_box()
    assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"]
    expect(cells.nth(1).locator(".jp-RenderedMarkdown")).to_have_text(line)
    # The setup's source is behind one placeholder that shows its first line, the #@title saying what it is.
    shown = cells.nth(2)
    expect(shown.locator(".jp-InputPlaceholder")).to_be_visible()
    expect(shown.locator(".jp-InputPlaceholder")).to_have_text(setup.source.splitlines()[0])
    expect(shown.locator(".cm-content")).to_be_hidden()
    expect(shown).not_to_contain_text(first_code_line(setup.source), use_inner_text=True)
    # Its output stays, one line: it says what the cell found or installed.
    printed = "".join(output.text for output in setup.outputs).strip()
    assert "\n" not in printed and printed.endswith(": the versions this notebook was executed with")
    expect(shown.locator(".jp-OutputArea-output")).to_have_text(printed)
    # Then the lesson.
    expect(cells.nth(3).locator(".jp-RenderedMarkdown")).to_contain_text(stored.cells[3].source.split()[0])


def test_without_the_metadata_the_same_check_sees_the_setup_source(open_notebook):
    # The control: the checks above can fail; without source_hidden, JupyterLab shows the setup code.
    stored = nbformat.read(STORED, as_version=4)
    page, cells, title = open_notebook("JupyterLab", "control.ipynb")
    first = cells.nth(2)
    expect(first.locator(".cm-content")).to_be_visible()
    expect(first.locator(".cm-content")).to_contain_text(first_code_line(standalone.setup_of(stored).source))
    expect(first.locator(".jp-InputPlaceholder")).to_be_hidden()
