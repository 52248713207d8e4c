"""Mutation tests of the chapters' claims: the claims file, coverage, and mutations in real kernels.

The last test is the real check: every assert of every chapter in notebooks/ is covered by a
mutation (or listed as unmutated with a reason), and every mutation makes its assert fail.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import textwrap
import time
import types

import nbformat
import pytest

from tabbook import claimrecords, claims, cli, convert, execute
from tabbook.errors import SourceError
from tabbook.frameworks import NAMES, NOTEBOOKS, ROOT, get
from tabbook.source import find_chapters, read_chapter

from .conftest import FOUR, cell, chapter_text

DEFINE = "def center(xs):\n    m = sum(xs) / len(xs)\n    return [x - m for x in xs]"
USE = "ys = center([1, 2, 3])\nassert ys == [-1, 0, 1]"
SHARED = "total = 1 + 1\nassert total == 2"
# Lines of the cells in chapter_text(cell(DEFINE), cell(USE), cell(SHARED), *FOUR): the openers.
DEFINE_LINE, USE_LINE = 11, 18

KILLED = """
    mutations:
      - claim: center subtracts the mean
        frameworks: [pytorch]
        replace:
          - ["return [x - m for x in xs]", "return xs"]
        fails: "ys == [-1, 0, 1]"
    """


@pytest.fixture
def chapter(write_chapter):
    """A chapter whose PyTorch tab defines center() and asserts what it returns, then a shared
    cell that asserts 1 + 1 == 2; make it with chapter(*extra_cells, claims=YAML)."""

    def make(*extra: str, claims_text: str = "", cells=None):
        cells = cells or [cell("[pytorch]", DEFINE), cell("[pytorch]", USE), cell("[all]", SHARED), *extra]
        path = write_chapter(chapter_text(*cells, *FOUR))
        if claims_text:
            path.with_name("chap.claims.yml").write_text(textwrap.dedent(claims_text).lstrip("\n"))
        return read_chapter(path)

    return make


def index_of(chapter, source: str, framework: str = "pytorch") -> int:
    """The index of the cell with ``source`` in the chapter's notebook for ``framework``."""
    cells = convert.to_notebook(chapter, framework).cells
    return next(index for index, cell in enumerate(cells) if cell.source == source)


def load_error(chapter, claims_text: str) -> SourceError:
    """The SourceError that loading ``claims_text`` as the chapter's claims file raises."""
    made = chapter(claims_text=claims_text)
    with pytest.raises(SourceError) as raised:
        claims.load_claims(made)
    assert raised.value.path == made.path.with_name("chap.claims.yml")
    return raised.value


# --- the claims file -------------------------------------------------------------------------

def test_no_claims_file_gives_empty_claims(chapter):
    made = chapter()
    loaded = claims.load_claims(made)
    assert loaded == claims.Claims(made.path.with_name("chap.claims.yml"))


def test_a_mutation_is_resolved_to_its_target_assert(chapter):
    made = chapter(claims_text=KILLED)
    (mutation,) = claims.load_claims(made).mutations
    assert (mutation.claim, mutation.frameworks, mutation.fails, mutation.line) == (
        "center subtracts the mean", ("pytorch",), {"pytorch": "ys == [-1, 0, 1]"}, 2)
    assert mutation.replace == (claims.Replacement("return [x - m for x in xs]", "return xs", 5),)
    target = mutation.targets["pytorch"]
    assert (target.cell, target.source_line, target.line, target.end_line, target.text) == (
        index_of(made, USE), USE_LINE, 2, 2, "assert ys == [-1, 0, 1]")


def test_an_ambiguous_old_text_is_an_error_at_its_pair(chapter):
    error = load_error(chapter, """
        mutations:
          - claim: center subtracts the mean
            replace:
              - ["return [x - m for x in xs]", "return xs"]
              - ["xs", "ys"]
            fails: "ys =="
        """)
    assert error.line == 5
    assert error.message.startswith("mutation 'center subtracts the mean': [old, new] pair 2 is ambiguous in "
                                    "pytorch: 'xs' occurs ")
    assert "add context" in error.hint


def test_a_pair_that_changes_nothing_is_an_error_at_its_line(chapter):
    error = load_error(chapter, """
        mutations:
          - claim: center subtracts the mean
            replace:
              - ["return [x - m for x in xs]", "return xs"]
              - ["foo", "bar"]
            fails: "ys =="
        """)
    assert str(error).splitlines()[0].endswith("chap.claims.yml:5: mutation 'center subtracts the mean': "
                                               "[old, new] pair 2 changes nothing: 'foo' is in no code cell "
                                               "of any framework")


def test_a_pair_for_a_framework_the_mutation_leaves_out_is_named_in_the_hint(chapter):
    error = load_error(chapter, """
        mutations:
          - claim: x is three
            frameworks: [tensorflow]
            replace:
              - ["total = 1 + 1", "total = 3"]
              - ["x = 2", "x = 5"]
            fails: "total == 2"
        """)
    assert (error.line, error.hint) == (6, "it is in pytorch: add that to 'frameworks'")
    assert "pair 2 changes nothing: 'x = 2' is in no code cell of tensorflow" in error.message


def test_a_mutation_that_changes_nothing_in_one_of_its_frameworks_is_an_error(chapter):
    error = load_error(chapter, """
        mutations:
          - claim: center subtracts the mean
            frameworks: [mxnet, pytorch]
            replace:
              - ["return [x - m for x in xs]", "return xs"]
            fails: "ys =="
        """)
    assert (error.line, error.message) == (
        2, "mutation 'center subtracts the mean' changes nothing in mxnet: "
           "none of its old texts is in a mxnet code cell")


def test_an_unknown_framework_is_an_error_with_a_suggestion(chapter):
    error = load_error(chapter, KILLED.replace("[pytorch]", "[pytroch]"))
    assert (error.line, error.message, error.hint) == (
        3, "mutation 'center subtracts the mean': unknown framework 'pytroch'", "did you mean 'pytorch'?")


def test_a_framework_the_chapter_omits_is_an_error(write_chapter):
    front = "---\ntabbook:\n  omit:\n    mindspore: no reason needed here\n---\n"
    path = write_chapter(chapter_text(cell("[pytorch]", DEFINE), cell("[pytorch]", USE), *FOUR[:3], front=front))
    path.with_name("chap.claims.yml").write_text(textwrap.dedent(KILLED.replace("[pytorch]", "[mindspore]")))
    with pytest.raises(SourceError, match=r"claims.yml:4: mutation 'center subtracts the mean': chap omits "
                                          r"mindspore \(no reason needed here\)"):
        claims.load_claims(read_chapter(path))


def test_a_missing_fails_is_an_error_at_the_mutation(chapter):
    error = load_error(chapter, KILLED.replace('fails: "ys == [-1, 0, 1]"', ""))
    assert (error.line, error.message) == (2, "mutation 'center subtracts the mean' has no 'fails'")


def test_a_fails_string_that_no_assert_contains_is_an_error_at_its_line(chapter):
    error = load_error(chapter, KILLED.replace('fails: "ys == [-1, 0, 1]"', 'fails: "ys == [0]"'))
    assert error.line == 6
    assert error.message.startswith("mutation 'center subtracts the mean': no pytorch assert in or after the "
                                    f"first changed cell (line {DEFINE_LINE} of ")
    assert error.message.endswith("contains 'ys == [0]'")


def test_the_target_is_the_first_matching_assert_after_the_first_change(chapter):
    """'== 2' is in the shared cell's assert and in the later one: the change picks the later."""
    made = chapter(cell("[pytorch]", "total = 2\nassert total == 2"), claims_text="""
        mutations:
          - claim: the second total is two
            frameworks: [pytorch]
            replace: [["total = 2", "total = 3"]]
            fails: "== 2"
        """)
    target = claims.load_claims(made).mutations[0].targets["pytorch"]
    assert (target.cell, target.line) == (index_of(made, "total = 2\nassert total == 2"), 2)


def test_fails_may_name_an_assert_per_framework_and_must_name_one_for_each(chapter):
    text = """
        mutations:
          - claim: one plus one is two
            replace: [["total = 1 + 1", "total = 1 + 2"]]
            fails:
              mxnet: "total == 2"
              pytorch: "== 2"
              tensorflow: "total"
        """
    error = load_error(chapter, text)
    assert (error.line, error.message) == (5, "mutation 'one plus one is two': 'fails' names no assert for mindspore")
    text = text.replace('"total"', '"total"\n              mindspore: "assert"')
    loaded = claims.load_claims(chapter(claims_text=text))
    assert loaded.mutations[0].fails == {"mxnet": "total == 2", "pytorch": "== 2", "tensorflow": "total",
                                         "mindspore": "assert"}


def test_an_unmutated_entry_that_names_no_assert_is_stale(chapter):
    error = load_error(chapter, """
        unmutated:
          - assert: "ys == [-1, 0, 1]"
            frameworks: [pytorch]
            why: it is obvious
          - assert: "total == 3"
            why: it used to be three
        """)
    assert (error.line, error.message) == (5, "unmutated 'total == 3' names no assert of mxnet")


def test_an_unmutated_entry_for_an_assert_that_is_mutated_is_stale(chapter):
    error = load_error(chapter, KILLED + """
    unmutated:
      - assert: "ys =="
        frameworks: [pytorch]
        why: no reason
    """)
    assert (error.line, error.message) == (
        9, "unmutated 'ys ==': every pytorch assert it names is the target of a mutation")


def test_a_skip_entry_in_no_cell_is_stale_and_run_must_name_a_skip_entry(chapter):
    error = load_error(chapter, 'skip:\n  - "train(net)"\n' + textwrap.dedent(KILLED))
    assert (error.line, error.message) == (2, "skip entry 'train(net)' is in no code cell of chap")
    error = load_error(chapter, 'skip:\n  - "total = 1"\n' + textwrap.dedent(KILLED) + '    run: ["total ="]\n')
    assert (error.line, error.message) == (10, "mutation 'center subtracts the mean': run entry 'total =' is "
                                               "not a skip entry")
    assert error.hint == "'run' lists skip entries, written the same way: 'total = 1'"


def test_a_mutation_may_skip_cells_of_its_own_which_must_exist(chapter):
    made = chapter(claims_text=KILLED + '    skip: ["total = 1 + 1"]\n')
    assert claims.load_claims(made).mutations[0].skip == (claims.Skip("total = 1 + 1", 7),)
    error = load_error(chapter, KILLED + '    skip: ["x = 1"]\n')
    assert (error.line, error.message) == (7, "mutation 'center subtracts the mean': skip entry 'x = 1' is in no "
                                              "code cell of pytorch")


def test_a_backslash_n_outside_double_quotes_gets_a_hint(chapter):
    error = load_error(chapter, KILLED.replace('["return [x - m for x in xs]", "return xs"]',
                                               "['m = sum(xs) / len(xs)\\n    return', 'return']"))
    assert error.hint.startswith("the old text holds a backslash and 'n', not a line break")


def test_a_yaml_syntax_error_is_reported_at_its_line(chapter):
    error = load_error(chapter, 'mutations:\n  - claim: "unclosed\n    fails: x\n')
    assert error.line == 4 and error.message.startswith("malformed YAML: ")


@pytest.mark.parametrize("text, line, message", [
    (KILLED.replace("fails:", "fail:"), 6, "unknown key 'fail' in a mutation"),
    ("mutations:\n  claim: x\n", 2, "'mutations' must be a list"),
    (KILLED.replace('- ["return [x - m for x in xs]", "return xs"]', '- "return xs"'), 5,
     "mutation 'center subtracts the mean': replace pair 1 is not an [old, new] pair"),
    (KILLED.replace("replace:", "replace: []\n        ignored:"), 5, "unknown key 'ignored' in a mutation"),
    (KILLED.replace("- claim: center subtracts the mean", "- claim: [a, b]"), 2, "'claim' is not a string"),
    ("unmutated:\n  - assert: total == 2\n", 2, "an 'unmutated' entry has no 'why'"),
    ("[1, 2]\n", 1, "the claims file must be a mapping of skip, mutations, unmutated"),
])
def test_malformed_entries_are_errors_at_their_line(chapter, text, line, message):
    error = load_error(chapter, text)
    assert (error.line, error.message) == (line, message)


# --- asserts and coverage ----------------------------------------------------------------------

def test_find_asserts_reads_multi_line_asserts_magics_and_functions(chapter):
    code = ("%pip install nothing\n!ls\nx = [1,\n     2]\nassert (x ==\n        [1, 2]), 'x'\n"
            "def check():\n    assert x")
    made = chapter(cells=[cell("[pytorch]", code), cell("[pytorch]", "%%bash\necho $((1 +))\nassert")])
    sites = claims.find_asserts(convert.to_notebook(made, "pytorch"))
    first = index_of(made, code)
    assert [(s.cell, s.line, s.end_line, s.text) for s in sites] == [
        (first, 5, 6, "assert (x ==\n        [1, 2]), 'x'"), (first, 8, 8, "assert x")]
    assert (sites[0].framework, sites[0].source_line, sites[0].chapter) == ("pytorch", 11, "chap")


def test_coverage_classifies_each_assert_and_the_table_counts_them(chapter):
    made = chapter(claims_text=KILLED + """
    unmutated:
      - assert: "total == 2"
        frameworks: [mxnet, pytorch]
        why: arithmetic
    """)
    cover = claims.coverage(made, claims.load_claims(made))
    assert [(item.site.framework, item.status, item.why) for item in cover.asserts] == [
        ("mxnet", "unmutated", "arithmetic"), ("pytorch", "mutated", "center subtracts the mean"),
        ("pytorch", "unmutated", "arithmetic"), ("tensorflow", "uncovered", ""), ("mindspore", "uncovered", "")]
    assert claims.coverage_table([cover]).splitlines()[2:4] == [
        "| chap | MXNet | 1 | 0 | 1 | 0 |", "| chap | PyTorch | 2 | 1 | 1 | 0 |"]
    lists = claims.coverage_lists([cover])
    assert "chap: 2 uncovered asserts" in lists and "- TensorFlow, " in lists
    assert ": `assert total == 2`: arithmetic" in lists
    only = claims.coverage(made, claims.load_claims(made), ["pytorch"])
    assert only.frameworks == ("pytorch",) and len(only.asserts) == 2


def test_the_mutated_target_follows_lines_the_mutation_adds(chapter):
    made = chapter(claims_text="""
        mutations:
          - claim: ys is centred
            frameworks: [pytorch]
            replace: [["ys = center([1, 2, 3])", "ys = center([1, 2, 3])\\nys = ys[::-1]\\n"]]
            fails: "ys =="
        """)
    loaded = claims.load_claims(made)
    mutant = claims.mutate(made, loaded, loaded.mutations[0], "pytorch")
    assert (mutant.changed, mutant.target.line, loaded.mutations[0].targets["pytorch"].line) == (
        (index_of(made, USE),), 4, 2)


@pytest.mark.parametrize("new, what", [("ys ==", "it has 1, mutated 0"),
                                       ("assert (ys ==", "the mutated cell does not parse")])
def test_a_mutation_of_the_target_cell_must_keep_its_asserts(chapter, new, what):
    error = load_error(chapter, KILLED.replace('["return [x - m for x in xs]", "return xs"]', f'["assert ys ==", "{new}"]'))
    assert error.line == 2
    assert error.message.startswith("mutation 'center subtracts the mean' changes the asserts of the target cell in "
                                    "pytorch (")
    assert error.message.endswith(f"chap.md:{USE_LINE}, line 2 of the cell): {what}")


# --- mutations in the PyTorch kernel (plain Python cells: each kernel starts in about a second) ---

OUTCOMES = """
    skip:
      - "raise RuntimeError('slow training')"
    mutations:
      - claim: center subtracts the mean
        frameworks: [pytorch]
        replace: [["return [x - m for x in xs]", "return xs"]]
        fails: "ys == [-1, 0, 1]"
      - claim: the mean is the mean
        frameworks: [pytorch]
        replace: [["m = sum(xs) / len(xs)", "m = sum(xs) / len(xs) + 0"]]
        fails: "ys == [-1, 0, 1]"
      - claim: broken before the target
        frameworks: [pytorch]
        replace: [["def center(xs):", "raise ValueError('mutated away')\\ndef center(xs):"]]
        fails: "ys == [-1, 0, 1]"
      - claim: broken in the target
        frameworks: [pytorch]
        replace: [["m = sum(xs) / len(xs)", "m = sum(xs) / 0"]]
        fails: "ys == [-1, 0, 1]"
      - claim: one plus one is two
        frameworks: [pytorch]
        replace: [["total = 1 + 1", "total = 1 + 2"]]
        fails: "total == 2"
      - claim: one plus one is still two
        frameworks: [pytorch]
        replace: [["total = 1 + 1", "total = 1 + 3"]]
        fails: "total == 2"
        run: ["raise RuntimeError('slow training')"]
      - claim: an assert inside a function the target calls
        frameworks: [pytorch]
        replace:
          - ["assert ys == [-1, 0, 1]", "assert check(ys) == [-1, 0, 1]"]
          - ["return [x - m for x in xs]", "return [x - m for x in xs]\n\ndef check(ys):\n    assert False"]
        fails: "ys == [-1, 0, 1]"
      - claim: one plus one is two, center's assert skipped
        frameworks: [pytorch]
        replace: [["return [x - m for x in xs]", "return xs"], ["total = 1 + 1", "total = 1 + 2"]]
        fails: "total == 2"
        skip: ["ys = center("]
    """


@pytest.fixture(scope="module")
def outcome_chapter(tmp_path_factory):
    """The chapter of OUTCOMES: center() and its assert, a slow cell, the shared cell."""
    folder = tmp_path_factory.mktemp("outcomes")
    path = folder / "chap.md"
    slow = cell("[pytorch]", "raise RuntimeError('slow training')")
    path.write_text(chapter_text(cell("[pytorch]", DEFINE), cell("[pytorch]", USE), slow, cell("[all]", SHARED), *FOUR))
    (folder / "chap.claims.yml").write_text(textwrap.dedent(OUTCOMES).lstrip("\n"))
    return read_chapter(path)


@pytest.fixture(scope="module")
def outcomes(outcome_chapter):
    """The outcomes of OUTCOMES's mutations, run two at a time in the PyTorch kernel, by claim."""
    loaded = claims.load_claims(outcome_chapter)
    return {outcome.claim: outcome for outcome in claims.run_all(outcome_chapter, loaded, jobs=2)}


def test_a_mutation_that_fails_its_assert_is_killed(outcomes):
    killed = outcomes["center subtracts the mean"]
    assert (killed.status, killed.framework, killed.report) == ("killed", "pytorch", "")
    assert 0 < killed.seconds < 60 and killed.target.text == "assert ys == [-1, 0, 1]"


def test_a_mutation_the_assert_does_not_notice_survives(outcomes):
    survived = outcomes["the mean is the mean"]
    assert survived.status == "survived"
    assert survived.report.startswith(f"the target cell ran without error: the assert at {survived.target.source}:"
                                      f"{USE_LINE}, line 2 of the cell held under the mutation")


def test_a_mutation_whose_earlier_cell_raises_is_broken_and_says_where(outcomes, outcome_chapter):
    broken = outcomes["broken before the target"]
    assert broken.status == "broken"
    number = index_of(outcome_chapter, DEFINE) + 1
    assert broken.report.splitlines()[0] == (f"cell {number} (source {broken.target.source}:{DEFINE_LINE}), before the "
                                             "target, raised ValueError:")
    assert "ValueError: mutated away" in broken.report and "\x1b[" not in broken.report


def test_a_mutation_whose_target_raises_another_exception_is_broken(outcomes, outcome_chapter):
    broken = outcomes["broken in the target"]
    assert broken.status == "broken"
    number = index_of(outcome_chapter, USE) + 1
    assert broken.report.startswith(f"cell {number} (source {broken.target.source}:{USE_LINE}) raised ZeroDivisionError at "
                                    "line 1 of the cell, not at the target assert (lines 2-2)")


def test_an_assertion_error_raised_in_a_called_function_is_not_a_kill(outcomes):
    # The target assert's line calls a function whose own assert fails: the claim's assert never
    # ran, so the mutation proves nothing about it.
    broken = outcomes["an assert inside a function the target calls"]
    assert broken.status == "broken" and "not at the target assert" in broken.report


def test_a_skipped_cell_is_not_run_unless_the_mutation_runs_it(outcomes):
    assert outcomes["one plus one is two"].status == "killed"
    ran = outcomes["one plus one is still two"]
    assert ran.status == "broken" and "RuntimeError: slow training" in ran.report


def test_a_mutation_skips_its_own_cells_too(outcomes):
    """The mutation breaks center(), whose assert comes first: skipping that cell, it reaches its own."""
    assert outcomes["one plus one is two, center's assert skipped"].status == "killed"


def test_the_test_notebook_is_the_code_before_the_target_less_skipped_cells(chapter):
    made = chapter(cell("[pytorch]", "train()"), cell("[pytorch]", "total = 2\nassert total == 2"), claims_text="""
        skip: ["train()"]
        mutations:
          - claim: the second total is two
            frameworks: [pytorch]
            replace: [["total = 2", "total = 3"]]
            fails: "== 2"
        """)
    loaded = claims.load_claims(made)
    notebook, indices = claims.run_notebook(claims.mutate(made, loaded, loaded.mutations[0], "pytorch"), loaded.skip)
    code = [index for index, c in enumerate(convert.to_notebook(made, "pytorch").cells) if c.cell_type == "code"]
    train = index_of(made, "train()")
    assert indices == [index for index in code if index < train] + [train + 1]  # train() skipped
    assert [c.source for c in notebook.cells][-2:] == [SHARED, "total = 3\nassert total == 2"]
    nbformat.validate(notebook)


# --- the command line --------------------------------------------------------------------------

@pytest.fixture
def book(chapter, monkeypatch):
    """A chapter in a notebooks/ folder that build.py reads instead of the real one."""

    def make(claims_text: str = ""):
        made = chapter(claims_text=claims_text)
        monkeypatch.setattr(cli, "NOTEBOOKS", made.path.parent)
        return made

    return make


def test_claims_prints_coverage_and_fails_on_uncovered_asserts(book, capsys):
    book(KILLED)
    assert cli.main(["claims", "-f", "pytorch"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[:3] == ["| chapter | framework | asserts | mutated | unmutated (listed) | uncovered |",
                                    "| --- | --- | ---: | ---: | ---: | ---: |", "| chap | PyTorch | 2 | 1 | 0 | 1 |"]
    assert "chap: 1 uncovered asserts" in out and "`assert total == 2`" in out
    assert "claims: 1 assert(s) are uncovered" in err


def test_claims_run_executes_each_mutation_and_passes_when_all_are_killed(book, capsys, monkeypatch):
    book(KILLED + """
    unmutated:
      - assert: "total == 2"
        why: arithmetic
    """)
    monkeypatch.setattr(cli, "cmd_env", lambda args: 0)
    assert cli.main(["claims", "--run", "-f", "pytorch", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "| chap | PyTorch | 2 | 1 | 1 | 0 |" in out
    assert any(line.startswith("killed   PyTorch ") and line.endswith("chap: center subtracts the mean")
               for line in out.splitlines())
    assert "chap: 1 of 1 mutation(s) killed" in out and "claims: mutations ran in " in out


def test_a_bad_claims_file_is_a_clear_error(book, capsys):
    book("mutations: [\n")
    assert cli.main(["claims"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "chap.claims.yml:2: malformed YAML" in err


def test_the_main_job_prints_coverage_after_the_summary_and_keeps_its_exit_code(book, capsys, monkeypatch):
    book(KILLED)
    for step in ("cmd_env", "cmd_convert", "cmd_html", "cmd_pdf"):
        monkeypatch.setattr(cli, step, lambda args: 0)
    monkeypatch.setattr(cli, "cmd_execute", lambda args: print("SUMMARY") or 0)
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.index("SUMMARY") < out.index("| chapter | framework | asserts |")
    assert "claims: 4 assert(s) without a mutation" in out


# --- kernels that die at start ------------------------------------------------------------------

def test_a_kernel_that_dies_at_start_is_a_broken_outcome_not_a_traceback(outcome_chapter, tmp_path, monkeypatch):
    spec = tmp_path / "kernels" / "tabbook-dies"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", "import sys; sys.stderr.write('libfoo.so: cannot open\\n'); sys.exit(3)",
                 "{connection_file}"],
        "display_name": "dies", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setattr(claims, "get", lambda name: types.SimpleNamespace(kernel_name="tabbook-dies"))
    loaded = claims.load_claims(outcome_chapter)
    outcome = claims.run_mutation(outcome_chapter, loaded, loaded.mutations[0], "pytorch", timeout=30)
    assert outcome.status == "broken"
    assert outcome.report.startswith("the kernel died at start (Kernel died before replying to kernel_info)")
    assert "libfoo.so: cannot open" in outcome.report


# --- records of outcomes ---------------------------------------------------------------------------

def outcome(made, loaded, status="killed", seconds=1.25, index=0, framework="pytorch"):
    """An Outcome of mutation ``index`` as run_mutation would give it, without a kernel."""
    mutation = loaded.mutations[index]
    return claims.Outcome(made.name, mutation.claim, framework, status, seconds, mutation.targets[framework],
                          line=mutation.line)


def test_a_record_is_written_in_file_order_and_read_back(chapter):
    made = chapter(claims_text=KILLED)
    loaded = claims.load_claims(made)
    path = claimrecords.update(made, loaded, [outcome(made, loaded)])
    assert path == made.path.with_name("chap.claims.record")
    key = claimrecords.keys(made, loaded)[("center subtracts the mean", "pytorch")]
    assert len(key) == 64
    assert path.read_text() == (
        '{\n  "chapter": "chap",\n  "mutations": [\n'
        f'    {{"claim": "center subtracts the mean", "framework": "pytorch", "key": "{key}", '
        '"outcome": "killed", "seconds": 1.2}\n  ]\n}\n')
    assert claimrecords.read(path) == {("center subtracts the mean", "pytorch"): claimrecords.Entry(
        "center subtracts the mean", "pytorch", key, "killed", 1.2)}
    assert claimrecords.due(made, loaded) == []
    assert claimrecords.problems(made) == []


def test_a_missing_record_is_due_and_check_names_the_mutation_and_the_command(chapter):
    made = chapter(claims_text=KILLED)
    loaded = claims.load_claims(made)
    (item,) = claimrecords.due(made, loaded)
    assert (item.mutation.claim, item.framework, item.why) == ("center subtracts the mean", "pytorch", "missing")
    (message,) = claimrecords.problems(made)
    assert message.endswith("chap.claims.yml:2: mutation 'center subtracts the mean' (PyTorch) has no record in "
                            f"{made.path.with_name('chap.claims.record')}; refresh it with: "
                            "python3 build.py claims --run --stale chap")


def test_a_code_edit_up_to_the_target_makes_the_record_stale_and_one_after_it_does_not(chapter):
    made = chapter(claims_text=KILLED)
    loaded = claims.load_claims(made)
    claimrecords.update(made, loaded, [outcome(made, loaded)])
    text = made.path.read_text()
    made.path.write_text(text.replace("total = 1 + 1", "total = 2"))  # a cell after the target: not run
    after = read_chapter(made.path)
    assert claimrecords.due(after, claims.load_claims(after)) == []
    made.path.write_text(text.replace("m = sum(xs) / len(xs)", "m = sum(xs) / len(xs)  # the mean"))
    edited = read_chapter(made.path)
    (item,) = claimrecords.due(edited, claims.load_claims(edited))
    assert item.why == "stale"
    (message,) = claimrecords.problems(edited)
    assert "mutation 'center subtracts the mean' (PyTorch) its record is stale: the cells it runs" in message
    assert message.endswith("refresh it with: python3 build.py claims --run --stale chap")


def test_a_lock_edit_makes_the_record_stale(chapter, tmp_path, monkeypatch):
    made = chapter(claims_text=KILLED)
    loaded = claims.load_claims(made)
    claimrecords.update(made, loaded, [outcome(made, loaded)])
    lock = tmp_path / "requirements.txt"
    lock.write_bytes(get("pytorch").requirements.read_bytes())
    monkeypatch.setattr(execute, "get", lambda name: types.SimpleNamespace(requirements=lock))
    assert claimrecords.due(made, loaded) == []  # the same lock, read from elsewhere
    lock.write_bytes(lock.read_bytes() + b"numpy==0.0.1\n")
    assert [item.why for item in claimrecords.due(made, loaded)] == ["stale"]


def test_raising_the_rules_makes_every_record_stale(chapter, monkeypatch):
    made = chapter(claims_text=KILLED)
    loaded = claims.load_claims(made)
    claimrecords.update(made, loaded, [outcome(made, loaded)])
    monkeypatch.setattr(claimrecords, "RULES", claimrecords.RULES + 1)
    assert [item.why for item in claimrecords.due(made, loaded)] == ["stale"]


def test_a_record_that_is_not_killed_is_due_and_updating_drops_entries_of_gone_mutations(chapter):
    made = chapter(claims_text=KILLED + """
      - claim: the mean is the mean
        frameworks: [pytorch]
        replace: [["m = sum(xs) / len(xs)", "m = sum(xs) / len(xs) + 0"]]
        fails: "ys == [-1, 0, 1]"
      - claim: broken before the target
        frameworks: [pytorch]
        replace: [["def center(xs):", "raise ValueError('mutated away')\\ndef center(xs):"]]
        fails: "ys == [-1, 0, 1]"
    """)
    loaded = claims.load_claims(made)
    claimrecords.update(made, loaded, [outcome(made, loaded, index=0), outcome(made, loaded, "survived", index=1)])
    assert [(item.mutation.claim, item.why) for item in claimrecords.due(made, loaded)][:2] == [
        ("the mean is the mean", "recorded survived"), ("broken before the target", "missing")]
    fewer = made.path.with_name("chap.claims.yml")
    fewer.write_text(textwrap.dedent(KILLED).lstrip("\n"))
    smaller = claims.load_claims(made)
    assert "1 entry for mutations no longer in" in claimrecords.problems(made)[-1]
    claimrecords.update(made, smaller, [])
    assert list(claimrecords.read(made.path.with_name("chap.claims.record"))) == [
        ("center subtracts the mean", "pytorch")]
    assert claimrecords.problems(made) == []


def test_a_malformed_record_is_an_error_at_its_line(chapter):
    made = chapter(claims_text=KILLED)
    made.path.with_name("chap.claims.record").write_text('{\n  "mutations": [\n    {"claim": }\n  ]\n}\n')
    with pytest.raises(SourceError) as raised:
        claimrecords.problems(made)
    assert raised.value.line == 3 and raised.value.message.startswith("malformed record: ")
    assert raised.value.hint == "write it again with: python3 build.py claims --run chap"


def test_two_mutations_with_one_claim_in_one_framework_are_an_error(chapter):
    error = load_error(chapter, KILLED + """
      - claim: center subtracts the mean
        frameworks: [pytorch]
        replace: [["return [x - m for x in xs]", "return xs[:1]"]]
        fails: "ys == [-1, 0, 1]"
    """)
    assert (error.line, error.message) == (
        8, "mutation 'center subtracts the mean': the mutation at line 2 has the same claim in pytorch")


def test_the_sample_is_deterministic_for_a_seed_and_rotates_with_it():
    items = [(f"chapter-{i}", "pytorch", f"claim {i}") for i in range(100)]
    first = claimrecords.sample(items, "2026-12-04")
    assert first == claimrecords.sample(list(items), "2026-12-04")
    assert len(first) == claimrecords.SAMPLE_SIZE == len(set(first)) and first == sorted(first, key=items.index)
    others = {tuple(claimrecords.sample(items, f"2026-12-{day:02d}")) for day in range(1, 29)}
    assert len(others) > 20  # 28 days, (almost surely) 28 different samples
    assert claimrecords.sample(items[:3], "x") == items[:3]


def test_verify_runs_what_is_due_and_the_sample_and_a_sampled_survivor_recorded_killed_has_drifted(chapter):
    made = chapter(claims_text=KILLED + """
      - claim: the mean is the mean
        frameworks: [pytorch]
        replace: [["m = sum(xs) / len(xs)", "m = sum(xs) / len(xs) + 0"]]
        fails: "ys == [-1, 0, 1]"
    """)
    loaded = claims.load_claims(made)
    # Both recorded killed with their current keys (the second wrongly: it survives).
    claimrecords.update(made, loaded, [outcome(made, loaded, index=0), outcome(made, loaded, index=1)])
    outcomes, problems = claimrecords.verify(made, loaded, "pytorch", jobs=1)
    assert (outcomes, problems) == ([], [])  # nothing due, nothing sampled: nothing runs
    outcomes, problems = claimrecords.verify(made, loaded, "pytorch", {("the mean is the mean", "pytorch")}, jobs=1)
    assert [(o.claim, o.status) for o in outcomes] == [("the mean is the mean", "survived")]
    (problem,) = problems
    assert problem.startswith("survived: PyTorch: mutation 'the mean is the mean'")
    assert problem.endswith("its current record says killed: the outcome changed although its inputs did not")
    # A stale record runs, and fails until refreshed even though its run is killed.
    made.path.write_text(made.path.read_text().replace("m = sum(xs) / len(xs)", "m = sum(xs) / len(xs)  # mean"))
    edited = read_chapter(made.path)
    outcomes, problems = claimrecords.verify(edited, claims.load_claims(edited), "pytorch", jobs=1)
    assert [(o.claim, o.status) for o in outcomes] == [("center subtracts the mean", "killed"),
                                                       ("the mean is the mean", "survived")]
    assert problems[0].startswith("survived: PyTorch: mutation 'the mean is the mean'")
    assert "drifted" not in problems[0] and "its current record says killed" not in problems[0]
    assert [p.split(") ", 1)[1][:24] for p in problems[1:]] == ["its record is stale: the"] * 2
    everything, _ = claimrecords.verify(made, loaded, "pytorch", run_all=True, jobs=1)
    assert len(everything) == 2


def test_claims_run_writes_the_record_and_stale_runs_only_what_is_due(book, capsys, monkeypatch):
    made = book(KILLED + """
    unmutated:
      - assert: "total == 2"
        why: arithmetic
    """)
    monkeypatch.setattr(cli, "cmd_env", lambda args: 0)
    ran = []
    real = claims.run_mutation

    def counted(chapter, loaded, mutation, framework, timeout):
        ran.append((mutation.claim, framework))
        return real(chapter, loaded, mutation, framework, timeout=timeout)

    monkeypatch.setattr(claims, "run_mutation", counted)
    assert cli.main(["claims", "--stale", "-f", "pytorch", "-j", "1"]) == 0
    assert ran == [("center subtracts the mean", "pytorch")]
    record = made.path.with_name("chap.claims.record")
    assert claimrecords.read(record)[("center subtracts the mean", "pytorch")].outcome == "killed"
    assert f"chap: wrote {record}" in capsys.readouterr().out
    assert cli.main(["claims", "--run", "--stale", "-f", "pytorch"]) == 0
    assert len(ran) == 1  # nothing was due
    assert "chap: 0 of 0 mutation(s) killed (those whose record was missing or stale)" in capsys.readouterr().out


# --- the real check ------------------------------------------------------------------------------

CHAPTERS = [(path.stem, name) for path in find_chapters(NOTEBOOKS) for name in read_chapter(path).frameworks]
TIMES = ROOT / "build" / "claims" / "times.md"
#: The day's sample rotates with the UTC date; $TABBOOK_CLAIMS_SEED repeats a day's.
SEED = os.environ.get("TABBOOK_CLAIMS_SEED") or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
RUN_ALL = os.environ.get("TABBOOK_CLAIMS_ALL") == "1"


@pytest.fixture(scope="module")
def book_sample():
    """The mutations re-run today although their records are current: claimrecords.SAMPLE_SIZE
    of the book's (chapter, framework, claim), drawn with SEED."""
    every = []
    for path in find_chapters(NOTEBOOKS):
        chapter = read_chapter(path)
        with contextlib.suppress(SourceError):  # the chapter's own test reports it
            every += [(chapter.name, name, mutation.claim) for mutation in claims.load_claims(chapter).mutations
                      for name in mutation.frameworks]
    picked = claimrecords.sample(every, SEED)
    print(f"\nclaims: seed {SEED!r} (TABBOOK_CLAIMS_SEED) samples {len(picked)} of {len(every)} mutations")
    return set(picked)


@pytest.mark.parametrize("chapter_name, framework", CHAPTERS, ids=[f"{c}-{f}" for c, f in CHAPTERS])
def test_every_claim_of_the_book_can_fail(chapter_name, framework, book_sample):
    """Every assert of the chapter's notebook for ``framework`` is mutated or listed unmutated;
    every mutation's record (notebooks/<chapter>.claims.record) is present, current and killed.

    Run two at a time: every mutation whose record is missing or stale, and those of the day's
    sample (book_sample), or all of them with TABBOOK_CLAIMS_ALL=1; each must be killed, and a
    sampled one whose current record says killed and which is not killed now has drifted.
    """
    chapter = read_chapter(NOTEBOOKS / f"{chapter_name}.md")
    try:
        loaded, error = claims.load_claims(chapter), ""
        count = len(claimrecords.keys(chapter, loaded, [framework]))
        start = time.perf_counter()
        outcomes, problems = claimrecords.verify(chapter, loaded, framework, {
            (claim, name) for chapter_of, name, claim in book_sample if chapter_of == chapter_name}, RUN_ALL)
    except SourceError as raised:
        loaded, error = None, str(raised)
    if loaded is None:  # outside the except: pytest would print the error twice, chained
        pytest.fail(error, pytrace=False)
    seconds = time.perf_counter() - start
    print(f"\nclaims: {chapter_name}, {get(framework).title}: {len(outcomes)} of {count} mutation(s) run "
          f"in {seconds:.1f} s")
    _write_time(chapter_name, framework, len(outcomes), count, seconds)
    cover = claims.coverage(chapter, loaded, [framework])
    if cover.count(framework, "uncovered"):
        problems.insert(0, claims.coverage_lists([cover], ("uncovered",)))
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def _write_time(chapter_name: str, framework: str, ran: int, count: int, seconds: float) -> None:
    """Record the wall time of one chapter and framework in build/claims/times.md (one row each)."""
    header = ["| chapter | framework | mutations run | mutations | seconds (2 kernels at once) |",
              "| --- | --- | ---: | ---: | ---: |"]
    rows = TIMES.read_text().splitlines()[2:] if TIMES.exists() else []
    title = get(framework).title
    rows = [row for row in rows if not row.startswith(f"| {chapter_name} | {title} |")]
    rows.append(f"| {chapter_name} | {title} | {ran} | {count} | {seconds:.1f} |")
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    order = [f"| {get(name).title} |" for name in NAMES]
    rows.sort(key=lambda row: (row.split(" | ")[0], next(i for i, cell in enumerate(order) if cell in row)))
    TIMES.write_text("\n".join(header + rows) + "\n")
