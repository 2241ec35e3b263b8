"""A MariaDB server that ``setup-db`` creates and owns: its own data folder, socket, port and log.

The folder (``EC_DB_DIR``, default ``~/.local/share/element-calcium/mariadb``) holds everything of the
server: ``data/`` (made by ``mariadb-install-db``), ``server.sock``, ``server.pid``, ``tmp/`` and
``server.log``. The server is started with ``--no-defaults``, so no system option file can send it to
another data folder or socket, and listens on 127.0.0.1 only. Its users are configured once, through its
own socket, right after its data folder is made; a server that was not made here is never configured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pymysql

MAX_SOCKET_PATH = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL
ACCESS_DENIED = 1045  # MySQL error: wrong user name or password


def program(name: str) -> str | None:
    """The path of a MariaDB program (``mariadbd`` lives in /usr/sbin, often not on a user's PATH)."""
    return shutil.which(name) or next(
        (str(path) for path in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if path.is_file()), None
    )


class LocalServer:
    """The server whose files lie in ``folder``.

    Args:
        folder: the server's own folder (created by `initialise`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder).expanduser().absolute()
        self.data = self.folder / "data"
        self.socket = self.folder / "server.sock"
        self.pid_file = self.folder / "server.pid"
        self.log = self.folder / "server.log"
        self.port_file = self.folder / "server.port"
        if len(os.fsencode(self.socket)) > MAX_SOCKET_PATH:
            raise ValueError(
                f"the database folder {self.folder} is too deep for the server's socket ({self.socket} is longer than "
                f"{MAX_SOCKET_PATH} bytes); set EC_DB_DIR to a shorter path"
            )

    @property
    def exists(self) -> bool:
        """Whether the data folder was made (by `initialise`)."""
        return (self.data / "mysql").is_dir()

    def pid(self) -> int | None:
        """The process id of the running server, or None when it does not run."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def port(self) -> int | None:
        """The port the server was last started on, or None before its first start."""
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def initialise(self) -> None:
        """Make the data folder with ``mariadb-install-db`` (``root`` with an empty password, reachable only
        through this server's socket and 127.0.0.1 until `configure_user` runs).

        Raises:
            FileNotFoundError: ``mariadb-install-db`` is not installed.
            RuntimeError: it failed; the message ends with its output.
        """
        install_db = program("mariadb-install-db")
        if install_db is None:
            raise FileNotFoundError("mariadb-install-db is not installed (Debian: apt-get install mariadb-server-core)")
        self.folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [install_db, "--no-defaults", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
             "--skip-test-db", *self._user()],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data, ignore_errors=True)
            raise RuntimeError(f"mariadb-install-db failed for {self.data}: {(result.stderr or result.stdout)[-1000:]}")

    def start(self, *, port: int, timeout_s: float = 60.0) -> None:
        """Start the server on ``port`` (127.0.0.1) in the background; return when its socket answers.

        Raises:
            FileNotFoundError: ``mariadbd`` is not installed.
            RuntimeError: it exited or did not answer within ``timeout_s``; the message ends with its log.
        """
        mariadbd = program("mariadbd")
        if mariadbd is None:
            raise FileNotFoundError("mariadbd is not installed (Debian: apt-get install mariadb-server-core)")
        (self.folder / "tmp").mkdir(exist_ok=True)
        self.port_file.write_text(f"{port}\n")
        with open(self.log, "a") as log:
            process = subprocess.Popen(
                [mariadbd, "--no-defaults", f"--datadir={self.data}", f"--port={port}", "--bind-address=127.0.0.1",
                 f"--socket={self.socket}", f"--pid-file={self.pid_file}", f"--tmpdir={self.folder / 'tmp'}",
                 "--skip-log-bin", "--max-allowed-packet=1G", "--character-set-server=utf8mb4", *self._user()],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with status {process.returncode}: {self._log_tail()}")
            try:
                self._connect().close()
                return
            except pymysql.MySQLError as error:
                if error.args and error.args[0] == ACCESS_DENIED:
                    return  # it answers; its root has a password of the user's choosing
                time.sleep(0.5)
        raise RuntimeError(f"mariadbd did not answer within {timeout_s:.0f} s: {self._log_tail()}")

    def configure_user(self, user: str, password: str) -> None:
        """Give ``user`` (at localhost and 127.0.0.1) ``password`` and every privilege, on this server only:
        the statements go through this server's own socket."""
        connection = self._connect()
        try:
            with connection.cursor() as cursor:
                for host in ("localhost", "127.0.0.1"):
                    cursor.execute("CREATE USER IF NOT EXISTS %s@%s", (user, host))
                    cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
                    cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION", (user, host))
                cursor.execute("FLUSH PRIVILEGES")
        finally:
            connection.close()

    def _connect(self) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=str(self.socket), user="root", password="", autocommit=True,
                               connect_timeout=5)

    def _log_tail(self) -> str:
        try:
            return " ".join(self.log.read_text(errors="replace")[-1500:].split())
        except OSError:
            return "(no log)"

    @staticmethod
    def _user() -> list[str]:
        """mariadbd refuses to run as root unless told to; other users run it as themselves."""
        return ["--user=root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
