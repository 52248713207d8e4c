"""Chromium, which prints the PDFs (:mod:`tabbook.pdf`) and runs the browser tests: found on
``PATH``, at Debian's path or in Playwright's browser folder, else installed where this machine
allows it.

``python3 build.py`` and ``python3 build.py test`` need nothing but Python 3.11 on a new machine,
so where Chromium is missing they install it: Debian's ``chromium`` package with ``apt-get`` as
root, else through ``sudo`` when it needs no password (``sudo -n true`` succeeds); anywhere else
(no ``apt-get``, or ``sudo`` would ask for a password) Playwright's own download
(``python -m playwright install --no-shell chromium`` in the tooling venv, into ``~/.cache/ms-playwright``
or ``$PLAYWRIGHT_BROWSERS_PATH``). Where that fails too (no route to its download host, as on
this project's CI machines, or the downloaded browser lacks system libraries that only the
package manager brings) they stop before the step that needs it and say the command to run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
#: Playwright's own download of its Chromium, where apt-get may not run: the browser alone (the
#: headless shell is not needed, the browser is always started by its path).
PLAYWRIGHT_INSTALL = [sys.executable, "-m", "playwright", "install", "--no-shell", "chromium"]
#: Prints the path where Playwright keeps (or would keep) its Chromium; run in a child process,
#: since Playwright's sync API refuses to start while another instance runs in this process.
_PLAYWRIGHT_PATH = ("from playwright.sync_api import sync_playwright\n"
                    "with sync_playwright() as playwright: print(playwright.chromium.executable_path)")
#: What to run by hand: Debian's package (it brings the system libraries the browser needs).
MANUAL = "sudo apt-get update && sudo apt-get install -y chromium"
#: What to do on a machine without apt-get, where Playwright's download failed too.
NO_APT = f"the system's package manager (any Chromium that starts, as an executable named {EXECUTABLE} on PATH)"


def find() -> str | None:
    """The path of the Chromium executable: on ``PATH``, else :data:`DEBIAN_PATH`, else
    Playwright's downloaded one (:func:`playwright_path`) where it starts (``--version``); None
    when there is none."""
    found = shutil.which(EXECUTABLE) or (str(DEBIAN_PATH) if DEBIAN_PATH.is_file() else None)
    if found:
        return found
    downloaded = playwright_path()
    if downloaded is None or not downloaded.is_file():
        return None
    # a download that lacks system libraries (or was cut short) is there but does not start
    return str(downloaded) if _run([str(downloaded), "--version"]).returncode == 0 else None


def playwright_path() -> Path | None:
    """Where Playwright keeps its Chromium executable (present or not), as its own API says
    (``~/.cache/ms-playwright/chromium-<revision>/...`` or under ``$PLAYWRIGHT_BROWSERS_PATH``);
    None when the Playwright package cannot tell (it is not installed in this interpreter)."""
    result = _run([sys.executable, "-c", _PLAYWRIGHT_PATH])
    lines = result.stdout.strip().splitlines() if result.returncode == 0 else []
    return Path(lines[-1]) if lines else None


def ensure(log: Callable[[str], None] | None = None) -> str:
    """The path of Chromium (:func:`find`), installed first when it is missing: Debian's package
    with ``apt-get`` when this process may run it (:func:`how_to_install`), else Playwright's own
    download (:data:`PLAYWRIGHT_INSTALL`). ``log`` is told before an install starts.

    Raises:
        BuildError: it is missing and neither install is possible or worked; the message says
            why and gives the command to run.
    """
    found = find()
    if found:
        return found
    log = log or (lambda message: print(message, flush=True))
    prefix, reason = how_to_install()
    if prefix is None:
        return _download(reason, log)
    log(f"chromium: not installed; installing Debian's {PACKAGE} with apt-get (about a minute)")
    for command in INSTALL:
        result = _run([*prefix, *command])
        if result.returncode != 0:
            raise BuildError(f"installing Chromium failed: {' '.join([*prefix, *command])} exited with code "
                             f"{result.returncode}{_last_line(result)}; fix the cause, or install it "
                             f"yourself with: {MANUAL}")
    found = find()
    if not found:
        raise BuildError(f"apt-get installed {PACKAGE}, but no {EXECUTABLE} executable is on PATH "
                         f"({os.environ.get('PATH', '')}) or at {DEBIAN_PATH}: add its folder to PATH")
    log(f"chromium: installed at {found}")
    return found


def _download(reason: str, log: Callable[[str], None]) -> str:
    """Playwright's Chromium, downloaded where apt-get may not run (``reason`` says why not);
    returns its path once it starts (``--version``: a browser that lacks system libraries fails
    there).

    Raises:
        BuildError: the download failed, or the browser it brought cannot start; the message
            gives ``reason``, what failed and the command to run.
    """
    command = " ".join(["python", *PLAYWRIGHT_INSTALL[1:]])
    log(f"chromium: not installed and {reason}; downloading Playwright's Chromium ({command})")
    result = _run(PLAYWRIGHT_INSTALL)
    if result.returncode != 0:
        raise BuildError(f"the PDFs and the browser tests need Chromium, which is not installed; {reason}, "
                         f"and Playwright's download failed ({command} exited with code {result.returncode}"
                         f"{_first_error(result)}): install it with: {_manual()}  (then run this command again)")
    downloaded = playwright_path()
    if downloaded is None or not downloaded.is_file():
        raise BuildError(f"{command} succeeded, but Playwright's Chromium is not at {downloaded}: "
                         f"install Debian's instead with: {MANUAL}")
    started = _run([str(downloaded), "--version"])
    if started.returncode != 0:
        raise BuildError(f"Playwright downloaded Chromium to {downloaded}, but it cannot start (exit code "
                         f"{started.returncode}{_last_line(started)}); the system libraries it needs are "
                         f"missing: install Debian's Chromium, which brings them, with: {MANUAL}")
    log(f"chromium: downloaded to {downloaded}")
    return str(downloaded)


def _manual() -> str:
    """How a person installs Chromium here: Debian's package where there is apt-get (:data:`MANUAL`),
    else :data:`NO_APT`."""
    return MANUAL if shutil.which("apt-get") else NO_APT


def _first_error(result: subprocess.CompletedProcess) -> str:
    """`` (<the first line that starts with "Error:">)`` of Playwright's output (its error
    output first: the cause, such as ``getaddrinfo ENOTFOUND cdn.playwright.dev``, is there, and
    stack lines follow it), else :func:`_last_line`."""
    for line in [*(result.stderr or "").splitlines(), *(result.stdout or "").splitlines()]:
        if line.startswith("Error:"):
            return f" ({line.strip()})"
    return _last_line(result)


def _last_line(result: subprocess.CompletedProcess) -> str:
    """`` (<the last line of its error output>)``, or nothing when it printed none."""
    lines = (result.stderr or "").strip().splitlines()
    return f" ({lines[-1].strip()})" if lines else ""


def how_to_install() -> tuple[list[str] | None, str]:
    """How this process can run ``apt-get``: ``([], "")`` as root, ``(SUDO, "")`` with
    password-less sudo, else ``(None, why not)``."""
    if shutil.which("apt-get") is None:
        return None, "this machine has no apt-get"
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
