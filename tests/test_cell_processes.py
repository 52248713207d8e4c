"""A cell ends with its notebook (issue 24): every process a cell starts, also in a new session
or by a fork and ``setsid``, is gone when its kernel is, in ``execute``, ``claims --run``, nbval
and ``bench``; and no kernel holds the build's standard output or error, so ``out=$(build.py
execute)`` returns as soon as the build is done (tabbook/reaper.py).

Each run goes through a throwaway copy of the project (tests/project.py), whose processes carry a
marker in their environment: ``Project.leftovers()`` lists those still running.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tabbook import bench, reaper
from tabbook.frameworks import ROOT

from .conftest import cell
from .project import make_project, marked_processes

#: A cell that leaves three processes behind and writes to the kernel's own output.
LEAVES = "\n".join([
    "import os, subprocess, time",
    "subprocess.Popen(['sleep', '4242'], start_new_session=True)  # a session of its own",
    "if os.fork() == 0:  # a forked copy of the kernel, a daemon in its own session",
    "    os.setsid()",
    "    if os.fork() == 0:",
    "        time.sleep(4243)",
    "    os._exit(0)",
    "os.system('echo kernel-fd-1; echo kernel-fd-2 >&2')",
    "fds = os.readlink('/proc/self/fd/1'), os.readlink('/proc/self/fd/2')",
    "print('kernel fds:', *fds, sep='|')",
])


def test_execute_ends_what_a_cell_started_and_never_holds_the_builds_output(tmp_path):
    project = make_project(tmp_path)
    project.write_chapter(cell("[pytorch]", LEAVES), cell("[pytorch]", "x = 1\nassert x == 1"))
    start = time.monotonic()
    done = project.run("execute", "-f", "pytorch", timeout=240)  # stdout is a pipe, read to its end
    seconds = time.monotonic() - start
    assert done.returncode == 0, done.stdout
    assert "kernel-fd-1" not in done.stdout and "kernel-fd-2" not in done.stdout, done.stdout
    notebook = json.loads((project.tabs / "pytorch" / "chap.ipynb").read_text())
    printed = "".join("".join(output.get("text", "")) for c in notebook["cells"] for output in c.get("outputs", []))
    fds = re.search(r"kernel fds:\|(.*)\|(.*)", printed).groups()  # a log file of the build, or /dev/null
    assert not any(fd.startswith(("pipe:", "socket:", "/dev/pts", "/dev/tty")) for fd in fds), fds
    assert project.leftovers() == [], f"left behind after {seconds:.0f} s"


def test_a_cell_that_kills_its_reaper_leaves_nothing_either(tmp_path):
    project = make_project(tmp_path)
    project.write_chapter(cell("[pytorch]", "import os, signal, subprocess, time\n"
                                            "subprocess.Popen(['sleep', '4244'], start_new_session=True)\n"
                                            "os.kill(os.getppid(), signal.SIGKILL)  # the reaper\n"
                                            "time.sleep(30)"))
    done = project.run("execute", "-f", "pytorch", timeout=240)
    assert done.returncode == 1, done.stdout
    assert "killed the kernel" in done.stdout and "Traceback (most recent call last)" not in done.stdout.split(
        "killed the kernel")[0]
    assert project.leftovers() == []


def test_claims_run_ends_what_a_mutated_cell_started(tmp_path):
    project = make_project(tmp_path)
    project.write_chapter(cell("[pytorch]", LEAVES + "\nx = 1\nassert x == 1"))
    (project.root / "notebooks" / "chap.claims.yml").write_text(
        "mutations:\n  - claim: x is one\n    replace: [['x = 1', 'x = 2']]\n    fails: 'x == 1'\n")
    done = project.run("claims", "--run", "-f", "pytorch", timeout=240)
    assert done.returncode == 0, done.stdout
    assert "1 of 1 mutation(s) killed" in done.stdout
    assert "kernel-fd-1" not in done.stdout
    assert project.leftovers() == []


def test_nbval_ends_what_a_cell_started(tmp_path):
    project = make_project(tmp_path)
    project.write_chapter(cell("[pytorch, nbval-ignore-output]", LEAVES))  # its fds differ from execute's
    assert project.run("execute", "-f", "pytorch", timeout=240).returncode == 0
    assert project.leftovers() == []
    # This checkout's conftest.py (its one hook makes the session a subreaper) and kernels.
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-c", str(ROOT / "pytest.ini"),
                           "--rootdir", str(ROOT), "-q", "--nbval-sanitize-with", str(ROOT / "tests" / "sanitize.cfg"),
                           str(project.tabs / "pytorch" / "chap.ipynb")],
                          cwd=ROOT, env=project.env(), capture_output=True, text=True, timeout=300)
    assert re.search(r"\b[1-9]\d* passed", done.stdout), done.stdout + done.stderr
    assert "kernel-fd-1\n" not in done.stdout + done.stderr
    assert project.leftovers() == []


def _bench_script(monkeypatch, source: str) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    monkeypatch.setattr(bench, "bench_notebook", lambda chapter, framework, params: notebook)


def test_the_bench_script_ends_what_it_started(monkeypatch, tmp_path):
    marker = f"tabbook-bench-test-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("TABBOOK_TEST_MARKER", marker)
    _bench_script(monkeypatch, LEAVES + '\nimport json\nprint("BENCH_RESULT " + json.dumps({"variants": {"custom": 1}}))')
    start = time.monotonic()
    assert bench.run_script(None, "pytorch", {}, timeout=120) == {"custom": 1}
    assert time.monotonic() - start < 60
    time.sleep(0.5)
    assert marked_processes(marker) == []


def test_a_bench_script_past_its_timeout_ends_with_what_it_started(monkeypatch):
    marker = f"tabbook-bench-test-{os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv("TABBOOK_TEST_MARKER", marker)
    _bench_script(monkeypatch, "import subprocess, time\nsubprocess.Popen(['sleep', '4245'], start_new_session=True)\n"
                               "time.sleep(600)")
    with pytest.raises(bench.BuildError, match="ran longer than 3 s"):
        bench.run_script(None, "pytorch", {}, timeout=3)
    deadline = time.monotonic() + 10  # the reaper stops the script (2 s grace), then what it started
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marked_processes(marker) == []


# The reaper alone, with a stand-in for a kernel (no framework needed).

def test_the_reaper_passes_on_the_status_and_gives_the_command_no_pipe(tmp_path):
    log = tmp_path / "log"
    with open(log, "w") as file:
        done = subprocess.run([sys.executable, "-m", "tabbook.reaper", "sh", "-c",
                               "echo to-the-log; readlink /proc/self/fd/0; exit 3"],
                              cwd=ROOT, stdout=file, stderr=file, timeout=60)
    assert done.returncode == 3
    assert log.read_text() == "to-the-log\n/dev/null\n"
    piped = subprocess.run([sys.executable, "-m", "tabbook.reaper", "sh", "-c", "echo lost; readlink /proc/self/fd/1"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "", "")


def test_the_reaper_forwards_a_stop_and_kills_a_command_that_ignores_it(tmp_path):
    marker = f"tabbook-reaper-test-{time.monotonic_ns()}"
    process = subprocess.Popen([sys.executable, "-m", "tabbook.reaper", sys.executable, "-c",
                                "import signal, subprocess, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                "subprocess.Popen(['sleep', '4246'], start_new_session=True)\ntime.sleep(600)"],
                               cwd=ROOT, env={**os.environ, "TABBOOK_TEST_MARKER": marker}, start_new_session=True)
    deadline = time.monotonic() + 30
    while len(marked_processes(marker)) < 4 and time.monotonic() < deadline:  # keeper, reaper, command, sleep
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGTERM)  # as Jupyter stops a kernel: the keeper's whole group
    process.wait(timeout=30)
    time.sleep(reaper.STOP_GRACE + 1)
    assert marked_processes(marker) == []


def test_a_timed_out_mutation_prints_no_asyncio_noise(tmp_path):
    project = make_project(tmp_path)
    project.write_chapter(cell("[pytorch]", "import time\nx = 1\nassert x == 1"))
    (project.root / "notebooks" / "chap.claims.yml").write_text(
        "mutations:\n  - claim: x is one\n    replace: [['x = 1', 'time.sleep(60); x = 1']]\n    fails: 'x == 1'\n")
    done = project.run("claims", "--run", "-f", "pytorch", "--timeout", "3", timeout=240)
    assert done.returncode == 1, done.stdout
    assert "ran longer than its timeout of 3 s" in done.stdout, done.stdout
    for noise in ("Task was destroyed", "Task exception was never retrieved", "was never awaited", "Traceback",
                  "Exception ignored", "asyncio"):
        assert noise not in done.stdout, done.stdout
    assert project.leftovers() == []
