"""build.py's command line: the summary table and clear errors for bad arguments."""
from __future__ import annotations

import pytest

from tabbook.cli import main, summary_table
from tabbook.frameworks import NOTEBOOKS, ROOT
from tabbook.source import find_chapters
from tabbook.execute import Result


def test_summary_table_lists_every_chapter_and_framework_in_book_order():
    table = summary_table([
        Result("layers-and-modules", "pytorch", "cached"),
        Result("custom-layers", "tensorflow", "cached", records={"test_accuracy": 0.98, "device": "/CPU:0"}),
        Result("custom-layers", "mxnet", "executed", 21.04, {"test_accuracy": 0.9813, "device": "cpu(0)"}),
        Result("custom-layers", "pytorch", "failed", 3.0, error="boom"),
        Result("custom-layers", "mindspore", "omitted", error="no FFT"),
    ])
    assert table.splitlines() == [
        "| chapter | framework | status | seconds | device | test accuracy |",
        "| --- | --- | --- | ---: | --- | ---: |",
        "| layers-and-modules | PyTorch | cached | - | - | - |",
        "| custom-layers | MXNet | executed | 21.0 | cpu(0) | 0.9813 |",
        "| custom-layers | PyTorch | failed | 3.0 | - | - |",
        "| custom-layers | TensorFlow | cached | - | /CPU:0 | 0.9800 |",
        "| custom-layers | MindSpore | omitted: no FFT | - | - | - |",
    ]


def test_unknown_chapter_is_a_clear_error(capsys):
    assert main(["execute", "custom-layer"]) == 1
    chapters = ", ".join(path.stem for path in find_chapters(NOTEBOOKS))  # in the book's order
    assert capsys.readouterr().err == f"error: no chapter named custom-layer; chapters: {chapters}\n"


def test_unknown_framework_is_a_clear_error(capsys):
    assert main(["env", "pytroch"]) == 1
    assert capsys.readouterr().err == ("error: unknown framework 'pytroch'; "
                                       "choose from mxnet, pytorch, tensorflow, mindspore\n")


def test_the_main_job_takes_its_options_without_naming_it(monkeypatch):
    from tabbook import cli

    seen = {}
    monkeypatch.setattr(cli, "cmd_all", lambda args: seen.update(vars(args)) or 0)
    assert cli.main(["--force", "-f", "pytorch", "--timeout", "30"]) == 0
    assert (seen["force"], seen["frameworks"], seen["timeout"], seen["chapters"]) == (True, ["pytorch"], 30, [])


def test_only_a_bench_of_every_framework_writes_the_committed_report(monkeypatch, capsys):
    """bench/RESULTS.md holds one table of all frameworks: `bench -f mindspore` must not replace it
    with a table of one."""
    from tabbook import bench, cli
    from tabbook.frameworks import NAMES

    calls = []
    monkeypatch.setattr(cli, "cmd_env", lambda args: None)
    monkeypatch.setattr(bench, "run", lambda chapter, frameworks, *args, report=None, **kwargs:
                        calls.append((list(frameworks), report)))
    assert cli.main(["bench", "-f", "mindspore"]) == 0
    assert "written only by a run of every framework" in capsys.readouterr().out
    assert cli.main(["bench"]) == 0
    assert cli.main(["bench", *[arg for name in NAMES for arg in ("-f", name)]]) == 0
    assert calls == [(["mindspore"], None), (list(NAMES), bench.RESULTS), (list(NAMES), bench.RESULTS)]


def test_a_second_writer_in_the_same_checkout_stops_with_a_clear_error(capsys):
    """Two build.py steps that write tabs/ or build/ at once would write the same files: the
    second stops at once, naming the first; read-only steps (check) still run."""
    import subprocess
    import sys
    import time

    from tabbook import cli

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom pathlib import Path\nfrom tabbook import files\n"
        f"with files.exclusive(Path({str(cli.WRITER_LOCK)!r}), 'pid 4242: build.py html'):\n"
        "    print('held', flush=True)\n    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline() == "held\n"
        started = time.monotonic()
        assert cli.main(["html"]) == 1
        assert time.monotonic() - started < 5, "it stops at once, it does not wait"
        err = capsys.readouterr().err
        assert err == ("error: another build.py is writing this checkout (pid 4242: build.py html): wait for it "
                       "to end, or stop it, then run build.py html again\n")
        assert cli.main(["check"]) in (0, 1) and "another build.py" not in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    # The lock ends with its process, however it ended.
    from tabbook import files
    with files.exclusive(cli.WRITER_LOCK, "test"):
        pass


@pytest.mark.parametrize("argv", [["-f", "pytorch", "execute"], ["execute", "-f", "pytorch"],
                                  ["-f", "pytorch", "--force", "--timeout", "5", "execute", "x"]])
def test_options_before_the_step_hold_as_after_it(argv):
    """A step's defaults do not overwrite an option given before it (red team: `build.py -f
    pytorch execute` executed all four frameworks)."""
    from tabbook import cli

    args = cli._parser().parse_args(argv)
    assert args.frameworks == ["pytorch"]
    assert (args.force, args.timeout) == ((True, 5) if "--force" in argv else (False, 600))


def test_the_old_mnist_variable_alone_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("DLBLOCKS_MNIST_DIR", raising=False)
    monkeypatch.setenv("TABBOOK_MNIST_DIR", "/data/mnist")
    assert main(["check"]) == 1
    assert capsys.readouterr().err == ("error: TABBOOK_MNIST_DIR is set, but the notebooks read MNIST's folder from "
                                       "DLBLOCKS_MNIST_DIR now (the readers' library dlblocks): export "
                                       "DLBLOCKS_MNIST_DIR=/data/mnist instead\n")


def test_the_commands_a_test_runs_in_process_hold_a_lock_of_their_own_not_the_checkouts():
    """conftest.py's own_build_outputs: under pytest-xdist, a worker's in-process `cli.main(["execute", ...])`
    must not stop another worker's as a second build of the checkout."""
    from tabbook import cli

    assert not cli.WRITER_LOCK.is_relative_to(ROOT) and not cli.CONVERTED.is_relative_to(ROOT)
    assert cli.WRITER_LOCK.parent == cli.CONVERTED.parent


@pytest.mark.parametrize("option, value, message", [
    ("--examples", "0", "bench: examples must be at least 1, not 0"),
    ("--examples", "60001", "bench: examples must be at most 60000 (MNIST's training images), not 60001"),
    ("--epochs", "1", "bench: epochs must be at least 2, not 1")])
def test_a_bad_bench_count_is_refused_before_the_environments_are_checked(monkeypatch, capsys, option, value, message):
    from tabbook import cli

    monkeypatch.setattr(cli, "cmd_env", lambda args: pytest.fail("the environments were checked first"))
    assert cli.main(["bench", option, value]) == 1
    assert capsys.readouterr().err == f"error: {message}" + (
        ": the first epoch of each run is a warm-up, left out of s/epoch\n" if option == "--epochs" else "\n")
