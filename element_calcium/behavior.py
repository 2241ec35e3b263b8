"""Behaviour events into the pipeline: a CSV of event times, or threshold crossings of a voltage recording.

The events go to `events.BehaviorEvent` (and their types to `events.BehaviorEventType`), checked against the
recording's frame times; the peri-event windows are then computed by populate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import events, imaging
from ._schema_runtime import check_attribute
from .compute import events as event_compute
from .readers.behavior import read_event_csv, read_voltage_recording


def insert_events(recording_key: dict[str, Any], table: pd.DataFrame) -> int:
    """Insert behaviour events of one recording in one transaction; returns how many were inserted.

    Args:
        recording_key: a key of `imaging.RecordingInfo` (its frame times bound the events).
        table: columns ``time`` (s, recording clock) and ``event_type``; new types are added to
            `events.BehaviorEventType`.

    Raises:
        ValueError: an event type that does not fit `events.BehaviorEventType` (too long, characters its column
            cannot store), a time outside the recording (more than half a frame before the first frame or
            after the last) or already stored for that type; nothing is inserted then.
    """
    for event_type in table["event_type"].unique():
        check_attribute(events.BehaviorEventType, "event_type", event_type, what="event type")
        if not event_type.strip():
            raise ValueError(f"event type {event_type!r} is empty; name the events (e.g. 'lever')")
    recording = (imaging.RecordingInfo & recording_key).fetch1("KEY")
    frame_times = (imaging.RecordingInfo.Timestamps & recording).fetch1("frame_times")
    half = float(np.median(np.diff(frame_times))) / 2 if len(frame_times) > 1 else 0.0
    times = table["time"].to_numpy(dtype=np.float64)
    outside = (times < frame_times[0] - half) | (times > frame_times[-1] + half)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} event time(s) outside the recording "
                         f"[{frame_times[0] - half:.3f}, {frame_times[-1] + half:.3f}] s, first {times[outside][0]}")
    rows = []
    for event_type, group in table.groupby("event_type", sort=True):
        stored = (events.BehaviorEvent & recording & {"event_type": event_type}).to_arrays("event_id", "event_time")
        clash = np.intersect1d(group["time"].to_numpy(), stored[1])
        if clash.size:
            raise ValueError(f"{event_type} events at {clash[:5].tolist()} s are already stored for {recording}")
        first = int(max(stored[0], default=-1)) + 1
        rows += [{**recording, "event_type": event_type, "event_id": first + n, "event_time": float(time)}
                 for n, time in enumerate(np.sort(group["time"].to_numpy()))]
    with events.BehaviorEvent.connection.transaction:
        events.BehaviorEventType.insert(({"event_type": name} for name in table["event_type"].unique()),
                                 skip_duplicates=True)
        events.BehaviorEvent.insert(rows)
    return len(rows)


def import_event_csv(recording_key: dict[str, Any], path: str | Path) -> int:
    """Insert the events of a CSV with ``time`` (s) and ``event_type`` columns (`readers.behavior.read_event_csv`)."""
    return insert_events(recording_key, read_event_csv(path))


def import_voltage_events(
    recording_key: dict[str, Any],
    path: str | Path,
    *,
    channel: str,
    event_type: str,
    threshold: float,
    direction: str = "rising",
    min_interval_s: float = 0.0,
    offset_s: float = 0.0,
) -> int:
    """Insert threshold crossings of one input of a Bruker PrairieView voltage recording as events.

    Args:
        recording_key: a key of `imaging.RecordingInfo`.
        path: the ``*_VoltageRecording_NNN.csv`` (its ``.xml`` beside it is checked when present).
        channel: the input's name as in the CSV header (e.g. ``"Input 0"``).
        event_type: type of the inserted events.
        threshold, direction, min_interval_s: see `element_calcium.compute.events.threshold_crossings`.
        offset_s: (s) time of the voltage recording's first sample in the recording clock (0: both
            started together, as PrairieView starts them).

    Raises:
        ValueError: an unknown channel (names the file and the inputs), or crossings outside the recording.
    """
    recording = read_voltage_recording(path)
    if channel not in recording.signals:
        raise ValueError(f"{recording.file}: no input {channel!r}; inputs: {sorted(recording.signals)}")
    crossings = event_compute.threshold_crossings(recording.signals[channel], recording.times,
                                                  threshold=threshold, direction=direction,
                                                  min_interval_s=min_interval_s)
    return insert_events(recording_key, pd.DataFrame({"time": crossings + offset_s, "event_type": event_type}))
