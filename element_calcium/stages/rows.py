"""What a stage returns: the rows of one automatic table's master and parts for one key, the key left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from element_calcium.compute import parallel


@dataclass(frozen=True)
class Rows:
    """The rows one ``make`` inserts, its primary key left out (``make_insert`` adds it).

    Attributes:
        master: the master row's secondary attributes.
        parts: part table name (``"Trace"``, ``"Block"``) -> its rows (each without the key), inserted in this
            order after the master row; a part that depends on another part comes after it.
    """

    master: dict[str, Any] = field(default_factory=dict)
    parts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunSettings:
    """How a stage runs, never part of a parameter set and never hashed.

    Attributes:
        device: ``"auto"`` (a GPU when CuPy sees one), ``"cpu"`` or ``"cuda"``.
        chunk_frames: frames read, processed and written at a time; bounds the memory of streaming steps.
        progress: ``progress(done, total)`` called by long steps as they go, or None.
        workers: threads that motion correction and source extraction run on (`compute.parallel`); 1 runs
            serially. Default: the cores available to the process. The results do not depend on it.
    """

    device: str = "auto"
    chunk_frames: int = 200
    progress: Callable[[int, int], None] | None = None
    workers: int = field(default_factory=parallel.available_cores)

    def __post_init__(self) -> None:
        parallel.check_workers(self.workers)
