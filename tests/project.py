"""A throwaway checkout of this project, for running the real ``build.py`` in a subprocess.

The copy holds ``build.py``, ``tabbook/``, the locks and one tiny chapter. Its ``.venv`` is a
bare venv that imports the tooling of the running interpreter (a ``.pth`` file) and carries
``build.py``'s stamp, so ``build.py`` runs there without installing anything, exactly as in a new
checkout that shares the framework environments (``~/.cache/tabbook/envs``): it has no kernel of
its own until a command registers one, and registering one never touches this checkout's.

Each run gets its own ``TMPDIR`` and Jupyter runtime folder, and a marker in its environment
that every process it starts inherits, so that a test can prove none is left behind.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

from tabbook.frameworks import LIBRARY_MODULES, NAMES, ROOT

from .conftest import FRONT, cell, chapter_text

#: A chapter that only PyTorch runs (the frameworks' kernels all start in about a second).
ONLY_PYTORCH = FRONT.replace("---\n", "---\ntabbook:\n  omit:\n    mxnet: short\n    tensorflow: short\n"
                                      "    mindspore: short\n", 1)
GOOD = b'{"a previously good notebook": "kept byte for byte"}\n'


@dataclasses.dataclass
class Project:
    """A copy of the project in ``root``; :meth:`start` runs its ``build.py``."""

    root: Path
    scratch: Path  # TMPDIR and the Jupyter runtime folder of its runs live here
    marker: str

    @property
    def tabs(self) -> Path:
        return self.root / "tabs"

    def write_chapter(self, *cells: str, name: str = "chap") -> Path:
        """Write ``notebooks/<name>.md`` with ``cells`` (PyTorch only) and a good old notebook for it."""
        path = self.root / "notebooks" / f"{name}.md"
        path.write_text(chapter_text(*cells, front=ONLY_PYTORCH))
        (self.tabs / "pytorch" / f"{name}.ipynb").write_bytes(GOOD)
        return path

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key not in ("JUPYTER_PATH", "JUPYTER_DATA_DIR", "VIRTUAL_ENV", "PYTHONPATH")}
        env.update(TMPDIR=str(self.scratch / "tmp"), JUPYTER_RUNTIME_DIR=str(self.scratch / "runtime"),
                   TABBOOK_TEST_MARKER=self.marker, PYTHONUNBUFFERED="1")
        return env

    def start(self, *args: str, **kwargs) -> subprocess.Popen:
        """Start ``build.py ARGS`` in the copy; stdout and stderr are merged into ``.stdout``."""
        return subprocess.Popen([str(self.root / ".venv" / "bin" / "python"), str(self.root / "build.py"), *args],
                                cwd=self.root, env={**self.env(), **kwargs.pop("env", {})},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)

    def run(self, *args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        process = self.start(*args, **kwargs)
        try:
            out, _ = process.communicate(timeout=timeout)
        finally:
            stop(process)
        return subprocess.CompletedProcess(process.args, process.returncode, out)

    def leftovers(self) -> list[str]:
        """Processes still running with this project's marker, and files left in its scratch
        folders or as temporary files under ``tabs/``: all should be empty after a run."""
        found = [f"process {pid}: {command}" for pid, command in marked_processes(self.marker)]
        found += [str(path) for folder in ("tmp", "runtime") for path in (self.scratch / folder).rglob("*")]
        found += [str(path) for path in self.tabs.rglob("*.tmp")]
        return found


def make_project(tmp_path: Path) -> Project:
    """A copy of this project in ``tmp_path / 'project'`` with a bare, stamped ``.venv``."""
    root = tmp_path / "project"
    shutil.copytree(ROOT / "tabbook", root / "tabbook", ignore=shutil.ignore_patterns("__pycache__"))
    # The reader's library without the modules saved from this book's chapters (the copy has its own).
    (root / "library" / "dlblocks").mkdir(parents=True)
    for name in ("__init__", *LIBRARY_MODULES):
        shutil.copy(ROOT / "library" / "dlblocks" / f"{name}.py", root / "library" / "dlblocks")
    for name in ("build.py", "requirements.txt", "requirements.in"):
        shutil.copy(ROOT / name, root / name)
    for name in NAMES:
        (root / "tabs" / name).mkdir(parents=True)
        shutil.copy(ROOT / "tabs" / name / "requirements.txt", root / "tabs" / name)
    (root / "notebooks").mkdir()
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    # addsitedir, not a plain path line: the tooling's own .pth files must be read too.
    (site / "tabbook-tooling.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    (venv / ".tabbook-complete").write_text(hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest() + "\n")
    scratch = tmp_path / "scratch"
    for folder in ("tmp", "runtime"):
        (scratch / folder).mkdir(parents=True)
    return Project(root, scratch, f"tabbook-test-{uuid.uuid4().hex}")


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every running process whose environment holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
                if "zombie" not in state:
                    found.append((int(entry.name), command.strip()))
        except (OSError, StopIteration):
            continue  # gone, or not ours to read
    return found


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll ``predicate`` every 0.1 s; fail naming ``what`` after ``timeout`` s or if ``process`` ends."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"build.py ended (exit {process.returncode}) before {what}:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s")
        time.sleep(0.1)


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory (VmHWM) of a running process, in MiB; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def stop(process: subprocess.Popen) -> None:
    """Kill ``process`` if a failed test left it running (its kernels then show as leftovers)."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait()


def snapshot(folder: Path) -> dict[str, tuple[bytes, str]]:
    """Every file under ``folder`` with its bytes and mode, to compare before and after a run."""
    return {str(path.relative_to(folder)): (path.read_bytes(), oct(path.stat().st_mode))
            for path in sorted(folder.rglob("*")) if path.is_file()}
