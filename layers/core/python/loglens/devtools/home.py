"""Which LOGLENS_HOME a command means, and the `loglens dev` running in it.

`loglens dev` keeps its state (embedded PostgreSQL, spool, keys) in a home folder, `./.loglens` by
default. Other commands run from anywhere, so the home is found the way git finds a repository:
LOGLENS_HOME when set; else a `.loglens` folder in the current folder or a parent; else the one
running `loglens dev` on this machine (each registers itself in ~/.local/state/loglens/servers);
else an error that says exactly what to set. One home serves one `loglens dev` at a time: a second
one is refused by a lock in the home instead of sharing its database and spool.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

DEFAULT_HOME = ".loglens"
SERVER_FILE = "server.json"
URL_FILE = "url"  # the running server's base URL alone, for shell use: curl "$(cat .loglens/url)/api/v1/health"
LOCK_FILE = "dev.lock"


class HomeError(RuntimeError):
    """No home can be chosen, or the chosen one is in use; the message says what to do."""


@dataclass(frozen=True)
class Home:
    path: Path
    how: str  # "LOGLENS_HOME", "found", "running" or "default"


@dataclass(frozen=True)
class RunningServer:
    home: Path
    url: str
    pid: int
    started_at: str

    def describe(self) -> str:
        return f"loglens dev (pid {self.pid}) at {self.url}, LOGLENS_HOME={self.home}"


def registry_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "loglens" / "servers"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_server(path: Path) -> RunningServer | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        server = RunningServer(Path(data["home"]), str(data["url"]), int(data["pid"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return server if _alive(server.pid) else None


def running_server(home: Path) -> RunningServer | None:
    """The live `loglens dev` of this home, if one runs."""
    return _read_server(home / SERVER_FILE)


def running_servers(environ: Mapping[str, str] | None = None) -> list[RunningServer]:
    folder = registry_dir(environ)
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.glob("*.json")):
        server = _read_server(entry)
        if server is None:
            entry.unlink(missing_ok=True)  # a server that died without cleaning up
        else:
            found.append(server)
    return found


def resolve_home(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Home:
    env = os.environ if environ is None else environ
    if env.get("LOGLENS_HOME"):
        return Home(Path(env["LOGLENS_HOME"]).expanduser().resolve(), "LOGLENS_HOME")
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / DEFAULT_HOME).is_dir():
            return Home(folder / DEFAULT_HOME, "found")
    servers = running_servers(env)
    if len(servers) == 1:
        return Home(servers[0].home, "running")
    if len(servers) > 1:
        listed = "; ".join(s.describe() for s in servers)
        raise HomeError(f"several loglens dev servers run, so set LOGLENS_HOME to the one you mean: {listed}")
    return Home(here / DEFAULT_HOME, "default")


def require_home(home: Home) -> Home:
    """For commands that need an existing home (its database, its keys): say what to do when there is none."""
    if home.how == "default" and not home.path.is_dir():
        raise HomeError(
            f"no loglens home here: no {DEFAULT_HOME} folder in {home.path.parent} or its parents and no "
            "loglens dev running; start `make dev` (or `loglens dev`) in the repository, "
            "or set LOGLENS_HOME to its .loglens folder"
        )
    return home


class HomeLock:
    """Held by a running `loglens dev` for its lifetime: a second one on the same home is refused."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._file: IO[str] | None = None
        self._registered: Path | None = None

    def acquire(self) -> HomeLock:
        self.home.mkdir(parents=True, exist_ok=True)
        handle = open(self.home / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the server's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            other = running_server(self.home)
            who = other.describe() if other else f"another loglens dev uses LOGLENS_HOME={self.home}"
            raise HomeError(
                f"{who}: one home serves one loglens dev (its database and spool); stop that one, or run this "
                f"one with LOGLENS_HOME set to another folder and another port (make dev PORT=8001)"
            ) from None
        self._file = handle
        return self

    def announce(self, url: str, extra: Mapping[str, Any] | None = None) -> None:
        """Record the running server in the home and in this machine's registry, for other commands."""
        data = {
            "home": str(self.home.resolve()),
            "url": url,
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **(extra or {}),
        }
        text = json.dumps(data, indent=2) + "\n"
        (self.home / SERVER_FILE).write_text(text, encoding="utf-8")
        (self.home / URL_FILE).write_text(url + "\n", encoding="utf-8")
        try:
            folder = registry_dir()
            folder.mkdir(parents=True, exist_ok=True)
            self._registered = folder / f"{os.getpid()}.json"
            self._registered.write_text(text, encoding="utf-8")
        except OSError:
            self._registered = None  # a read-only HOME: discovery falls back to the folder walk

    def release(self) -> None:
        (self.home / SERVER_FILE).unlink(missing_ok=True)
        (self.home / URL_FILE).unlink(missing_ok=True)
        if self._registered is not None:
            self._registered.unlink(missing_ok=True)
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
