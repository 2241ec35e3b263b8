"""A populate loop for cron jobs and long-running workers.

Several workers may run at once on different machines: each cycle reserves keys through
DataJoint's jobs tables, so every key is computed once. A key whose ``make()`` fails is
recorded in its table's jobs table with the error and the worker goes on with the next.

DataJoint leaves the job of a worker that was killed (SIGKILL, power loss) ``reserved``
forever. Each cycle returns such jobs to ``pending``: a reservation whose database
connection no longer exists is orphaned at once (visible for workers logging in as the same
database user), any other after ``orphan_timeout_s``.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import time
from typing import Any

from element_calcium import imaging

logger = logging.getLogger("element_calcium.worker")

DEFAULT_ORPHAN_TIMEOUT_S = 24 * 3600.0


def _user_name(account: str) -> str:
    return account.split("@", 1)[0]


def _repend(jobs, job: dict[str, Any]) -> None:
    key = {name: job[name] for name in jobs.primary_key}
    (jobs & key).delete_quick()
    jobs.insert1({**key, "status": "pending", "priority": job["priority"]})


def return_orphaned_jobs(tables, *, orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S) -> int:
    """Return reservations of dead workers to pending; the number returned."""
    connection = imaging.schema.connection
    live = {row[0] for row in connection.query("SELECT ID FROM information_schema.PROCESSLIST").fetchall()}
    me = _user_name(connection.get_user())
    returned = 0
    for table in tables:
        jobs = table.jobs
        if not jobs.is_declared:
            continue
        for job in jobs.reserved.to_dicts():
            if _user_name(job["user"]) == me and job["connection_id"] not in live:
                _repend(jobs, job)
                returned += 1
        returned += jobs.refresh(orphan_timeout=orphan_timeout_s)["orphaned"]
    return returned


def repend_own_interrupted_jobs(tables) -> None:
    """Jobs this process was computing when SIGTERM arrived go back to pending, not error."""
    for table in tables:
        mine = table.jobs.errors & {"host": platform.node(), "pid": os.getpid()} & "error_message LIKE 'SystemExit%%'"
        for job in mine.to_dicts():
            _repend(table.jobs, job)


def run_cycle(*, orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S) -> dict[str, dict[str, Any]]:
    """One pass: return orphaned jobs, then populate every automatic table with reservations."""
    tables = imaging.automatic_tables()
    returned = return_orphaned_jobs(tables, orphan_timeout_s=orphan_timeout_s)
    if returned:
        logger.info("returned %d orphaned reservation(s) to pending", returned)
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    for name, result in results.items():
        if result["success_count"] or result["error_list"]:
            logger.info("%s: %d made, %d failed", name, result["success_count"], len(result["error_list"]))
        for key, message in result["error_list"]:
            logger.error("%s %s: %s", name, key, message)
    return results


def run_worker(*, once: bool = False, sleep_s: float = 60.0, orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S) -> int:
    """Run populate cycles until SIGTERM/SIGINT (or once); returns the process exit code."""
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True
        logger.info("signal %d received: stopping after this cycle", signum)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logger.info("worker started on %s (pid %d)", platform.node(), os.getpid())
    try:
        while True:
            run_cycle(orphan_timeout_s=orphan_timeout_s)
            if once or stopping:
                break
            deadline = time.monotonic() + sleep_s
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(1.0, sleep_s))
            if stopping:
                break
    except SystemExit:
        # DataJoint turns SIGTERM during a make() into SystemExit; that key is not a failure.
        repend_own_interrupted_jobs(imaging.automatic_tables())
        logger.info("stopped by SIGTERM during a computation; its job is pending again")
    logger.info("worker stopped")
    return 0
