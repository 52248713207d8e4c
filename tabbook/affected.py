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
  ``tests/sanitize.cfg``, ``conftest.py`` or ``pytest.ini`` affects every notebook's comparison. These are executed (``execute``
  skips one whose key is unchanged) and then checked by nbval.
* **Mutations** (:func:`plan_mutations`): every mutation of the book whose record is missing or
  stale (``claims --run --stale``); a current record that is not "killed" is reported, as
  ``check`` does. The claims coverage of every chapter with a changed notebook, claims file or
  record is checked too.
* **Brought up to date without executing** (``Plan.refresh``, ``Plan.saved``): notebooks whose
  cells and key are unchanged but whose cell metadata is not the converter's (a blank line moved
  a cell's source line), and the files of ``library/dlblocks/`` that ``convert`` would write: the
  run rewrites them as ``execute`` and ``convert`` would, so ``check`` passes after it.
* **Unit tests** (:func:`plan_tests`): every test module under ``tests/`` that changed, or that
  imports a changed module, directly or through other modules of ``tabbook/`` and ``tests/``
  (imports read with :mod:`ast`, those inside functions included; a module that names the file
  ``build.py`` runs the command line, so it counts as importing ``tabbook.cli``; a test that takes
  a fixture of ``tests/conftest.py`` counts as importing it), or that imports a module of
  ``tabbook``/``tests`` that has no file (renamed or deleted: it fails at that import, and the
  module that imports it is listed as a failure, ``Plan.broken``); the tests that name a changed
  file no other rule maps (``tests/sanitize.cfg``, ``README.md``, ``build.py``), or every test
  module for a changed file under ``tests/`` that no test names, for ``conftest.py`` and
  ``pytest.ini`` (every notebook too), and for a ``tests/conftest.py`` with hooks or autouse
  fixtures; the tests that check a changed requirements file (:data:`REQUIREMENTS`); the tests
  that read the real book (:data:`BOOK_READERS`, ``tests/test_book.py`` among them) when one of
  their chapters, its notebooks or ``notebooks/toc.yml`` changed (where no chapter's
  :func:`outline` changed, of ``tests/test_book.py`` only the tests that read the whole book and
  those that open a changed chapter's page, :func:`page_scopes`; of a test of
  :data:`PER_NOTEBOOK`, its parametrizations for the affected notebooks); and each test of
  :data:`READS`, which reads a folder's files rather than importing them, when a file there
  changed. Chromium is made ready only when a planned test drives it (:func:`browser_tests`).
* **Not mapped** (:func:`plan_unmapped`): changed files no rule above covers (the docs, the
  book's assets...): listed, for the full suite (``build.py test``) to check.
"""
from __future__ import annotations

import ast
import collections
import dataclasses
import re
import subprocess
from pathlib import Path

import nbformat

from . import check, claimrecords, convert, execute, pyast, savedcode, standalone
from . import claims as claims_module
from .errors import BuildError, SourceError
from .frameworks import NAMES, ROOT, get
from .source import Chapter

#: Every notebook's nbval comparison reads this file.
SANITIZE = "tests/sanitize.cfg"
#: The test modules the plan may run: ``tests/test_*.py`` and the reader's library's own,
#: ``library/tests/test_*.py`` (:data:`TEST_PACKAGES`).
TESTS = "tests"
#: The packages whose modules the import graph holds, and their folders: the build tool, its
#: tests, the reader's library (imported as ``dlblocks``, from ``library/dlblocks/``) and the
#: library's tests.
PACKAGES = {"tabbook": "tabbook", TESTS: TESTS, "dlblocks": "library/dlblocks", "library.tests": "library/tests"}
#: The packages of :data:`PACKAGES` that hold test modules.
TEST_PACKAGES = (TESTS, "library.tests")
#: How the names of their modules begin.
TEST_PREFIXES = tuple(f"{package}." for package in TEST_PACKAGES)
#: Tests that read the files of a folder rather than import them: {test file: (folder, the ending of
#: the files they read)}; a change of such a file in the folder runs the test.
READS = {"tests/test_pyast.py": ("tabbook/", ".py"),
         "library/tests/test_package.py": ("library/", "")}  # it installs a copy of the folder


@dataclasses.dataclass
class Plan:
    """What a change affects, each with why.

    ``notebooks``: {(chapter, framework): why}, in book order; ``mutations``: the
    :class:`tabbook.claimrecords.Due` items to run, by chapter name; ``not_killed``: messages for
    current records that are not "killed"; ``chapters``: the chapters whose claims coverage is
    checked; ``tests``: {test file relative to the root, or a test's pytest node id
    (``tests/test_book.py::test_x``, :func:`book_tests`): why}; ``unmapped``: {changed file: note};
    ``refresh``: {(chapter, framework): why} for notebooks whose cells and key are unchanged but
    whose cell metadata (a cell's source line) is not the converter's: rewritten as ``execute``
    rewrites them, not executed; ``saved``: {file of ``library/dlblocks/``: why} for those that
    ``convert`` would write or delete (the chapters' saved cells moved or changed); ``broken``: modules of
    ``tabbook/`` and ``tests/`` that import a module with no file (each fails the run);
    ``browser``: the planned test files that drive Chromium.
    """

    base: str
    changed: list[str]
    notebooks: dict[tuple[str, str], str]
    mutations: dict[str, list[claimrecords.Due]]
    not_killed: list[str]
    chapters: list[str]
    tests: dict[str, str]
    unmapped: dict[str, str]
    refresh: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    saved: dict[str, str] = dataclasses.field(default_factory=dict)
    broken: list[str] = dataclasses.field(default_factory=list)
    browser: list[str] = dataclasses.field(default_factory=list)


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
        BuildError: ``root`` is not a git checkout, git refuses to read it (its message and the fix,
            :func:`git_refusal`), or ``base`` names no commit.
    """
    found = git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if found.returncode != 0:
        inside = git(root, "rev-parse", "--is-inside-work-tree")
        said = inside.stderr.decode(errors="replace").strip()
        if inside.returncode != 0 and "not a git repository" in said.lower():
            raise BuildError(f"{root} is not a git checkout ({said.splitlines()[0]}), so there is no change to "
                             "compare: run the whole suite with: python3 build.py test")
        if inside.returncode != 0:
            raise BuildError(git_refusal(root, said))
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


def git_refusal(root: Path, said: str) -> str:
    """The message for git refusing to read the checkout at ``root``: what git said (``said``,
    its standard error), and how to fix it."""
    said = said or "(git said nothing)"
    if "dubious ownership" in said or "safe.directory" in said:
        fix = (f"git refuses a checkout that another user owns; if you trust it, run: git config --global --add "
               f"safe.directory {root}  (or run as the user who owns it), then run again")
    else:
        fix = "fix what git says, then run again"
    return (f"git cannot read the checkout at {root}; git says:\n  " + "\n  ".join(said.splitlines())
            + f"\n{fix}; or run the whole suite with: python3 build.py test")


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
    if where == standalone.SETUP_ID:
        saved = check.saved_changes(fresh, old)
        return (f"the saved code it uses changed ({saved})" if saved else
                f"its generated {where} cell changed (the lock, or the library code it carries)")
    kind = next((cell.cell_type for cell in fresh.cells if cell.metadata.get("dlblocks", {}).get("line") == where), "")
    what = {"markdown": "the prose cell", "code": "the code cell"}.get(kind, "the cell")
    return f"{what} at {_relative(chapter.path)}:{where} changed"


def plan_notebooks(chapters: list[Chapter], root: Path, base: str, changed: list[str],
                   refresh: dict[tuple[str, str], str] | None = None) -> dict[tuple[str, str], str]:
    """{(chapter, framework): why} for every notebook the change affects (see the module's doc),
    in book order. Each notebook not affected whose stored cell metadata is not the converter's
    (a blank line added above a cell moves its source line) goes into ``refresh``, with why.

    Raises:
        SourceError, BuildError: a chapter cannot be converted (as ``convert`` reports it).
    """
    changed_set = set(changed)
    every = next((path for path in [SANITIZE, *EVERY_TEST] if path in changed_set), "")
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
                elif stored.metadata.get("dlblocks", {}).get("execution_key") != execute.execution_key(fresh, name):
                    why = f"{_relative(path)} was executed with another lock or notebook helpers"
            if not why and _relative(path) in changed_set:
                why = f"{_relative(path)} changed"
            if not why and every:
                why = f"{every} changed: nbval compares every notebook through it"
            if why:
                found[(chapter.name, name)] = why
            elif refresh is not None and convert.code_fingerprint(stored) == convert.code_fingerprint(fresh):
                stale = convert.stale_metadata(stored, fresh)
                if stale:
                    refresh[(chapter.name, name)] = (f"the metadata of {execute.cells_label(stored, stale)} is not the "
                                                     f"converter's (a cell's source line moved)")
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
    ``tests``, ``library/dlblocks/data.py`` -> ``dlblocks.data``, ``library/tests/test_data.py``
    -> ``library.tests.test_data``, ``conftest.py`` -> ``conftest``), or None for a file outside
    the folders of :data:`PACKAGES` or not Python."""
    if path == "conftest.py":
        return "conftest"
    if not path.endswith(".py"):
        return None
    for package, folder in sorted(PACKAGES.items(), key=lambda item: -len(item[1])):
        if path.startswith(folder + "/"):
            parts = [*package.split("."), *Path(path[len(folder) + 1:]).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(parts)
    return None


def module_file(name: str) -> str:
    """The file of the module ``name`` (:func:`module_name` reversed; a package's is its
    ``__init__.py`` where it has no ``.py`` of its name): ``dlblocks.data`` ->
    ``library/dlblocks/data.py``."""
    package = max((package for package in PACKAGES if name == package or name.startswith(package + ".")),
                  key=len, default=None)
    if package is None:
        return name.replace(".", "/") + ".py"
    base = "/".join([PACKAGES[package], *name[len(package):].lstrip(".").split(".")]).rstrip("/")
    return base + ".py" if name != package else base + "/__init__.py"


def _targets(node: ast.AST, package: str) -> list[tuple[str, list[str]]] | None:
    """The imports of one node: [(module imported, [names taken from it])], relative ones resolved
    against ``package``; None for a node that is not an import."""
    if isinstance(node, ast.Import):
        return [(alias.name, []) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
            base = ".".join(filter(None, [*anchor, base]))
        return [(base, [alias.name for alias in node.names])]
    return None


def imported_modules(tree: ast.Module, name: str, known: set[str], is_package: bool = False) -> set[str]:
    """The modules of ``known`` that the module ``name`` (parsed as ``tree``) imports, anywhere in
    it: ``import a.b`` gives ``a`` and ``a.b``; ``from a import b`` gives ``a`` and, where it is a
    module, ``a.b``; relative imports are resolved against ``name`` (a package when
    ``is_package``)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == "build.py":
            targets = ["tabbook.cli"]  # it runs the command line
        else:
            imports = _targets(node, package)
            if imports is None:
                continue
            targets = [f"{base}.{item}" if base else item for base, items in imports for item in ["", *items]]
            targets = [target.rstrip(".") for target in targets]
        for target in targets:
            parts = target.split(".")
            found.update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return (found & known) - {name}


#: The packages whose modules the graph holds (top-level names): an import of a module of theirs
#: that has no file is an import that fails.
OURS = ("tabbook", TESTS, "dlblocks", "library")


def defined_names(tree: ast.Module) -> set[str] | None:
    """The names a module binds at its top level (assignments, functions, classes, imports, also
    under ``if``/``try``/``with``), or None where it may bind any (``from x import *``, a module
    ``__getattr__``)."""
    names: set[str] = set()
    statements = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [item.optional_vars for item in node.items if item.optional_vars] if isinstance(node, ast.With)
                       else [node.target])
            names.update(leaf.id for target in targets for leaf in ast.walk(target) if isinstance(leaf, ast.Name))
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                statements.extend(getattr(node, field, []) or [])
    return names


def missing_imports(tree: ast.Module, name: str, known: set[str], packages: dict[str, set[str] | None],
                    is_package: bool = False) -> set[str]:
    """The modules of :data:`OURS` that the module ``name`` imports, anywhere in it, and that have
    no file (renamed or deleted): ``import tabbook.old``, ``from tabbook.old import f``, ``from
    tabbook import old`` where ``tabbook/__init__.py`` binds no ``old``. ``known``: the modules
    that exist; ``packages``: {package: the names its ``__init__.py`` binds, None for any}."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        for base, items in _targets(node, package) or []:
            parts = base.split(".")
            if parts[0] not in OURS:
                continue
            absent = next((".".join(parts[:end]) for end in range(1, len(parts) + 1)
                           if ".".join(parts[:end]) not in known and ".".join(parts[:end]) not in packages), None)
            if absent:
                found.add(absent)
                continue
            if base in packages:
                bound = packages[base]
                found.update(f"{base}.{item}" for item in items if item != "*" and f"{base}.{item}" not in known
                             and f"{base}.{item}" not in packages and bound is not None and item not in bound)
    return found - {name}


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
    ``tests/conftest.py`` imports that module too. An import of a module of ``tabbook`` or
    ``tests`` that has no file (renamed or deleted; :func:`missing_imports`) is an edge to a name
    that is not a key of the graph, so a test that reaches it is planned, and fails on it.

    Raises:
        SourceError: a module is not valid Python (its file and line).
    """
    files = {module_name(path.relative_to(root).as_posix()): path
             for folder in PACKAGES.values() for path in sorted((root / folder).rglob("*.py"))
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
    # A folder of OURS is a package whether or not it has an __init__.py (a namespace package).
    packages: dict[str, set[str] | None] = {
        module_name((path / "__init__.py").relative_to(root).as_posix()): set()
        for folder in PACKAGES.values() if (root / folder).is_dir()
        for path in [root / folder, *(root / folder).rglob("*")] if path.is_dir() and "__pycache__" not in path.parts}
    packages["library"] = set()  # library/ itself: the folder of the library's tests
    for name, path in files.items():
        if path.name == "__init__.py":
            packages[name] = defined_names(trees[name])
    shared = f"{TESTS}.conftest"
    shared_fixtures = fixtures(trees[shared]) if shared in trees else set()
    graph = {}
    for name, tree in trees.items():
        is_package = files[name].name == "__init__.py"
        graph[name] = (imported_modules(tree, name, known, is_package)
                       | missing_imports(tree, name, known, packages, is_package))
        if name.startswith(f"{TESTS}.") and name != shared and parameters(tree) & shared_fixtures:
            graph[name].add(shared)
    if "tabbook.standalone" in graph:  # it reads the library's hand-written modules, to carry them
        graph["tabbook.standalone"] |= {name for name in standalone.HELPERS if name in graph}
    return graph


def missing_modules(graph: dict[str, set[str]]) -> set[str]:
    """The modules that modules of ``graph`` import and that have no file (:func:`import_graph`)."""
    return {target for targets in graph.values() for target in targets} - set(graph)


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


#: Tests that read the real book (the chapters under ``notebooks/`` and the notebooks executed
#: from them under ``tabs/``): {test file: the chapters it reads, None for every one}. A change
#: of one of those chapters, of its notebooks or of ``notebooks/toc.yml`` runs the test.
BOOK_READERS: dict[str, frozenset[str] | None] = {
    "tests/test_book.py": None,  # builds the real book's HTML from every chapter and notebook
    "tests/test_standalone.py": None,  # each notebook's install cell against its lock
    "tests/test_setup_metadata.py": frozenset({"training-on-mnist"}),
    "tests/test_reader_view.py": frozenset({"training-on-mnist"}),
    "tests/test_bench.py": frozenset({"training-on-mnist"}),
    "tests/test_parity.py": frozenset({"file-io"}),
}
#: Tests of :data:`BOOK_READERS` parametrized by notebook, ``[<chapter>-<framework>]``, each of
#: which reads its own notebook only (as ``convert`` makes it, with the lock): a change runs the
#: parametrizations of the notebooks it affects (:func:`plan_tests`).
PER_NOTEBOOK = frozenset({"tests/test_standalone.py::test_the_install_cell_pins_exactly_the_imported_packages_at_the_lock"})
#: Files whose change runs every test module (and nbval over every notebook): pytest reads them
#: for every test.
EVERY_TEST = {"conftest.py": "pytest loads it for every test, and nbval runs every notebook through it",
              "pytest.ini": "its options apply to every test and to nbval over every notebook"}
#: The tests that read the requirements files: {file name: (tests, what the file is)}.
REQUIREMENTS = {
    "requirements.txt": (["tests/test_environments.py", "tests/test_installers.py"], "a lock"),
    "requirements-cuda.txt": (["tests/test_environments.py", "tests/test_installers.py"], "a CUDA lock"),
    "requirements.in": (["tests/test_environments.py"],
                        "a lock's input (its direct pins; nothing is keyed on it until python3 build.py lock "
                        "rewrites the lock from it): this test checks that the lock agrees with it"),
    "requirements-cuda.in": (["tests/test_environments.py"],
                             "a CUDA lock's input (its direct pins; nothing is keyed on it until python3 build.py "
                             "lock rewrites the lock from it): this test checks that the lock agrees with it"),
}


def _test_files(graph: dict[str, set[str]]) -> list[str]:
    return sorted(module_file(name) for name in graph
                  if name.rpartition(".")[0] in TEST_PACKAGES and name.rpartition(".")[2].startswith("test_"))


def module_strings(root: Path, modules) -> dict[str, set[str]]:
    """{module: every string constant of its source} for each module of ``modules`` that has a
    file under ``root``. Each counts as a path the module may read, however it reaches it (joined
    with ``/``, in a tuple looped over, a module-level constant, a glob's root): the matching is
    conservative, since a test that reads a file through a variable cannot be seen otherwise.
    :func:`plan_tests` reads those of ``tests/`` only: a module of ``tabbook/`` that names a file
    (as this one names ``tests/sanitize.cfg``) need not read it."""
    found = {}
    for name in modules:
        path = root / module_file(name)
        if not path.is_file():
            path = root / module_file(name).removesuffix(".py") / "__init__.py"
        try:
            tree = pyast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue  # import_graph reported it
        found[name] = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                       and isinstance(node.value, str)}
    return found


def naming(strings: set[str], path: str) -> str:
    """How a module whose string constants are ``strings`` names the file ``path`` (relative to
    the root), as the plan says it, or "" where it does not, the first that holds: by that path
    (``./`` and a trailing ``/`` aside) or a path that ends in it, by its file name, or by a
    folder that holds it (``"tabs"`` for ``tabs/x/y.ipynb``: the root of a glob, or of a path
    built from a variable). ``""``, ``"."`` and ``"/"`` name no folder (too common to mean the
    root); a string of several lines (a docstring) names nothing."""
    name = Path(path).name
    texts = {text.strip().removeprefix("./").rstrip("/") for text in strings if "\n" not in text}
    texts -= {"", ".", "/"}
    if path in texts or any("/" in text and path.endswith("/" + text.lstrip("/")) for text in texts):
        return f"it names {shown(path)}"
    if name in texts:
        return f'it names "{name}", the file name of {shown(path)}'
    folder = next((text for text in sorted(texts, key=len, reverse=True) if path.startswith(text + "/")), None)
    if folder is not None:
        return f'it names the folder "{folder}", which holds {shown(path)}'
    return ""


def names_file(strings: set[str], path: str) -> bool:
    """Whether a module whose string constants are ``strings`` names the file ``path``
    (:func:`naming`)."""
    return bool(naming(strings, path))


def readers_of(strings: dict[str, set[str]], path: str) -> dict[str, str]:
    """{module: how it names ``path`` (:func:`naming`)} for the modules of ``strings`` ({module:
    its string constants}) that name it. A test of :data:`READS` names the folder it reads without
    reading every file there: for a file in that folder, only :data:`READS` says whether it reads
    it (``tests/test_pyast.py`` reads the ``.py`` files of ``tabbook/``, not ``tabbook/notes.txt``).
    Naming the folder ``tests`` itself does not count: a file there that no module names otherwise
    runs every test module (:func:`plan_tests`)."""
    found = {}
    for name, texts in strings.items():
        how = naming(texts, path)
        test = module_file(name)
        if how.startswith("it names the folder") and test in READS and path.startswith(READS[test][0]):
            continue
        if how.startswith(f'it names the folder "{TESTS}",'):
            continue  # tests name their own folder for their own modules; an unnamed file there runs every test
        if how:
            found[name] = how
    return found


def shown(path: str) -> str:
    """``path`` as the plan prints it: as it is, or quoted (``repr``) on one line where it holds a
    character that does not print (a newline)."""
    return path if path.isprintable() else repr(path)


def by_name(path: str) -> bool:
    """Whether the tests that read ``path`` are found by the file's name (:func:`names_file`):
    changed files no other rule maps, outside the chapters and the notebooks."""
    folder = Path(path).parts[0] if Path(path).parts else ""
    return (module_name(path) is None and path not in EVERY_TEST
            and Path(path).name not in REQUIREMENTS and folder not in ("notebooks", "tabs"))


def outline(text: str | None) -> tuple[str, ...] | None:
    """What other pages of the book show of the chapter source ``text`` (None: no such chapter):
    its front matter (the frameworks it leaves out), and each heading, its level and its text,
    read as jupytext reads the source (markdown-it: a line that starts with ``#`` inside a code
    cell is no heading). Every page's sidebar and next and previous links show the title, the
    front page's table of contents the title and the sections. A source that holds a MyST target
    (``(label)=``) or a cross-reference role (``{ref}``, ``{numref}``...), through which another
    page may show any of its text, has its whole text as its outline."""
    if text is None:
        return None
    if re.search(r"^\s*\([^)\n]+\)=\s*$|\{(ref|numref|doc|eq|term|any|download|keyword|option)\}", text, re.MULTILINE):
        return ("whole text", text)
    from jupytext.myst import get_parser

    lines = text.splitlines()
    front = []
    if lines and lines[0].strip() == "---":
        end = next((number for number in range(1, len(lines)) if lines[number].strip() == "---"), len(lines))
        front, lines = lines[:end + 1], lines[end + 1:]
    tokens = get_parser().parse("\n".join(lines) + "\n")
    headings = [f"{token.tag} {content.content.strip()}" for token, content in zip(tokens, tokens[1:])
                if token.type == "heading_open"]
    return ("\n".join(front), *headings)


def outline_changes(root: Path, base: str, changed: list[str]) -> list[str]:
    """The chapter sources of ``changed`` (``notebooks/<chapter>.md``) whose :func:`outline`
    differs from their text at commit ``base`` (added and deleted ones included), in order."""
    found = []
    for path in changed:
        if not (Path(path).parent.as_posix() == "notebooks" and path.endswith(".md")):
            continue
        shown = git(root, "show", f"{base}:{path}")
        old = shown.stdout.decode("utf-8", errors="replace") if shown.returncode == 0 else None
        try:
            new = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            new = None
        if outline(old) != outline(new):
            found.append(path)
    return found


def plan_tests(root: Path, changed: list[str], chapters: set[str] | None = None,
               notebooks: set[tuple[str, str]] | None = None, moved: list[str] | None = None) -> dict[str, str]:
    """{test file: why} for each ``tests/test_*.py`` that the change affects, the first reason
    that holds:

    * :data:`EVERY_TEST` changed (``conftest.py``, ``pytest.ini``), or ``tests/conftest.py`` with
      a hook or an autouse fixture (pytest applies it to every test): every test module;
    * it changed, or imports a changed module, directly or not; or imports a module of
      ``tabbook``/``tests`` that has no file (renamed or deleted: it fails at its import);
    * it names a changed file that no other rule maps (``tests/sanitize.cfg``, ``README.md``...),
      or imports a module that does; a changed file under ``tests/`` that no module names: every
      test module, since which read it cannot be known;
    * a requirements file it checks changed (:data:`REQUIREMENTS`);
    * it reads the real book (:data:`BOOK_READERS`) and a chapter it reads is in ``chapters``
      (the chapters whose source, notebooks or record changed; "*" for every one: toc.yml
      changed). Of a module with a :data:`BOOK_SITES` fixture, unless "*" or ``moved`` (the
      changed files that change what every page shows: a chapter source whose :func:`outline`
      changed, a framework's lock, whose pins the front page shows): the tests that read the
      whole book, and those that open the page of a chapter in ``chapters``
      (:func:`page_scopes`); of a test of :data:`PER_NOTEBOOK`, where
      ``notebooks`` is given: its parametrizations for the notebooks ``notebooks`` holds
      ((chapter, framework): those the change affects, :func:`plan_notebooks`);
    * it reads every file of a folder (:data:`READS`) and one changed.
    """
    graph = import_graph(root)
    tests = _test_files(graph)
    missing = missing_modules(graph)
    targets = ({module_name(path) for path in changed} - {None}) | missing
    chapters = chapters or set()
    every = [path for path in changed if path in EVERY_TEST]
    shared = root / TESTS / "conftest.py"
    if f"{TESTS}/conftest.py" in changed and shared.is_file() and _applies_to_every_test(shared):
        every.append(f"{TESTS}/conftest.py")
    unnamed = []
    strings = {}
    read_by: dict[str, str] = {}  # module: how it names a changed file ("it names README.md")
    named = [path for path in changed if by_name(path)]
    if named:
        strings = module_strings(root, [name for name in graph if name.startswith(TEST_PREFIXES)])
        for path in named:
            readers = readers_of(strings, path)
            read_by.update({name: how for name, how in readers.items() if name not in read_by})
            if not readers and Path(path).parts[0] == TESTS:
                unnamed.append(path)
    found = {}
    for path in tests:
        name = module_name(path)
        if every:
            found[path] = (f"{every[0]} changed: " + EVERY_TEST.get(every[0], "pytest applies its hooks or autouse "
                                                                    "fixtures to every test under tests/"))
            continue
        chain = import_chain(graph, name, targets | set(read_by))
        if chain is not None:
            through = f" (through {', '.join(chain[1:-1])})" if len(chain) > 2 else ""
            last = chain[-1]
            if last in read_by and last not in targets:
                how = read_by[last]
                found[path] = (f"{how}, which changed" if len(chain) == 1 else
                               f"it imports {last}{through}, which {how.removeprefix('it ')}, which changed")
            elif len(chain) == 1:
                found[path] = "it changed"
            elif last in missing:
                found[path] = (f"it imports {last}{through}, which has no file (renamed or deleted): "
                               f"it fails at that import until the import is fixed")
            else:
                found[path] = f"it imports {last}{through}"
            continue
        if unnamed:
            found[path] = (f"{shown(unnamed[0])} changed and no test names it, so which tests read it cannot be known: "
                           f"every test module")
            continue
        lock = next((changed_path for changed_path in changed if Path(changed_path).name in REQUIREMENTS
                     and path in REQUIREMENTS[Path(changed_path).name][0]), None)
        if lock:
            found[path] = f"{lock} changed: {REQUIREMENTS[Path(lock).name][1]}"
            continue
        if path in BOOK_READERS and chapters:
            wanted = BOOK_READERS[path]
            hit = sorted(chapters) if wanted is None or "*" in chapters else sorted(chapters & wanted)
            if hit:
                why = (f"it reads the real book's {'chapters' if wanted is None else 'chapter'} and notebooks, and "
                       f"{', '.join(hit)} changed")
                scopes = page_scopes(root, path) if "*" not in chapters else {}
                if moved and scopes:
                    why += f"; {', '.join(moved)} changed what every page shows"
                    scopes = {}
                selected = book_tests(root, path)
                for node in selected:
                    test = node.partition("::")[2]
                    scope = scopes.get(test)
                    if scope is not None:
                        opened = sorted(scope & chapters)
                        if opened:
                            found[node] = (f"it opens the page of {', '.join(opened)}, which changed (the module's "
                                           f"tests that read the book)")
                        continue  # it opens only pages of chapters that did not change, and no outline changed
                    if node in PER_NOTEBOOK and notebooks is not None:
                        found.update({f"{node}[{chapter}-{framework}]":
                                      "it checks each notebook on its own, and these are the notebooks affected"
                                      for chapter, framework in sorted(notebooks, key=lambda key: (key[0], NAMES.index(key[1])))})
                        continue
                    found[node] = why + (" (the module's tests that read the book)" if node != path else "")
                continue
        read = reads_changed(path, changed)
        if read:
            folder, ending = READS[path]
            found[path] = f"it reads every {ending + ' ' if ending else ''}file of {folder}, and {shown(read[0])} changed"
    return found


def reads_changed(test: str, changed: list[str]) -> list[str]:
    """The files of ``changed`` that the test file ``test`` reads as a folder's files
    (:data:`READS`)."""
    if test not in READS:
        return []
    folder, ending = READS[test]
    return [path for path in changed if path.startswith(folder) and path.endswith(ending)]


#: What a test module of :data:`BOOK_READERS` uses to reach the real book: the folders' names and
#: the functions that find chapters and notebooks in them.
BOOK_NAMES = {"NOTEBOOKS", "TABS", "find_chapters", "notebook_path", "CHAPTER", "CHAPTERS"}
#: The real book's folders: a test whose strings name one of them, or a path under one, reads the
#: real book (:func:`book_tests`).
BOOK_FOLDERS = ("notebooks", "tabs")


def book_tests(root: Path, path: str) -> list[str]:
    """The tests of the module ``path`` that read the real book: the test functions that use a
    name of :data:`BOOK_NAMES` or a string that names the book's folders (:data:`BOOK_FOLDERS`:
    ``(ROOT / "tabs").glob(...)``), or a module-level fixture, helper or constant that does
    (directly or not, a fixture through the parameters that ask for it). Their pytest node ids
    (``tests/test_book.py::test_x``, every parametrization), in the module's order; ``[path]``
    (the whole module) where every test does, or the module cannot be read.
    """
    try:
        tree = pyast.parse((root / path).read_text(encoding="utf-8"), filename=str(root / path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return [path]
    reading = _book_reading(tree)
    tests = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
             and node.name.startswith("test")]
    picked = [name for name in tests if name in reading]
    return [path] if not picked or len(picked) == len(tests) else [f"{path}::{name}" for name in picked]


def _uses(tree: ast.Module) -> dict[str, set[str]]:
    """{top-level function or assigned name: the names it uses (names, attributes, parameters)}."""
    uses: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names = {leaf.id for leaf in ast.walk(node) if isinstance(leaf, ast.Name)}
            names |= {leaf.attr for leaf in ast.walk(node) if isinstance(leaf, ast.Attribute)}
            names |= {arg.arg for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
            uses[node.name] = names
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {leaf.id for leaf in ast.walk(node.value) if isinstance(leaf, ast.Name)}
            names |= {leaf.attr for leaf in ast.walk(node.value) if isinstance(leaf, ast.Attribute)}
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        uses.setdefault(leaf.id, set()).update(names)
    return uses


def _book_reading(tree: ast.Module, through: frozenset[str] = frozenset({"*"})) -> set[str]:
    """The names of the module ``tree`` that reach the real book (:func:`book_tests`): the
    names of :data:`BOOK_NAMES`, the top-level statements whose strings name a folder of the book
    (:func:`from_root`), and, to a fixed point, the functions and constants that use one of them.
    ``through``: the top-level names whose use counts ({"*"}: every one); a name left out (the
    fixture that builds the book, for :func:`page_scopes`) reaches the book but passes it on to
    none that uses it."""
    uses = _uses(tree)
    reading = set(BOOK_NAMES)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign, ast.AnnAssign)):
            texts = {leaf.value for leaf in ast.walk(node)
                     if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)}
            if any(naming(texts, f"{folder}/x") for folder in BOOK_FOLDERS) and from_root(node):
                reading.update([node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else
                               [leaf.id for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                                for leaf in ast.walk(target) if isinstance(leaf, ast.Name)])
    grown = True
    while grown:
        passing = reading if "*" in through else reading & through | BOOK_NAMES
        more = {name for name, names in uses.items() if names & passing} - reading
        reading |= more
        grown = bool(more)
    return reading


#: The fixture of a module of :data:`BOOK_READERS` that builds the real book's HTML from every
#: chapter and serves it: {test file: the fixture's name}. A
#: test that reaches the book only through it, and only by its address, reads the pages it opens
#: (:func:`page_scopes`).
BOOK_SITES = {"tests/test_book.py": "site"}
#: The book's pages that show every chapter's outline (:func:`outline`): the front page's table of
#: contents. Every other page of a chapter shows its own chapter, and of the others their outline
#: (the sidebar, the next and previous links).
OUTLINE_PAGES = frozenset({"index"})
#: What a test calls on a page that goes to, or fetches, another address than those it names
#: (:func:`page_scopes`): a test that calls one reads the whole book.
NAVIGATES = frozenset({"wait_for_url", "go_back", "go_forward", "request", "expect_navigation", "expect_popup",
                       "expect_download", "route", "set_content", "add_script_tag", "expose_function"})
#: What a test calls to act on a page's element: a click on a link goes to another page. Allowed
#: (:func:`page_scopes`) only on an element its selectors name as a control of the page itself
#: (:data:`CONTROL`), and none of them as a link (:data:`LINK`).
ACTS = frozenset({"click", "tap", "press", "dblclick", "check", "uncheck", "dispatch_event", "select_option",
                  "set_checked", "drag_to", "press_sequentially", "type", "fill"})
CONTROL = re.compile(r"\.sd-tab-set|\bbutton\b|\bsummary\b|\blabel\b")
LINK = re.compile(r"(^|[\s,>+~(])a($|[.\[#:\s])|\bhref\b|\blink\b", re.IGNORECASE)
#: What script that a test runs in a page (``page.evaluate``) may do to reach another address:
#: a test whose strings hold one reads the whole book (:func:`page_scopes`).
SCRIPT_REACHES = re.compile(r"fetch\s*\(|XMLHttpRequest|location|\.open\s*\(|import\s*\(|\.href\s*=|\.src\s*=|"
                            r"\.submit\s*\(|\.click\s*\(|sendBeacon|EventSource|WebSocket|Worker\s*\(")


def page_scopes(root: Path, path: str) -> dict[str, frozenset[str] | None]:
    """{test name: the pages of the real book it reads, or None for the whole book} for the tests
    of ``path`` that read the book (:func:`book_tests`); {} where the module has no
    :data:`BOOK_SITES` fixture or cannot be read. A test reads only the pages it opens (a page is a
    chapter's name, or one of :data:`OUTLINE_PAGES`) where all of these hold, else the whole book:

    * it reaches the book only through the fixture that builds and serves it (not through
      ``find_chapters``, ``NOTEBOOKS``, a path under ``tabs/``..., itself or through a helper);
    * it takes from that fixture only the address it serves the book at (``base, _ = site``), not
      the folder of the built files (which it could read every file of);
    * each address it opens (``page.goto``, in it or a helper it uses) is the served address
      followed by ``/<page>.html``, the page's name written out or a parameter whose values a
      ``pytest.mark.parametrize`` lists; a page that is neither a chapter's nor of
      :data:`OUTLINE_PAGES` (``search``: every chapter's text) reads the whole book;
    * it calls nothing that may go to, or fetch, another address (:data:`NAVIGATES`: a click on a
      link, a fetch of a download, script run in the page).
    """
    fixture = BOOK_SITES.get(path)
    if fixture is None:
        return {}
    try:
        tree = pyast.parse((root / path).read_text(encoding="utf-8"), filename=str(root / path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return {}
    chapters = {file.stem for file in (root / "notebooks").glob("*.md")}
    reading = _book_reading(tree)
    direct = _book_reading(tree, through=frozenset(name for name in _uses(tree) if name != fixture))
    functions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    uses = _uses(tree)
    found: dict[str, frozenset[str] | None] = {}
    for name, node in functions.items():
        if not name.startswith("test") or name not in reading:
            continue
        found[name] = None
        if name in direct:
            continue
        closure, queue = {name}, [name]
        while queue:
            for used in uses.get(queue.pop(), set()) & set(functions):
                if used not in closure and used != fixture:
                    closure.add(used)
                    queue.append(used)
        pages = _opened_pages(node, [functions[other] for other in closure], fixture)
        if pages is not None and pages <= chapters | OUTLINE_PAGES:
            found[name] = frozenset(pages)
    return found


def _opened_pages(test: ast.FunctionDef, closure: list[ast.FunctionDef], fixture: str) -> set[str] | None:
    """The pages that ``test`` opens through the served address that ``fixture`` gives, in it or
    in the functions of ``closure`` (it and the helpers it uses), or None where it may read more
    (:func:`page_scopes`)."""
    served = set()
    for node in closure:
        for leaf in ast.walk(node):
            if isinstance(leaf, ast.Name) and leaf.id == fixture:
                parent = next((statement for statement in ast.walk(node) if isinstance(statement, ast.Assign)
                               and statement.value is leaf), None)
                target = parent.targets[0] if parent is not None and len(parent.targets) == 1 else None
                if not (isinstance(target, ast.Tuple) and len(target.elts) == 2
                        and all(isinstance(element, ast.Name) for element in target.elts)
                        and target.elts[1].id == "_"):
                    return None  # the built files' folder, or the fixture passed on
                served.add(target.elts[0].id)
            if isinstance(leaf, ast.Attribute) and leaf.attr in NAVIGATES:
                return None
            if (isinstance(leaf, ast.Call) and isinstance(leaf.func, ast.Attribute) and leaf.func.attr in ACTS
                    and not _acts_on_control(leaf.func.value, node)):
                return None
            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str) and SCRIPT_REACHES.search(leaf.value):
                return None
    values = _parametrized(test)
    pages = set()
    for node in closure:
        for leaf in ast.walk(node):
            if not (isinstance(leaf, ast.Call) and isinstance(leaf.func, ast.Attribute) and leaf.func.attr == "goto"):
                continue
            address = leaf.args[0] if leaf.args else None
            parts = address.values if isinstance(address, ast.JoinedStr) else []
            if not (len(parts) >= 2 and isinstance(parts[0], ast.FormattedValue)
                    and isinstance(parts[0].value, ast.Name) and parts[0].value.id in served):
                return None
            rest = parts[1:]
            text = rest[0].value if isinstance(rest[0], ast.Constant) and isinstance(rest[0].value, str) else None
            page, query, _ = (text or "").partition("?")
            if text is not None and page.startswith("/") and page.endswith(".html") and "/" not in page[1:] \
                    and (query or len(rest) == 1 or text.endswith("?")):
                pages.add(page[1:-len(".html")])  # "/name.html", "/name.html?framework={name}"
                continue
            parameter = rest[1] if text == "/" and len(rest) >= 3 else None
            after = rest[2].value if parameter is not None and isinstance(rest[2], ast.Constant) else None
            if (isinstance(parameter, ast.FormattedValue) and isinstance(parameter.value, ast.Name)
                    and parameter.value.id in values and isinstance(after, str)
                    and (after == ".html" and len(rest) == 3 or after.startswith(".html?"))):
                pages.update(values[parameter.value.id])  # "/{name}.html", each value of a parametrized name
                continue
            return None
    return pages or None


def _acts_on_control(receiver: ast.expr, function: ast.FunctionDef) -> bool:
    """Whether the element ``receiver`` (a locator expression in ``function``) is, by the strings
    of its selectors (those of the expression, and of the assignment of the name it starts from),
    a control of the page (:data:`CONTROL`: a tab's label, a button) and not a link (:data:`LINK`)."""
    texts = [leaf.value for leaf in ast.walk(receiver) if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)]
    root = receiver
    while isinstance(root, (ast.Attribute, ast.Call, ast.Subscript)):
        root = root.func if isinstance(root, ast.Call) else root.value
    if isinstance(root, ast.Name):
        for statement in ast.walk(function):
            if (isinstance(statement, ast.Assign) and any(isinstance(target, ast.Name) and target.id == root.id
                                                          for target in statement.targets)):
                texts += [leaf.value for leaf in ast.walk(statement.value)
                          if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)]
    return any(CONTROL.search(text) for text in texts) and not any(LINK.search(text) for text in texts)


def _parametrized(test: ast.FunctionDef) -> dict[str, list[str]]:
    """{parameter: its values} for each ``@pytest.mark.parametrize("name", [...])`` of ``test``
    with one parameter and a written-out list of strings."""
    found = {}
    for decorator in test.decorator_list:
        if (isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "pytest.mark.parametrize"
                and len(decorator.args) == 2 and isinstance(decorator.args[0], ast.Constant)
                and isinstance(decorator.args[1], (ast.List, ast.Tuple))
                and all(isinstance(item, ast.Constant) and isinstance(item.value, str) for item in decorator.args[1].elts)):
            found[decorator.args[0].value] = [item.value for item in decorator.args[1].elts]
    return found


def from_root(node: ast.AST) -> bool:
    """Whether the top-level statement ``node``, whose strings name a folder of the book, may
    reach the real book's folder rather than one of a book it makes (``out / "notebooks"`` under a
    temporary folder): a module-level constant always may; a function where it uses ``ROOT`` or
    passes the string first to a call (``Path("tabs")``, relative to the checkout). A use of
    ``ROOT`` inside an f-string that names no folder of the book (``f"{ROOT}/secret.txt"``, text
    of a made-up output) is no path into the book."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    texts = [leaf for leaf in ast.walk(node) if isinstance(leaf, ast.JoinedStr)
             and not any(naming({part.value}, f"{folder}/x") for part in leaf.values
                         if isinstance(part, ast.Constant) and isinstance(part.value, str) for folder in BOOK_FOLDERS)]
    in_text = {id(name) for text in texts for name in ast.walk(text) if isinstance(name, ast.Name)}
    return any(isinstance(leaf, ast.Name) and leaf.id == "ROOT" and id(leaf) not in in_text
               or isinstance(leaf, ast.Call) and leaf.args
               and isinstance(leaf.args[0], ast.Constant) and isinstance(leaf.args[0].value, str)
               and any(naming({leaf.args[0].value}, f"{folder}/x") for folder in BOOK_FOLDERS)
               for leaf in ast.walk(node))


def _applies_to_every_test(path: Path) -> bool:
    """Whether the conftest at ``path`` defines a pytest hook (``pytest_*``) or an autouse
    fixture, which pytest applies to every test beside it; unreadable counts as yes."""
    try:
        tree = pyast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("pytest_"):
                return True
            if any(isinstance(decorator, ast.Call) and any(keyword.arg == "autouse" for keyword in decorator.keywords)
                   for decorator in node.decorator_list):
                return True
    return False


def browser_tests(root: Path, tests) -> list[str]:
    """The test files of ``tests`` that drive Chromium: they take a fixture of ``tests/conftest.py``
    that starts the browser (``browser`` and the fixtures that take it, directly or not), or
    start Playwright themselves (``sync_playwright``)."""
    shared = root / TESTS / "conftest.py"
    tree = pyast.parse(shared.read_text(encoding="utf-8"), filename=str(shared)) if shared.is_file() else ast.Module([], [])
    takes = {node.name: {arg.arg for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
             for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
             and node.name in fixtures(tree)}
    starting = {"browser"} & set(takes)
    grown = True
    while grown:
        more = {name for name, args in takes.items() if args & starting} - starting
        starting |= more
        grown = bool(more)
    found = []
    for path in tests:
        try:
            file = root / path.split("::")[0]
            module = pyast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            found.append(path)  # it fails at collection; a browser does no harm
            continue
        asks = {arg.arg for node in module.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
        if asks & starting or any(isinstance(node, ast.Name) and node.id == "sync_playwright"
                                                 or isinstance(node, ast.alias) and node.name == "sync_playwright"
                                                 or isinstance(node, ast.Attribute) and node.attr == "sync_playwright"
                                                 for node in ast.walk(module)):
            found.append(path)
    return found


def plan_unmapped(changed: list[str], root: Path, named: set[str] = frozenset()) -> dict[str, str]:
    """{changed file: note} for each changed file that no rule of the plan covers; ``named``: the
    files some test names (:func:`plan_tests`), which are covered."""
    tab_dirs = {get(name).tab_dir.relative_to(ROOT).as_posix() for name in NAMES}  # the same in every checkout
    found = {}
    for path in changed:
        folder = Path(path).parent.as_posix()
        if module_name(path) or path == SANITIZE or path in EVERY_TEST or path in named:
            continue
        elif any(path.startswith(folder) and path.endswith(ending) for folder, ending in READS.values()):
            continue  # a test reads every such file of its folder (plan_tests)
        elif Path(path).name in REQUIREMENTS and (folder in tab_dirs or folder == "."):
            continue
        elif folder == "notebooks" and (path.endswith((".md", ".claims.yml", ".claims.record"))
                                        or Path(path).name == "toc.yml"):
            continue
        elif folder in tab_dirs and path.endswith(".ipynb"):
            continue
        elif Path(path).parts[0] == TESTS:
            continue  # plan_tests runs every test module for it
        else:
            found[path] = "no rule maps it to tests, and no test names it"
    return found


def named_files(root: Path, changed: list[str]) -> set[str]:
    """The changed files that a test reads, so :func:`plan_tests` plans it: those that
    :func:`by_name` maps and that some module of ``tests/`` names (:func:`naming`), and those a
    test of :data:`READS` reads."""
    covered = {path for test in READS for path in reads_changed(test, changed)}
    named = [path for path in changed if by_name(path)]
    if not named:
        return covered
    strings = module_strings(root, [name for name in import_graph(root) if name.startswith(TEST_PREFIXES)])
    return covered | {path for path in named if readers_of(strings, path)}


def make_plan(chapters: list[Chapter], root: Path = ROOT, base: str = "HEAD") -> Plan:
    """The whole plan for the change from ``base`` to the working tree (nothing is run).

    Raises:
        BuildError: not a git checkout, an unknown ``base``, git missing.
        SourceError: a chapter, claims file, record or Python module is malformed.
    """
    changed = changed_files(root, base)
    refresh: dict[tuple[str, str], str] = {}
    notebooks = plan_notebooks(chapters, root, base, changed, refresh)
    mutations, not_killed = plan_mutations(chapters)
    touched = {Path(path).name.split(".")[0] for path in changed
               if Path(path).parent.as_posix() == "notebooks" and path.endswith((".md", ".claims.yml", ".claims.record"))}
    touched |= {chapter for chapter, _ in notebooks} | set(mutations)
    read = touched | {chapter for chapter, _ in refresh} | {
        Path(path).stem for path in changed if Path(path).parts[0] == "tabs" and path.endswith(".ipynb")}
    if "notebooks/toc.yml" in changed:
        read.add("*")
    # Every page shows the outline of every chapter; the front page, each framework's pins from its lock.
    moved = outline_changes(root, base, changed) + [
        path for path in changed if Path(path).parts[0] == "tabs" and Path(path).name in REQUIREMENTS]
    tests = plan_tests(root, changed, read, set(notebooks), moved)
    graph = import_graph(root)
    missing = missing_modules(graph)
    broken = [f"{name.replace('.', '/')}.py imports {', '.join(sorted(graph[name] & missing))}, which has no file "
              f"(renamed or deleted): fix the import" for name in sorted(graph) if graph[name] & missing]
    return Plan(base, changed, notebooks, mutations, not_killed,
                [chapter.name for chapter in chapters if chapter.name in touched],
                tests, plan_unmapped(changed, root, named_files(root, changed)), refresh,
                saved_changes(chapters, root), broken, browser_tests(root, tests))


#: The modules through which a test may read or write the mutation records (``notebooks/
#: <chapter>.claims.record``) that a run of mutations rewrites, or run anything (the command line).
RECORD_MODULES = frozenset({"tabbook.claims", "tabbook.claimrecords", "tabbook.cli"})


def runs_beside_mutations(root: Path, tests) -> bool:
    """Whether the test files and node ids ``tests`` may run while mutations run and rewrite their
    records (``build.py affected`` then starts them as soon as the notebooks are executed): none
    imports, directly or not, a module of :data:`RECORD_MODULES` or is one of :data:`EVERY_TEST`'s
    reasons to run, and none names a claims file or record (its strings, :func:`naming`)."""
    files = list(dict.fromkeys(test.split("::")[0] for test in tests))
    graph = import_graph(root)
    strings = module_strings(root, [module_name(path) for path in files if module_name(path)])
    for path in files:
        name = module_name(path)
        if name is None or name not in graph or import_chain(graph, name, set(RECORD_MODULES)) is not None:
            return False
        texts = strings.get(name, set())
        if any("claims" in text for text in texts):
            return False
    return True


def saved_changes(chapters: list[Chapter], root: Path) -> dict[str, str]:
    """{file of ``library/dlblocks/`` (relative to ``root``): why} for each that ``convert`` would
    write or delete for ``chapters`` (:func:`tabbook.savedcode.write_modules`).

    Raises:
        SourceError: a saved cell is malformed.
    """
    folder = savedcode.saved_dir(root / "notebooks")
    shown = folder.relative_to(root).as_posix()
    expected = savedcode.expected_files(chapters)
    found = {}
    for name, text in expected.items():
        path = folder / name
        try:
            same = path.read_text(encoding="utf-8") == text
        except (OSError, UnicodeDecodeError):
            same = False
        if not same:
            found[f"{shown}/{name}"] = "written: the chapters' saved cells give another text (or a source line moved)"
    found.update({f"{shown}/{get(name).module}.py": f"deleted: no chapter saves code for {get(name).title}"
                  for name in NAMES if f"{get(name).module}.py" not in expected
                  and savedcode.generated(folder / f"{get(name).module}.py")})
    return found


def describe(plan: Plan) -> str:
    """The plan as the command prints it before running: what runs, and why."""
    lines = [f"affected: {len(plan.changed)} file(s) changed since {plan.base} (working tree and index)"
             + (":" if plan.changed else "")]
    lines += [f"  {shown(path)}" for path in plan.changed]
    lines.append(f"notebooks to execute (if their key changed) and check with nbval: {len(plan.notebooks)}")
    lines += [f"  {get(name).title}: {chapter}: {why}" for (chapter, name), why in plan.notebooks.items()]
    if plan.refresh or plan.saved:
        lines.append(f"brought up to date as convert and execute would, without executing: "
                     f"{len(plan.refresh) + len(plan.saved)}")
        lines += [f"  {get(name).title}: {chapter}: {why}" for (chapter, name), why in plan.refresh.items()]
        lines += [f"  {path}: {why}" for path, why in plan.saved.items()]
    count = sum(len(items) for items in plan.mutations.values())
    lines.append(f"mutations to run (record missing or stale): {count}")
    for chapter, items in plan.mutations.items():
        lines += [f"  {chapter}: {item.mutation.claim!r} ({get(item.framework).title}): record {item.why}"
                  for item in items]
    if plan.not_killed:
        lines.append(f"records not killed (fail; fix the mutation, then claims --run): {len(plan.not_killed)}")
        lines += [f"  {message}" for message in plan.not_killed]
    if plan.broken:
        lines.append(f"imports of modules that have no file (fail): {len(plan.broken)}")
        lines += [f"  {message}" for message in plan.broken]
    lines.append(f"claims coverage checked: {', '.join(plan.chapters) or 'none'}; build.py check: the whole book (static)")
    modules = list(dict.fromkeys(path.split("::")[0] for path in plan.tests))
    browser = list(dict.fromkeys(path.split("::")[0] for path in plan.browser))
    lines.append(f"unit test modules to run: {len(modules)}"
                 + (f" ({len(browser)} drive{'s' if len(browser) == 1 else ''} Chromium: {', '.join(browser)})" if browser else
                    " (none drives Chromium)" if plan.tests else ""))
    grouped: dict[tuple[str, str], list[str]] = {}
    for path, why in plan.tests.items():
        grouped.setdefault((path.split("::")[0], why), []).append(path.partition("::")[2])
    for (path, why), names in grouped.items():
        if names == [""]:
            lines.append(f"  {path}: {why}")
        else:
            listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            lines.append(f"  {path}, {len(names)} of its tests ({listed}): {why}")
    if plan.unmapped:
        lines.append(f"not checked by this run (run the whole suite, python3 build.py test, for them): "
                     f"{len(plan.unmapped)}")
        lines += [f"  {shown(path)}: {note}" for path, note in plan.unmapped.items()]
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()
