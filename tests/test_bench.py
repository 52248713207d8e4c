"""The benchmark's plumbing (no timing is asserted: these machines are noisy)."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import time

import nbformat
import numpy as np
import pytest

from tabbook import bench
from tabbook.errors import BuildError
from tabbook.frameworks import NAMES, get
from tabbook.source import read_chapter
from tabbook.standalone import read_pins

from .conftest import FOUR, chapter_text


def test_each_framework_runs_the_notebook_up_to_its_bench_replace_cell():
    chapter = read_chapter(bench.CHAPTER)
    for name in NAMES:
        notebook = bench.bench_notebook(chapter, name, {"epochs": 2})
        sources = [cell.source for cell in notebook.cells]
        # The chapter's training code: its train() and train_epoch(), or (TensorFlow) its compiled model.
        if name == "tensorflow":
            assert any("net.compile(" in source for source in sources)
        else:
            assert any(source.startswith("def train(") or "\ndef train(" in source for source in sources)
            assert any(source.startswith("def train_epoch(") or "\ndef train_epoch(" in source for source in sources)
        replaced = [c.source for c in chapter.cells if name in c.frameworks and "bench-replace" in c.tags]
        assert len(replaced) == 1 and replaced[0] not in sources
        assert ("history = train(" if name != "tensorflow" else "history = net.fit(") in replaced[0]
        assert json.loads(sources[-3].removeprefix("BENCH = ")) == {"epochs": 2, "cells": sources[:-3]}
        assert sources[-1] == (bench.BENCH_CODE / f"{name}.py").read_text()


def test_a_chapter_without_the_tag_is_an_error(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(*FOUR)))
    with pytest.raises(BuildError, match="no mxnet code cell is tagged bench-replace"):
        bench.bench_notebook(chapter, "mxnet", {})


def test_inputs_are_the_same_for_every_run(tmp_path):
    bench.make_inputs(tmp_path / "a.npz")
    bench.make_inputs(tmp_path / "b.npz")
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert sorted(a.files) == ["order", "w0", "w1", "w2", "w3", "w4", "w5"]
    assert all((a[name] == b[name]).all() for name in a.files)
    assert sorted(a["order"]) == list(range(60000))


def test_summary_uses_the_median_after_each_warm_up_and_the_table_its_ratios():
    raw = {"runs": [[9.0, 2.0, 3.0, 2.5], [8.0, 2.6, 2.4, 2.7]], "history": [[0.5, 0.8, 0.9], [0.2, 0.9, 0.97]]}
    row = bench.summarise(raw)  # median of 2.0 3.0 2.5 2.6 2.4 2.7
    assert row["s_per_epoch"] == 2.55 and row["test_accuracy"] == 0.97 and (row["runs"], row["epochs"]) == (2, 4)
    assert row["examples_per_s"] == pytest.approx(60000 / 2.55)
    assert row["run_s_per_epoch"] == [2.5, 2.6]
    results = {"pytorch": {"custom": dict(row, s_per_epoch=2.5, examples_per_s=24000, run_s_per_epoch=[2.5, 3, 2]),
                           "built-in": dict(row, s_per_epoch=2.0, run_s_per_epoch=[2, 2, 2]),
                           "custom, as a script": dict(row, s_per_epoch=2.0, examples_per_s=30000)},
               "numpy": {"NumPy": dict(row, s_per_epoch=1.25)}}
    lines = bench.table(results).splitlines()
    assert lines[2] == "| PyTorch | custom | 2 x 4 | 2.50 | 24,000 | 0.5000 | 0.9700 | 1.25 | 1.25 | 2.00 |"
    assert lines[3] == "| PyTorch | built-in | 2 x 4 | 2.00 | 23,529 | 0.5000 | 0.9700 |  |  | 1.60 |"
    assert lines[4].startswith("| PyTorch | custom, as a script | 2 x 4 | 2.00 | 30,000 |")
    assert lines[5].startswith("| NumPy | NumPy | 2 x 4 | 1.25 |") and lines[5].endswith("| 1.00 |")


def test_the_script_is_the_notebooks_code_cells_with_magics_as_the_kernel_calls_them():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# prose"), nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("if x > 1:\n    %pip install numpy\n!ls")])
    script = bench.script_source(notebook)
    assert script == ("# cell 1\nx = 1\n\n\n# cell 2\nif x > 1:\n"
                      "    get_ipython().run_line_magic('pip', 'install numpy')\nget_ipython().system('ls')\n")
    compile(script, "script.py", "exec")


def test_a_single_epoch_run_is_timed_by_that_epoch():
    assert bench.summarise({"runs": [[3.0]], "history": [[0.4, 0.9, 0.95]]})["s_per_epoch"] == 3.0


@pytest.mark.parametrize("option", ["epochs", "repeats", "profile_epochs", "batch_size", "examples"])
def test_a_count_below_one_is_an_error_before_anything_runs(tmp_path, option):
    chapter = read_chapter(bench.CHAPTER)
    with pytest.raises(BuildError, match=f"bench: {option.replace('_', ' ')} must be at least 1, not 0"):
        bench.run(chapter, ["pytorch"], out=tmp_path, log=lambda line: None, **{option: 0})
    assert not any(tmp_path.iterdir())


def test_more_examples_than_mnist_has_is_an_error_before_anything_runs(tmp_path):
    chapter = read_chapter(bench.CHAPTER)
    with pytest.raises(BuildError, match="bench: examples must be at most 60000 \\(MNIST's training images\\), not 60001"):
        bench.run(chapter, ["pytorch"], out=tmp_path, log=lambda line: None, examples=60001)
    assert not any(tmp_path.iterdir())


def test_a_shorter_run_trains_on_a_prefix_of_the_full_runs_order(tmp_path):
    bench.make_inputs(tmp_path / "all.npz")
    bench.make_inputs(tmp_path / "some.npz", examples=1000)
    full, some = np.load(tmp_path / "all.npz"), np.load(tmp_path / "some.npz")
    assert sorted(full["order"]) == list(range(60000))
    assert list(some["order"]) == list(full["order"][:1000])
    assert all((some[f"w{i}"] == full[f"w{i}"]).all() for i in range(6))


def test_one_epoch_is_an_error_it_would_time_only_the_warm_up(tmp_path):
    chapter = read_chapter(bench.CHAPTER)
    with pytest.raises(BuildError, match="bench: epochs must be at least 2, not 1: the first epoch of each run is a warm-up"):
        bench.run(chapter, ["pytorch"], out=tmp_path, log=lambda line: None, epochs=1)
    assert not any(tmp_path.iterdir())


#: Training images per epoch in the short MindSpore benchmark below: 40 whole batches of 256, enough
#: for py-spy's 200 samples a second to see every line of the loop (a sixth of MNIST). PyTorch's
#: trains on all of MNIST: the losses of its first epoch are compared with NumPy's, which agree
#: within 2e-3 over a whole epoch (over these 40 steps, the steepest part of training, they differed by 6e-3).
SHORT_EXAMPLES = 10240


@pytest.mark.parametrize("framework, examples", [("pytorch", bench.TRAIN_EXAMPLES), ("mindspore", SHORT_EXAMPLES)])
def test_a_short_benchmark_with_profile_runs_in_the_real_kernel(tmp_path, framework, examples):
    """One epoch per variant (MindSpore's on a sixth of MNIST, and it also exercises its operator
    profiler): the results, the profile report and its raw files are written; PyTorch's losses agree
    with NumPy's and the committed report is written; MindSpore's, from part of MNIST, leaves the
    committed report as it was (its table is checked from this run's results instead)."""
    chapter = read_chapter(bench.CHAPTER)
    said = []
    report = bench.run(chapter, [framework], epochs=2, naive_epochs=1, repeats=1, out=tmp_path,
                       log=said.append, profile=True, profile_epochs=1, report=tmp_path / "RESULTS.md",
                       examples=examples)
    assert report == tmp_path / "results-256.md"
    table = report.read_text()
    assert table.count(f"| {get(framework).title} |") == 4 + (framework != "pytorch")
    assert f"| {get(framework).title} | custom, as a script | 2 x 2 |" in table  # before and after the kernel
    assert f"{examples:,} of MNIST's 60,000 training images per epoch" in table
    raw = json.loads((tmp_path / "results-256.json").read_text())
    assert [len(run) for run in raw[framework]["custom"]["runs"]] == [2]
    if framework == "pytorch":  # MindSpore reports the loss on the whole training set instead
        assert raw[framework]["custom"]["history"][0][0] == pytest.approx(raw["numpy"]["NumPy"]["history"][0][0], abs=2e-3)
    if examples == bench.TRAIN_EXAMPLES:
        committed = (tmp_path / "RESULTS.md").read_text().splitlines()
    else:
        assert not (tmp_path / "RESULTS.md").exists()
        assert any("is written only by a run on all 60000 training images; it stays as it is" in line for line in said)
        results = {fw: {name: bench.summarise(r, examples) for name, r in variants.items()}
                   for fw, variants in raw.items()}
        committed = bench.results_report(results, {"batch_size": 256, "epochs": 2, "repeats": 1}, "now",
                                         bench.machine(), bench.versions([framework]), (0.0, 0.0)).splitlines()
    [row] = [line for line in committed if line.startswith(f"| {get(framework).title} |")]
    custom_s = raw[framework]["custom"]["runs"][0][1]
    assert f"| {custom_s:.2f} |" in row and "(cpu)" in row
    profile = (tmp_path / "profile-256.md").read_text()
    assert f"## {get(framework).title}" in profile
    assert (tmp_path / "profile" / framework / "stacks.txt").stat().st_size > 0
    if framework == "mindspore":  # py-spy's line table, and the compiled step's operators
        assert "| `loss, right = train_step(X, y)` |" in profile and "| MatMul |" in profile
    else:
        assert "| `loss.backward()` |" in profile and "Operators of the compiled graph" not in profile


def test_custom_over_builtin_is_the_median_of_the_pairs_ratios():
    # The process slowed down after the first pair: pooled medians would give 0.3 / 0.45.
    custom, builtin = {"run_s_per_epoch": [0.3, 0.41, 0.42]}, {"run_s_per_epoch": [0.31, 0.45, 0.45]}
    assert bench.custom_over_builtin(custom, builtin) == pytest.approx(0.42 / 0.45)  # of 0.97, 0.91, 0.93


def test_a_ratio_above_the_limit_is_reported_with_its_reason():
    slow = {"custom": {"run_s_per_epoch": [3.0, 3.3]}, "built-in": {"run_s_per_epoch": [1.0, 1.0]}}
    fine = {"custom": {"run_s_per_epoch": [1.0, 1.05]}, "built-in": {"run_s_per_epoch": [1.0, 1.0]}}
    notes = bench.ratio_notes({"mxnet": slow, "pytorch": fine, "tensorflow": slow, "numpy": {"NumPy": {}}},
                              {"mxnet": "np.dot is not fused", "pytorch": None, "tensorflow": None})
    lines = notes.strip().splitlines()
    assert lines == [
        "- MXNet: the custom layer takes 3.15x the built-in layer's time per epoch, above 1.1: np.dot is not fused.",
        "- TensorFlow: the custom layer takes 3.15x the built-in layer's time per epoch, above 1.1: no reason is "
        "recorded (set NOTE in bench/tensorflow.py).",
    ]
    assert bench.ratio_notes({"pytorch": fine}, {}) == ""


def _row(s_per_epoch, runs):
    return {"s_per_epoch": s_per_epoch, "run_s_per_epoch": runs}


def test_the_committed_report_has_date_machine_versions_and_the_ratios():
    results = {"mxnet": {"custom": _row(1.2, [1.2, 1.3]), "built-in": _row(1.0, [1.0, 1.0]), "naive": _row(5.0, [5.0]),
                         "custom, as a script": _row(1.0, [1.0, 1.0])},
               "mindspore": {"custom": _row(3.0, [3.0, 3.0])},
               "numpy": {"NumPy": _row(0.6, [0.6])}}
    host = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2, "memory_gib": 23.5, "system": "Linux x86_64",
            "python": "3.11.7"}
    installed = {"mxnet": "mxnet 1.9.1, numpy 1.23.5 (cpu)", "mindspore": "mindspore 2.10.0 (cpu)",
                 "numpy": "numpy 2.2.6 (the tooling environment)"}
    text = bench.results_report(results, {"batch_size": 256, "epochs": 4, "repeats": 3}, "2026-11-22 03:00 UTC",
                                host, installed, (0.4, 3.5))
    lines = text.splitlines()
    assert lines[0] == "# Training benchmark results"
    assert "- date: 2026-11-22 03:00 UTC" in lines
    assert ("- machine: Intel(R) Xeon(R) Processor, 2 logical cores, 23.5 GiB memory, Linux x86_64, Python 3.11.7"
            in lines)
    assert "- load average (1 min) before and after: 0.40, 3.50" in lines  # the benchmark's own load, after
    busy = bench.results_report(results, {"batch_size": 256, "epochs": 4, "repeats": 3}, "now", host, installed,
                                (1.5, 0.2)).splitlines()
    assert ("- load average (1 min) before and after: 1.50, 0.20 (other work loaded the CPU when it started: "
            "the times may be noisy)") in busy
    assert lines[-3:] == [
        "| MXNet | mxnet 1.9.1, numpy 1.23.5 (cpu) | 1.20 | 1.00 | 1.25 | 1.00 | 1.20 | 2.00 |",
        "| MindSpore | mindspore 2.10.0 (cpu) | 3.00 | - | - | - | - | 5.00 |",
        "| NumPy | numpy 2.2.6 (the tooling environment) | 0.60 | | | | | 1.00 |"]
    quiet = bench.results_report(results, {"batch_size": 256, "epochs": 4, "repeats": 3}, "now", host, installed,
                                 (0.1, 0.2))
    assert "- load average (1 min) before and after: 0.10, 0.20" in quiet.splitlines()


def test_the_machine_is_described_from_the_system():
    host = bench.machine()
    assert host["cores"] == os.cpu_count() and host["memory_gib"] > 0 and host["cpu"]
    assert host["python"] == platform.python_version()


def test_versions_come_from_the_lock_of_each_environment(monkeypatch):
    monkeypatch.setenv("TABBOOK_DEVICE", "cpu")
    found = bench.versions(["pytorch", "tensorflow"])
    keras, numpy_version = (read_pins(get("tensorflow").requirements)[name] for name in ("keras", "numpy"))
    assert found["pytorch"] == "torch 2.13.0, numpy 2.2.6 (cpu)"
    assert found["tensorflow"] == f"tensorflow-cpu 2.21.0, keras {keras}, numpy {numpy_version} (cpu)"
    monkeypatch.setenv("TABBOOK_DEVICE", "cuda")
    assert bench.versions(["mxnet"])["mxnet"] == "mxnet-cu117 1.9.1, numpy 1.23.5 (cuda)"


# --- the script mode, against hostile chapter cells (red-team findings) ---------------------------

_RESULT = 'import json\nprint("BENCH_RESULT " + json.dumps({"variants": {"custom": "REAL"}}))'


def _script_of(monkeypatch, *sources):
    """run_script runs these code cells instead of the chapter's benchmark notebook."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    monkeypatch.setattr(bench, "bench_notebook", lambda chapter, framework, params: notebook)


def test_a_cell_printing_a_result_line_does_not_replace_the_harness_result(monkeypatch):
    _script_of(monkeypatch, 'print("BENCH_RESULT " + \'{"variants": {"custom": "FAKE"}}\')', _RESULT)
    assert bench.run_script(None, "pytorch", {}) == {"custom": "REAL"}


def test_a_result_line_that_is_not_json_is_a_build_error(monkeypatch):
    _script_of(monkeypatch, 'print("BENCH_RESULT not json")')
    with pytest.raises(BuildError, match="pytorch: the benchmark script printed a result line that is not JSON"):
        bench.run_script(None, "pytorch", {})


def test_output_that_is_not_utf8_does_not_break_the_script_run(monkeypatch):
    _script_of(monkeypatch, 'import sys\nsys.stdout.buffer.write(b"\\xff caf\\xe9\\n"); sys.stdout.flush()', _RESULT,
               'sys.stderr.buffer.write(b"\\xfe\\n"); sys.stderr.flush(); sys.exit(3)')
    with pytest.raises(BuildError, match="the benchmark script failed:\n\ufffd"):
        bench.run_script(None, "pytorch", {})


def test_a_script_that_hangs_stops_at_the_timeout(monkeypatch, tmp_path):
    _script_of(monkeypatch, "import time\ntime.sleep(600)")
    start = time.perf_counter()
    with pytest.raises(BuildError, match="pytorch: the benchmark script ran longer than 2 s"):
        bench.run_script(None, "pytorch", {}, timeout=2)
    assert time.perf_counter() - start < 60


def test_the_script_gets_the_kernelspec_env_as_jupyter_substitutes_it(monkeypatch):
    from tabbook import envs

    spec = envs.kernel_spec(get("pytorch"))
    monkeypatch.setattr(envs, "kernel_spec", lambda framework: dict(
        spec, env=dict(spec["env"], TABBOOK_RT="$HOME/a ${HOME}/b $$c $NO_SUCH_VARIABLE")))
    _script_of(monkeypatch, 'import json, os\nprint("BENCH_RESULT " + json.dumps({"variants": os.environ["TABBOOK_RT"]}))')
    home = os.environ["HOME"]
    assert bench.run_script(None, "pytorch", {}) == f"{home}/a {home}/b $c $NO_SUCH_VARIABLE"


def test_a_failed_write_of_the_inputs_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "inputs.npz"
    bench.make_inputs(path)
    before = path.read_bytes()

    def broken(file, **arrays):  # writes part of the archive, then fails (or a second bench reads it now)
        with open(file, "wb") if isinstance(file, (str, os.PathLike)) else contextlib.nullcontext(file) as stream:
            stream.write(b"PK")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        bench.make_inputs(path)
    assert path.read_bytes() == before
