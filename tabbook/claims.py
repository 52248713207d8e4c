"""Mutation tests of a chapter's claims: every ``assert`` must be able to fail.

A chapter states its claims as asserts (``assert Y.tolist() == [-2, -1, 0, 1, 2]``). An assert
that cannot fail proves nothing, so each one is tested the way mutation testing tests a test
suite: a declared change of the chapter's code (a *mutation*) makes the claim false, the
framework notebook is executed up to that assert in the framework's kernel, and the assert must
raise ``AssertionError`` there (the mutation is *killed*). A mutation that lets the assert pass
*survived*: the claim is not checked. One that fails elsewhere, or before the assert, is *broken*.

The mutations live beside the chapter, in ``notebooks/<chapter>.claims.yml`` (optional)::

    skip:                   # cells not run before a mutation's target (slow ones: training)
      - "history = train(net, train_iter, num_epochs)"      # a substring of the cell's source
    mutations:
      - claim: CenteredLayer subtracts the mean             # what the claim says, for reports
        frameworks: all                                     # or a list; default: all of the chapter's
        replace:                                            # [old, new] substitutions, in order
          - ["return X - X.mean()", "return X"]
          - ["return X - tf.reduce_mean(X)", "return X"]
        fails: "== [-2, -1, 0, 1, 2]"   # a substring of the assert that must fail, or a mapping
                                         # framework -> substring
        run: ["history = train("]        # skip entries (the same strings) to run for this one
        skip: ["norm = ScaledNorm(4)"]   # cells to skip for this one only (substrings, as above)
    unmutated:                           # asserts deliberately without a mutation, and why
      - assert: "substring of the assert statement"
        frameworks: all                  # or a list; default: all of the chapter's
        why: "reason shown in the report"

For each mutation and each framework F of it, the replace pairs are applied in order to F's
notebook (:func:`tabbook.convert.to_notebook`), each to the text the pairs before it left: a pair whose ``old`` is in F's code cells applies
to F, and must occur there exactly once. Each framework must get at least one replacement and
each pair must apply to at least one framework. The *target* is the first assert in notebook
order, in or after the first changed cell, whose text contains F's ``fails`` string. The
notebook that runs is F's code cells before the target cell (without the cells a top-level
``skip`` entry matches, unless the mutation's ``run`` lists it, nor those its own ``skip``
matches: an earlier cell whose assert the mutation would fail first) and the target cell,
mutated, in an empty temporary working directory. The cells the converter generates (setup
code, ``metadata.dlblocks.generated``) run too but are neither mutated nor searched for asserts.

The *coverage* of a chapter lists every assert of every framework notebook as mutated (some
mutation targets it), unmutated (an ``unmutated`` entry names it, with its reason) or uncovered.
An ``unmutated`` entry must name, in each of its frameworks, an assert that no mutation targets.
Mistakes in the claims file are :class:`~tabbook.errors.SourceError` with the file's line.
"""
from __future__ import annotations

import ast
import atexit
import concurrent.futures
import copy
import dataclasses
import difflib
import functools
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

import nbformat
import yaml
from jupyter_client.kernelspec import NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from . import convert, pyast, reaper
from .errors import SourceError, display_path
from .files import kernel_environment, kernel_folder
from .execute import DEFAULT_TIMEOUT, strip_ansi
from .frameworks import NAMES, get
from .source import Chapter

#: Mutation × framework runs at once by default: one kernel each.
DEFAULT_JOBS = 2
ALL = "all"
_TOP_KEYS = ("skip", "mutations", "unmutated")
_MUTATION_KEYS = ("claim", "frameworks", "replace", "fails", "run", "skip")
_UNMUTATED_KEYS = ("assert", "frameworks", "why")
_MAGIC = re.compile(r"^\s*[%!]")
_CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")
#: The header of each frame in an IPython traceback: a cell's (its execution count) or a file's ('').
_FRAME = re.compile(r"^\s*(?:Cell In\[(\d+)\], line \d+|File [^\n]*?:\d+)", re.M)
_ESCAPE_HINT = ("the old text holds a backslash and 'n', not a line break: YAML reads escapes such as \\n "
                "only in double quotes")


# --- the claims file ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class AssertSite:
    """One ``assert`` statement of a framework notebook.

    ``cell`` is the index of its cell in the framework notebook, ``source_line`` the chapter line
    where that cell begins (``cell.metadata.dlblocks.line``), ``line`` and ``end_line`` its first
    and last line in the cell (1-based), ``text`` the statement as written.
    """

    chapter: str
    source: str  # the chapter's path, as the notebook records it
    framework: str
    cell: int
    source_line: int
    line: int
    end_line: int
    text: str

    def where(self) -> str:
        """``notebooks/chap.md:139, line 3 of the cell`` for reports."""
        return f"{self.source}:{self.source_line}, line {self.line} of the cell"


@dataclasses.dataclass(frozen=True)
class Skip:
    """A ``skip`` entry: a substring of the cells not run before a target, and its YAML line."""

    text: str
    line: int


@dataclasses.dataclass(frozen=True)
class Replacement:
    """One ``[old, new]`` pair of a mutation and its YAML line."""

    old: str
    new: str
    line: int


@dataclasses.dataclass(frozen=True)
class Mutation:
    """A mutation: its claim, frameworks, replacements, the assert each framework must fail at.

    ``fails`` and ``fails_lines`` map each framework to its substring of the target assert and
    that string's YAML line; ``targets`` maps it to the target assert in the unmutated notebook
    (filled by :func:`load_claims`); ``run`` lists the top-level skip entries this mutation runs
    anyway, ``skip`` the cells it skips besides them (a cell whose assert it would fail first).
    """

    claim: str
    frameworks: tuple[str, ...]
    replace: tuple[Replacement, ...]
    fails: dict[str, str]
    fails_lines: dict[str, int]
    run: tuple[str, ...]
    line: int
    skip: tuple[Skip, ...] = ()
    targets: dict[str, AssertSite] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Unmutated:
    """An ``unmutated`` entry: a substring of asserts deliberately left without a mutation."""

    text: str
    frameworks: tuple[str, ...]
    why: str
    line: int


@dataclasses.dataclass(frozen=True)
class Claims:
    """A chapter's claims file, validated against the chapter (empty when there is no file)."""

    path: Path
    skip: tuple[Skip, ...] = ()
    mutations: tuple[Mutation, ...] = ()
    unmutated: tuple[Unmutated, ...] = ()


def claims_path(chapter: Chapter) -> Path:
    """Where the claims of ``chapter`` live: ``<chapter>.claims.yml`` beside its source."""
    return chapter.path.with_name(f"{chapter.name}.claims.yml")


def load_claims(chapter: Chapter, path: Path | str | None = None) -> Claims:
    """Read and validate the claims file of ``chapter`` (``path``, default :func:`claims_path`).

    Every mutation is resolved against the chapter: its replacements applied to each framework's
    notebook and its target assert found (``Mutation.targets``). A missing file gives empty Claims.

    Raises:
        SourceError: with the claims file's line, for malformed YAML, unknown or missing keys,
            values of the wrong type, unknown or omitted frameworks, an ambiguous ``old`` text, a
            pair or a mutation that changes nothing, a ``fails`` string no assert contains, a
            ``skip`` entry no cell contains, a ``run`` entry that is no skip entry, or an
            ``unmutated`` entry that names no assert left without a mutation.
    """
    path = Path(path) if path is not None else claims_path(chapter)
    if not path.exists():
        return Claims(path)
    root = _compose(path)
    if root is None:
        return Claims(path)
    top = _mapping(path, root, "the claims file", _TOP_KEYS)
    skip = tuple(Skip(_text(path, node, "a 'skip' entry"), _line(node))
                 for node in _sequence(path, top.get("skip"), "'skip'"))
    _check_skip(path, chapter, skip)
    notebooks = {name: convert.to_notebook(chapter, name) for name in chapter.frameworks}
    mutations = tuple(_resolve(path, notebooks, _mutation(path, chapter, node, skip))
                      for node in _sequence(path, top.get("mutations"), "'mutations'"))
    unmutated = tuple(_unmutated(path, chapter, node)
                      for node in _sequence(path, top.get("unmutated"), "'unmutated'"))
    _check_unmutated(path, notebooks, mutations, unmutated)
    _check_unique(path, mutations)
    return Claims(path, skip, mutations, unmutated)


def _check_unique(path: Path, mutations: tuple[Mutation, ...]) -> None:
    """A claim names its mutation in reports and records: two in one framework are an error."""
    seen: dict[tuple[str, str], Mutation] = {}
    for mutation in mutations:
        for name in mutation.frameworks:
            first = seen.setdefault((mutation.claim, name), mutation)
            if first is not mutation:
                raise SourceError(path, mutation.line, f"mutation {mutation.claim!r}: the mutation at line "
                                  f"{first.line} has the same claim in {name}",
                                  "say what each claim is in its own words, or merge the two mutations")


def _compose(path: Path) -> yaml.Node | None:
    try:
        return yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError as error:
        raise SourceError(path, None, f"the file is not UTF-8 ({error.reason})", "save it as UTF-8") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise SourceError(path, mark.line + 1 if mark else None,
                          f"malformed YAML: {error.problem or error.context}",
                          "the claims file is YAML: see the format in tabbook/claims.py or the README") from None
    except yaml.YAMLError as error:
        raise SourceError(path, None, f"malformed YAML: {error}", "the claims file is YAML") from None
    except RecursionError:
        raise SourceError(path, None, "malformed YAML: nested too deeply to read",
                          "the claims file is a mapping of short lists: see the format in the README") from None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _mapping(path: Path, node: yaml.Node, what: str, keys: tuple[str, ...]) -> dict[str, yaml.Node]:
    """The entries of a YAML mapping by key; unknown or repeated keys are errors."""
    if not isinstance(node, yaml.MappingNode):
        raise SourceError(path, _line(node), f"{what} must be a mapping of {', '.join(keys)}",
                          f"write '{keys[0]}: ...' entries")
    found: dict[str, yaml.Node] = {}
    for key_node, value in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            raise SourceError(path, _line(key_node), f"unknown key {key!r} in {what}",
                              f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(keys)}")
        if key in found:
            raise SourceError(path, _line(key_node), f"{key!r} appears twice in {what}", "keep one of them")
        found[key] = value
    return found


def _sequence(path: Path, node: yaml.Node | None, what: str) -> list[yaml.Node]:
    """The items of a YAML list (none for a missing or empty value)."""
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise SourceError(path, _line(node), f"{what} must be a list", "write its items as '- item' lines, or [a, b]")
    return list(node.value)


def _text(path: Path, node: yaml.Node, what: str, empty: bool = False) -> str:
    """A scalar as the text it spells (``0.975`` stays '0.975'); null, lists and mappings are errors."""
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith((":null", ":bool")):
        kind = "empty" if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null") else "not a string"
        raise SourceError(path, _line(node), f"{what} is {kind}", "write a string, quoted if it holds ': ' or '#'")
    if not node.value and not empty:
        raise SourceError(path, _line(node), f"{what} is empty", "write the text it stands for")
    return node.value


def _frameworks(path: Path, chapter: Chapter, node: yaml.Node | None, where: str) -> tuple[str, ...]:
    """``all`` (or no value), one framework name, or a list of them, in book order."""
    if node is None:
        return chapter.frameworks
    if isinstance(node, yaml.ScalarNode) and node.value == ALL:
        return chapter.frameworks
    items = _sequence(path, node, "'frameworks'") if isinstance(node, yaml.SequenceNode) else [node]
    if not items:
        raise SourceError(path, _line(node), f"{where}: 'frameworks' is empty",
                          f"write frameworks: {ALL}, or a list such as [pytorch]")
    names = set()
    for item in items:
        name = _text(path, item, f"{where}: a framework")
        if name not in NAMES:
            close = difflib.get_close_matches(name, NAMES, n=1, cutoff=0.6)
            raise SourceError(path, _line(item), f"{where}: unknown framework {name!r}",
                              f"did you mean {close[0]!r}?" if close else
                              f"write {ALL}, or frameworks among {', '.join(NAMES)}")
        if name in chapter.omitted:
            raise SourceError(path, _line(item), f"{where}: {chapter.name} omits {name} ({chapter.omitted[name]})",
                              f"remove {name} from 'frameworks'")
        names.add(name)
    return tuple(name for name in NAMES if name in names)


def _check_skip(path: Path, chapter: Chapter, skip: tuple[Skip, ...]) -> None:
    for entry in skip:
        if not any(cell.kind == "code" and entry.text in cell.source for cell in chapter.cells):
            raise SourceError(path, entry.line, f"skip entry {entry.text!r} is in no code cell of {chapter.name}",
                              "the cell changed: update the entry to a substring of it, or remove it")


def _mutation(path: Path, chapter: Chapter, node: yaml.Node, skip: tuple[Skip, ...]) -> Mutation:
    """Parse one mutation entry (its targets are found later, by :func:`_resolve`)."""
    fields = _mapping(path, node, "a mutation", _MUTATION_KEYS)
    if "claim" not in fields:
        raise SourceError(path, _line(node), "a mutation has no 'claim'", "say what the claim is: claim: ...")
    claim = _text(path, fields["claim"], "'claim'")
    where = f"mutation {claim!r}"
    for key, example in (("replace", 'replace: [["old text", "new text"]]'), ("fails", 'fails: "assert text"')):
        if key not in fields:
            raise SourceError(path, _line(node), f"{where} has no {key!r}", f"add {example}")
    frameworks = _frameworks(path, chapter, fields.get("frameworks"), where)
    pairs = _sequence(path, fields["replace"], "'replace'")
    if not pairs:
        raise SourceError(path, _line(fields["replace"]), f"{where}: 'replace' is empty",
                          'add at least one pair: - ["old text", "new text"]')
    replace = tuple(_pair(path, pair, number, where) for number, pair in enumerate(pairs, 1))
    fails, fails_lines = _fails(path, fields["fails"], frameworks, where)
    run = []
    for item in _sequence(path, fields.get("run"), "'run'"):
        text = _text(path, item, f"{where}: a 'run' entry")
        if text not in {entry.text for entry in skip}:
            raise SourceError(path, _line(item), f"{where}: run entry {text!r} is not a skip entry",
                              "'run' lists skip entries, written the same way: "
                              + (", ".join(repr(entry.text) for entry in skip) or "there are none"))
        run.append(text)
    own_skip = tuple(Skip(_text(path, item, f"{where}: a 'skip' entry"), _line(item))
                     for item in _sequence(path, fields.get("skip"), "'skip'"))
    for entry in own_skip:
        if not any(cell.kind == "code" and entry.text in cell.source and set(cell.frameworks) & set(frameworks)
                   for cell in chapter.cells):
            raise SourceError(path, entry.line, f"{where}: skip entry {entry.text!r} is in no code cell of "
                              f"{', '.join(frameworks)}", "update the entry to a substring of the cell, or remove it")
    return Mutation(claim, frameworks, replace, fails, fails_lines, tuple(run), _line(node), own_skip)


def _pair(path: Path, node: yaml.Node, number: int, where: str) -> Replacement:
    if not isinstance(node, yaml.SequenceNode) or len(node.value) != 2:
        raise SourceError(path, _line(node), f"{where}: replace pair {number} is not an [old, new] pair",
                          'write - ["old text", "new text"]')
    old = _text(path, node.value[0], f"{where}: the old text of pair {number}")
    new = _text(path, node.value[1], f"{where}: the new text of pair {number}", empty=True)
    if old == new:
        raise SourceError(path, _line(node), f"{where}: [old, new] pair {number} changes nothing: "
                          "old and new are the same", "write the change that makes the claim false")
    return Replacement(old, new, _line(node))


def _fails(path: Path, node: yaml.Node, frameworks: tuple[str, ...], where: str) -> tuple[dict, dict]:
    """'fails' as framework -> substring and framework -> YAML line."""
    if not isinstance(node, yaml.MappingNode):
        text = _text(path, node, f"{where}: 'fails'")
        return {name: text for name in frameworks}, {name: _line(node) for name in frameworks}
    fails, lines = {}, {}
    for key, value in _mapping(path, node, f"{where}: 'fails'", NAMES).items():
        if key not in frameworks:
            raise SourceError(path, _line(value), f"{where}: 'fails' names {key}, which the mutation does not run",
                              f"the mutation runs {', '.join(frameworks)}; remove {key} or add it to 'frameworks'")
        fails[key], lines[key] = _text(path, value, f"{where}: 'fails' of {key}"), _line(value)
    missing = [name for name in frameworks if name not in fails]
    if missing:
        raise SourceError(path, _line(node), f"{where}: 'fails' names no assert for {', '.join(missing)}",
                          f"add {missing[0]}: \"part of the assert\" to 'fails', or drop it from 'frameworks'")
    return fails, lines


def _unmutated(path: Path, chapter: Chapter, node: yaml.Node) -> Unmutated:
    fields = _mapping(path, node, "an 'unmutated' entry", _UNMUTATED_KEYS)
    for key in ("assert", "why"):
        if key not in fields:
            raise SourceError(path, _line(node), f"an 'unmutated' entry has no {key!r}",
                              "write assert: the assert's text (a part of it), why: the reason")
    text = _text(path, fields["assert"], "'assert'")
    where = f"unmutated {text!r}"
    return Unmutated(text, _frameworks(path, chapter, fields.get("frameworks"), where),
                     _text(path, fields["why"], f"{where}: 'why'"), _line(node))


# --- asserts and mutants --------------------------------------------------------------------

def find_asserts(notebook: nbformat.NotebookNode) -> list[AssertSite]:
    """Every ``assert`` statement of the chapter's code cells in the notebook, in notebook order
    (the setup cells the converter generates state no claim and are left out).

    Lines that start with ``%`` or ``!`` (IPython magics, shell commands) are blanked before
    parsing; a cell that still does not parse as Python is passed over. Asserts inside functions
    and classes count too. The notebook is one made by :func:`tabbook.convert.to_notebook`.
    """
    meta = notebook.metadata.get("dlblocks", {})
    sites = []
    for index, cell in enumerate(notebook.cells):
        if not _chapter_code(cell):
            continue
        for line, end_line, text in _cell_asserts(cell.source) or []:
            sites.append(AssertSite(meta.get("chapter", ""), meta.get("source", ""), meta.get("framework", ""),
                                    index, cell.metadata.get("dlblocks", {}).get("line", 0), line, end_line, text))
    return sites


@functools.lru_cache(maxsize=8192)
def _cell_asserts(source: str) -> tuple[tuple[int, int, str], ...] | None:
    """(first line, last line, text) of each assert in a cell, in source order; None if it does not parse.
    Cached by source: loading claims and computing record keys ask for the same cells many times."""
    python = "\n".join("" if _MAGIC.match(line) else line for line in source.split("\n"))
    try:
        tree = pyast.parse(python)
    except SyntaxError:
        return None
    nodes = sorted((node for node in ast.walk(tree) if isinstance(node, ast.Assert)),
                   key=lambda node: (node.lineno, node.col_offset))
    return tuple((node.lineno, node.end_lineno, ast.get_source_segment(python, node)) for node in nodes)


def _chapter_code(cell) -> bool:
    """True for a code cell of the chapter, False for prose and for cells the converter generates
    (``metadata.dlblocks.generated``: setup code that runs but states no claim and is not mutated)."""
    return cell.cell_type == "code" and not cell.metadata.get("dlblocks", {}).get("generated")


@dataclasses.dataclass
class Mutant:
    """A mutation applied to one framework's notebook: the mutated notebook, the cells it
    changed (indices) and the target assert, with its lines in the mutated cell."""

    mutation: Mutation
    framework: str
    notebook: nbformat.NotebookNode
    changed: tuple[int, ...]
    target: AssertSite


def mutate(chapter: Chapter, claims: Claims, mutation: Mutation, framework: str) -> Mutant:
    """Apply ``mutation`` (one of ``claims.mutations``) to ``chapter``'s notebook for ``framework``.

    Raises:
        SourceError: as :func:`load_claims` does, should the chapter have changed since; and when
            ``framework`` is not one of the mutation's.
    """
    if framework not in mutation.frameworks:
        raise SourceError(claims.path, mutation.line, f"mutation {mutation.claim!r} does not run {framework}",
                          f"it runs {', '.join(mutation.frameworks)}")
    return _mutant(claims.path, convert.to_notebook(chapter, framework), mutation)


def mutant_of(path: Path, notebook: nbformat.NotebookNode, mutation: Mutation) -> Mutant:
    """:func:`mutate` for a framework notebook already converted (``path`` is the claims file's,
    for errors): to apply many mutations, convert each framework's notebook once."""
    return _mutant(path, notebook, mutation)


def _resolve(path: Path, notebooks: dict[str, nbformat.NotebookNode], mutation: Mutation) -> Mutation:
    """Check ``mutation`` against every framework's notebook; return it with its targets."""
    where = f"mutation {mutation.claim!r}"
    replaced = {name: _replace(path, notebooks[name], mutation) for name in mutation.frameworks}
    for number, pair in enumerate(mutation.replace, 1):
        if not any(counts[number - 1] for _, counts, _ in replaced.values()):
            elsewhere = [name for name, notebook in notebooks.items() if name not in mutation.frameworks
                         and any(pair.old in cell.source for cell in notebook.cells if _chapter_code(cell))]
            scope = "any framework" if set(mutation.frameworks) == set(notebooks) else ", ".join(mutation.frameworks)
            raise SourceError(path, pair.line, f"{where}: [old, new] pair {number} changes nothing: "
                              f"{pair.old!r} is in no code cell of {scope}",
                              f"it is in {', '.join(elsewhere)}: add that to 'frameworks'" if elsewhere else
                              _ESCAPE_HINT if "\\n" in pair.old else
                              "the code changed: update the old text, or remove the pair")
    targets = {}
    for name, (mutated, counts, changed) in replaced.items():
        _check_changes(path, mutation, name, counts)
        targets[name] = _target(path, notebooks[name], mutation, changed)
        _mutated_target(path, notebooks[name], mutated, targets[name], mutation)
    return dataclasses.replace(mutation, targets=targets)


def _check_changes(path: Path, mutation: Mutation, framework: str, counts: list[int]) -> None:
    if not any(counts):
        raise SourceError(path, mutation.line, f"mutation {mutation.claim!r} changes nothing in {framework}: "
                          f"none of its old texts is in a {framework} code cell",
                          f"add a pair for {framework}'s code, or drop {framework} from 'frameworks'")


def _replace(path: Path, notebook: nbformat.NotebookNode, mutation: Mutation):
    """Apply the pairs in order to a copy of ``notebook``.

    Returns the mutated copy, how often each pair applied (0 or 1) and the changed cell indices.
    Raises SourceError when an old text occurs more than once in the notebook's code cells.
    """
    mutated = copy.copy(notebook)  # a new list of the same cells: a cell is copied when a pair changes it
    mutated.cells = list(notebook.cells)
    framework = notebook.metadata["dlblocks"]["framework"]
    counts, changed = [], set()
    for number, pair in enumerate(mutation.replace, 1):
        hits = [index for index, cell in enumerate(mutated.cells)
                for _ in range(cell.source.count(pair.old) if _chapter_code(cell) else 0)]
        if len(hits) > 1:
            lines = ", ".join(str(line) for line in sorted({mutated.cells[index].metadata["dlblocks"]["line"]
                                                             for index in hits}))
            raise SourceError(path, pair.line, f"mutation {mutation.claim!r}: [old, new] pair {number} is ambiguous "
                              f"in {framework}: {pair.old!r} occurs {len(hits)} times (cells at lines {lines} "
                              f"of {notebook.metadata['dlblocks']['source']})",
                              "add context to the old text (a neighbouring line) so that it occurs once")
        if hits:
            if hits[0] not in changed:
                mutated.cells[hits[0]] = copy.deepcopy(mutated.cells[hits[0]])
            cell = mutated.cells[hits[0]]
            cell.source = cell.source.replace(pair.old, pair.new)
            changed.add(hits[0])
        counts.append(len(hits))
    return mutated, counts, tuple(sorted(changed))


def _target(path: Path, notebook: nbformat.NotebookNode, mutation: Mutation, changed: tuple[int, ...]) -> AssertSite:
    """The first assert in or after the first changed cell whose text contains the framework's fails string."""
    framework = notebook.metadata["dlblocks"]["framework"]
    fails = mutation.fails[framework]
    for site in find_asserts(notebook):
        if site.cell >= changed[0] and fails in site.text:
            return site
    first = notebook.cells[changed[0]].metadata["dlblocks"]["line"]
    raise SourceError(path, mutation.fails_lines[framework],
                      f"mutation {mutation.claim!r}: no {framework} assert in or after the first changed cell "
                      f"(line {first} of {notebook.metadata['dlblocks']['source']}) contains {fails!r}",
                      "'fails' is a part of the assert statement that the mutation makes fail, as written "
                      "in the chapter")


def _mutant(path: Path, notebook: nbformat.NotebookNode, mutation: Mutation) -> Mutant:
    framework = notebook.metadata["dlblocks"]["framework"]
    mutated, counts, changed = _replace(path, notebook, mutation)
    _check_changes(path, mutation, framework, counts)
    target = _mutated_target(path, notebook, mutated, _target(path, notebook, mutation, changed), mutation)
    return Mutant(mutation, framework, mutated, changed, target)


def _mutated_target(path: Path, notebook: nbformat.NotebookNode, mutated: nbformat.NotebookNode,
                    original: AssertSite, mutation: Mutation) -> AssertSite:
    """The target assert ``original`` of ``notebook`` as it is in ``mutated``: the same one, by its
    rank among the asserts of its cell.

    Raises SourceError when the mutation adds or removes asserts there, or breaks the cell's syntax.
    """
    before = _cell_asserts(notebook.cells[original.cell].source)
    after = _cell_asserts(mutated.cells[original.cell].source)
    if after is None or len(after) != len(before):
        raise SourceError(path, mutation.line, f"mutation {mutation.claim!r} changes the asserts of the target cell "
                          f"in {original.framework} ({original.where()}): "
                          + ("the mutated cell does not parse" if after is None else
                             f"it has {len(before)}, mutated {len(after)}"),
                          "mutate the code the claim is about, not the asserts")
    line, end_line, text = after[before.index((original.line, original.end_line, original.text))]
    return dataclasses.replace(original, line=line, end_line=end_line, text=text)


# --- execution ------------------------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    """What one mutation did in one framework.

    ``status`` is "killed" (the target assert raised AssertionError), "survived" (the target cell
    ran without error) or "broken" (another cell or another line raised, or a timeout, or the
    kernel died); ``report`` says what happened for the last two; ``seconds`` is wall time.
    """

    chapter: str
    claim: str
    framework: str
    status: str
    seconds: float
    target: AssertSite
    report: str = ""
    line: int = 0  # the mutation's line in the claims file


def run_notebook(mutant: Mutant, skip: tuple[Skip, ...]) -> tuple[nbformat.NotebookNode, list[int]]:
    """The notebook that tests ``mutant``: the code cells before its target cell, less those that
    an entry of ``skip`` (the top-level entries) not in the mutation's ``run``, or of the mutation's
    own ``skip``, matches; then the target cell; all mutated. Also the index each cell had in the
    framework notebook."""
    skipped = [entry.text for entry in skip if entry.text not in mutant.mutation.run]
    skipped += [entry.text for entry in mutant.mutation.skip]
    indices = [index for index, cell in enumerate(mutant.notebook.cells[:mutant.target.cell])
               if cell.cell_type == "code" and not any(text in cell.source for text in skipped)]
    indices.append(mutant.target.cell)
    notebook = nbformat.v4.new_notebook(cells=[copy.deepcopy(mutant.notebook.cells[index]) for index in indices],
                                        metadata=copy.deepcopy(mutant.notebook.metadata))
    return notebook, indices


def run_mutation(chapter: Chapter, claims: Claims, mutation: Mutation, framework: str,
                 timeout: int = DEFAULT_TIMEOUT) -> Outcome:
    """Execute ``mutation`` in ``framework``'s kernel up to its target assert; never raises for
    what the kernel does (the Outcome says). ``timeout`` is in seconds per cell.

    Raises:
        SourceError: when the mutation no longer applies to the chapter (see :func:`mutate`).
    """
    mutant = mutate(chapter, claims, mutation, framework)
    notebook, indices = run_notebook(mutant, claims.skip)
    running: list[int] = []

    def on_cell_start(cell, cell_index):
        running[:] = [cell_index]

    failure = ""
    start = time.perf_counter()
    with kernel_folder("tabbook-claims-") as workdir, kernel_environment() as environment:
        client = NotebookClient(notebook, timeout=timeout, kernel_name=get(framework).kernel_name,
                                resources={"metadata": {"path": str(workdir)}}, record_timing=False,
                                on_cell_start=on_cell_start)
        # The kernel's own stderr (C++ logs of the frameworks) goes to a file outside the working
        # directory, not to the terminal; its tail joins the report when the kernel dies.
        with tempfile.TemporaryFile("w+", errors="replace") as log:
            try:
                client.execute(stderr=log, env=environment)
            except CellExecutionError:
                pass  # the cell's error output says what happened
            except CellTimeoutError:
                failure = f"ran longer than its timeout of {timeout} s (raise it with --timeout)"
            except DeadKernelError as error:
                failure = f"killed the kernel ({error})" + _tail(log)
            except NoSuchKernel:
                failure = (f"could not start: there is no kernel {get(framework).kernel_name} "
                           "(create it with: python build.py env)")
            except RuntimeError as error:  # nbclient: "Kernel died before replying to kernel_info"
                if running:
                    raise
                atexit.unregister(client._cleanup_kernel)  # nbclient leaves it registered when the start fails
                failure = f"died at start ({error})" + _tail(log)
            finally:
                reaper.reap_orphans()  # what the kernel left, should its reaper have been killed
    seconds = time.perf_counter() - start
    status, report = _judge(notebook, indices, running, failure, mutant.target)
    return Outcome(chapter.name, mutation.claim, framework, status, seconds, mutation.targets[framework],
                   report, mutation.line)


def _tail(log, lines: int = 20) -> str:
    """The last lines of the kernel's stderr log (an open file), introduced; nothing if it is empty."""
    log.seek(0)
    text = strip_ansi(log.read()).strip()
    return "; its last stderr lines:\n" + "\n".join(text.splitlines()[-lines:]) if text else ""


def _judge(notebook, indices: list[int], running: list[int], failure: str, target: AssertSite) -> tuple[str, str]:
    """(status, report) of the executed test notebook (see :class:`Outcome`).

    ``indices`` maps its cells to the framework notebook's, ``running`` holds the cell that ran
    last (none if the kernel never ran one), ``failure`` a timeout or dead kernel, ``target`` the
    assert in the mutated target cell (its last cell).
    """
    if not running:
        return "broken", f"the kernel {failure or 'failed before the first cell'}"
    at = running[0]
    cell = notebook.cells[at]
    line = cell.metadata.get("dlblocks", {}).get("line")
    where = f"cell {indices[at] + 1} ({f'source {target.source}:{line}' if line else 'generated by the converter'})"
    if failure:
        return "broken", f"{where} {failure}"
    error = next((output for output in cell.get("outputs", []) if output.get("output_type") == "error"), None)
    traceback = strip_ansi("\n".join(error.get("traceback", []))) if error else ""
    if at < len(notebook.cells) - 1:
        return "broken", f"{where}, before the target, raised {error['ename'] if error else 'an error'}:\n{traceback}"
    if error is None:
        return "survived", (f"the target cell ran without error: the assert at {target.where()} held under "
                            f"the mutation:\n    {target.text}")
    # IPython names each frame of a cell "Cell In[<execution count>], line <n>", and a frame of a
    # file "File <path>:<n>": the assert must fail in the innermost frame, the target cell's own
    # (an AssertionError raised in a function that the assert's line calls does not count).
    lines = [int(line) for count, line in _CELL_LINE.findall(traceback) if int(count) == cell.get("execution_count")]
    frames = _FRAME.findall(traceback)
    innermost_is_target = bool(frames) and frames[-1] == str(cell.get("execution_count"))
    if (error["ename"] == "AssertionError" and lines and innermost_is_target
            and target.line <= lines[-1] <= target.end_line):
        return "killed", ""
    place = f"line {lines[-1]} of the cell" if lines else "an unknown line"
    return "broken", (f"{where} raised {error['ename']} at {place}, not at the target assert "
                      f"(lines {target.line}-{target.end_line}):\n{traceback}")


def run_all(chapter: Chapter, claims: Claims, frameworks=None, jobs: int = DEFAULT_JOBS,
            timeout: int = DEFAULT_TIMEOUT, log: Callable[[Outcome], None] | None = None,
            only=None) -> list[Outcome]:
    """Run every mutation of ``claims`` in each of its frameworks that is in ``frameworks``
    (default: all), ``jobs`` at once (one kernel each); return the Outcomes in file order.
    ``only``, a set of (claim, framework), runs just those; ``log`` is called with each Outcome
    as it finishes."""
    tasks = [(mutation, name) for mutation in claims.mutations for name in mutation.frameworks
             if (frameworks is None or name in frameworks) and (only is None or (mutation.claim, name) in only)]

    def run(task):
        outcome = run_mutation(chapter, claims, *task, timeout=timeout)
        if log is not None:
            log(outcome)
        return outcome

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(run, tasks))


# --- coverage -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Covered:
    """An assert and how it is covered: "mutated" (``why`` lists the claims), "unmutated"
    (``why`` is the reason given) or "uncovered"."""

    site: AssertSite
    status: str
    why: str = ""


@dataclasses.dataclass(frozen=True)
class Coverage:
    """The coverage of one chapter: every assert of the frameworks looked at."""

    chapter: str
    claims_path: Path
    frameworks: tuple[str, ...]
    asserts: tuple[Covered, ...]

    def count(self, framework: str, status: str | None = None) -> int:
        """How many asserts of ``framework`` have ``status`` (all of them for None)."""
        return sum(1 for item in self.asserts if item.site.framework == framework
                   and (status is None or item.status == status))


def coverage(chapter: Chapter, claims: Claims, frameworks=None) -> Coverage:
    """Classify every assert of ``chapter``'s framework notebooks (those in ``frameworks``,
    default all) by ``claims`` (from :func:`load_claims`). Static: no kernel runs."""
    names = tuple(name for name in chapter.frameworks if frameworks is None or name in frameworks)
    items = []
    for name in names:
        for site in find_asserts(convert.to_notebook(chapter, name)):
            items.append(_classify(site, claims))
    return Coverage(chapter.name, claims.path, names, tuple(items))


def _classify(site: AssertSite, claims: Claims) -> Covered:
    claimed = [mutation.claim for mutation in claims.mutations if mutation.targets.get(site.framework) == site]
    if claimed:
        return Covered(site, "mutated", "; ".join(claimed))
    for entry in claims.unmutated:
        if site.framework in entry.frameworks and entry.text in site.text:
            return Covered(site, "unmutated", entry.why)
    return Covered(site, "uncovered")


def _check_unmutated(path: Path, notebooks: dict, mutations: tuple[Mutation, ...],
                     unmutated: tuple[Unmutated, ...]) -> None:
    """Each entry must name, in each of its frameworks, an assert that no mutation targets."""
    claims = Claims(path, (), mutations, ())
    for entry in unmutated:
        for name in entry.frameworks:
            sites = [site for site in find_asserts(notebooks[name]) if entry.text in site.text]
            if not sites:
                raise SourceError(path, entry.line, f"unmutated {entry.text!r} names no assert of {name}",
                                  "the assert changed: update the text, or narrow 'frameworks' to the "
                                  "frameworks whose asserts it names")
            if all(_classify(site, claims).status == "mutated" for site in sites):
                raise SourceError(path, entry.line, f"unmutated {entry.text!r}: every {name} assert it names "
                                  "is the target of a mutation",
                                  f"remove the entry, or {name} from its 'frameworks'")


# --- reports --------------------------------------------------------------------------------

def coverage_table(coverages: list[Coverage]) -> str:
    """A Markdown table, one row per chapter and framework: asserts, mutated, unmutated, uncovered."""
    rows = ["| chapter | framework | asserts | mutated | unmutated (listed) | uncovered |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for cover in coverages:
        for name in cover.frameworks:
            rows.append(f"| {cover.chapter} | {get(name).title} | {cover.count(name)} | "
                        f"{cover.count(name, 'mutated')} | {cover.count(name, 'unmutated')} | "
                        f"{cover.count(name, 'uncovered')} |")
    return "\n".join(rows)


def coverage_lists(coverages: list[Coverage], statuses=("uncovered", "unmutated")) -> str:
    """Per chapter, the uncovered asserts, then the unmutated ones with their reasons (Markdown
    lists); ``statuses`` picks which of the two."""
    parts = []
    for cover in coverages:
        where = display_path(cover.claims_path)
        for status, heading in (("uncovered", f"uncovered asserts (give each a mutation in {where}, or list it "
                                              "under `unmutated` with the reason)"),
                                ("unmutated", f"asserts without a mutation ({where}), and why")):
            items = [item for item in cover.asserts if item.status == status and status in statuses]
            if items:
                parts.append(f"{cover.chapter}: {len(items)} {heading}:\n")
                parts += [f"- {get(item.site.framework).title}, {item.site.where()}: `{_one_line(item.site.text)}`"
                          + (f": {item.why}" if item.why else "") for item in items]
                parts.append("")
    return "\n".join(parts).rstrip()


def outcome_line(outcome: Outcome) -> str:
    """One line: outcome, framework, seconds, chapter and claim."""
    return (f"{outcome.status:<8} {get(outcome.framework).title:<10} {outcome.seconds:6.1f} s  "
            f"{outcome.chapter}: {outcome.claim}")


def outcome_report(outcome: Outcome, claims_path: Path | None = None) -> str:
    """A surviving or broken mutation: where it is declared, its target, and what happened."""
    where = f" ({display_path(claims_path)}:{outcome.line})" if claims_path else ""
    return (f"{outcome.status}: {get(outcome.framework).title}: mutation {outcome.claim!r}{where}\n"
            f"  target: {outcome.target.where()}: {_one_line(outcome.target.text)}\n"
            + "\n".join("  " + line for line in outcome.report.splitlines()))


def outcome_table(outcomes: list[Outcome]) -> str:
    """A Markdown table of outcomes: chapter, framework, claim, outcome, seconds."""
    rows = ["| chapter | framework | claim | outcome | seconds |", "| --- | --- | --- | --- | ---: |"]
    rows += [f"| {o.chapter} | {get(o.framework).title} | {o.claim} | {o.status} | {o.seconds:.1f} |"
             for o in outcomes]
    return "\n".join(rows)


def _one_line(text: str) -> str:
    return " ".join(text.split())
