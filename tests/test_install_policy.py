"""The setup cell's install policy on a reader's machine (tabbook.standalone, issue 21): what is
missing is installed at the lock's version, what is installed is kept whatever its version, and the
cell stops only where the combination is known not to work.

Each test makes a real virtual environment, runs a generated notebook's setup cell and a lesson
cell in IPython there (``%pip`` included), and reads the versions it ends with. An environment
"with the framework" sees the framework environment's packages through a ``.pth`` file, after its
own: a package installed into the test environment stands in front of the framework
environment's, as a reader's own installation does. These tests install from the package indexes
pip is configured with (PyPI and the local CPU wheels), so they are marked ``network``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tabbook import envs, standalone
from tabbook.convert import to_notebook
from tabbook.frameworks import get
from tabbook.source import read_chapter

from .conftest import FOUR, cell, chapter_text

pytestmark = pytest.mark.network

#: Pure-Python packages of the PyTorch lock, with the module a notebook imports.
PURE = {"pyparsing": "pyparsing", "cycler": "cycler", "python-dateutil": "dateutil", "packaging": "packaging"}


def make_env(folder: Path, framework: str | None = None, install: tuple[str, ...] = ()) -> Path:
    """A new virtual environment in ``folder``, seeing the framework environment's packages after its
    own where ``framework`` is given, with ``install`` installed by pip; its python."""
    venv.create(folder, with_pip=True, symlinks=True)
    python = folder / "bin" / "python"
    if framework:
        purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        theirs = subprocess.run([str(envs.env_python(get(framework))), "-c",
                                 "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "framework-env.pth").write_text(theirs + "\n")
    if install:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *install], check=True, timeout=900)
    return python


def versions(python: Path, *names: str) -> dict[str, str | None]:
    code = ("import importlib.metadata as m, json, sys\n"
            "def v(n):\n"
            "    try:\n        return m.version(n)\n"
            "    except m.PackageNotFoundError:\n        return None\n"
            "print(json.dumps({n: v(n) for n in sys.argv[1:]}))")
    return json.loads(subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                                     check=True).stdout)


def run_setup(python: Path, notebook, lesson: str, folder: Path) -> subprocess.CompletedProcess:
    """Run the notebook's setup cell, then ``lesson``, in IPython under ``python``."""
    script = folder / "reader.ipy"
    script.write_text(standalone.setup_of(notebook).source + "\n\n" + lesson + "\n")
    return subprocess.run([str(python), "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)],
                          cwd=folder, capture_output=True, text=True, timeout=1200)


def setup_notebook(write_chapter, framework: str, code: str):
    chapter = read_chapter(write_chapter(chapter_text(cell(f"[{framework}]", code), *FOUR)))
    notebook = to_notebook(chapter, framework)
    assert standalone.setup_of(notebook) is notebook.cells[1]  # right after the title
    return notebook


def index_versions(name: str) -> list[str]:
    """The versions of ``name`` on the configured indexes, newest first (``pip index versions``)."""
    run = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name], capture_output=True, text=True,
                         timeout=300)
    match = re.search(r"Available versions: (.*)", run.stdout)
    assert match, run.stdout + run.stderr
    return [version.strip() for version in match.group(1).split(",")]


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def other_version(newer: bool) -> tuple[str, str, str]:
    """(distribution, module, version): a pure-Python package of the PyTorch lock and a version of it
    on the index that is newer (or older) than the lock's."""
    pins = standalone.lock_pins(get("pytorch"))
    for name, module in PURE.items():
        pin = pins[standalone.normalise(name)]
        found = [version for version in index_versions(name) if re.fullmatch(r"[\d.]+", version)
                 and (release(version) > release(pin) if newer else release(version) < release(pin))]
        if found:
            return name, module, found[-1] if newer else found[0]
    pytest.fail(f"none of {', '.join(PURE)} has a {'newer' if newer else 'older'} version than the lock's on the index")


@pytest.mark.parametrize("newer", [False, True], ids=["older", "newer"])
def test_an_installed_package_at_another_version_is_kept_and_the_notebook_runs(write_chapter, tmp_path, newer):
    name, module, version = other_version(newer)
    pin = standalone.lock_pins(get("pytorch"))[standalone.normalise(name)]
    python = make_env(tmp_path / "env", "pytorch", (f"{name}=={version}",))
    notebook = setup_notebook(write_chapter, "pytorch", f"import torch\nimport {module}")
    lesson = (f"import importlib.metadata, torch, {module}\n"
              f"print('lesson ran with', importlib.metadata.version({name!r}), torch.tensor([1.0, 2.0]).sum().item())")
    run = run_setup(python, notebook, lesson, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (f"kept {name} {version} (executed with {pin}; to use that version: %pip install {name}=={pin}, then "
            "restart the kernel)") in run.stdout
    assert "installing" not in run.stdout, run.stdout
    assert f"lesson ran with {version} 3.0" in run.stdout, run.stdout
    assert versions(python, name)[name] == version


def test_a_missing_framework_is_installed_at_the_locks_version(write_chapter, tmp_path):
    python = make_env(tmp_path / "env", None, ("ipython",))
    assert versions(python, "torch")["torch"] is None
    notebook = setup_notebook(write_chapter, "pytorch", "import torch")
    pin = standalone.lock_pins(get("pytorch"))["torch"]
    run = run_setup(python, notebook, "import torch\nprint('lesson ran with torch', torch.__version__)", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"installing: torch=={pin}" in run.stdout, run.stdout
    assert f"lesson ran with torch {pin}" in run.stdout, run.stdout
    assert versions(python, "torch")["torch"].split("+")[0] == pin


def test_the_framework_with_a_numpy_it_cannot_run_with_stops_with_the_command(write_chapter, tmp_path):
    numpy = next(version for version in index_versions("numpy") if re.fullmatch(r"1\.2[4-6]\.\d+", version))
    python = make_env(tmp_path / "env", "mxnet", (f"numpy=={numpy}",))
    notebook = setup_notebook(write_chapter, "mxnet", "import mxnet")
    pin = standalone.lock_pins(get("mxnet"))["numpy"]
    run = run_setup(python, notebook, "print('lesson ran')", tmp_path)
    assert "MXNet 1.9.1 uses numpy.bool, which NumPy 1.24 removed, and this kernel has numpy " \
           f"{numpy}: run %pip install numpy=={pin}, then restart the kernel" in run.stdout + run.stderr
    assert "lesson ran" not in run.stdout and "installing" not in run.stdout
    assert versions(python, "numpy")["numpy"] == numpy  # nothing was replaced


def test_an_install_that_pip_cannot_make_stops_with_the_command(write_chapter, tmp_path):
    python = make_env(tmp_path / "env", None, ("ipython",))
    notebook = setup_notebook(write_chapter, "pytorch", "import torch")
    pin = standalone.lock_pins(get("pytorch"))["torch"]
    # No index and no wheels: pip fails, as it does offline; %pip itself never raises.
    script = tmp_path / "reader.ipy"
    script.write_text(standalone.setup_of(notebook).source + "\n\nprint('lesson ran')\n")
    run = subprocess.run([str(python), "-m", "IPython", "--no-banner", "--colors=NoColor", str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "", "PIP_CONFIG_FILE": os.devnull})
    shown = run.stdout + run.stderr
    assert f"pip did not install torch=={pin} (its message is above): install it by hand with %pip install " \
           f"torch=={pin}" in shown, shown
    printed = run.stdout.splitlines()  # lines the cell printed (the traceback also lists its source)
    assert not any(line.startswith(("installed: restart the kernel", "lesson ran")) for line in printed), shown


def test_a_framework_at_another_version_is_the_readers_combination_and_not_stopped(write_chapter, tmp_path):
    numpy = next(version for version in index_versions("numpy") if re.fullmatch(r"1\.2[4-6]\.\d+", version))
    python = make_env(tmp_path / "env", "mxnet", (f"numpy=={numpy}",))
    # An MXNet of another version, as its metadata says (the known-broken combination is 1.9.1's).
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    (purelib / "mxnet-1.8.0.dist-info").mkdir()
    (purelib / "mxnet-1.8.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: mxnet\nVersion: 1.8.0\n")
    notebook = setup_notebook(write_chapter, "mxnet", "import mxnet")
    run = run_setup(python, notebook, "print('lesson ran')", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kept mxnet 1.8.0 (executed with 1.9.1" in run.stdout and f"kept numpy {numpy}" in run.stdout
    assert "lesson ran" in run.stdout and "installing" not in run.stdout
