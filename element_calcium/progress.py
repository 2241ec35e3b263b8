"""How far the long steps are: tqdm bars or log lines while a key is computed, and the progress table.

A long step reports how far it is through `step_progress`, the ``progress(done, total)`` callback its compute
takes: a tqdm bar on a terminal (inside `showing_progress`), else a log line (logger ``element_calcium.progress``)
every `PROGRESS_LOG_S` seconds with the rate and the time left. While a reserved key is computed, the heartbeat
of `element_calcium.reservations` writes the latest report (`write_progress`) to the hidden table ``~progress``
of the key's schema, where `running_keys` (``element-calcium status``) reads what every worker computes.
"""

from __future__ import annotations

import builtins
import contextvars
import hashlib
import json
import logging
import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import pymysql

PROGRESS_LOG_S = 10.0  # seconds between the progress log lines of a step
PROGRESS_TABLE = "~progress"  # hidden table, one per schema, of the progress of reserved keys
_NO_SUCH_TABLE = 1146  # MySQL error: the table does not exist


def process_owner() -> tuple[str, int]:
    """What ``Job.reserve`` records as the reserving process: host name and process id."""
    return platform.node(), os.getpid()


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
    """Whether a progress bar can redraw itself: standard error is a terminal, or this runs in IPython (a
    Jupyter kernel)."""
    return (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) or getattr(builtins, "__IPYTHON__", False)


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
    its heartbeat to write to the progress table."""

    def __init__(self) -> None:
        self.step: StepProgress | None = None


@contextmanager
def reporting_to(board: ProgressBoard) -> Iterator[ProgressBoard]:
    """Inside the block, `step_progress` posts each step it opens on ``board``."""
    token = _board.set(board)
    try:
        yield board
    finally:
        _board.reset(token)


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
    values = (table_name, key_hash, key_json, *process_owner(), step.step[:64], step.unit[:16], step.done,
              step.total or 0, step.rate(), step.seconds_left()) if step is not None else (table_name, key_hash)
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
