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
import importlib
from typing import Any

import datajoint as dj
import numpy as np

from . import _schema_runtime, imaging, stages
from ._schema_runtime import StageTable, insert_paramset, paramset_row
from .progress import step_progress
from ._fetched import pack, unpack
from .paths import find_full_path, path_under_root
from .stages.curated_transients import STORED_TRANSIENT_COLUMNS, CurationInputs
from .stages.peri_event import PeriEventInputs
from .stages.spatial_events import SpatialEventInputs
from .stages.transients import TraceInputs

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
    _schema_runtime.record_activated(importlib.import_module(__name__))


# ---------------------------------------------------------------------------- parameter sets


@schema
class EventDetector(dj.Lookup):
    """The event detectors, one per kind of parameter set.

    Attributes:
        detector: ``transients``, ``peri_event`` or ``spatial``.
        detector_desc: what it detects.
    """

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
    return paramset_row("event_paramset_id", event_paramset_id, description, params, purpose={"step": detector},
                        columns={"detector": detector})


@schema
class EventParamSet(dj.Lookup):
    """Parameter sets of the event detectors, validated, complete and hashed.

    Attributes:
        event_paramset_id: the set's id; 0 (transients) and 1 (peri-event) hold the defaults.
        detector: the `EventDetector` the set is for.
        paramset_desc: what the set is for.
        param_set_hash: MD5 UUID of the canonical JSON of ``{"step": detector, "params": params}``.
        params: the complete parameters (`compute.params.TransientParams`, ``PeriEventParams``,
            ``SpatialEventParams``).
    """

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
        insert_paramset(cls, _event_paramset_row(event_paramset_id, detector, paramset_desc, params),
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
    peak_dff: float32                # largest dF/F over start..end (CalTrig's peak dF/F)
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
    mean_peak_dff=null: float32      # mean of the transients' peak_dff (CalTrig's average peak dF/F)
    mean_peak_smoothed_dff=null: float32  # mean smoothed dF/F at the transients' peak frames
    mean_amplitude=null: float32
    snr=null: float32                # largest smoothed value over the noise
    noise: float32                   # mean noise standard deviation (trace units)
    mad: float32                     # median absolute deviation from the median / 0.6745 (CalTrig)
    standardized_noise: float32      # (percent per sqrt(Hz)) 100 median|diff| / sqrt(fps)
"""


@schema
class Transients(StageTable, dj.Computed):
    """Calcium transients of each cell of an Activity trace set (`stages.transients`).

    Attributes:
        transient_count: transients of all cells.
        Transient: one row per transient: frames (start, onset, peak, end), times (s), peak dF/F, amplitude, SNR,
            rise and decay (s), area.
        CellStats: one row per cell: rate (Hz), mean inter-event interval (s), mean peak and amplitude, noise.
    """

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

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(vars(_trace_inputs(key))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        return (stages.run(Transients.__name__, TraceInputs(**unpack(inputs))),)


def _trace_inputs(key: dict[str, Any]) -> TraceInputs:
    """The traces of the Activity ``key`` (mask ids (N,), traces (N, T) float32, frame rate, frame times (T,)) and
    the parameters of its EventParamSet."""
    mask_ids, traces = (imaging.Activity.Trace & key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
    frame_times = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times")
    stacked = np.stack(traces).astype(np.float32) if len(traces) else np.zeros((0, len(frame_times)), np.float32)
    return TraceInputs(mask_ids=np.asarray(mask_ids, dtype=np.int64), traces=stacked,
                       fps=float((imaging.RecordingInfo & key).fetch1("fps")), frame_times=frame_times,
                       params=(EventParamSet & key).fetch1("params"))


# ---------------------------------------------------------------------------- transient curation


@schema
class TransientCuration(dj.Manual):
    """A curator's corrections of the transients of an Activity trace set (`transient_curation.curate_transients`).

    Attributes:
        transient_curation_id: per Transients key, 0, 1, ...
        curation_time, curator, curation_note: when, who and why.
        parent_curation_id: the curation whose corrections this one carries on; None: none.
        Cell: per corrected cell, ``merge_mode``, ``rejected_ids`` (transient ids) and ``marked_peaks`` (frames).
    """

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
        merge_mode: enum('incoming_only', 'overlapping', 'all')  # CalTrig's Accept Incoming Only / Overlapping Only / All
        rejected_ids: <blob>             # (k,) transient_id of Transients.Transient rejected
        marked_peaks: <blob>             # (m,) 0-based frames marked as transient peaks
        """


@schema
class CuratedTransients(StageTable, dj.Computed):
    """The transients after a curation: the detected ones less the rejected, plus the marked
    (`stages.curated_transients`).

    Attributes:
        transient_count: transients of all cells.
        Transient: as `Transients.Transient`, numbered anew, with ``added`` (marked by the curator).
        CellStats: as `Transients.CellStats`, over the curated transients.
    """

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

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        columns = ("mask_id", "transient_id", *STORED_TRANSIENT_COLUMNS)
        stored = (Transients.Transient & key).to_arrays(*columns, order_by=("mask_id", "transient_id"))
        return (pack({"traces": vars(_trace_inputs(key)), "stored": dict(zip(columns, stored)),
                      "cells": (TransientCuration.Cell & key).to_dicts()}),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = unpack(inputs)
        inputs = CurationInputs(traces=TraceInputs(**inputs["traces"]), stored=inputs["stored"], cells=inputs["cells"])
        return (stages.run(CuratedTransients.__name__, inputs),)


# ---------------------------------------------------------------------------- behaviour events


@schema
class BehaviorEventType(dj.Manual):
    """The kinds of behaviour events (`behavior.insert_events` adds new ones).

    Attributes:
        event_type: e.g. ``lever``, ``reward``.
        event_type_desc: what it is.
    """

    definition = """
    event_type: varchar(32)            # e.g. lever, reward, ALP, ILP, RNF
    ---
    event_type_desc='': varchar(255)
    """


@schema
class BehaviorEvent(dj.Manual):
    """One behaviour event of a recording (`element_calcium.behavior` imports them).

    Attributes:
        event_type: its `BehaviorEventType`.
        event_id: per recording and type, in insertion order.
        event_time: (s) recording clock, 0 at the first frame.
    """

    definition = """
    # a behaviour event during a recording
    -> imaging.Recording
    -> BehaviorEventType
    event_id: int32                    # per recording and type, in time order of insertion
    ---
    event_time: float64                # (s) recording clock: 0 is the first frame
    """


# ---------------------------------------------------------------------------- peri-event windows


@schema
class PeriEventWindow(StageTable, dj.Computed):
    """Each cell's activity around every event of one type, and its response (`stages.peri_event`).

    Attributes:
        n_events: events of the type.
        mask_ids: (N,) the cells of the windows' second axis.
        sample_times: (S,) s relative to the event.
        event_frames: (E,) the nearest frame of each event.
        windows: (E, N, S) float32 trial x cell x sample, NaN outside the recording (an ``.npy`` in the store).
        CellResponse: per cell, trials, baseline, mean response, delta, z-score and permutation p-value.
    """

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

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        event_times = (BehaviorEvent & key).to_arrays("event_time", order_by="event_time")
        return (pack({"traces": vars(_trace_inputs(key)), "event_times": np.asarray(event_times, np.float64)}),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = unpack(inputs)
        inputs = PeriEventInputs(traces=TraceInputs(**inputs["traces"]), event_times=inputs["event_times"])
        return (stages.run(PeriEventWindow.__name__, inputs),)

# ---------------------------------------------------------------------------- spatiotemporal events


@schema
class SpatialEvents(StageTable, dj.Computed):
    """Spatiotemporal events (astrocyte-style) in the motion-corrected movie (`stages.spatial_events`).

    Attributes:
        event_map: the (T, H, W) int32 HDF5 movie of event ids (0: none), relative to the processed root.
        event_count: events found.
        device, wall_time: where (cpu, cuda) and how long (s) the detection ran.
        noise_image: (H, W) float32 noise standard deviation of each pixel (grey levels).
        Event: per event, frames, bounding box, volume, area, duration (s), centroid, height, SNR, footprint and
            mean trace.
    """

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

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        processed_root = imaging.get_processed_root_dir()
        movie = find_full_path(processed_root, (imaging.MotionCorrection & key).fetch1("corrected_movie"))
        output_dir = (imaging.ProcessingTask & key).fetch1("processing_output_dir")
        imaging.ProcessingTask.check_output_dir(key, output_dir)
        return (pack(vars(SpatialEventInputs(
            movie_file=str(movie), output_dir=str(path_under_root(processed_root, output_dir)),
            output_dir_relative=output_dir, event_paramset_id=key["event_paramset_id"],
            params=(EventParamSet & key).fetch1("params"),
            frame_times=(imaging.RecordingInfo.Timestamps & key).fetch1("frame_times"),
            owner=imaging.results_owner(SpatialEvents, key),
            movie_owner=imaging.results_owner(imaging.MotionCorrection, key),
        ))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = SpatialEventInputs(**unpack(inputs))
        with step_progress(SpatialEvents.__name__, key, step="detecting events (two passes)",
                           unit="frames") as progress:
            return (stages.run(SpatialEvents.__name__, inputs, settings=imaging.stage_settings(progress)),)
