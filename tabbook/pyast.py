"""Parse Python source into a syntax tree, one thread at a time.

CPython 3.11 keeps the depth counter of its AST constructor in state that all threads of an
interpreter share; two threads that run :func:`ast.parse` at once can corrupt it and raise
``SystemError: AST constructor recursion depth mismatch`` on valid code (CPython issue
gh-106905; seen in this project's CI, where ``claims`` and ``execute`` convert chapters in a
thread pool). Every parse in ``tabbook`` goes through :func:`parse` or :func:`literal_eval`
(which parses first), which hold a lock.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """Return the syntax tree of ``source`` (Python code, a str), as :func:`ast.parse` does.

    Raises:
        SyntaxError: when ``source`` is not valid Python (with ``filename`` and the line).
    """
    with _LOCK:
        return ast.parse(source, filename)


def literal_eval(source: str):
    """Return the value of the Python literal ``source``, as :func:`ast.literal_eval` does (it
    parses ``source`` first, so it holds the same lock as :func:`parse`).

    Raises:
        SyntaxError: ``source`` is not valid Python.
        ValueError: ``source`` is valid Python but not a literal.
    """
    with _LOCK:
        return ast.literal_eval(source)
