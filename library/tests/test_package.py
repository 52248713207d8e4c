"""The reader's library as a reader installs it: ``pip install ./library`` gives the package
``dlblocks`` with its data module and one module per framework, each importable in that framework's
environment and holding what the chapters save, and importing ``dlblocks`` imports no framework."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1]
#: The framework modules and what a chapter saves into each (Custom Layers' dense layer, Devices' try_gpu).
MODULES = {"mxnet": ("mxnet", "MyDense"), "pytorch": ("torch", "MyLinear"),
           "tensorflow": ("tensorflow", "MyDense"), "mindspore": ("mindspore", "MyDense")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The folder ``pip install --target`` put the library in (its build backend from the index)."""
    target = tmp_path_factory.mktemp("site")
    # From a copy: setuptools builds a local folder in place (build/, *.egg-info), not in the checkout.
    source = tmp_path_factory.mktemp("source") / "library"
    shutil.copytree(LIBRARY, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                          str(source)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return target


def test_pip_installs_the_package_with_every_module(installed):
    assert not (LIBRARY / "build").exists() and not list(LIBRARY.glob("*.egg-info"))  # the checkout stays clean
    files = sorted(path.name for path in (installed / "dlblocks").glob("*.py"))
    assert files == ["__init__.py", "data.py", "mindspore.py", "mxnet.py", "tensorflow.py", "torch.py"]
    for path in (installed / "dlblocks").glob("*.py"):
        assert path.read_bytes() == (LIBRARY / "dlblocks" / path.name).read_bytes()
    metadata = next(installed.glob("dlblocks-*.dist-info"))
    assert metadata.name == "dlblocks-0.1.0.dist-info"


def test_importing_the_package_and_its_data_module_imports_no_framework(installed):
    code = ("import sys, dlblocks, dlblocks.data\n"
            "print(dlblocks.data.__file__)\n"
            "print(sorted(name for name in ('torch', 'mxnet', 'tensorflow', 'mindspore') if name in sys.modules))")
    run = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(installed)!r})\n" + code],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(installed / "dlblocks" / "data.py"), "[]"]


@pytest.mark.parametrize("framework", MODULES)
def test_each_framework_module_imports_in_its_environment(installed, framework):
    from tabbook import envs
    from tabbook.frameworks import get

    module, name = MODULES[framework]
    code = (f"import sys; sys.path.insert(0, {str(installed)!r})\n"
            f"from dlblocks.{module} import {name}, try_gpu\n"
            f"import dlblocks.{module} as blocks\n"
            "print(blocks.__file__, callable(try_gpu))")
    run = subprocess.run([str(envs.env_python(get(framework))), "-I", "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.split()[-2:] == [str(installed / "dlblocks" / f"{module}.py"), "True"]
