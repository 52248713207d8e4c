"""Every process a cell starts ends with its kernel (Linux), and no kernel holds the build's output.

A cell can start processes that outlive it: ``subprocess.Popen(["sleep", "4242"],
start_new_session=True)``, ``os.fork()`` then ``os.setsid()``, a daemon's double fork. Left
running they would keep the build's standard output open (``out=$(build.py execute)`` would hang
until they die) and use the machine after the build says it is done. So every kernel the book
starts (``execute``, ``claims --run``, ``bench`` and nbval in ``test``, all through the
kernelspec :func:`tabbook.envs.kernel_spec` writes) runs under this module:
``python -m tabbook.reaper KERNEL-COMMAND...``.

* The process Jupyter starts (the *keeper*, leader of the kernel's new process group) forks the
  *reaper*, which leaves that group, makes itself a child subreaper
  (``prctl(PR_SET_CHILD_SUBREAPER)``: a process below it whose parent dies is re-parented to it,
  not to init) and starts the kernel in the keeper's group. Jupyter's signals to the kernel's
  group (an interrupt, and the SIGKILL of a forced shutdown) reach the keeper and the kernel,
  never the reaper.
* When the kernel ends, however it ends, the reaper kills (SIGKILL) every process left below it,
  whatever its session or group, waits for them, and ends; the keeper ends with it, with the
  kernel's exit status, which is how Jupyter sees the kernel end. Should the process that
  started the kernel die without shutting it down (the keeper's parent changes, as ipykernel's
  own parent poller would notice), the keeper asks the reaper to stop the kernel (SIGTERM, then
  SIGKILL after :data:`STOP_GRACE` seconds); so does the reaper when the keeper alone is killed
  (``subprocess.run``'s timeout).
* The kernel's standard input is /dev/null; its standard output and error are what Jupyter gave
  the keeper only where that is a regular file (a log the build reads), else /dev/null: a pipe
  or a terminal of the build is never inherited by the kernel or anything it starts.
* The kernel's environment names the reaper (``TABBOOK_REAPER=<pid>``). The build process is a
  child subreaper too (:func:`become_subreaper`, called by ``build.py`` and by the tests'
  ``conftest.py``): should the reaper itself be killed, what it leaves comes to the build, which
  kills the processes whose reaper is gone after each kernel (:func:`reap_orphans`), and every
  process still its child when it exits (:func:`kill_leftovers`).

Elsewhere than Linux the module only runs the kernel. Standard library only: it runs in the
framework environments' Python.
"""
from __future__ import annotations

import atexit
import os
import signal
import stat
import subprocess
import sys
import time

VARIABLE = "TABBOOK_REAPER"
#: The reaper's process name (what ``ps`` and /proc/<pid>/comm show), also once it is a zombie.
NAME = b"tabbook-reaper"
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
#: Seconds the reaper keeps killing what is left (a process that forks as fast as it is killed).
KILL_FOR = 10.0
#: Seconds between two looks at the kernel and at the process that started it.
POLL = 0.1
#: Seconds a kernel asked to stop (SIGTERM, SIGHUP) has before it is killed.
STOP_GRACE = 2.0
_SUBREAPER = False


def _prctl(option: int, value) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux) and, once per process, kill at exit the
    processes still its children (:func:`kill_leftovers`). Return whether it is one."""
    global _SUBREAPER
    if not _SUBREAPER and _prctl(PR_SET_CHILD_SUBREAPER, 1):
        _SUBREAPER = True
        atexit.register(kill_leftovers)
    return _SUBREAPER


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (from /proc; none elsewhere)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _comm(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/comm", "rb") as comm:
            return comm.read().strip()
    except OSError:
        return b""


def _marker(pid: int) -> int | None:
    """The reaper named in the environment of process ``pid``, or None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            for item in environ.read().split(b"\0"):
                if item.startswith(VARIABLE.encode() + b"="):
                    return int(item.split(b"=", 1)[1] or 0)
    except (OSError, ValueError):
        pass
    return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def kill_below(pid: int, keep=lambda child: False, deadline: float = KILL_FOR) -> int:
    """SIGKILL the children of ``pid`` (this process's, so that it can wait for them) that
    ``keep`` does not keep, again and again as their own children come to it (it is a
    subreaper), until none is left or ``deadline`` seconds passed; return how many it killed."""
    killed = 0
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        targets = [child for child in children(pid) if not keep(child)]
        if not targets:
            break
        for child in targets:
            try:
                os.kill(child, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        for child in targets:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
    return killed


def _orphan(pid: int) -> bool:
    """Whether process ``pid`` was started below a reaper that is gone (its environment says which)."""
    reaper = _marker(pid)
    return reaper is not None and not _alive(reaper)


def reap_orphans() -> int:
    """Kill the processes that a kernel left to this process, re-parented here because their
    reaper was killed (their environment names a reaper that is gone), and what they started;
    wait for reapers that ended here. Return how many were killed."""
    me = os.getpid()
    for child in children(me):
        if _comm(child) == NAME and not _alive(child):
            try:
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass
    return kill_below(me, keep=lambda pid: not _orphan(pid))


def kill_leftovers() -> int:
    """When the build ends: kill every process that is still its child (a kernel's leftover that
    came to it, a reaper), and what those started. Return how many were killed."""
    return kill_below(os.getpid())


def _quiet(fd: int) -> int:
    """``fd`` where it is a regular file (a log that the build reads), else /dev/null."""
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return os.dup(fd)
    except OSError:
        pass
    return os.open(os.devnull, os.O_WRONLY)


def _nothing(signum, frame) -> None:
    """A signal handler that does nothing (unlike SIG_IGN, a program started later does not inherit it)."""


def main(argv: list[str]) -> int:
    """Run the command ``argv`` (a kernel) as the module says; return its exit status."""
    if not argv:
        print("usage: python -m tabbook.reaper COMMAND [ARGUMENT...]", file=sys.stderr)
        return 2
    out, err = _quiet(1), _quiet(2)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the keeper holds nothing of the build's
        os.dup2(null, fd)
    if not sys.platform.startswith("linux"):
        return subprocess.call(argv, stdin=null, stdout=out, stderr=err)
    group = os.getpgrp()  # the keeper's process group (its own, where Jupyter started it in a new session)
    signal.signal(signal.SIGINT, _nothing)  # Jupyter's interrupt goes to the whole group: it is the kernel's
    parent = os.getppid()
    reaper = os.fork()
    if reaper:
        os.close(out)
        os.close(err)
        while True:
            done, status = os.waitpid(reaper, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1
            if os.getppid() != parent:  # the process that started the kernel is gone: so is the kernel
                parent = os.getppid()
                os.kill(reaper, signal.SIGTERM)
            time.sleep(POLL)
    os._exit(_reap(argv, group, null, out, err))


def _reap(argv: list[str], group: int, null: int, out: int, err: int) -> int:
    """The reaper's part of :func:`main` (in the forked child): start the kernel in the keeper's
    process group, wait for it, kill what is left; return the kernel's status for the keeper."""
    os.setpgid(0, 0)  # out of the kernel's group: Jupyter's SIGKILL to it does not reach here
    _prctl(PR_SET_NAME, NAME)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    environment = dict(os.environ, **{VARIABLE: str(os.getpid())})
    try:
        kernel = subprocess.Popen(argv, stdin=null, stdout=out, stderr=err, env=environment,
                                  process_group=group)
    except OSError as error:  # the keeper already died, or the command cannot run
        os.write(err, f"tabbook.reaper: cannot start {argv[0]}: {error}\n".encode())
        return 127
    finally:
        os.close(out)
        os.close(err)

    stopping: list[float] = []

    def forward(signum, frame):
        stopping.append(time.monotonic())
        try:
            kernel.send_signal(signum)
        except ProcessLookupError:
            pass

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, forward)
    signal.signal(signal.SIGINT, _nothing)
    keeper = os.getppid()
    while True:
        try:
            code = kernel.wait(timeout=POLL)
            break
        except subprocess.TimeoutExpired:
            if not stopping and os.getppid() != keeper:  # the keeper was killed alone: stop the kernel
                forward(signal.SIGTERM, None)
            if stopping and time.monotonic() - stopping[0] > STOP_GRACE:
                kernel.kill()  # asked to stop, and it did not
    kill_below(os.getpid())
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
