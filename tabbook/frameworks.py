"""The frameworks of the book: tag names, display names, kernels and environment files."""
from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABS = ROOT / "tabs"
NOTEBOOKS = ROOT / "notebooks"


@dataclasses.dataclass(frozen=True)
class Framework:
    """One framework tab: its cell tag, how readers see it, and its Jupyter kernel."""

    name: str  # the cell tag and the folder under tabs/, e.g. "pytorch"
    title: str  # what the reader sees on the tab, e.g. "PyTorch"

    @property
    def kernel_name(self) -> str:
        """The kernelspec name registered for this framework's environment."""
        return f"tabbook-{self.name}"

    @property
    def display_name(self) -> str:
        """The kernel's name as JupyterLab lists it."""
        return f"Python 3 ({self.title})"

    @property
    def tab_dir(self) -> Path:
        """The folder of this framework's notebooks and its pinned requirements."""
        return TABS / self.name

    @property
    def requirements(self) -> Path:
        """The fully pinned requirements (the lock) of this framework's environment."""
        return self.tab_dir / "requirements.txt"


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("mxnet", "MXNet"),
    Framework("pytorch", "PyTorch"),
    Framework("tensorflow", "TensorFlow"),
    Framework("mindspore", "MindSpore"),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FRAMEWORKS)
BY_NAME: dict[str, Framework] = {f.name: f for f in FRAMEWORKS}

#: The tag of a code cell that belongs to every framework.
ALL_TAG = "all"


def get(name: str) -> Framework:
    """Return the framework called ``name``; raise KeyError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown framework {name!r}; known: {', '.join(NAMES)}") from None
