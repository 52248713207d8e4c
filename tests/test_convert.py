"""Conversion into framework notebooks, and merging them back, on examples and random chapters."""
from __future__ import annotations

import json

import nbformat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabbook.convert import code_fingerprint, to_notebook, write_notebook
from tabbook.frameworks import NAMES
from tabbook.merge import merge
from tabbook.source import read_chapter

from .conftest import FOUR, FRONT, cell, chapter_text


def test_each_notebook_names_its_kernel(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(*FOUR)))
    for name in NAMES:
        notebook = to_notebook(chapter, name)
        # The generic kernelspec for readers; the framework's kernel for the book's tools.
        assert notebook.metadata.kernelspec.name == "python3"
        assert notebook.metadata.dlblocks.kernel == f"dlblocks-{name}"
        assert notebook.metadata.dlblocks.framework == name
        nbformat.validate(notebook)


def test_framework_tags_are_dropped_and_others_kept(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch, nbval-ignore-output]", "t = 0"), *FOUR)))
    first_code = [c for c in to_notebook(chapter, "pytorch").cells
                  if c.cell_type == "code" and "generated" not in c.metadata.dlblocks][0]
    assert first_code.metadata.tags == ["nbval-ignore-output"]
    assert first_code.metadata.dlblocks == {"cell": 1, "line": 11}


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path, write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(*FOUR)))
    target = tmp_path / "out" / "chap.ipynb"
    write_notebook(to_notebook(chapter, "mxnet"), target)
    assert [p.name for p in target.parent.iterdir()] == ["chap.ipynb"]
    assert nbformat.read(target, as_version=4).metadata.dlblocks.framework == "mxnet"


def test_fingerprint_ignores_outputs(write_chapter):
    chapter = read_chapter(write_chapter(chapter_text(*FOUR)))
    notebook = to_notebook(chapter, "tensorflow")
    before = code_fingerprint(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"][-1]
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="3\n")]
    code.execution_count = 1
    assert code_fingerprint(notebook) == before
    code.source = "x = 30"
    assert code_fingerprint(notebook) != before


# Random chapters: prose and code cells with random framework tags.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=30).filter(str.strip)
TAGS = st.one_of(st.just(("all",)), st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True).map(tuple))
CELLS = st.lists(st.one_of(
    st.tuples(st.just("code"), TAGS, st.integers(0, 999).map(lambda n: f"value = {n}")),
    st.tuples(st.just("markdown"), st.one_of(st.just(()), TAGS.filter(lambda t: t != ("all",))), WORDS),
), max_size=12)


def render(cells) -> str:
    """The MyST source of a random chapter; a code cell per framework comes last so none is missing."""
    parts = [FRONT, "# Random chapter\n"]
    for kind, tags, text in cells:
        if kind == "code":
            parts.append(cell(f"[{', '.join(tags)}]", text))
        else:
            parts.append(f"+++ {json.dumps({'tags': list(tags)})}\n" if tags else "+++\n")
            parts.append(text.strip() + "\n")
    parts.extend(FOUR)
    return "\n".join(parts)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CELLS)
def test_random_chapters_split_and_merge_back(write_chapter, cells):
    chapter = read_chapter(write_chapter(render(cells)))
    notebooks = {name: to_notebook(chapter, name) for name in NAMES}
    # Every framework notebook holds exactly the cells tagged for it, in order.
    # after the generated setup cells (tests/test_standalone.py), which merging leaves out.
    for name, notebook in notebooks.items():
        expected = [(c.kind, c.source) for c in chapter.cells if name in c.frameworks]
        chapter_cells = [c for c in notebook.cells if "generated" not in c.metadata.dlblocks]
        assert [(c.cell_type, c.source) for c in chapter_cells] == expected
        generated = [i for i, c in enumerate(notebook.cells) if "generated" in c.metadata.dlblocks]
        assert [notebook.cells[i].metadata.dlblocks.generated for i in generated] == ["setup"]
        # right after the title cell, before any code
        assert all(c.cell_type == "markdown" for c in notebook.cells[:generated[0]])
        assert generated[0] <= 1 and (generated[0] == 0 or "# " + chapter.title in notebook.cells[0].source)
    # Merging the four notebooks back gives the chapter's cells in source order.
    merged = merge(notebooks)
    assert [m.index for m in merged] == list(range(len(chapter.cells)))
    for item in merged:
        source = chapter.cells[item.index]
        assert set(item.cells) == set(source.frameworks)
        assert {c.source for c in item.cells.values()} == {source.source}
    # Converting twice gives byte-identical notebooks.
    again = read_chapter(chapter.path)
    for name in NAMES:
        assert nbformat.writes(to_notebook(again, name)) == nbformat.writes(notebooks[name])


def test_a_removed_code_cell_is_collapsed_in_the_notebook(write_chapter):
    # A notebook setting the book removes shows as its first line in Jupyter (review 7).
    chapter = read_chapter(write_chapter(chapter_text(cell("[pytorch, remove-cell]", "# Settings\nimport os"),
                                                      cell("[pytorch]", "y = 1"), *FOUR)))
    notebook = to_notebook(chapter, "pytorch")
    settings = next(c for c in notebook.cells if c.source.startswith("# Settings"))
    assert settings.metadata.jupyter == {"source_hidden": True}
    lesson = next(c for c in notebook.cells if c.source == "y = 1")
    assert "jupyter" not in lesson.metadata
