"""What is in the pipeline: row counts, jobs, errors; and clearing errors for a retry."""

from __future__ import annotations

from typing import Any

import datajoint as dj

from element_calcium import imaging


def pipeline_tables() -> list[type[dj.Table]]:
    """Master tables of the session schema and of the activated element_calcium schemas."""
    return imaging.master_tables(("workflow.session", *imaging.STAGE_MODULES))


def table_counts() -> list[dict[str, Any]]:
    """Per table: rows, and for automatic tables the jobs pending, reserved and in error."""
    rows = []
    for table in pipeline_tables():
        row = {"table": table.__name__, "rows": len(table())}
        if issubclass(table, (dj.Imported, dj.Computed)):
            progress = table.jobs.progress()
            row.update(pending=progress["pending"], reserved=progress["reserved"], error=progress["error"])
        rows.append(row)
    return rows


def job_errors(table_name: str | None = None) -> list[dict[str, Any]]:
    """Jobs in error: table, key, message, host and time."""
    errors = []
    for table in _automatic(table_name):
        if not table.jobs.is_declared:
            continue
        for job in table.jobs.errors.to_dicts():
            errors.append(
                {
                    "table": table.__name__,
                    "key": {name: job[name] for name in table.jobs.primary_key},
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
