"""tabbook: one Markdown chapter, four deep-learning frameworks, one book.

The build glue (``source``, ``convert``, ``envs``, ``execute``, ``check``) runs in the tooling
environment. The code a notebook imports is not here: it is the reader's library ``dlblocks``
(``library/``), which the build reads from this checkout (put first on ``sys.path`` here, so that
an installed copy of another version never stands in for it) and embeds in every notebook.
"""
import sys
from pathlib import Path

_LIBRARY = str(Path(__file__).resolve().parent.parent / "library")
if _LIBRARY not in sys.path:
    sys.path.insert(0, _LIBRARY)
