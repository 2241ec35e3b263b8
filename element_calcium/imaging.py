"""The imaging schema: recordings, their processing into cells, curation, and the cells' traces.

Activate it with a linking module that provides the upstream tables and the data roots::

    imaging.activate("ec_imaging", linking_module=my_pipeline)

The linking module must define ``Session``, ``Equipment`` and ``AnatomicalLocation`` tables
and two functions: ``get_raw_root_dirs() -> list[Path]`` (roots holding raw recordings) and
``get_processed_root_dir() -> Path`` (root for processing output). Paths stored in tables are
relative to those roots.

The schema's tables are declared in four modules on one schema object, upstream first:
`imaging_recordings` (recordings, parameter sets, processing tasks), `imaging_processing` (motion
correction, segmentation, mask classification), `imaging_provenance` (what ran for each task) and this one
(curation, fluorescence, activity). This
module is the schema's public face: every table and helper is used as ``imaging.<name>``.
"""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime
from types import ModuleType
from typing import Any

import datajoint as dj
import numpy as np

from . import _schema_runtime, imaging_processing, imaging_provenance, imaging_recordings, reservations, stages
from ._fetched import pack, unpack
from ._schema_runtime import StageTable, activated_schemas, check_attribute, create_utf8mb4_schema
from .extraction_file import ExtractedSources, read_stored_traces
from .imaging_processing import MaskClassification, MaskType, MotionCorrection, Segmentation, stage_settings
from .imaging_provenance import Processing
from .imaging_recordings import (
    DEFAULT_METHOD,
    DEFAULT_PARAMSET_ID,
    AcquisitionSoftware,
    Channel,
    ProcessingMethod,
    ProcessingParamSet,
    ProcessingTask,
    Recording,
    RecordingInfo,
    RecordingLocation,
    get_processed_root_dir,
    get_raw_root_dirs,
    modality_of,
    schema,
)
from .output_dirs import results_owner
from .paths import find_full_path
from .stages import fluorescence
from .stages.activity import ACTIVITY_METHODS, TOOL_TRACE, ActivityInputs

__all__ = [  # the imaging schema's public names, wherever they are declared
    "AcquisitionSoftware", "Activity", "ActivityExtractionMethod", "Channel", "Curation", "Fluorescence",
    "MaskClassification", "MaskType", "MotionCorrection", "Processing", "ProcessingMethod", "ProcessingParamSet",
    "ProcessingTask", "Recording", "RecordingInfo", "RecordingLocation", "Segmentation", "DEFAULT_METHOD",
    "DEFAULT_PARAMSET_ID", "activate", "activated_schemas", "automatic_tables", "check_attribute",
    "create_utf8mb4_schema", "curated_sources", "curation_chain", "curation_inputs", "fill_automatic_entries",
    "get_processed_root_dir", "get_raw_root_dirs", "master_tables", "modality_of", "populate_all", "results_owner",
    "schema", "stage_settings",
]


def activate(
    schema_name: str,
    *,
    create_schema: bool = True,
    create_tables: bool = True,
    linking_module: ModuleType | str,
) -> None:
    """Bind the imaging tables to ``schema_name`` on the database server.

    Args:
        schema_name: database schema name.
        create_schema: create the schema when it does not exist yet.
        create_tables: declare tables that do not exist yet.
        linking_module: module (or its import name) with ``Session``, ``Equipment``,
            ``AnatomicalLocation``, ``get_raw_root_dirs`` and ``get_processed_root_dir``.
    """
    if isinstance(linking_module, str):
        linking_module = importlib.import_module(linking_module)
    if not inspect.ismodule(linking_module):
        raise ValueError("linking_module must be a module or the name of one")
    required = ("Session", "Equipment", "AnatomicalLocation", "get_raw_root_dirs", "get_processed_root_dir")
    missing = [name for name in required if not hasattr(linking_module, name)]
    if missing:
        raise ValueError(f"linking module {linking_module.__name__} lacks {missing}")
    _schema_runtime.bind_linking_module(linking_module)
    if create_schema:
        create_utf8mb4_schema(schema_name)
    schema.activate(
        schema_name,
        create_schema=create_schema,
        create_tables=create_tables,
        add_objects=linking_module.__dict__,
    )
    for module in (imaging_recordings, imaging_processing, imaging_provenance, importlib.import_module(__name__)):
        _schema_runtime.record_activated(module)


# ---------------------------------------------------------------------------- curation and traces

_NEW_CELL_ATTRIBUTES = """
        mask_npix: int32                  # non-zero pixels
        mask_center_x: float32            # (pixels) weighted centroid
        mask_center_y: float32            # (pixels)
        mask_xpix: <blob>                 # (npix,) int32 column of each pixel
        mask_ypix: <blob>                 # (npix,) int32 row of each pixel
        mask_weights: <blob>              # (npix,) float32 footprint weights, unit L2 norm
        fluorescence: <blob>              # (T,) float32 estimated from the motion-corrected movie
        background_fluorescence: <blob>   # (T,) float32 background under the footprint, same units
"""


@schema
class Curation(dj.Manual):
    """A version of a segmentation's cells; curation 0 is the segmentation as it came out, each edit a new one.

    Attributes:
        Segmentation (foreign key): the segmentation.
        curation_id: the curation's number; 0 is as segmented.
        curation_time: when it was made.
        curator: who made it.
        curation_note: free text.
        parent_curation_id: the curation this one was derived from; null for curation 0.
    """

    definition = """
    # a version of a segmentation's cells; curation 0 is the segmentation as it came out
    -> Segmentation
    curation_id: int16
    ---
    curation_time: datetime(3)
    curator='': varchar(64)
    curation_note='': varchar(2000)
    parent_curation_id=null: int16      # the curation this one was derived from; null for curation 0
    """

    class Rejected(dj.Part):
        """A cell of the parent curation left out of this one.

        Attributes:
            mask_id: the cell's id.
        """

        definition = """
        # a cell of the parent curation left out of this one
        -> master
        mask_id: int32
        """

    class Merged(dj.Part):
        """A new cell replacing several cells of the parent curation: re-estimated from the motion-corrected
        movie where the task has one; for loaded results (no corrected movie), the mean of the merged cells'
        footprints and traces, as CalTrig merges.

        Attributes:
            mask_id: the new cell's id.
            merged_ids: (k,) int64 ids of the parent's cells it replaces.
            mask_npix, mask_center_x, mask_center_y, mask_xpix, mask_ypix: its footprint, as in `Segmentation.Mask`.
            mask_weights: (npix,) float32 footprint weights: unit L2 norm when re-estimated; the mean of the
                merged footprints, in the loaded tool's units, for loaded results.
            fluorescence: (T,) float32 trace: estimated from the corrected movie, or the merged cells' mean.
            background_fluorescence: (T,) float32 background under the footprint, same units.
        """

        definition = """
        # a new cell replacing several cells of the parent curation, re-estimated from the movie
        -> master
        mask_id: int32                    # the new cell's id
        ---
        merged_ids: <blob>                # (k,) int64 ids of the parent's cells it replaces
        """ + _NEW_CELL_ATTRIBUTES

    class Added(dj.Part):
        """A cell the segmentation missed, drawn by hand; footprint and traces estimated from the movie (the
        motion-corrected movie, or for loaded results the raw movie moved by the loaded motion).

        Attributes:
            mask_id: the new cell's id.
            mask_npix, mask_center_x, mask_center_y, mask_xpix, mask_ypix: its footprint, as in `Segmentation.Mask`.
            mask_weights: (npix,) float32 footprint weights, unit L2 norm.
            fluorescence: (T,) float32 trace estimated from that movie.
            background_fluorescence: (T,) float32 background under the footprint, same units.
        """

        definition = """
        # a cell the segmentation missed, drawn by hand; footprint and traces estimated from the movie
        -> master
        mask_id: int32
        ---
        """ + _NEW_CELL_ATTRIBUTES

    class Verified(dj.Part):
        """A cell a curator checked and accepted (the whole set of this curation, the parent's included).

        Attributes:
            mask_id: the cell's id.
        """

        definition = """
        # a cell a curator checked and accepted (the whole set of this curation, parent's included)
        -> master
        mask_id: int32
        """

    class CellGroup(dj.Part):
        """Named sets of cells, several per cell (the whole set of this curation, the parent's included).

        Attributes:
            group_name: the set's name.
            mask_id: a cell of the set.
        """

        definition = """
        # named sets of cells, several per cell (the whole set of this curation, parent's included)
        -> master
        group_name: varchar(64)
        mask_id: int32
        """

    @classmethod
    def create1_from_segmentation(cls, key: dict[str, Any]) -> dict[str, Any]:
        """Curation 0 ("as segmented") of the segmentation ``key``; returns its key (a no-op when it exists)."""
        segmentation_key = (Segmentation & key).fetch1("KEY")
        curation_key = {**segmentation_key, "curation_id": 0}
        cls.insert1(
            {**curation_key, "curation_time": datetime.now(), "curation_note": "as segmented"},
            skip_duplicates=True,
        )
        return curation_key

    @classmethod
    def fill_automatic(cls) -> int:
        """Create curation 0 of every segmentation that has none; returns how many were created."""
        missing = (Segmentation - (cls & "curation_id = 0")).keys()
        for key in missing:
            cls.create1_from_segmentation(key)
        return len(missing)


def curation_chain(key: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys of the curations from curation 0 to the curation ``key``, following the parents."""
    chain = []
    current = (Curation & key).fetch1()
    while True:
        chain.append({name: current[name] for name in Curation.primary_key})
        if current["parent_curation_id"] is None:
            return chain[::-1]
        current = (Curation & {**key, "curation_id": current["parent_curation_id"]}).fetch1()


def _edit_rows(key: dict[str, Any]) -> dict[str, Any]:
    """The changes curation ``key`` makes to its parent, as stored (see `stages.fluorescence.edits_from_rows`)."""
    new_cells = [row for part in (Curation.Merged, Curation.Added) for row in (part & key).to_dicts(order_by="mask_id")]
    return {"rejected": (Curation.Rejected & key).to_arrays("mask_id"), "new_cells": new_cells}


def curation_inputs(key: dict[str, Any]) -> dict[str, Any]:
    """What the cells of curation ``key`` are made of: the segmentation's results file (path, the owner it must
    record, and its size and modification time as a fingerprint), its mask ids, each curation's changes from
    curation 0 on, and the parameter set. Small, apart from the traces of merged and added cells."""
    path = find_full_path(get_processed_root_dir(), (Segmentation & key).fetch1("results_file"))
    stat = path.stat()
    return {
        "results_file": str(path),
        "owner": results_owner(Segmentation, (Segmentation & key).fetch1("KEY")),
        "file_stamp": (stat.st_size, stat.st_mtime_ns),
        "mask_ids": (Segmentation.Mask & key).to_arrays("mask_id", order_by="mask_id"),
        "chain": [_edit_rows(link) for link in curation_chain(key)],
        "params": (ProcessingParamSet & key).fetch1("params"),
    }


def curated_sources(key: dict[str, Any]) -> ExtractedSources:
    """Footprints and traces of the cells of curation ``key`` (`stages.fluorescence.curated_sources`)."""
    return fluorescence.curated_sources(curation_inputs(key))


@schema
class Fluorescence(StageTable, dj.Computed):
    """The fluorescence trace of each cell of a curation (`stages.fluorescence`).

    Attributes:
        Curation (foreign key): the curation.
    """

    definition = """
    # fluorescence trace of each mask of a curation
    -> Curation
    """

    class Trace(dj.Part):
        """One cell's fluorescence.

        Attributes:
            mask_id: the cell's id.
            fluorescence_channel: the channel the trace was read from.
            fluorescence: (T,) float32 the cell's own fluorescence, background removed (grey levels).
            background_fluorescence: (T,) float32 background / neuropil that was removed, same units; null if none.
        """

        definition = """
        -> master
        mask_id: int32
        -> Channel.proj(fluorescence_channel='channel')
        ---
        fluorescence: <blob>              # (T,) float32 the mask's own fluorescence, background removed (grey levels)
        background_fluorescence=null: <blob>  # (T,) float32 background / neuropil that was removed, same units
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(curation_inputs(key)),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        return (stages.run(Fluorescence.__name__, unpack(inputs)),)


@schema
class ActivityExtractionMethod(dj.Lookup):
    """The ways activity is computed from fluorescence (`stages.activity.ACTIVITY_METHODS`).

    Attributes:
        extraction_method: ``dff``, ``deconvolved`` or ``denoised``.
        extraction_method_desc: what it computes.
    """

    definition = """
    extraction_method: varchar(32)
    ---
    extraction_method_desc='': varchar(255)
    """
    contents = [{"extraction_method": name, "extraction_method_desc": text} for name, text in ACTIVITY_METHODS.items()]


@schema
class Activity(StageTable, dj.Computed):
    """Activity of each cell of a curation: dF/F, deconvolved spikes or denoised calcium (`stages.activity`).

    Attributes:
        Fluorescence (foreign key): the curation's fluorescence.
        ActivityExtractionMethod (foreign key): how activity is computed.
    """

    definition = """
    # activity of each mask of a curation: dF/F, deconvolved spikes or denoised calcium
    -> Fluorescence
    -> ActivityExtractionMethod
    """

    class Trace(dj.Part):
        """One cell's activity.

        Attributes:
            Fluorescence.Trace (foreign key): the cell's fluorescence trace.
            activity_trace: (T,) float32: dF/F (unitless), deconvolved spikes or denoised calcium (fluorescence units).
            standardized_noise: (percent per sqrt(Hz)) dF/F only: 100 median(abs(diff(dF/F))) / sqrt(fps).
            ar_coefficients: (p,) float32 AR coefficients g1..gp of the OASIS deconvolution that made a
                deconvolved or denoised trace (minian's ``g``; `element_calcium.compute.deconvolution.ar_pulse_response`
                and `element_calcium.plotting.plot_pulse_responses` use them); null for dF/F and where none is known.
        """

        definition = """
        -> master
        -> Fluorescence.Trace
        ---
        activity_trace: <blob>            # (T,) float32
        standardized_noise=null: float32  # dF/F only: 100 median(abs(diff(dF/F))) / sqrt(fps), percent per sqrt(Hz)
        ar_coefficients=null: <blob>      # (p,) float32 AR coefficients g1..gp of the deconvolution; null: none
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(vars(_activity_inputs(key))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        return (stages.run(Activity.__name__, ActivityInputs(**unpack(inputs))),)


def _activity_inputs(key: dict[str, Any]) -> ActivityInputs:
    """The inputs of the Activity ``key``: the stored fluorescence of its curation's cells and, when the
    segmentation's results file holds the producing tool's trace for the method (read from the file's metadata),
    the file and the ids of the cells that take that trace: the segmentation's cells that no curation replaced."""
    mask_ids, traces, backgrounds = (Fluorescence.Trace & key).to_arrays(
        "mask_id", "fluorescence", "background_fluorescence", order_by="mask_id")
    path = find_full_path(get_processed_root_dir(), (Segmentation & key).fetch1("results_file"))
    owner = results_owner(Segmentation, (Segmentation & key).fetch1("KEY"))
    stored = read_stored_traces(path, owner=owner)
    n_frames = len(traces[0]) if len(traces) else 0
    tool_file = {}
    tool_trace_ids = np.zeros(0, np.int64)
    if TOOL_TRACE[key["extraction_method"]] in stored.names:
        new_ids = {int(mask_id) for link in curation_chain(key) for part in (Curation.Merged, Curation.Added)
                   for mask_id in (part & link).to_arrays("mask_id")}
        segmented = {int(mask_id) for mask_id in (Segmentation.Mask & key).to_arrays("mask_id")}
        kept = segmented - new_ids
        tool_trace_ids = np.array([mask_id for mask_id in mask_ids if int(mask_id) in kept], np.int64)
        fitted = dict(zip(*(Segmentation.Mask & key).to_arrays("mask_id", "ar_coefficients")))
        tool_file["tool_ar_coefficients"] = [fitted.get(int(mask_id)) for mask_id in tool_trace_ids]
        stat = path.stat()
        tool_file.update(results_file=str(path), owner=owner, file_stamp=(stat.st_size, stat.st_mtime_ns))
    return ActivityInputs(
        extraction_method=key["extraction_method"], mask_ids=np.asarray(mask_ids, np.int64),
        fluorescence=_stacked(traces, n_frames),
        background=None if any(trace is None for trace in backgrounds) else _stacked(backgrounds, n_frames),
        fps=stored.fps, params=(ProcessingParamSet & key).fetch1("params"), tool_trace_ids=tool_trace_ids, **tool_file)


def _stacked(traces: Any, n_frames: int) -> np.ndarray:
    """(N, T) float32 of N stored (T,) traces (``n_frames`` = T, for N = 0)."""
    return np.stack(traces).astype(np.float32) if len(traces) else np.zeros((0, n_frames), np.float32)


# ---------------------------------------------------------------------------- populate


def master_tables(schemas=None) -> list[type[dj.Table]]:
    """Master (non-Part) tables of the schema modules ``schemas`` (default: those activated), in declaration
    order."""
    return _schema_runtime.master_tables(activated_schemas() if schemas is None else schemas)


def automatic_tables(schemas=None) -> list[type[dj.Table]]:
    """Every Imported/Computed table of the schema modules ``schemas`` (default: those activated), upstream
    first."""
    return _schema_runtime.automatic_tables(activated_schemas() if schemas is None else schemas)


def fill_automatic_entries(schemas=None) -> None:
    """Insert the automatic rows of Manual tables that define ``fill_automatic()`` (e.g. Curation 0)."""
    _schema_runtime.fill_automatic_entries(activated_schemas() if schemas is None else schemas)


def populate_all(
    display_progress: bool = True,
    reserve_jobs: bool = False,
    suppress_errors: bool = False,
    *,
    heartbeat_s: float = reservations.HEARTBEAT_S,
    schemas=None,
) -> dict[str, dict[str, Any]]:
    """Populate every automatic table of the schema modules ``schemas`` (default: the element_calcium schemas
    activated in this process, in activation order) in dependency order.

    Manual tables with automatic entries (curation 0 of each segmentation) are filled before
    each table is populated, so one call runs from raw recordings to activity.

    With ``reserve_jobs=True`` each key is reserved in its table's jobs table, so that other
    workers skip it, and kept by a heartbeat every ``heartbeat_s`` seconds while it is computed;
    a query that finds the database away waits for it, and a result computed meanwhile is
    inserted when it returns (``element_calcium.reservations``).

    Long steps (motion correction, segmentation, spatiotemporal events) report how far they are:
    with ``display_progress`` a tqdm bar per step on a terminal or in Jupyter, otherwise a log line
    (logger ``element_calcium.progress``) every `element_calcium.progress.PROGRESS_LOG_S` seconds with the rate
    and the time left; a reserved key's progress is also written for ``element-calcium status``.

    Returns:
        ``{table name: {"success_count": int, "error_list": [(key, message), ...]}}``.
    """
    return _schema_runtime.populate_all(
        activated_schemas() if schemas is None else schemas, display_progress=display_progress,
        reserve_jobs=reserve_jobs, suppress_errors=suppress_errors, heartbeat_s=heartbeat_s)
