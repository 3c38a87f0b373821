"""Which LOGLENS_HOME a command means: the variable, a .loglens folder above, or the running loglens dev."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from loglens.devtools.home import HomeError, HomeLock, registry_dir, require_home, resolve_home


def test_the_variable_wins(tmp_path: Path) -> None:
    home = resolve_home({"LOGLENS_HOME": str(tmp_path / "h")}, cwd=tmp_path)
    assert (home.path, home.how) == ((tmp_path / "h").resolve(), "LOGLENS_HOME")


def test_a_dot_loglens_folder_in_a_parent_is_found_like_git_finds_a_repository(tmp_path: Path) -> None:
    (tmp_path / ".loglens").mkdir()
    deep = tmp_path / "src" / "app"
    deep.mkdir(parents=True)
    home = resolve_home({"XDG_STATE_HOME": str(tmp_path / "state")}, cwd=deep)
    assert (home.path, home.how) == (tmp_path.resolve() / ".loglens", "found")


def test_elsewhere_the_one_running_server_is_used(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    folder = registry_dir(env)
    folder.mkdir(parents=True)
    server = {"home": str(tmp_path / "repo" / ".loglens"), "url": "http://127.0.0.1:8001", "pid": os.getpid()}
    (folder / "1.json").write_text(json.dumps({**server, "started_at": "2026-12-07T00:00:00+00:00"}))
    (folder / "2.json").write_text(json.dumps({**server, "pid": 2**22 + 12345, "started_at": "x"}))  # dead
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = resolve_home(env, cwd=elsewhere)
    assert (home.path, home.how) == (tmp_path / "repo" / ".loglens", "running")
    assert not (folder / "2.json").exists(), "a dead server's entry is cleaned up"


def test_two_running_servers_must_be_chosen_between(tmp_path: Path) -> None:
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    folder = registry_dir(env)
    folder.mkdir(parents=True)
    for n in (1, 2):
        data = {"home": f"/h{n}", "url": f"http://127.0.0.1:800{n}", "pid": os.getpid(), "started_at": "x"}
        (folder / f"{n}.json").write_text(json.dumps(data))
    with pytest.raises(HomeError, match=r"set LOGLENS_HOME to the one you mean.*/h1.*/h2"):
        resolve_home(env, cwd=tmp_path)


def test_no_home_at_all_says_what_to_set(tmp_path: Path) -> None:
    home = resolve_home({"XDG_STATE_HOME": str(tmp_path / "state")}, cwd=tmp_path)
    assert home.how == "default"
    with pytest.raises(HomeError, match=r"start `make dev`.*or set LOGLENS_HOME"):
        require_home(home)


def test_one_home_one_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    first = HomeLock(tmp_path / "home").acquire()
    first.announce("http://127.0.0.1:8000")
    with pytest.raises(HomeError, match=r"pid \d+\) at http://127.0.0.1:8000.*one home serves one loglens dev"):
        HomeLock(tmp_path / "home").acquire()
    first.release()
    assert not (tmp_path / "home" / "server.json").exists()
    HomeLock(tmp_path / "home").acquire().release()  # free again once the first has stopped
