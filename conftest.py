"""pytest glue: nbval runs each notebook under tabs/ in its framework's kernel.

The notebooks name Jupyter's generic kernelspec (``python3``) so that a reader's Jupyter opens
them without a kernel dialog; the framework's kernel, ``tabbook-<framework>``, is recorded under
``metadata.dlblocks.kernel``. nbval starts the kernel the notebook names unless
``--nbval-kernel-name`` (or ``--nbval-current-env``) is given, so for each notebook that names
its framework's kernel, this sets that option while nbval starts the kernel.

nbval runs each notebook as its reader gets it: in a kernel of the framework's environment that
has nothing of this checkout on ``sys.path`` (no ``PYTHONPATH``; the reaper runs as a script), in
an empty folder, followed by one more item, "reader's view", which asserts that nothing of the
checkout was imported and that the notebook wrote nothing beside itself. So the one execution
per notebook checks both its outputs and that it runs standalone (docs/testing.md).

nbval starts each kernel in the notebook's folder (``tabs/<framework>/``), where a cell that
writes a file by a relative path would add to the repository or change its committed lock: here
every notebook's kernel runs in a new empty temporary folder instead, removed when nbval is done
with the notebook (:func:`tabbook.files.kernel_folder`, as ``build.py execute`` does).
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import nbval.plugin
import pytest

from tabbook.files import kernel_folder

_nbval_setup = nbval.plugin.IPyNbFile.setup
_nbval_teardown = nbval.plugin.IPyNbFile.teardown
_nbval_collect = nbval.plugin.IPyNbFile.collect
_RunningKernel = nbval.plugin.RunningKernel
#: The prefix of the reader kernels' names: ``tabbook-reader-<framework>`` (:func:`_reader_kernels`).
READER_PREFIX = "tabbook-reader-"
#: The last item of every notebook: what its reader's run must leave true.
READER_CHECK = """\
import os, sys
checkout = {root!r}
assert not any(os.path.realpath(p or os.getcwd()).startswith(checkout) for p in sys.path), sys.path
assert not os.path.realpath(os.getcwd()).startswith(checkout), os.getcwd()
assert 'tabbook' not in sys.modules, sys.modules['tabbook']  # the build tool: never a reader's import
library = sys.modules.get('dlblocks')  # the reader's library: the setup cell's copy, outside the checkout
assert library is None or not os.path.realpath(library.__file__).startswith(checkout), library
start = {start!r}  # the empty folder the kernel started in
assert os.listdir(start) == [], f"the notebook wrote {{sorted(os.listdir(start))}} beside itself"
"""


def _setup_in_framework_kernel(self):
    options = self.parent.config.option
    meta = self.nb.metadata.get("dlblocks")
    kernel = meta.get("kernel") if isinstance(meta, dict) else None
    chosen = bool(kernel) and not (options.nbval_kernel_name or options.nbval_current_env)
    folder = contextlib.ExitStack()
    self._tabbook_folder = folder
    workdir = folder.enter_context(kernel_folder("tabbook-nbval-"))
    reader_cell = getattr(self, "_tabbook_reader_cell", None)
    if reader_cell is not None:
        from tabbook.frameworks import ROOT

        reader_cell.source = READER_CHECK.format(root=str(ROOT), start=str(workdir.resolve()))

    def running_kernel(kernel_name, cwd=None, **kwargs):  # nbval passes cwd=the notebook's folder
        return _RunningKernel(kernel_name, cwd=str(workdir), **kwargs)

    if chosen:
        options.nbval_kernel_name = READER_PREFIX + meta["framework"] if _READER_KERNELS else kernel
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


def _collect_with_reader_check(self):
    """nbval's items of the notebook, and for a notebook of the book one more: the reader's view."""
    items = list(_nbval_collect(self))
    meta = self.nb.metadata.get("dlblocks")
    if items and isinstance(meta, dict) and meta.get("kernel"):
        cell = nbformat.v4.new_code_cell(READER_CHECK)  # formatted at setup, once the folder exists
        self._tabbook_reader_cell = cell
        items.append(nbval.plugin.IPyNbCell.from_parent(
            self, name="reader's view", cell_num=len(items), cell=cell,
            options=collections.defaultdict(bool, check=True)))
    return items


nbval.plugin.IPyNbFile.setup = _setup_in_framework_kernel
nbval.plugin.IPyNbFile.teardown = _teardown_and_remove_folder
nbval.plugin.IPyNbFile.collect = _collect_with_reader_check
_READER_KERNELS: list[str] = []  # the folder that holds them, once made


def _reader_kernels() -> str:
    """A folder (for ``JUPYTER_PATH``) with one kernelspec per framework, ``tabbook-reader-<name>``:
    the framework's kernel (tabbook.envs.kernel_spec) without ``PYTHONPATH``, its reaper started
    as a script, so the notebook sees nothing of this checkout, as on a reader's machine."""
    from tabbook import envs
    from tabbook.frameworks import NAMES, ROOT, get

    folder = Path(tempfile.mkdtemp(prefix="tabbook-reader-kernels-"))
    for name in NAMES:
        spec = envs.kernel_spec(get(name))
        argv = spec["argv"]
        at = argv.index("-m")
        assert argv[at + 1] == "tabbook.reaper", argv
        spec["argv"] = [*argv[:at], str(ROOT / "tabbook" / "reaper.py"), *argv[at + 2:]]
        spec["env"] = {key: value for key, value in spec["env"].items() if key != "PYTHONPATH"}
        spec["display_name"] += " (reader)"
        target = folder / "kernels" / f"{READER_PREFIX}{name}"
        target.mkdir(parents=True)
        (target / "kernel.json").write_text(json.dumps(spec, indent=1))
    return str(folder)


def pytest_configure(config):
    """What a kernel's reaper leaves comes to the test session and ends with it (tabbook/reaper.py);
    the reader kernels are on ``JUPYTER_PATH`` for the session."""
    from tabbook import reaper

    reaper.become_subreaper()
    folder = _reader_kernels()
    _READER_KERNELS.append(folder)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))


def pytest_unconfigure(config):
    for folder in _READER_KERNELS:
        shutil.rmtree(folder, ignore_errors=True)


# Each pytest process its own build outputs (pytest-xdist runs several side by side).
@pytest.fixture(scope="session", autouse=True)
def own_build_outputs(tmp_path_factory):
    """The writer lock and the converted notebooks of the build.py commands that tests run in
    this process (``cli.main``, ``cli.cmd_*``) live in a folder of this pytest process, not in the
    checkout's ``build/``: under pytest-xdist two workers run such tests at once, each on a book
    of its own, and the checkout's one lock would stop the second as another build (as it
    should stop a second real build). Within a worker the tests run one at a time, as before.
    A test that sets either itself (monkeypatch) still gets its own."""
    from tabbook import cli

    folder = tmp_path_factory.mktemp("build")
    with pytest.MonkeyPatch.context() as setting:
        setting.setattr(cli, "WRITER_LOCK", folder / ".writer.lock")
        setting.setattr(cli, "CONVERTED", folder / "converted")
        yield folder


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


# The suite's time by part, printed at the end of every run (docs/testing.md, "Where the time goes").
#: Test files whose tests are counted as browser and book tests (they build the real book, drive Chromium).
BROWSER_FILES = frozenset({"test_book.py", "test_book_security.py", "test_pdf.py", "test_chromium.py"})
#: Test files whose tests are counted as environment tests (they build or check the frameworks' environments).
ENVIRONMENT_FILES = frozenset({"test_environments.py", "test_installers.py", "test_env_sharing.py"})
#: The book's mutation test (tests/test_claims.py): the runs of stale and sampled mutations.
MUTATION_TEST = "test_every_claim_of_the_book_can_fail"
#: The parts, in the order the table lists them (the nbval parts come first, one per framework).
OTHER_PARTS = ("mutation runs", "browser and book tests", "environment tests", "other unit tests")
_durations: dict[str, list[float]] = {}  # part: [tests, seconds]


def part_of(nodeid: str) -> str:
    """The part of the suite a test belongs to, by the first rule that matches its node id:
    a notebook (``tabs/<framework>/<chapter>.ipynb::...``) is "nbval: <Framework>"; the book's
    mutation test (:data:`MUTATION_TEST`) is "mutation runs"; a test of :data:`BROWSER_FILES`
    "browser and book tests", of :data:`ENVIRONMENT_FILES` "environment tests"; any other test
    "other unit tests"."""
    from tabbook.frameworks import NAMES, get

    path, _, name = nodeid.partition("::")
    if path.endswith(".ipynb"):
        framework = Path(path).parent.name
        return f"nbval: {get(framework).title if framework in NAMES else framework}"
    file = Path(path).name
    if file == "test_claims.py" and name.startswith(MUTATION_TEST):
        return "mutation runs"
    if file in BROWSER_FILES:
        return "browser and book tests"
    if file in ENVIRONMENT_FILES:
        return "environment tests"
    return "other unit tests"


_started: list[float] = []  # the session's start (time.perf_counter)


def pytest_sessionstart(session):
    _durations.clear()
    _started[:] = [time.perf_counter()]


def pytest_runtest_logreport(report):
    """Add each phase's duration (setup, call, teardown: a notebook's kernel starts in its first
    item's setup) to the test's part; count the test once, at its call (or a failed setup)."""
    counts = _durations.setdefault(part_of(report.nodeid), [0, 0.0])
    counts[1] += report.duration
    if report.when == "call" or (report.when == "setup" and not report.passed):
        counts[0] += 1


def time_table(durations: dict[str, list[float]]) -> str:
    """A Markdown table of ``durations`` ({part: [tests, seconds]}): one row per part, nbval
    parts first, then :data:`OTHER_PARTS` in order, then the total; seconds to a tenth, share of
    the total in percent."""
    total = sum(seconds for _, seconds in durations.values())
    order = sorted(durations, key=lambda part: (not part.startswith("nbval"),
                                                OTHER_PARTS.index(part) if part in OTHER_PARTS else -1, part))
    rows = ["| part | tests | seconds | share |", "| --- | ---: | ---: | ---: |"]
    for part in order:
        tests, seconds = durations[part]
        rows.append(f"| {part} | {tests} | {seconds:.1f} | {100 * seconds / total if total else 0:.0f}% |")
    rows.append(f"| all | {sum(tests for tests, _ in durations.values())} | {total:.1f} | 100% |")
    return "\n".join(rows)


def pytest_terminal_summary(terminalreporter, config):
    if not _durations or hasattr(config, "workerinput"):  # nothing ran (--collect-only), or a worker's
        return
    terminalreporter.write_sep("-", "time by part (setup, call and teardown; docs/testing.md)")
    for line in time_table(_durations).splitlines():
        terminalreporter.write_line(line)
    workers = config.getoption("numprocesses", None) if config.pluginmanager.hasplugin("xdist") else None
    terminalreporter.write_line(wall_line(time.perf_counter() - _started[0], workers or 1))


def wall_line(seconds: float, workers: int) -> str:
    """The line under the table: the run's wall time, and over how many pytest workers the
    table's seconds were spent (they add up to more than the wall time where there are several)."""
    if workers <= 1:
        return f"wall time {seconds:.1f} s, one pytest process"
    return f"wall time {seconds:.1f} s, {workers} pytest workers side by side (the seconds above are summed over them)"
