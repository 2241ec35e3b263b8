"""Database connection settings and ``setup-db``: make sure a MySQL-compatible server answers.

Credentials are DataJoint's (``datajoint.json``, ``.secrets/``, ``DJ_HOST``, ``DJ_PORT``,
``DJ_USER``, ``DJ_PASS``); where none are given the pipeline uses ``root`` with an empty
password on the local server, which is what ``setup-db`` creates.

``setup_database`` tries, in order: a server that already answers; ``docker compose up -d db``
where a Docker engine runs; Debian's ``mariadb-server`` installed with ``apt-get`` and started
in the background (as root); otherwise it prints what the user must do. Running it again
changes nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import datajoint as dj
import pymysql

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yaml"
ACCESS_DENIED = 1045  # MySQL error: wrong user name or password
MARIADB_LOG = Path("/var/log/element-calcium-mariadb.log")


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


def connect() -> dj.Connection:
    """DataJoint's connection, with the configured credentials (`configure`).

    Raises:
        ConnectionError: one line saying what the server answered and what to set: wrong credentials
            (MySQL error 1045), or no server at the configured host and port.
    """
    settings = configure()
    try:
        return dj.conn()
    except pymysql.MySQLError as error:
        code = error.args[0] if error.args else None
        reason = error.args[1] if len(error.args) > 1 else str(error)
        where = f"the database at {settings.host}:{settings.port}"
        if code == ACCESS_DENIED:
            raise ConnectionError(
                f"{where} refused user {settings.user!r}: wrong password or unknown user; set DJ_USER and DJ_PASS "
                "(or database.user and database.password in datajoint.json)"
            ) from None
        raise ConnectionError(
            f"cannot connect to {where} ({reason}); start a server with `element-calcium setup-db`, or set "
            "DJ_HOST and DJ_PORT"
        ) from None


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


def _mariadbd() -> str | None:
    return shutil.which("mariadbd") or (os.path.exists("/usr/sbin/mariadbd") and "/usr/sbin/mariadbd") or None


def _sql_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _create_user_sql(settings: DatabaseSettings) -> str:
    user, password = _sql_quote(settings.user), _sql_quote(settings.password)
    statements = []
    for host in ("localhost", "127.0.0.1"):
        account = f"{user}@{_sql_quote(host)}"
        statements += [
            f"CREATE USER IF NOT EXISTS {account}",
            f"ALTER USER {account} IDENTIFIED VIA mysql_native_password USING PASSWORD({password})",
            f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION",
        ]
    return ";\n".join(statements) + ";\nFLUSH PRIVILEGES;\n"


def _start_mariadb(settings: DatabaseSettings) -> str | None:
    if _mariadbd() is None:
        print("installing Debian's mariadb-server with apt-get ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update"], ["apt-get", "install", "-y", "mariadb-server"]):
            result = _run(command, env=env)
            if result.returncode != 0:
                print(result.stderr.strip()[-2000:])
                return None
    Path("/run/mysqld").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/mysqld", user="mysql", group="mysql")
    with open(MARIADB_LOG, "a") as log:
        subprocess.Popen(
            [_mariadbd(), "--user=mysql", "--bind-address=127.0.0.1", f"--port={settings.port}",
             "--max-allowed-packet=1G"],
            stdout=log, stderr=log, start_new_session=True,
        )
    for _ in range(60):
        if _run(["mariadb", "-uroot", "-e", "SELECT 1"]).returncode == 0:
            break
        time.sleep(1)
    result = _run(["mariadb", "-uroot"], input=_create_user_sql(settings))
    if result.returncode != 0:
        print(result.stderr.strip())
        return None
    return _wait_for(settings, timeout_s=30)


def _instructions(settings: DatabaseSettings) -> str:
    return (
        f"No database answers at {settings.host}:{settings.port} for user {settings.user!r}, and none could be started\n"
        "here (no working Docker engine; apt-get needs root). Do one of:\n"
        "  - docker compose up -d db            (MySQL 8, from this repository's docker-compose.yaml)\n"
        "  - sudo apt-get install mariadb-server && sudo service mariadb start, then create the user:\n"
        f"      CREATE USER '{settings.user}'@'localhost' IDENTIFIED BY '<password>';\n"
        f"      GRANT ALL PRIVILEGES ON *.* TO '{settings.user}'@'localhost';\n"
        "  - point DJ_HOST, DJ_PORT, DJ_USER, DJ_PASS at an existing MySQL 8 or MariaDB >= 10.11 server."
    )


def setup_database(*, install: bool = True) -> bool:
    """Make sure the configured server answers; start or install one if allowed. True when it answers."""
    settings = configure()
    version = server_answers(settings)
    if version:
        print(f"database answers at {settings.host}:{settings.port} (server {version}); nothing to do")
        return True
    if install and _docker_works():
        print("starting MySQL with docker compose ...")
        version = _start_with_docker(settings)
    elif install and _can_use_apt() and settings.host in ("localhost", "127.0.0.1"):
        version = _start_mariadb(settings)
    if version:
        print(f"database started at {settings.host}:{settings.port} (server {version})")
        return True
    print(_instructions(settings))
    return False
