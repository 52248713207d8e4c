"""One virtual environment and one Jupyter kernel per framework.

The frameworks cannot share an environment (mxnet 1.9.1 needs numpy 1.23.5, TensorFlow 2.21 and
MindSpore 2.10 need numpy >= 1.25), so each gets a venv built from its lock,
``tabs/<framework>/requirements.txt``. Environments live outside the checkout, in
``$TABBOOK_ENVS`` (default ``~/.cache/tabbook/envs``), in a folder named by the framework and the
sha256 of its lock and Python version: a changed lock makes a new environment, an unchanged one is
reused (by any checkout, CI's clean clones included). A finished environment carries a stamp file;
a folder without one is a broken or interrupted install and is rebuilt.

The kernel ``tabbook-<framework>`` is registered in the tooling environment (``sys.prefix``), where
Jupyter, nbclient and nbval find it. Its ``PYTHONPATH`` names this checkout, so notebooks import
this checkout's ``tabbook.data``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from .errors import BuildError
from .files import atomic_write_text
from .frameworks import ROOT, Framework

STAMP = ".tabbook-complete"
PYTHON = "python3.11"


def envs_root() -> Path:
    """The folder holding the framework environments: ``$TABBOOK_ENVS`` or ``~/.cache/tabbook/envs``."""
    return Path(os.environ.get("TABBOOK_ENVS") or Path.home() / ".cache" / "tabbook" / "envs")


def requirements_hash(framework: Framework) -> str:
    """sha256 (hex) of the framework's lock file and the interpreter version that builds it."""
    digest = hashlib.sha256(framework.requirements.read_bytes())
    digest.update(PYTHON.encode())
    return digest.hexdigest()


def env_dir(framework: Framework) -> Path:
    """The environment folder for the framework's current lock."""
    return envs_root() / f"{framework.name}-{requirements_hash(framework)[:12]}"


def env_python(framework: Framework) -> Path:
    """The Python interpreter of the framework's environment (it may not exist yet)."""
    return env_dir(framework) / "bin" / "python"


def is_ready(framework: Framework) -> bool:
    """True when the environment for the current lock was built to the end."""
    return (env_dir(framework) / STAMP).is_file() and env_python(framework).exists()


def ensure_env(framework: Framework, log=print) -> bool:
    """Build the framework's environment unless it is ready; return True if it was built.

    Raises:
        BuildError: pip failed; the message holds pip's last lines and the command to retry.
    """
    if is_ready(framework):
        return False
    folder = env_dir(framework)
    if folder.exists():
        log(f"{framework.name}: removing unfinished environment {folder}")
        shutil.rmtree(folder)
    log(f"{framework.name}: creating {folder} from {framework.requirements.relative_to(ROOT)}")
    _run([_base_python(), "-m", "venv", str(folder)], framework)
    _run([str(folder / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
          "--quiet", "-r", str(framework.requirements)], framework)
    (folder / STAMP).write_text(json.dumps({"lock_sha256": requirements_hash(framework)}) + "\n")
    return True


def check_env(framework: Framework) -> None:
    """Raise BuildError, saying how to recreate it, unless the environment runs its framework."""
    module = {"pytorch": "torch"}.get(framework.name, framework.name)
    if not is_ready(framework):
        raise BuildError(f"{framework.name}: no environment for the current lock at {env_dir(framework)}; "
                         f"create it with: python build.py env {framework.name}")
    result = subprocess.run([str(env_python(framework)), "-c", f"import {module}, ipykernel"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{framework.name}: the environment {env_dir(framework)} is broken "
                         f"({_tail(result.stderr)}); recreate it with: "
                         f"python build.py env --force {framework.name}")


def remove_env(framework: Framework) -> None:
    """Delete the environment of the current lock so that the next ensure_env rebuilds it."""
    shutil.rmtree(env_dir(framework), ignore_errors=True)


def kernel_spec(framework: Framework) -> dict:
    """The kernel.json of the framework's kernel: its environment's ipykernel, this checkout importable.

    The environment's ``bin`` comes first on the kernel's ``PATH`` (and ``VIRTUAL_ENV`` names it, as
    ``activate`` does), so that ``!pip`` and ``!python`` in a cell reach the framework's environment,
    not the Python that happens to be first on the builder's PATH. Jupyter fills in ``${PATH}``
    from the environment of the process that starts the kernel.
    """
    folder = env_dir(framework)
    return {
        "argv": [str(env_python(framework)), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": framework.display_name,
        "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "VIRTUAL_ENV": str(folder),
                "PATH": f"{folder / 'bin'}{os.pathsep}${{PATH}}"},
        "metadata": {"tabbook": {"lock_sha256": requirements_hash(framework)}},
    }


def ensure_kernel(framework: Framework, prefix: str = sys.prefix) -> bool:
    """Register (or refresh) the framework's kernel under ``prefix``; return True if it changed."""
    spec = kernel_spec(framework)
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


def lock(framework: Framework, log=print) -> None:
    """Resolve ``requirements.in`` in a fresh venv and write the pinned ``requirements.txt``."""
    source = framework.tab_dir / "requirements.in"
    with tempfile.TemporaryDirectory() as folder:
        log(f"{framework.name}: resolving {source.relative_to(ROOT)}")
        _run([_base_python(), "-m", "venv", folder], framework)
        python = str(Path(folder) / "bin" / "python")
        _run([python, "-m", "pip", "install", "--quiet", "-r", str(source)], framework)
        frozen = subprocess.run([python, "-m", "pip", "freeze", "--all"], check=True,
                                capture_output=True, text=True).stdout.splitlines()
    pins = [line for line in frozen if line.split("==")[0] not in {"pip", "setuptools", "wheel"}]
    # A local CPU wheel reports its build tag (torch==2.13.0+cpu); the registry knows the plain version.
    pins = [line.split("+")[0] if line.startswith("torch==") else line for line in pins]
    header = [f"# Lock of tabs/{framework.name}/requirements.in for Python 3.11 "
              "(pip freeze of a fresh environment).", f"# Regenerate: python build.py lock {framework.name}"]
    atomic_write_text(framework.requirements, "\n".join(header + pins) + "\n")


def _base_python() -> str:
    """The interpreter that creates framework venvs: python3.11 on PATH, else this one if it is 3.11."""
    found = shutil.which(PYTHON)
    if found:
        return found
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    raise BuildError(f"Python 3.11 is needed to create the framework environments: "
                     f"{PYTHON} is not on PATH and this is Python {sys.version.split()[0]}")


def _run(command: list[str], framework: Framework) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"{framework.name}: `{' '.join(command)}` failed with exit code "
                         f"{result.returncode}:\n{_tail(result.stdout + result.stderr, 15)}\n"
                         f"fix the cause, then run: python build.py env {framework.name}")


def _tail(text: str, lines: int = 3) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
