"""What an NWB export holds, read from the activated schema modules with table queries only.

`recording_content` gathers the recording (subject, session, device, frames and their times, raw files);
`processing_content` the results of one processing task and curation (motion, summary images, cells with their
classification and groups, traces, transients). Nothing here writes NWB.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from element_calcium.paths import find_full_path

ACTIVITY_SERIES = {"dff": "dF/F", "deconvolved": "deconvolved spikes", "denoised": "denoised calcium"}


@dataclass(frozen=True, eq=False)
class RecordingContent:
    """One recording and what lies above it.

    key: the Recording's primary key. subject: the subject's row (``subject`` and, where the table has them,
    ``sex``, ``subject_birth_date``, ``subject_description``). session_start: the session's ``session_datetime``
    (naive, local). session_note: its note ('' without one). equipment: (name, description, modality).
    software: acquisition software. location: the anatomical description of the recording's location, or None.
    info: the RecordingInfo row. frame_times: (T,) float64 seconds from the first frame. folder: absolute raw
    folder; files: absolute raw files in acquisition order. user_fps: the frame rate given for plain TIFF, else
    None.
    """

    key: dict[str, Any]
    subject: dict[str, Any]
    session_start: Any
    session_note: str
    equipment: tuple[str, str, str]
    software: str
    location: str | None
    info: dict[str, Any]
    frame_times: np.ndarray
    folder: pathlib.Path
    files: tuple[pathlib.Path, ...]
    user_fps: float | None


@dataclass(frozen=True, eq=False)
class Cells:
    """The cells of one curation, in increasing mask id.

    mask_ids: (N,) int64. ypix, xpix, weights: per cell, (npix,) rows, columns and footprint weights.
    origin: per cell "segmented", "merged" or "added". mask_type: per cell the classification ("unknown" for
    cells the curation made). confidence: (N,) float32, NaN where none. verified: (N,) bool. groups: per cell the
    names of its groups. fluorescence, background: (N, T) float32 (background None where any cell lacks one).
    activity: extraction method -> (N, T) float32.
    """

    mask_ids: np.ndarray
    ypix: list[np.ndarray]
    xpix: list[np.ndarray]
    weights: list[np.ndarray]
    origin: list[str]
    mask_type: list[str]
    confidence: np.ndarray
    verified: np.ndarray
    groups: list[list[str]]
    fluorescence: np.ndarray
    background: np.ndarray | None
    activity: dict[str, np.ndarray]


@dataclass(frozen=True, eq=False)
class Transients:
    """One set of transients: a name for the NWB table, what it is, and its rows ordered by mask id and
    transient id (dicts of the Transient part's attributes, ``added`` for curated sets)."""

    name: str
    description: str
    rows: list[dict[str, Any]]


@dataclass(frozen=True, eq=False)
class ProcessingContent:
    """The results of one processing task and curation; parts not yet computed are None or empty.

    task: the ProcessingTask key with ``processing_method`` and ``task_mode``. curation: the Curation row, or
    None before segmentation. motion: rigid row (y_shifts, x_shifts, outlier_frames, template_correlation),
    ``blocks`` (rows of Block) and ``channel``; None before motion correction. images: name -> (H, W) summary
    image. cells: None before Fluorescence of the curation. transients: each Transients / CuratedTransients set
    of the curation.
    """

    task: dict[str, Any]
    curation: dict[str, Any] | None
    motion: dict[str, Any] | None
    images: dict[str, np.ndarray]
    cells: Cells | None
    transients: list[Transients] = field(default_factory=list)


def _ancestor_row(table, restriction: dict[str, Any], primary_key: tuple[str, ...]) -> dict[str, Any] | None:
    """The row of the ancestor of ``table`` whose primary key is ``primary_key`` (e.g. the subject table), or None
    where no ancestor has that key."""
    for ancestor in table().ancestors(as_objects=True):
        if tuple(ancestor.primary_key) == primary_key:
            rows = (ancestor & {name: restriction[name] for name in primary_key}).to_dicts()
            return rows[0] if rows else None
    return None


def recording_content(imaging: ModuleType, key: dict[str, Any]) -> RecordingContent:
    """The recording of ``key`` (a Recording key, or any restriction naming one ingested recording).

    Raises:
        ValueError: ``key`` names no ingested recording (RecordingInfo) or several.
    """
    matches = (imaging.RecordingInfo & key).keys()
    if len(matches) != 1:
        found = "none is ingested (RecordingInfo)" if not matches else f"{len(matches)} match"
        raise ValueError(f"recording {key}: {found}; give the key of one ingested recording")
    key = matches[0]
    recording = (imaging.Recording & key).fetch1()
    session_key = {name: key[name] for name in key if name != "recording_id"}
    session = _ancestor_row(imaging.Recording, key, tuple(session_key)) or {}
    subject = _ancestor_row(imaging.Recording, key, ("subject",)) if "subject" in key else None
    equipment = _ancestor_row(imaging.Recording, recording, ("equipment",)) or {}
    location = None
    if imaging.RecordingLocation & key:
        place = (imaging.RecordingLocation & key).fetch1()
        row = _ancestor_row(imaging.RecordingLocation, place, ("recording_location_id",)) or {}
        location = row.get("anatomical_description") or place["recording_location_id"]
    roots = imaging.get_raw_root_dirs()
    files = (imaging.RecordingInfo.File & key).to_arrays("file_path", order_by="file_id")
    info = (imaging.RecordingInfo & key).fetch1()
    modality = equipment.get("modality") or ("one-photon" if imaging.modality_of(recording["acquisition_software"])
                                             == "1p" else "two-photon")
    user_fps = recording["frame_rate"]
    return RecordingContent(
        key=key,
        subject=subject or {"subject": str(key.get("subject", "unknown"))},
        session_start=key.get("session_datetime") or info["recording_datetime"],
        session_note=str(session.get("session_note") or ""),
        equipment=(recording["equipment"], str(equipment.get("equipment_description") or ""), modality),
        software=recording["acquisition_software"],
        location=location,
        info=info,
        frame_times=np.asarray((imaging.RecordingInfo.Timestamps & key).fetch1("frame_times"), dtype=np.float64),
        folder=find_full_path(roots, recording["recording_directory"]),
        files=tuple(find_full_path(roots, path) for path in files),
        user_fps=None if user_fps is None or not np.isfinite(user_fps) else float(user_fps),
    )


def processing_task(imaging: ModuleType, key: dict[str, Any]) -> dict[str, Any] | None:
    """The one ProcessingTask of the recording ``key`` (restricted by ``key``'s ``paramset_id`` when given), or
    None when the recording has none.

    Raises:
        ValueError: several tasks match; the message lists their parameter sets.
    """
    tasks = (imaging.ProcessingTask & key).keys(order_by="paramset_id")
    if len(tasks) > 1:
        ids = ", ".join(str(task["paramset_id"]) for task in tasks)
        raise ValueError(f"recording {key}: {len(tasks)} processing tasks (paramset_id {ids}); add paramset_id=... "
                         "to the key to choose one")
    if not tasks:
        return None
    method, mode = (imaging.ProcessingTask * imaging.ProcessingParamSet & tasks[0]).fetch1(
        "processing_method", "task_mode")
    return {**tasks[0], "processing_method": method, "task_mode": mode}


def processing_content(imaging: ModuleType, events: ModuleType | None, task: dict[str, Any],
                       curation_id: int | None) -> ProcessingContent:
    """The results of ``task`` for curation ``curation_id`` (None: the latest curation, the highest id).

    Raises:
        ValueError: ``curation_id`` is not a curation of the task (the message lists them).
    """
    task_key = {name: task[name] for name in imaging.ProcessingTask.primary_key}
    curation_ids = (imaging.Curation & task_key).to_arrays("curation_id", order_by="curation_id")
    if curation_id is not None and curation_id not in set(curation_ids.tolist()):
        listed = ", ".join(map(str, curation_ids)) or "none yet (not segmented)"
        raise ValueError(f"curation {curation_id} is not a curation of task {task_key}; its curations: {listed}")
    if curation_id is None and len(curation_ids):
        curation_id = int(curation_ids[-1])
    curation = None if curation_id is None else (imaging.Curation & task_key & {"curation_id": curation_id}).fetch1()
    curation_key = None if curation is None else {**task_key, "curation_id": curation_id}
    cells = None
    if curation_key is not None and imaging.Fluorescence & curation_key:
        cells = _cells(imaging, task_key, curation_key)
    transients = [] if events is None or cells is None else _transients(events, curation_key)
    return ProcessingContent(task=task, curation=curation, motion=_motion(imaging, task_key),
                             images=_images(imaging, task_key), cells=cells, transients=transients)


def _motion(imaging: ModuleType, task_key: dict[str, Any]) -> dict[str, Any] | None:
    if not imaging.MotionCorrection & task_key:
        return None
    rigid = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1()
    blocks = (imaging.MotionCorrection.Block & task_key).to_dicts(order_by="block_id")
    channel = (imaging.MotionCorrection & task_key).fetch1("motion_correct_channel")
    return {"rigid": rigid, "blocks": blocks, "channel": int(channel)}


def _images(imaging: ModuleType, task_key: dict[str, Any]) -> dict[str, np.ndarray]:
    """Summary images by name: the motion correction's, then the segmentation's (``segmentation_``...)."""
    images = {}
    if imaging.MotionCorrection.Summary & task_key:
        row = (imaging.MotionCorrection.Summary & task_key).fetch1()
        images.update({name: row[name] for name in ("ref_image", "average_image", "correlation_image",
                                                     "max_proj_image", "pnr_image")})
    if imaging.Segmentation & task_key:
        row = (imaging.Segmentation & task_key).fetch1()
        images.update({f"segmentation_{name}": row[name] for name in ("correlation_image", "pnr_image")})
    return {name: np.asarray(image, dtype=np.float32) for name, image in images.items() if image is not None}


def _stack(rows: list[dict[str, Any]], attribute: str, ids: np.ndarray, what: str) -> np.ndarray:
    """(N, T) float32 of ``attribute`` from rows ordered by mask id, which must be the cells ``ids``."""
    found = np.array([row["mask_id"] for row in rows], dtype=np.int64)
    if not np.array_equal(found, ids):
        raise ValueError(f"{what} holds cells {found.tolist()[:10]}, the curation {ids.tolist()[:10]}; populate it "
                         "again for this curation")
    return np.stack([np.asarray(row[attribute], dtype=np.float32) for row in rows])


def _cells(imaging: ModuleType, task_key: dict[str, Any], curation_key: dict[str, Any]) -> Cells:
    traces = (imaging.Fluorescence.Trace & curation_key).to_dicts(order_by="mask_id")
    ids = np.array([row["mask_id"] for row in traces], dtype=np.int64)
    masks = {row["mask_id"]: {**row, "origin": "segmented"}
             for row in (imaging.Segmentation.Mask & task_key).to_dicts()}
    for part, origin in ((imaging.Curation.Merged, "merged"), (imaging.Curation.Added, "added")):
        masks.update({row["mask_id"]: {**row, "origin": origin} for row in (part & task_key).to_dicts()})
    missing = sorted(set(ids.tolist()) - set(masks))
    if missing:
        raise ValueError(f"curation {curation_key}: cells {missing[:10]} have no footprint in Segmentation.Mask or "
                         "Curation.Merged/Added")
    types = {row["mask_id"]: row for row in (imaging.MaskClassification.MaskType & task_key).to_dicts()}
    verified = set((imaging.Curation.Verified & curation_key).to_arrays("mask_id").tolist())
    groups: dict[int, list[str]] = {}
    for row in (imaging.Curation.CellGroup & curation_key).to_dicts(order_by=("mask_id", "group_name")):
        groups.setdefault(int(row["mask_id"]), []).append(row["group_name"])
    activity = {}
    for method in (imaging.Activity & curation_key).to_arrays("extraction_method"):
        rows = (imaging.Activity.Trace & curation_key & {"extraction_method": method}).to_dicts(order_by="mask_id")
        activity[str(method)] = _stack(rows, "activity_trace", ids, f"Activity ({method})")
    confidence = [types.get(i, {}).get("confidence") for i in ids.tolist()]
    has_background = all(row["background_fluorescence"] is not None for row in traces)
    chosen = [masks[i] for i in ids.tolist()]
    return Cells(
        mask_ids=ids,
        ypix=[np.asarray(mask["mask_ypix"], dtype=np.int64) for mask in chosen],
        xpix=[np.asarray(mask["mask_xpix"], dtype=np.int64) for mask in chosen],
        weights=[np.asarray(mask["mask_weights"], dtype=np.float32) for mask in chosen],
        origin=[mask["origin"] for mask in chosen],
        mask_type=[types.get(i, {}).get("mask_type", "unknown") for i in ids.tolist()],
        confidence=np.array([np.nan if c is None else c for c in confidence], dtype=np.float32),
        verified=np.isin(ids, sorted(verified)),
        groups=[groups.get(i, []) for i in ids.tolist()],
        fluorescence=_stack(traces, "fluorescence", ids, "Fluorescence"),
        background=_stack(traces, "background_fluorescence", ids, "Fluorescence") if has_background else None,
        activity=activity,
    )


def _transients(events: ModuleType, curation_key: dict[str, Any]) -> list[Transients]:
    """The automatic and curated transient sets of the curation, each as one table."""
    sets = []
    for key in (events.Transients & curation_key).keys(order_by=("extraction_method", "event_paramset_id")):
        rows = (events.Transients.Transient & key).to_dicts(order_by=("mask_id", "transient_id"))
        name = f"transients_{key['extraction_method']}_paramset{key['event_paramset_id']}"
        text = (f"calcium transients detected in the {ACTIVITY_SERIES.get(key['extraction_method'], '')} traces "
                f"(event parameter set {key['event_paramset_id']})")
        sets.append(Transients(name, text, rows))
    for key in (events.CuratedTransients & curation_key).keys(
            order_by=("extraction_method", "event_paramset_id", "transient_curation_id")):
        rows = (events.CuratedTransients.Transient & key).to_dicts(order_by=("mask_id", "transient_id"))
        name = (f"curated_transients_{key['extraction_method']}_paramset{key['event_paramset_id']}"
                f"_curation{key['transient_curation_id']}")
        text = (f"calcium transients after transient curation {key['transient_curation_id']} of the "
                f"{key['extraction_method']} traces (event parameter set {key['event_paramset_id']})")
        sets.append(Transients(name, text, rows))
    return sets


def behavior_events(events: ModuleType | None, recording_key: dict[str, Any]) -> list[dict[str, Any]]:
    """Behaviour events of the recording ordered by time: event_type, event_id, event_time (s, recording clock)."""
    if events is None:
        return []
    rows = (events.BehaviorEvent & recording_key).to_dicts()
    return sorted(rows, key=lambda row: (row["event_time"], row["event_type"], row["event_id"]))
