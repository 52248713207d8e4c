"""Environments shared by several checkouts (issue 24): one builds, the other waits for it; an
installer that outlives a killed build is waited for; a stopped install leaves no temporary
folder; a stamped environment that no longer imports its framework is not "up to date".

Every test uses its own ``TABBOOK_ENVS``: the shared environments are never touched.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from tabbook import envs, installers
from tabbook.frameworks import get

from .project import make_project, stop, wait_for


@pytest.fixture
def private_envs(tmp_path, monkeypatch):
    folder = tmp_path / "envs"
    monkeypatch.setenv("TABBOOK_ENVS", str(folder))
    monkeypatch.setattr(envs, "_IMPORTS", {})
    return folder


def fake_create(calls, seconds=2.0):
    """An installer that takes ``seconds`` and leaves a python that imports anything."""
    def create(folder, base_python, lock, device, log=print, prefix=""):
        calls.append(folder)
        (folder / "bin").mkdir(parents=True)
        time.sleep(seconds)
        python = folder / "bin" / "python"
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
        (folder / "work-of-the-first").write_text("kept")
        return "fake"
    return create


def test_two_builds_of_one_environment_build_it_once(private_envs, monkeypatch):
    calls, logs = [], []
    monkeypatch.setattr(installers, "create", fake_create(calls))
    framework = get("mxnet")
    results = {}

    def build(name):
        results[name] = envs.ensure_env(framework, log=lambda line: logs.append((name, line)))

    first = threading.Thread(target=build, args=("first",))
    first.start()
    wait_for(lambda: calls, 30, "the first install")
    second = threading.Thread(target=build, args=("second",))
    second.start()
    first.join(60)
    second.join(60)
    assert results == {"first": True, "second": False}
    assert len(calls) == 1, "the second waited, then found the environment ready"
    assert any(name == "second" and "waiting for pid" in line and "to finish building" in line for name, line in logs)
    assert not any("removing unfinished environment" in line for _, line in logs)
    assert (envs.env_dir(framework) / "work-of-the-first").read_text() == "kept"


def test_an_installer_that_outlives_its_build_is_waited_for(private_envs):
    folder = envs.env_dir(get("mxnet"))
    with envs.building(folder, log=lambda line: None):
        # what installers._run passes on: the lock, which the installer keeps after this block
        orphan = subprocess.Popen(["sleep", "3"], pass_fds=installers._HELD)
    start = time.monotonic()
    waited = []
    with envs.building(folder, log=waited.append):
        seconds = time.monotonic() - start
    orphan.wait()
    assert seconds > 2 and waited and "to finish building" in waited[0]


def test_a_stamped_environment_that_no_longer_imports_its_framework_is_rebuilt(private_envs, monkeypatch):
    framework = get("mxnet")
    folder = envs.env_dir(framework)
    (folder / "bin").mkdir(parents=True)
    (folder / envs.STAMP).write_text("{}")
    python = folder / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named mxnet' >&2\nexit 1\n")
    python.chmod(0o755)
    calls, logs = [], []
    monkeypatch.setattr(installers, "create", fake_create(calls, seconds=0))
    assert envs.ensure_env(framework, log=logs.append) is True
    assert calls == [folder]
    assert any("does not import mxnet (ModuleNotFoundError: No module named mxnet): building it again" in line
               for line in logs), logs


def test_sigterm_during_an_install_leaves_no_temporary_folder(tmp_path):
    project = make_project(tmp_path)
    scratch = project.scratch / "tmp"
    process = project.start("env", "mxnet", env={"TABBOOK_ENVS": str(tmp_path / "envs"), "TABBOOK_INSTALLER": "pip"})
    try:
        wait_for(lambda: any(scratch.glob("tabbook-install-*/*")), 240, "the installer's temporary files", process)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    finally:
        stop(process)
    assert process.returncode == 143, out
    assert "Traceback" not in out
    assert list(scratch.iterdir()) == [], "no pip-* or tabbook-install-* folder is left"
    assert project.leftovers() == []
    assert not (envs.STAMP in os.listdir(tmp_path / "envs" / next(os.walk(tmp_path / "envs"))[1][0])
                if next(os.walk(tmp_path / "envs"))[1] else False), "an interrupted environment is not stamped"
