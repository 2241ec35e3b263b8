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
- **Progress.** The heartbeat of a reserved key also writes the latest progress its step reports
  (`element_calcium.progress`) to the hidden table ``~progress`` of the key's schema.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
from typing import Any, Callable

import datajoint as dj
import deepdiff
import pymysql

from . import progress

logger = logging.getLogger("element_calcium.reservations")

HEARTBEAT_S = 10.0
DEFAULT_ORPHAN_TIMEOUT_S = 600.0
MAX_PROBE_INTERVAL_S = 30.0

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
        self, jobs, key: dict[str, Any], *, interval_s: float = HEARTBEAT_S,
        board: progress.ProgressBoard | None = None,
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
                        cursor.execute(self._sql, progress.process_owner())
                        step = self._board.step if self._board is not None else None
                        if step is not None and step.total:
                            progress.write_progress(cursor, *self._progress_of, step)
                            wrote_progress = True
                except Exception as error:  # the server away, or anything else: the next beat tries again
                    logger.debug("heartbeat missed (%s); retrying in %.0f s", _describe(error), self._interval_s)
                    if connection is not None:
                        connection.close()
                    connection = None
            if wrote_progress and connection is not None:
                with connection.cursor() as cursor:
                    progress.write_progress(cursor, *self._progress_of, None)
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
        args=progress.process_owner(),
    )


def _check_reserved(jobs, key: dict[str, Any]) -> None:
    """Lock the key's job for the open transaction; ReservationLost unless this process holds it."""
    row = jobs.connection.query((jobs & key).make_sql(["status", "host", "pid"]) + " FOR UPDATE").fetchone()
    if row is None or (row[0], row[1], int(row[2])) != ("reserved", *progress.process_owner()):
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
    with progress.reporting_to(progress.ProgressBoard()) as board, \
            Heartbeat(jobs, key, interval_s=heartbeat_s, board=board):
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
