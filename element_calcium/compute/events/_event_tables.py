"""astroCAST's ``Events.filter`` and ``Events.to_numpy`` over tables of spatiotemporal events.

- Filters: a dictionary of ranges per property, ``{"area": (10, None), "dz": (2, 20)}``. As astroCAST's
  ``Events.filter``: both ends are included; None (or -1, astroCAST's other word for "no bound") leaves an end
  open; a row passes when every filtered property lies in its range, so a missing value (NaN, NULL) never
  passes, even a range open at both ends. Properties are the table's numeric columns and the extents of the
  bounding box that astroCAST lists as columns of its own: ``dz = z1 - z0`` (frames), ``dy = y1 - y0`` (rows)
  and ``dx = x1 - x0`` (columns). astroCAST names rows x and columns y; here y is the row, as everywhere in
  this package.
- Timeline: astroCAST's ``to_numpy`` places each event's trace at its frames in an (events x frames) array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

BOX_EXTENTS = {"dz": ("z1", "z0"), "dy": ("y1", "y0"), "dx": ("x1", "x0")}


def filter_ranges(filters: Mapping, known: Iterable[str]) -> list[tuple[str, float | None, float | None]]:
    """Check astroCAST-style ``filters`` against the ``known`` property names.

    Returns:
        ``(property, low, high)`` per filter, None for an open end.

    Raises:
        ValueError: (one line) ``filters`` not a dictionary, an unknown property (naming it and the known ones),
            or a range that is not a pair of numbers or None.
    """
    if not isinstance(filters, Mapping):
        raise ValueError(f"filters must be a dictionary of property -> (low, high), got {type(filters).__name__}")
    known = sorted(set(known))
    ranges = []
    for name, bounds in filters.items():
        if name not in known:
            raise ValueError(f"unknown event property {name!r}; known properties: {', '.join(known)}")
        if isinstance(bounds, (str, bytes)) or not isinstance(bounds, Sequence) or len(bounds) != 2:
            raise ValueError(f"filter {name!r} must be a (low, high) pair, got {bounds!r}")
        low, high = (_bound(value, name) for value in bounds)
        ranges.append((name, low, high))
    return ranges


def _bound(value, name: str) -> float | None:
    if value is None or (_is_number(value) and value == -1):
        return None
    if not _is_number(value) or not np.isfinite(value):
        raise ValueError(f"filter {name!r}: bounds must be finite numbers or None, got {value!r}")
    return float(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def table_properties(columns: Iterable[str], numeric: Iterable[str]) -> set[str]:
    """The filterable properties of a table: its ``numeric`` columns, and each box extent (``dz``, ``dy``,
    ``dx``) whose two columns it has (``columns``: all its column names)."""
    columns = set(columns)
    return set(numeric) | {name for name, pair in BOX_EXTENTS.items() if set(pair) <= columns}


def filter_events(table, filters: Mapping):
    """The rows of ``table`` whose properties lie in the ranges of ``filters`` (module docstring).

    Args:
        table: a pandas DataFrame or a NumPy structured (record) array of events.
        filters: ``{property: (low, high)}``.

    Returns:
        The passing rows, of the same type as ``table``, in their order.
    """
    frame = table if isinstance(table, pd.DataFrame) else None
    if frame is None:
        if not isinstance(table, np.ndarray) or table.dtype.names is None:
            raise ValueError(f"table must be a pandas DataFrame or a NumPy record array, got {type(table).__name__}")
        frame = pd.DataFrame({name: table[name] for name in table.dtype.names})
    numeric = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])
               and not pd.api.types.is_bool_dtype(frame[name])]
    keep = np.ones(len(frame), dtype=bool)
    for name, low, high in filter_ranges(filters, table_properties(frame.columns, numeric)):
        values = _column(frame, name)
        passes = np.isfinite(values)
        if low is not None:
            passes &= values >= low
        if high is not None:
            passes &= values <= high
        keep &= passes
    return table.loc[keep] if isinstance(table, pd.DataFrame) else table[keep]


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name in BOX_EXTENTS and name not in frame.columns:
        end, start = BOX_EXTENTS[name]
        return frame[end].to_numpy(np.float64) - frame[start].to_numpy(np.float64)
    return frame[name].to_numpy(np.float64, na_value=np.nan)


def events_to_timeline(
    z0: Sequence[int], z1: Sequence[int], traces: Sequence[np.ndarray], n_frames: int, *, empty_as_nan: bool = True
) -> np.ndarray:
    """astroCAST's ``Events.to_numpy``: each event's trace at its frames of the recording.

    Args:
        z0, z1: (N,) first and one-past-last frame of each event.
        traces: N traces, trace i of length ``z1[i] - z0[i]``.
        n_frames: frames T of the recording.
        empty_as_nan: NaN outside each event's frames (else 0). astroCAST's docstring means this; its code
            returns a masked array that masks the zeros' complement instead, and would also blank a trace value
            that is exactly 0, which here stays.

    Returns:
        (N, T) float32: row i is NaN (or 0) except at frames z0[i]..z1[i] - 1, which hold trace i.

    Raises:
        ValueError: lengths that disagree, or an event outside frames 0..T - 1.
    """
    z0, z1 = np.asarray(z0, dtype=np.int64).reshape(-1), np.asarray(z1, dtype=np.int64).reshape(-1)
    if not (len(z0) == len(z1) == len(traces)):
        raise ValueError(f"z0, z1 and traces must have one length, got {len(z0)}, {len(z1)} and {len(traces)}")
    n_frames = int(n_frames)
    timeline = np.full((len(z0), n_frames), np.nan if empty_as_nan else 0.0, dtype=np.float32)
    for row, (start, stop, trace) in enumerate(zip(z0, z1, traces)):
        trace = np.asarray(trace, dtype=np.float32).reshape(-1)
        if not 0 <= start < stop <= n_frames or len(trace) != stop - start:
            raise ValueError(f"event {row}: frames {start}..{stop} with a trace of {len(trace)} samples do not fit "
                             f"a recording of {n_frames} frames")
        timeline[row, start:stop] = trace
    return timeline
