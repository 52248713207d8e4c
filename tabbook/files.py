"""Atomic file writes (a reader never sees a half-written file, a failed write keeps the old one),
and the scratch folders kernels run in."""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An exception or Ctrl-C at any point leaves ``path`` as it was and removes the temporary file.
    The file gets the mode of the file it replaces, or a new file's mode (0666 less the umask,
    usually 0644), not the 0600 of a temporary file.

    Raises:
        OSError: the folder cannot be made or written (permissions, a full disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~umask()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open("/proc/self/status", encoding="ascii") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    with _UMASK_LOCK:  # elsewhere: set and restore it (other threads' new files could see 0)
        current = os.umask(0o022)
        os.umask(current)
        return current


@contextlib.contextmanager
def kernel_folder(prefix: str = "tabbook-kernel-"):
    """A new, empty temporary folder (a Path) for a kernel to run in, removed with everything in it
    on exit.

    Every tool that executes a notebook (``execute``, ``claims``, ``bench``, nbval through
    ``conftest.py``) starts its kernel here, never in ``tabs/<framework>/``: a cell that writes a
    file by a relative path (``torch.save(x, "x-file")``, ``open("requirements.txt", "a")``)
    must not add a file to the repository or change a committed one. Shut the kernel down before
    leaving the block. A file the cell made undeletable is left behind rather than raised about.
    """
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as folder:
        yield Path(folder)


@contextlib.contextmanager
def kernel_environment(prefix: str = "kernel-"):
    """The environment (a dict: this process's, with ``TMPDIR`` set) for a kernel whose temporary
    files go to a new folder of their own, removed with everything in it on exit.

    A kernel that the build stops with SIGKILL (an interrupted ``execute``, a mutation past its
    timeout) runs no ``atexit`` handler, so a temporary folder that a cell meant to remove at exit
    (a notebook's setup cell writes the library's modules to one) would stay behind; here the build
    removes it. Pass it as ``env=`` to the kernel's start (``client.execute(env=...)``).
    """
    with tempfile.TemporaryDirectory(prefix=prefix + "tmp-", ignore_cleanup_errors=True) as folder:
        yield {**os.environ, "TMPDIR": folder}


class Busy(Exception):
    """Another process holds the lock (:func:`exclusive`); ``holder`` is what it wrote there."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


@contextlib.contextmanager
def exclusive(path: Path, holder: str):
    """Hold an exclusive lock on ``path`` (``fcntl.flock``, made if missing) while in the block,
    with ``holder`` (who holds it: a process id and a command) written in it. The lock ends with
    the process, however it ends, so a killed build leaves none behind.

    Raises:
        Busy: another process holds it (``Busy.holder``: what that process wrote), at once.
        OSError: the file cannot be made or opened.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the last descriptor of the file releases the lock
