"""The rough edges of a first session, as a new user meets them: ports, homes, errors and missing keys."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loglens.devtools.embedded import EmbeddedError, EmbeddedPostgres
from tests.e2e.conftest import REPO, free_port, start_dev, stop_dev


def loglens(*args: str, cwd: Path, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loglens", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without any loglens setting, as on a fresh shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOGLENS_", "DATABASE_URL", "ANTHROPIC_"))}
    env.pop("MODEL_PROVIDER", None)
    return {**env, **extra}


@pytest.fixture(scope="module")
def running(db_url: str) -> Iterator[tuple[str, Path]]:
    """A loglens dev with its own home and a generated API key, as `make dev` starts it."""
    home = Path(tempfile.mkdtemp(prefix="loglens-first-run-")) / ".loglens"
    port = free_port()
    process = start_dev(db_url, home, port, extra_env={"LOGLENS_API_KEY": ""})
    yield f"http://127.0.0.1:{port}", home
    stop_dev(process)


def test_a_second_dev_on_the_same_home_is_refused_naming_the_first(running: tuple[str, Path], db_url: str) -> None:
    url, home = running
    result = loglens("dev", "--port", str(free_port()), cwd=REPO, env=clean_env(LOGLENS_HOME=str(home)))
    assert result.returncode == 2
    assert "one home serves one loglens dev" in result.stderr and url in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_busy_port_says_how_to_pick_another(tmp_path: Path, db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(LOGLENS_HOME=str(tmp_path / "home"), DATABASE_URL=db_url)
        result = loglens("dev", "--port", str(port), cwd=REPO, env=env)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "make dev PORT=8001" in result.stderr


def test_make_dev_takes_a_port() -> None:
    result = subprocess.run(
        ["make", "-n", "dev", "PORT=8123"], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
    )
    assert "loglens dev --port 8123" in result.stdout


def test_commands_elsewhere_find_the_running_servers_home(running: tuple[str, Path], tmp_path: Path) -> None:
    # Given a shell in an unrelated folder with no LOGLENS_HOME
    _url, home = running
    # When the demo is sent from there
    result = loglens("demo", "--records", "40", "--days", "1", cwd=tmp_path, env=clean_env())
    # Then it found the running server's home (and its key) and sent everything to it
    assert result.returncode == 0, result.stderr
    assert f"using LOGLENS_HOME={home}" in result.stderr


def test_no_home_and_no_server_says_what_to_set(tmp_path: Path) -> None:
    env = clean_env(XDG_STATE_HOME=str(tmp_path / "empty-state"))
    result = loglens("db", "url", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "no loglens home here" in result.stderr and "set LOGLENS_HOME" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("database_url", "code", "says"),
    [
        ("postgresql://nobody:secret@127.0.0.1:1/loglens", 1, "cannot reach the database"),
        ("this is %% not a url", 2, "DATABASE_URL is not a valid connection string"),
    ],
)
def test_a_wrong_database_url_is_one_clear_line(tmp_path: Path, database_url: str, code: int, says: str) -> None:
    env = clean_env(LOGLENS_HOME=str(tmp_path / "home"), DATABASE_URL=database_url)
    result = loglens("dev", "--port", "0", cwd=REPO, env=env)
    assert result.returncode == code
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("loglens:")]
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "secret" not in result.stderr
    debug = loglens("--debug", "db", "migrate", cwd=REPO, env=env)
    assert "Traceback" in debug.stderr


def test_ask_without_credentials_answers_before_importing_the_model_sdk(tmp_path: Path) -> None:
    env = clean_env(LOGLENS_HOME=str(tmp_path), DATABASE_URL="postgresql://unused@127.0.0.1:1/x")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loglens", "ask", "how many errors?"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "no model credentials: set ANTHROPIC_API_KEY" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import")}
    assert not {name for name in imported if name.split(".")[0] in ("anthropic", "psycopg", "sqlglot", "httpx")}


def test_the_embedded_server_moves_off_a_taken_port_and_names_its_log_when_it_fails(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedPostgres(tmp_path / "home", port, fast=True, port_explicit=False)
        try:
            server.start()
            # Then it runs on another port and says so
            assert server.port != port and server.status()["port"] == server.port
            assert server.port_note == f"port {port} is taken, so the embedded PostgreSQL listens on {server.port}"
            server.stop()
            # When the server cannot start, the error names the log file and quotes it
            with open(server.pgdata / "postgresql.conf", "a") as conf:
                conf.write("\nnot_a_real_setting = 1\n")
            with pytest.raises(EmbeddedError) as failure:
                server.start()
            assert str(server.log_path) in str(failure.value) and "not_a_real_setting" in str(failure.value)
        finally:
            server.destroy()
