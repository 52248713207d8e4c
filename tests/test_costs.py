"""tabbook.costs: one more notebook's and one more mutation's cost, from what the book recorded."""
from __future__ import annotations

import json

from tabbook import costs


def test_the_costs_are_the_recorded_seconds_per_framework(tmp_path):
    tabs, notebooks = tmp_path / "tabs", tmp_path / "notebooks"
    for framework, chapter, seconds in [("pytorch", "a", 10.0), ("pytorch", "b", 30.0), ("mxnet", "a", 5.0)]:
        (tabs / framework).mkdir(parents=True, exist_ok=True)
        (tabs / framework / f"{chapter}.ipynb").write_text(json.dumps({"metadata": {"dlblocks": {"seconds": seconds}}}))
    (tabs / "mxnet" / "unexecuted.ipynb").write_text(json.dumps({"metadata": {}}))  # no seconds: left out
    notebooks.mkdir()
    entries = [{"claim": c, "framework": f, "key": "k", "outcome": "killed", "seconds": s}
               for c, f, s in [("x", "pytorch", 4.0), ("y", "pytorch", 8.0), ("x", "mxnet", 3.0)]]
    (notebooks / "a.claims.record").write_text(json.dumps({"chapter": "a", "mutations": entries}))
    (notebooks / "b.claims.record").write_text("not json")  # unreadable: left out, with a warning
    warnings = []
    found, runs = costs.notebook_seconds(tabs, warnings.append), costs.mutation_seconds(notebooks, warnings.append)
    assert len(warnings) == 1 and "b.claims.record: not a readable record" in warnings[0]
    assert found == {"mxnet": [5.0], "pytorch": [10.0, 30.0]}
    assert runs == {"pytorch": [4.0, 8.0], "mxnet": [3.0]}
    assert costs.table(found, runs).splitlines()[2:] == [
        "| MXNet | 1 | 5.0 | 5 | 1 | 1.0 | 3.0 | 3 |",
        "| PyTorch | 2 | 20.0 | 40 | 2 | 1.0 | 6.0 | 12 |",
        "| all | 3 | 15.0 | 45 | 3 | 1.0 | 5.0 | 15 |"]


def test_a_malformed_entry_is_skipped_with_a_warning_naming_file_and_entry_and_the_rest_are_kept(tmp_path):
    """Red team: an entry with no seconds used to drop every entry after it, and "NaN" seconds
    (JSON allows it) made the table print nan."""
    good = {"claim": "ok", "framework": "pytorch", "key": "k", "outcome": "killed", "seconds": 4.0}
    entries = [good, {**good, "claim": "no seconds", "seconds": None}, {**good, "claim": "nan", "seconds": float("nan")},
               {**good, "claim": "text", "seconds": "12"}, {**good, "claim": "negative", "seconds": -1},
               {**good, "claim": "no framework", "framework": None}, "not an entry", {**good, "seconds": 6.0}]
    (tmp_path / "a.claims.record").write_text(json.dumps({"chapter": "a", "mutations": entries}))
    warnings = []
    runs = costs.mutation_seconds(tmp_path, warnings.append)
    assert runs == {"pytorch": [4.0, 6.0]}  # the entry after the bad ones is kept
    assert [line.split(": ")[2] for line in warnings] == [
        "mutation entry 2 (claim 'no seconds')", "mutation entry 3 (claim 'nan')", "mutation entry 4 (claim 'text')",
        "mutation entry 5 (claim 'negative')", "mutation entry 6 (claim 'no framework')", "mutation entry 7"]
    assert all(line.startswith("warning: ") and "a.claims.record" in line for line in warnings)
    assert "seconds nan, not a number of seconds" in warnings[1]
    assert "nan" not in costs.table({}, runs)


def test_a_notebook_with_nan_seconds_is_left_out_with_a_warning(tmp_path):
    (tmp_path / "pytorch").mkdir()
    (tmp_path / "pytorch" / "a.ipynb").write_text(json.dumps({"metadata": {"dlblocks": {"seconds": float("nan")}}}))
    (tmp_path / "pytorch" / "b.ipynb").write_text(json.dumps({"metadata": {"dlblocks": {"seconds": 7}}}))
    warnings = []
    found = costs.notebook_seconds(tmp_path, warnings.append)
    assert found == {"pytorch": [7.0]}
    assert len(warnings) == 1 and "a.ipynb: metadata.dlblocks.seconds is nan" in warnings[0]
    assert "nan" not in costs.table(found, {})


def test_the_command_prints_warnings_to_stderr_and_a_table_without_nan(tmp_path, capsys, monkeypatch):
    record = {"chapter": "a", "mutations": [{"claim": "x", "framework": "mxnet", "seconds": float("nan")},
                                            {"claim": "y", "framework": "mxnet", "seconds": 2.0}]}
    (tmp_path / "a.claims.record").write_text(json.dumps(record))
    monkeypatch.setattr(costs, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(costs, "TABS", tmp_path / "tabs")
    assert costs.main() == 0
    out, err = capsys.readouterr()
    assert "nan" not in out and "| MXNet | 0 | 0.0 | 0 | 1 | 0.0 | 2.0 | 2 |" in out
    assert err.startswith("warning: ") and "mutation entry 1 (claim 'x')" in err


def test_a_notebook_or_record_nested_too_deeply_is_left_out_with_a_warning_naming_it(tmp_path, capsys, monkeypatch):
    """Red team: JSON nested 200000 deep stopped the command with a raw RecursionError."""
    deep = "[" * 200000 + "]" * 200000
    (tmp_path / "tabs" / "pytorch").mkdir(parents=True)
    (tmp_path / "tabs" / "pytorch" / "devices.ipynb").write_text(deep)
    (tmp_path / "tabs" / "pytorch" / "b.ipynb").write_text('{"metadata": {"dlblocks": {"seconds": 7}}, "x": ' + deep + "}")
    (tmp_path / "tabs" / "pytorch" / "c.ipynb").write_text(json.dumps({"metadata": {"dlblocks": {"seconds": 3}}}))
    (tmp_path / "a.claims.record").write_text('{"mutations": ' + deep + "}")
    monkeypatch.setattr(costs, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(costs, "TABS", tmp_path / "tabs")
    assert costs.main() == 0
    out, err = capsys.readouterr()
    assert "| PyTorch | 1 | 3.0 | 3 |" in out
    lines = err.splitlines()
    assert len(lines) == 3 and "Traceback" not in err
    for name in ("a.claims.record: not a readable record", "b.ipynb: not a readable notebook",
                 "devices.ipynb: not a readable notebook"):
        assert any(name in line and "nested too deeply" in line and "restore it with: git checkout -- " in line
                   for line in lines), name


def test_a_deeply_nested_claim_or_seconds_is_shown_cut_short(tmp_path):
    nested: list = []
    for _ in range(500):
        nested = [nested]
    entries = [{"claim": nested, "framework": "pytorch", "seconds": nested}]
    (tmp_path / "a.claims.record").write_text(json.dumps({"chapter": "a", "mutations": entries}))
    warnings = []
    assert costs.mutation_seconds(tmp_path, warnings.append) == {}
    assert len(warnings) == 1 and "mutation entry 1 (claim [[" in warnings[0] and "..." in warnings[0]
    assert len(warnings[0]) < 300  # not 500 brackets each
