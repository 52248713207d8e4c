"""Make a framework notebook run on its own: in a reader's Jupyter, Colab or VS Code, from an
empty folder, with no file of this repository.

The converter puts two generated code cells at the top of every framework notebook:

* the **requirements cell** lists the exact versions, from the framework's lock
  (``tabs/<framework>/requirements.txt``), of the packages the notebook imports, and installs
  with ``%pip`` those that are missing or at another version (a no-op in the book's own
  environments, where it prints that all are present). Where the framework cannot be installed
  on the kernel's Python (MXNet 1.9.1 has no wheel for Python 3.12 or later), it stops with a
  message saying so, instead of failing twenty cells later.
* the **helpers cell** carries the source of the book's helper modules that the notebook imports
  (``tabbook.data`` for ``load_mnist``, ``tabbook.record``) and registers each as a module, so
  that ``from tabbook.data import load_mnist`` works without the repository. Each helper gets
  its own module namespace: inlined as plain code, the helper's ``import numpy as np`` would
  replace MXNet's ``np`` in the notebook. Where the notebook uses code saved from chapters
  (``from tabbook.saved import pytorch as saved``), the cell also registers ``tabbook.saved`` and
  ``tabbook.saved.<framework>`` holding exactly the saved definitions it uses and what they need
  (:func:`tabbook.savedcode.for_notebook`); the requirements cell then pins what that code imports.

Why inline and not a package the first cell installs: a package would have to be published at
an exact version for every change of the helpers, and a notebook could still meet a different
version of it. Inlined, the helper code is generated from the same files the build imports;
the execution key covers those files and ``build.py check`` compares every notebook with a fresh
conversion, so a notebook and its helpers cannot drift apart. The book hides both cells
(``remove-cell``): the book's front page lists the pins, and the helper is not the lesson. Where a
reader opens the notebook, JupyterLab, Notebook 7 and Colab collapse them (:data:`SETUP_METADATA`).
"""
from __future__ import annotations

import ast
import copy
import re
import sys
from pathlib import Path

import nbformat

from . import pyast
from .errors import BuildError, display_path
from .frameworks import ROOT, Framework
from .source import cell_id

#: The helper modules a notebook may import, and their files.
HELPERS = {"tabbook.data": ROOT / "tabbook" / "data.py", "tabbook.record": ROOT / "tabbook" / "record.py"}

#: Modules whose distribution has another name than the module (else the module's name is used).
MODULE_DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu", "tensorflow"), "IPython": ("ipython",),
                        "PIL": ("pillow",), "yaml": ("pyyaml",)}

#: A pinned distribution that another distribution of the same version satisfies (Colab has
#: ``tensorflow``, which provides the same module as our ``tensorflow-cpu``).
ALTERNATIVES = {"tensorflow-cpu": ("tensorflow",),
                # The CUDA builds of MXNet 1.9.1 (build.py env --device cuda installs mxnet-cu117).
                "mxnet": ("mxnet-cu117", "mxnet-cu112")}

#: Frameworks that have no wheel for newer Pythons: (framework, first Python without a wheel).
PYTHON_LIMITS = {"mxnet": ((3, 12), "MXNet 1.9.1 has no wheel for Python 3.12 or later")}

#: Distributions pinned with a framework even where the notebook does not import them: the
#: framework's own metadata allows versions it cannot run with. mxnet 1.9.1 declares
#: ``numpy<2.0.0,>1.16.0`` but uses ``numpy.bool``, removed in NumPy 1.24; mindspore 2.10.0 declares
#: ``numpy>=1.25.0`` but needs NumPy < 2. Without the lock's numpy, pip picks one that breaks
#: ``import mxnet`` / ``import mindspore`` in a fresh environment.
COMPANIONS = {"mxnet": ("numpy",), "mindspore": ("numpy",)}

REQUIREMENTS_ID, HELPERS_ID = "requirements", "helpers"
#: The package of the code saved from chapters (:mod:`tabbook.savedcode`), and the function of the
#: helpers cell that registers a saved module.
SAVED_PACKAGE, SAVED_FUNCTION = "tabbook.saved", "register_saved"
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
    ``a``), with those that the saved code carried by the helpers cell imports. Lines of IPython
    magics and shell escapes are ignored; a cell that is not Python (after them) is skipped."""
    found: dict[str, None] = {}
    sources = []
    for cell in notebook.cells:
        generated = cell.metadata.get("tabbook", {}).get("generated")
        if cell.cell_type != "code":
            continue
        if generated == HELPERS_ID:
            sources += embedded_saved(cell.source).values()
        elif not generated:
            sources.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                     for line in cell.source.splitlines()))
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


def needs_no_pin(module: str) -> bool:
    """Whether importing ``module`` needs no package of the lock: the standard library, the
    book's helper modules and ``tabbook``."""
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or module in HELPERS or top == "tabbook"


def pinned_distribution(top: str, pins: dict[str, str]) -> str | None:
    """The distribution of ``pins`` (:func:`lock_pins`) that provides the top-level module ``top``, or None."""
    candidates = [normalise(name) for name in MODULE_DISTRIBUTIONS.get(top, (top,))]
    return next((name for name in candidates if name in pins), None)


def requirements(notebook: nbformat.NotebookNode, framework: Framework) -> dict[str, str]:
    """The lock's pins of the third-party packages the notebook imports: {distribution: version},
    in first-import order, each framework followed by its :data:`COMPANIONS`. The standard library
    and the book's helper modules are left out.

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


def requirements_cell(notebook: nbformat.NotebookNode, framework: Framework) -> str:
    """The source of the requirements cell of ``notebook`` (see the module docstring)."""
    pins = requirements(notebook, framework)
    version = ".".join(map(str, sys.version_info[:2]))
    lines = [f"# The packages this notebook was executed with (Python {version}), from the book's lock",
             f"# tabs/{framework.name}/requirements.txt. Missing ones, or other versions, are installed.",
             "import importlib.metadata",
             "import sys", ""]
    if framework.name in PYTHON_LIMITS:
        first, why = PYTHON_LIMITS[framework.name]
        lines += [f"if sys.version_info >= {first}:",
                  f"    raise RuntimeError(f\"{why}, and this kernel runs Python \"",
                  "                       f\"{sys.version_info.major}.{sys.version_info.minor}: run this notebook \"",
                  "                       \"in a Python 3.11 kernel (a local Jupyter; Colab runs a newer Python)\")",
                  ""]
    lines.append("REQUIREMENTS = {")
    lines += [f"    {name!r}: {pin!r}," for name, pin in pins.items()]
    lines.append("}")
    alternatives = {name: ALTERNATIVES[name] for name in pins if name in ALTERNATIVES}
    lines.append(f"ALTERNATIVES = {alternatives!r}  # other distributions of the same package" if alternatives
                 else "ALTERNATIVES = {}")
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
              "",
              "",
              "missing = []",
              "for name, pin in REQUIREMENTS.items():",
              "    found, version = installed(name)",
              "    if version != pin.split(\"+\")[0]:",
              "        missing.append(f\"{found}=={pin}\")  # the pinned version of what is there",
              "if missing:",
              "    print(\"installing:\", *missing)",
              "    %pip install --quiet {\" \".join(missing)}",
              "    print(\"installed; if an import below fails, restart the kernel and run the notebook again\")",
              "else:",
              "    print(\"all present:\", *(f\"{name}=={pin}\" for name, pin in REQUIREMENTS.items()))"]
    return "\n".join(lines)


def helper_modules(notebook: nbformat.NotebookNode, saved: dict[str, str] | None = None) -> list[str]:
    """The book's helper modules (keys of :data:`HELPERS`) that the notebook, or the saved code
    ``saved`` it carries ({module name: source}), imports."""
    imported = set(imported_modules(notebook))
    for source in (saved or {}).values():
        imported |= set(imported_modules(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])))
    return [name for name in HELPERS if name in imported]


def embedded_saved(source: str) -> dict[str, str]:
    """{module name: source} of the saved modules (``tabbook.saved.<framework>``) that the helpers
    cell ``source`` registers; empty for a cell that is not Python."""
    try:
        tree = pyast.parse(source)
    except SyntaxError:
        return {}
    found = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == SAVED_FUNCTION
                and len(node.args) >= 2 and all(isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                                                 for arg in node.args[:2])
                and node.args[0].value.startswith(SAVED_PACKAGE + ".")):
            found[node.args[0].value] = node.args[1].value
    return found


def _quoted(name: str, source: str) -> list[str]:
    """The lines of a raw triple-quoted literal that reads back as ``"\\n" + source + "\\n"``.

    Raises:
        BuildError: ``source`` contains both kinds of triple quotes.
    """
    for quote in ("'''", '"""'):
        if quote not in source:
            lines = [f"r{quote}", source, quote]
            try:
                if pyast.literal_eval("\n".join(lines)) == f"\n{source}\n":
                    return lines
            except (SyntaxError, ValueError):
                pass
    raise BuildError(f"the saved code of {name} cannot be inlined in a notebook: it contains both ''' and \"\"\"; "
                     f"use one kind of triple quotes in the saved cells")


def helpers_cell(modules: list[str], saved: dict[str, str] | None = None) -> str:
    """The source of the helpers cell: each module's source, registered under its name, then each
    saved module of ``saved`` ({``tabbook.saved.<framework>``: its code}) under its name."""
    lines = ["# The book's helper modules, copied into this notebook by the book's build so that it runs",
             "# without the book's repository; each is registered as a module of its own, so that its names",
             "# (numpy as np, for instance) do not replace the notebook's.",
             "import sys",
             "import types",
             "",
             "",
             "def register_module(name, source, package=False):",
             "    \"\"\"Run source as the module called name and make it importable.\"\"\"",
             "    module = types.ModuleType(name)",
             "    module.__file__ = f\"<{name}>\"",
             "    if package:",
             "        module.__path__ = []",
             "    sys.modules[name] = module",
             "    parent, _, child = name.rpartition(\".\")",
             "    if parent:",
             "        setattr(sys.modules[parent], child, module)",
             "    exec(compile(source, module.__file__, \"exec\"), module.__dict__)",
             "",
             "",
             "register_module(\"tabbook\", \"\", package=True)",
             ]
    for name in modules:
        source = HELPERS[name].read_text()
        if "'''" in source or source.rstrip().endswith("\\"):
            raise BuildError(f"{HELPERS[name]}: cannot be inlined in a notebook: it contains ''' or ends "
                             f"in a backslash; use \"\"\" strings")
        lines += ["", f"register_module({name!r}, r'''", source.rstrip("\n"), "''')"]
    if saved:
        lines += ["", "",
                  "# The code saved from the book's chapters that this notebook uses, and what that code needs,",
                  "# written to the files of a package folder and imported when the notebook imports it: after",
                  "# the notebook's own settings, and from files, whose source MindSpore's graph mode and",
                  "# TensorFlow's autograph read.",
                  "import atexit",
                  "import importlib",
                  "import os",
                  "import shutil",
                  "import tempfile",
                  "",
                  "_saved_folder = tempfile.mkdtemp(prefix=\"tabbook-saved-\")",
                  "atexit.register(shutil.rmtree, _saved_folder, ignore_errors=True)",
                  f"register_module({SAVED_PACKAGE!r}, \"\", package=True)",
                  f"sys.modules[{SAVED_PACKAGE!r}].__path__ = [_saved_folder]",
                  "",
                  "",
                  "def register_saved(name, source):",
                  "    \"\"\"Write saved code to the file that `import name` reads.\"\"\"",
                  "    with open(os.path.join(_saved_folder, name.rpartition(\".\")[2] + \".py\"), \"w\", encoding=\"utf-8\") as file:",
                  "        file.write(source)",
                  "    importlib.invalidate_caches()"]
        for name, source in saved.items():
            literal = _quoted(name, source.rstrip("\n"))
            lines += ["", f"{SAVED_FUNCTION}({name!r}, {literal[0]}", *literal[1:-1], f"{literal[-1]})"]
    return "\n".join(lines)


def add_setup_cells(notebook: nbformat.NotebookNode, framework: Framework, chapter_name: str,
                    saved: dict[str, str] | None = None) -> None:
    """Put the requirements cell and, where the notebook imports a helper or uses saved code
    (``saved``: {``tabbook.saved.<framework>``: the code it uses}), the helpers cell at the top
    of ``notebook`` (in place). Both carry ``metadata.tabbook.generated``, the tag ``remove-cell`` and
    :data:`SETUP_METADATA`.

    Raises:
        BuildError: an import (of the notebook or of its saved code) is not pinned in the
            framework's lock, or a helper cannot be inlined.
    """
    modules = helper_modules(notebook, saved)
    cells = []
    if modules or saved:
        cells.append(_generated(helpers_cell(modules, saved), HELPERS_ID, chapter_name))
    notebook.cells[:0] = cells
    notebook.cells.insert(0, _generated(requirements_cell(notebook, framework), REQUIREMENTS_ID, chapter_name))


#: The metadata that collapses a setup cell where a reader opens the notebook (docs/standalone-notebooks.md):
#: JupyterLab and Notebook 7 hide the source (``jupyter.source_hidden``, nbformat's own key) behind
#: a one-line placeholder and keep the outputs, which say what the cell installed; Colab shows the
#: cell as a form (``cellView``), its code behind "Show code". VS Code honours neither, nor any
#: other key it reads from the file. The book removes the cells (``remove-cell``). Not part of the
#: execution key (:func:`tabbook.convert.code_fingerprint`): ``build.py execute`` brings a stored
#: notebook's up to date without executing it again.
SETUP_METADATA = {"jupyter": {"source_hidden": True}, "cellView": "form"}


def _generated(source: str, kind: str, chapter_name: str) -> nbformat.NotebookNode:
    metadata = {"tabbook": {"generated": kind}, "tags": ["remove-cell"], **copy.deepcopy(SETUP_METADATA)}
    cell = nbformat.v4.new_code_cell(source, metadata=metadata)
    cell["id"] = cell_id(chapter_name, kind)
    return cell
