"""Queries over stored spatiotemporal events, as astroCAST's ``Events`` object offers them.

- `filter_spatial_events(query, {"area": (10, None), "dz": (2, 20)})`: astroCAST's ``Events.filter`` as a
  DataJoint restriction of ``events.SpatialEvents.Event`` (`event_restriction` gives the SQL text). Ranges
  include both ends; None (or -1, as in astroCAST) leaves an end open; a NULL property never passes. The
  properties are the part's numeric columns and the box extents ``dz``, ``dy``, ``dx``
  (`compute.events.filter_ranges`); `compute.events.filter_events` does the same on a DataFrame or record array.
- `events_on_timeline(query)`: astroCAST's ``Events.to_numpy``, the events' traces at their frames of the
  recording (`compute.events.events_to_timeline`).

The events schema must be activated.
"""

from __future__ import annotations

from collections.abc import Mapping

import datajoint as dj
import numpy as np

from . import events, imaging
from .compute import events as event_compute


def event_properties() -> list[str]:
    """The properties `filter_spatial_events` takes: the numeric columns of ``SpatialEvents.Event`` and the box
    extents ``dz``, ``dy``, ``dx``, sorted."""
    heading = events.SpatialEvents.Event.heading
    numeric = [name for name, attribute in heading.attributes.items() if attribute.numeric]
    return sorted(event_compute.table_properties(heading.names, numeric))


def event_restriction(filters: Mapping) -> str:
    """SQL restriction of ``SpatialEvents.Event`` that keeps the events within the ranges of ``filters``
    (module docstring); ``"TRUE"`` for no filters.

    Raises:
        ValueError: (one line) an unknown property, naming it and the known ones, or a malformed range.
    """
    conditions = []
    for name, low, high in event_compute.filter_ranges(filters, event_properties()):
        column = f"(`{event_compute.BOX_EXTENTS[name][0]}` - `{event_compute.BOX_EXTENTS[name][1]}`)" \
            if name in event_compute.BOX_EXTENTS else f"`{name}`"
        conditions.append(f"{column} IS NOT NULL")
        conditions += [f"{column} >= {low!r}"] if low is not None else []
        conditions += [f"{column} <= {high!r}"] if high is not None else []
    return " AND ".join(conditions) or "TRUE"


def filter_spatial_events(query: dj.Table | None = None, filters: Mapping | None = None):
    """The events of ``query`` (default: all ``SpatialEvents.Event``) within the ranges of ``filters``, e.g.
    ``filter_spatial_events(events.SpatialEvents.Event & key, {"area": (10, None), "dz": (2, 20)})``."""
    query = events.SpatialEvents.Event() if query is None else query
    return query & event_restriction(filters or {})


def events_on_timeline(query, *, empty_as_nan: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """astroCAST's ``Events.to_numpy`` of the events of ``query`` (``SpatialEvents.Event`` restricted to one
    SpatialEvents key, e.g. by `filter_spatial_events`, or a key of one).

    Returns:
        ``(event_ids, timeline)``: (N,) int event ids in order, and (N, T) float32 with each event's trace at
        its frames z0..z1 - 1 of the recording's T frames, NaN elsewhere (0 with ``empty_as_nan=False``).

    Raises:
        ValueError: the query holds events of several SpatialEvents keys.
    """
    selection = events.SpatialEvents.Event & (query.proj() if hasattr(query, "proj") else query)
    masters = (events.SpatialEvents & selection.proj()).keys()
    if len(masters) > 1:
        raise ValueError(f"events_on_timeline takes the events of one SpatialEvents key, the query holds "
                         f"{len(masters)}; restrict it to one")
    if not masters:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    n_frames = len((imaging.RecordingInfo.Timestamps & masters[0]).fetch1("frame_times"))
    event_ids, z0, z1, traces = selection.to_arrays(
        "event_id", "z0", "z1", "trace", order_by="event_id")
    timeline = event_compute.events_to_timeline(z0, z1, list(traces), n_frames, empty_as_nan=empty_as_nan)
    return np.asarray(event_ids, np.int64), timeline
