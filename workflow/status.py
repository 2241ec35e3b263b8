"""What is in the pipeline: row counts, work still to do, what runs now and how far it is, errors; and clearing
errors for a retry."""

from __future__ import annotations

from typing import Any

import datajoint as dj

from element_calcium import imaging
from workflow import session
from element_calcium.progress import duration_text, key_text, progress_text, running_keys


def pipeline_tables() -> list[type[dj.Table]]:
    """Master tables of the session schema and of the activated element_calcium schemas."""
    return imaging.master_tables([session, *imaging.activated_schemas()])


def table_counts() -> list[dict[str, Any]]:
    """Per table: ``rows``; for automatic tables also what is left to make, from what each table still has to
    populate (its key source less its rows), whether or not a worker has looked at it yet: ``pending`` (waiting
    for a worker), ``reserved`` (being computed now) and ``error`` (failed; ``element-calcium jobs --retry`` runs
    them again)."""
    rows = []
    for table in pipeline_tables():
        row = {"table": table.__name__, "rows": len(table())}
        if issubclass(table, (dj.Imported, dj.Computed)):
            to_make = table().key_source.proj() - table.proj()
            reserved = error = 0
            if table.jobs.is_declared:  # job keys restrict as values: the jobs table has no lineage to join on
                reserved = _count_among(to_make, table.jobs.reserved.keys())
                error = _count_among(to_make, (table.jobs & "status in ('error', 'ignore')").keys())
            row.update(pending=len(to_make) - reserved - error, reserved=reserved, error=error)
        rows.append(row)
    return rows


def _count_among(query, keys: list[dict[str, Any]]) -> int:
    return len(query & keys) if keys else 0


def running() -> list[dict[str, Any]]:
    """The keys being computed now, with host, process, last heartbeat and progress (`running_keys`)."""
    return running_keys(imaging.automatic_tables())


def describe_running(entry: dict[str, Any]) -> str:
    """One line of a `running` entry: ``Segmentation subject=...: fitting patches 3/4 patches (75%), 0.02
    patches/s, 50 s left (worker host, process 1234)``."""
    text = f"{entry['table']} {key_text(entry['key'])}: "
    progress = entry["progress"]
    if progress is None:
        text += "started; its step has reported no progress yet"
    else:
        text += progress_text(progress["step"], progress["done"], progress["total"], progress["unit"])
        if progress["rate"]:
            text += f", {progress['rate']:.3g} {progress['unit']}/s"
        if progress["seconds_left"] is not None and progress["done"] < progress["total"]:
            text += f", {duration_text(progress['seconds_left'])} left"
    return text + f" (worker {entry['host']}, process {entry['pid']})"


def job_errors(table_name: str | None = None) -> list[dict[str, Any]]:
    """Jobs in error: table, key (and ``key_text``, its ``attr=value,...`` form), message, host and time."""
    errors = []
    for table in _automatic(table_name):
        if not table.jobs.is_declared:
            continue
        for job in table.jobs.errors.to_dicts():
            errors.append(
                {
                    "table": table.__name__,
                    "key": {name: job[name] for name in table.jobs.primary_key},
                    "key_text": key_text({name: job[name] for name in table.jobs.primary_key}),
                    "error_message": job["error_message"],
                    "host": job["host"],
                    "completed_time": job["completed_time"],
                }
            )
    return errors


def retry_errors(table_name: str | None = None) -> int:
    """Clear jobs in error so that the next populate runs them again; the number cleared."""
    cleared = 0
    for table in _automatic(table_name):
        if table.jobs.is_declared:
            cleared += table.jobs.errors.delete_quick(get_count=True)
    return cleared


def _automatic(table_name: str | None) -> list[type[dj.Table]]:
    tables = imaging.automatic_tables()
    if table_name is None:
        return tables
    chosen = [table for table in tables if table.__name__ == table_name]
    if not chosen:
        raise ValueError(f"no automatic table named {table_name!r}; known: {[t.__name__ for t in tables]}")
    return chosen
