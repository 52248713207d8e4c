"""How many pytest workers build.py test starts, and when the command line chooses instead
(tabbook/workers.py)."""
from __future__ import annotations

from tabbook import workers

GIB = 2**30


def test_one_worker_per_cpu_bounded_by_memory_and_never_none():
    assert workers.count(2, 24 * GIB) == 2
    assert workers.count(64, 24 * GIB) == 6, "a big machine with little memory: one worker per 4 GiB"
    assert workers.count(8, 2 * GIB) == 1
    assert workers.count(1, None) == 1
    assert workers.count(4, None) == 4, "memory unknown: one per CPU"


def test_this_machine_gets_at_least_one_worker_and_no_more_than_its_cpus():
    assert 1 <= workers.count() <= workers.cpus()


def test_the_options_send_whole_files_and_notebooks_to_each_worker():
    assert workers.options([], 2) == ["-n", "2", "--dist", "loadfile"]
    assert workers.options(["-k", "data", "tests/test_toc.py", "--color=yes", "-x"], 3) == [
        "-n", "3", "--dist", "loadfile"]
    assert workers.options([], 1) == [], "one worker: plain pytest, no controller"


def test_a_command_line_that_chooses_its_workers_or_needs_the_terminal_keeps_its_choice():
    for chosen in (["-n", "4"], ["-n4"], ["--numprocesses=4"], ["--numprocesses", "0"], ["--dist", "load"],
                   ["--dist=worksteal"], ["-p", "no:xdist"], ["-pno:xdist"], ["--pdb"], ["--trace"],
                   ["--co"], ["--collect-only"], ["--collectonly"], ["-q", "--pdb", "tests"], ["-s"],
                   ["--capture=no"], ["--capture", "no"], ["-sx"]):
        assert workers.options(chosen, 2) == [], chosen
