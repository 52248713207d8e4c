"""The command line of build.py: the main job and one subcommand per step."""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import check as check_module
from . import claimrecords
from . import claims as claims_module
from . import convert as convert_module
from . import envs
from . import execute as execute_module
from . import files
from . import reaper
from . import savedcode
from dlblocks.data import ENV_VAR as MNIST_ENV_VAR
from dlblocks.data import MNISTError, check_env_dir
from .errors import BuildError, SourceError, display_path
from .frameworks import NAMES, NOTEBOOKS, ROOT, get
from .source import Chapter, find_chapters, read_chapter

CONVERTED = ROOT / "build" / "converted"
#: Notebooks executed at once by default; measured on 2 cores, see the README.
DEFAULT_JOBS = 1
#: Exit codes after a signal, as a shell reports them (128 + the signal's number).
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}
#: The signals that stop build.py as Ctrl-C does: SIGTERM (kill, a CI timeout) and SIGHUP (the
#: terminal closed), which would otherwise end it at once, with kernels and temporary files left.
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (``signal_name``) arrived: handled as Ctrl-C is, so that kernels and
    temporary files are cleaned up."""

    def __init__(self, signal_name: str = "SIGTERM"):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _signal_name(interrupt: KeyboardInterrupt) -> str:
    """The signal that raised ``interrupt``: SIGINT for Ctrl-C, else the one :class:`Terminated` names."""
    return interrupt.signal_name if isinstance(interrupt, Terminated) else "SIGINT"


class Interrupted(Exception):
    """A step was stopped by a signal (``signal_name``) after saying what it had done."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


def main(argv: list[str] | None = None) -> int:
    """Run build.py with ``argv``; return the exit code (0 success, 1 failure, 2 usage,
    130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP)."""
    reaper.become_subreaper()  # what a kernel's reaper leaves comes here, and ends (tabbook.reaper)
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    head, pytest_args = _split_test_arguments(parser, argv)
    args = parser.parse_args(head)
    if args.func is cmd_test:
        args.pytest_args = pytest_args
    with _sigterm_as_interrupt():
        try:
            if os.environ.get("TABBOOK_MNIST_DIR") and not os.environ.get(MNIST_ENV_VAR):
                raise BuildError(f"TABBOOK_MNIST_DIR is set, but the notebooks read MNIST's folder from "
                                 f"{MNIST_ENV_VAR} now (the readers' library dlblocks): export "
                                 f"{MNIST_ENV_VAR}={os.environ['TABBOOK_MNIST_DIR']} instead")
            # Kernels run in tabs/<framework>/: a relative data folder must not change meaning there.
            if os.environ.get(MNIST_ENV_VAR):
                os.environ[MNIST_ENV_VAR] = str(Path(os.environ[MNIST_ENV_VAR]).expanduser().resolve())
                if (args.func in (cmd_all, cmd_execute, cmd_test, cmd_bench, cmd_affected) or getattr(args, "run", False)
                        or getattr(args, "stale", False)):
                    check_env_dir()  # before any kernel starts, so no notebook fails on it
            with _one_writer(args, argv):
                return args.func(args)
        except (SourceError, BuildError, MNISTError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except Interrupted as interrupt:
            return SIGNAL_EXIT[interrupt.signal_name]
        except KeyboardInterrupt as interrupt:
            name = _signal_name(interrupt)
            print(f"interrupted by {name}: notebooks under tabs/ are as they were before the step that was "
                  "running", file=sys.stderr)
            return SIGNAL_EXIT[name]


#: The lock that :func:`_one_writer` holds, one per checkout.
WRITER_LOCK = ROOT / "build" / ".writer.lock"


@contextlib.contextmanager
def _one_writer(args, argv: list[str] | None):
    """Hold :data:`WRITER_LOCK` while a step that writes the checkout's outputs runs (the main
    job, convert, execute, html, pdf, bench: tabs/, library/dlblocks/, build/; claims --run and
    --stale: notebooks/*.claims.record); a second such step started meanwhile stops at once with
    a clear error instead of writing the same files.

    Raises:
        BuildError: another build.py holds the lock (its process id and command are said).
    """
    running_claims = args.func is cmd_claims and (getattr(args, "run", False) or getattr(args, "stale", False))
    if args.func not in (cmd_all, cmd_convert, cmd_execute, cmd_html, cmd_pdf, cmd_bench) and not running_claims:
        yield
        return
    with _writer_lock(" ".join(["build.py", *(sys.argv[1:] if argv is None else argv)])):
        yield


@contextlib.contextmanager
def _writer_lock(command: str):
    """Hold :data:`WRITER_LOCK` for ``command`` (how a second build names it) while in the block.

    Raises:
        BuildError: another build.py holds the lock, or it cannot be created.
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(files.exclusive(WRITER_LOCK, f"pid {os.getpid()}: {command}"))
        except files.Busy as busy:
            raise BuildError(f"another build.py is writing this checkout ({busy.holder or 'a process'}): "
                             f"wait for it to end, or stop it, then run {command} again") from None
        except OSError as error:  # a read-only checkout, or build/ is a file
            raise BuildError(f"{display_path(WRITER_LOCK)}: cannot create the lock that keeps two builds of this "
                             f"checkout apart ({error.strerror or error}); {command} writes under build/, so "
                             f"build/ must be a folder this user can write: fix its permissions, or move away "
                             f"the file named build") from None
        yield


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While in the block, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread (as
    Ctrl-C raises KeyboardInterrupt) instead of ending the process without any cleanup."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise Terminated(signal.Signals(signum).name)

    previous = {number: signal.signal(number, terminated)
                for number in (getattr(signal, name) for name in STOP_SIGNALS)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _signals_ignored(message: str):
    """While in the block, a further Ctrl-C, SIGTERM or SIGHUP prints ``message`` instead of stopping the
    cleanup that is under way (it takes a few seconds: see execute.INTERRUPT_GRACE)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def remind(signum, frame):
        print(message, file=sys.stderr, flush=True)

    previous = {number: signal.signal(number, remind)
                for number in (signal.SIGINT, *(getattr(signal, name) for name in STOP_SIGNALS))}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py", description="Build the four-framework book from notebooks/*.md.")
    parser.set_defaults(func=cmd_all)
    commands = parser.add_subparsers(title="steps", metavar="STEP")

    def kernel_args(sub, jobs: str) -> None:
        """``-j/--jobs`` (``jobs`` says what runs at once; dest ``kernels``) and ``--timeout`` of a step
        that runs kernels: claims, affected."""
        # Its own dest: build.py's -j (notebooks executed at once, default 1) must not set it.
        sub.add_argument("-j", "--jobs", type=_positive, default=claims_module.DEFAULT_JOBS, dest="kernels",
                         help=f"{jobs} (default: %(default)s)")
        sub.add_argument("--timeout", type=_positive, default=execute_module.DEFAULT_TIMEOUT,
                         help="seconds a cell may run before it fails (default: %(default)s)")

    def frameworks_arg(sub, what):
        sub.add_argument("-f", "--framework", action="append", choices=NAMES, dest="frameworks",
                         help=f"{what} only this framework (repeatable; default: all)")

    def device_arg(sub, what):
        sub.add_argument("--device", choices=envs.DEVICES,
                         help=f"{what} this device (default: ${envs.DEVICE_VARIABLE}, else cuda where "
                              "nvidia-smi lists a GPU, else cpu)")

    def execution_args(sub, chapters=True):
        if chapters:
            sub.add_argument("chapters", nargs="*", metavar="CHAPTER",
                             help="chapter names (file stems under notebooks/); default: all")
        frameworks_arg(sub, "execute")
        sub.add_argument("--force", action="store_true",
                         help="execute even notebooks whose code, lock and helpers did not change "
                              "(the main job: and print the PDFs again)")
        sub.add_argument("--timeout", type=_positive, default=execute_module.DEFAULT_TIMEOUT,
                         help="seconds a cell may run before it fails (default: %(default)s)")
        sub.add_argument("-j", "--jobs", type=_positive, default=DEFAULT_JOBS,
                         help="notebooks executed at once (default: %(default)s; see README)")
        sub.add_argument("--max-cell-output", type=_size, default=execute_module.DEFAULT_MAX_CELL_OUTPUT,
                         metavar="SIZE", help="characters of output a cell keeps, its last ones (default: "
                                              "%(default)s; 500k and 2M work too)")
        sub.add_argument("--max-notebook-output", type=_size, default=execute_module.DEFAULT_MAX_NOTEBOOK_OUTPUT,
                         metavar="SIZE", help="characters of output a notebook may keep, or it fails "
                                              "(default: %(default)s)")

    sub = commands.add_parser("all", help="the main job: env, convert, execute, summary, book (default)")
    execution_args(sub)
    sub.set_defaults(func=cmd_all)
    # The main job's options work without naming it too: python build.py --force -f pytorch
    execution_args(parser, chapters=False)
    parser.set_defaults(chapters=[])

    sub = commands.add_parser("env", help="create missing framework environments and kernels")
    sub.add_argument("names", nargs="*", metavar="FRAMEWORK", help=f"one of {', '.join(NAMES)}; default: all")
    sub.add_argument("--force", action="store_true", help="rebuild the environments from scratch")
    device_arg(sub, "build the environments for")
    sub.set_defaults(func=cmd_env)

    sub = commands.add_parser("convert", help="write unexecuted notebooks to build/converted/")
    sub.add_argument("chapters", nargs="*", metavar="CHAPTER")
    sub.set_defaults(func=cmd_convert)

    sub = commands.add_parser("execute", help="execute changed notebooks into tabs/<framework>/")
    execution_args(sub)
    sub.set_defaults(func=cmd_execute)

    sub = commands.add_parser("html", help="build the HTML book from the executed notebooks into build/html")
    sub.set_defaults(func=cmd_html)

    sub = commands.add_parser("pdf", help="the book, then one PDF per framework (Chromium) into build/html/pdf; "
                                          "a PDF whose one-page book did not change is not printed again")
    sub.add_argument("--force", action="store_true", help="print every PDF, changed or not")
    sub.set_defaults(func=cmd_pdf)

    sub = commands.add_parser("check", help="fail if tabs/ does not match notebooks/")
    sub.set_defaults(func=cmd_check)

    sub = commands.add_parser("test", help="ensure environments, then run pytest (unit tests and nbval)")
    sub.add_argument("pytest_args", nargs="*", metavar="PYTEST ARGS",
                     help="everything after 'test' goes to pytest as it is, in its order")
    sub.set_defaults(func=cmd_test)

    sub = commands.add_parser(
        "affected", help="run only what a change since git's HEAD (or --since REF) affects: its notebooks "
                         "(execute, nbval), its stale mutations, the unit tests of changed modules",
        description="Compare the working tree (and index) with git's HEAD, or --since REF, print what the change "
                    "affects and why, then run that: execute the affected notebooks (those whose cells, saved "
                    "code, lock or helpers changed; only the frameworks whose cells changed), run the "
                    "mutations whose record is missing or stale and rewrite the records, check the claims "
                    "coverage of the chapters touched, then run nbval over the affected notebooks and the unit "
                    "test modules the change reaches (those that changed, import a changed or missing module, "
                    "name a changed file, or read a changed chapter). Notebooks whose only change is a moved "
                    "source line get their metadata, and library/dlblocks/ its modules, brought up to date "
                    "without executing. See docs/testing.md.")
    sub.add_argument("--since", default="HEAD", metavar="REF",
                     help="compare the working tree with this commit, branch or tag (default: %(default)s)")
    sub.add_argument("--plan", action="store_true", help="print what would run and why; run nothing")
    kernel_args(sub, "kernels at once, for executions and for mutations, and the pytest workers")
    sub.set_defaults(func=cmd_affected)

    sub = commands.add_parser("bench", help="time Training on MNIST's training code: custom vs built-in layers, "
                                             "naive path, NumPy; writes build/bench/results-<batch size>.md")
    frameworks_arg(sub, "benchmark")
    sub.add_argument("--epochs", type=int, default=4, help="epochs per run, at least 2: the first is a warm-up (default: 4)")
    sub.add_argument("--naive-epochs", type=int, default=3, help="epochs of the slow naive runs (default: 3)")
    sub.add_argument("--batch-size", type=int, default=256, help="batch size (default: the chapter's, 256)")
    sub.add_argument("--examples", type=int, default=60000, metavar="N",
                     help="training images per epoch, the first N of the benchmark's fixed order (default: all "
                          "60000; the committed report is written only from all)")
    sub.add_argument("--repeats", type=int, default=3, metavar="N",
                     help="runs of the custom and the built-in layer, alternately (default: 3)")
    sub.add_argument("--profile", action="store_true",
                     help="then profile one more custom run per framework (py-spy; MindSpore's operator "
                          "profiler) and write build/bench/profile-<batch size>.md")
    sub.add_argument("--profile-epochs", type=int, default=2, metavar="N",
                     help="epochs profiled, after a warm-up epoch (default: 2)")
    sub.set_defaults(func=cmd_bench)

    sub = commands.add_parser("claims", help="mutation tests of the chapters' asserts: coverage of "
                                              "notebooks/<chapter>.claims.yml; --run executes the mutations")
    sub.add_argument("chapters", nargs="*", metavar="CHAPTER",
                     help="chapter names (file stems under notebooks/); default: all")
    frameworks_arg(sub, "check")
    sub.add_argument("--run", action="store_true",
                     help="execute every mutation up to its assert, which must fail there")
    sub.add_argument("--stale", action="store_true",
                     help="with --run: only the mutations whose record (notebooks/<chapter>.claims.record) "
                          "is missing or stale")
    kernel_args(sub, "mutations executed at once, one kernel each")
    sub.set_defaults(func=cmd_claims)

    sub = commands.add_parser("lock", help="re-resolve tabs/<framework>/requirements.in into requirements.txt "
                                            "(--device cuda: requirements-cuda.in into requirements-cuda.txt)")
    sub.add_argument("names", nargs="+", choices=NAMES, metavar="FRAMEWORK")
    sub.add_argument("--device", choices=envs.DEVICES, default="cpu",
                     help="the lock to make; resolution only, no GPU needed (default: %(default)s)")
    sub.set_defaults(func=cmd_lock)
    # An option the steps share with build.py itself (-f, --force, --timeout, -j, ...) may stand
    # before or after the step: a step's own default must not overwrite what was given before it.
    shared = {action.dest for action in parser._actions if action.option_strings}
    for sub in commands.choices.values():
        for action in sub._actions:
            if action.option_strings and action.dest in shared:
                if action.help:  # --help would otherwise fail to expand it
                    action.help = action.help.replace("%(default)s", str(action.default))
                action.default = argparse.SUPPRESS
    return parser


def cmd_all(args) -> int:
    """The main job: environments, conversion, execution, summary, then the book and its PDFs."""
    cmd_env(argparse.Namespace(names=args.frameworks or [], force=False, device=None))
    cmd_convert(argparse.Namespace(chapters=args.chapters))
    status = cmd_execute(args)
    _print_coverage(args.chapters, args.frameworks)
    return cmd_pdf(args) or status


def _print_coverage(names: list[str], frameworks: list[str] | None) -> None:
    """Print the claims coverage table (static, no kernel); a bad claims file is reported, not raised."""
    try:
        chapters = _chapters(names)
        coverages = [claims_module.coverage(chapter, claims_module.load_claims(chapter), frameworks)
                     for chapter in chapters]
    except SourceError as error:
        print(f"claims: error: {error}", file=sys.stderr)
        return
    print(claims_module.coverage_table(coverages))
    uncovered = sum(cover.count(name, "uncovered") for cover in coverages for name in cover.frameworks)
    if uncovered:
        print(f"claims: {uncovered} assert(s) without a mutation; python build.py claims lists them")


def cmd_html(args) -> int:
    """Build the book from the notebooks under tabs/, without executing anything."""
    from . import book

    seconds = book.build(_chapters([]))
    _log(f"book: {book.HTML_DIR / 'index.html'} built in {seconds:.1f} s")
    return 0


def cmd_pdf(args) -> int:
    """Build the book, then print it to one PDF per framework."""
    from . import book, pdf

    cmd_html(args)
    seconds, printed = pdf.build(_chapters([]), force=getattr(args, "force", False))
    if printed:
        _log(f"pdf: {', '.join(str(book.HTML_DIR / book.pdf_name(name)) for name in printed)} printed in {seconds:.1f} s")
    else:
        _log(f"pdf: the PDFs in {book.HTML_DIR / 'pdf'} are up to date (checked in {seconds:.1f} s)")
    return 0


def cmd_env(args) -> int:
    """Build the missing environments of ``args.names`` (default: all) for ``args.device`` (default:
    detected) and point each framework's kernel at its environment for that device."""
    names = args.names or list(NAMES)
    for name in names:
        if name not in NAMES:
            raise BuildError(f"unknown framework {name!r}; choose from {', '.join(NAMES)}")
    device = envs.detect_device(getattr(args, "device", None))
    # The steps after this one in the same run (execute, claims) use the same device.
    os.environ[envs.DEVICE_VARIABLE] = device
    if not args.force:  # whether each built environment still imports its framework: all at once
        ready = [get(name) for name in names if envs.is_ready(get(name), device)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(ready))) as pool:
            list(pool.map(lambda framework: envs.import_problem(framework, device), ready))
    for name in names:
        framework = get(name)
        start = time.perf_counter()
        built = envs.ensure_env(framework, log=_log, device=device, force=args.force)
        if envs.ensure_kernel(framework, device=device):
            _log(f"{name}: registered kernel {framework.kernel_name} in {sys.prefix}")
        state = f"built in {time.perf_counter() - start:.0f} s" if built else "up to date"
        used = envs.env_device(framework, device)
        note = f", {device} requested: {name} has no CUDA lock" if used != device else ""
        _log(f"{name}: {used} environment {state} ({envs.env_dir(framework, device)}{note})")
    return 0


def cmd_convert(args) -> int:
    """Write the saved modules (library/dlblocks/, from every chapter) and the unexecuted notebooks."""
    chapters = _chapters(args.chapters)
    # Every notebook first: a chapter that cannot be converted leaves every file as it was.
    notebooks = {(chapter.name, name): convert_module.to_notebook(chapter, name)
                 for chapter in chapters for name in chapter.frameworks}
    for change in savedcode.write_modules(_chapters([]) if args.chapters else chapters,
                                          savedcode.saved_dir(NOTEBOOKS)):
        _log(change)
    for chapter in chapters:
        for name in chapter.frameworks:
            target = CONVERTED / name / f"{chapter.name}.ipynb"
            convert_module.write_notebook(notebooks[chapter.name, name], target)
        _log(f"{chapter.name}: converted for {', '.join(chapter.frameworks)}"
             + (f" (omits {', '.join(chapter.omitted)})" if chapter.omitted else ""))
    return 0


def cmd_execute(args) -> int:
    """Execute the changed notebooks, ``args.jobs`` at once; print the summary.

    Raises:
        Interrupted: Ctrl-C, SIGTERM or SIGHUP arrived; the running kernels were stopped, the summary and
            a message saying what under tabs/ changed were printed.
    """
    chapters = _chapters(args.chapters)
    jobs = [(chapter, name) for chapter in chapters for name in chapter.frameworks
            if not args.frameworks or name in args.frameworks]
    results = execute_notebooks(jobs, args)
    for chapter in chapters:
        for name, reason in chapter.omitted.items():
            results.append(execute_module.Result(chapter.name, name, "omitted", error=reason))
    print(summary_table(results))
    failed = [r for r in results if r.status == "failed"]
    if failed:
        print(f"{len(failed)} notebook(s) failed; their previous versions under tabs/ are kept",
              file=sys.stderr)
        return 1
    return 0


def execute_notebooks(jobs: list[tuple[Chapter, str]], args) -> list[execute_module.Result]:
    """Execute each (chapter, framework) of ``jobs`` that changed, ``args.jobs`` at once (with
    ``args.timeout``, ``args.force`` and the output limits of ``args``); return their Results.

    Raises:
        Interrupted: Ctrl-C, SIGTERM or SIGHUP arrived; the running kernels were stopped, the summary and
            a message saying what under tabs/ changed were printed.
    """
    _register_kernels(sorted({name for _, name in jobs}, key=NAMES.index))
    limits = execute_module.Limits(cell=args.max_cell_output, notebook=args.max_notebook_output)
    stop = threading.Event()

    def run(number: int, chapter: Chapter, name: str) -> execute_module.Result:
        if stop.is_set():
            return execute_module.Result(chapter.name, name, "not run")
        _log(f"[{number}/{len(jobs)}] {name}: {chapter.name} ...")
        notebook = convert_module.to_notebook(chapter, name)
        path = convert_module.notebook_path(chapter.name, name)
        result = execute_module.execute(notebook, path, timeout=args.timeout, force=args.force,
                                        limits=limits, stop=stop)
        if stop.is_set() and result.status == "failed":
            # Ctrl-C reaches the whole process group: a check of the environment that it killed
            # is not a broken environment.
            result = execute_module.Result(chapter.name, name, "interrupted", result.seconds,
                                           error=f"{name}: {chapter.name}: stopped; {display_path(path)} is as it was")
        _log(f"[{number}/{len(jobs)}] {name}: {chapter.name} {result.status}"
             + (f" in {result.seconds:.0f} s" if result.status == "executed" else ""))
        for note in result.notes:
            _log(f"{name}: {chapter.name}: {note}")
        if result.error:
            print(result.error, file=sys.stderr)
        return result

    # Each framework runs in its own kernel process, so notebooks can execute side by side.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs))
    futures = [pool.submit(run, number, *job) for number, job in enumerate(jobs, 1)]
    signal_name = None
    try:
        concurrent.futures.wait(futures)
    except KeyboardInterrupt as interrupt:
        signal_name = _signal_name(interrupt)
        stop.set()
        with _signals_ignored(f"{signal_name} received: stopping the kernels, please wait"):
            pool.shutdown(wait=True, cancel_futures=True)
    finally:
        pool.shutdown(wait=True)
    results = [future.result() if not future.cancelled() else execute_module.Result(chapter.name, name, "not run")
               for future, (chapter, name) in zip(futures, jobs)]
    if signal_name:
        print(summary_table(results))
        print(_interrupted_message(signal_name, results), file=sys.stderr)
        raise Interrupted(signal_name)
    return results


def _register_kernels(names: list[str]) -> None:
    """Register the kernel of each framework whose environment is ready, as ``env`` does.

    A new checkout that shares the environment cache has the environments but not the kernels
    in its own ``.venv``; a framework without its environment fails later, with its message.
    """
    for name in names:
        framework = get(name)
        if envs.is_ready(framework) and envs.ensure_kernel(framework):
            _log(f"{name}: registered kernel {framework.kernel_name} in {sys.prefix}")


def _interrupted_message(signal_name: str, results: list[execute_module.Result]) -> str:
    """What an interrupted execution did and did not change under tabs/, in one message."""
    written = [convert_module.notebook_path(r.chapter, r.framework) for r in results if r.status == "executed"]
    stopped = [f"{r.framework}: {r.chapter}" for r in results if r.status == "interrupted"]
    not_run = sum(r.status == "not run" for r in results)
    parts = [f"interrupted by {signal_name}"]
    if stopped:
        parts.append(f"stopped {', '.join(stopped)} and shut down its kernel")
    if not_run:
        parts.append(f"{not_run} notebook(s) not started")
    if written:
        parts.append("written before the interrupt: " + ", ".join(display_path(path) for path in written)
                     + "; every other notebook under tabs/ is as it was")
    else:
        parts.append("no notebook under tabs/ was changed")
    return "; ".join(parts)


def cmd_check(args) -> int:
    found = check_module.problems(NOTEBOOKS)
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        print(f"check failed: {len(found)} problem(s)", file=sys.stderr)
        return 1
    print("check passed: every notebook under tabs/ is its source, executed")
    return 0


def cmd_test(args) -> int:
    """Ensure the environments and Chromium, then run pytest with ``args.pytest_args``, spread
    over one worker per core (:mod:`tabbook.workers`) unless those arguments choose."""
    from . import chromium, workers

    cmd_env(argparse.Namespace(names=[], force=False, device=None))
    chromium.ensure(log=_log)  # the browser tests and the PDF test drive it
    return run_pytest([*workers.options(args.pytest_args, workers.count()), *args.pytest_args])


def cmd_affected(args) -> int:
    """Print what the change since ``args.since`` affects (tabbook.affected), then run it unless
    ``args.plan``: executions and mutations (holding the writer lock), check and the claims
    coverage, then nbval over the affected notebooks and the affected unit test modules, in one
    pytest run over ``args.kernels`` workers. Exit 1 if anything failed."""
    from . import affected

    start = time.perf_counter()
    chapters = _chapters([])
    by_name = {chapter.name: chapter for chapter in chapters}
    plan = affected.make_plan(chapters, ROOT, args.since)
    print(affected.describe(plan), flush=True)
    if args.plan:
        return 0
    problems: list[str] = list(plan.not_killed) + list(plan.broken)
    checked = list(plan.notebooks)
    frameworks = sorted({name for _, name in plan.notebooks}
                        | {item.framework for items in plan.mutations.values() for item in items}, key=NAMES.index)
    missing = [name for name in frameworks if not envs.is_ready(get(name))]
    if missing:
        cmd_env(argparse.Namespace(names=missing, force=False, device=None))
    with _writer_lock("build.py affected"):
        for change in savedcode.write_modules(chapters, savedcode.saved_dir(NOTEBOOKS)):  # as convert does
            _log(f"affected: {change}")
        if plan.refresh:  # cells and key unchanged: execute rewrites the metadata, executing nothing
            _log(f"affected: bringing the metadata of {len(plan.refresh)} notebook(s) up to date (not executed)")
            options = argparse.Namespace(jobs=1, timeout=args.timeout, force=False,
                                         max_cell_output=execute_module.DEFAULT_MAX_CELL_OUTPUT,
                                         max_notebook_output=execute_module.DEFAULT_MAX_NOTEBOOK_OUTPUT)
            results = execute_notebooks([(by_name[chapter], name) for chapter, name in plan.refresh], options)
            problems += [result.error for result in results if result.status == "failed"]
        if plan.notebooks:
            _log(f"affected: executing {len(plan.notebooks)} notebook(s) (those whose key is unchanged are cached)")
            options = argparse.Namespace(jobs=args.kernels, timeout=args.timeout, force=False,
                                         max_cell_output=execute_module.DEFAULT_MAX_CELL_OUTPUT,
                                         max_notebook_output=execute_module.DEFAULT_MAX_NOTEBOOK_OUTPUT)
            results = execute_notebooks([(by_name[chapter], name) for chapter, name in plan.notebooks], options)
            print(summary_table(results))
            failed = [(result.chapter, result.framework) for result in results if result.status == "failed"]
            checked = [key for key in checked if key not in failed]
            problems += [f"{convert_module.notebook_path(*key).relative_to(ROOT)}: execution failed (above); "
                         f"nbval leaves it out" for key in failed]
        early = None
        if plan.mutations and affected.runs_beside_mutations(ROOT, plan.tests):
            # No planned test reads the records the mutations rewrite: the tests and nbval run
            # beside them (check, static, follows the mutations).
            if plan.browser:
                from . import chromium

                chromium.ensure(log=_log)
            _log("affected: the tests and nbval start now, beside the mutations (no planned test reads their records)")
            early = start_pytest(pytest_arguments(list(plan.tests), checked, args.kernels))
        not_killed = []
        try:
            for chapter_name, items in plan.mutations.items():
                chapter = by_name[chapter_name]
                not_killed += run_mutations(chapter, claims_module.load_claims(chapter), None,
                                            {(item.mutation.claim, item.framework) for item in items},
                                            args.kernels, args.timeout)
        except BaseException:
            if early is not None:  # interrupted, or a malformed claims file: the runs beside end first
                finish_pytest(early)
            raise
        for path, outcome in not_killed:
            problems.append(claims_module.outcome_report(outcome, path))
        found = check_module.problems(NOTEBOOKS)  # static: what build.py check and tests/test_check.py assert
        if found:
            problems.append("build.py check fails:\n" + "\n".join(f"  {problem}" for problem in found))
        else:
            _log("affected: check passed: every notebook under tabs/ and every record is its source")
    coverages = [claims_module.coverage(by_name[name], claims_module.load_claims(by_name[name]))
                 for name in plan.chapters]
    if coverages:
        print(claims_module.coverage_table(coverages))
    uncovered = claims_module.coverage_lists(coverages, ("uncovered",))
    if uncovered:
        problems.append(f"asserts without a mutation (give each one, or list it under 'unmutated'):\n{uncovered}")
    if early is not None:
        status = finish_pytest(early)
    else:
        if plan.browser:
            from . import chromium

            chromium.ensure(log=_log)  # the browser tests drive it
        arguments = pytest_arguments(list(plan.tests), checked, args.kernels)
        status = run_pytest(arguments) if arguments else 0
    for problem in problems:
        print(problem, file=sys.stderr)
    _log(f"affected: done in {time.perf_counter() - start:.0f} s: "
         + ("passed" if not problems and status == 0 else
            f"{len(problems)} problem(s) above" + (f", pytest exited {status}" if status else "")))
    return 1 if problems or status else 0


def pytest_arguments(tests: list[str], notebooks: list[tuple[str, str]], count: int) -> list[str]:
    """The arguments of the one pytest run of ``build.py affected``: the unit test modules (or
    node ids) ``tests`` and the notebooks (chapter, framework), spread over ``count`` workers,
    whole files and notebooks per worker (:func:`tabbook.workers.options`); none when there is
    nothing to run."""
    from . import workers

    paths = [str(convert_module.notebook_path(*key).relative_to(ROOT)) for key in notebooks]
    if not tests and not paths:
        return []
    return [*workers.options([], min(count, len(tests) + len(paths))), *tests, *paths]


def start_pytest(arguments: list[str]):
    """Start ``pytest ARGUMENTS`` with its output to a temporary file; :func:`finish_pytest` waits
    for it and prints that output. None when there is nothing to run."""
    if not arguments:
        return None
    command = [sys.executable, "-m", "pytest", *arguments]
    _log(f"pytest, beside the mutations (its output follows when it ends): {' '.join(command)}")
    log = tempfile.TemporaryFile("w+", errors="replace")
    return log, subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                                 text=True)


def finish_pytest(run) -> int:
    """Wait for the run :func:`start_pytest` started, print its output, whole; return its exit code."""
    log, process = run
    try:
        code = process.wait()
        log.seek(0)
        _log(f"--- pytest exited {code} ---\n{log.read()}")
        return code
    finally:
        if process.poll() is None:  # interrupted: the signal reached the group; wait for it
            process.wait()
        log.close()


def run_pytest(arguments: list[str]) -> int:
    """Run ``pytest ARGUMENTS`` in the checkout, its output straight through; return its exit code."""
    command = [sys.executable, "-m", "pytest", *arguments]
    _log(" ".join(command))
    return subprocess.call(command, cwd=ROOT, env=os.environ.copy())


def cmd_bench(args) -> int:
    from . import bench

    bench.check_counts(args.epochs, args.naive_epochs, args.repeats, args.profile_epochs, args.batch_size,
                       args.examples)  # at once, not after the environments
    cmd_env(argparse.Namespace(names=args.frameworks or [], force=False, device=None))
    chapter = read_chapter(bench.CHAPTER)
    frameworks = args.frameworks or NAMES
    # The committed report is one table of every framework and NumPy from one run: a run of some
    # frameworks leaves it as it is (its table is in build/bench/ as always).
    every = set(frameworks) == set(NAMES)
    if not every:
        _log(f"bench: {display_path(bench.RESULTS)} is written only by a run of every framework; "
             f"it stays as it is")
    bench.run(chapter, frameworks, args.epochs, args.naive_epochs, args.batch_size, log=_log,
              repeats=args.repeats, profile=args.profile, profile_epochs=args.profile_epochs,
              report=bench.RESULTS if every else None, examples=args.examples)
    return 0


def cmd_claims(args) -> int:
    """Coverage of the chapters' claims files; with --run, execute every mutation too."""
    strays = check_module.stray_claims(NOTEBOOKS, find_chapters(NOTEBOOKS))
    if strays:  # the same message as check's
        raise BuildError("\n".join(strays))
    chapters = _chapters(args.chapters)
    loaded = [(chapter, claims_module.load_claims(chapter)) for chapter in chapters]
    coverages = [claims_module.coverage(chapter, claims, args.frameworks) for chapter, claims in loaded]
    print(claims_module.coverage_table(coverages))
    lists = claims_module.coverage_lists(coverages)
    if lists:
        print("\n" + lists)
    uncovered = sum(cover.count(name, "uncovered") for cover in coverages for name in cover.frameworks)
    failed = []
    if args.run or args.stale:  # --stale runs too: the stale ones
        frameworks = sorted({name for cover in coverages for name in cover.frameworks}, key=NAMES.index)
        cmd_env(argparse.Namespace(names=frameworks, force=False, device=None))
        for name in frameworks:
            envs.check_env(get(name))
        start = time.perf_counter()
        for chapter, claims in loaded:
            if not claims.mutations:
                continue
            current = claimrecords.keys(chapter, claims)
            only = None
            if args.stale:
                only = {(item.mutation.claim, item.framework) for item in claimrecords.due(chapter, claims, current=current)
                        if item.why in ("missing", "stale")}
            failed += run_mutations(chapter, claims, args.frameworks, only, args.kernels, args.timeout, current)
        _log(f"claims: mutations ran in {time.perf_counter() - start:.1f} s")
        for path, outcome in failed:
            print(claims_module.outcome_report(outcome, path), file=sys.stderr)
    if uncovered:
        print(f"claims: {uncovered} assert(s) are uncovered: give each a mutation, or list it under 'unmutated'",
              file=sys.stderr)
    if failed:
        print(f"claims: {len(failed)} mutation(s) survived or broke: their asserts are not shown to fail",
              file=sys.stderr)
    return 1 if uncovered or failed else 0


def run_mutations(chapter: Chapter, claims, frameworks, only, jobs: int, timeout: int,
                  current: dict | None = None) -> list:
    """Run the mutations of ``chapter`` (those of ``frameworks``, default all; only the (claim,
    framework) pairs in ``only`` unless it is None), ``jobs`` kernels at once, logging each
    outcome, then rewrite the chapter's record with them. ``current`` is
    :func:`tabbook.claimrecords.keys` of the chapter (computed when None). Return (claims file,
    Outcome) for each mutation not killed.

    Raises:
        SourceError: the chapter's record is malformed; OSError: it cannot be written.
    """
    current = claimrecords.keys(chapter, claims) if current is None else current
    outcomes = claims_module.run_all(chapter, claims, frameworks, jobs=jobs, timeout=timeout,
                                     log=lambda outcome: _log(claims_module.outcome_line(outcome)), only=only)
    not_killed = [outcome for outcome in outcomes if outcome.status != "killed"]
    _log(f"{chapter.name}: {len(outcomes) - len(not_killed)} of {len(outcomes)} mutation(s) killed"
         + (" (those whose record was missing or stale)" if only is not None else ""))
    if outcomes or not claimrecords.record_path(chapter).exists():
        _log(f"{chapter.name}: wrote {display_path(claimrecords.update(chapter, claims, outcomes, current))}")
    return [(claims.path, outcome) for outcome in not_killed]


def cmd_lock(args) -> int:
    """Resolve each framework's direct pins for ``args.device`` into its lock (nothing installed)."""
    device = getattr(args, "device", None) or "cpu"
    for name in args.names:
        start = time.perf_counter()
        target = envs.lock(get(name), log=_log, device=device)
        _log(f"{name}: wrote {display_path(target)} in {time.perf_counter() - start:.1f} s")
    return 0


def summary_table(results: list[execute_module.Result]) -> str:
    """A Markdown table, one row per chapter (in book order) and framework: status, seconds, the
    device the notebook recorded, test accuracy."""
    rows = ["| chapter | framework | status | seconds | device | test accuracy |",
            "| --- | --- | --- | ---: | --- | ---: |"]
    order = {name: index for index, name in enumerate(NAMES)}
    chapters = list(dict.fromkeys(result.chapter for result in results))  # the book's order
    for result in sorted(results, key=lambda r: (chapters.index(r.chapter), order[r.framework])):
        accuracy = result.records.get("test_accuracy")
        seconds = f"{result.seconds:.1f}" if result.status in ("executed", "failed", "interrupted") else "-"
        status = result.status if result.status != "omitted" else f"omitted: {result.error}"
        rows.append(f"| {result.chapter} | {get(result.framework).title} | {status} | {seconds} | "
                    f"{result.records.get('device', '-')} | {'-' if accuracy is None else f'{accuracy:.4f}'} |")
    return "\n".join(rows)


def _chapters(names: list[str]) -> list[Chapter]:
    paths = find_chapters(NOTEBOOKS)
    if names:
        known = {path.stem: path for path in paths}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise BuildError(f"no chapter named {', '.join(unknown)}; chapters: {', '.join(known)}")
        paths = [known[name] for name in names]
    return [read_chapter(path) for path in paths]


def _split_test_arguments(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """(what build.py parses, what goes to pytest): everything after the step ``test`` goes to
    pytest verbatim and in its order (argparse would move options such as ``-k x`` behind the
    positional arguments, or take them for its own), less one leading ``--``. ``test`` is the
    step only as the first argument that is neither an option of build.py nor an option's value."""
    takes_value = {option for action in parser._actions if action.option_strings and action.nargs != 0
                   for option in action.option_strings}
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--" or not word.startswith("-") or word == "-":
            break
        index += 2 if word in takes_value else 1
    if index < len(argv) and argv[index] == "test":
        rest = argv[index + 1:]
        return argv[:index + 1], rest[1:] if rest[:1] == ["--"] else rest
    return argv, []


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1 (nbclient reads 0 or less as no limit)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _size(text: str) -> int:
    """An argparse type: a size in characters, at least 1: ``2000``, ``500k`` or ``2M`` (powers of 1000)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 2000, 500k or 2M")
    value = int(match.group(1)) * {"": 1, "k": 1000, "m": 1000_000}[match.group(2).lower()]
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def _log(message: str) -> None:
    print(message, flush=True)
