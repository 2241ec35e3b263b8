"""Events schema: calcium transients, behaviour events and peri-event windows, spatiotemporal events.

Activate it after the imaging schema::

    imaging.activate("ec_imaging", linking_module=my_pipeline)
    events.activate("ec_events")

Parameter sets (`EventParamSet`) belong to one detector each: ``transients`` (per cell, from an
Activity trace set), ``peri_event`` (activity around behaviour events) and ``spatial``
(spatiotemporal events in the motion-corrected movie). Sets 0 (transients) and 1 (peri-event) are
built in, so `imaging.populate_all` computes transients and, for recordings with behaviour events,
peri-event windows. Spatial detection runs only where a ``spatial`` parameter set has been inserted.

Peri-event windows (trials x cells x samples) are stored as ``.npy`` files in the DataJoint store
``ARRAY_STORE`` (configured at activation under the processed root unless already configured).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Any

import datajoint as dj
import numpy as np
import pandas as pd

from . import imaging, paramsets, reservations
from ._fetched import pack, unpack
from .compute import events as event_compute
from .paths import find_full_path, path_under_root
from .readers.behavior import read_event_csv, read_voltage_recording
from .spatial_events_stage import SpatialEventRows, run_spatial_events

schema = dj.Schema()

ARRAY_STORE = "element_calcium"
DEFAULT_EVENT_PARAMSET_ID = {"transients": 0, "peri_event": 1}
TRACE_METHODS_FOR_TRANSIENTS = ("dff", "denoised")


def activate(schema_name: str, *, create_schema: bool = True, create_tables: bool = True) -> None:
    """Bind the events tables to ``schema_name``; the imaging schema must be activated first.

    The store folder is made where the processed root lets it be; under a read-only root, reading works and
    writing windows fails naming the folder.
    """
    if not imaging.schema.is_activated():
        raise dj.DataJointError("activate the imaging schema before the events schema")
    if ARRAY_STORE not in dj.config.stores:
        location = imaging.get_processed_root_dir() / "datajoint_store"
        with contextlib.suppress(OSError):
            location.mkdir(parents=True, exist_ok=True)
        dj.config.stores[ARRAY_STORE] = {"protocol": "file", "location": str(location)}
    if create_schema:
        imaging.create_utf8mb4_schema(schema_name)
    schema.activate(schema_name, create_schema=create_schema, create_tables=create_tables)


# ---------------------------------------------------------------------------- parameter sets


@schema
class EventDetector(dj.Lookup):
    definition = """
    detector: varchar(16)
    ---
    detector_desc: varchar(255)
    """
    contents = [
        {"detector": name, "detector_desc": text}
        for name, text in (
            ("transients", "calcium transients of each cell's trace"),
            ("peri_event", "activity of each cell around behaviour events, and its response"),
            ("spatial", "spatiotemporal events in the motion-corrected movie (astrocytes, non-somatic signals)"),
        )
    ]


def _event_paramset_row(event_paramset_id: int, detector: str, description: str, params: dict) -> dict[str, Any]:
    complete, param_hash = paramsets.prepare_step(detector, params)
    return {"event_paramset_id": event_paramset_id, "detector": detector, "paramset_desc": description,
            "param_set_hash": param_hash, "params": complete}


@schema
class EventParamSet(dj.Lookup):
    definition = """
    event_paramset_id: int16
    ---
    -> EventDetector
    paramset_desc: varchar(255)
    param_set_hash: uuid              # MD5 of the canonical JSON of detector and params
    unique index (param_set_hash)
    params: json                      # complete parameters of the detector
    """
    contents = [
        _event_paramset_row(DEFAULT_EVENT_PARAMSET_ID["transients"], "transients", "transient defaults", {}),
        _event_paramset_row(DEFAULT_EVENT_PARAMSET_ID["peri_event"], "peri_event", "peri-event defaults", {}),
    ]

    @classmethod
    def insert_new_params(cls, detector: str, event_paramset_id: int, paramset_desc: str,
                          params: dict[str, Any]) -> None:
        """Validate, hash and insert a parameter set of ``detector``.

        The same parameters under the same id are a no-op; the same parameters under another id, or
        other parameters under a taken id, raise ``dj.DataJointError``.

        Raises:
            ValueError: unknown detector, unknown key or out-of-range value.
        """
        imaging.insert_paramset(cls, _event_paramset_row(event_paramset_id, detector, paramset_desc, params),
                                "event_paramset_id")


def _params_of(detector: str):
    return EventParamSet & {"detector": detector}


# ---------------------------------------------------------------------------- transients

_TRANSIENT_ATTRIBUTES = """
    start_frame: int32               # 0-based frame where the rise begins
    onset_frame: int32               # steepest rise
    peak_frame: int32
    end_frame: int32                 # back to start + end_fraction of the amplitude
    onset_time: float64              # (s) recording clock: frame times of RecordingInfo.Timestamps
    peak_time: float64               # (s)
    end_time: float64                # (s)
    peak_dff: float32                # smoothed trace at the peak
    amplitude: float32               # peak minus the level at start
    snr: float32                     # amplitude / noise
    rise_s: float32                  # (s) start to peak
    decay_s: float32                 # (s) peak to end
    area: float32                    # (trace units x s) above the start level, start..end
"""

_CELL_STATS_ATTRIBUTES = """
    n_transients: int32
    rate_hz: float32                 # transients per second of recording
    mean_iei_s=null: float32         # (s) mean interval between onsets; null with fewer than two
    mean_peak_dff=null: float32
    mean_amplitude=null: float32
    snr=null: float32                # largest smoothed value over the noise
    noise: float32                   # mean noise standard deviation (trace units)
    mad: float32                     # median absolute deviation from the median
    standardized_noise: float32      # (percent per sqrt(Hz)) 100 median|diff| / sqrt(fps)
"""


@schema
class Transients(dj.Computed):
    definition = """
    # calcium transients of each cell of an Activity trace set (dF/F or denoised calcium)
    -> imaging.Activity
    -> EventParamSet
    ---
    transient_count: int32
    """

    class Transient(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        transient_id: int32              # per cell, in time order
        ---
        """ + _TRANSIENT_ATTRIBUTES

    class CellStats(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        ---
        """ + _CELL_STATS_ATTRIBUTES

    @property
    def key_source(self):
        traces = imaging.Activity & [{"extraction_method": method} for method in TRACE_METHODS_FOR_TRANSIENTS]
        return traces * _params_of("transients").proj()

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any, ...]:
        return pack((*_activity_traces(key), (EventParamSet & key).fetch1("params")))

    def make_compute(self, key, *fetched) -> tuple[Any, ...]:
        mask_ids, traces, fps, frame_times, params = unpack(fetched)
        transients = event_compute.detect_transients(traces, fps, **params)
        stats = event_compute.transient_statistics(traces, transients, fps, **params)
        return mask_ids, frame_times, transients, stats

    def make_insert(self, key, mask_ids, frame_times, transients, stats) -> None:
        transient_rows = list(_transient_rows(key, transients, mask_ids, frame_times))
        stats_rows = list(_stats_rows(key, stats, mask_ids))
        self.insert1({**key, "transient_count": len(transients)})
        self.Transient.insert(transient_rows)
        self.CellStats.insert(stats_rows)


def _activity_traces(key: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Mask ids (N,), traces (N, T) float32, frame rate and frame times (T,) of the Activity ``key``."""
    mask_ids, traces = (imaging.Activity.Trace & key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
    fps = float((imaging.RecordingInfo & key).fetch1("fps"))
    frame_times = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times")
    stacked = np.stack(traces).astype(np.float32) if len(traces) else np.zeros((0, len(frame_times)), np.float32)
    return np.asarray(mask_ids, dtype=np.int64), stacked, fps, frame_times


def _trace_key(key: dict[str, Any], mask_id: int) -> dict[str, Any]:
    return {**key, "mask_id": int(mask_id), "fluorescence_channel": 0}


def _transient_rows(key, transients: pd.DataFrame, mask_ids: np.ndarray, frame_times: np.ndarray):
    """Rows of a Transient part: one per transient, numbered per cell in time order."""
    ordered = transients.sort_values(["cell", "onset"], kind="stable")
    numbers = ordered.groupby("cell").cumcount().to_numpy()
    for number, row in zip(numbers, ordered.itertuples(index=False)):
        yield {
            **_trace_key(key, mask_ids[row.cell]), "transient_id": int(number),
            "start_frame": int(row.start), "onset_frame": int(row.onset), "peak_frame": int(row.peak),
            "end_frame": int(row.end), "onset_time": float(frame_times[row.onset]),
            "peak_time": float(frame_times[row.peak]), "end_time": float(frame_times[row.end]),
            **{name: _float32(getattr(row, name), name) for name in _TRANSIENT_FLOATS},
        }


def _stats_rows(key, stats: pd.DataFrame, mask_ids: np.ndarray):
    for row in stats.itertuples(index=False):
        yield {
            **_trace_key(key, mask_ids[row.cell]), "n_transients": int(row.n_transients),
            **{name: _nullable(getattr(row, name), name) for name in _STATS_NULLABLE},
            **{name: _float32(getattr(row, name), name) for name in _STATS_FLOATS},
        }


_TRANSIENT_FLOATS = ("peak_dff", "amplitude", "snr", "rise_s", "decay_s", "area")
_STATS_NULLABLE = ("mean_iei_s", "mean_peak_dff", "mean_amplitude", "snr")
_STATS_FLOATS = ("rate_hz", "noise", "mad", "standardized_noise")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _float32(value, column: str) -> float:
    """``value`` for a NOT NULL float32 column; ValueError naming the column where it is not a finite float32."""
    number = float(value)
    if not (np.isfinite(number) and abs(number) <= _FLOAT32_MAX):
        raise ValueError(f"{column} = {number} cannot be stored (not a finite float32); nothing was inserted")
    return number


def _nullable(value, column: str) -> float | None:
    """``value`` for a nullable float32 column: NULL where it is undefined (None, NaN or infinite), else
    `_float32`."""
    return None if value is None or not np.isfinite(value) else _float32(value, column)


# ---------------------------------------------------------------------------- transient curation


@schema
class TransientCuration(dj.Manual):
    definition = """
    # a curator's corrections of the transients of an Activity trace set; the automatic result stays
    -> Transients
    transient_curation_id: int16
    ---
    curation_time: datetime(3)
    curator='': varchar(64)
    curation_note='': varchar(2000)
    parent_curation_id=null: int16     # the curation whose corrections this one carries on; null: none
    """

    class Cell(dj.Part):
        definition = """
        # corrections of one cell's transients
        -> master
        -> imaging.Activity.Trace
        ---
        merge_mode: enum('incoming_only', 'overlapping', 'all')  # how marked peaks join detected transients
        rejected_ids: <blob>             # (k,) transient_id of Transients.Transient rejected
        marked_peaks: <blob>             # (m,) 0-based frames marked as transient peaks
        """


def curate_transients(
    transients_key: dict[str, Any],
    mask_id: int,
    *,
    reject=(),
    mark=(),
    mode: str = "incoming_only",
    parent: int | str | None = "latest",
    note: str = "",
    curator: str = "",
) -> dict[str, Any]:
    """Record corrections of one cell's transients as a new `TransientCuration`; returns its key.

    Args:
        transients_key: a key of `Transients`.
        mask_id: the cell.
        reject: transient ids (of `Transients.Transient`) to reject.
        mark: frames (0-based) of peaks the detector missed.
        mode: how marked peaks join the detected transients: ``"incoming_only"``, ``"overlapping"`` or
            ``"all"`` (see `element_calcium.compute.events.curate_transients`).
        parent: the curation whose corrections carry on into the new one: ``"latest"`` (the newest, if
            any), a ``transient_curation_id``, or None (start from the automatic result).
        note, curator: free text.

    Raises:
        ValueError: an unknown mode, mask, transient id or parent, or a marked frame outside the recording.
    """
    if mode not in event_compute.CURATION_MODES:
        raise ValueError(f"mode must be one of {event_compute.CURATION_MODES}, got {mode!r}")
    master_key = (Transients & transients_key).fetch1("KEY")
    cell_key = {**master_key, "mask_id": int(mask_id)}
    known_ids = set((Transients.Transient & cell_key).to_arrays("transient_id").tolist())
    if not imaging.Activity.Trace & cell_key:
        raise ValueError(f"mask_id {mask_id} is not a cell of {master_key}")
    rejected = sorted({int(i) for i in reject})
    if set(rejected) - known_ids:
        raise ValueError(f"transient id(s) {sorted(set(rejected) - known_ids)} are not transients of mask {mask_id}")
    n_frames = int((imaging.RecordingInfo & master_key).fetch1("nframes"))
    marked = sorted({int(frame) for frame in mark})
    if marked and (marked[0] < 0 or marked[-1] >= n_frames):
        raise ValueError(f"marked frames must lie in [0, {n_frames}), got {marked[0]}..{marked[-1]}")
    existing = (TransientCuration & master_key).to_arrays("transient_curation_id")
    parent_id = _parent_curation(existing, parent)
    edit_columns = ("mask_id", "merge_mode", "rejected_ids", "marked_peaks")
    parent_cells = TransientCuration.Cell & master_key & {"transient_curation_id": parent_id}
    cells = {int(row[0]): dict(zip(edit_columns, row)) for row in zip(*parent_cells.to_arrays(*edit_columns))}
    previous = cells.get(int(mask_id))
    if previous is not None:
        rejected = sorted(set(rejected) | set(np.asarray(previous["rejected_ids"]).tolist()))
        marked = sorted(set(marked) | set(np.asarray(previous["marked_peaks"]).tolist()))
    new_id = int(max(existing, default=-1)) + 1
    curation_key = {**master_key, "transient_curation_id": new_id}
    cells[int(mask_id)] = {"mask_id": int(mask_id), "merge_mode": mode,
                           "rejected_ids": np.array(rejected, np.int64), "marked_peaks": np.array(marked, np.int64)}
    with TransientCuration.connection.transaction:
        TransientCuration.insert1({**curation_key, "curation_time": datetime.now(), "curator": curator,
                                   "curation_note": note, "parent_curation_id": parent_id})
        TransientCuration.Cell.insert({**curation_key, "fluorescence_channel": 0, **row} for row in cells.values())
    return curation_key


def _parent_curation(existing: np.ndarray, parent: int | str | None) -> int | None:
    if parent is None:
        return None
    if parent == "latest":
        return int(max(existing)) if len(existing) else None
    if int(parent) not in set(existing.tolist()):
        raise ValueError(f"parent curation {parent} does not exist; existing: {sorted(existing.tolist())}")
    return int(parent)


@schema
class CuratedTransients(dj.Computed):
    definition = """
    # transients after a curation: the automatic ones less the rejected, plus the marked
    -> TransientCuration
    ---
    transient_count: int32
    """

    class Transient(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        transient_id: int32              # per cell, in time order (numbering of the curated set)
        ---
        """ + _TRANSIENT_ATTRIBUTES + """
        added: bool                      # marked by the curator rather than detected
        """

    class CellStats(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        ---
        """ + _CELL_STATS_ATTRIBUTES

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any, ...]:
        columns = ("mask_id", "transient_id", *_STORED_TRANSIENT_COLUMNS)
        stored = (Transients.Transient & key).to_arrays(*columns, order_by=("mask_id", "transient_id"))
        cells = (TransientCuration.Cell & key).to_dicts()
        params = (EventParamSet & key).fetch1("params")
        return pack((*_activity_traces(key), dict(zip(columns, stored)), cells, params))

    def make_compute(self, key, *fetched) -> tuple[Any, ...]:
        mask_ids, traces, fps, frame_times, stored, cells, params = unpack(fetched)
        rows = {int(m): n for n, m in enumerate(mask_ids)}
        table = _transients_table(pd.DataFrame(stored), rows)
        edits = {int(cell["mask_id"]): cell for cell in cells}
        curated = []
        for mask_id, row in rows.items():
            mine = table[table["cell"] == row].set_index("transient_id")
            edit = edits.get(mask_id)
            if edit is None:
                curated.append(mine.assign(added=False).reset_index(drop=True))
                continue
            marked = event_compute.measure_transients(traces[row], fps, edit["marked_peaks"], **params)
            result = event_compute.curate_transients(mine, rejected=edit["rejected_ids"],
                                                     marked=marked.assign(cell=row), mode=edit["merge_mode"])
            curated.append(result)
        combined = pd.concat(curated, ignore_index=True) if curated else table.assign(added=False)
        stats = event_compute.transient_statistics(traces, combined, fps, **params)
        return mask_ids, frame_times, combined, stats

    def make_insert(self, key, mask_ids, frame_times, combined, stats) -> None:
        rows = list(_transient_rows(key, combined.drop(columns="added"), mask_ids, frame_times))
        ordered = combined.sort_values(["cell", "onset"], kind="stable")
        stats_rows = list(_stats_rows(key, stats, mask_ids))
        self.insert1({**key, "transient_count": len(combined)})
        self.Transient.insert({**row, "added": bool(added)} for row, added in zip(rows, ordered["added"]))
        self.CellStats.insert(stats_rows)


_STORED_TRANSIENT_COLUMNS = ("start_frame", "onset_frame", "peak_frame", "end_frame", "peak_dff", "amplitude",
                              "snr", "rise_s", "decay_s", "area")


def _transients_table(detected: pd.DataFrame, rows: dict[int, int]) -> pd.DataFrame:
    """Stored transients back in the columns of `detect_transients` (``cell`` = row of the traces)."""
    columns = {"start_frame": "start", "onset_frame": "onset", "peak_frame": "peak", "end_frame": "end"}
    if detected.empty:
        return pd.DataFrame(columns=["transient_id", *event_compute.TRANSIENT_COLUMNS])
    table = detected.rename(columns=columns)
    table["cell"] = table["mask_id"].map(rows)
    return table[["transient_id", *event_compute.TRANSIENT_COLUMNS]]


# ---------------------------------------------------------------------------- behaviour events


@schema
class BehaviorEventType(dj.Manual):
    definition = """
    event_type: varchar(32)            # e.g. lever, reward, ALP, ILP, RNF
    ---
    event_type_desc='': varchar(255)
    """


@schema
class BehaviorEvent(dj.Manual):
    definition = """
    # a behaviour event during a recording
    -> imaging.Recording
    -> BehaviorEventType
    event_id: int32                    # per recording and type, in time order of insertion
    ---
    event_time: float64                # (s) recording clock: 0 is the first frame
    """


def insert_events(recording_key: dict[str, Any], events: pd.DataFrame) -> int:
    """Insert behaviour events of one recording in one transaction; returns how many were inserted.

    Args:
        recording_key: a key of `imaging.RecordingInfo` (its frame times bound the events).
        events: columns ``time`` (s, recording clock) and ``event_type``; new types are added to
            `BehaviorEventType`.

    Raises:
        ValueError: an event type that does not fit `BehaviorEventType` (too long, characters its column
            cannot store), a time outside the recording (more than half a frame before the first frame or
            after the last) or already stored for that type; nothing is inserted then.
    """
    for event_type in events["event_type"].unique():
        imaging.check_attribute(BehaviorEventType, "event_type", event_type, what="event type")
        if not event_type.strip():
            raise ValueError(f"event type {event_type!r} is empty; name the events (e.g. 'lever')")
    recording = (imaging.RecordingInfo & recording_key).fetch1("KEY")
    frame_times = (imaging.RecordingInfo.Timestamps & recording).fetch1("frame_times")
    half = float(np.median(np.diff(frame_times))) / 2 if len(frame_times) > 1 else 0.0
    times = events["time"].to_numpy(dtype=np.float64)
    outside = (times < frame_times[0] - half) | (times > frame_times[-1] + half)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} event time(s) outside the recording "
                         f"[{frame_times[0] - half:.3f}, {frame_times[-1] + half:.3f}] s, first {times[outside][0]}")
    rows = []
    for event_type, group in events.groupby("event_type", sort=True):
        stored = (BehaviorEvent & recording & {"event_type": event_type}).to_arrays("event_id", "event_time")
        clash = np.intersect1d(group["time"].to_numpy(), stored[1])
        if clash.size:
            raise ValueError(f"{event_type} events at {clash[:5].tolist()} s are already stored for {recording}")
        first = int(max(stored[0], default=-1)) + 1
        rows += [{**recording, "event_type": event_type, "event_id": first + n, "event_time": float(time)}
                 for n, time in enumerate(np.sort(group["time"].to_numpy()))]
    with BehaviorEvent.connection.transaction:
        BehaviorEventType.insert(({"event_type": name} for name in events["event_type"].unique()),
                                 skip_duplicates=True)
        BehaviorEvent.insert(rows)
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


# ---------------------------------------------------------------------------- peri-event windows


@schema
class PeriEventWindow(dj.Computed):
    definition = """
    # activity of each cell around every event of one type (C, S or dF/F, by the Activity method)
    -> imaging.Activity
    -> BehaviorEventType
    -> EventParamSet
    ---
    n_events: int32
    mask_ids: <blob>                   # (N,) cells of the windows' second axis
    sample_times: <blob>               # (S,) s relative to the event
    event_frames: <blob>               # (E,) nearest frame of each event
    windows: <npy@element_calcium>     # (E, N, S) float32 trial x cell x sample; NaN outside the recording
    """

    class CellResponse(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        ---
        n_trials: int32                  # events whose baseline and response windows lie in the recording
        baseline: float32                # mean over the pre_s before the events (trace units)
        mean_response: float32           # mean over the response window
        delta: float32                   # mean_response - baseline
        z_score=null: float32            # trial-averaged response against its baseline; null: flat baseline
        p_value: float32                 # permutation test: events shifted in time together
        """

    @property
    def key_source(self):
        return (imaging.Activity * BehaviorEventType.proj() & BehaviorEvent) * _params_of("peri_event").proj()

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any, ...]:
        event_times = (BehaviorEvent & key).to_arrays("event_time", order_by="event_time")
        params = (EventParamSet & key).fetch1("params")
        return pack((*_activity_traces(key), np.asarray(event_times, np.float64), params))

    def make_compute(self, key, *fetched) -> tuple[Any, ...]:
        mask_ids, traces, fps, frame_times, event_times, params = unpack(fetched)
        windows = event_compute.peri_event_windows(traces, event_times, frame_times, **params)
        responses = event_compute.response_statistics(traces, event_times, frame_times, **params)
        return mask_ids, windows, responses

    def make_insert(self, key, mask_ids, windows, responses) -> None:
        self.insert1({**key, "n_events": len(windows.event_frames), "mask_ids": mask_ids,
                      "sample_times": windows.times, "event_frames": windows.event_frames,
                      "windows": windows.windows})
        self.CellResponse.insert(
            {**_trace_key(key, mask_ids[row.cell]), "n_trials": int(row.n_trials), "baseline": float(row.baseline),
             "mean_response": float(row.mean_response), "delta": float(row.delta),
             "z_score": _nullable(row.z_score, "z_score"), "p_value": float(row.p_value)}
            for row in responses.itertuples(index=False)
        )


# ---------------------------------------------------------------------------- spatiotemporal events


@schema
class SpatialEvents(dj.Computed):
    definition = """
    # spatiotemporal events (astrocyte-style) in the motion-corrected movie
    -> imaging.MotionCorrection
    -> EventParamSet
    ---
    event_map: varchar(255)            # (T, H, W) int32 HDF5 movie of event ids (0: none), under the processed root
    event_count: int32
    device: varchar(8)                 # cpu | cuda
    wall_time: float32                 # (s)
    noise_image: <blob>                # (H, W) float32 noise standard deviation of each pixel (grey levels)
    """

    class Event(dj.Part):
        definition = """
        -> master
        event_id: int32                  # 1..N in order of the first frame
        ---
        z0: int32                        # first frame (0-based)
        z1: int32                        # frame after the last
        start_time: float64              # (s) recording clock
        y0: int32                        # bounding box rows y0..y1 - 1 and columns x0..x1 - 1 (pixels)
        y1: int32
        x0: int32
        x1: int32
        volume: int32                    # voxels
        area: int32                      # footprint pixels (any frame)
        duration_s: float32
        centroid_y: float32              # (pixels) of the footprint
        centroid_x: float32
        max_height: float32              # max - min of the trace (dF or dF/F units)
        max_gradient=null: float32       # largest rise of the trace per frame; null for a one-frame event
        noise_mean: float32              # mean delta of the ring around the footprint over the event's frames
        noise_std: float32               # (no ring: of the footprint just before and after the event)
        snr=null: float32                # (max(trace) - noise_mean) / noise_std
        footprint_ypix: <blob>           # (area,) int32
        footprint_xpix: <blob>           # (area,) int32
        trace: <blob>                    # (z1 - z0,) float32 mean over the footprint
        """

    @property
    def key_source(self):
        corrected = imaging.MotionCorrection & "corrected_movie is not null"
        return corrected * _params_of("spatial").proj()

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any, ...]:
        processed_root = imaging.get_processed_root_dir()
        movie = find_full_path(processed_root, (imaging.MotionCorrection & key).fetch1("corrected_movie"))
        output_dir = (imaging.ProcessingTask & key).fetch1("processing_output_dir")
        imaging.ProcessingTask.check_output_dir(key, output_dir)
        frame_times = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times")
        params = (EventParamSet & key).fetch1("params")
        owners = (imaging.results_owner(SpatialEvents, key), imaging.results_owner(imaging.MotionCorrection, key))
        return pack((str(movie), str(path_under_root(processed_root, output_dir)), output_dir, frame_times, params,
                     owners))

    def make_compute(self, key, *fetched) -> tuple[SpatialEventRows]:
        movie, output_dir, output_dir_relative, frame_times, params, (owner, movie_owner) = unpack(fetched)
        settings = imaging.get_run_settings()
        with reservations.step_progress(SpatialEvents.__name__, key, step="detecting events (two passes)",
                                        unit="frames") as progress:
            rows = run_spatial_events(Path(movie), Path(output_dir), output_dir_relative,
                                      event_paramset_id=key["event_paramset_id"], params=params,
                                      frame_times=frame_times, device=settings.get("device", "auto"),
                                      chunk_frames=settings.get("chunk_frames", 200), progress=progress, owner=owner,
                                      movie_owner=movie_owner)
        return (rows,)

    def make_insert(self, key, rows: SpatialEventRows) -> None:
        self.insert1({**key, **rows.master})
        self.Event.insert({**key, **row} for row in rows.events)
