"""Content-addressed records of mutation outcomes: ``notebooks/<chapter>.claims.record``.

A mutation's outcome (:class:`tabbook.claims.Outcome`) is a function of what its run executes:
the notebook :func:`tabbook.claims.run_notebook` makes (the framework's code cells up to the
target, less the skipped ones, mutated, with the generated setup cells and so the saved code the
notebook uses), the framework's lock file and the helper modules the notebook imports, which is
what :func:`tabbook.execute.execution_key` hashes, and the lines of the target assert in its cell
(where the ``AssertionError`` must be raised), with :data:`RULES`, the version of how runs are
made and judged. The sha256 of those is the mutation's *key*.

``python build.py claims --run`` records, for each mutation and framework it runs, the key, the
outcome and the seconds it took, in a JSON file beside the chapter (one entry a line, in the
claims file's order, frameworks in book order)::

    {
      "chapter": "custom-layers",
      "mutations": [
        {"claim": "CenteredLayer subtracts the mean", "framework": "mxnet", "key": "3f2a...", "outcome": "killed", "seconds": 9.8},
        ...
      ]
    }

A record is *current* when its key is the key the mutation has now. ``build.py check`` reports
every mutation whose record is missing, stale (key changed) or not "killed";
``build.py claims --run --stale`` re-runs exactly those whose record is missing or stale. The
tests (``tests/test_claims.py``) run those too, plus a rotating sample of the current ones
(:func:`sample`), so an outcome that drifts while its inputs do not (a kernel or library
behaving differently on another machine) is still found.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from pathlib import Path

from . import claims as claims_module
from . import convert, execute
from .errors import SourceError, display_path
from .files import atomic_write_text
from .frameworks import get
from .source import Chapter

#: The outcome every record must hold.
KILLED = "killed"
#: Part of every key: raise it when tabbook.claims changes how a mutation's run is made or judged
#: (what counts as killed), so that every record goes stale and is shown again.
RULES = 1
#: How many current records the tests re-run besides the stale ones (:func:`sample`).
SAMPLE_SIZE = 8


@dataclasses.dataclass(frozen=True)
class Entry:
    """One mutation in one framework as recorded: ``seconds`` is the wall time of its run."""

    claim: str
    framework: str
    key: str
    outcome: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class Due:
    """A mutation whose record is not as it must be: ``why`` is "missing", "stale" or "recorded
    <outcome>" (current, but not killed); ``key`` is its key now."""

    mutation: claims_module.Mutation
    framework: str
    key: str
    why: str


def record_path(chapter: Chapter) -> Path:
    """``notebooks/<chapter>.claims.record``, beside the chapter and its claims file."""
    return chapter.path.with_name(f"{chapter.name}.claims.record")


def refresh_command(chapter_name: str) -> str:
    """The command that re-runs a chapter's missing and stale mutations and rewrites its record."""
    return f"python3 build.py claims --run --stale {chapter_name}"


def keys(chapter: Chapter, claims: claims_module.Claims, frameworks=None) -> dict[tuple[str, str], str]:
    """The key (sha256 hex) of each mutation of ``claims`` in each of its frameworks that is in
    ``frameworks`` (default all), by (claim, framework), in the claims file's order.

    Static: nothing is executed; each framework's notebook is converted once.

    Raises:
        SourceError: a mutation no longer applies to the chapter (as :func:`tabbook.claims.mutate`).
    """
    notebooks: dict[str, object] = {}
    found = {}
    for mutation in claims.mutations:
        for name in mutation.frameworks:
            if frameworks is not None and name not in frameworks:
                continue
            if name not in notebooks:
                notebooks[name] = convert.to_notebook(chapter, name)
            mutant = claims_module.mutant_of(claims.path, notebooks[name], mutation)
            found[(mutation.claim, name)] = mutation_key(mutant, claims.skip)
    return found


def mutation_key(mutant: claims_module.Mutant, skip) -> str:
    """sha256 (hex) of what decides the outcome of ``mutant``'s run: the cells it runs, the
    framework's lock, the notebook helper modules, the lines of the target assert and :data:`RULES`."""
    notebook, _ = claims_module.run_notebook(mutant, skip)
    digest = hashlib.sha256(execute.execution_key(notebook, mutant.framework).encode())
    digest.update(f"rules {RULES}; target lines {mutant.target.line}-{mutant.target.end_line}".encode())
    return digest.hexdigest()


def read(path: Path) -> dict[tuple[str, str], Entry]:
    """The entries of the record at ``path`` by (claim, framework); none if there is no file.

    Raises:
        SourceError: the file is not a record (malformed JSON, missing or mistyped fields), with
            its line where JSON gives one and the command that writes it again.
    """
    if not path.exists():
        return {}
    chapter_name = path.name.removesuffix(".claims.record")
    hint = f"write it again with: python3 build.py claims --run {chapter_name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise SourceError(path, None, f"the record is not UTF-8 ({error.reason})", hint) from None
    except json.JSONDecodeError as error:
        raise SourceError(path, error.lineno, f"malformed record: {error.msg}", hint) from None
    items = data.get("mutations") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise SourceError(path, None, "malformed record: no 'mutations' list", hint)
    entries = {}
    for number, item in enumerate(items, 1):
        try:
            entry = Entry(str(item["claim"]), str(item["framework"]), str(item["key"]), str(item["outcome"]),
                          float(item["seconds"]))
        except (KeyError, TypeError, ValueError):
            raise SourceError(path, None, f"malformed record: entry {number} lacks claim, framework, key, outcome "
                              "or seconds", hint) from None
        entries[(entry.claim, entry.framework)] = entry
    return entries


def render(chapter_name: str, entries: list[Entry]) -> str:
    """The record's text: JSON, one entry a line, keys sorted, seconds to a tenth (deterministic
    for given entries)."""
    lines = [json.dumps({"claim": e.claim, "framework": e.framework, "key": e.key, "outcome": e.outcome,
                         "seconds": round(e.seconds, 1)}, sort_keys=True, ensure_ascii=False)
             for e in entries]
    body = ",\n    ".join(lines)
    return (f'{{\n  "chapter": {json.dumps(chapter_name)},\n  "mutations": [\n    {body}\n  ]\n}}\n' if lines else
            f'{{\n  "chapter": {json.dumps(chapter_name)},\n  "mutations": []\n}}\n')


def update(chapter: Chapter, claims: claims_module.Claims, outcomes: list[claims_module.Outcome],
           current: dict[tuple[str, str], str] | None = None) -> Path:
    """Rewrite the chapter's record atomically with ``outcomes`` (of runs just made) replacing
    the entries of the same mutation and framework; entries of mutations no longer in ``claims``
    are dropped, the others kept as they were. ``current`` is :func:`keys` of the chapter (computed
    when None). Returns the record's path.

    Raises:
        SourceError: the old record is malformed (see :func:`read`); nothing is written then.
        OSError: the file cannot be written; the old one is kept.
    """
    path = record_path(chapter)
    current = keys(chapter, claims) if current is None else current
    entries = {identity: entry for identity, entry in read(path).items() if identity in current}
    for outcome in outcomes:
        identity = (outcome.claim, outcome.framework)
        entries[identity] = Entry(outcome.claim, outcome.framework, current[identity], outcome.status,
                                  outcome.seconds)
    ordered = [entries[identity] for identity in current if identity in entries]
    atomic_write_text(path, render(chapter.name, ordered))
    return path


def due(chapter: Chapter, claims: claims_module.Claims, frameworks=None,
        current: dict[tuple[str, str], str] | None = None) -> list[Due]:
    """Each mutation (of the frameworks in ``frameworks``, default all) whose record is missing,
    stale or not "killed", in the claims file's order."""
    current = keys(chapter, claims, frameworks) if current is None else current
    recorded = read(record_path(chapter))
    mutations = {(mutation.claim, name): mutation for mutation in claims.mutations for name in mutation.frameworks}
    found = []
    for identity, key in current.items():
        entry = recorded.get(identity)
        why = ("missing" if entry is None else "stale" if entry.key != key else
               f"recorded {entry.outcome}" if entry.outcome != KILLED else "")
        if why:
            found.append(Due(mutations[identity], identity[1], key, why))
    return found


def due_message(chapter: Chapter, claims: claims_module.Claims, item: Due) -> str:
    """``notebooks/x.claims.yml:12: mutation 'c' (PyTorch): its record is stale ...; refresh ...``."""
    what = {"missing": f"has no record in {display_path(record_path(chapter))}",
            "stale": ("its record is stale: the cells it runs, the framework's lock or the notebook helpers "
                      "changed since it ran")}.get(item.why, f"its record says it was not killed ({item.why})")
    command = (refresh_command(chapter.name) if item.why in ("missing", "stale") else
               f"python3 build.py claims --run {chapter.name}, after fixing the mutation")
    return (f"{display_path(claims.path)}:{item.mutation.line}: mutation {item.mutation.claim!r} "
            f"({get(item.framework).title}) {what}; refresh it with: {command}")


def problems(chapter: Chapter) -> list[str]:
    """For ``build.py check``: every mutation of the chapter whose record is missing, stale or not
    killed, a record with no claims file beside it, and entries for mutations that are gone."""
    claims = claims_module.load_claims(chapter)
    path = record_path(chapter)
    if not claims.mutations:
        return ([f"{display_path(path)}: {chapter.name} has no mutations, so nothing reads this record; delete it"]
                if path.exists() else [])
    current = keys(chapter, claims)
    found = [due_message(chapter, claims, item) for item in due(chapter, claims, current=current)]
    gone = [identity for identity in read(path) if identity not in current]
    if gone:
        claim, name = gone[0]
        found.append(f"{display_path(path)}: {len(gone)} entr{'y' if len(gone) == 1 else 'ies'} for mutations no "
                     f"longer in {display_path(claims.path)} (first: {claim!r}, {name}); rewrite it with: "
                     f"{refresh_command(chapter.name)}")
    return found


def sample(identities: list, seed: str, count: int = SAMPLE_SIZE) -> list:
    """``count`` of ``identities`` (all when there are fewer), the same ones for the same seed and
    list, in the list's order. The tests seed it with the UTC date, or $TABBOOK_CLAIMS_SEED, so
    the sample rotates day by day and a failure can be reproduced."""
    if len(identities) <= count:
        return list(identities)
    picked = set(random.Random(seed).sample(range(len(identities)), count))
    return [identity for index, identity in enumerate(identities) if index in picked]



def verify(chapter: Chapter, claims: claims_module.Claims, framework: str, sampled=frozenset(),
           run_all: bool = False, jobs: int = claims_module.DEFAULT_JOBS) -> tuple[list, list[str]]:
    """What the tests check of one chapter and framework: run the mutations whose record is
    missing, stale or not killed, those in ``sampled`` (a set of (claim, framework)), or all of
    them with ``run_all``; return (their Outcomes, the problems found, each a report).

    A problem is a run not killed (with "its current record says killed: ..." when its record
    was current and killed: the outcome drifted), and every record missing, stale or not killed
    (with the command that refreshes it), so a stale record fails even when its run is killed.
    """
    current = keys(chapter, claims, [framework])
    owed = {(item.mutation.claim, item.framework): item for item in due(chapter, claims, [framework], current=current)}
    only = {identity for identity in current if run_all or identity in owed or identity in sampled}
    outcomes = claims_module.run_all(chapter, claims, [framework], jobs=jobs, only=only)
    problems = []
    for outcome in outcomes:
        if outcome.status != KILLED:
            drift = ("" if (outcome.claim, outcome.framework) in owed else
                     "\n  its current record says killed: the outcome changed although its inputs did not")
            problems.append(claims_module.outcome_report(outcome, claims.path) + drift)
    problems += [due_message(chapter, claims, item) for item in owed.values()]
    return outcomes, problems
