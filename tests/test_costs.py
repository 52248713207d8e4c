"""tabbook.costs: one more notebook's and one more mutation's cost, from what the book recorded."""
from __future__ import annotations

import json

from tabbook import costs


def test_the_costs_are_the_recorded_seconds_per_framework(tmp_path):
    tabs, notebooks = tmp_path / "tabs", tmp_path / "notebooks"
    for framework, chapter, seconds in [("pytorch", "a", 10.0), ("pytorch", "b", 30.0), ("mxnet", "a", 5.0)]:
        (tabs / framework).mkdir(parents=True, exist_ok=True)
        (tabs / framework / f"{chapter}.ipynb").write_text(json.dumps({"metadata": {"tabbook": {"seconds": seconds}}}))
    (tabs / "mxnet" / "unexecuted.ipynb").write_text(json.dumps({"metadata": {}}))  # no seconds: left out
    notebooks.mkdir()
    entries = [{"claim": c, "framework": f, "key": "k", "outcome": "killed", "seconds": s}
               for c, f, s in [("x", "pytorch", 4.0), ("y", "pytorch", 8.0), ("x", "mxnet", 3.0)]]
    (notebooks / "a.claims.record").write_text(json.dumps({"chapter": "a", "mutations": entries}))
    (notebooks / "b.claims.record").write_text("not json")  # unreadable: left out
    found, runs = costs.notebook_seconds(tabs), costs.mutation_seconds(notebooks)
    assert found == {"mxnet": [5.0], "pytorch": [10.0, 30.0]}
    assert runs == {"pytorch": [4.0, 8.0], "mxnet": [3.0]}
    assert costs.table(found, runs).splitlines()[2:] == [
        "| MXNet | 1 | 5.0 | 5 | 1 | 1.0 | 3.0 | 3 |",
        "| PyTorch | 2 | 20.0 | 40 | 2 | 1.0 | 6.0 | 12 |",
        "| all | 3 | 15.0 | 45 | 3 | 1.0 | 5.0 | 15 |"]
