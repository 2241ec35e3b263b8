"""``element-calcium setup-db`` never changes the users of a server it did not create.

Each test starts a MariaDB server of its own (``own_server``) to stand for a lab's existing server, and
points the default socket of MySQL clients (``MYSQL_UNIX_PORT``) at it, so that a statement sent "to the
local server" would land there. setup-db makes its own server in a folder of the test's.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymysql
import pytest
from own_server import own_server  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(pid: int, *, kill: bool) -> None:
    """Signal the server process ``pid`` and wait (at most a minute) until it has ended."""
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)


def users(server) -> list[tuple]:
    """Every account of ``server`` with its authentication and privileges."""
    return server.query("SELECT User, Host, Priv FROM mysql.global_priv ORDER BY User, Host")


def setup_db(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workflow.cli", "setup-db"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def db_dir():
    """A short folder for setup-db's server (its socket path must stay under 108 bytes); the server started
    there is stopped, by the process id in its pid file, and the folder removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ec-setup-"))
    yield folder / "server"
    pid_file = folder / "server" / "server.pid"
    if pid_file.is_file():
        stop(int(pid_file.read_text().strip()), kill=True)
    shutil.rmtree(folder, ignore_errors=True)


def environment(own_server, db_dir: Path, *, port: int, password: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJ_HOST": "127.0.0.1", "DJ_PORT": str(port), "DJ_USER": "root", "DJ_PASS": password,
        "EC_DB_DIR": str(db_dir),
        "MYSQL_UNIX_PORT": str(own_server.folder / "server.sock"),  # the "default socket" is the lab's server
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",  # no Docker engine: setup-db uses MariaDB's programs
    }


def test_setup_db_makes_its_own_server_and_leaves_the_existing_ones_users_untouched(own_server, db_dir):
    before = users(own_server)
    port = free_port()
    env = environment(own_server, db_dir, port=port, password="s3cret")

    first = setup_db(env)

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"database started at 127.0.0.1:{port}" in first.stdout
    assert users(own_server) == before  # no ALTER USER or GRANT reached the existing server
    own_server.connect().close()  # its root still logs in with an empty password
    made = pymysql.connect(host="127.0.0.1", port=port, user="root", password="s3cret")
    with made.cursor() as cursor:
        cursor.execute("SELECT @@datadir, @@socket")
        datadir, socket_path = cursor.fetchone()
    made.close()
    assert Path(datadir).resolve() == (db_dir / "data").resolve()
    assert Path(socket_path) == db_dir / "server.sock"

    again = setup_db(env)
    assert again.returncode == 0 and "nothing to do" in again.stdout

    stop(int((db_dir / "server.pid").read_text()), kill=False)  # stopped: setup-db starts it again
    restarted = setup_db(env)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert "starting the server setup-db made in" in restarted.stdout
    pymysql.connect(host="127.0.0.1", port=port, user="root", password="s3cret").close()
    assert users(own_server) == before


def test_setup_db_reports_a_server_that_refuses_the_credentials_and_changes_nothing(own_server, db_dir):
    before = users(own_server)
    env = environment(own_server, db_dir, port=own_server.port, password="not-its-password")

    result = setup_db(env)

    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout
    assert f"a server at 127.0.0.1:{own_server.port} refuses user 'root'" in lines[0]
    assert "changes no user or password of a server it did not create" in lines[0]
    assert "set DJ_USER and DJ_PASS" in lines[0]
    assert users(own_server) == before
    assert not db_dir.exists()  # and it made no server of its own either
