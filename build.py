#!/usr/bin/env python3
"""Build the book: framework environments, notebooks under tabs/, execution, checks, tests.

    python build.py            the main job: env, convert, execute, then a summary table
    python build.py --help     every subcommand (env, convert, execute, check, test, lock)

This file only makes sure it runs in the tooling environment: when the interpreter that started
it lacks the tooling (jupytext, nbclient, nbval, ...), it creates ``.venv`` from
``requirements.txt`` (again whenever that lock changes) and re-runs itself there. Set
``TABBOOK_NO_VENV=1`` to use the current interpreter as it is (for instance a conda environment
made from environment.yml). Everything else lives in the ``tabbook`` package.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements.txt"
STAMP = VENV / ".tabbook-complete"


def _lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _bootstrap() -> None:
    """Re-run this script in .venv, creating or updating it first; return if already there."""
    if os.environ.get("TABBOOK_NO_VENV") == "1":
        return
    if _in_venv() and STAMP.is_file() and STAMP.read_text().strip() == _lock_hash():
        return
    python = VENV / "bin" / "python"
    if not (STAMP.is_file() and STAMP.read_text().strip() == _lock_hash() and python.exists()):
        print(f"tooling: installing {LOCK.name} into {VENV}", flush=True)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check",
                                 "--quiet", "-r", str(LOCK)])
        if result.returncode != 0:
            sys.exit(f"tooling: pip could not install {LOCK}; fix the cause above and run again")
        STAMP.write_text(_lock_hash() + "\n")
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    try:
        _bootstrap()
        sys.path.insert(0, str(ROOT))
        from tabbook.cli import main
    except KeyboardInterrupt:  # Ctrl-C before the command started: nothing was changed yet
        print("interrupted before the command started; nothing was changed", file=sys.stderr)
        sys.exit(130)
    sys.exit(main())
