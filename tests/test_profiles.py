"""Summaries of the benchmark's profiles, on small hand-written profiler outputs."""
from __future__ import annotations

import pytest

from tabbook import profiles
from tabbook.errors import BuildError

CELL = "/tmp/ipykernel_41/2718.py"
STACKS = f"""\
<module> (bench.py:3);run_variants (bench.py:9);train ({CELL}:5);backward (autograd.py:80) 6
<module> (bench.py:3);run_variants (bench.py:9);train ({CELL}:5) 1
<module> (bench.py:3);run_variants (bench.py:9);train ({CELL}:7);asnumpy (ndarray.py:10) 3
<module> (bench.py:3);train (other.py:2) 50
<module> (bench.py:3);select (selectors.py:415) 40
not a stack line
"""


def test_line_shares_count_samples_per_line_of_train_only(tmp_path):
    path = tmp_path / "stacks.txt"
    path.write_text(STACKS)
    shares, samples = profiles.line_shares(path, "train", CELL)
    assert samples == 10 and shares == {5: 0.7, 7: 0.3}


def test_the_innermost_call_of_a_recursive_function_counts(tmp_path):
    path = tmp_path / "stacks.txt"
    path.write_text(f"train ({CELL}:9);helper (h.py:1);train ({CELL}:4) 2\n")
    assert profiles.line_shares(path, "train", CELL) == ({4: 1.0}, 2)


def test_no_sample_in_train_or_no_file_is_an_error(tmp_path):
    path = tmp_path / "stacks.txt"
    path.write_text("<module> (bench.py:3);select (selectors.py:415) 40\n")
    with pytest.raises(BuildError, match=r"no sample inside train\(\)"):
        profiles.line_shares(path, "train", CELL)
    with pytest.raises(BuildError, match="no py-spy profile was written"):
        profiles.line_shares(tmp_path / "missing.txt", "train", CELL)


def test_line_table_shows_the_code_and_ms_per_step_and_sums_small_lines():
    source = ["def train(net):\n", "    x = a | b\n", "    step()\n", "    log()\n"]
    table = profiles.line_table({3: 0.75, 2: 0.245, 4: 0.005}, source, ms_per_step=2.0).splitlines()
    assert table[2] == "| 3 | `step()` | 75.0% | 1.500 |"
    assert table[3] == "| 2 | `x = a \\| b` | 24.5% | 0.490 |"
    assert table[4] == "|  | (other lines) | 0.5% | 0.010 |"


OP_TABLE = """\
op_type,type_occurrences,execution_frequency(per-step),total_compute_time,avg_time(ms),percent
ReLU,2370,474,50.0,0.0211666,0.0128619
MatMul,9430,1886,2000.0,0.279685,0.67622
SGD,7050,1410,300.0,0.0456804,0.0825706
"""


def test_operator_rows_per_epoch_sorted_by_time(tmp_path):
    table = tmp_path / "run_ascend_ms" / "FRAMEWORK" / "cpu_op_type_info_0.csv"
    table.parent.mkdir(parents=True)
    table.write_text(OP_TABLE)
    rows = profiles.operator_rows(tmp_path, epochs=5)
    assert [row["operator"] for row in rows] == ["MatMul", "SGD", "ReLU"]
    assert rows[0] == {"operator": "MatMul", "per_epoch": 1886.0, "ms_per_epoch": 400.0}
    lines = profiles.operator_table(rows, s_per_epoch=0.94, top=2).splitlines()
    assert lines[2] == "| MatMul | 1886 | 400.0 | 85.1% |"
    assert lines[4] == "| (1 other types) |  | 10.0 | 2.1% |"
    assert lines[5] == "| **all operators** |  | 470.0 | 50% of the profiled epoch's 0.94 s |"


def test_a_profiler_folder_without_its_table_is_an_error(tmp_path):
    with pytest.raises(BuildError, match=r"wrote no cpu_op_type_info_\*\.csv"):
        profiles.operator_rows(tmp_path, epochs=2)
