"""Record a named result of a notebook so that the build can report it.

``record("test_accuracy", 0.981)`` displays the value like the last line of a cell would, and
tags the output with ``{"tabbook": {"record": "test_accuracy"}}`` in its metadata. The build
reads recorded values back from the executed notebook (:func:`recorded`), so the summary table
shows what the notebook computed, never a number parsed out of prose.
"""
from __future__ import annotations

from typing import Any


def record(name: str, value: float) -> None:
    """Display ``value`` (a number) in the notebook and tag the output as the result ``name``."""
    from IPython.display import display

    display(float(value), metadata={"tabbook": {"record": name}})


def recorded(notebook: Any) -> dict[str, float]:
    """The values recorded in an executed notebook (an nbformat node), by name."""
    values = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("tabbook", {}).get("record")
            if name is not None:
                values[name] = float(output["data"]["text/plain"])
    return values
