"""Execute framework notebooks with nbclient, cached by content, written atomically.

A notebook is executed in its framework's kernel (``tabbook-<framework>``), in a new empty
temporary folder that is removed afterwards (:func:`tabbook.files.kernel_folder`), so that a
cell writing a file by a relative path changes nothing in the repository. Its *execution key* is the sha256 of what determines its outputs:
the cells (:func:`tabbook.convert.code_fingerprint`), the framework's lock file, and the hand-written
modules of the readers' library that notebooks may carry (``library/dlblocks/data.py``). The cells include the
generated setup cell, which carries exactly the code saved from chapters that the notebook uses
(``saved.<name>``, and the saved definitions and imports those need, recursively: see
:mod:`tabbook.savedcode`), so a changed saved definition changes the key of exactly the notebooks
that use it, directly or through another saved definition, and of the chapter that saves it. The
key is stored in the executed notebook's metadata, with the date of the execution and the
framework's version, which the "Executed on" line under the title says (:mod:`tabbook.provenance`);
a notebook whose key is unchanged is not executed again.

On failure (a cell raises, the kernel dies, a cell runs past its timeout, the outputs outgrow
their limit, the notebook cannot be written) the previous notebook under ``tabs/`` is left as it
was and the result says which cell of which source line failed.

What a notebook keeps of its outputs is bounded while they stream in (:class:`Limits`): a cell
keeps the last ``Limits.cell`` characters of its output and says, in a note before them, how much
it dropped; a notebook whose kept outputs pass ``Limits.notebook`` characters fails. So a cell
that prints without end costs bounded memory until its timeout.

An execution stops when its ``stop`` event is set (by Ctrl-C, SIGTERM or SIGHUP in the command line):
the kernel is interrupted, then shut down, within :data:`INTERRUPT_GRACE` seconds, and nothing
is written.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import copy
import dataclasses
import hashlib
import json
import re
import signal
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import NoSuchKernel
from jupyter_core.utils import ensure_async, run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from . import convert, envs, provenance, reaper, scrub, standalone
from . import stored as stored_module
from .errors import BuildError, display_path
from .files import kernel_environment, kernel_folder
from .frameworks import ROOT, get
from . import report as report_module

#: Helper modules whose source is part of every execution key: the notebooks carry them.
NOTEBOOK_HELPERS = tuple(standalone.HELPERS.values())
DEFAULT_TIMEOUT = 600  # seconds per cell
#: Characters of output a cell keeps (its tail); today's largest cell holds about 40,000.
DEFAULT_MAX_CELL_OUTPUT = 1_000_000
#: Characters of output a notebook may keep in all; today's notebooks hold about 42,000.
DEFAULT_MAX_NOTEBOOK_OUTPUT = 4_000_000
#: Seconds an interrupted cell has to stop before its kernel is shut down regardless.
INTERRUPT_GRACE = 2.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclasses.dataclass
class Result:
    """The outcome of one chapter in one framework.

    ``status`` is "executed", "cached" (unchanged since its last execution), "failed",
    "interrupted" (stopped by its ``stop`` event; nothing written), "not run" (the build was
    interrupted before it started) or "omitted"; ``seconds`` is the wall time of the execution
    (0 for cached); ``records`` holds the values the notebook recorded (e.g. ``test_accuracy``);
    ``error`` the report of a failure or interruption; ``notes`` what the build should say about
    an executed notebook (outputs cut to their limit).
    """

    chapter: str
    framework: str
    status: str
    seconds: float = 0.0
    records: dict[str, float] = dataclasses.field(default_factory=dict)
    error: str = ""
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much output an execution keeps, in characters (text, or the encoded data of images).

    ``cell``: a cell keeps the last ``cell`` characters of its outputs and a note of what it
    dropped. ``notebook``: a notebook whose kept outputs exceed it fails.
    """

    cell: int = DEFAULT_MAX_CELL_OUTPUT
    notebook: int = DEFAULT_MAX_NOTEBOOK_OUTPUT


class OutputLimitError(Exception):
    """The outputs kept by a notebook exceed ``Limits.notebook`` (``total`` characters)."""

    def __init__(self, total: int):
        super().__init__(total)
        self.total = total


def output_size(output) -> int:
    """The size of one notebook output in characters: its text, traceback or data values."""
    kind = output.get("output_type")
    if kind == "stream":
        return len(output.get("text", ""))
    if kind == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(value) if isinstance(value, str) else len(json.dumps(value))
               for value in output.get("data", {}).values())


class BoundedClient(NotebookClient):
    """nbclient's NotebookClient that bounds the outputs it keeps and stops when asked.

    ``limits`` (:class:`Limits`) are applied while outputs stream in, not after the cell; ``stop``
    (a threading.Event, set from another thread) interrupts the kernel and then shuts it down.
    After execution, ``stopped`` tells whether ``stop`` cut it short, and ``notes`` lists the
    cells whose outputs were cut, with what was dropped.
    """

    def __init__(self, notebook, *, limits: Limits = Limits(), stop: threading.Event | None = None, **kwargs):
        super().__init__(notebook, **kwargs)
        self.limits = limits
        self.stop_event = stop or threading.Event()
        self.stopped = False
        self._kernel_ready = False
        self.notes: list[str] = []
        self.kept_total = 0  # characters kept by the cells executed so far
        self._cell_kept = 0  # characters kept by the running cell
        self._cell_dropped = 0

    async def async_execute(self, reset_kc: bool = False, **kwargs) -> nbformat.NotebookNode:
        """Execute every cell as nbclient does, watching ``stop``; shut the kernel down on any exit."""
        watcher = asyncio.ensure_future(self._stop_when_asked(asyncio.current_task()))
        try:
            return await super().async_execute(reset_kc=reset_kc, **kwargs)
        finally:
            watcher.cancel()
            # nbclient shuts the kernel down only once its client is ready: a start cut short
            # (stopped, or failing) would leave the kernel process and its connection file,
            # and a cleanup registered to run at exit on a client that no longer has a kernel.
            if self.km is not None:
                with contextlib.suppress(Exception):
                    if self.stopped and await ensure_async(self.km.is_alive()):
                        # Killed, not shut down: a shutdown interrupts first, and a kernel still
                        # importing would die of that printing a traceback.
                        await ensure_async(self.km.signal_kernel(signal.SIGKILL))
                    await self._async_cleanup_kernel()
            atexit.unregister(self._cleanup_kernel)
            reaper.reap_orphans()  # what the kernel left, should its reaper have been killed
            if self.stopped:
                # nbclient's kernel-alive poll of the cell that was cut off is left pending;
                # cancelled here, it does not end the run with asyncio's "Task was destroyed".
                pending = [task for task in asyncio.all_tasks()
                           if task is not asyncio.current_task() and not task.done()]
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    execute = run_sync(async_execute)

    async def _stop_when_asked(self, main: asyncio.Task) -> None:
        while not self.stop_event.is_set():
            await asyncio.sleep(0.1)
        self.stopped = True
        self.shutdown_kernel = "immediate"
        if self._kernel_ready and self.km is not None and self.km.has_kernel:
            with contextlib.suppress(Exception):
                await ensure_async(self.km.interrupt_kernel())
            # The interrupted cell normally ends at once with KeyboardInterrupt; one that ignores
            # it (native code, a bare except) is cut off, and the cleanup shuts the kernel down.
            await asyncio.sleep(INTERRUPT_GRACE)
        # A kernel still starting is not interrupted (it would die printing a traceback): the
        # cleanup kills it.
        main.cancel()

    async def async_start_new_kernel_client(self):
        """Start the kernel client as nbclient does; note that the kernel now answers."""
        client = await super().async_start_new_kernel_client()
        self._kernel_ready = True
        return client

    async def async_execute_cell(self, cell, cell_index: int, execution_count=None, store_history=True):
        """Execute one cell as nbclient does, then note what its outputs lost to the limits.

        Raises:
            OutputLimitError: the notebook's kept outputs now exceed ``limits.notebook``.
        """
        self._cell_kept = self._cell_dropped = 0
        try:
            result = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except BaseException:
            self._finish_cell(cell, cell_index)
            raise
        self._finish_cell(cell, cell_index)
        if self.kept_total > self.limits.notebook:
            raise OutputLimitError(self.kept_total)
        return result

    def output(self, outs, msg, display_id, cell_index):
        """Keep the output as nbclient does, then drop the oldest outputs past ``limits.cell``."""
        before = len(outs)
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return out
        if len(outs) != before + 1:  # a delayed clear_output emptied the list first
            self._cell_kept = sum(output_size(kept) for kept in outs)
        else:
            self._cell_kept += output_size(out)
        if self._cell_kept > self.limits.cell:
            self._drop_head(outs, cell_index)
        return out

    def clear_output(self, outs, msg, cell_index) -> None:
        """Clear as nbclient does; what is cleared no longer counts."""
        super().clear_output(outs, msg, cell_index)
        self._cell_kept = sum(output_size(kept) for kept in outs)

    def _drop_head(self, outs: list, cell_index: int) -> None:
        """Drop the oldest outputs (or the head of the oldest stream) down to 3/4 of the limit.

        Dropping a quarter at a time keeps the cost per output constant on average.
        """
        excess = self._cell_kept - self.limits.cell * 3 // 4
        dropped = count = 0
        while count < len(outs) and dropped < excess:
            size = output_size(outs[count])
            if dropped + size > excess and outs[count].get("output_type") == "stream":
                outs[count]["text"] = outs[count]["text"][excess - dropped:]
                dropped = excess
                break
            dropped += size
            count += 1
        del outs[:count]
        self._cell_kept -= dropped
        self._cell_dropped += dropped
        # Outputs moved: a later update_display_data must not find them by their old position.
        self.clear_display_id_mapping(cell_index)

    def _finish_cell(self, cell, cell_index: int) -> None:
        """Put the note of what was dropped before the kept outputs, and count the cell's total."""
        if cell.get("cell_type") != "code":
            return
        outputs = cell.setdefault("outputs", [])
        kept = sum(output_size(output) for output in outputs)
        if self._cell_dropped:
            note = (f"[tabbook: this cell's output was {self._cell_dropped + kept:,} characters; the first "
                    f"{self._cell_dropped:,} were dropped and the last {kept:,} follow (limit: "
                    f"{self.limits.cell:,} per cell, build.py execute --max-cell-output)]\n")
            outputs.insert(0, nbformat.v4.new_output("stream", name="stderr", text=note))
            self.notes.append(f"cell {cell_index + 1}{_where(cell, self.nb)}: output cut to its last "
                              f"{kept:,} of {self._cell_dropped + kept:,} characters "
                              f"(--max-cell-output {self.limits.cell:,}); the notebook says so before the cell's output")
            kept += len(note)
        self.kept_total += kept


def execution_key(notebook: nbformat.NotebookNode, framework: str) -> str:
    """sha256 (hex) of the cells, the framework's lock, the notebook helper modules and the
    chapter's report expressions (:mod:`tabbook.report`).

    The cells include the generated setup cell, and so the saved definitions the notebook uses
    (:func:`tabbook.savedcode.for_notebook`): their source, not the whole saved module, is hashed.
    """
    digest = hashlib.sha256(convert.code_fingerprint(notebook).encode())
    digest.update(get(framework).requirements.read_bytes())
    for helper in NOTEBOOK_HELPERS:
        digest.update(helper.read_bytes())
    report = notebook.metadata.get("dlblocks", {}).get("report")
    if report:  # the results the build reads after the last cell (tabbook.report)
        digest.update(json.dumps(report, sort_keys=True).encode())
    return digest.hexdigest()


def read_stored(path: Path, chapter: str, framework: str) -> tuple[nbformat.NotebookNode | None, str]:
    """(the notebook at ``path``, "") or, where there is none, (None, ""), or where it is damaged
    (:func:`tabbook.stored.read`), (None, a note saying what is wrong and that it is executed again):
    a damaged notebook is as good as none."""
    if not path.exists():
        return None, ""
    try:
        return stored_module.read(path, chapter, framework), ""
    except stored_module.DamagedNotebook as error:
        return None, (f"{display_path(path)} was damaged ({error.what}): executing it again as if it were absent; "
                      f"the damaged file is kept until a run succeeds")


def execute(notebook: nbformat.NotebookNode, path: Path, *, timeout: int = DEFAULT_TIMEOUT,
            force: bool = False, limits: Limits = Limits(), stop: threading.Event | None = None) -> Result:
    """Execute ``notebook`` (as made by :func:`tabbook.convert.to_notebook`) and write it to ``path``.

    Skips execution when the notebook at ``path`` has the same execution key, unless ``force``.
    ``timeout`` is in seconds per cell, ``limits`` bound the outputs kept (:class:`Limits`), and
    setting ``stop`` (from another thread) ends the execution within about
    :data:`INTERRUPT_GRACE` seconds with status "interrupted".
    Never raises for a failing notebook: the Result says what failed; ``path`` is then untouched,
    also when the write itself fails (a read-only folder, a full disk). A damaged notebook at
    ``path`` (:func:`tabbook.stored.read`) counts as none; the Result's first note says so. A
    notebook whose key is unchanged but whose cell metadata is not the converter's gets the
    converter's without being executed again (:func:`_cached`).
    """
    meta = notebook.metadata["dlblocks"]
    chapter, framework = meta["chapter"], meta["framework"]
    key = execution_key(notebook, framework)
    stored, damage = (None, "") if force else read_stored(path, chapter, framework)
    if stored is not None and stored.metadata.get("dlblocks", {}).get("execution_key") == key:
        return _cached(stored, notebook, path)
    result = _execute(notebook, path, key, timeout, limits, stop)
    if damage:
        result.notes.insert(0, damage)
    return result


def _cached(stored: nbformat.NotebookNode, notebook: nbformat.NotebookNode, path: Path) -> Result:
    """The Result of a notebook whose execution key is unchanged: not executed again. Where the
    cell metadata of ``stored`` (read from ``path``) is not the converter's (``notebook``, a fresh
    conversion), or its "Executed on" line (:mod:`tabbook.provenance`) is missing or out of date,
    ``path`` is rewritten with the converter's metadata and the line, atomically (a cheap rewrite:
    neither is part of the execution key), and a note says so; a failed write leaves ``path`` as
    it was and fails the Result. A notebook executed before the executor recorded the date gets
    the date of the commit that brought its execution key (:func:`tabbook.provenance.committed_date`);
    where git does not know it, the notebook is left without a line (``build.py check`` says so)."""
    meta = notebook.metadata["dlblocks"]
    chapter, framework = meta["chapter"], meta["framework"]
    result = Result(chapter, framework, "cached", records=report_module.results(stored))
    if convert.code_fingerprint(stored) != convert.code_fingerprint(notebook):
        return result  # its cells were edited by hand, keeping the key: build.py check reports it
    stale = convert.stale_metadata(stored, notebook)
    updated = convert.with_fresh_metadata(stored, notebook) if stale else copy.deepcopy(stored)
    if not isinstance(updated.metadata["dlblocks"].get("executed"), dict):
        date = provenance.committed_date(path, updated.metadata["dlblocks"].get("execution_key", ""))
        if date:
            provenance.record(updated, framework, date)
    updated = provenance.with_line(updated)
    if updated == stored:
        return result
    changes = []
    if stale:
        changes.append(f"the metadata of {cells_label(stored, stale)}")
    if provenance.shown_line(updated) != provenance.shown_line(stored):
        changes.append(f'its line "{provenance.shown_line(updated)}"')
    place = provenance.title_index(stored) + 1
    dropped = len([index for index in provenance.marked_indices(stored)
                   if index != place or stored.cells[index].cell_type != "markdown"])
    if dropped:
        changes.append(f"{dropped} cell{'s' if dropped > 1 else ''} marked as its line where no line may be (dropped)")
    what = " and ".join(changes) or "its record of when it was executed"
    try:
        convert.write_notebook(updated, path)
    except OSError as error:
        result.status = "failed"
        result.error = (f"{framework}: {chapter}: {what} is out of date, but {display_path(path)} "
                        f"could not be written ({error.strerror or error}); the notebook there is as it was. "
                        f"Fix the cause (permissions, disk space), then run again")
        return result
    why = "the converter's changed; " if stale and len(changes) == 1 else ""
    result.notes.append(f"brought {what} up to date ({why}not executed again)")
    return result


def cells_label(notebook: nbformat.NotebookNode, indices: list[int], shown: int = 3) -> str:
    """``cell 1 (the generated setup cell), cell 9 (source line 42) and 3 more``: the cells
    of ``notebook`` at ``indices`` (0-based), the first ``shown`` of them named; for a message."""
    labels = []
    for index in indices[:shown]:
        meta = notebook.cells[index].metadata.get("dlblocks", {})
        where = f"the generated {meta['generated']} cell" if meta.get("generated") else f"source line {meta.get('line', '?')}"
        labels.append(f"cell {index + 1} ({where})")
    more = len(indices) - shown
    return ", ".join(labels) + (f" and {more} more" if more > 0 else "")


def _execute(notebook: nbformat.NotebookNode, path: Path, key: str, timeout: int, limits: Limits,
             stop: threading.Event | None) -> Result:
    """:func:`execute` past its cache: run the notebook, write it with its execution ``key``."""
    meta = notebook.metadata["dlblocks"]
    chapter, framework = meta["chapter"], meta["framework"]
    try:
        envs.check_env(get(framework))
    except BuildError as error:
        return Result(chapter, framework, "failed", error=str(error))
    # The kernel's own output (native libraries' logs, a crash's last words) goes to a file, never
    # to the build's output (tabbook.reaper); its tail joins the report when the kernel dies.
    with tempfile.TemporaryFile("w+", errors="replace") as log:
        return _run(notebook, path, key, timeout, limits, stop, log)


def _run(notebook: nbformat.NotebookNode, path: Path, key: str, timeout: int, limits: Limits,
         stop: threading.Event | None, log) -> Result:
    """:func:`_execute` once the environment is known to work; the kernel writes to ``log``."""
    meta = notebook.metadata["dlblocks"]
    chapter, framework = meta["chapter"], meta["framework"]
    running: list[int] = []  # the index of the cell being executed, set by nbclient's hook

    def on_cell_start(cell, cell_index):
        running[:] = [cell_index]

    start = time.perf_counter()
    report_module.append_cell(notebook)  # runs after the last cell; removed before writing
    try:
        # The kernel's working directory (not tabs/<framework>/) and its temporary files' folder.
        with kernel_folder() as folder, kernel_environment() as environment:
            client = BoundedClient(notebook, limits=limits, stop=stop, timeout=timeout,
                                   kernel_name=get(framework).kernel_name,
                                   resources={"metadata": {"path": str(folder)}}, record_timing=False,
                                   on_cell_start=on_cell_start)
            client.execute(stdout=log, stderr=log, env=environment)
    except (CellExecutionError, CellTimeoutError, DeadKernelError, OutputLimitError, NoSuchKernel,
            asyncio.CancelledError, RuntimeError) as error:  # RuntimeError: "Kernel died before replying"
        if client.stopped:
            return _interrupted(notebook, running, start, path)
        if isinstance(error, CellExecutionError):
            return _failure(notebook, running, start, "raised an exception")
        if isinstance(error, CellTimeoutError):
            return _failure(notebook, running, start,
                            f"ran longer than its timeout of {timeout} s (raise it with --timeout)")
        if isinstance(error, DeadKernelError):
            return _failure(notebook, running, start, f"killed the kernel ({error})" + _log_tail(log))
        if isinstance(error, OutputLimitError):
            return _failure(notebook, running, start,
                            f"brought the notebook's outputs to {error.total:,} characters, more than its limit "
                            f"of {limits.notebook:,}: print less, or raise --max-notebook-output")
        if isinstance(error, NoSuchKernel):
            return Result(chapter, framework, "failed", error=(
                f"{framework}: {chapter}: there is no kernel {get(framework).kernel_name}: "
                f"register it with: python build.py env {framework}"))
        if isinstance(error, RuntimeError) and not running:
            return _failure(notebook, running, start, str(error) + _log_tail(log))
        raise
    seconds = time.perf_counter() - start
    if client.stopped:  # the cell caught the KeyboardInterrupt: its outputs are not the cell's
        return _interrupted(notebook, running, start, path)
    unshowable = _unshowable_output(notebook)
    if unshowable:  # stored, html and check would refuse it, and executing again would store it again
        return Result(chapter, framework, "failed", seconds, error=(
            f"{framework}: {chapter}: {unshowable}: the book cannot show it, so the notebook is not written "
            f"({display_path(path)} is as it was); fix what the cell displays"))
    try:
        report_module.take_values(notebook)  # into metadata.dlblocks.results, read below
    except BuildError as error:
        return Result(chapter, framework, "failed", seconds, error=f"{framework}: {chapter}: {error}")
    notebook.metadata["dlblocks"]["execution_key"] = key
    notebook.metadata["dlblocks"]["seconds"] = round(seconds, 1)  # for balancing test shards (tabbook.shard)
    provenance.record(notebook, framework, provenance.today())
    notebook = provenance.with_line(notebook)  # "Executed on ...", under the title
    scrub.scrub_notebook(notebook)  # published outputs: merged streams, no paths of this machine
    result = Result(chapter, framework, "executed", seconds, report_module.results(notebook), notes=client.notes)
    try:
        convert.write_notebook(notebook, path)
    except OSError as error:
        result.status = "failed"
        result.error = (f"{framework}: {chapter}: executed in {seconds:.0f} s, but {display_path(path)} could not "
                        f"be written ({error.strerror or error}); the notebook there is as it was. Fix the "
                        f"cause (permissions, disk space), then run again")
    return result


def _unshowable_output(notebook) -> str:
    """``cell N (source path:line), output M: what is wrong`` for the first output that the
    book would refuse (:func:`tabbook.stored.output_problem`), or ""."""
    for number, cell in enumerate(notebook.cells, 1):
        for index, output in enumerate(cell.get("outputs", []), 1):
            problem = stored_module.output_problem(output)
            if problem:
                return f"cell {number}{_where(cell, notebook)}, output {index}: {problem}"
    return ""


def _where(cell, notebook) -> str:
    """`` (source path:line)`` of a converted cell, or `` (generated by the converter)``."""
    line = cell.metadata.get("dlblocks", {}).get("line")
    source = notebook.metadata.get("dlblocks", {}).get("source")
    return f" (source {source}:{line})" if line else " (generated by the converter)"


def _failure(notebook, running: list[int], start: float, what: str) -> Result:
    """The Result of a failed execution: which cell of which source line, with its traceback."""
    meta = notebook.metadata["dlblocks"]
    report = f"{meta['framework']}: {meta['chapter']}: "
    if running and report_module.is_report_cell(notebook.cells[running[0]]):
        report += (f"the front matter's tabbook.report ({meta['source']}) {what} after the last cell"
                   + _traceback(notebook.cells[running[0]]))
    elif running:
        cell = notebook.cells[running[0]]
        line = cell.metadata.get("dlblocks", {}).get("line")
        report += f"cell {running[0] + 1} (source {meta['source']}:{line}) {what}" + _traceback(cell)
    else:
        report += f"the kernel failed before the first cell: {what}"
    return Result(meta["chapter"], meta["framework"], "failed", time.perf_counter() - start, error=report)


def _interrupted(notebook, running: list[int], start: float, path: Path) -> Result:
    """The Result of an execution that its stop event ended: where it was; nothing written."""
    meta = notebook.metadata["dlblocks"]
    where = (f"at cell {running[0] + 1}{_where(notebook.cells[running[0]], notebook)}" if running
             else "while its kernel started")
    return Result(meta["chapter"], meta["framework"], "interrupted", time.perf_counter() - start,
                  error=f"{meta['framework']}: {meta['chapter']}: stopped {where}; "
                        f"{display_path(path)} is as it was")


def _log_tail(log, lines: int = 20) -> str:
    """The last lines of the kernel's own output (an open file), introduced; nothing if it is empty."""
    log.flush()
    log.seek(0)
    text = strip_ansi(log.read()).strip()
    return "; its last output lines:\n" + "\n".join(text.splitlines()[-lines:]) if text else ""


def strip_ansi(text: str) -> str:
    """``text`` without the ANSI colour codes that IPython puts in tracebacks."""
    return _ANSI.sub("", text)


def _traceback(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return "\n" + strip_ansi("\n".join(output.get("traceback", [])))
    return ""
