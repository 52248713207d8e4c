"""Errors that an author can act on: where (file and line), what is wrong, how to fix it."""
from __future__ import annotations

from pathlib import Path


class BuildError(Exception):
    """A build step failed in a way the author or user can fix; the message says how."""


class SourceError(BuildError):
    """A chapter source is malformed.

    ``str(error)`` reads ``path:line: what is wrong`` followed by an indented ``hint:`` line,
    the format compilers use, so editors and terminals can jump to the place.
    """

    def __init__(self, path: Path | str, line: int | None, message: str, hint: str = ""):
        self.path = Path(path)
        self.line = line
        self.message = message
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{display_path(self.path)}:{self.line}" if self.line else f"{display_path(self.path)}"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
