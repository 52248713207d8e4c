"""pytest glue: nbval runs each notebook under tabs/ in its framework's kernel.

The notebooks name Jupyter's generic kernelspec (``python3``) so that a reader's Jupyter opens
them without a kernel dialog; the framework's kernel, ``tabbook-<framework>``, is recorded under
``metadata.tabbook.kernel``. nbval starts the kernel the notebook names unless
``--nbval-kernel-name`` (or ``--nbval-current-env``) is given, so for each notebook that names
its framework's kernel, this sets that option while nbval starts the kernel.

nbval starts each kernel in the notebook's folder (``tabs/<framework>/``), where a cell that
writes a file by a relative path would add to the repository or change its committed lock: here
every notebook's kernel runs in a new empty temporary folder instead, removed when nbval is done
with the notebook (:func:`tabbook.files.kernel_folder`, as ``build.py execute`` does).
"""
from __future__ import annotations

import contextlib

import nbval.plugin

from tabbook.files import kernel_folder

_nbval_setup = nbval.plugin.IPyNbFile.setup
_nbval_teardown = nbval.plugin.IPyNbFile.teardown
_RunningKernel = nbval.plugin.RunningKernel


def _setup_in_framework_kernel(self):
    options = self.parent.config.option
    meta = self.nb.metadata.get("tabbook")
    kernel = meta.get("kernel") if isinstance(meta, dict) else None
    chosen = bool(kernel) and not (options.nbval_kernel_name or options.nbval_current_env)
    folder = contextlib.ExitStack()
    self._tabbook_folder = folder
    workdir = folder.enter_context(kernel_folder("tabbook-nbval-"))

    def running_kernel(kernel_name, cwd=None, **kwargs):  # nbval passes cwd=the notebook's folder
        return _RunningKernel(kernel_name, cwd=str(workdir), **kwargs)

    if chosen:
        options.nbval_kernel_name = kernel
    nbval.plugin.RunningKernel = running_kernel
    try:
        return _nbval_setup(self)  # pytest calls teardown even when this fails
    finally:
        nbval.plugin.RunningKernel = _RunningKernel
        if chosen:
            options.nbval_kernel_name = None


def _teardown_and_remove_folder(self):
    try:
        return _nbval_teardown(self)  # stops the kernel
    finally:
        folder = getattr(self, "_tabbook_folder", None)
        if folder is not None:
            folder.close()


nbval.plugin.IPyNbFile.setup = _setup_in_framework_kernel
nbval.plugin.IPyNbFile.teardown = _teardown_and_remove_folder


def pytest_configure(config):
    """What a kernel's reaper leaves comes to the test session and ends with it (tabbook/reaper.py)."""
    from tabbook import reaper

    reaper.become_subreaper()


# build.py test --shard K/N (tabbook/shard.py): this machine's share of the notebooks.
def pytest_addoption(parser):
    parser.addoption("--shard", default=None, metavar="K/N",
                     help="run shard K of N: the tests of a deterministic 1/N of the notebooks, balanced by "
                          "their recorded execution time; shard 1 also runs the tests of no notebook")


def _notebook_of(item, known):
    """The (chapter, framework) an item tests, or None for a test of no notebook."""
    path = getattr(item, "path", None)
    if path is not None and path.suffix == ".ipynb":
        return (path.stem, path.parent.name)
    params = getattr(getattr(item, "callspec", None), "params", {})
    chapter = params.get("chapter", params.get("chapter_name"))
    chapter = getattr(chapter, "name", chapter)
    key = (chapter, params.get("framework"))
    return key if key in known else None


def pytest_collection_modifyitems(config, items):
    text = config.getoption("--shard")
    if text is None:
        return
    import pytest
    from tabbook import shard
    from tabbook.frameworks import ROOT

    try:
        k, n = shard.parse(text)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    shards = shard.assign(shard.recorded_seconds(ROOT / "tabs"), n)
    keep, drop = [], []
    for item in items:
        key = _notebook_of(item, shards)
        (keep if (shards[key] if key else 1) == k else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
