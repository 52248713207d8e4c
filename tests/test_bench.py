"""The benchmark's plumbing (no timing is asserted: these machines are noisy)."""
from __future__ import annotations

import numpy as np
import pytest

from tabbook import bench
from tabbook.errors import BuildError
from tabbook.frameworks import NAMES, NOTEBOOKS
from tabbook.source import read_chapter

from .conftest import FOUR, chapter_text


def test_each_framework_runs_the_notebook_up_to_its_bench_replace_cell():
    chapter = read_chapter(NOTEBOOKS / "custom-layers.md")
    for name in NAMES:
        notebook = bench.bench_notebook(chapter, name, {"epochs": 2})
        sources = [cell.source for cell in notebook.cells]
        assert any(source.startswith("def train(") or "\ndef train(" in source for source in sources)
        replaced = [c.source for c in chapter.cells if name in c.frameworks and "bench-replace" in c.tags]
        assert len(replaced) == 1 and replaced[0] not in sources
        assert sources[-3] == 'BENCH = {"epochs": 2}'
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


def test_summary_uses_the_median_after_the_warm_up_and_the_table_its_ratios():
    raw = {"epoch_seconds": [9.0, 2.0, 3.0, 2.5], "history": [[0.5, 0.8, 0.9], [0.2, 0.9, 0.97]]}
    row = bench.summarise(raw)
    assert row["s_per_epoch"] == 2.5 and row["examples_per_s"] == 24000 and row["test_accuracy"] == 0.97
    results = {"pytorch": {"custom": row, "built-in": dict(row, s_per_epoch=2.0)},
               "numpy": {"NumPy": dict(row, s_per_epoch=1.25)}}
    lines = bench.table(results).splitlines()
    assert lines[2] == "| PyTorch | custom | 4 | 2.50 | 24,000 | 0.5000 | 0.9700 | 1.25 | 2.00 |"
    assert lines[4].startswith("| NumPy | NumPy | 4 | 1.25 |") and lines[4].endswith("| 1.00 |")
