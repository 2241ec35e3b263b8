"""Database connection settings and ``setup-db``: make sure a MySQL-compatible server answers.

Credentials are DataJoint's (``datajoint.json``, ``.secrets/``, ``DJ_HOST``, ``DJ_PORT``,
``DJ_USER``, ``DJ_PASS``); where none are given the pipeline uses ``root`` with an empty
password on the local server.

``setup_database`` changes no user or password of a server it did not create. In order:

1. a server at ``DJ_HOST:DJ_PORT`` accepts the credentials: nothing to do;
2. a server there refuses them (or something else holds the port): it says so and what to set;
3. the server that ``setup-db`` made before (its folder, ``EC_DB_DIR``) is started again;
4. MariaDB is installed: a server of its own is made in that folder (data, socket, log) and started on
   ``DJ_PORT``, and the configured user is given the configured password there, through its own socket
   (`workflow.local_server`);
5. a Docker engine runs: ``docker compose up -d db``;
6. as root with ``apt-get``: Debian's ``mariadb-server-core`` (the programs only; no system service is
   started) is installed, then as in 4;
7. otherwise it prints what the user can do.

Running it again changes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import datajoint as dj
import pymysql

from workflow.local_server import LocalServer, program
from workflow.paths import get_db_dir

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yaml"
ACCESS_DENIED = 1045  # MySQL error: wrong user name or password
LOCAL_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class DatabaseSettings:
    host: str
    port: int
    user: str
    password: str


def configure() -> DatabaseSettings:
    """Fill DataJoint's unset credentials with the local defaults and return the settings."""
    if dj.config["database.user"] is None:
        dj.config["database.user"] = "root"
    if dj.config["database.password"] is None:
        dj.config["database.password"] = ""
    password = dj.config["database.password"]
    if hasattr(password, "get_secret_value"):
        password = password.get_secret_value()
    return DatabaseSettings(
        host=dj.config["database.host"],
        port=int(dj.config["database.port"]),
        user=dj.config["database.user"],
        password=password,
    )


def unreachable_message(settings: DatabaseSettings, error: pymysql.MySQLError) -> str:
    """One line saying why the server at the settings' host and port refused or did not answer, and what to do."""
    code = error.args[0] if error.args else None
    reason = " ".join(str(error.args[1] if len(error.args) > 1 else error).split())
    where = f"the database at {settings.host}:{settings.port}"
    if code == ACCESS_DENIED:
        return (
            f"{where} refused user {settings.user!r}: wrong password or unknown user; set DJ_USER and DJ_PASS "
            "(or database.user and database.password in datajoint.json)"
        )
    return (
        f"cannot connect to {where} ({reason}); start one with `element-calcium setup-db`, or point DJ_HOST, "
        "DJ_PORT, DJ_USER and DJ_PASS (or datajoint.json) at a running server"
    )


def connect() -> dj.Connection:
    """DataJoint's connection, with the configured credentials (`configure`).

    DataJoint's own log lines about the attempt (such as falling back from TLS) are shown only when it
    succeeds; a failed attempt is one line, the ConnectionError's.

    Raises:
        ConnectionError: one line saying what the server answered and what to set: wrong credentials
            (MySQL error 1045), or no server at the configured host and port.
    """
    settings = configure()
    with _held_log_records(logging.getLogger("datajoint")) as held:
        try:
            connection = dj.conn()
        except pymysql.MySQLError as error:
            held.clear()
            raise ConnectionError(unreachable_message(settings, error)) from None
    return connection


@contextmanager
def _held_log_records(logger: logging.Logger):
    """Hold the records ``logger`` emits inside the block; those left in the yielded list are emitted after it."""
    held: list[logging.LogRecord] = []

    class Hold(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            held.append(record)
            return False

    hold = Hold()
    logger.addFilter(hold)
    try:
        yield held
    finally:
        logger.removeFilter(hold)
        for record in held:
            logger.handle(record)


def wait_until_answers(*, max_interval_s: float = 30.0) -> None:
    """Block until the configured server accepts the credentials: one log line when the wait starts (with
    the reason), one when it answers; probes every 1, 2, 4 ... seconds, at most ``max_interval_s`` apart.
    Returns at once when it answers. Wrong credentials are not waited for: ConnectionError."""
    settings = configure()
    log = logging.getLogger("element_calcium.worker")
    interval_s, waited = 1.0, False
    while True:
        error = _refusal(settings)
        if error is None:
            if waited:
                log.warning("database %s:%s answers; going on", settings.host, settings.port)
            return
        if error.args and error.args[0] == ACCESS_DENIED:
            raise ConnectionError(unreachable_message(settings, error))
        if not waited:
            log.warning("%s; waiting for it", unreachable_message(settings, error))
            waited = True
        time.sleep(interval_s)
        interval_s = min(2 * interval_s, max_interval_s)


def server_answers(settings: DatabaseSettings) -> str | None:
    """The server's version when it accepts these credentials, else None."""
    try:
        connection = pymysql.connect(
            host=settings.host, port=settings.port, user=settings.user, password=settings.password, connect_timeout=3
        )
    except pymysql.MySQLError:
        return None
    with connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            return cursor.fetchone()[0]


def _wait_for(settings: DatabaseSettings, timeout_s: float) -> str | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        version = server_answers(settings)
        if version:
            return version
        time.sleep(2)
    return None


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)


def _docker_works() -> bool:
    return shutil.which("docker") is not None and _run(["docker", "info"]).returncode == 0


def _start_with_docker(settings: DatabaseSettings) -> str | None:
    if not COMPOSE_FILE.is_file():
        return None
    env = {**os.environ, "DJ_PASS": settings.password, "DJ_PORT": str(settings.port)}
    result = _run(["docker", "compose", "-f", str(COMPOSE_FILE), "up", "-d", "db"], env=env)
    if result.returncode != 0:
        print(result.stderr.strip())
        return None
    return _wait_for(settings, timeout_s=180)


def _can_use_apt() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _refusal(settings: DatabaseSettings) -> pymysql.MySQLError | None:
    """None when the server accepts the credentials, else the error it (or the network) gave."""
    try:
        pymysql.connect(host=settings.host, port=settings.port, user=settings.user, password=settings.password,
                        connect_timeout=3).close()
    except pymysql.MySQLError as error:
        return error
    return None


def _port_in_use(settings: DatabaseSettings) -> bool:
    """Whether anything accepts TCP connections at the settings' host and port."""
    try:
        with socket.create_connection((settings.host, settings.port), timeout=3):
            return True
    except OSError:
        return False


def _install_server_programs() -> bool:
    """Install Debian's ``mariadb-server-core``: the server programs, without a system service that would start."""
    print("installing Debian's mariadb-server-core with apt-get (the programs only; no service is started) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "mariadb-server-core"]):
        result = _run(command, env=env)
        if result.returncode != 0:
            print(f"{' '.join(command)} failed: {result.stderr.strip()[-2000:]}")
            return False
    return True


def _start_own_server(settings: DatabaseSettings, server: LocalServer) -> str | None:
    """Start the server of ``server``'s folder on the configured port, making and configuring it first when
    its folder is new. None (after saying why) when it cannot."""
    try:
        if server.exists:
            print(f"starting the server setup-db made in {server.folder} ...")
            server.start(port=settings.port)
        else:
            print(f"making a MariaDB server of its own in {server.folder} (data, socket and log there) ...")
            server.initialise()
            server.start(port=settings.port)
            server.configure_user(settings.user, settings.password)
    except (OSError, RuntimeError) as error:
        print(f"could not start the server in {server.folder}: {error}")
        return None
    version = server_answers(settings)
    if version is None:
        print(
            f"the server setup-db made in {server.folder} runs but refuses user {settings.user!r} with the configured "
            "password; set DJ_USER and DJ_PASS to those it was made with, or move that folder away to make a new one"
        )
    return version


def _refused_message(settings: DatabaseSettings, error: pymysql.MySQLError, server: LocalServer) -> str:
    """Why the server holding the configured port cannot be used, and what to set; setup-db changes nothing there."""
    where = f"{settings.host}:{settings.port}"
    if server.pid() is not None and server.port() == settings.port:
        return (
            f"the server setup-db made in {server.folder} runs at {where} but refuses user {settings.user!r}; set "
            "DJ_USER and DJ_PASS to those it was made with"
        )
    if error.args and error.args[0] == ACCESS_DENIED:
        return (
            f"a server at {where} refuses user {settings.user!r} (wrong password or unknown user), and setup-db "
            "changes no user or password of a server it did not create: set DJ_USER and DJ_PASS (or datajoint.json) "
            "to an account of that server, or DJ_PORT to a free port for a server of setup-db's own"
        )
    reason = " ".join(str(error.args[-1] if error.args else error).split())
    return (
        f"something at {where} does not answer as a MySQL server ({reason}); set DJ_HOST and DJ_PORT to your "
        "database server, or DJ_PORT to a free port for a server of setup-db's own"
    )


def _instructions(settings: DatabaseSettings) -> str:
    return (
        f"No database answers at {settings.host}:{settings.port} for user {settings.user!r}, and none could be "
        "started here\n(no MariaDB programs, no working Docker engine; apt-get needs root). Do one of:\n"
        "  - install MariaDB's server programs (Debian: sudo apt-get install mariadb-server-core) and run\n"
        "    element-calcium setup-db again: it makes a server of its own in EC_DB_DIR;\n"
        "  - docker compose up -d db            (MySQL 8, from this repository's docker-compose.yaml);\n"
        "  - point DJ_HOST, DJ_PORT, DJ_USER, DJ_PASS at an existing MySQL 8 or MariaDB >= 10.11 server."
    )


def setup_database(*, install: bool = True) -> bool:
    """Make sure the configured server answers; start a server of its own if allowed (see the module's
    description). Never changes users or passwords of a server it did not create. True when it answers."""
    settings = configure()
    error = _refusal(settings)
    if error is None:
        print(f"database answers at {settings.host}:{settings.port} (server {server_answers(settings)}); "
              "nothing to do")
        return True
    server = LocalServer(get_db_dir())
    if _port_in_use(settings):
        print(_refused_message(settings, error, server))
        return False
    if server.pid() is not None:
        print(f"the server setup-db made in {server.folder} runs (process {server.pid()}) at port {server.port()}, "
              f"not at {settings.port}; set DJ_PORT={server.port()}")
        return False
    version = None
    local = settings.host in LOCAL_HOSTS
    if install and local and (server.exists or program("mariadbd")) and program("mariadb-install-db"):
        version = _start_own_server(settings, server)
    elif install and _docker_works():
        print("starting MySQL with docker compose ...")
        version = _start_with_docker(settings)
    elif install and local and _can_use_apt() and _install_server_programs():
        version = _start_own_server(settings, server)
    if version:
        print(f"database started at {settings.host}:{settings.port} (server {version})")
        return True
    print(_instructions(settings))
    return False
