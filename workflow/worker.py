"""A populate loop for cron jobs and long-running workers.

Several workers may run at once on different machines: each cycle reserves keys through
DataJoint's jobs tables, so every key is computed once. A key whose ``make()`` fails is
recorded in its table's jobs table with the error and the worker goes on with the next.

While a worker computes a key it renews the reservation's heartbeat every ``heartbeat_s``
seconds (``element_calcium.reservations``). Each cycle returns to pending the reservations
whose heartbeat is older than ``orphan_timeout_s`` (a worker killed by SIGKILL or power loss);
a live computation keeps its key, across a database restart too.

The worker outlives the database: a cycle that finds the server away logs one line, waits for
it with backoff and runs again when it answers; a result computed meanwhile is inserted then.
SIGTERM or SIGINT stops the worker; a key it was computing goes back to pending. Each cycle also
removes the temporary files that killed writers left under the processed root
(`element_calcium.cleanup.remove_stale_temporaries`; `element-calcium cleanup` handles the rest).

Each long step logs how far it is every ``progress.PROGRESS_LOG_S`` seconds (frames registered,
patches fitted ... with the rate and the time left), and ``element-calcium status`` shows it. With
``once`` the exit code says whether every key of the cycle succeeded (0) or any failed (1), so a
cron job sees failures; the failed keys are logged, each with its error.
"""

from __future__ import annotations

import logging
import os
import platform
import signal
import time
from typing import Any

from element_calcium import cleanup, imaging
from element_calcium.progress import key_text
from element_calcium.reservations import (
    DEFAULT_ORPHAN_TIMEOUT_S,
    HEARTBEAT_S,
    is_outage,
    return_orphaned_jobs,
    wait_for_database,
)

__all__ = ["DEFAULT_ORPHAN_TIMEOUT_S", "HEARTBEAT_S", "failures", "return_orphaned_jobs", "run_cycle", "run_worker"]

logger = logging.getLogger("element_calcium.worker")

MIN_HEARTBEATS_PER_TIMEOUT = 3


def run_cycle(
    *, orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S, heartbeat_s: float = HEARTBEAT_S
) -> dict[str, dict[str, Any]]:
    """One pass: return orphaned reservations, remove stale temporary files, then populate every automatic table
    with reservations."""
    tables = imaging.automatic_tables()
    returned = return_orphaned_jobs(tables, orphan_timeout_s=orphan_timeout_s)
    if returned:
        logger.info("returned %d orphaned reservation(s) to pending", returned)
    removed = cleanup.remove_stale_temporaries(imaging.get_processed_root_dir())
    if removed:
        logger.info("removed %d stale temporary file(s) under the processed root", len(removed))
    results = imaging.populate_all(
        display_progress=False, reserve_jobs=True, suppress_errors=True, heartbeat_s=heartbeat_s
    )
    for name, result in results.items():
        if result["success_count"] or result["error_list"]:
            logger.info("%s: %d made, %d failed", name, result["success_count"], len(result["error_list"]))
        for key, message in result["error_list"]:
            logger.error("%s %s failed: %s", name, key_text(key), message)
    return results


def failures(results: dict[str, dict[str, Any]]) -> list[str]:
    """``"Table key"`` of each key that failed in a cycle's ``results`` (`run_cycle`)."""
    return [f"{name} {key_text(key)}" for name, result in results.items() for key, _ in result["error_list"]]


def run_worker(
    *,
    once: bool = False,
    sleep_s: float = 60.0,
    orphan_timeout_s: float = DEFAULT_ORPHAN_TIMEOUT_S,
    heartbeat_s: float = HEARTBEAT_S,
) -> int:
    """Run populate cycles until SIGTERM/SIGINT (or one complete cycle); returns the process exit code.

    Args:
        once: stop after one complete cycle (for cron).
        sleep_s: seconds between cycles.
        orphan_timeout_s: seconds without a heartbeat after which a reservation is returned to
            pending; at least three heartbeats.
        heartbeat_s: seconds between the heartbeats of this worker's reservations.

    Returns:
        0; with ``once``, 1 when a key failed in the cycle.
    """
    if orphan_timeout_s < MIN_HEARTBEATS_PER_TIMEOUT * heartbeat_s:
        raise ValueError(
            f"orphan timeout {orphan_timeout_s} s is shorter than {MIN_HEARTBEATS_PER_TIMEOUT} heartbeats of "
            f"{heartbeat_s} s: live reservations would be taken from their workers; raise the orphan timeout"
        )
    stopping = False
    cycling = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True
        logger.info("signal %d received: stopping", signum)
        if cycling:
            raise SystemExit(f"signal {signum} received")

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logger.info("worker started on %s (pid %d)", platform.node(), os.getpid())
    connection = imaging.schema.connection
    failed: list[str] = []
    try:
        while not stopping:
            cycling = True
            try:
                failed = failures(run_cycle(orphan_timeout_s=orphan_timeout_s, heartbeat_s=heartbeat_s))
            except Exception as error:
                if not is_outage(error):
                    raise
                wait_for_database(connection, error)
                continue  # the interrupted cycle runs again
            finally:
                cycling = False
            if once:
                break
            deadline = time.monotonic() + sleep_s
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(1.0, sleep_s))
    except SystemExit:
        logger.info("stopped during a cycle; a key it was computing is pending again")
    logger.info("worker stopped")
    if once and failed:
        logger.error("%d key(s) failed in this cycle: %s; `element-calcium jobs` shows the errors, "
                     "`element-calcium jobs --retry` runs them again", len(failed), "; ".join(failed))
        return 1
    return 0
