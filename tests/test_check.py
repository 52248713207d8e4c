"""build.py check: passes on the committed notebooks, fails on every kind of drift."""
from __future__ import annotations

import json
import shutil

from tabbook import check, savedcode
from tabbook.cli import main
from tabbook.frameworks import NOTEBOOKS


def test_committed_notebooks_match_their_sources():
    assert check.problems(NOTEBOOKS) == []
    assert main(["check"]) == 0


def copy_chapters(tmp_path):
    folder = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, folder)
    shutil.copytree(savedcode.saved_dir(NOTEBOOKS), savedcode.saved_dir(folder))  # the modules beside them
    return folder / "custom-layers.md"


def test_an_edited_code_cell_is_stale(tmp_path):
    source = copy_chapters(tmp_path)
    text = source.read_text()
    source.write_text(text.replace("layer = CenteredLayer()\n", "layer = CenteredLayer()  # edited\n", 1))
    before = text[: text.index("layer = CenteredLayer()\n")]
    line = before[: before.rindex("```{code-cell}")].count("\n") + 1  # the cell's fence line
    found, records = split(check.problems(source.parent))
    assert len(found) == 1
    assert found[0].startswith("tabs/mxnet/custom-layers.ipynb: does not match ")
    assert found[0].endswith(f"custom-layers.md:{line}); rebuild it with: python build.py execute custom-layers")
    # The MXNet mutations that run the edited cell have stale records now, and only those.
    assert records and all(" (MXNet) its record is stale: " in message and message.endswith(
        "refresh it with: python3 build.py claims --run --stale custom-layers") for message in records)


def split(found: list[str]) -> tuple[list[str], list[str]]:
    """check's messages: those about notebooks and the rest, those about mutation records."""
    return ([message for message in found if "claims.yml:" not in message],
            [message for message in found if "claims.yml:" in message])


def test_a_retagged_cell_is_stale(tmp_path):
    source = copy_chapters(tmp_path)
    source.write_text(source.read_text().replace(":tags: [tensorflow]\n", ":tags: [tensorflow, nbval-ignore-output]\n", 1))
    found, records = split(check.problems(source.parent))
    assert [f.split(":")[0] for f in found] == ["tabs/tensorflow/custom-layers.ipynb"]
    assert records and all(" (TensorFlow) its record is stale: " in message for message in records)


def test_a_removed_chapter_leaves_orphans(tmp_path):
    # Devices, which no other section links to, renamed: its notebooks are orphans, the new name's missing.
    folder = copy_chapters(tmp_path).parent
    for suffix in (".md", ".claims.yml", ".claims.record"):
        if (folder / f"devices{suffix}").exists():
            (folder / f"devices{suffix}").rename(folder / f"other{suffix}")
    toc = folder / "toc.yml"
    toc.write_text(toc.read_text().replace("- devices\n", "- other\n"))
    found = check.problems(folder)
    assert "tabs/pytorch/devices.ipynb: no chapter source makes this notebook; delete it, " \
           "or restore notebooks/devices.md" in found
    assert "tabs/pytorch/other.ipynb: missing; rebuild it with: python build.py execute other" in found


def test_a_malformed_source_is_reported_not_raised(tmp_path):
    source = copy_chapters(tmp_path)
    source.write_text(source.read_text().replace(":tags: [pytorch]", ":tags: [pytroch]", 1))
    found = check.problems(source.parent)
    assert len(found) == 1 and "unknown tag 'pytroch'" in found[0]


def test_a_claims_file_without_its_chapter_is_reported(tmp_path):
    source = copy_chapters(tmp_path)
    (source.parent / "custom_layers.claims.yml").write_text("mutations: []\n")
    found = check.problems(source.parent)
    assert len(found) == 1 and found[0].endswith(
        "custom_layers.claims.yml: no chapter custom_layers.md beside it, so its mutations never run; "
        "rename it after its chapter, or delete it")


def test_a_missing_record_names_the_chapter_the_mutation_and_the_command(tmp_path):
    source = copy_chapters(tmp_path)
    record = source.with_name("custom-layers.claims.record")
    entries = len(json.loads(record.read_text())["mutations"])  # each mutation, in each of its frameworks
    record.unlink()
    claims_file = str(source.with_name("custom-layers.claims.yml"))
    found = [message for message in check.problems(source.parent) if message.startswith(claims_file)]
    assert len(found) == entries
    assert all(" has no record in " in message and message.endswith(
        "custom-layers.claims.record; refresh it with: python3 build.py claims --run --stale custom-layers")
        for message in found)
    assert "(MXNet) has no record" in found[0]


def test_a_record_without_its_chapter_is_reported(tmp_path):
    source = copy_chapters(tmp_path)
    (source.parent / "custom_layers.claims.record").write_text("{}\n")
    found = check.problems(source.parent)
    assert len(found) == 1 and found[0].endswith(
        "custom_layers.claims.record: no chapter custom_layers.md beside it, so nothing reads this record; "
        "delete it")


def test_a_notebook_edited_by_hand_under_its_key_is_told_to_force(monkeypatch):
    # Red team 7: cells moved by hand keep the execution key, so plain execute says "cached".
    from tabbook import stored as stored_module
    read = stored_module.read

    def moved(path, chapter, framework):
        notebook = read(path, chapter, framework)
        if (chapter, framework) == ("custom-layers", "pytorch"):
            notebook.cells[-1], notebook.cells[-2] = notebook.cells[-2], notebook.cells[-1]
        return notebook

    monkeypatch.setattr(check.stored_module, "read", moved)
    found = [message for message in check.problems(NOTEBOOKS) if message.startswith("tabs/pytorch/custom-layers")]
    assert len(found) == 1 and found[0].endswith(
        "its cells were edited by hand (its execution key is the chapter's, so only --force executes it again): "
        "python build.py execute custom-layers -f pytorch --force"), found
