"""What produced a stage's rows: when it began and finished, on which machine, with which software.

The registry (`element_calcium.stages.run`) wraps every stage that a processing method computes or loads
(motion correction, segmentation) and adds ``run_record`` to its master row: a JSON object with

- ``started``, ``finished``: ISO 8601 times in UTC (microseconds) around the stage's work, in the worker that ran
  it;
- ``host``: that worker's host name;
- ``software``, ``version``: ``element_calcium`` and its version when it computed the results, else the tool whose
  results were loaded (``minian``, ``caiman``, ``suite2p``, ``nwb``, ...) and its version where the results record
  one (`element_calcium.loaders.versions`), else None;
- ``element_calcium_version``: the version of element_calcium that ran the stage (computed or loaded).

``imaging.Processing`` reads these records, so its times and hosts are those of the workers that did the work,
whichever worker fills it.
"""

from __future__ import annotations

import socket
from datetime import datetime, timezone
from importlib import metadata

from element_calcium.stages.rows import Rows

__all__ = ["PACKAGE", "element_calcium_version", "now", "parse_time", "with_run_record"]

PACKAGE = "element_calcium"


def now() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(timezone.utc)


def element_calcium_version() -> str | None:
    """The installed version of element_calcium; None when it is not installed as a distribution."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def with_run_record(rows: Rows, started: datetime, *, software: str, version: str | None) -> Rows:
    """``rows`` with the master row's ``run_record`` (module notes): from ``started`` to now, on this host."""
    record = {
        "started": started.isoformat(timespec="microseconds"),
        "finished": now().isoformat(timespec="microseconds"),
        "host": socket.gethostname(),
        "software": software,
        "version": version,
        "element_calcium_version": element_calcium_version(),
    }
    return Rows(master={**rows.master, "run_record": record}, parts=rows.parts)


def parse_time(text: str) -> datetime:
    """A recorded ISO 8601 time as a naive UTC datetime (as DataJoint stores ``datetime`` columns)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
