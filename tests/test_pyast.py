"""Every syntax tree in tabbook is parsed under one lock (CPython gh-106905, see tabbook/pyast.py)."""

import ast
from pathlib import Path

import pytest

from tabbook import pyast

TABBOOK = Path(__file__).resolve().parents[1] / "tabbook"


def _direct_parses(path: Path) -> list[int]:
    """Lines of ``path`` that call ast.parse (or compile to an AST) other than through pyast."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "parse" and getattr(func.value, "id", "") == "ast":
            lines.append(node.lineno)
        if isinstance(func, ast.Name) and func.id == "compile" and any(
                isinstance(arg, ast.Attribute) and arg.attr == "PyCF_ONLY_AST" for arg in ast.walk(node)):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("path", sorted(p for p in TABBOOK.rglob("*.py") if p.name != "pyast.py"),
                         ids=lambda p: str(p.relative_to(TABBOOK)))
def test_no_module_parses_outside_the_lock(path):
    assert _direct_parses(path) == [], f"{path}: call tabbook.pyast.parse, not ast.parse (CPython gh-106905)"


def test_the_checker_sees_a_direct_parse(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import ast\nast.parse('x')\ncompile('x', 'f', 'exec', ast.PyCF_ONLY_AST)\n")
    assert _direct_parses(module) == [2, 3]


def test_parse_gives_the_tree_and_the_syntax_error():
    assert isinstance(pyast.parse("x = 1").body[0], ast.Assign)
    with pytest.raises(SyntaxError) as raised:
        pyast.parse("x = (", "cell.py")
    assert raised.value.filename == "cell.py"
