"""Parse Python source into a syntax tree, one thread at a time.

CPython 3.11 keeps the depth counter of its AST constructor in state that all threads of an
interpreter share; two threads that run :func:`ast.parse` at once can corrupt it and raise
``SystemError: AST constructor recursion depth mismatch`` on valid code (CPython issue
gh-106905; seen in this project's CI, where ``claims`` and ``execute`` convert chapters in a
thread pool). Every parse in ``tabbook`` goes through :func:`parse`, which holds a lock.
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
