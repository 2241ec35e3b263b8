"""A MariaDB server of a test's own, to stop, kill and restart without touching the shared server.

Fault tests take the ``own_server`` fixture (import it into the test module) and run real worker
processes against it with ``server.environment(tmp_path)`` (``DJ_HOST``, ``DJ_PORT``, ``DJ_USER``,
``DJ_PASS``, ``EC_DB_PREFIX`` and data roots of the test's own)::

    from own_server import own_server  # noqa: F401

    def test_something(own_server, tmp_path):
        env = own_server.environment(tmp_path)
        ...                   # start workers with env
        own_server.stop()     # the server goes away; its data stay
        own_server.start()    # the same data, the same port

The server listens on 127.0.0.1 at a free port, keeps its data and socket in a temporary folder
(removed afterwards) and lets ``root`` in with an empty password.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest


def _program(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(path) for path in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if path.is_file()), None
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OwnServer:
    """One ``mariadbd`` process over a data folder made by ``mariadb-install-db``.

    Args:
        folder: an empty folder for the data, the socket and the server's log.
        mariadbd: the server program.
        install_db: the ``mariadb-install-db`` program.
    """

    def __init__(self, folder: Path, *, mariadbd: str, install_db: str) -> None:
        self.folder = Path(folder)
        self.port = _free_port()
        self.log = self.folder / "server.log"
        self._mariadbd = mariadbd
        self._process: subprocess.Popen | None = None
        result = subprocess.run(
            [install_db, "--no-defaults", f"--datadir={self.folder / 'data'}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._user()],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stderr[-2000:]}")

    @staticmethod
    def _user() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start the server on its port and data; return once it accepts connections."""
        if self.running:
            raise RuntimeError("the server is already running")
        (self.folder / "tmp").mkdir(exist_ok=True)  # its own temporary tables, away from any other server's
        with open(self.log, "a") as log:
            self._process = subprocess.Popen(
                [self._mariadbd, "--no-defaults", f"--datadir={self.folder / 'data'}", f"--port={self.port}",
                 f"--socket={self.folder / 'server.sock'}", f"--pid-file={self.folder / 'server.pid'}",
                 f"--tmpdir={self.folder / 'tmp'}",
                 "--bind-address=127.0.0.1", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
                 "--max-allowed-packet=256M", *self._user()],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self._process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                self.connect().close()
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError(f"mariadbd did not accept connections within {timeout_s} s: {self.log.read_text()[-2000:]}")

    def stop(self, *, kill: bool = False, timeout_s: float = 60.0) -> None:
        """Shut the server down (SIGTERM: a clean shutdown; ``kill``: SIGKILL, a crash) and wait for it to end."""
        if not self.running:
            return
        self._process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def connect(self):
        """A new ``pymysql`` connection as root (autocommit)."""
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", autocommit=True,
                               connect_timeout=5)

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows of one statement, on a connection of its own."""
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, args)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def uptime_s(self) -> int:
        return int(self.query("SHOW GLOBAL STATUS LIKE 'Uptime'")[0][1])

    def environment(self, data_folder: Path) -> dict[str, str]:
        """Environment for pipeline processes on this server: a fresh schema prefix and data roots under
        ``data_folder`` (created)."""
        raw, processed = Path(data_folder) / "raw", Path(data_folder) / "processed"
        raw.mkdir(parents=True, exist_ok=True)
        processed.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "DJ_HOST": "127.0.0.1",
            "DJ_PORT": str(self.port),
            "DJ_USER": "root",
            "DJ_PASS": "",
            "EC_DB_PREFIX": f"ecfault_{uuid.uuid4().hex[:8]}_",
            "EC_RAW_ROOT": str(raw),
            "EC_PROCESSED_ROOT": str(processed),
            "EC_DEVICE": "cpu",
        }

    def remove(self) -> None:
        """Stop the server and delete its folder."""
        self.stop(kill=True)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_server():
    """A started MariaDB server of the test's own; killed and deleted afterwards."""
    mariadbd, install_db = _program("mariadbd"), _program("mariadb-install-db")
    if mariadbd is None or install_db is None:
        pytest.skip("fault tests need MariaDB's mariadbd and mariadb-install-db (Debian: mariadb-server)")
    # a short folder name: the socket path must stay under 108 bytes
    server = OwnServer(Path(tempfile.mkdtemp(prefix="ec-db-")), mariadbd=mariadbd, install_db=install_db)
    try:
        server.start()
        yield server
    finally:
        server.remove()
