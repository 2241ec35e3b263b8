"""Populate through the jobs tables so that a database restart, an outage or a killed worker breaks nothing.

DataJoint's jobs tables let several processes share the keys of an automatic table: a process
reserves a key, computes it and completes it. This module adds what keeps that sound when the
database or a worker goes away:

- **Heartbeat.** While a key is computed, a thread with a database connection of its own renews
  the reservation's ``reserved_time`` every ``heartbeat_s`` seconds (server time), so
  ``reserved_time`` is the reservation's last heartbeat. ``return_orphaned_jobs`` returns a
  reservation to pending only when its heartbeat is older than the orphan timeout and the server
  has been up at least that long: a live computation keeps its key through a server restart,
  while the key of a killed worker is pending again one timeout after its last heartbeat.
- **Outages.** A query that finds the server out of reach waits for it: one log line when the
  wait starts, probes with backoff, one line when the server answers again, and the work goes on.
  A result computed while the server was away is inserted when it returns without being computed
  again: ``make_fetch`` runs again and must give the same inputs (DataJoint's check), and
  ``make_compute`` returns the result it already has for those inputs.
- **Ownership.** The insert transaction first locks the key's job and checks that this process
  still holds the reservation; a result whose reservation was returned to pending (a worker cut
  off from the server for longer than the timeout) is dropped rather than inserted beside another
  worker's.
- **Progress.** A long step reports how far it is through `step_progress`, the ``progress(done,
  total)`` callback its compute takes: a tqdm bar on a terminal, else a log line every
  ``PROGRESS_LOG_S`` seconds with the rate and the time left. The heartbeat of a reserved key also
  writes the latest progress to the hidden table ``~progress`` of the key's schema, where
  `running_keys` (``element-calcium status``) reads what every worker is computing and how far it is.
"""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import json
import logging
import os
import platform
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import datajoint as dj
import deepdiff
import pymysql

logger = logging.getLogger("element_calcium.reservations")

HEARTBEAT_S = 10.0
DEFAULT_ORPHAN_TIMEOUT_S = 600.0
MAX_PROBE_INTERVAL_S = 30.0
PROGRESS_LOG_S = 10.0  # seconds between the progress log lines of a step
PROGRESS_TABLE = "~progress"  # hidden table, one per schema, of the progress of reserved keys

# MySQL/MariaDB error numbers that mean the server is out of reach, not that the statement is wrong
_OUTAGE_ERRORS = frozenset({
    1053,  # server shutdown in progress
    1927,  # connection killed (MariaDB, at shutdown)
    2002,  # cannot connect through the socket
    2003,  # cannot connect over TCP
    2006,  # server has gone away
    2013,  # connection lost during a query
    2055,  # connection lost while reading
    4031,  # disconnected by the server (MySQL 8)
})
# outage errors after which the server answered at once: more in a row mean the statement itself
# breaks the connection (e.g. a row larger than max_allowed_packet) and the error is recorded
_MAX_QUICK_RECOVERIES = 3

_NO_SUCH_TABLE = 1146  # MySQL error: the table does not exist

_PENDING = "`status`='pending', `reserved_time`=NULL, `host`='', `pid`=0, `connection_id`=0, `user`=''"


class ReservationLost(Exception):
    """This process no longer holds the reservation of the key it computed."""


def is_outage(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from or while handling, says the server is out of reach."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, (dj.errors.LostConnectionError, pymysql.err.InterfaceError, ConnectionError)):
            return True
        if isinstance(error, pymysql.err.OperationalError) and error.args and error.args[0] in _OUTAGE_ERRORS:
            return True
        error = error.__cause__ or error.__context__
    return False


def _owner() -> tuple[str, int]:
    """What ``Job.reserve`` records as the reserving process: host name and process id."""
    return platform.node(), os.getpid()


def _open(conn_info: dict[str, Any], *, timeout_s: float) -> pymysql.connections.Connection:
    """A plain connection with the credentials of a DataJoint connection (autocommit)."""
    password = conn_info["passwd"]
    tls = conn_info.get("ssl_input")  # None: TLS where the server offers it, as DataJoint does
    return pymysql.connect(
        host=conn_info["host"],
        port=int(conn_info["port"]),
        user=conn_info["user"],
        password=password.get_secret_value() if hasattr(password, "get_secret_value") else password,
        connect_timeout=timeout_s,
        read_timeout=max(timeout_s, 60.0),
        write_timeout=max(timeout_s, 60.0),
        autocommit=True,
        **({"ssl_disabled": True} if tls is False else {"ssl": tls} if isinstance(tls, dict) else {}),
    )


def _describe(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def wait_for_database(connection: dj.Connection, error: BaseException | None = None) -> float:
    """Wait until the server of ``connection`` answers, reconnect it, and return the seconds waited.

    Logs one warning as the wait starts (naming ``error``, the failure that sent the caller here)
    and one when the server answers again; probes with a fresh connection every 1, 2, 4 ...
    seconds, at most ``MAX_PROBE_INTERVAL_S`` apart. A transaction the outage ended is forgotten.
    """
    info = connection.conn_info
    logger.warning(
        "database %s:%s out of reach (%s); waiting for it, probing up to every %.0f s",
        info["host"], info["port"], _describe(error) if error else "no answer", MAX_PROBE_INTERVAL_S,
    )
    started = time.monotonic()
    interval_s = 1.0
    while True:
        try:
            _open(info, timeout_s=5.0).close()  # a quiet probe: DataJoint's connect logs each failure
            connection.connect()
            connection.cancel_transaction()
            break
        except Exception as probe_error:
            if not is_outage(probe_error):
                raise
            time.sleep(interval_s)
            interval_s = min(2 * interval_s, MAX_PROBE_INTERVAL_S)
    waited_s = time.monotonic() - started
    logger.warning("database %s:%s answers again after %.0f s; going on", info["host"], info["port"], waited_s)
    return waited_s


def until_done(action: Callable[[], Any], connection: dj.Connection) -> Any:
    """``action()``, run again after each outage it meets once the server answers; its result.

    Errors other than outages propagate, and so does an outage error after which the server
    answered at once several times in a row (the statement itself breaks the connection).
    """
    quick_recoveries = 0
    while True:
        try:
            return action()
        except Exception as error:
            if not is_outage(error):
                raise
            waited_s = wait_for_database(connection, error)
            quick_recoveries = quick_recoveries + 1 if waited_s < 1.0 else 0
            if quick_recoveries >= _MAX_QUICK_RECOVERIES:
                raise

# ---------------------------------------------------------------------------- progress


def key_text(key: dict[str, Any]) -> str:
    """A key as ``attribute=value,...``, dates and times in ISO-8601: the form the command line prints and takes."""

    def text(value: Any) -> str:
        if hasattr(value, "hour"):
            return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return str(value.item() if hasattr(value, "item") else value)

    return ",".join(f"{name}={text(value)}" for name, value in key.items())


def _key_json(key: dict[str, Any]) -> str:
    return json.dumps({name: str(value) for name, value in key.items()}, sort_keys=True)


def duration_text(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class _Display:
    bar: bool
    log_interval_s: float


_display = contextvars.ContextVar("progress_display", default=None)
_board = contextvars.ContextVar("progress_board", default=None)


@contextmanager
def showing_progress(*, bar: bool, log_interval_s: float | None = None) -> Iterator[None]:
    """Show the progress of the steps computed inside the block as tqdm bars on standard error (``bar``), or
    as a log line (logger ``element_calcium.progress``) at most every ``log_interval_s`` seconds per step
    (None: `PROGRESS_LOG_S`), and one when the step ends. Outside such a block progress is logged."""
    token = _display.set(_Display(bar=bar, log_interval_s=PROGRESS_LOG_S if log_interval_s is None else log_interval_s))
    try:
        yield
    finally:
        _display.reset(token)


def can_draw_bars() -> bool:
    """Whether a progress bar can redraw itself: standard error is a terminal, or this is a Jupyter kernel."""
    return (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) or "ipykernel" in sys.modules


class StepProgress:
    """The ``progress(done, total)`` callback of one step of one key; made by `step_progress`.

    Attributes:
        table_name, key: what is computed.
        step: what the step does, e.g. "registering frames".
        unit: what ``done`` and ``total`` count, e.g. "frames".
        done, total: the last report; total is None before the first.
    """

    def __init__(self, table_name: str, key: dict[str, Any], *, step: str, unit: str) -> None:
        self.table_name, self.key, self.step, self.unit = table_name, dict(key), step, unit
        self.done, self.total = 0, None
        self._display = _display.get() or _Display(bar=False, log_interval_s=PROGRESS_LOG_S)
        self._started = time.monotonic()
        self._logged: float | None = None
        self._bar = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = int(done), int(total)
        if self._display.bar:
            self._draw()
            return
        now = time.monotonic()
        if self._logged is None or now - self._logged >= self._display.log_interval_s or self.done >= self.total:
            self._logged = now
            logging.getLogger("element_calcium.progress").info("%s", self.describe())

    def rate(self) -> float | None:
        """Units per second since the step started; None before the first unit."""
        elapsed = time.monotonic() - self._started
        return self.done / elapsed if self.done and elapsed > 0 else None

    def seconds_left(self) -> float | None:
        """Time left at the rate so far (s); None without a rate."""
        rate = self.rate()
        return None if rate is None or self.total is None else max(self.total - self.done, 0) / rate

    def describe(self) -> str:
        """One line: what, how far, how fast and how long still, e.g. ``MotionCorrection subject=m1,...:
        registering frames 600/1500 frames (40%), 55.1 frames/s, 16 s left``."""
        total = self.total or 0
        text = f"{self.table_name} {key_text(self.key)}: {progress_text(self.step, self.done, total, self.unit)}"
        rate, left = self.rate(), self.seconds_left()
        if rate is not None:
            text += f", {rate:.3g} {self.unit}/s"
        if left is not None and self.done < total:
            text += f", {duration_text(left)} left"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _draw(self) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=self.total, unit=f" {self.unit}", desc=f"{self.table_name}: {self.step}",
                             leave=False, dynamic_ncols=True)
        self._bar.total = self.total
        self._bar.update(self.done - self._bar.n)


def progress_text(step: str, done: int, total: int, unit: str) -> str:
    """``registering frames 600/1500 frames (40%)``."""
    share = f" ({100 * done / total:.0f}%)" if total else ""
    return f"{step} {done}/{total} {unit}{share}"


@contextmanager
def step_progress(table_name: str, key: dict[str, Any], *, step: str, unit: str) -> Iterator[StepProgress]:
    """The ``progress(done, total)`` callback to hand to a long step's compute (`StepProgress`), shown as
    `showing_progress` says; the heartbeat of a reserved key writes it to the progress table. Closed (its bar
    removed) when the block ends."""
    progress = StepProgress(table_name, key, step=step, unit=unit)
    board = _board.get()
    if board is not None:
        board.step = progress
    try:
        yield progress
    finally:
        progress.close()
        if board is not None:
            board.step = None


class ProgressBoard:
    """The step that the computation of one reserved key reports through (`step_progress` sets ``step``), for
    its `Heartbeat` to write to the progress table."""

    def __init__(self) -> None:
        self.step: StepProgress | None = None


def _progress_sql(database: str) -> dict[str, str]:
    table = f"`{database}`.`{PROGRESS_TABLE}`"
    return {
        "create": (
            f"CREATE TABLE IF NOT EXISTS {table} (table_name varchar(64) NOT NULL, key_hash char(32) NOT NULL, "
            "key_json varchar(2000) NOT NULL, host varchar(255) NOT NULL, pid int NOT NULL, "
            "step varchar(64) NOT NULL, unit varchar(16) NOT NULL, done bigint NOT NULL, total bigint NOT NULL, "
            "rate double NULL, seconds_left double NULL, "
            "updated_time datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3), "
            "PRIMARY KEY (table_name, key_hash)) CHARACTER SET utf8mb4 COMMENT 'progress of the keys being computed'"
        ),
        "write": (
            f"INSERT INTO {table} (table_name, key_hash, key_json, host, pid, step, unit, done, total, rate, "
            "seconds_left) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
            "key_json=VALUES(key_json), host=VALUES(host), pid=VALUES(pid), step=VALUES(step), unit=VALUES(unit), "
            "done=VALUES(done), total=VALUES(total), rate=VALUES(rate), seconds_left=VALUES(seconds_left)"
        ),
        "delete": f"DELETE FROM {table} WHERE table_name=%s AND key_hash=%s",
        "read": f"SELECT table_name, key_json, step, unit, done, total, rate, seconds_left FROM {table}",
    }


def write_progress(cursor, database: str, table_name: str, key: dict[str, Any], step: StepProgress | None) -> None:
    """Record (or, with ``step`` None, remove) the progress of ``key`` of ``table_name`` in the progress table of
    ``database``, creating that table when it is missing, through ``cursor`` (a pymysql cursor)."""
    sql = _progress_sql(database)
    key_json = _key_json(key)
    key_hash = hashlib.md5(key_json.encode()).hexdigest()
    values = (table_name, key_hash, key_json, *_owner(), step.step[:64], step.unit[:16], step.done, step.total or 0,
              step.rate(), step.seconds_left()) if step is not None else (table_name, key_hash)
    statement = sql["write"] if step is not None else sql["delete"]
    try:
        cursor.execute(statement, values)
    except pymysql.err.ProgrammingError as error:
        if not error.args or error.args[0] != _NO_SUCH_TABLE:
            raise
        if step is not None:  # the first progress written in this schema: make its table
            cursor.execute(sql["create"])
            cursor.execute(statement, values)


def running_keys(tables) -> list[dict[str, Any]]:
    """What is being computed now: the reserved keys of ``tables`` with the host and process that computes each,
    the time of its last heartbeat and, where the step reports it, how far it is.

    Returns:
        One dictionary per reserved key: ``table``, ``key``, ``host``, ``pid``, ``heartbeat`` (datetime), and
        ``progress`` (None, or a dictionary with ``step``, ``unit``, ``done``, ``total``, ``rate`` (units per
        second) and ``seconds_left``).
    """
    running, progress = [], {}
    for table in tables:
        if not table.jobs.is_declared:
            continue
        if table.database not in progress:
            exists = table.connection.query(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
                args=(table.database, PROGRESS_TABLE),
            ).fetchone()[0]
            rows = table.connection.query(_progress_sql(table.database)["read"]).fetchall() if exists else []
            progress[table.database] = {
                (name, key_json): dict(zip(("step", "unit", "done", "total", "rate", "seconds_left"), rest))
                for name, key_json, *rest in rows
            }
        for job in table.jobs.reserved.to_dicts(order_by="reserved_time"):
            key = {name: job[name] for name in table.jobs.primary_key}
            running.append({
                "table": table.__name__, "key": key, "host": job["host"], "pid": job["pid"],
                "heartbeat": job["reserved_time"],
                "progress": progress[table.database].get((table.__name__, _key_json(key))),
            })
    return running



class Heartbeat:
    """Renews this process's reservation of one key every ``interval_s`` seconds, from a thread.

    The thread has a connection of its own, so the heartbeat goes on while the main thread
    computes or waits; a beat that fails (the server away) is retried at the next one. Use as a
    context manager around the computation of a reserved key.

    Args:
        jobs: the jobs table (``Table.jobs``) holding the reservation.
        key: the reserved key.
        interval_s: seconds between beats.
    """

    def __init__(
        self, jobs, key: dict[str, Any], *, interval_s: float = HEARTBEAT_S, board: ProgressBoard | None = None
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval must be positive, got {interval_s} s")
        self._sql = (
            f"UPDATE {jobs.full_table_name} SET `reserved_time`=CURRENT_TIMESTAMP(3)"
            f"{(jobs & key).where_clause()} AND `status`='reserved' AND `host`=%s AND `pid`=%s"
        )
        self._conn_info = jobs.connection.conn_info
        self._interval_s = interval_s
        self._board = board
        self._progress_of = (jobs.database, jobs.target.__class__.__name__, dict(key))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {jobs.table_name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        connection, wrote_progress = None, False
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    if connection is None:
                        connection = _open(self._conn_info, timeout_s=5.0)
                    with connection.cursor() as cursor:
                        cursor.execute(self._sql, _owner())
                        step = self._board.step if self._board is not None else None
                        if step is not None and step.total:
                            write_progress(cursor, *self._progress_of, step)
                            wrote_progress = True
                except Exception as error:  # the server away, or anything else: the next beat tries again
                    logger.debug("heartbeat missed (%s); retrying in %.0f s", _describe(error), self._interval_s)
                    if connection is not None:
                        connection.close()
                    connection = None
            if wrote_progress and connection is not None:
                with connection.cursor() as cursor:
                    write_progress(cursor, *self._progress_of, None)
        except Exception as error:  # the key's progress row stays; `running_keys` shows only reserved keys
            logger.debug("progress of %s not removed (%s)", self._progress_of[1], _describe(error))
        finally:
            if connection is not None:
                connection.close()


def return_orphaned_jobs(tables, *, orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S) -> int:
    """Return to pending the reservations without a heartbeat for ``orphan_timeout_s`` seconds; how many.

    Nothing is returned while the server has been up for less than ``orphan_timeout_s``: the
    workers that computed across a restart get a full timeout for their heartbeats to resume.
    Each table's stale reservations are returned by one conditional update, so a reservation
    whose heartbeat arrives meanwhile is kept.
    """
    if orphan_timeout_s <= 0:
        raise ValueError(f"orphan timeout must be positive, got {orphan_timeout_s} s")
    tables = list(tables)
    if not tables:
        return 0
    connection = tables[0].connection
    uptime_s = float(connection.query("SHOW GLOBAL STATUS LIKE 'Uptime'").fetchone()[1])
    if uptime_s < orphan_timeout_s:
        return 0
    stale = (
        "`status`='reserved' "
        f"AND `reserved_time` < CURRENT_TIMESTAMP(3) - INTERVAL {float(orphan_timeout_s)} SECOND"
    )
    return sum(
        connection.query(f"UPDATE {table.jobs.full_table_name} SET {_PENDING} WHERE {stale}").rowcount
        for table in tables
    )


def _release(jobs, key: dict[str, Any]) -> None:
    """Return this process's reservation of ``key`` to pending (a computation interrupted by a signal)."""
    jobs.connection.query(
        f"UPDATE {jobs.full_table_name} SET {_PENDING}{(jobs & key).where_clause()} "
        "AND `status`='reserved' AND `host`=%s AND `pid`=%s",
        args=_owner(),
    )


def _check_reserved(jobs, key: dict[str, Any]) -> None:
    """Lock the key's job for the open transaction; ReservationLost unless this process holds it."""
    row = jobs.connection.query((jobs & key).make_sql(["status", "host", "pid"]) + " FOR UPDATE").fetchone()
    if row is None or (row[0], row[1], int(row[2])) != ("reserved", *_owner()):
        raise ReservationLost(
            f"{jobs.target.__class__.__name__} {key}: the reservation was returned to pending while this process "
            "computed it (no heartbeat for longer than the orphan timeout); the result is dropped, not inserted"
        )


def _checked(insert: Callable, jobs, key: dict[str, Any]) -> Callable:
    def insert_if_reserved(*args, **kwargs):
        _check_reserved(jobs, key)
        return insert(*args, **kwargs)

    return insert_if_reserved


def _remembered(compute: Callable) -> Callable:
    """``make_compute`` that gives its last result again when called again with the same fetched inputs."""
    last: dict[str, Any] = {}

    def compute_once(key, *fetched):
        digest = deepdiff.DeepHash(fetched, ignore_iterable_order=False)[fetched]
        if last.get("digest") != digest:
            last.update(digest=digest, result=compute(key, *fetched))
        return last["result"]

    return compute_once


def _guarded(table: type[dj.Table], jobs, key: dict[str, Any]) -> dj.Table:
    """An instance of ``table`` whose make checks the reservation inside its insert transaction and, for
    fetch/compute/insert makes, computes once per fetched inputs however often the insert is retried."""
    instance = table()
    if inspect.isgeneratorfunction(instance.make):
        instance.make_compute = _remembered(instance.make_compute)
        instance.make_insert = _checked(instance.make_insert, jobs, key)
    else:
        instance.make = _checked(instance.make, jobs, key)
    return instance


def _job_message(error: BaseException) -> str:
    """The error as DataJoint records it in a jobs table: ``"ValueError: message"``."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _make_reserved(
    table: type[dj.Table], key: dict[str, Any], *, heartbeat_s: float, suppress_errors: bool
) -> bool | str:
    """Compute and insert one key this process has reserved, and complete or fail its job.

    Returns True when made, False when there was nothing to insert (already made, or the
    reservation was lost), else the error message, recorded in the jobs table (and the error
    raised unless ``suppress_errors``). The heartbeat also writes the progress the key's step reports.
    """
    jobs, connection = table.jobs, table.connection
    instance = _guarded(table, jobs, key)
    started = time.time()
    board = ProgressBoard()
    token = _board.set(board)
    try:
        with Heartbeat(jobs, key, interval_s=heartbeat_s, board=board):
            try:
                made = until_done(lambda: instance.populate(key, suppress_errors=False)["success_count"], connection)
            except ReservationLost as lost:
                logger.warning("%s", lost)
                return False
            except Exception as error:
                message, stack = _job_message(error), traceback.format_exc()
                until_done(lambda: jobs.error(key, error_message=message, error_stack=stack), connection)
                if not suppress_errors:
                    raise
                return message
            until_done(lambda: jobs.complete(key, duration=time.time() - started), connection)
    finally:
        _board.reset(token)
    return made == 1


def populate_reserved(
    table: type[dj.Table],
    *,
    suppress_errors: bool = False,
    display_progress: bool = False,
    heartbeat_s: float = HEARTBEAT_S,
) -> dict[str, Any]:
    """Populate ``table`` key by key through its jobs table, as DataJoint's ``populate(reserve_jobs=True)``
    does, with a heartbeat per reservation and outage waits (see the module's description).

    A key interrupted by SystemExit or KeyboardInterrupt (a worker's SIGTERM) goes back to pending.

    Args:
        table: an Imported or Computed table class.
        suppress_errors: record a failing key and go on; otherwise record it and raise its error.
        display_progress: a progress bar over the pending keys.
        heartbeat_s: seconds between the heartbeats of a reservation.

    Returns:
        ``{"success_count": int, "error_list": [(key, message), ...]}``.
    """
    from tqdm import tqdm

    jobs, connection = table.jobs, table.connection
    until_done(lambda: jobs.refresh(delay=-1), connection)
    pending = jobs.pending & "scheduled_time <= CURRENT_TIMESTAMP(3)"
    keys = until_done(lambda: pending.keys(order_by="priority ASC, scheduled_time ASC"), connection)
    made, errors = 0, []
    for key in tqdm(keys, desc=table.__name__) if display_progress else keys:
        try:
            if not until_done(lambda: jobs.reserve(key), connection):
                continue  # another process took it
            outcome = _make_reserved(table, key, heartbeat_s=heartbeat_s, suppress_errors=suppress_errors)
        except (SystemExit, KeyboardInterrupt):
            try:
                _release(jobs, key)
            except Exception as error:
                logger.warning("%s %s stays reserved (%s); it is pending again after the orphan timeout",
                               table.__name__, key, _describe(error))
            raise
        if isinstance(outcome, str):
            errors.append((key, outcome))
        made += outcome is True
    return {"success_count": made, "error_list": errors}
