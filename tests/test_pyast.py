"""Every syntax tree in tabbook is parsed under one lock (CPython gh-106905, see tabbook/pyast.py)."""

import ast
from pathlib import Path

import pytest

from tabbook import pyast

TABBOOK = Path(__file__).resolve().parents[1] / "tabbook"


#: What builds a syntax tree from source: ast.parse, ast.literal_eval (parses first), and
#: compile's flag PyCF_ONLY_AST (1024).
_PARSERS = {"parse", "literal_eval"}


def _direct_parses(path: Path) -> list[int]:
    """Lines of ``path`` that build a syntax tree other than through pyast: ``ast.parse`` or
    ``ast.literal_eval`` under any name the module has (``import ast as a``, ``from ast import
    parse``), or ``compile`` with ``PyCF_ONLY_AST`` (by name, attribute or its value 1024)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = {"ast"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for alias in node.names if alias.name == "ast" and alias.asname}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ast" and any(
                alias.name in _PARSERS | {"PyCF_ONLY_AST", "*"} for alias in node.names):
            lines.append(node.lineno)
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _PARSERS and getattr(func.value, "id", "") in modules:
            lines.append(node.lineno)
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name == "compile" and len(node.args) + len(node.keywords) > 3 and any(
                getattr(arg, "attr", getattr(arg, "id", None)) == "PyCF_ONLY_AST"
                or (isinstance(arg, ast.Constant) and isinstance(arg.value, int) and arg.value & ast.PyCF_ONLY_AST)
                for arg in ast.walk(node)):
            lines.append(node.lineno)
    return sorted(set(lines))


@pytest.mark.parametrize("path", sorted(p for p in TABBOOK.rglob("*.py") if p.name != "pyast.py"),
                         ids=lambda p: str(p.relative_to(TABBOOK)))
def test_no_module_parses_outside_the_lock(path):
    assert _direct_parses(path) == [], f"{path}: call tabbook.pyast.parse, not ast.parse (CPython gh-106905)"


def test_the_checker_sees_a_direct_parse(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import ast\nast.parse('x')\ncompile('x', 'f', 'exec', ast.PyCF_ONLY_AST)\n")
    assert _direct_parses(module) == [2, 3]


def test_the_checker_sees_a_parse_under_another_name(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import ast as a\n"
                      "from ast import literal_eval\n"
                      "a.parse('x')\n"
                      "a.literal_eval('1')\n"
                      "compile('x', 'f', 'exec', flags=1024)\n"
                      "builtins.compile('x', 'f', 'exec', PyCF_ONLY_AST)\n"
                      "compile('x', 'f', 'exec')\n"
                      "re.compile('x', 1024)\n")
    assert _direct_parses(module) == [2, 3, 4, 5, 6]


def test_parse_gives_the_tree_and_the_syntax_error():
    assert isinstance(pyast.parse("x = 1").body[0], ast.Assign)
    with pytest.raises(SyntaxError) as raised:
        pyast.parse("x = (", "cell.py")
    assert raised.value.filename == "cell.py"
