"""Ctrl-C, SIGTERM and SIGHUP during the real ``build.py execute``: a prompt stop, nothing changed that
was not finished, a true message, no kernel and no temporary file left behind."""
from __future__ import annotations

import signal
import time

import pytest

from .conftest import cell
from .project import GOOD, make_project, snapshot, stop, wait_for

# It imports the reader's library, which its setup cell writes to a temporary folder that it removes
# at exit: a stopped kernel runs no exit handler, so the build removes its kernel's temporary folder.
SLEEPS = "from dlblocks.data import ENV_VAR\nimport pathlib, time\npathlib.Path({mark!r}).touch()\ntime.sleep(120)"
# A cell that swallows the interrupt: the kernel must be shut down regardless.
IGNORES = ("import pathlib, time\npathlib.Path({mark!r}).touch()\nwhile True:\n"
           "    try:\n        time.sleep(120)\n    except KeyboardInterrupt:\n        pass")


@pytest.mark.parametrize("signal_name, body, code", [
    ("SIGINT", SLEEPS, 130),
    ("SIGTERM", SLEEPS, 143),
    ("SIGHUP", SLEEPS, 129),
    ("SIGINT", IGNORES, 130),
], ids=["ctrl-c", "sigterm", "sighup", "ctrl-c-ignored-by-the-cell"])
def test_a_signal_stops_the_running_cell_and_changes_only_what_finished(tmp_path, signal_name, body, code):
    project = make_project(tmp_path)
    mark = tmp_path / "cell-is-running"
    project.write_chapter(cell("[pytorch]", "print('done')"), name="a")  # runs to the end first
    project.write_chapter(cell("[pytorch]", "print('ready')"), cell("[pytorch]", body.format(mark=str(mark))), name="b")
    before = snapshot(project.tabs)
    process = project.start("execute", "-f", "pytorch")
    try:
        wait_for(mark.exists, 90, "running cell", process)
        process.send_signal(getattr(signal, signal_name))
        sent = time.monotonic()
        out, _ = process.communicate(timeout=30)
        seconds = time.monotonic() - sent
    finally:
        stop(process)
    print(f"{signal_name}: build.py ended {seconds:.1f} s after the signal")
    assert process.returncode == code, out
    assert seconds < 8, out  # interrupt, at most execute.INTERRUPT_GRACE (2 s), shut down
    assert "Traceback" not in out and "Task was destroyed" not in out
    assert "pytorch: b: stopped at cell 4 (source notebooks/b.md:21); tabs/pytorch/b.ipynb is as it was" in out
    assert (f"interrupted by {signal_name}; stopped pytorch: b and shut down its kernel; written before the "
            "interrupt: tabs/pytorch/a.ipynb; every other notebook under tabs/ is as it was") in out
    assert "| b | PyTorch | interrupted |" in out
    after = snapshot(project.tabs)
    assert after.pop("pytorch/a.ipynb")[0] != GOOD  # executed before the signal, and said so
    before.pop("pytorch/a.ipynb")
    assert after == before  # byte for byte, and mode
    assert project.leftovers() == []


def test_a_signal_before_any_kernel_started_changes_nothing(tmp_path):
    project = make_project(tmp_path)
    # A cell that cannot finish before the signal: with a quick one the kernel could start and run the
    # whole notebook between the connection file's appearance and the signal (seen on CI).
    project.write_chapter(cell("[pytorch]", "import time\ntime.sleep(120)\nprint('never')"))
    before = snapshot(project.tabs)
    process = project.start("execute", "-f", "pytorch")
    try:
        # The kernel's connection file appears in TMPDIR as its process starts.
        wait_for(lambda: any(project.scratch.joinpath("tmp").glob("*.json")), 90, "kernel connection file", process)
        process.send_signal(signal.SIGTERM)  # the kernel is starting, no cell has run
        out, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 143, out
    assert "Traceback" not in out and "Task was destroyed" not in out, out
    assert "no notebook under tabs/ was changed" in out, out
    assert snapshot(project.tabs) == before
    assert project.leftovers() == []
