"""The environment files agree with each other, and environments are keyed by their lock."""
from __future__ import annotations

import yaml

from tabbook import envs, standalone
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
    assert spec["argv"][:3] == [str(envs.env_python(framework)), "-m", "ipykernel_launcher"]
    assert spec["env"]["PYTHONPATH"] == str(ROOT)
    assert spec["display_name"] == "Python 3 (MindSpore)"
