"""On a machine without Chromium, build.py installs Debian's package where it may, and says the
command to run where it may not (tabbook/chromium.py, issue 22).

No real apt-get runs here: PATH is a folder of stand-ins (apt-get, sudo) that record how they
were called, and the stand-in apt-get "installs" Chromium by writing an executable onto PATH."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tabbook import chromium, cli, pdf
from tabbook.errors import BuildError

MANUAL = "sudo apt-get update && sudo apt-get install -y chromium"


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A PATH without Chromium: returns (bin folder, log of the stand-ins' calls, add(name, kind)).

    add("apt-get", "installs") puts an apt-get there that records its arguments and the value of
    DEBIAN_FRONTEND and writes bin/chromium on `install`; add("apt-get", "fails") one that exits
    100; add("sudo", "nopasswd") a sudo that runs its command, add("sudo", "asks") one that, like
    `sudo -n` where a password is needed, exits 1."""
    folder, log = tmp_path / "bin", tmp_path / "calls.log"
    folder.mkdir()
    log.write_text("")
    monkeypatch.setenv("PATH", str(folder))
    monkeypatch.setattr(chromium, "DEBIAN_PATH", tmp_path / "usr-bin-chromium")  # absent
    monkeypatch.setattr(chromium, "_is_root", lambda: False)
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
def test_where_it_cannot_be_installed_the_error_gives_the_command(machine, tools, reason):
    _folder, log, add = machine
    if "apt-get" in tools:
        add("apt-get", "installs")
    if "sudo-asks" in tools:
        add("sudo", "asks")
    with pytest.raises(BuildError) as raised:
        chromium.ensure(log=lambda message: pytest.fail(f"nothing is installed, yet it said: {message}"))
    message = str(raised.value)
    assert reason in message and f"install it with: {MANUAL}" in message
    assert "apt-get update" not in log.read_text(), "apt-get never ran"
    assert chromium.find() is None


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
    assert cli.main(["test", "tests/test_pdf.py"]) == 0
    assert calls == [([cli.sys.executable, "-m", "pytest", "tests/test_pdf.py"], True)]


def test_build_py_test_without_a_way_to_install_stops_before_pytest(machine, monkeypatch, capsys):
    _folder, _log, add = machine
    add("apt-get", "installs")
    add("sudo", "asks")
    monkeypatch.setattr(cli, "cmd_env", lambda args: None)
    monkeypatch.setattr(cli.subprocess, "call", lambda command, **options: pytest.fail("pytest ran"))
    assert cli.main(["test"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the PDFs and the browser tests need Chromium") and MANUAL in err


def test_the_pdf_step_installs_chromium_before_it_starts_the_browser(machine, monkeypatch, tmp_path):
    """build.py's pdf step (in the main job too) gets Chromium itself; the browser it launches
    is the one installed."""
    folder, _log, add = machine
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    add("apt-get", "installs")
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
    assert launched == [str(folder / "chromium")]
    assert os.access(launched[0], os.X_OK)
