"""Installing a lock into a venv, and resolving direct pins into a lock: with uv where it runs,
with pip where it does not.

uv (``uv pip sync``) installs exactly the lock: every pinned package, at its version, and nothing
the lock does not list (the venv's own pip and setuptools stay). It is many times faster than pip
(README, "Environments"). uv does not read pip's configuration, so the indexes, find-links,
constraints and certificate pip is configured with (``pip config list``: its files and ``PIP_*``
variables) are passed to uv on its command line, and uv chooses among all indexes as pip does
(``--index-strategy unsafe-best-match``): the same wheels as pip would install. On this book's
build machine pip's find-links hold the CPU build of torch 2.13.0, which ``torch==2.13.0`` matches
(and prefers: ``2.13.0+cpu`` sorts after ``2.13.0``); without them PyPI's CUDA build is taken.

CUDA locks are resolved and installed without pip's find-links: a local folder of wheels is a
cache of builds for this machine, and it is where a CPU build (``torch 2.13.0+cpu``) would win
over PyPI's CUDA build of the same version.

``$TABBOOK_INSTALLER`` (``uv`` or ``pip``) forces one installer; by default uv is used where the
``uv`` package of the tooling environment provides its executable, and pip where it is missing
or where uv fails (the failure is reported, then pip tries).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import pyast
from .errors import BuildError

INSTALLER_VARIABLE = "TABBOOK_INSTALLER"
INSTALLERS = ("uv", "pip")
#: The platform every lock is resolved for (the wheels of TensorFlow 2.21 and torch 2.13 need glibc 2.28).
UV_PLATFORM, PYTHON_VERSION = "x86_64-manylinux_2_28", "3.11"
#: The same for pip, which takes exactly the platform tags it is given: glibc 2.28 and older.
PIP_PLATFORMS = ([f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
                 + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"])
#: pip options that decide which wheels are chosen, as ``pip config list`` names them.
INDEX_KEYS = ("index-url", "extra-index-url", "find-links", "no-index", "constraint", "cert")


@dataclasses.dataclass(frozen=True)
class PipConfig:
    """pip's effective configuration for ``pip install``: {option: value} (values as pip's config
    holds them, lists as whitespace-separated text)."""

    values: dict[str, str]

    def words(self, key: str) -> list[str]:
        """A list option (extra-index-url, find-links, constraint) as its items."""
        return self.values.get(key, "").split()

    def without(self, *keys: str) -> "PipConfig":
        """This configuration less ``keys``."""
        return PipConfig({key: value for key, value in self.values.items() if key not in keys})


def parse_pip_config(listing: str) -> PipConfig:
    """The effective ``pip install`` configuration from the output of ``pip config list``.

    Lines read ``section.key='value'``; sections are ``global``, ``install`` (pip's files,
    already merged in their order of precedence) and ``:env:`` (``PIP_*`` variables); for one key
    ``:env:`` overrides ``install``, which overrides ``global``. Sections of other commands are
    ignored. Raises nothing: a line that is not of that form is skipped.
    """
    rank = {"global": 0, "install": 1, ":env:": 2}
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, equals, text = line.partition("=")
        section, dot, key = name.rpartition(".")
        if not (equals and dot) or section not in rank:
            continue
        try:
            value = pyast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
        if key not in found or rank[section] >= found[key][0]:
            found[key] = (rank[section], str(value))
    return PipConfig({key: value for key, (_, value) in found.items()})


def pip_config() -> PipConfig:
    """pip's configuration as the tooling environment's pip reads it (``pip config list``); empty
    where that pip cannot tell (no pip: conda users without it)."""
    result = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    return parse_pip_config(result.stdout) if result.returncode == 0 else PipConfig({})


def for_device(config: PipConfig, device: str) -> PipConfig:
    """The configuration used for ``device``'s locks: without find-links for CUDA (module docstring)."""
    return config.without("find-links") if device == "cuda" else config


def uv_index_arguments(config: PipConfig) -> list[str]:
    """uv's arguments for pip's index options: ``--default-index``, ``--extra-index-url``,
    ``--find-links``, ``--no-index``, ``--constraints``, and pip's way of choosing among indexes."""
    arguments = ["--no-config", "--index-strategy", "unsafe-best-match"]
    if config.values.get("index-url"):
        arguments += ["--default-index", config.values["index-url"]]
    for key, option in (("extra-index-url", "--extra-index-url"), ("find-links", "--find-links"),
                        ("constraint", "--constraints")):
        for value in config.words(key):
            arguments += [option, value]
    if config.values.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        arguments.append("--no-index")
    return arguments


def uv_environment(config: PipConfig) -> dict[str, str]:
    """The environment of a uv command: this one, with pip's certificate bundle as uv's."""
    environment = dict(os.environ)
    if config.values.get("cert"):
        environment["SSL_CERT_FILE"] = config.values["cert"]
    return environment


def pip_environment(config: PipConfig, full: PipConfig) -> dict[str, str]:
    """The environment of a pip command that must see ``config`` where pip's own is ``full``: pip's
    own where they agree; else its configuration files switched off and ``config`` passed as
    ``PIP_*`` variables (pip cannot be told on its command line to forget a configured find-links)."""
    environment = dict(os.environ)
    if config == full:
        return environment
    environment = {key: value for key, value in environment.items() if not key.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    for key, value in config.values.items():
        environment["PIP_" + key.upper().replace("-", "_")] = value
    return environment


#: File descriptors every installer started here inherits (:func:`holding`).
_HELD: tuple[int, ...] = ()
#: The private temporary folder of the installers started here (:func:`create`), or None.
_SCRATCH: list[str] = []


@contextlib.contextmanager
def holding(fd: int):
    """While in the block, every installer started here inherits ``fd`` (an environment's lock:
    an installer that outlives its build keeps the lock until it ends)."""
    global _HELD
    previous = _HELD
    _HELD = (*previous, fd)
    try:
        yield
    finally:
        _HELD = previous


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run an installer: its output captured, the held locks inherited, its temporary files in
    the private folder of :func:`create` (removed whatever happens, a SIGTERM included)."""
    environment = dict(os.environ if env is None else env)
    if _SCRATCH:
        environment.update(TMPDIR=_SCRATCH[-1], TEMP=_SCRATCH[-1], TMP=_SCRATCH[-1])
    return subprocess.run(command, capture_output=True, text=True, env=environment, pass_fds=_HELD)


def find_uv() -> str | None:
    """The uv executable of the tooling environment (the ``uv`` package of requirements.txt), or
    None where it is missing or ``$TABBOOK_INSTALLER`` is ``pip``.

    Raises:
        BuildError: ``$TABBOOK_INSTALLER`` is neither ``uv`` nor ``pip``, or ``uv`` and uv is missing.
    """
    wanted = os.environ.get(INSTALLER_VARIABLE, "")
    if wanted and wanted not in INSTALLERS:
        raise BuildError(f"{INSTALLER_VARIABLE}={wanted!r} is not an installer; choose uv or pip")
    if wanted == "pip":
        return None
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        if wanted == "uv":
            raise BuildError(f"{INSTALLER_VARIABLE}=uv but uv is not installed in {sys.prefix}: "
                             "run python build.py (it installs requirements.txt), or pip install uv") from None
        return None


def install_commands(python: Path, lock: Path, device: str, uv: str | None,
                     config: PipConfig) -> list[tuple[str, list[str], dict[str, str]]]:
    """The commands that install ``lock`` into the venv of ``python``, in the order to try:
    [(installer, argv, environment)], uv first where ``uv`` is given, then pip."""
    used = for_device(config, device)
    commands = []
    if uv:
        commands.append(("uv", [uv, "pip", "sync", "--python", str(python), *uv_index_arguments(used), str(lock)],
                         uv_environment(used)))
    commands.append(("pip", [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                             "-r", str(lock)], pip_environment(used, config)))
    return commands


def install(python: Path, lock: Path, device: str, log=print, prefix: str = "", uv: str | None = "find",
            config: PipConfig | None = None) -> str:
    """Install exactly ``lock`` into the venv of ``python``: uv (default: :func:`find_uv`), or pip
    where uv is missing or fails (reported through ``log``). Return the installer that succeeded.

    Raises:
        BuildError: the last installer tried failed; the message holds its last lines.
    """
    commands = install_commands(python, lock, device, find_uv() if uv == "find" else uv,
                                pip_config() if config is None else config)
    for number, (name, command, environment) in enumerate(commands, 1):
        result = _run(command, environment)
        if result.returncode == 0:
            return name
        failure = _failure(command, result)
        if number == len(commands):
            raise BuildError(failure)
        log(f"{prefix}{failure}\n{prefix}{name} failed: installing with {commands[number][0]} instead")
    raise AssertionError("unreachable: the pip command is always last")


def bundled_wheels(base_python: str) -> list[Path]:
    """The wheels of pip and setuptools that ``base_python -m venv`` installs (ensurepip's), or []
    where the interpreter has none (Debian's python3 keeps them elsewhere)."""
    script = "import ensurepip, pathlib; print(pathlib.Path(ensurepip.__file__).parent / '_bundled')"
    result = subprocess.run([base_python, "-c", script], capture_output=True, text=True)
    return sorted(Path(result.stdout.strip()).glob("*.whl")) if result.returncode == 0 else []


def create(folder: Path, base_python: str, lock: Path, device: str, log=print, prefix: str = "") -> str:
    """Make the venv ``folder`` with ``base_python`` and install exactly ``lock`` into it, plus the
    pip and setuptools that Python's ``venv`` would install; return the installer used.

    With uv: a venv without pip (``venv --without-pip``, instant), then one ``uv pip sync`` of the
    lock and ensurepip's own wheels of pip and setuptools (offline): the same packages as ``venv``
    and pip give, without ensurepip's run of pip (4 s on an idle machine, 12 s on a loaded one).
    Where that fails, or uv is missing: ``python -m venv`` and :func:`install` (uv, then pip).
    The installers' temporary files go to a private folder that is removed however this ends
    (a SIGTERM that stops the build included), so no ``pip-*`` folder is left in the machine's.

    Raises:
        BuildError: the venv could not be made, or the last installer failed.
    """
    with tempfile.TemporaryDirectory(prefix="tabbook-install-", ignore_cleanup_errors=True) as scratch:
        _SCRATCH.append(scratch)  # pip's pip-* folders go here, and go with it
        try:
            return _create(folder, base_python, lock, device, log, prefix)
        finally:
            _SCRATCH.remove(scratch)


def _create(folder: Path, base_python: str, lock: Path, device: str, log, prefix: str) -> str:
    config, uv = pip_config(), find_uv()
    python = folder / "bin" / "python"
    seeds = bundled_wheels(base_python) if uv else []
    if uv and seeds:
        _venv([base_python, "-m", "venv", "--without-pip", str(folder)])
        with tempfile.TemporaryDirectory() as temporary:
            requirements = Path(temporary) / "requirements.txt"
            requirements.write_text(lock.read_text() + "\n" + "\n".join(map(str, seeds)) + "\n")
            _, command, environment = install_commands(python, requirements, device, uv, config)[0]
            result = _run(command, environment)
        if result.returncode == 0:
            return "uv"
        log(f"{prefix}{_failure(command, result)}\n{prefix}uv failed: building the environment with pip instead")
        shutil.rmtree(folder)
        uv = None
    _venv([base_python, "-m", "venv", str(folder)])
    return install(python, lock, device, log=log, prefix=prefix, uv=uv, config=config)


def _venv(command: list[str]) -> None:
    result = _run(command)
    if result.returncode != 0:
        raise BuildError(_failure(command, result))


def _failure(command: list[str], result: subprocess.CompletedProcess) -> str:
    return (f"`{' '.join(command)}` failed with exit code {result.returncode}:\n"
            f"{_tail(result.stdout + result.stderr, 15)}")


def resolve_commands(source: Path, device: str, constraints: list[Path], uv: str | None, config: PipConfig,
                     report: Path) -> list[tuple[str, list[str], dict[str, str]]]:
    """The commands that resolve ``source`` for Python 3.11 on x86_64 Linux without installing,
    in the order to try: ``uv pip compile`` (pins on stdout), then ``pip install --dry-run``
    (pins in the JSON ``report``)."""
    used = for_device(config, device)
    constrained = [argument for path in constraints for argument in ("-c", str(path))]
    commands = []
    if uv:
        commands.append(("uv pip compile", [uv, "pip", "compile", "--quiet", "--no-header", "--no-annotate",
                                            "--python-version", PYTHON_VERSION, "--python-platform", UV_PLATFORM,
                                            *uv_index_arguments(used), *constrained, str(source)],
                         uv_environment(used)))
    with_target = report.parent / "target"
    commands.append(("pip install --dry-run", [
        sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--dry-run",
        "--ignore-installed", "--only-binary=:all:", *(f"--platform={tag}" for tag in PIP_PLATFORMS), "--python-version",
        PYTHON_VERSION, "--implementation", "cp", "--target", str(with_target), "--report", str(report),
        *constrained, "-r", str(source)], pip_environment(used, config)))
    return commands


def resolve(source: Path, device: str, constraints: list[Path] = (), log=print,
            prefix: str = "") -> tuple[list[str], str]:
    """Resolve the requirements file ``source`` for Python 3.11 on x86_64 Linux, downloading
    metadata only; return (sorted ``name==version`` pins, the resolver's name).

    Raises:
        BuildError: the last resolver tried failed; the message holds its last lines.
    """
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        commands = resolve_commands(source, device, list(constraints), find_uv(), pip_config(), report)
        for number, (name, command, environment) in enumerate(commands, 1):
            result = subprocess.run(command, capture_output=True, text=True, env=environment)
            if result.returncode == 0:
                if name.startswith("uv"):
                    pins = [line.strip() for line in result.stdout.splitlines()
                            if line.strip() and not line.lstrip().startswith("#")]
                else:
                    installs = json.loads(report.read_text())["install"]
                    pins = [f"{item['metadata']['name']}=={item['metadata']['version']}" for item in installs]
                return sorted(pins, key=lambda pin: pin.split("==")[0].lower()), name
            failure = _failure(command, result)
            if number == len(commands):
                raise BuildError(failure)
            log(f"{prefix}{failure}\n{prefix}{name} failed: resolving with {commands[number][0]} instead")
    raise AssertionError("unreachable: the pip command is always last")


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
