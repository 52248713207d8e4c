"""Check that the notebooks under tabs/ are what their sources make, executed.

A notebook is stale when its cells differ from a fresh conversion of its chapter (a cell edited,
added, removed or retagged without rebuilding), when it was never executed, or when it was
executed against another lock file or library code, or when the saved code it carries (in its
setup cell) is not what the chapters save now, or when its cells' metadata is not the
converter's, or its "Executed on" line (:mod:`tabbook.provenance`) is missing or not what its
metadata gives (``build.py execute`` rewrites both without executing). Notebooks with no chapter behind them, notebooks
of a framework their chapter omits, and saved modules in ``library/dlblocks/`` that differ from
the chapters' cells tagged ``save`` (:func:`tabbook.savedcode.module_problems`) are reported too,
and so is every mutation whose outcome record (``notebooks/<chapter>.claims.record``) is missing,
stale or not "killed" (:func:`tabbook.claimrecords.problems`).
"""
from __future__ import annotations

from pathlib import Path

import ast

from . import claimrecords, convert, execute, provenance, pyast, savedcode, standalone
from . import stored as stored_module
from .errors import BuildError, SourceError, display_path
from .frameworks import NAMES, get
from .source import find_chapters, is_hidden, read_chapter


def problems(chapters_dir: Path) -> list[str]:
    """Every mismatch between the chapters under ``chapters_dir`` and tabs/, one message each.

    Malformed sources are reported (with ``path:line``) rather than raised.
    """
    found: list[str] = []
    try:
        paths = find_chapters(chapters_dir)
    except SourceError as error:
        return [str(error)]
    if not paths:
        found.append(f"{chapters_dir}: no chapter sources (*.md)")
    expected: set[Path] = set()
    chapters = []
    for path in paths:
        try:
            chapter = read_chapter(path)
        except SourceError as error:
            found.append(str(error))
            expected.update(convert.notebook_path(path.stem, name) for name in NAMES)
            continue
        chapters.append(chapter)
        for name in NAMES:
            target = convert.notebook_path(chapter.name, name)
            expected.add(target)
            if name in chapter.omitted:
                if target.exists():
                    found.append(f"{display_path(target)}: {chapter.name} omits {name} "
                                 f"({chapter.omitted[name]}); delete this notebook")
                continue
            found.extend(_notebook_problems(chapter, name, target))
    if len(chapters) == len(paths):  # else the modules would lack the unreadable chapters' code
        try:
            found.extend(savedcode.module_problems(chapters, savedcode.saved_dir(chapters_dir)))
        except SourceError as error:
            found.append(str(error))
    found.extend(stray_claims(chapters_dir, paths))
    for chapter in chapters:
        try:
            found.extend(claimrecords.problems(chapter))
        except SourceError as error:  # a bad claims file or record: its line, once
            found.append(str(error))
    for name in NAMES:
        for stray in sorted(get(name).tab_dir.glob("*.ipynb")):
            if stray not in expected:
                found.append(f"{display_path(stray)}: no chapter source makes this notebook; delete it, "
                             f"or restore notebooks/{stray.stem}.md")
    return list(dict.fromkeys(found))  # an error of the saved code is met by every notebook that uses it


def stray_claims(chapters_dir: Path, paths: list[Path]) -> list[str]:
    """A message for each claims file under ``chapters_dir`` with no chapter (of ``paths``) beside it."""
    sources = {path.with_suffix("") for path in paths}
    found = []
    for claims in sorted(path for path in chapters_dir.rglob("*.claims.yml") if not is_hidden(path, chapters_dir)):
        chapter_name = claims.name.removesuffix(".claims.yml")
        if claims.with_name(chapter_name) not in sources:
            found.append(f"{display_path(claims)}: no chapter {chapter_name}.md beside it, "
                         f"so its mutations never run; rename it after its chapter, or delete it")
    for record in sorted(path for path in chapters_dir.rglob("*.claims.record") if not is_hidden(path, chapters_dir)):
        chapter_name = record.name.removesuffix(".claims.record")
        if record.with_name(chapter_name) not in sources:
            found.append(f"{display_path(record)}: no chapter {chapter_name}.md beside it, "
                         f"so nothing reads this record; delete it")
    return found


def _notebook_problems(chapter, framework: str, target: Path) -> list[str]:
    rebuild = f"rebuild it with: python build.py execute {chapter.name}"
    if not target.exists():
        return [f"{display_path(target)}: missing; {rebuild}"]
    try:
        fresh = convert.to_notebook(chapter, framework)
        stored = stored_module.read(target, chapter.name, framework)
    except BuildError as error:
        return [str(error)]
    if convert.code_fingerprint(stored) != convert.code_fingerprint(fresh):
        if stored.metadata.get("dlblocks", {}).get("execution_key") == execute.execution_key(fresh, framework):
            # Its cells were edited by hand and its key kept: execute would find it current.
            rebuild = (f"its cells were edited by hand (its execution key is the chapter's, so only --force "
                       f"executes it again): python build.py execute {chapter.name} -f {framework} --force")
        where = first_difference(fresh, stored)
        if where == standalone.SETUP_ID:
            changed = saved_changes(fresh, stored)
            why = (f"the saved code it uses changed: {changed}" if changed else
                   "the framework's lock or the library code it carries changed")
            return [f"{display_path(target)}: its generated {where} cell is out of date ({why}); {rebuild}"]
        return [f"{display_path(target)}: does not match {display_path(chapter.path)} (first difference near "
                f"{display_path(chapter.path)}:{where}); {rebuild}"]
    unexecuted = [number for number, cell in enumerate(stored.cells, 1)
                  if cell.cell_type == "code" and cell.get("execution_count") is None]
    if unexecuted:
        return [f"{display_path(target)}: code cell {unexecuted[0]} was never executed; {rebuild}"]
    if stored.metadata.get("dlblocks", {}).get("execution_key") != execute.execution_key(fresh, framework):
        return [f"{display_path(target)}: executed with another {display_path(get(framework).requirements)} "
                f"or notebook helpers; {rebuild}"]
    stale = convert.stale_metadata(stored, fresh)
    if stale:
        cells = execute.cells_label(stored, stale)
        return [f"{display_path(target)}: the metadata of {cells} is not what the converter gives now "
                f"(the setup cell's collapse settings, or a source line); bring it up to date, without executing "
                f"again, with: python build.py execute {chapter.name}"]
    wrong = provenance.problem(stored, framework)
    if wrong:
        fix = f"bring it up to date, without executing again, with: python build.py execute {chapter.name}"
        if provenance.placement_problem(stored):
            fix = (f"delete that cell, or let python build.py execute {chapter.name} rewrite the line, which drops "
                   "every other marked cell, without executing again")
        elif provenance.metadata_problem(stored):
            fix = f"execute it again, which records what it ran with: python build.py execute {chapter.name} " \
                  f"-f {framework} --force"
        if wrong == provenance.NO_DATE:
            fix += (" (it takes the date of the commit that brought the notebook's execution key; a notebook "
                    f"never committed gets a date only by executing it again: add -f {framework} --force)")
        return [f"{display_path(target)}: its \"Executed on\" line is not true: the notebook {wrong}; {fix}"]
    return []


def first_difference(fresh, stored) -> int | str:
    """The source line of the first cell where the two notebooks differ, or the kind of the
    generated setup cell (``requirements``, ``helpers``) where that one differs first."""
    stored_cells = convert.converter_cells(stored)  # without the executor's "Executed on" cell
    for new, old in zip(fresh.cells, stored_cells):
        if (new.cell_type, new.source, new.metadata.get("tags")) != (old.cell_type, old.source, old.metadata.get("tags")):
            meta = new.metadata.get("dlblocks", {})
            return meta.get("generated") or meta.get("line", "?")
    longer = fresh.cells[len(stored_cells):] or stored_cells[len(fresh.cells):]
    return longer[0].metadata.get("dlblocks", {}).get("line", "?") if longer else "?"



def saved_changes(fresh, stored) -> str:
    """What differs between the saved code that the setup cells of two notebooks carry: the
    definitions, as ``dlblocks.torch.train, ...``, or "its comments or layout"; empty when
    it is the same."""
    new, old = _embedded(fresh), _embedded(stored)
    if new == old:
        return ""
    new_definitions, old_definitions = _definitions(new), _definitions(old)
    names = sorted(new_definitions.keys() | old_definitions.keys())
    return ", ".join(name for name in names if new_definitions.get(name) != old_definitions.get(name)) \
        or "its comments or layout"


def _embedded(notebook) -> dict[str, str]:
    """{saved module: source} that the notebook's setup cell carries."""
    cell = standalone.setup_of(notebook)
    return standalone.embedded_saved(cell.source) if cell else {}


def _definitions(embedded: dict[str, str]) -> dict[str, str]:
    """{module.name: the syntax tree of the statements that bind it, without positions}."""
    found: dict[str, str] = {}
    for module, source in embedded.items():
        try:
            body = pyast.parse(source).body
        except SyntaxError:
            body = []
        for node in body:
            for name in _bound(node):
                found[f"{module}.{name}"] = found.get(f"{module}.{name}", "") + ast.dump(node)
    return found


def _bound(node) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [alias.asname or alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)]
    return []
