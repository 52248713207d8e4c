"""The environment files agree with each other, and environments are keyed by their lock."""
from __future__ import annotations

import hashlib
import re

import pytest
import yaml

from tabbook import cli, envs, installers, standalone
from tabbook.errors import BuildError
from tabbook.frameworks import FRAMEWORKS, ROOT, get

# The same reading of requirements files as the notebooks' generated requirements cells.
pins, normalise = standalone.read_pins, standalone.normalise


def test_environment_yml_parses_and_agrees_with_the_tooling_lock():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in spec["dependencies"]
    pip_section = next(item["pip"] for item in spec["dependencies"] if isinstance(item, dict))
    conda_pins = {normalise(n): v for n, v in (p.split("==") for p in pip_section)}
    lock, wanted = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements.in")
    assert conda_pins == wanted, "environment.yml lists exactly the pins of requirements.in"
    assert {name: lock[name] for name in wanted} == wanted, "requirements.txt locks those versions"


def test_framework_locks_keep_the_pins_the_frameworks_need():
    expected = {"mxnet": {"mxnet": "1.9.1", "numpy": "1.23.5"}, "pytorch": {"torch": "2.13.0"},
                "tensorflow": {"tensorflow-cpu": "2.21.0"}, "mindspore": {"mindspore": "2.10.0"}}
    for framework in FRAMEWORKS:
        lock = pins(framework.requirements)
        for name, version in expected[framework.name].items():
            assert lock[name] == version, f"{framework.requirements}: {name}"
        for name, version in pins(framework.tab_dir / "requirements.in").items():
            assert lock[name] == version, f"{framework.requirements} disagrees with requirements.in on {name}"


def test_numpy_of_frameworks_that_need_1_25_or_newer():
    for name in ("tensorflow", "mindspore"):
        major, minor = (int(part) for part in pins(get(name).requirements)["numpy"].split(".")[:2])
        assert (major, minor) >= (1, 25)


def test_environment_folder_changes_with_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_ENVS", str(tmp_path))
    framework = get("pytorch")
    folder = envs.env_dir(framework)
    assert folder.parent == tmp_path and folder.name.startswith("pytorch-")
    assert not envs.is_ready(framework)
    lock = tmp_path / "requirements.txt"
    lock.write_text(framework.requirements.read_text() + "\n# changed\n")
    monkeypatch.setattr(type(framework), "requirements", property(lambda self: lock))
    assert envs.env_dir(framework) != folder


def test_kernel_spec_runs_the_framework_environment_with_this_checkout_importable():
    framework = get("mindspore")
    spec = envs.kernel_spec(framework)
    python = str(envs.env_python(framework))
    assert spec["argv"][:6] == [python, "-m", "tabbook.reaper", python, "-m", "ipykernel_launcher"]
    assert spec["env"]["PYTHONPATH"] == str(ROOT)
    assert spec["display_name"] == "Python 3 (MindSpore)"


# Environments per device: detection, names, kernels, the CUDA locks.

GPU_LISTING = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5c1e9a3b-0000-0000-0000-000000000000)"


@pytest.fixture
def fake_path(tmp_path, monkeypatch):
    """PATH holds only a folder for a fake nvidia-smi: fake_path(script) writes it (None: none)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.delenv(envs.DEVICE_VARIABLE, raising=False)
    envs.gpu_present.cache_clear()

    def write(body: str | None) -> None:
        if body is not None:
            (folder / "nvidia-smi").write_text(f"#!/bin/sh\n{body}\n")
            (folder / "nvidia-smi").chmod(0o755)
        envs.gpu_present.cache_clear()

    yield write
    envs.gpu_present.cache_clear()


@pytest.mark.parametrize("script, device", [
    (f"echo '{GPU_LISTING}'", "cuda"),
    (None, "cpu"),  # no nvidia-smi
    ("echo 'No devices were found'; exit 6", "cpu"),
    ("echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\"; exit 9", "cpu"),
])
def test_the_device_is_cuda_where_nvidia_smi_lists_a_gpu(fake_path, script, device):
    fake_path(script)
    assert envs.detect_device() == device


def test_the_device_can_be_forced_by_option_or_variable(fake_path, monkeypatch):
    fake_path(f"echo '{GPU_LISTING}'")
    assert envs.detect_device("cpu") == "cpu"
    monkeypatch.setenv(envs.DEVICE_VARIABLE, "cpu")
    assert envs.detect_device() == "cpu" and envs.detect_device("cuda") == "cuda", "the option wins"
    fake_path(None)
    monkeypatch.setenv(envs.DEVICE_VARIABLE, "cuda")
    assert envs.detect_device() == "cuda", "a CUDA lock can be installed where no GPU is seen"
    monkeypatch.setenv(envs.DEVICE_VARIABLE, "gpu")
    with pytest.raises(BuildError, match="TABBOOK_DEVICE='gpu' is not a device; choose one of cpu, cuda"):
        envs.detect_device()
    with pytest.raises(BuildError, match="--device='rocm' is not a device"):
        envs.detect_device("rocm")


def test_cli_env_rejects_an_unknown_device_variable_before_building(monkeypatch, capsys):
    monkeypatch.setenv(envs.DEVICE_VARIABLE, "tpu")
    assert cli.main(["env", "pytorch"]) == 1
    assert "error: TABBOOK_DEVICE='tpu' is not a device" in capsys.readouterr().err


def test_cpu_and_cuda_environments_have_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("TABBOOK_ENVS", str(tmp_path))
    for name in ("mxnet", "pytorch", "tensorflow"):
        framework = get(name)
        cpu, cuda = envs.env_dir(framework, "cpu"), envs.env_dir(framework, "cuda")
        digest = hashlib.sha256(framework.requirements.read_bytes() + envs.PYTHON.encode()).hexdigest()
        assert cpu.name == f"{name}-{digest[:12]}", "CPU environments keep the names they had before devices"
        assert re.fullmatch(f"{name}-cuda-[0-9a-f]{{12}}", cuda.name) and envs.lock_file(framework, "cuda").name == \
            "requirements-cuda.txt"
    mindspore = get("mindspore")
    assert envs.env_dir(mindspore, "cuda") == envs.env_dir(mindspore, "cpu"), "MindSpore has one wheel for all"
    assert envs.env_device(mindspore, "cuda") == "cpu"


def test_the_kernel_runs_the_environment_of_the_device(monkeypatch):
    monkeypatch.setenv(envs.DEVICE_VARIABLE, "cuda")
    spec = envs.kernel_spec(get("tensorflow"))
    assert spec["argv"][0] == str(envs.env_python(get("tensorflow"), "cuda")) and "-cuda-" in spec["argv"][0]
    assert spec["metadata"]["dlblocks"]["device"] == "cuda"
    assert envs.kernel_spec(get("tensorflow"), "cpu")["argv"][0] == str(envs.env_python(get("tensorflow"), "cpu"))


CUDA_PACKAGES = {"mxnet": {"mxnet-cu117": "1.9.1"}, "pytorch": {"torch": "2.13.0"},
                 "tensorflow": {"tensorflow": "2.21.0"}}


@pytest.mark.parametrize("name", sorted(CUDA_PACKAGES))
def test_cuda_locks_pin_the_cuda_builds_and_agree_with_the_cpu_lock_elsewhere(name):
    framework = get(name)
    cpu, cuda = pins(framework.requirements), pins(envs.lock_file(framework, "cuda"))
    for package, version in CUDA_PACKAGES[name].items():
        assert cuda[package] == version
    # MXNet's CUDA wheel carries its CUDA libraries; PyTorch's and TensorFlow's come as NVIDIA's wheels.
    assert any(package.startswith("nvidia-cublas") for package in cuda) == (name != "mxnet")
    for package, version in pins(envs.lock_source(framework, "cuda")).items():
        assert cuda[normalise(package.split("[")[0])] == version
    shared = set(cpu) & set(cuda)
    assert {package: cuda[package] for package in shared} == {package: cpu[package] for package in shared}
    assert {"numpy", "matplotlib", "ipykernel"} <= shared


@pytest.mark.network
@pytest.mark.parametrize("name", sorted(CUDA_PACKAGES))
def test_cuda_locks_resolve_against_the_index_without_installing(name):
    """Resolving the whole CUDA lock for Python 3.11 on x86_64 Linux (metadata only, as
    ``build.py lock --device cuda`` does) gives back exactly the lock: every pin exists and
    nothing is missing or in conflict."""
    lock = envs.lock_file(get(name), "cuda")
    resolved, how = installers.resolve(lock, "cuda", log=lambda line: None)
    assert how == "uv pip compile"
    resolved = {normalise(pin.split("==")[0]): pin.split("==")[1] for pin in resolved}
    assert {name: version for name, version in resolved.items() if name not in envs.VENV_PACKAGES} == pins(lock)


def test_lock_writes_the_resolution_in_the_lock_format(tmp_path, monkeypatch):
    framework = get("pytorch")
    monkeypatch.setattr(type(framework), "tab_dir", property(lambda self: tmp_path))
    (tmp_path / "requirements-cuda.in").write_text("torch==2.13.0\n")
    (tmp_path / "requirements.txt").write_text("numpy==2.2.6\n")
    calls = []

    def resolve(source, device, constraints, log, prefix):
        calls.append((source, device, constraints))
        return ["numpy==2.2.6", "pip==25.0", "setuptools==80.0", "torch==2.13.0+cpu"], "uv pip compile"

    monkeypatch.setattr(installers, "resolve", resolve)
    target = envs.lock(framework, log=lambda line: None, device="cuda")
    assert target == tmp_path / "requirements-cuda.txt"
    assert calls == [(tmp_path / "requirements-cuda.in", "cuda", [tmp_path / "requirements.txt"])]
    assert target.read_text() == (
        "# Lock of tabs/pytorch/requirements-cuda.in for Python 3.11 on x86_64 Linux (uv pip compile).\n"
        "# Regenerate: python build.py lock pytorch --device cuda\nnumpy==2.2.6\ntorch==2.13.0\n")
    monkeypatch.setattr(type(framework), "tab_dir", property(lambda self: tmp_path / "none"))
    with pytest.raises(BuildError, match="requirements-cuda.in does not exist: the framework has no CUDA build"):
        envs.lock(framework, log=lambda line: None, device="cuda")
