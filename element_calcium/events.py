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
from ._fetched import pack, unpack
from .output_dirs import key_of
from .stages.curated_transients import STORED_TRANSIENT_COLUMNS, CurationInputs
from .compute.params import PeriEventParams
from .stages.peri_event import PeriEventInputs
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
    spatial = importlib.import_module(".events_spatial", __package__)  # declares SpatialEvents on this schema
    schema.activate(schema_name, create_schema=create_schema, create_tables=create_tables)
    for module in (importlib.import_module(__name__), spatial):
        _schema_runtime.record_activated(module)


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
        windows: (E, N, S) float32 trial x cell x sample, NaN outside the recording (an ``.npy`` in the store): of
            the Activity trace, or of its transient raster (0/1 per frame; the trial mean is each cell's event
            probability per sample) where the parameter set's ``source`` says so (`stages.peri_event`).
        CellResponse: per cell, trials, baseline, mean response, delta, z-score and permutation p-value.
        transient_paramset_id: for windows of the transient raster, the Transients set it was made from; null for
            windows of the trace.
        transient_curation_id: for windows of a curation's raster, the CuratedTransients it was made from; else
            null. These keys make the windows depend on the transients they were cut from (deleting those deletes
            the windows) and place PeriEventWindow after Transients and CuratedTransients when all are populated.
    """

    definition = """
    # activity of each cell around every event of one type: the Activity trace (C, S or dF/F) or its transient raster
    -> imaging.Activity
    -> BehaviorEventType
    -> EventParamSet
    ---
    -> [nullable] Transients.proj(transient_paramset_id='event_paramset_id')
    -> [nullable] CuratedTransients.proj(transient_paramset_id='event_paramset_id')
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
        candidates = (imaging.Activity * BehaviorEventType.proj() & BehaviorEvent) * _params_of("peri_event").proj()
        return candidates & _peri_event_sources()

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        event_times = (BehaviorEvent & key).to_arrays("event_time", order_by="event_time")
        settings = PeriEventParams(**(EventParamSet & key).fetch1("params"))
        transients = None
        if settings.source != "trace":
            activity_key = key_of(imaging.Activity.primary_key, key)
            stored = _stored_transients(settings, part=True) & activity_key
            transients = dict(zip(_RASTER_COLUMNS, (np.asarray(values, np.int64)
                                                    for values in stored.to_arrays(*_RASTER_COLUMNS))))
        return (pack({"traces": vars(_trace_inputs(key)), "event_times": np.asarray(event_times, np.float64),
                      "transients": transients}),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = unpack(inputs)
        inputs = PeriEventInputs(traces=TraceInputs(**inputs["traces"]), event_times=inputs["event_times"],
                                 transients=inputs["transients"])
        return (stages.run(PeriEventWindow.__name__, inputs),)


_RASTER_COLUMNS = ("mask_id", "start_frame", "onset_frame", "peak_frame", "end_frame")


def _stored_transients(settings: PeriEventParams, *, part: bool = False):
    """The transients a raster-source peri-event set uses: those of its transient set (``Transients``) or of its
    curation (``CuratedTransients``); ``part``: the ``Transient`` rows instead of the master rows."""
    table = Transients if settings.source == "transients" else CuratedTransients
    restriction = {"event_paramset_id": settings.transient_paramset_id}
    if settings.source == "curated_transients":
        restriction["transient_curation_id"] = settings.transient_curation_id
    return (table.Transient if part else table) & restriction


def _peri_event_sources() -> list[dict[str, Any]]:
    """The peri-event keys whose source is stored: every key of a set that windows the trace; for a set that
    windows the transient raster, the Activity keys whose transients (or curation) are stored, so that a key is
    computed once its transients are, never from a raster that is not there yet."""
    allowed = []
    for set_id, params in zip(*_params_of("peri_event").to_arrays("event_paramset_id", "params")):
        settings = PeriEventParams(**params)
        if settings.source == "trace":
            allowed.append({"event_paramset_id": int(set_id)})
            continue
        stored = _stored_transients(settings).proj(transient_set="event_paramset_id")
        allowed.extend({**activity_key, "event_paramset_id": int(set_id)}
                       for activity_key in (imaging.Activity & stored).keys())
    return allowed

# ---------------------------------------------------------------------------- spatiotemporal events


def __getattr__(name: str) -> Any:
    """``SpatialEvents`` is declared on this schema in `events_spatial` (imported on first use)."""
    if name == "SpatialEvents":
        return importlib.import_module(".events_spatial", __package__).SpatialEvents
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
