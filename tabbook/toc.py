"""The book's table of contents: its parts and the chapters of each, in reading order.

It lives in one file beside the chapters, ``notebooks/toc.yml``::

    parts:
      - caption: Builders' Guide       # the part's title in the book's navigation
        chapters:                      # chapter names (file stems under notebooks/), in order
          - layers-and-modules
          - custom-layers

Every command takes the chapters in this order (:func:`tabbook.source.find_chapters` applies
it), so the book's index, its previous/next links and the build's reports follow it. A chapter
missing from the file, a name listed that has no chapter, or a name listed twice is a
:class:`~tabbook.errors.SourceError` with the file and line, which ``build.py check`` and every
other command report. A folder without ``toc.yml`` (a test fixture, a new book) has one part,
"Chapters", holding every chapter in the order of their paths.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from .errors import SourceError

FILE_NAME = "toc.yml"
DEFAULT_CAPTION = "Chapters"
_HINT = f"{FILE_NAME} lists each chapter once, by its file name without .md, under a part's 'chapters'"


@dataclasses.dataclass(frozen=True)
class Part:
    """A part of the book: its caption and its chapter names (file stems), in reading order."""

    caption: str
    chapters: tuple[str, ...]
    lines: tuple[int, ...] = ()  # the line of each chapter's entry in toc.yml


def read_parts(folder: Path) -> list[Part] | None:
    """The parts listed in ``folder/toc.yml``, or None when the folder has no such file.

    Raises:
        SourceError: the file is not valid YAML, is nested too deeply to read, has a key twice in a
            mapping, is not of the documented shape (with its line), or lists a chapter twice.
    """
    path = folder / FILE_NAME
    if not (path.exists() or path.is_symlink()):  # a dangling link is a broken file, not no file
        return None
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError) as error:
        raise SourceError(path, None, f"cannot be read: {error}", _HINT) from None
    except yaml.MarkedYAMLError as error:
        line = error.problem_mark.line + 1 if error.problem_mark else None
        raise SourceError(path, line, f"is not valid YAML: {error.problem}", _HINT) from None
    except RecursionError:
        raise SourceError(path, None, "is nested too deeply to read: the table of contents is two levels deep "
                                      "(parts, then their chapters)", _HINT) from None
    _check_duplicate_keys(path, root)
    parts_node = _mapping_value(root, "parts", path)
    if not isinstance(parts_node, yaml.SequenceNode) or not parts_node.value:
        raise SourceError(path, _line(parts_node or root), "'parts' must be a list of parts", _HINT)
    parts, seen = [], {}
    for part_node in parts_node.value:
        caption_node = _mapping_value(part_node, "caption", path)
        if not isinstance(caption_node, yaml.ScalarNode) or not caption_node.value.strip():
            raise SourceError(path, _line(caption_node or part_node), "a part needs a 'caption': its title", _HINT)
        if "\n" in caption_node.value.strip():
            raise SourceError(path, _line(caption_node), "a caption is one line of text", _HINT)
        chapters_node = _mapping_value(part_node, "chapters", path)
        if not isinstance(chapters_node, yaml.SequenceNode) or not chapters_node.value:
            raise SourceError(path, _line(chapters_node or part_node),
                              f"part {caption_node.value!r}: 'chapters' must be a list of chapter names", _HINT)
        names, lines = [], []
        for node in chapters_node.value:
            if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
                raise SourceError(path, _line(node), "a chapter name must be a plain string", _HINT)
            name = node.value.strip().removesuffix(".md")
            if name.casefold() in seen:
                raise SourceError(path, _line(node), f"chapter {name!r} is listed twice (first at line {seen[name.casefold()]})",
                                  "a chapter appears once in the book; remove one of the entries")
            seen[name.casefold()] = _line(node)
            names.append(name)
            lines.append(_line(node))
        parts.append(Part(caption_node.value.strip(), tuple(names), tuple(lines)))
    return parts


def order(paths: list[Path], folder: Path) -> list[Path]:
    """``paths`` (the chapter sources under ``folder``) in the order of ``folder/toc.yml``.

    Raises:
        SourceError: a chapter is not listed (at the chapter's file), or a listed name has no
            chapter (at its line in toc.yml); and as :func:`read_parts`.
    """
    parts = read_parts(folder)
    if parts is None:
        return paths
    by_name = {path.stem: path for path in paths}
    listed = [name for part in parts for name in part.chapters]
    line_of = {name: line for part in parts for name, line in zip(part.chapters, part.lines)}
    for name in listed:
        if name not in by_name and name.casefold() in {stem.casefold() for stem in by_name}:
            actual = next(stem for stem in by_name if stem.casefold() == name.casefold())
            raise SourceError(folder / FILE_NAME, line_of.get(name),
                              f"lists chapter {name!r}, but the chapter is {actual}.md (names are case-sensitive)",
                              f"write it as '{actual}'")
    for path in paths:
        if path.stem not in listed:
            raise SourceError(path, None, f"is not in the table of contents, {folder / FILE_NAME}",
                              f"add '- {path.stem}' under the 'chapters' of the part it belongs to")
    for name in listed:
        if name not in by_name:
            raise SourceError(folder / FILE_NAME, line_of.get(name),
                              f"lists chapter {name!r}, but there is no {name}.md under {folder}",
                              "remove the entry, or fix its spelling, or add the chapter")
    return [by_name[name] for name in listed]


def parts_of(chapter_names: list[str], folder: Path) -> list[Part]:
    """The parts to show for these chapters: those of ``toc.yml`` holding any of them, each with
    just these chapters; without ``toc.yml``, one part, "Chapters", holding them in the given order."""
    parts = read_parts(folder)
    if parts is None:
        return [Part(DEFAULT_CAPTION, tuple(chapter_names))]
    wanted = set(chapter_names)
    shown = [Part(part.caption, tuple(name for name in part.chapters if name in wanted)) for part in parts]
    return [part for part in shown if part.chapters]


def _check_duplicate_keys(path: Path, root) -> None:
    """Raise a SourceError at the second of two equal keys of any mapping of the file (YAML keeps
    the last one silently, so a second ``parts:`` would replace the first)."""
    todo = [root]
    while todo:  # iterative: a deeply nested file cannot exhaust the stack
        node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        raise SourceError(path, _line(key_node), f"the key {key_node.value!r} appears twice in one "
                                                                 f"mapping (first at line {seen[key_node.value]}); "
                                                                 "YAML would keep only the second",
                                          "merge the two into one entry")
                    seen[key_node.value] = _line(key_node)
                todo.append(value_node)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)


def _mapping_value(node, key: str, path: Path):
    if not isinstance(node, yaml.MappingNode):
        raise SourceError(path, _line(node) if node is not None else None,
                          f"expected a mapping with '{key}'", _HINT)
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _line(node) -> int | None:
    return node.start_mark.line + 1 if node is not None else None
