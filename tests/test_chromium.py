"""On a machine without Chromium, build.py installs Debian's package where it may, else
downloads Playwright's, and says the command to run where neither works (tabbook/chromium.py,
issue 22).

No real apt-get runs here: PATH is a folder of stand-ins (apt-get, sudo) that record how they
were called, and the stand-in apt-get "installs" Chromium by writing an executable onto PATH.
Nor does Playwright download anything (this network blocks its host): its install command is
answered by a stand-in that writes a browser where Playwright's own API says it keeps it (under a
temporary PLAYWRIGHT_BROWSERS_PATH), or fails as a blocked download does."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tabbook import chromium, cli, pdf, workers
from tabbook.errors import BuildError

MANUAL = "sudo apt-get update && sudo apt-get install -y chromium"
#: The tooling venv's Python downloads Playwright's Chromium.
DOWNLOAD = [sys.executable, "-m", "playwright", "install", "--no-shell", "chromium"]
#: What Playwright 1.65's install printed here, where its download host is blocked (shortened).
BLOCKED_OUT = """Downloading Chrome for Testing 159.0.8154.6 (playwright chromium v1255) from https://...
Failed to install browsers
Error: Failed to download Chrome for Testing 159.0.8154.6 (playwright chromium v1255), caused by
Error: Download failure, code=1
    at ChildProcess.emit (node:events:514:20)
"""
BLOCKED_ERR = """Error: getaddrinfo ENOTFOUND cdn.playwright.dev
    at GetAddrInfoReqWrap.onlookupall [as oncomplete] (node:internal/dns/promises:101:17) {
  code: 'ENOTFOUND',
}
"""


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A PATH without Chromium: returns (bin folder, log of the stand-ins' calls, add(name, kind)).

    add("apt-get", "installs") puts an apt-get there that records its arguments and the value of
    DEBIAN_FRONTEND and writes bin/chromium on `install`; add("apt-get", "fails") one that exits
    100; add("sudo", "nopasswd") a sudo that runs its command, add("sudo", "asks") one that, like
    `sudo -n` where a password is needed, exits 1. Playwright's download is blocked unless
    add("playwright", "downloads") (a browser that starts) or add("playwright", "lacks-libraries")
    (one that cannot load libnss3, as on a machine without its system libraries)."""
    folder, log = tmp_path / "bin", tmp_path / "calls.log"
    folder.mkdir()
    log.write_text("")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setattr(chromium, "DEBIAN_PATH", tmp_path / "usr-bin-chromium")  # absent
    monkeypatch.setattr(chromium, "_is_root", lambda: False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    download = {"kind": "blocked"}
    run = chromium._run

    def stand_in(command):
        if command != DOWNLOAD:
            return run(command)
        with log.open("a") as calls:
            calls.write("playwright install\n")
        if download["kind"] == "blocked":
            return subprocess.CompletedProcess(command, 1, BLOCKED_OUT, BLOCKED_ERR)
        browser = chromium.playwright_path()
        assert browser.is_relative_to(tmp_path / "ms-playwright"), "Playwright's API said where"
        browser.parent.mkdir(parents=True)
        _script(browser, {"downloads": 'echo "Chromium 159.0.8154.6"\n',
                          "lacks-libraries": 'echo "chrome: error while loading shared libraries: libnss3.so: cannot '
                                             'open shared object file" >&2\nexit 127\n'}[download["kind"]])
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(chromium, "_run", stand_in)
    bodies = {
        ("apt-get", "installs"): f'echo "apt-get $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> {log}\n'
                                 f'case "$1" in install) printf "#!/bin/sh\\n" > {folder}/chromium; '
                                 f'/bin/chmod +x {folder}/chromium;; esac\n',
        ("apt-get", "fails"): f'echo "apt-get $*" >> {log}\necho "E: Unable to locate package chromium" >&2\nexit 100\n',
        ("sudo", "nopasswd"): f'echo "sudo $*" >> {log}\nwhile case "$1" in -*) true;; *) false;; esac; do shift; done\n'
                              '[ "$1" = true ] && exit 0\nexec "$@"\n',
        ("sudo", "asks"): f'echo "sudo $*" >> {log}\necho "sudo: a password is required" >&2\nexit 1\n',
    }

    def add(name: str, kind: str) -> None:
        if name == "playwright":
            download["kind"] = kind
        else:
            _script(folder / name, bodies[name, kind])

    return folder, log, add


def test_a_present_chromium_is_used_as_it_is(machine):
    folder, log, add = machine
    _script(folder / "chromium", "")
    add("apt-get", "installs")
    assert chromium.ensure() == str(folder / "chromium")
    assert log.read_text() == "", "nothing installed"


def test_root_installs_debians_chromium(machine, monkeypatch, capsys):
    folder, log, add = machine
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    add("apt-get", "installs")
    assert chromium.find() is None
    assert chromium.ensure() == str(folder / "chromium")
    assert log.read_text().splitlines() == [
        "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
        "apt-get install -y -qq --no-install-recommends chromium DEBIAN_FRONTEND=noninteractive"]
    out = capsys.readouterr().out
    assert "installing Debian's chromium" in out and f"installed at {folder / 'chromium'}" in out


def test_a_user_with_password_less_sudo_installs_it_through_sudo(machine):
    folder, log, add = machine
    add("apt-get", "installs")
    add("sudo", "nopasswd")
    assert chromium.ensure(log=lambda message: None) == str(folder / "chromium")
    assert log.read_text().splitlines() == [
        "sudo -n true",
        "sudo -n --preserve-env=DEBIAN_FRONTEND apt-get update -qq",
        "apt-get update -qq DEBIAN_FRONTEND=noninteractive",
        "sudo -n --preserve-env=DEBIAN_FRONTEND apt-get install -y -qq --no-install-recommends chromium",
        "apt-get install -y -qq --no-install-recommends chromium DEBIAN_FRONTEND=noninteractive"]


@pytest.mark.parametrize("tools, reason", [
    (["apt-get", "sudo-asks"], "this user is not root and sudo asks for a password"),
    (["apt-get"], "this user is not root and the machine has no sudo"),
    ([], "this machine has no apt-get"),
])
def test_without_apt_get_playwright_downloads_chromium_and_the_tool_uses_it(machine, tools, reason):
    folder, log, add = machine
    if "apt-get" in tools:
        add("apt-get", "installs")
    if "sudo-asks" in tools:
        add("sudo", "asks")
    add("playwright", "downloads")
    assert chromium.find() is None
    said = []
    found = chromium.ensure(log=said.append)
    assert found == str(chromium.playwright_path()) and found.startswith(os.environ["PLAYWRIGHT_BROWSERS_PATH"])
    assert chromium.find() == found, "the next run (and the browser tests' conftest) finds it without a download"
    assert "playwright install" in log.read_text() and "apt-get update" not in log.read_text()
    assert said == [f"chromium: not installed and {reason}; downloading Playwright's Chromium "
                    f"(python -m playwright install --no-shell chromium)", f"chromium: downloaded to {found}"]


@pytest.mark.parametrize("tools, reason", [
    (["apt-get", "sudo-asks"], "this user is not root and sudo asks for a password"),
    (["apt-get"], "this user is not root and the machine has no sudo"),
    ([], "this machine has no apt-get"),
])
def test_where_neither_install_works_the_error_gives_the_command(machine, tools, reason):
    _folder, log, add = machine
    if "apt-get" in tools:
        add("apt-get", "installs")
    if "sudo-asks" in tools:
        add("sudo", "asks")
    with pytest.raises(BuildError) as raised:
        chromium.ensure(log=lambda message: None)
    message = str(raised.value)
    assert message.startswith(f"the PDFs and the browser tests need Chromium, which is not installed; {reason}, "
                              "and Playwright's download failed (python -m playwright install --no-shell chromium "
                              "exited with code 1 (Error: getaddrinfo ENOTFOUND cdn.playwright.dev)): ")
    advice = MANUAL if "apt-get" in tools else chromium.NO_APT  # no apt-get: no apt-get advice
    assert message.endswith(f"install it with: {advice}  (then run this command again)")
    assert "apt-get update" not in log.read_text(), "apt-get never ran"
    assert "playwright install" in log.read_text()
    assert chromium.find() is None


def test_a_downloaded_browser_that_cannot_start_is_not_used(machine):
    """Playwright's Chromium needs system libraries (libnss3, ...) that a bare machine may lack."""
    _folder, _log, add = machine
    add("playwright", "lacks-libraries")
    with pytest.raises(BuildError) as raised:
        chromium.ensure(log=lambda message: None)
    assert (f"Playwright downloaded Chromium to {chromium.playwright_path()}, but it cannot start (exit code 127 "
            "(chrome: error while loading shared libraries: libnss3.so: cannot open shared object file)); the "
            f"system libraries it needs are missing: install Debian's Chromium, which brings them, with: {MANUAL}"
            ) == str(raised.value)


def test_a_failed_install_says_which_command_failed_and_why(machine, monkeypatch):
    _folder, log, add = machine
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    add("apt-get", "fails")
    with pytest.raises(BuildError, match=r"apt-get update -qq exited with code 100 \(E: Unable to locate package "
                                         r"chromium\); fix the cause, or install it yourself with: "):
        chromium.ensure(log=lambda message: None)
    assert log.read_text() == "apt-get update -qq\n", "the install is not tried after a failed update"


def test_build_py_test_installs_chromium_before_pytest_runs(machine, monkeypatch):
    folder, _log, add = machine
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    add("apt-get", "installs")
    calls = []
    monkeypatch.setattr(cli, "cmd_env", lambda args: None)
    monkeypatch.setattr(cli.subprocess, "call", lambda command, **options:
                        calls.append((command, (folder / "chromium").exists())) or 0)
    monkeypatch.setattr(workers, "count", lambda: 2)
    assert cli.main(["test", "tests/test_pdf.py"]) == 0
    assert calls == [([cli.sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadfile", "tests/test_pdf.py"], True)]
    assert cli.main(["test", "-n", "1", "tests/test_pdf.py"]) == 0, "the command line's own choice of workers"
    assert calls[-1] == ([cli.sys.executable, "-m", "pytest", "-n", "1", "tests/test_pdf.py"], True)


def test_build_py_test_without_a_way_to_install_stops_before_pytest(machine, monkeypatch, capsys):
    _folder, _log, add = machine
    add("apt-get", "installs")
    add("sudo", "asks")
    monkeypatch.setattr(cli, "cmd_env", lambda args: None)
    monkeypatch.setattr(cli.subprocess, "call", lambda command, **options: pytest.fail("pytest ran"))
    assert cli.main(["test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the PDFs and the browser tests need Chromium") and MANUAL in err


@pytest.mark.parametrize("way", ["apt-get", "playwright"])
def test_the_pdf_step_installs_chromium_before_it_starts_the_browser(machine, monkeypatch, tmp_path, way):
    """build.py's pdf step (in the main job too) gets Chromium itself, from Debian as root or
    else from Playwright; the browser it launches is the one installed."""
    folder, _log, add = machine
    if way == "apt-get":
        monkeypatch.setattr(chromium, "_is_root", lambda: True)
        add("apt-get", "installs")
        installed = folder / "chromium"
    else:
        add("playwright", "downloads")
        installed = chromium.playwright_path()
    source = tmp_path / "src"
    source.mkdir()
    (source / "index.md").write_text("# Book\n")
    monkeypatch.setattr(pdf.book, "run_sphinx", lambda builder, source_dir, out_dir, chapters:
                        out_dir.mkdir(parents=True, exist_ok=True) or (out_dir / "index.html").write_text("<p>"))
    launched = []

    class Stop(Exception):
        pass

    class Playwright:
        class chromium:
            @staticmethod
            def launch(executable_path, args):
                launched.append(executable_path)
                raise Stop

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    import playwright.sync_api
    monkeypatch.setattr(playwright.sync_api, "sync_playwright", Playwright)
    with pytest.raises(Stop):
        pdf.build([], source_dir=source, html_dir=tmp_path / "html", single_dir=tmp_path / "single")
    assert launched == [str(installed)]
    assert os.access(launched[0], os.X_OK)


def test_a_downloaded_browser_that_does_not_start_is_not_found(tmp_path, monkeypatch):
    """A Playwright download that lacks a system library (or was cut short) is on disk but fails
    to start: find() does not offer it, so ensure() explains instead of Playwright failing later."""
    broken = tmp_path / "chrome"
    broken.write_text("#!/bin/sh\necho 'error while loading shared libraries: libnss3.so' >&2\nexit 127\n")
    broken.chmod(0o755)
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(chromium, "DEBIAN_PATH", tmp_path / "absent")
    monkeypatch.setattr(chromium, "playwright_path", lambda: broken)
    assert chromium.find() is None
    broken.write_text("#!/bin/sh\necho 'Chromium 140'\n")
    assert chromium.find() == str(broken)
