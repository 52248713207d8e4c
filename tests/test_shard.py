"""build.py test --shard K/N: the shards partition the tests, whole notebooks at a time."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from tabbook import shard
from tabbook.frameworks import NAMES, ROOT


@pytest.mark.parametrize("text", ["", "1", "0/2", "3/2", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_a_usage_error(text):
    with pytest.raises(ValueError, match="--shard"):
        shard.parse(text)


def test_a_shard_is_k_of_n():
    assert shard.parse("2/3") == (2, 3) and shard.parse(" 1 / 1 ") == (1, 1)


keys = st.tuples(st.text("abc-", min_size=1, max_size=4), st.sampled_from(NAMES))


@given(st.dictionaries(keys, st.floats(0, 500), max_size=30), st.integers(1, 6), st.floats(0, 600))
def test_every_notebook_goes_to_one_shard_deterministically_and_balanced(seconds, n, preload):
    shards = shard.assign(seconds, n, preload)
    assert set(shards) == set(seconds) and all(1 <= s <= n for s in shards.values())
    assert shard.assign(dict(reversed(list(seconds.items()))), n, preload) == shards
    loads = [preload if s == 1 else 0.0 for s in range(1, n + 1)]
    for key, s in shards.items():
        loads[s - 1] += seconds[key]
    # The longest-processing-time rule: no shard exceeds the least loaded by more than one notebook.
    assert max(loads) - min(loads) <= max([preload, *seconds.values()], default=0) + 1e-9


def collected(*args):
    out = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", *args], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if "::" in line}


def test_the_shards_partition_the_collected_tests_by_whole_notebooks():
    everything = collected()
    parts = [collected("--shard", f"{k}/3") for k in (1, 2, 3)]
    assert set().union(*parts) == everything
    assert sum(map(len, parts)) == len(everything)
    notebooks = {(path.stem, path.parent.name) for path in (ROOT / "tabs").glob("*/*.ipynb")}
    owner = {}
    for k, part in enumerate(parts, 1):
        for test in part:
            nbval = re.match(r"tabs/(\w+)/([\w.-]+)\.ipynb::", test)
            param = re.search(r"\[([\w.-]+)-(" + "|".join(NAMES) + r")\]$", test)
            key = (nbval.group(2), nbval.group(1)) if nbval else (param.groups() if param else None)
            if key in notebooks:
                assert owner.setdefault(key, k) == k, f"{key} is split across shards"
            else:
                assert k == 1, f"{test} belongs to no notebook but ran in shard {k}"
    assert set(owner) == notebooks


def test_a_bad_shard_stops_pytest_with_a_message():
    result = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "--shard", "4/3"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "K must be between 1 and N" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
