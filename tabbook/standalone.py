"""Make a framework notebook run on its own: in a reader's Jupyter, Colab or VS Code, from an
empty folder, with no file of this repository.

The converter puts one generated code cell, the **setup cell**, at the top of every framework
notebook (:func:`setup_cell`). It does two things:

* **The packages.** It lists the exact versions, from the framework's lock
  (``tabs/<framework>/requirements.txt``), of the packages the notebook imports, and installs with
  ``%pip`` those that are *missing*, at that version. A package that is installed is kept, whatever
  its version (a reader's own framework build, Colab's versions): the cell says so in one line
  with the command that would install the book's version, and goes on. It stops with a message
  only where the combination is known not to work: the framework on a Python it has no wheel for
  (MXNet 1.9.1 on Python 3.12 or later), or a framework with a NumPy it cannot import
  (:data:`LIMITS`; when the framework itself is being installed, the lock's NumPy is installed
  with it instead). In the book's own environments everything is present and the cell prints one
  line.
* **The book's code.** Where the notebook imports the reader's library (``dlblocks``, the
  folder ``library/``: ``dlblocks.data`` for ``load_mnist``, ``dlblocks.torch`` for code saved
  from chapters), the cell carries the parts of it that the notebook uses: the hand-written
  modules it imports, and of each framework module exactly the saved definitions it uses and
  what they need (:func:`tabbook.savedcode.for_notebook`). It writes them as files of a package
  folder in a temporary directory and puts that first on ``sys.path``, so ``from dlblocks.torch
  import MyLinear`` imports them, with a source file that tools reading a function's source (a
  graph compiler) can read.

Why embedded and not a package the cell installs: a package would have to be published at an
exact version for every change, and a notebook could still meet another version of it. Embedded,
the code is generated from the same files the build reads; the execution key covers them and
``build.py check`` compares every notebook with a fresh conversion, so a notebook and its code
cannot drift apart. The book hides the cell (``remove-cell``); where a reader opens the notebook,
JupyterLab, Notebook 7 and Colab collapse it to its first line, a Colab ``#@title``
(:data:`SETUP_METADATA`).
"""
from __future__ import annotations

import ast
import copy
import re
import sys
import textwrap
from pathlib import Path

import nbformat

from . import pyast
from .errors import BuildError, display_path
from .frameworks import LIBRARY, LIBRARY_MODULES, PACKAGE, Framework
from .source import cell_id

#: The hand-written modules of the reader's library that a notebook may import, and their files.
HELPERS = {f"{PACKAGE}.{name}": LIBRARY / PACKAGE / f"{name}.py" for name in LIBRARY_MODULES}

#: Modules whose distribution has another name than the module (else the module's name is used).
MODULE_DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu", "tensorflow"), "IPython": ("ipython",),
                        "PIL": ("pillow",), "yaml": ("pyyaml",)}

#: A pinned distribution that another distribution of the same version satisfies (Colab has
#: ``tensorflow``, which provides the same module as our ``tensorflow-cpu``).
ALTERNATIVES = {"tensorflow-cpu": ("tensorflow",),
                # The CUDA builds of MXNet 1.9.1 (build.py env --device cuda installs mxnet-cu117).
                "mxnet": ("mxnet-cu117", "mxnet-cu112")}

#: Frameworks that do not run on newer Pythons: (framework, first Python it fails on, why).
PYTHON_LIMITS = {"mxnet": ((3, 12), "MXNet 1.9.1 does not run on Python 3.12 or later: it imports distutils, "
                                    "which Python 3.12 removed, and needs NumPy < 1.24, which has no wheel for it")}

#: What pip installs where a pinned distribution is missing: ``tensorflow-cpu`` has wheels for
#: x86_64 Linux and Windows only, ``tensorflow`` of the same version for every platform.
INSTALL_AS = {"tensorflow-cpu": "tensorflow"}

#: Distributions pinned with a framework even where the notebook does not import them: the
#: framework's own metadata allows versions it cannot run with. mxnet 1.9.1 declares
#: ``numpy<2.0.0,>1.16.0`` but uses ``numpy.bool``, removed in NumPy 1.24; mindspore 2.10.0 declares
#: ``numpy>=1.25.0`` but needs NumPy < 2. Without the lock's numpy, pip picks one that breaks
#: ``import mxnet`` / ``import mindspore`` in a fresh environment.
COMPANIONS = {"mxnet": ("numpy",), "mindspore": ("numpy",)}

#: Versions of a companion that the framework cannot run with, whatever pip accepts:
#: {framework: {companion: (first version that fails, why)}}. Checked by the setup cell on the
#: reader's machine (see the module docstring).
LIMITS = {"mxnet": {"numpy": ("1.24", "MXNet 1.9.1 uses numpy.bool, which NumPy 1.24 removed")},
          "mindspore": {"numpy": ("2", "MindSpore 2.10 needs NumPy 1 (its wheels are built against it)")}}

#: The generated cell's id kind (``metadata.dlblocks.generated``).
SETUP_ID = "setup"
#: The function of the setup cell that writes one module of the library (``add_module("torch", ...)``).
MODULE_FUNCTION = "add_module"
#: The first line of the setup cell: Colab shows it as the form's title, JupyterLab as the
#: collapsed cell's placeholder.
TITLE = "#@title Setup: the packages and the book's code this notebook uses"
TITLE_WITHOUT_LIBRARY = "#@title Setup: the packages this notebook uses"
_REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")


def lock_pins(framework: Framework) -> dict[str, str]:
    """The lock's pins as {normalised distribution name: version} (PEP 503 names).

    Raises:
        BuildError: the lock file is missing or not text.
    """
    try:
        return read_pins(framework.requirements)
    except (OSError, UnicodeDecodeError) as error:
        raise BuildError(f"{framework.requirements}: cannot read the lock ({error}); "
                         f"make it again with: python build.py lock {framework.name}") from None


def read_pins(path: Path) -> dict[str, str]:
    """{normalised name: version} of every ``name==version`` line of the requirements file
    ``path`` (other lines are skipped).

    Raises:
        OSError, UnicodeDecodeError: the file cannot be read as UTF-8 text.
    """
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _REQUIREMENT.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def normalise(name: str) -> str:
    """A distribution name in PEP 503 form: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(notebook: nbformat.NotebookNode) -> list[str]:
    """The top-level modules the code cells import, in first-import order (``import a.b`` gives
    ``a``), with those that the library code carried by the setup cell imports. Lines of IPython
    magics and shell escapes are ignored; a cell that is not Python (after them) is skipped."""
    found: dict[str, None] = {}
    sources = []
    for cell in notebook.cells:
        generated = cell.metadata.get("dlblocks", {}).get("generated")
        if cell.cell_type != "code":
            continue
        if generated == SETUP_ID:
            sources += embedded_modules(cell.source).values()
        elif not generated:
            sources.append(_without_magics(cell.source))
    for source in sources:
        try:
            tree = pyast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name, None)
    return list(found)


def _without_magics(source: str) -> str:
    """``source`` with its lines of IPython magics and shell escapes (``%pip``, ``!ls``) blanked."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def needs_no_pin(module: str) -> bool:
    """Whether importing ``module`` needs no package of the lock: the standard library and the
    reader's library (``dlblocks``, which the setup cell carries)."""
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or top == PACKAGE


def pinned_distribution(top: str, pins: dict[str, str]) -> str | None:
    """The distribution of ``pins`` (:func:`lock_pins`) that provides the top-level module ``top``, or None."""
    candidates = [normalise(name) for name in MODULE_DISTRIBUTIONS.get(top, (top,))]
    return next((name for name in candidates if name in pins), None)


def requirements(notebook: nbformat.NotebookNode, framework: Framework) -> dict[str, str]:
    """The lock's pins of the third-party packages the notebook imports: {distribution: version},
    in first-import order, each framework followed by its :data:`COMPANIONS`. The standard library
    and the reader's library are left out.

    Raises:
        BuildError: a module is neither in the standard library nor pinned in the lock.
    """
    pins = lock_pins(framework)
    result: dict[str, str] = {}
    for module in imported_modules(notebook):
        top = module.split(".")[0]
        if needs_no_pin(module):
            continue
        pinned = pinned_distribution(top, pins)
        if pinned is None:
            raise BuildError(f"the {framework.title} notebook imports {top!r}, which is not pinned in "
                             f"{display_path(framework.requirements)}; add it to requirements.in "
                             f"and run: python build.py lock {framework.name}")
        result.setdefault(pinned, pins[pinned])
        for companion in COMPANIONS.get(pinned, ()):
            if companion in pins:
                result.setdefault(companion, pins[companion])
    return result


def _packages_part(notebook: nbformat.NotebookNode, framework: Framework) -> list[str]:
    """The lines of the setup cell that check, and install where missing, the notebook's packages."""
    pins = requirements(notebook, framework)
    version = ".".join(map(str, sys.version_info[:2]))
    limits = {name: limit for name, limit in LIMITS.get(framework.name, {}).items()
              if name in pins and framework.name in pins}  # a notebook without the framework needs no limit
    install_as = {name: INSTALL_AS[name] for name in pins if name in INSTALL_AS}
    kept = ("# at that version; what is installed is kept, whatever its version, except a version that the\n"
            "# framework cannot run with (LIMITS below)." if limits else
            "# at that version; what is installed is kept, whatever its version.")
    lines = [f"# This notebook was executed on Python {version} with the versions below (requirements.txt,",
             "# beside the notebooks in the book's download, lists every package). What is missing is installed",
             *kept.split("\n"),
             "import importlib.metadata",
             *(["import re"] if limits else []),
             *(["import sys"] if framework.name in PYTHON_LIMITS else []), ""]
    if framework.name in PYTHON_LIMITS:
        first, why = PYTHON_LIMITS[framework.name]
        chunks = textwrap.wrap(f"{why}; this kernel runs Python ", 80, drop_whitespace=False)
        lines += [f"if sys.version_info >= {first}:",
                  f"    raise RuntimeError({chunks[0]!r}",
                  *(f"                       {chunk!r}" for chunk in chunks[1:]),
                  "                       f\"{sys.version_info.major}.{sys.version_info.minor}: run this notebook \"",
                  "                       \"in a Python 3.11 kernel (a local Jupyter; Colab runs a newer Python)\")",
                  ""]
    lines += ["REQUIREMENTS = {", *(f"    {name!r}: {pin!r}," for name, pin in pins.items()), "}"]
    alternatives = {name: ALTERNATIVES[name] for name in pins if name in ALTERNATIVES}
    lines.append(f"ALTERNATIVES = {alternatives!r}  # other distributions of the same package" if alternatives
                 else "ALTERNATIVES = {}")
    if install_as:
        lines.append(f"INSTALL_AS = {install_as!r}  # what pip installs where the package is missing (every platform)")
    if limits:
        lines += ["# Versions the framework, at the version below, cannot run with: {package: (the first one, why)}",
                  f"FRAMEWORK = {(framework.name, pins[framework.name])!r}",
                  f"LIMITS = {limits!r}"]
    lines += ["",
              "",
              "def installed(name):",
              "    \"\"\"The distribution installed for name (itself or an alternative) and its version without",
              "    a local label such as +cpu; (name, None) where there is none.\"\"\"",
              "    for candidate in (name, *ALTERNATIVES.get(name, ())):",
              "        try:",
              "            return candidate, importlib.metadata.version(candidate).split(\"+\")[0]",
              "        except importlib.metadata.PackageNotFoundError:",
              "            pass",
              "    return name, None",
              ""]
    if limits:
        lines += ["",
                  "def release(version):",
                  "    \"\"\"The leading numbers of a version, to compare: (1, 24) for '1.24', (2, 2, 6) for '2.2.6'.\"\"\"",
                  "    return tuple(int(number) for number in re.findall(r\"\\d+\", version)[:3])",
                  ""]
    lines += ["",
              "missing, kept = {}, {}",
              "for name, pin in REQUIREMENTS.items():",
              "    found, version = installed(name)",
              "    if version is None:",
              f"        missing[name] = f\"{{{'INSTALL_AS.get(name, name)' if install_as else 'name'}}}=={{pin}}\"",
              "    elif version != pin.split(\"+\")[0]:",
              "        kept[name] = (f\"kept {found} {version} (executed with {pin}; to use that version: \"",
              "                      f\"%pip install {found}=={pin}, then restart the kernel)\")"]
    if limits:
        lines += ["if installed(FRAMEWORK[0])[1] in (None, FRAMEWORK[1]):  # the combination known not to work",
                  "    for name, (first, why) in LIMITS.items():",
                  "        found, version = installed(name)",
                  "        if version is not None and release(version) >= release(first):",
                  "            if FRAMEWORK[0] not in missing:  # the framework is installed: the reader's to change",
                  "                raise RuntimeError(f\"{why}, and this kernel has {found} {version}: run \"",
                  "                                   f\"%pip install {name}=={REQUIREMENTS[name]}, then restart the kernel\")",
                  "            missing[name] = f\"{name}=={REQUIREMENTS[name]}\"  # installed with the framework",
                  "            kept[name] = f\"replacing {found} {version} with {REQUIREMENTS[name]}: {why}\""]
    lines += ["for line in kept.values():",
              "    print(line)",
              "if missing:",
              "    print(\"installing:\", *missing.values())",
              "    %pip install --quiet {\" \".join(missing.values())}",
              "    failed = [spec for name, spec in missing.items() if installed(name)[1] != REQUIREMENTS[name].split(\"+\")[0]]",
              "    if failed:",
              "        raise RuntimeError(f\"pip did not install {', '.join(failed)} (its message is above): \"",
              "                           f\"install it by hand with %pip install {' '.join(failed)}\")",
              "    print(\"installed: restart the kernel (Kernel > Restart) and run the notebook again\")",
              *(["elif not kept:",
                 "    print(\", \".join(f\"{name} {pin}\" for name, pin in REQUIREMENTS.items()) + "
                 f"\": {'the version' if len(pins) == 1 else 'the versions'} this \"",
                 "          \"notebook was executed with\")"] if pins else [])]
    return lines


def _library_part(modules: dict[str, str]) -> list[str]:
    """The lines of the setup cell that write the library code ``modules`` ({``dlblocks.data``:
    source}) as files of the package ``dlblocks`` in a temporary folder, first on ``sys.path``.

    Raises:
        BuildError: a module's source cannot be held in a raw string (:func:`_quoted`).
    """
    lines = ["",
             "",
             f"# The parts of the book's library, the package {PACKAGE}, that this notebook uses, written as",
             f"# files into a temporary folder that Python imports them from (the whole library: pip install",
             f"# ./library in the book's repository).",
             "import atexit",
             "import importlib",
             "import os",
             "import shutil",
             "import sys",
             "import tempfile",
             "",
             f"LIBRARY = tempfile.mkdtemp(prefix={PACKAGE + '-'!r})",
             "atexit.register(shutil.rmtree, LIBRARY, ignore_errors=True)",
             f"os.mkdir(os.path.join(LIBRARY, {PACKAGE!r}))",
             "",
             "",
             f"def {MODULE_FUNCTION}(name, source):",
             f"    \"\"\"Write source as the module {PACKAGE}.<name>.\"\"\"",
             f"    with open(os.path.join(LIBRARY, {PACKAGE!r}, name + \".py\"), \"w\", encoding=\"utf-8\") as file:",
             "        file.write(source)",
             "",
             "",
             f"{MODULE_FUNCTION}(\"__init__\", \"\")"]
    for name, source in modules.items():
        literal = _quoted(name, source.rstrip("\n"))
        short = name[len(PACKAGE) + 1:]
        lines += ["", f"{MODULE_FUNCTION}({short!r}, {literal[0]}", *literal[1:-1], f"{literal[-1]})"]
    lines += ["",
              "sys.path.insert(0, LIBRARY)",
              f"for module in [module for module in sys.modules if module.split(\".\")[0] == {PACKAGE!r}]:",
              "    del sys.modules[module]  # imported from an earlier run of this cell",
              "importlib.invalidate_caches()",
              "try:  # an installed dlblocks (pip install ./library) is shadowed by this copy: say so",
              f"    INSTALLED = importlib.metadata.version({PACKAGE!r})",
              "except Exception:  # none, or an installation too broken to name a version",
              "    INSTALLED = None",
              "if isinstance(INSTALLED, str) and INSTALLED.split():",
              f"    print({PACKAGE!r}, INSTALLED.split()[0][:40], \"is installed; this notebook imports its own \"",
              "          \"copy of the modules it uses, the code it was executed with\")"]
    return lines


def setup_cell(notebook: nbformat.NotebookNode, framework: Framework,
               saved: dict[str, str] | None = None) -> str:
    """The source of the setup cell of ``notebook`` (see the module docstring): the packages part,
    then, where the notebook imports a hand-written module of the library (:data:`HELPERS`) or
    uses saved code (``saved``: {``dlblocks.torch``: the code it uses}), the library part.

    Raises:
        BuildError: an import is not pinned in the framework's lock (:func:`requirements`), or a
            module cannot be embedded.
    """
    modules = {name: helper_closure(name, names) for name, names in helper_uses(notebook, saved).items()}
    modules.update(saved or {})
    library = _library_part(modules) if modules else []
    probe = nbformat.v4.new_notebook(cells=[*notebook.cells, _generated("\n".join(library), SETUP_ID, "probe")])
    title = TITLE if library else TITLE_WITHOUT_LIBRARY
    return "\n".join([title, *_packages_part(probe, framework), *library])


def helper_modules(notebook: nbformat.NotebookNode, saved: dict[str, str] | None = None) -> list[str]:
    """The hand-written modules of the library (keys of :data:`HELPERS`) that the notebook, or the
    saved code ``saved`` it carries ({module name: source}), imports."""
    return list(helper_uses(notebook, saved))


def helper_uses(notebook: nbformat.NotebookNode, saved: dict[str, str] | None = None) -> dict[str, set[str] | None]:
    """{hand-written module of the library: the names imported from it (``from dlblocks.data import
    load_mnist``), or None where the module is imported whole (``import dlblocks.data``, ``from
    dlblocks import data``)}, for the notebook's code cells and the saved code ``saved``, in
    :data:`HELPERS` order."""
    sources = [_without_magics(cell.source) for cell in notebook.cells
               if cell.cell_type == "code" and not cell.metadata.get("dlblocks", {}).get("generated")]
    sources += (saved or {}).values()
    found: dict[str, set[str] | None] = {}
    for source in sources:
        try:
            tree = pyast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in HELPERS:
                if any(alias.name == "*" for alias in node.names):
                    found[node.module] = None
                elif found.get(node.module, set()) is not None:
                    found[node.module] = found.get(node.module, set()) | {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == PACKAGE:
                for alias in node.names:
                    if f"{PACKAGE}.{alias.name}" in HELPERS:
                        found[f"{PACKAGE}.{alias.name}"] = None
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in HELPERS:
                        found[alias.name] = None
    return {name: found[name] for name in HELPERS if name in found}


def top_level_bindings(body: list[ast.stmt]) -> tuple[list[set[str]], set[int]]:
    """(the names each top-level statement of ``body`` binds, the indices of the statements whose
    effect a closure cannot follow). A definition, an import or an assignment to plain names binds
    what it names; any other statement (a call, ``FILES["b"] = 2``, a definition under ``if`` or
    ``try``) is one to always carry, and binds every name stored and defined anywhere in it."""
    binds: list[set[str]] = []
    always: set[int] = set()
    for index, node in enumerate(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.append({node.name})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            binds.append({alias.asname or alias.name.split(".")[0] for alias in node.names})
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and all(
                isinstance(item, ast.Name) for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                for item in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target])):
            binds.append({target.id for target in ast.walk(node) if isinstance(target, ast.Name)
                          and isinstance(target.ctx, ast.Store)})
        else:
            always.add(index)
            binds.append({item.id for item in ast.walk(node) if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Store)}
                         | {item.name for item in ast.walk(node)
                            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))})
    return binds, always


def helper_closure(module: str, names: set[str] | None) -> str:
    """The source of the hand-written library module ``module`` that a notebook importing ``names``
    from it carries: its docstring, its ``__future__`` imports and the top-level statements that
    define ``names`` and everything they use, recursively (:func:`tabbook.savedcode.uses`), each
    with the comments above it, in file order. A statement that is not a definition, an import or
    an assignment to plain names (a call, ``FILES["b"] = 2``, a definition under ``if`` or ``try``)
    is always carried, with what it uses: its effect on the names kept cannot be followed. The whole file where ``names`` is None or the
    closure is every statement (``load_mnist`` needs all of ``dlblocks.data``).

    Raises:
        BuildError: the module cannot be read or parsed, or does not define one of ``names``.
    """
    path = HELPERS[module]
    try:
        text = path.read_text(encoding="utf-8")
        body = pyast.parse(text).body
    except (OSError, UnicodeDecodeError, SyntaxError) as error:
        raise BuildError(f"{display_path(path)}: cannot be read as Python ({error})") from None
    if names is None:
        return text
    binds, always = top_level_bindings(body)
    missing = sorted(names - set().union(*binds))
    if missing:
        raise BuildError(f"{display_path(path)} does not define {', '.join(missing)}, which a notebook imports from "
                         f"{module}")
    from .savedcode import uses
    wanted, todo = set(always), list(names)
    for index in always:
        now, later = uses(body[index])
        todo += sorted(now | later)
    while todo:
        name = todo.pop()
        for index, bound in enumerate(binds):
            if name in bound and index not in wanted:
                wanted.add(index)
                now, later = uses(body[index])
                todo += sorted(now | later)
    for index, node in enumerate(body):
        if (isinstance(node, ast.ImportFrom) and node.module == "__future__") or (
                index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            wanted.add(index)
    if len(wanted) == len(body):
        return text
    lines = text.splitlines(keepends=True)
    kept, start = [], 0
    for index, node in enumerate(body):
        if index in wanted:
            kept.append("".join(lines[start:node.end_lineno]))
        start = node.end_lineno
    return "".join(kept).lstrip("\n")


def embedded_modules(source: str) -> dict[str, str]:
    """{module name (``dlblocks.torch``): source} of the library modules that the setup cell
    ``source`` writes; empty for a cell that is not Python (its ``%pip`` line left out)."""
    try:
        tree = pyast.parse(_without_magics(source))
    except SyntaxError:
        return {}
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == MODULE_FUNCTION
                and len(node.args) >= 2 and all(isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                                                 for arg in node.args[:2])
                and node.args[0].value != "__init__"):
            found[f"{PACKAGE}.{node.args[0].value}"] = node.args[1].value
    return found


def embedded_saved(source: str) -> dict[str, str]:
    """The saved code among :func:`embedded_modules`: {``dlblocks.torch``: source}."""
    return {name: text for name, text in embedded_modules(source).items() if name not in HELPERS}


def _quoted(name: str, source: str) -> list[str]:
    """The lines of a raw triple-quoted literal that reads back as ``"\\n" + source + "\\n"``.

    Raises:
        BuildError: ``source`` contains both kinds of triple quotes, or ends in a backslash.
    """
    for quote in ("'''", '"""'):
        if quote not in source:
            lines = [f"r{quote}", source, quote]
            try:
                if pyast.literal_eval("\n".join(lines)) == f"\n{source}\n":
                    return lines
            except (SyntaxError, ValueError):
                pass
    raise BuildError(f"the code of {name} cannot be embedded in a notebook: it contains both ''' and \"\"\", or "
                     f"a backslash where a raw string cannot hold it; use one kind of triple quotes")


def add_setup_cells(notebook: nbformat.NotebookNode, framework: Framework, chapter_name: str,
                    saved: dict[str, str] | None = None) -> None:
    """Put the setup cell (:func:`setup_cell`) into ``notebook`` (in place) right after its title
    cell (:func:`tabbook.provenance.title_index`), so that a reader sees the title first, and in
    any case before the first code cell. It carries ``metadata.dlblocks.generated``, the tag
    ``remove-cell`` and :data:`SETUP_METADATA`.

    Raises:
        BuildError: as :func:`setup_cell`.
    """
    from .provenance import title_index
    cells = notebook.cells
    title = title_index(notebook)  # -1 for a notebook without cells
    code = next((index for index, cell in enumerate(cells) if cell.cell_type == "code"), len(cells))
    cells.insert(min(title + 1, code), _generated(setup_cell(notebook, framework, saved), SETUP_ID, chapter_name))


#: The metadata that collapses the setup cell where a reader opens the notebook
#: (docs/standalone-notebooks.md): JupyterLab and Notebook 7 hide the source
#: (``jupyter.source_hidden``, nbformat's own key) behind a one-line placeholder that shows its first
#: line and keep the outputs, which say what the cell installed; Colab shows the cell as a form
#: (``cellView``) titled by its ``#@title`` line, its code behind "Show code". VS Code honours
#: neither, nor any other key it reads from the file. The book removes the cell (``remove-cell``).
#: Not part of the execution key (:func:`tabbook.convert.code_fingerprint`): ``build.py execute``
#: brings a stored notebook's up to date without executing it again.
SETUP_METADATA = {"jupyter": {"source_hidden": True}, "cellView": "form"}


def setup_of(notebook: nbformat.NotebookNode):
    """The notebook's setup cell (:func:`add_setup_cells`), or None where it has none."""
    return next((cell for cell in notebook.cells
                 if cell.get("metadata", {}).get("dlblocks", {}).get("generated") == SETUP_ID), None)


def _generated(source: str, kind: str, chapter_name: str) -> nbformat.NotebookNode:
    metadata = {"dlblocks": {"generated": kind}, "tags": ["remove-cell"], **copy.deepcopy(SETUP_METADATA)}
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell["id"] = cell_id(chapter_name, kind)
    return cell
