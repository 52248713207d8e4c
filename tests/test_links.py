"""Colab, discussion and header links point at the repository the book is published from: book/
conf.py's setting, else the checkout's `origin` remote when it is on GitHub, else no such link
(tabbook/origin.py, issue 22)."""
from __future__ import annotations

import subprocess

import pytest

from tabbook import book, convert, origin
from tabbook.source import read_chapter

from .conftest import FOUR, chapter_text


@pytest.mark.parametrize("remote", [
    "https://github.com/someone/four-frameworks.git", "https://github.com/someone/four-frameworks",
    "https://github.com/someone/four-frameworks/", "git@github.com:someone/four-frameworks.git",
    "ssh://git@github.com/someone/four-frameworks.git",
    "https://x-access-token:SECRET@github.com/someone/four-frameworks.git\n"])
def test_a_github_remote_gives_the_repository_address_without_credentials(remote):
    assert origin.github_address(remote) == "https://github.com/someone/four-frameworks"


@pytest.mark.parametrize("remote", ["https://gitlab.com/someone/four-frameworks.git", "/srv/git/book.git",
                                    "https://github.com.evil.org/someone/book", "https://github.com/someone", ""])
def test_any_other_remote_gives_none(remote):
    assert origin.github_address(remote) == ""


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_origin_remote_of_a_checkout(tmp_path):
    _git("init", "-q", cwd=tmp_path)
    assert origin.github_origin(tmp_path) == "", "no origin"
    _git("remote", "add", "origin", "git@github.com:someone/four-frameworks.git", cwd=tmp_path)
    assert origin.github_origin(tmp_path) == "https://github.com/someone/four-frameworks"
    _git("remote", "set-url", "origin", "https://gitlab.com/someone/four-frameworks.git", cwd=tmp_path)
    assert origin.github_origin(tmp_path) == ""
    assert origin.github_origin(tmp_path / "not-a-checkout") == ""


def _page(tmp_path, write_chapter) -> str:
    chapter = read_chapter(write_chapter(chapter_text(*FOUR, title="# Links")))
    notebooks = {name: convert.to_notebook(chapter, name) for name in chapter.frameworks}
    return book.chapter_page(chapter, notebooks, tmp_path / "src")


def test_without_a_setting_the_links_follow_the_origin_remote(tmp_path, write_chapter, monkeypatch):
    monkeypatch.delenv("TABBOOK_REPOSITORY", raising=False)
    monkeypatch.delenv("TABBOOK_DISCUSSIONS", raising=False)
    monkeypatch.setattr(origin, "github_origin", lambda root: "https://github.com/someone/fork")
    assert book.repository_settings() == ("https://github.com/someone/fork", "main")
    page = _page(tmp_path, write_chapter)
    assert "https://colab.research.google.com/github/someone/fork/blob/main/tabs/pytorch/chap.ipynb" in page
    assert "https://github.com/someone/fork/discussions?discussions_q=Links" in page


def test_without_a_setting_or_a_github_origin_there_is_no_such_link(tmp_path, write_chapter, monkeypatch):
    monkeypatch.delenv("TABBOOK_REPOSITORY", raising=False)
    monkeypatch.delenv("TABBOOK_DISCUSSIONS", raising=False)
    monkeypatch.setattr(origin, "github_origin", lambda root: "")
    assert book.repository_settings() == ("", "main")
    page = _page(tmp_path, write_chapter)
    assert "Download notebook" in page
    assert "colab" not in page.lower() and "github" not in page and "Discuss" not in page


def test_the_setting_wins_over_the_origin_remote(tmp_path, write_chapter, monkeypatch):
    monkeypatch.setenv("TABBOOK_REPOSITORY", "https://github.com/publisher/book")
    monkeypatch.delenv("TABBOOK_DISCUSSIONS", raising=False)
    monkeypatch.setattr(origin, "github_origin", lambda root: pytest.fail("the origin remote was read"))
    page = _page(tmp_path, write_chapter)
    assert "github/publisher/book/blob/main/tabs/pytorch/chap.ipynb" in page
    assert "https://github.com/publisher/book/discussions" in page
    monkeypatch.setenv("TABBOOK_REPOSITORY", "")
    assert "colab" not in _page(tmp_path, write_chapter).lower()
