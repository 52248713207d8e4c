"""The README (issue 22): short, its picture a real page of the book, and every command in it run
here: the export, the main job and the test command in a throwaway copy of the project
(tests/project.py) whose one chapter loads MNIST from the folder the export names, then the book
served as the README says."""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from dlblocks import data
from tabbook.frameworks import ROOT

from .conftest import cell
from .project import make_project, stop

README = ROOT / "README.md"
#: The README's picture: the screenshot test_book.py's test_screenshot_of_a_chapter_page takes
#: (a desktop page, conftest's default viewport), copied as docs/the-book.md says.
PICTURE, PICTURE_SIZE = "docs/images/custom-layers.png", (1300, 900)
#: Every command line of the README's bash blocks; each is run by the test named beside it.
COMMANDS = {
    "python3 build.py": "test_the_readmes_commands_on_a_copy_of_the_project",
    "python3 build.py test": "test_the_readmes_commands_on_a_copy_of_the_project",
    "python3 -m http.server -d build/html": "test_the_readmes_commands_on_a_copy_of_the_project",
    "export DLBLOCKS_MNIST_DIR=../shared/data/mnist": "test_the_readmes_commands_on_a_copy_of_the_project",
}


def readme_commands() -> list[str]:
    """The command lines of the README's ```bash blocks, each without its ``# comment``."""
    commands = []
    for token in MarkdownIt().parse(README.read_text()):
        if token.type == "fence" and token.info.strip() == "bash":
            commands += [line.split("#", 1)[0].strip() for line in token.content.splitlines()]
    return [command for command in commands if command]


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header (signature, then the IHDR chunk).

    Raises:
        AssertionError: ``path`` is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_readme_is_short_and_every_command_in_it_is_run_by_a_test():
    assert len(README.read_text().splitlines()) <= 150, "the reference belongs in docs/"
    commands = readme_commands()
    assert commands and len(commands) == len(set(commands))
    assert set(commands) == set(COMMANDS), "a command new to the README needs a test that runs it (COMMANDS)"
    tests = {name for name, value in globals().items() if name.startswith("test_") and callable(value)}
    assert set(COMMANDS.values()) <= tests


def test_the_readme_shows_a_picture_of_a_page_of_the_book():
    images = [child for token in MarkdownIt().parse(README.read_text()) if token.type == "inline"
              for child in token.children or [] if child.type == "image"]
    assert [image.attrGet("src") for image in images] == [PICTURE]
    assert len(images[0].content) > 40, "the picture says what it shows (alt text)"
    assert png_size(ROOT / PICTURE) == PICTURE_SIZE
    assert "test_screenshot_of_a_chapter_page" in (ROOT / "tests" / "test_book.py").read_text()
    how = (ROOT / "docs" / "the-book.md").read_text()
    assert f"cp build/test-artifacts/custom-layers.png {Path(PICTURE).parent}/" in how


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mnist_folder() -> Path:
    """The folder of the four MNIST files this run uses (``$DLBLOCKS_MNIST_DIR``, else the cache)."""
    folder = Path(os.environ.get(data.ENV_VAR) or data.DEFAULT_DIR).expanduser().resolve()
    assert any(folder.glob("train-images-idx3-ubyte*")), (
        f"no MNIST in {folder}: set {data.ENV_VAR} to the folder that holds the four files")
    return folder


@pytest.fixture
def short_tmp():
    """A TMPDIR with a short path: Chromium's singleton socket lives there, and a Unix socket's
    path has at most 107 bytes (Chromium aborts, "Socket path too long", under pytest's tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix="tabbook-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_readmes_commands_on_a_copy_of_the_project(tmp_path, short_tmp):
    """As the README says, on a checkout with a folder ../shared/data/mnist beside it: the export,
    `python3 build.py` (the main job: environments, the notebook executed, the book, its PDFs),
    `python3 build.py test` (nbval over that notebook and the copy's one unit test), then the book
    served with `python3 -m http.server -d build/html` (on a free port, not 8000)."""
    project = make_project(tmp_path)
    shutil.copytree(ROOT / "book", project.root / "book")
    shutil.copy(ROOT / "pytest.ini", project.root)
    shutil.copy(ROOT / "conftest.py", project.root)  # nbval in the reader's kernel; the table of time by part
    (project.root / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "sanitize.cfg", project.root / "tests")
    (project.root / "tests" / "test_unit.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    shared = tmp_path / "shared" / "data"
    shared.mkdir(parents=True)
    (shared / "mnist").symlink_to(_mnist_folder(), target_is_directory=True)
    project.write_chapter(cell("[pytorch]", "from dlblocks.data import load_mnist\n"
                                            "(train, _), (test, _) = load_mnist(download=False)\n"
                                            "print(train.shape, test.shape)"))
    env = {key: value for key, value in project.env().items() if key != data.ENV_VAR}
    env["TMPDIR"] = str(short_tmp)

    def shell(line: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", f"export DLBLOCKS_MNIST_DIR=../shared/data/mnist && {line}"],
                              cwd=project.root, env=env, capture_output=True, text=True, timeout=timeout)

    main = shell("python3 build.py", timeout=1200)
    assert main.returncode == 0, main.stdout[-3000:] + main.stderr[-3000:]
    notebook = (project.tabs / "pytorch" / "chap.ipynb").read_text()
    assert "(60000, 28, 28) (10000, 28, 28)" in notebook, "the cell read MNIST from ../shared"
    html = project.root / "build" / "html"
    assert (html / "chap.html").is_file() and list((html / "pdf").glob("*.pdf"))

    tested = shell("python3 build.py test", timeout=1200)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    # The table at the end of the run (conftest.py) counts the copy's unit test and the notebook's
    # items (its setup cell, its one code cell, the reader's view).
    assert "| other unit tests | 1 |" in tested.stdout and "| nbval: PyTorch | 3 |" in tested.stdout, tested.stdout

    port = _free_port()
    server = subprocess.Popen(["bash", "-c", f"exec python3 -m http.server -d build/html {port} --bind 127.0.0.1"],
                              cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until it listens (at most a minute), or it ended
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/chap.html", timeout=10) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert server.poll() is None, f"http.server ended with code {server.returncode}"
                time.sleep(0.1)
        else:
            raise AssertionError("http.server did not answer within a minute")
        assert "A chapter" in page
    finally:
        stop(server)
