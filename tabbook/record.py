"""Record a named result of a notebook so that the build can report it.

``record("test_accuracy", 0.981)`` displays the value like the last line of a cell would, and
tags the output with ``{"tabbook": {"record": "test_accuracy"}}`` in its metadata; a text, such as
``record("device", "cpu")``, is tagged ``{"tabbook": {"record": "device", "type": "text"}}``. The build
reads recorded values back from the executed notebook (:func:`recorded`), so the summary table
shows what the notebook computed, never a number parsed out of prose.
"""
from __future__ import annotations

from typing import Any


def record(name: str, value: float | str) -> None:
    """Display ``value`` (a number, or a text such as a device name) in the notebook and tag the
    output as the result ``name``."""
    from IPython.display import display

    if isinstance(value, str):
        display({"text/plain": value}, raw=True, metadata={"tabbook": {"record": name, "type": "text"}})
    else:
        display(float(value), metadata={"tabbook": {"record": name}})


def recorded(notebook: Any) -> dict[str, float | str]:
    """The values recorded in an executed notebook (an nbformat node), by name: floats, and
    texts where they were recorded as texts."""
    values: dict[str, float | str] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            tag = output.get("metadata", {}).get("tabbook", {})
            if tag.get("record") is not None:
                text = output["data"]["text/plain"]
                values[tag["record"]] = text if tag.get("type") == "text" else float(text)
    return values
