"""What a change affects: the plan that ``build.py affected`` prints and then runs.

A change is the difference between git's ``REF`` (default ``HEAD``) and the working tree, the
index included, plus untracked files (:func:`changed_files`). From it, statically (no kernel):

* **Notebooks** (:func:`plan_notebooks`): every chapter and framework whose notebook, converted
  from the chapter now, differs in its cells (code, prose, tags, and the generated setup cells,
  which carry the saved code the notebook uses) from the executed notebook committed at ``REF``
  (``tabs/<framework>/<chapter>.ipynb``). So an edit of a cell tagged for one framework affects
  that framework's notebook only; an edit of prose or of a cell of every framework affects all
  of the chapter's notebooks; an edit of saved code affects the chapter that saves it and every
  notebook that uses the changed definitions (directly or through another saved definition).
  Also every notebook whose stored execution key is not its key now (a changed lock or notebook
  helper module), and every notebook whose file under ``tabs/`` changed; a changed
  ``tests/sanitize.cfg`` affects every notebook's comparison. These are executed (``execute``
  skips one whose key is unchanged) and then checked by nbval.
* **Mutations** (:func:`plan_mutations`): every mutation of the book whose record is missing or
  stale (``claims --run --stale``); a current record that is not "killed" is reported, as
  ``check`` does. The claims coverage of every chapter with a changed notebook, claims file or
  record is checked too.
* **Unit tests** (:func:`plan_tests`): every test module under ``tests/`` that changed, or that
  imports a changed module, directly or through other modules of ``tabbook/`` and ``tests/``
  (imports read with :mod:`ast`, those inside functions included; a module that names the file
  ``build.py`` runs the command line, so it counts as importing ``tabbook.cli``; a test that takes
  a fixture of ``tests/conftest.py`` counts as importing it); and each test of :data:`READS`,
  which reads a folder's files rather than importing them, when a file there changed.
* **Not mapped** (:func:`plan_unmapped`): changed files no rule above covers (``build.py``,
  ``conftest.py``, ``pytest.ini``, docs, the book's assets...): listed, for the full suite
  (``build.py test``) to check.
"""
from __future__ import annotations

import ast
import collections
import dataclasses
import subprocess
from pathlib import Path

import nbformat

from . import check, claimrecords, convert, execute, pyast, standalone
from . import claims as claims_module
from .errors import BuildError, SourceError
from .frameworks import NAMES, ROOT, get
from .source import Chapter

#: Every notebook's nbval comparison reads this file.
SANITIZE = "tests/sanitize.cfg"
#: The test modules the plan may run: ``tests/test_*.py``.
TESTS = "tests"
#: Tests that read the files of a folder rather than import them: {test file: folder}; a change
#: of any file in the folder runs the test.
READS = {"tests/test_pyast.py": "tabbook/"}


@dataclasses.dataclass
class Plan:
    """What a change affects, each with why.

    ``notebooks``: {(chapter, framework): why}, in book order; ``mutations``: the
    :class:`tabbook.claimrecords.Due` items to run, by chapter name; ``not_killed``: messages for
    current records that are not "killed"; ``chapters``: the chapters whose claims coverage is
    checked; ``tests``: {test file relative to the root: why}; ``unmapped``: {changed file: note}.
    """

    base: str
    changed: list[str]
    notebooks: dict[tuple[str, str], str]
    mutations: dict[str, list[claimrecords.Due]]
    not_killed: list[str]
    chapters: list[str]
    tests: dict[str, str]
    unmapped: dict[str, str]


def git(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``git -C root ARGS``, output captured as bytes.

    Raises:
        BuildError: git is not installed.
    """
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise BuildError("build.py affected compares with git, which is not installed: install git, "
                         "or run the whole suite with: python3 build.py test") from None


def changed_files(root: Path, base: str = "HEAD") -> list[str]:
    """The files (relative to ``root``, sorted) that differ between commit ``base`` and the working
    tree, staged or not, deleted ones included, and the untracked files git does not ignore.

    Raises:
        BuildError: ``root`` is not a git checkout, or ``base`` names no commit.
    """
    found = git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if found.returncode != 0:
        inside = git(root, "rev-parse", "--is-inside-work-tree").returncode == 0
        if not inside:
            raise BuildError(f"{root} is not a git checkout, so there is no change to compare: run the whole "
                             "suite with: python3 build.py test")
        raise BuildError(f"--since {base}: git knows no commit by that name; give a branch, a tag or a commit "
                         "(for example --since origin/main or --since HEAD~3)")
    diff = git(root, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z")
    for result in (diff, untracked):
        if result.returncode != 0:
            raise BuildError(f"git could not list the changes since {base}: "
                             f"{result.stderr.decode(errors='replace').strip()}")
    names = (diff.stdout + untracked.stdout).decode(errors="surrogateescape").split("\0")
    return sorted({name for name in names if name})


def committed_notebook(root: Path, base: str, path: Path) -> nbformat.NotebookNode | None:
    """The notebook at ``path`` as commit ``base`` holds it, or None where it holds none or an
    unreadable one."""
    shown = git(root, "show", f"{base}:{path.relative_to(root).as_posix()}")
    if shown.returncode != 0:
        return None
    try:
        return nbformat.reads(shown.stdout.decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 (nbformat raises many kinds): unreadable is as good as absent
        return None


def notebook_change(fresh: nbformat.NotebookNode, old: nbformat.NotebookNode | None, chapter: Chapter,
                    base: str) -> str:
    """Why the notebook ``fresh`` (converted now) differs in its cells from ``old`` (committed at
    ``base``), or "" where it does not."""
    if old is None:
        return f"it is not in {base}"
    if convert.code_fingerprint(fresh) == convert.code_fingerprint(old):
        return ""
    where = check.first_difference(fresh, old)
    if where in (standalone.REQUIREMENTS_ID, standalone.HELPERS_ID):
        saved = check.saved_changes(fresh, old)
        return (f"the saved code it uses changed ({saved})" if saved else
                f"its generated {where} cell changed (the lock, or the book's helper modules)")
    kind = next((cell.cell_type for cell in fresh.cells if cell.metadata.get("tabbook", {}).get("line") == where), "")
    what = {"markdown": "the prose cell", "code": "the code cell"}.get(kind, "the cell")
    return f"{what} at {_relative(chapter.path)}:{where} changed"


def plan_notebooks(chapters: list[Chapter], root: Path, base: str, changed: list[str]) -> dict[tuple[str, str], str]:
    """{(chapter, framework): why} for every notebook the change affects (see the module's doc),
    in book order.

    Raises:
        SourceError, BuildError: a chapter cannot be converted (as ``convert`` reports it).
    """
    changed_set = set(changed)
    every = SANITIZE in changed_set
    found = {}
    for chapter in chapters:
        for name in chapter.frameworks:
            fresh = convert.to_notebook(chapter, name)
            path = convert.notebook_path(chapter.name, name)
            why = notebook_change(fresh, committed_notebook(root, base, path), chapter, base)
            if not why:
                stored, _ = execute.read_stored(path, chapter.name, name)
                if stored is None:
                    why = f"{_relative(path)} is missing or damaged"
                elif stored.metadata.get("tabbook", {}).get("execution_key") != execute.execution_key(fresh, name):
                    why = f"{_relative(path)} was executed with another lock or notebook helpers"
            if not why and _relative(path) in changed_set:
                why = f"{_relative(path)} changed"
            if not why and every:
                why = f"{SANITIZE} changed"
            if why:
                found[(chapter.name, name)] = why
    return found


def plan_mutations(chapters: list[Chapter]) -> tuple[dict[str, list[claimrecords.Due]], list[str]]:
    """({chapter: the mutations whose record is missing or stale}, messages for current records
    that are not "killed"), over the whole book: a record goes stale exactly when the cells its
    run executes, the lock or the helpers change.

    Raises:
        SourceError: a claims file or record is malformed.
    """
    runs, not_killed = {}, []
    for chapter in chapters:
        claims = claims_module.load_claims(chapter)
        if not claims.mutations:
            continue
        for item in claimrecords.due(chapter, claims):
            if item.why in ("missing", "stale"):
                runs.setdefault(chapter.name, []).append(item)
            else:
                not_killed.append(claimrecords.due_message(chapter, claims, item))
    return runs, not_killed


# --- unit tests: the static import graph ------------------------------------------------------

def module_name(path: str) -> str | None:
    """The module a file is (``tabbook/claims.py`` -> ``tabbook.claims``, ``tests/__init__.py`` ->
    ``tests``, ``conftest.py`` -> ``conftest``), or None for a file outside ``tabbook/`` and
    ``tests/`` or not Python."""
    parts = Path(path).with_suffix("").parts
    if not path.endswith(".py") or not parts or (parts[0] not in ("tabbook", TESTS) and parts != ("conftest",)):
        return None
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(tree: ast.Module, name: str, known: set[str], is_package: bool = False) -> set[str]:
    """The modules of ``known`` that the module ``name`` (parsed as ``tree``) imports, anywhere in
    it: ``import a.b`` gives ``a`` and ``a.b``; ``from a import b`` gives ``a`` and, where it is a
    module, ``a.b``; relative imports are resolved against ``name`` (a package when
    ``is_package``)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                base = ".".join(filter(None, [*anchor, base]))
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Constant) and node.value == "build.py":
            targets = ["tabbook.cli"]  # it runs the command line
        else:
            continue
        for target in targets:
            parts = target.split(".")
            found.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return (found & known) - {name}


def fixtures(tree: ast.Module) -> set[str]:
    """The names of the functions decorated with ``pytest.fixture`` (with or without arguments)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("pytest.fixture", "fixture"):
                    names.add(node.name)
    return names


def parameters(tree: ast.Module) -> set[str]:
    """The parameter names of every function in the module (test functions ask for fixtures so)."""
    return {arg.arg for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}


def import_graph(root: Path) -> dict[str, set[str]]:
    """{module: the modules it imports} for every Python module of ``tabbook/`` and ``tests/``
    and the root ``conftest.py``; a module of ``tests/`` that takes a fixture defined in
    ``tests/conftest.py`` imports that module too.

    Raises:
        SourceError: a module is not valid Python (its file and line).
    """
    files = {module_name(path.relative_to(root).as_posix()): path
             for folder in ("tabbook", TESTS) for path in sorted((root / folder).rglob("*.py"))
             if "__pycache__" not in path.parts}
    if (root / "conftest.py").exists():
        files["conftest"] = root / "conftest.py"
    files.pop(None, None)
    trees = {}
    for name, path in files.items():
        try:
            trees[name] = pyast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as error:
            raise SourceError(path, error.lineno, f"not valid Python: {error.msg}") from None
        except UnicodeDecodeError as error:
            raise SourceError(path, None, f"not UTF-8 ({error.reason})") from None
    known = set(files)
    shared = f"{TESTS}.conftest"
    shared_fixtures = fixtures(trees[shared]) if shared in trees else set()
    graph = {}
    for name, tree in trees.items():
        graph[name] = imported_modules(tree, name, known, files[name].name == "__init__.py")
        if name.startswith(f"{TESTS}.") and name != shared and parameters(tree) & shared_fixtures:
            graph[name].add(shared)
    return graph


def import_chain(graph: dict[str, set[str]], start: str, targets: set[str]) -> list[str] | None:
    """The shortest chain of imports from ``start`` to a module of ``targets`` (both ends
    included), or None where there is none."""
    previous = {start: None}
    queue = collections.deque([start])
    while queue:
        name = queue.popleft()
        if name in targets:
            chain = []
            while name is not None:
                chain.append(name)
                name = previous[name]
            return chain[::-1]
        for imported in sorted(graph.get(name, ())):
            if imported not in previous:
                previous[imported] = name
                queue.append(imported)
    return None


def plan_tests(root: Path, changed: list[str]) -> dict[str, str]:
    """{test file: why} for each ``tests/test_*.py`` that changed or imports a changed module."""
    graph = import_graph(root)
    targets = {module_name(path) for path in changed} - {None}
    found = {}
    for name in sorted(graph):
        if not name.startswith(f"{TESTS}.test_"):
            continue
        path = name.replace(".", "/") + ".py"
        chain = import_chain(graph, name, targets)
        if chain is None:
            read = [changed_path for changed_path in changed if path in READS and changed_path.startswith(READS[path])]
            if read:
                found[path] = f"it reads every file of {READS[path]}, and {read[0]} changed"
            continue
        found[path] = ("it changed" if len(chain) == 1 else
                       f"it imports {chain[-1]}" + (f" (through {', '.join(chain[1:-1])})" if len(chain) > 2 else ""))
    return found


def plan_unmapped(changed: list[str], root: Path) -> dict[str, str]:
    """{changed file: note} for each changed file that no rule of the plan covers."""
    tab_dirs = {get(name).tab_dir.relative_to(root).as_posix() for name in NAMES}
    found = {}
    for path in changed:
        parts = Path(path).parts
        folder = Path(path).parent.as_posix()
        if path == "conftest.py":
            found[path] = "it is how nbval runs every notebook: the whole suite checks that"
        elif module_name(path) or path == SANITIZE:
            continue
        elif folder == "notebooks" and path.endswith((".md", ".claims.yml", ".claims.record")):
            continue
        elif folder in tab_dirs and path.endswith(".ipynb"):
            continue
        elif folder in tab_dirs and Path(path).name.startswith("requirements"):
            found[path] = ("a lock: the notebooks and mutations keyed on it are in the plan; the environment "
                           "tests (tests/test_environments.py, tests/test_installers.py) are not")
        else:
            found[path] = "no rule maps it to tests"
    return found


def make_plan(chapters: list[Chapter], root: Path = ROOT, base: str = "HEAD") -> Plan:
    """The whole plan for the change from ``base`` to the working tree (nothing is run).

    Raises:
        BuildError: not a git checkout, an unknown ``base``, git missing.
        SourceError: a chapter, claims file, record or Python module is malformed.
    """
    changed = changed_files(root, base)
    notebooks = plan_notebooks(chapters, root, base, changed)
    mutations, not_killed = plan_mutations(chapters)
    touched = {Path(path).name.split(".")[0] for path in changed
               if Path(path).parent.as_posix() == "notebooks" and path.endswith((".md", ".claims.yml", ".claims.record"))}
    touched |= {chapter for chapter, _ in notebooks} | set(mutations)
    return Plan(base, changed, notebooks, mutations, not_killed,
                [chapter.name for chapter in chapters if chapter.name in touched],
                plan_tests(root, changed), plan_unmapped(changed, root))


def describe(plan: Plan) -> str:
    """The plan as the command prints it before running: what runs, and why."""
    lines = [f"affected: {len(plan.changed)} file(s) changed since {plan.base} (working tree and index)"
             + (":" if plan.changed else "")]
    lines += [f"  {path}" for path in plan.changed]
    lines.append(f"notebooks to execute (if their key changed) and check with nbval: {len(plan.notebooks)}")
    lines += [f"  {get(name).title}: {chapter}: {why}" for (chapter, name), why in plan.notebooks.items()]
    count = sum(len(items) for items in plan.mutations.values())
    lines.append(f"mutations to run (record missing or stale): {count}")
    for chapter, items in plan.mutations.items():
        lines += [f"  {chapter}: {item.mutation.claim!r} ({get(item.framework).title}): record {item.why}"
                  for item in items]
    if plan.not_killed:
        lines.append(f"records not killed (fail; fix the mutation, then claims --run): {len(plan.not_killed)}")
        lines += [f"  {message}" for message in plan.not_killed]
    lines.append(f"claims coverage checked: {', '.join(plan.chapters) or 'none'}; build.py check: the whole book (static)")
    lines.append(f"unit test modules to run: {len(plan.tests)}")
    lines += [f"  {path}: {why}" for path, why in plan.tests.items()]
    if plan.unmapped:
        lines.append(f"not checked by this run (run the whole suite, python3 build.py test, for them): "
                     f"{len(plan.unmapped)}")
        lines += [f"  {path}: {note}" for path, note in plan.unmapped.items()]
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()
