"""Debian's Chromium, which prints the PDFs (:mod:`tabbook.pdf`) and runs the browser tests:
found on ``PATH``, or installed with ``apt-get`` where this machine allows it.

``python3 build.py`` and ``python3 build.py test`` need nothing but Python 3.11 on a new machine,
so where Chromium is missing they install Debian's ``chromium`` package: as root directly, else
through ``sudo`` when it needs no password (``sudo -n true`` succeeds). Anywhere else (no
``apt-get``, or ``sudo`` would ask for a password) they stop before the step that needs it and
say the exact command to run. Playwright's own browser download (``playwright install``) is
not tried: the CI machines have no route to its download host (``.ci/run`` said so when it
installed Chromium itself), and its build needs system libraries that only the package manager
brings.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .errors import BuildError

#: The executable and the Debian package that provides it.
EXECUTABLE = PACKAGE = "chromium"
#: Where Debian puts it, for a ``PATH`` that lacks /usr/bin.
DEBIAN_PATH = Path("/usr/bin/chromium")
#: The commands that install it, to run as root (``apt-get update`` first: a new container has
#: no package lists), with ``DEBIAN_FRONTEND=noninteractive`` (no question asked on a terminal).
INSTALL = (["apt-get", "update", "-qq"],
           ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE])
#: How a user who is not root runs them: sudo, never asking for a password, keeping that variable.
SUDO = ["sudo", "-n", "--preserve-env=DEBIAN_FRONTEND"]


def find() -> str | None:
    """The path of the Chromium executable: on ``PATH``, else :data:`DEBIAN_PATH`; None when neither."""
    return shutil.which(EXECUTABLE) or (str(DEBIAN_PATH) if DEBIAN_PATH.is_file() else None)


def ensure(log: Callable[[str], None] | None = None) -> str:
    """The path of Chromium, installed first with ``apt-get`` when it is missing and this process
    may install packages (:func:`how_to_install`); ``log`` is told before the install starts.

    Raises:
        BuildError: it is missing and cannot be installed here, or the install failed; the
            message gives the command to run.
    """
    found = find()
    if found:
        return found
    log = log or (lambda message: print(message, flush=True))
    prefix, reason = how_to_install()
    manual = "sudo apt-get update && sudo apt-get install -y chromium"
    if prefix is None:
        raise BuildError(f"the PDFs and the browser tests need Chromium, which is not installed, and {reason}: "
                         f"install it with: {manual}  (then run this command again)")
    log(f"chromium: not installed; installing Debian's {PACKAGE} with apt-get (about a minute)")
    for command in INSTALL:
        result = _run([*prefix, *command])
        if result.returncode != 0:
            detail = (result.stderr or "").strip().splitlines()
            raise BuildError(f"installing Chromium failed: {' '.join([*prefix, *command])} exited with code "
                             f"{result.returncode}" + (f" ({detail[-1]})" if detail else "")
                             + f"; fix the cause, or install it yourself with: {manual}")
    found = find()
    if not found:
        raise BuildError(f"apt-get installed {PACKAGE}, but no {EXECUTABLE} executable is on PATH "
                         f"({os.environ.get('PATH', '')}) or at {DEBIAN_PATH}: add its folder to PATH")
    log(f"chromium: installed at {found}")
    return found


def how_to_install() -> tuple[list[str] | None, str]:
    """How this process can run ``apt-get``: ``([], "")`` as root, ``(SUDO, "")`` with
    password-less sudo, else ``(None, why not)``."""
    if shutil.which("apt-get") is None:
        return None, "this machine has no apt-get (build.py installs Debian's package only)"
    if _is_root():
        return [], ""
    if shutil.which("sudo") is None:
        return None, "this user is not root and the machine has no sudo"
    if _run(["sudo", "-n", "true"]).returncode != 0:
        return None, "this user is not root and sudo asks for a password"
    return SUDO, ""


def _is_root() -> bool:
    return os.geteuid() == 0


def _run(command: list[str]) -> subprocess.CompletedProcess:
    """Run ``command`` with no input and ``DEBIAN_FRONTEND=noninteractive``, its output captured
    (shown only when it fails); a command that cannot start exits with 127, as in a shell."""
    try:
        return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
                              env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except OSError as error:
        return subprocess.CompletedProcess(command, 127, "", str(error))
