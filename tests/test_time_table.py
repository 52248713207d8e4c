"""The table of the suite's time by part that every pytest run prints at its end (conftest.py)."""
from __future__ import annotations

import subprocess
import sys

import conftest
from tabbook.frameworks import ROOT


def test_each_test_belongs_to_the_part_of_the_first_rule_that_matches():
    assert conftest.part_of("tabs/mindspore/devices.ipynb::Cell 3") == "nbval: MindSpore"
    assert conftest.part_of("tabs/pytorch/devices.ipynb::reader's view") == "nbval: PyTorch"
    assert conftest.part_of("tests/test_claims.py::test_every_claim_of_the_book_can_fail[devices-mxnet]") == \
        "mutation runs"
    assert conftest.part_of("tests/test_claims.py::test_a_mutation_that_fails_its_assert_is_killed") == \
        "other unit tests"
    assert conftest.part_of("tests/test_book.py::test_output_images_load") == "browser and book tests"
    assert conftest.part_of("tests/test_pdf.py::test_x[a]") == "browser and book tests"
    assert conftest.part_of("tests/test_installers.py::test_y") == "environment tests"
    assert conftest.part_of("tests/test_toc.py::test_z") == "other unit tests"


def test_the_table_lists_nbval_first_then_the_other_parts_in_order_with_the_total():
    table = conftest.time_table({"other unit tests": [3, 10.0], "nbval: PyTorch": [20, 60.0],
                                 "mutation runs": [2, 20.0], "nbval: MXNet": [10, 10.0]})
    assert table.splitlines() == [
        "| part | tests | seconds | share |", "| --- | ---: | ---: | ---: |",
        "| nbval: MXNet | 10 | 10.0 | 10% |", "| nbval: PyTorch | 20 | 60.0 | 60% |",
        "| mutation runs | 2 | 20.0 | 20% |", "| other unit tests | 3 | 10.0 | 10% |",
        "| all | 35 | 100.0 | 100% |"]


def test_a_run_prints_the_table_at_its_end_and_a_collection_does_not():
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/test_pyast.py", "-k", "sees_a_direct_parse"], cwd=ROOT,
                         capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    tail = ran.stdout[ran.stdout.index("time by part"):]
    assert "| other unit tests | 1 |" in tail and "| all | 1 |" in tail, tail
    collected = subprocess.run([sys.executable, "-m", "pytest", "-q", "--co", "tests/test_pyast.py"], cwd=ROOT,
                               capture_output=True, text=True)
    assert collected.returncode == 0 and "time by part" not in collected.stdout


def test_a_run_over_two_workers_counts_every_test_once_and_says_so_under_the_table():
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile",
                          "tests/test_pyast.py", "tests/test_toc.py"], cwd=ROOT, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    passed = int(ran.stdout.rsplit(" passed", 1)[0].split()[-1])
    tail = ran.stdout[ran.stdout.index("time by part"):]
    assert f"| all | {passed} |" in tail, tail  # the workers' reports reach the controller, each once
    assert tail.count("time by part") == 1, "only the controller prints the table"
    assert "2 pytest workers side by side (the seconds above are summed over them)" in tail


def test_the_line_under_the_table_says_how_many_processes_spent_its_seconds():
    assert conftest.wall_line(12.34, 1) == "wall time 12.3 s, one pytest process"
    assert conftest.wall_line(60.0, 2).startswith("wall time 60.0 s, 2 pytest workers side by side")
