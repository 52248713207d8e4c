"""One virtual environment and one Jupyter kernel per framework and device.

The frameworks cannot share an environment (mxnet 1.9.1 needs numpy 1.23.5, TensorFlow 2.21 and
MindSpore 2.10 need numpy >= 1.25), so each gets a venv built from its lock,
``tabs/<framework>/requirements.txt``, or on a machine with an NVIDIA GPU from its CUDA lock,
``tabs/<framework>/requirements-cuda.txt`` where the framework has one (:func:`detect_device`).
Environments live outside the checkout, in ``$TABBOOK_ENVS`` (default ``~/.cache/tabbook/envs``),
in a folder named by the framework, the device (CUDA only: ``pytorch-cuda-<hash>``; CPU
environments keep their name ``pytorch-<hash>``) and the sha256 of the lock and Python version:
a changed lock makes a new environment, an unchanged one is reused (by any checkout, CI's clean
clones included). A finished environment carries a stamp file; a folder without one is a broken
or interrupted install and is rebuilt.

Environments are installed with uv (``uv pip sync``: exactly the lock, nothing else) where it
runs, else with pip (:mod:`tabbook.installers`). The kernel ``dlblocks-<framework>`` is registered
in the tooling environment (``sys.prefix``), where Jupyter, nbclient and nbval find it; it runs
the environment of the chosen device. Its ``PYTHONPATH`` names this checkout, for the build's own
code that runs beside a kernel (``python -m tabbook.reaper``); a notebook imports nothing from it
(its setup cell carries the readers' library, and nbval runs it in a kernel without the checkout).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from . import installers
from .errors import BuildError, display_path
from .files import atomic_write_text
from .frameworks import ROOT, Framework

STAMP = ".tabbook-complete"
PYTHON = "python3.11"
DEVICES = ("cpu", "cuda")
#: What Python's venv installs itself (pip; setuptools before 3.12): left out of the locks.
VENV_PACKAGES = frozenset({"pip", "setuptools", "wheel"})
#: The environment variable that chooses the device, like ``build.py env --device``.
DEVICE_VARIABLE = "TABBOOK_DEVICE"


def detect_device(requested: str | None = None) -> str:
    """The device the environments are built for: ``requested`` (``build.py env --device``),
    else ``$TABBOOK_DEVICE``, else ``"cuda"`` where ``nvidia-smi -L`` lists a GPU, else ``"cpu"``.

    Raises:
        BuildError: ``requested`` or ``$TABBOOK_DEVICE`` is not one of :data:`DEVICES`.
    """
    for value, where in ((requested, "--device"), (os.environ.get(DEVICE_VARIABLE), DEVICE_VARIABLE)):
        if value:
            if value not in DEVICES:
                raise BuildError(f"{where}={value!r} is not a device; choose one of {', '.join(DEVICES)}")
            return value
    return "cuda" if gpu_present() else "cpu"


@functools.cache
def gpu_present() -> bool:
    """True when ``nvidia-smi -L`` (on PATH) runs and lists at least one GPU (asked once per process)."""
    command = shutil.which("nvidia-smi")
    if not command:
        return False
    try:
        result = subprocess.run([command, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and any(line.startswith("GPU ") for line in result.stdout.splitlines())


def current_device() -> str:
    """:func:`detect_device` without a request: ``$TABBOOK_DEVICE`` or what the machine has."""
    return detect_device(None)


def lock_source(framework: Framework, device: str = "cpu") -> Path:
    """The direct pins the device's lock is made from: ``requirements.in`` or ``requirements-cuda.in``."""
    return framework.tab_dir / ("requirements-cuda.in" if device == "cuda" else "requirements.in")


def env_device(framework: Framework, device: str | None = None) -> str:
    """The device whose lock the framework uses on ``device`` (default :func:`current_device`):
    ``"cuda"`` only where the framework has a CUDA lock (MindSpore has none: its one wheel is used)."""
    device = device or current_device()
    return "cuda" if device == "cuda" and lock_source(framework, "cuda").is_file() else "cpu"


def lock_file(framework: Framework, device: str | None = None) -> Path:
    """The lock the framework's environment is built from on ``device`` (see :func:`env_device`)."""
    if env_device(framework, device) == "cuda":
        return framework.tab_dir / "requirements-cuda.txt"
    return framework.requirements


def envs_root() -> Path:
    """The folder holding the framework environments: ``$TABBOOK_ENVS`` or ``~/.cache/tabbook/envs``."""
    return Path(os.environ.get("TABBOOK_ENVS") or Path.home() / ".cache" / "tabbook" / "envs")


def requirements_hash(framework: Framework, device: str | None = None) -> str:
    """sha256 (hex) of the framework's lock file for ``device`` and the interpreter version that builds it."""
    digest = hashlib.sha256(lock_file(framework, device).read_bytes())
    digest.update(PYTHON.encode())
    return digest.hexdigest()


def env_dir(framework: Framework, device: str | None = None) -> Path:
    """The environment folder for the framework's current lock on ``device``: ``<name>-<hash>`` on
    the CPU (the names of the environments before devices existed), ``<name>-cuda-<hash>``."""
    infix = "-cuda" if env_device(framework, device) == "cuda" else ""
    return envs_root() / f"{framework.name}{infix}-{requirements_hash(framework, device)[:12]}"


def env_python(framework: Framework, device: str | None = None) -> Path:
    """The Python interpreter of the framework's environment (it may not exist yet)."""
    return env_dir(framework, device) / "bin" / "python"


def is_ready(framework: Framework, device: str | None = None) -> bool:
    """True when the environment for the current lock was built to the end."""
    return (env_dir(framework, device) / STAMP).is_file() and env_python(framework, device).exists()


def ensure_env(framework: Framework, log=print, device: str | None = None, force: bool = False) -> bool:
    """Build the framework's environment for ``device`` unless it is ready and imports its
    framework (:func:`import_problem`), or when ``force``; return True if it was built.

    The venv comes from Python 3.11's ``venv`` (with its own pip and setuptools), the lock is
    installed into it by uv, or by pip where uv cannot run (:func:`tabbook.installers.create`).
    Several checkouts share the environments: the folder is built under its lock
    (:func:`building`), so that a second build of the same folder waits for the first and then
    finds it ready, and an installer left running by a build that was killed is waited for.

    Raises:
        BuildError: the venv or the install failed; the message holds the installer's last lines and
            the command to retry.
    """
    folder = env_dir(framework, device)
    if not force and is_ready(framework, device) and import_problem(framework, device) is None:
        return False
    with building(folder, log, prefix=f"{framework.name}: "):
        if not force and is_ready(framework, device):  # another checkout built it while this one waited
            problem = import_problem(framework, device)
            if problem is None:
                return False
            log(f"{framework.name}: {folder} is complete but does not import {_module(framework)} ({problem}): "
                "building it again")
        lock = lock_file(framework, device)
        if folder.exists():
            log(f"{framework.name}: removing unfinished environment {folder}")
            shutil.rmtree(folder)
        log(f"{framework.name}: creating {folder} from {display_path(lock)}")
        try:
            installers.create(folder, _base_python(), lock, env_device(framework, device), log=log,
                              prefix=f"{framework.name}: ")
        except BuildError as error:
            raise BuildError(f"{framework.name}: {error}\nfix the cause, then run: python build.py env "
                             f"{framework.name}") from None
        (folder / STAMP).write_text(json.dumps({"lock_sha256": requirements_hash(framework, device),
                                                "device": env_device(framework, device)}) + "\n")
    return True


@contextlib.contextmanager
def building(folder: Path, log=print, prefix: str = ""):
    """Hold the lock of the environment ``folder`` (``<folder>.lock`` beside it, ``flock``)
    while in the block, waiting (and saying so) while another process holds it. The installers
    started in the block inherit the lock (:func:`tabbook.installers.holding`), so an installer
    that outlives a killed build keeps it until it ends, and the next build waits for it rather
    than deleting the folder it writes into."""
    import fcntl

    path = folder.with_name(folder.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            log(f"{prefix}waiting for {holder} to finish building {folder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:3])})".encode(), 0)
        with installers.holding(fd):
            yield
    finally:
        os.close(fd)


def _module(framework: Framework) -> str:
    return {"pytorch": "torch"}.get(framework.name, framework.name)


_IMPORTS: dict[tuple[str, float], str | None] = {}


def import_problem(framework: Framework, device: str | None = None) -> str | None:
    """Why the (stamped) environment cannot import its framework and ipykernel, in the last
    lines of the error, or None when it can. Asked once per process and stamp (the answer of
    an environment that is not rebuilt does not change during a build)."""
    stamp = env_dir(framework, device) / STAMP
    try:
        key = (str(stamp), stamp.stat().st_mtime)
    except OSError:
        return "it has no stamp"
    if key not in _IMPORTS:
        result = subprocess.run([str(env_python(framework, device)), "-c", f"import {_module(framework)}, ipykernel"],
                                capture_output=True, text=True, errors="replace")
        _IMPORTS[key] = None if result.returncode == 0 else (_tail(result.stderr) or f"exit {result.returncode}")
    return _IMPORTS[key]


def check_env(framework: Framework, device: str | None = None) -> None:
    """Raise BuildError, saying how to recreate it, unless the environment runs its framework."""
    if not is_ready(framework, device):
        option = " --device cuda" if env_device(framework, device) == "cuda" else ""
        raise BuildError(f"{framework.name}: no environment for the current lock at {env_dir(framework, device)}; "
                         f"create it with: python build.py env{option} {framework.name}")
    problem = import_problem(framework, device)
    if problem is not None:
        raise BuildError(f"{framework.name}: the environment {env_dir(framework, device)} is broken "
                         f"({problem}); recreate it with: "
                         f"python build.py env --force {framework.name}")


def kernel_spec(framework: Framework, device: str | None = None) -> dict:
    """The kernel.json of the framework's kernel: the ipykernel of its environment for ``device``
    (default :func:`current_device`), this checkout importable.

    The kernel runs under :mod:`tabbook.reaper` (from this checkout, on ``PYTHONPATH``): every
    process a cell starts ends with the kernel, and the kernel never inherits the standard output
    of the process that starts it. The environment's ``bin`` comes first on the kernel's ``PATH`` (and ``VIRTUAL_ENV`` names it, as
    ``activate`` does), so that ``!pip`` and ``!python`` in a cell reach the framework's environment,
    not the Python that happens to be first on the builder's PATH. Jupyter fills in ``${PATH}``
    from the environment of the process that starts the kernel.
    """
    folder = env_dir(framework, device)
    return {
        # tabbook.reaper: whatever the kernel starts ends with it, and it never holds the build's output.
        "argv": [str(env_python(framework, device)), "-m", "tabbook.reaper",
                 str(env_python(framework, device)), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": framework.display_name,
        "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "VIRTUAL_ENV": str(folder),
                "PATH": f"{folder / 'bin'}{os.pathsep}${{PATH}}"},
        "metadata": {"dlblocks": {"lock_sha256": requirements_hash(framework, device),
                                 "device": env_device(framework, device)}},
    }


def ensure_kernel(framework: Framework, prefix: str = sys.prefix, device: str | None = None) -> bool:
    """Register (or refresh) the framework's kernel for ``device`` under ``prefix``; return True if it changed."""
    spec = kernel_spec(framework, device)
    manager = KernelSpecManager()
    try:
        current = manager.get_kernel_spec(framework.kernel_name).to_dict()
        if all(current.get(key) == value for key, value in spec.items()):
            return False
    except NoSuchKernel:
        pass
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        manager.install_kernel_spec(folder, framework.kernel_name, prefix=prefix, replace=True)
    return True


def lock(framework: Framework, log=print, device: str = "cpu") -> Path:
    """Resolve the device's ``requirements*.in`` for Python 3.11 on x86_64 Linux and write its
    lock (``requirements.txt``, ``requirements-cuda.txt``); return the lock's path. Resolution
    only: nothing is installed, so a CUDA lock is made on a machine without a GPU. A CUDA lock is
    constrained by the CPU lock, so the packages both have (numpy, matplotlib, ipykernel, ...)
    keep the versions the notebooks' setup cells name.

    Raises:
        BuildError: the framework has no ``requirements-cuda.in`` (for ``device="cuda"``), or the
            resolution failed (its message holds the resolver's last lines).
    """
    source = lock_source(framework, device)
    if not source.is_file():
        raise BuildError(f"{framework.name}: {display_path(source)} does not exist: "
                         + ("the framework has no CUDA build, its CPU lock serves every device"
                            if device == "cuda" else "write the framework's direct pins there"))
    target = framework.tab_dir / ("requirements-cuda.txt" if device == "cuda" else "requirements.txt")
    constraints = [framework.requirements] if device == "cuda" else []
    log(f"{framework.name}: resolving {display_path(source)}")
    try:
        pins, how = installers.resolve(source, device, constraints=constraints, log=log,
                                       prefix=f"{framework.name}: ")
    except BuildError as error:
        raise BuildError(f"{framework.name}: {error}") from None
    pins = [pin for pin in pins if pin.split("==")[0].lower() not in VENV_PACKAGES]
    # A local CPU wheel reports its build tag (torch==2.13.0+cpu); the registry knows the plain version.
    pins = [pin.split("+")[0] if pin.startswith("torch==") else pin for pin in pins]
    header = [f"# Lock of tabs/{framework.name}/{source.name} for Python 3.11 on x86_64 Linux ({how}).",
              f"# Regenerate: python build.py lock {framework.name}" + (" --device cuda" if device == "cuda" else "")]
    atomic_write_text(target, "\n".join(header + pins) + "\n")
    return target


def _base_python() -> str:
    """The interpreter that creates framework venvs: python3.11 on PATH, else this one if it is 3.11."""
    found = shutil.which(PYTHON)
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise BuildError(f"Python 3.11 is needed to create the framework environments: "
                     f"{PYTHON} is not on PATH and this is Python {sys.version.split()[0]}")


def _tail(text: str, lines: int = 3) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
