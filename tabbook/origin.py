"""The GitHub repository a checkout is published from, read from its ``origin`` remote: the
default of ``tabbook_repository`` in ``book/conf.py`` (the book's Colab, discussion and header
links), so that a fork's book links the fork and a checkout with no GitHub remote links nothing.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

#: A GitHub remote as git writes it: https (credentials, if any, are not kept), ssh or scp-like.
_GITHUB = re.compile(r"(?:https?://(?:[^@/\s]+@)?|ssh://git@|git@)github\.com[:/]"
                     r"(?P<owner>[\w.-]+)/(?P<name>[\w.-]+?)(?:\.git)?/?")


def github_address(remote: str) -> str:
    """``https://github.com/<owner>/<name>`` for a GitHub remote URL (https, ssh or
    ``git@github.com:owner/name.git``); "" for any other host or text."""
    match = _GITHUB.fullmatch(remote.strip())
    return f"https://github.com/{match['owner']}/{match['name']}" if match else ""


def github_origin(root: Path) -> str:
    """The web address of the GitHub repository that the checkout at ``root`` names as its
    ``origin`` remote; "" where there is no such remote, it is not on GitHub, or git is missing."""
    try:
        result = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                                text=True, stdin=subprocess.DEVNULL, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return github_address(result.stdout) if result.returncode == 0 else ""
