"""Installing and resolving the framework locks: uv with pip's configuration, pip where uv cannot.

The tests marked ``network`` ask the package indexes pip is configured with (PyPI and this
machine's local ones) for metadata; nothing is installed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tabbook import envs, installers
from tabbook.errors import BuildError
from tabbook.frameworks import get
from tabbook.standalone import read_pins

LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/somewhere/else'
global.index-url='https://mirror.example/simple'
install.index-url='https://install.example/simple'
download.index-url='https://download.example/simple'
not a configuration line
"""


def test_pip_configuration_is_read_with_pips_precedence():
    config = installers.parse_pip_config(LISTING)
    assert config.values == {"cert": "/etc/ssl/certs/ca-certificates.crt", "find-links": "/opt/wheels",
                             "constraint": "/etc/xdg/pip/constraints.txt",
                             "extra-index-url": "file:///opt/pypi/simple file:///opt/pypi-more/simple",
                             "index-url": "https://install.example/simple"}
    assert config.words("extra-index-url") == ["file:///opt/pypi/simple", "file:///opt/pypi-more/simple"]


def test_uv_gets_pips_indexes_find_links_constraints_and_its_way_of_choosing():
    arguments = installers.uv_index_arguments(installers.parse_pip_config(LISTING))
    assert arguments == ["--no-config", "--index-strategy", "unsafe-best-match",
                         "--default-index", "https://install.example/simple",
                         "--extra-index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple",
                         "--find-links", "/opt/wheels", "--constraints", "/etc/xdg/pip/constraints.txt"]
    assert installers.uv_environment(installers.parse_pip_config(LISTING))["SSL_CERT_FILE"] == \
        "/etc/ssl/certs/ca-certificates.crt"
    assert "--no-index" in installers.uv_index_arguments(installers.PipConfig({"no-index": "true"}))


def test_install_tries_uv_sync_of_exactly_the_lock_then_pip(tmp_path):
    config = installers.parse_pip_config(LISTING)
    python, lock = tmp_path / "env" / "bin" / "python", get("pytorch").requirements
    (uv, uv_command, uv_env), (pip, pip_command, pip_env) = installers.install_commands(
        python, lock, "cpu", "/bin/uv", config)
    assert (uv, pip) == ("uv", "pip")
    assert uv_command[:5] == ["/bin/uv", "pip", "sync", "--python", str(python)] and uv_command[-1] == str(lock)
    assert "--find-links" in uv_command
    assert pip_command == [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", str(lock)]
    assert pip_env == dict(os.environ), "on the CPU pip reads its own configuration"
    [(only, _, _)] = installers.install_commands(python, lock, "cpu", None, config)
    assert only == "pip"


def test_cuda_installs_forget_pips_find_links_in_uv_and_in_pip(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    config = installers.parse_pip_config(LISTING)
    (_, uv_command, _), (_, _, pip_env) = installers.install_commands(
        tmp_path / "python", tmp_path / "lock.txt", "cuda", "/bin/uv", config)
    assert "--find-links" not in uv_command and "--extra-index-url" in uv_command
    assert pip_env["PIP_CONFIG_FILE"] == os.devnull and "PIP_FIND_LINKS" not in pip_env
    assert pip_env["PIP_EXTRA_INDEX_URL"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert pip_env["PIP_CONSTRAINT"] == "/etc/xdg/pip/constraints.txt"


def test_a_failing_uv_is_reported_and_pip_installs_instead(tmp_path, monkeypatch):
    fake_uv = tmp_path / "uv"
    fake_uv.write_text("#!/bin/sh\necho 'error: the fake uv always fails' >&2\nexit 2\n")
    fake_uv.chmod(0o755)
    monkeypatch.setattr(installers, "find_uv", lambda: str(fake_uv))
    lock = tmp_path / "lock.txt"  # satisfied already in the tooling environment: pip changes nothing
    lock.write_text("uv==0.13.9\n")
    lines = []
    assert installers.install(Path(sys.executable), lock, "cpu", log=lines.append, prefix="x: ") == "pip"
    assert "error: the fake uv always fails" in lines[0] and lines[0].startswith("x: `")
    assert lines[0].endswith("x: uv failed: installing with pip instead")


def _versions(python: Path) -> dict[str, str]:
    script = "import importlib.metadata as m, json; print(json.dumps({d.name: d.version for d in m.distributions()}))"
    return json.loads(subprocess.run([str(python), "-c", script], check=True, capture_output=True, text=True).stdout)


def test_create_with_uv_gives_the_lock_and_the_pip_and_setuptools_that_venv_gives(tmp_path):
    base = envs._base_python()
    lock = tmp_path / "lock.txt"
    lock.write_text("# nothing but what venv brings\n")
    assert installers.create(tmp_path / "uv-env", base, lock, "cpu", log=pytest.fail) == "uv"
    subprocess.run([base, "-m", "venv", str(tmp_path / "venv-env")], check=True)
    by_venv = _versions(tmp_path / "venv-env" / "bin" / "python")
    assert _versions(tmp_path / "uv-env" / "bin" / "python") == by_venv and {"pip", "setuptools"} <= set(by_venv)


def test_create_falls_back_to_venv_and_pip_where_uv_fails(tmp_path, monkeypatch):
    fake_uv = tmp_path / "uv"
    fake_uv.write_text("#!/bin/sh\necho 'error: the fake uv always fails' >&2\nexit 2\n")
    fake_uv.chmod(0o755)
    monkeypatch.setattr(installers, "find_uv", lambda: str(fake_uv))
    lock = tmp_path / "lock.txt"
    lock.write_text("setuptools==65.5.0\n")  # what venv installs: pip has nothing to fetch
    lines = []
    assert installers.create(tmp_path / "env", envs._base_python(), lock, "cpu", log=lines.append) == "pip"
    assert len(lines) == 1 and "error: the fake uv always fails" in lines[0]
    assert lines[0].endswith("uv failed: building the environment with pip instead")
    assert "pip" in _versions(tmp_path / "env" / "bin" / "python")


def test_the_last_installers_failure_is_an_error_with_its_output(tmp_path, monkeypatch):
    monkeypatch.setattr(installers, "find_uv", lambda: None)
    lock = tmp_path / "lock.txt"
    lock.write_text("no such requirement syntax ==\n")
    with pytest.raises(BuildError, match=r"pip install .* failed with exit code 1:\n.*Invalid requirement"):
        installers.install(Path(sys.executable), lock, "cpu", log=lambda line: None)


def test_installer_variable(monkeypatch):
    monkeypatch.setenv(installers.INSTALLER_VARIABLE, "pip")
    assert installers.find_uv() is None
    monkeypatch.setenv(installers.INSTALLER_VARIABLE, "uv")
    assert Path(installers.find_uv()).name == "uv"
    monkeypatch.setenv(installers.INSTALLER_VARIABLE, "conda")
    with pytest.raises(BuildError, match="TABBOOK_INSTALLER='conda' is not an installer; choose uv or pip"):
        installers.find_uv()


def _chosen_by_uv(command: list[str], environment: dict, python: Path) -> dict[str, str]:
    """{name: version} that ``uv pip sync`` (the command given, made a dry run) would install."""
    done = subprocess.run([*command[:3], "--dry-run", *command[3:]], capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).splitlines()
    return dict(line.strip()[2:].split("==") for line in output if line.startswith(" + "))


def _chosen_by_pip(lock: Path, environment: dict) -> dict[str, str]:
    """{name: version} that pip, configured as ``environment`` says, would install for ``lock``."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
                           "--quiet", "--report", "-", "-r", str(lock)], capture_output=True, text=True, env=environment)
    assert done.returncode == 0, done.stderr
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(done.stdout)["install"]}


@pytest.mark.network
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_uv_chooses_the_torch_build_pip_chooses_and_the_cpu_lock_gets_the_cpu_build(tmp_path, device):
    """The real command of ``build.py env`` (as a dry run) against pip with this machine's
    configuration. Here pip's find-links hold torch 2.13.0+cpu: the CPU lock's plain
    ``torch==2.13.0`` must become that build, and the CUDA lock's must not."""
    lock_of_device = envs.lock_file(get("pytorch"), device)
    pinned = read_pins(lock_of_device)["torch"]
    assert pinned == "2.13.0", "the lock names the version the registry knows, without a build tag"
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"torch=={pinned}\n")
    subprocess.run([envs._base_python(), "-m", "venv", "--without-pip", str(tmp_path / "env")], check=True)
    python = tmp_path / "env" / "bin" / "python"
    config = installers.pip_config()
    (_, command, environment), (_, _, pip_env) = installers.install_commands(
        python, lock, device, installers.find_uv(), config)
    by_uv, by_pip = _chosen_by_uv(command, environment, python), _chosen_by_pip(lock, pip_env)
    assert by_uv == by_pip
    cpu_wheel_here = any(Path(folder).glob("torch-2.13.0+cpu-*.whl") for folder in config.words("find-links"))
    if device == "cpu" and cpu_wheel_here:
        assert by_uv["torch"] == "2.13.0+cpu"
        assert command[command.index("--find-links") + 1] in config.words("find-links")
    else:
        assert by_uv["torch"] == "2.13.0", "PyPI's build: the CUDA one"
