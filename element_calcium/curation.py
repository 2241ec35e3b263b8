"""Manual curation of a segmentation's cells (CalTrig's ``DataInstance`` operations) as versioned curations.

Each operation derives a new `imaging.Curation` from the curation ``key`` it is given (curation_id
one above the segmentation's highest, ``parent_curation_id`` = key's) and returns the new key;
nothing already stored changes, so curation 0 (the segmentation as it came out) stays as it was.
Downstream tables (Fluorescence, Activity, Transients, ...) populate for the new curation like for
any other. Merged and hand-drawn cells get their footprint and traces from the motion-corrected
movie (`stages.fluorescence.estimate_new_cell`), not from averaging the old ones.

Results loaded from another tool (CaImAn, suite2p, minian, CalTrig, NWB) come without a motion-corrected
movie. There a merge does what CalTrig's ``merge_cells`` does: the new cell's footprint, fluorescence and
background are the means of the merged cells' (`compute.curation.average_cells`), in the units the tool stored
them in. A drawn cell's footprint and trace are fitted (`compute.curation.estimate_cell`: least squares with the
local background regressed out and the other cells' activity removed) to the recording's raw movie, moved by
the loaded motion correction into the tool's coordinates. CalTrig itself shows a drawn cell's trace as the
mask-weighted sum of minian's background-removed movie; the raw movie still holds the one-photon background,
so the fit removes it.

    key = curation.reject(curation_0_key, [3, 17], note="out of focus")
    key = curation.merge(key, [5, 6])
    key = curation.add_missed(key, drawn_mask)        # (H, W) bool
    key = curation.verify(key, [1, 2, 4])
    key = curation.group(key, "place cells", [1, 4])
    assert not curation.check_consistency(key)        # after populating
    key = curation.import_caltrig(curation_0_key)     # a CalTrig user's decisions, as one curation
    curation.import_caltrig_events(transients_key)    # CalTrig's event array E, as a transient curation
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from . import imaging, readers
from .compute import curation as curation_compute
from .compute import motion
from .loaders import caltrig as loaders_caltrig
from .stages import fluorescence as curation_chain
from .stages.fluorescence import BOX_MARGIN, GROW, RING_GAP, RING_WIDTH, NewCell, estimate_new_cell
from .paths import find_full_path

__all__ = ["add_missed", "cell_ids", "cell_groups", "check_consistency", "group", "import_caltrig",
           "import_caltrig_events", "merge", "reject", "ungroup", "verify"]


def cell_ids(key: dict[str, Any]) -> np.ndarray:
    """(N,) int64 ids of the cells of curation ``key``, increasing."""
    return np.sort(curation_chain.curated_ids(imaging.curation_inputs(key)))


def _verified(key: dict[str, Any]) -> set[int]:
    return set((imaging.Curation.Verified & key).to_arrays("mask_id").tolist())


def cell_groups(key: dict[str, Any]) -> dict[str, set[int]]:
    """Group name -> ids of its cells, in curation ``key``."""
    names, ids = (imaging.Curation.CellGroup & key).to_arrays("group_name", "mask_id")
    groups: dict[str, set[int]] = {}
    for name, mask_id in zip(names, ids):
        groups.setdefault(str(name), set()).add(int(mask_id))
    return groups


def _checked_ids(key: dict[str, Any], known: np.ndarray, ids, *, at_least: int = 1) -> list[int]:
    """``ids`` as sorted distinct ints, all among the ``known`` cells of curation ``key``."""
    chosen = sorted({int(i) for i in np.atleast_1d(np.asarray(ids, dtype=np.int64))})
    if len(chosen) < at_least:
        raise ValueError(f"give at least {at_least} distinct cell id(s), got {list(chosen)}")
    unknown = sorted(set(chosen) - set(known.tolist()))
    if unknown:
        raise ValueError(f"cell id(s) {unknown} are not cells of curation {key['curation_id']}")
    return chosen


def _next_id(key: dict[str, Any]) -> int:
    segmentation_key = (imaging.Segmentation & key).fetch1("KEY")
    return int(max((imaging.Curation & segmentation_key).to_arrays("curation_id"))) + 1


def _new_mask_id(key: dict[str, Any]) -> int:
    """An id no cell of the segmentation or of any of its curations has used."""
    segmentation_key = (imaging.Segmentation & key).fetch1("KEY")
    used = [imaging.Segmentation.Mask & segmentation_key, imaging.Curation.Merged & segmentation_key,
            imaging.Curation.Added & segmentation_key]
    return 1 + max((int(max(table.to_arrays("mask_id"))) for table in used if table), default=-1)


def _derive(key: dict[str, Any], known: np.ndarray, note: str, curator: str, *, rejected=(), merged=(), added=(),
            verified=None, groups=None) -> dict[str, Any]:
    """Insert the new curation of the parent ``key`` (whose cells are ``known``) and its parts in one transaction;
    Verified and CellGroup carry the parent's on."""
    parent = (imaging.Curation & key).fetch1("KEY")
    edits = curation_chain.CurationEdits(rejected=frozenset(rejected), new_cells=(*merged, *added))
    keep = set(curation_chain.edited_ids(known, edits).tolist())
    verified = (_verified(parent) if verified is None else verified) & keep
    groups = cell_groups(parent) if groups is None else groups
    new_key = {**{name: parent[name] for name in imaging.Segmentation.primary_key}, "curation_id": _next_id(parent)}
    with imaging.Curation.connection.transaction:
        imaging.Curation.insert1({**new_key, "curation_time": datetime.now(), "curator": curator,
                                  "curation_note": note, "parent_curation_id": parent["curation_id"]})
        imaging.Curation.Rejected.insert({**new_key, "mask_id": i} for i in rejected)
        imaging.Curation.Merged.insert({**new_key, **_cell_row(cell), "merged_ids": np.array(cell.merged_ids)}
                                       for cell in merged)
        imaging.Curation.Added.insert({**new_key, **_cell_row(cell)} for cell in added)
        imaging.Curation.Verified.insert({**new_key, "mask_id": i} for i in sorted(verified))
        imaging.Curation.CellGroup.insert({**new_key, "group_name": name, "mask_id": i}
                                          for name, members in groups.items() for i in sorted(members & keep))
    return new_key


def _cell_row(cell: NewCell) -> dict[str, Any]:
    weights = cell.weights.astype(np.float64)
    return {
        "mask_id": cell.mask_id, "mask_npix": len(weights),
        "mask_center_x": float(weights @ cell.xpix / weights.sum()),
        "mask_center_y": float(weights @ cell.ypix / weights.sum()),
        "mask_xpix": cell.xpix, "mask_ypix": cell.ypix, "mask_weights": cell.weights,
        "fluorescence": cell.fluorescence, "background_fluorescence": cell.background,
    }


def _movie_path(key: dict[str, Any]):
    """The motion-corrected movie of curation ``key``; None when the motion correction was loaded (no movie)."""
    corrected = (imaging.MotionCorrection & key).fetch1("corrected_movie")
    return None if corrected is None else find_full_path(imaging.get_processed_root_dir(), corrected)


def _averaged_cell(sources, columns: list[int], *, mask_id: int, merged_ids: tuple[int, ...]) -> NewCell:
    """CalTrig's merge of the cells at ``columns`` of ``sources``: mean footprint, fluorescence and background
    (the background is zeros where the sources have none; it is then not used)."""
    background = None if sources.background is None else sources.background[columns]
    footprint, trace, mean_background = curation_compute.average_cells(
        sources.footprints[:, columns], sources.fluorescence[columns], background)
    pixels = np.flatnonzero(footprint)
    return NewCell(mask_id=mask_id, ypix=(pixels // sources.width).astype(np.int32),
                   xpix=(pixels % sources.width).astype(np.int32), weights=footprint[pixels], fluorescence=trace,
                   background=np.zeros_like(trace) if mean_background is None else mean_background,
                   merged_ids=merged_ids)


def _raw_box(key: dict[str, Any], n_frames: int, box: tuple[int, int, int, int], *, chunk: int = 200) -> np.ndarray:
    """(T, h, w) float32 box ``(y0, y1, x0, x1)`` of the recording's raw movie, moved by the loaded rigid motion
    into the loaded results' coordinates (as `stages.segmentation` reads the movie under loaded footprints)."""
    software, directory, frame_rate = (imaging.Recording & key).fetch1(
        "acquisition_software", "recording_directory", "frame_rate")
    channel = int((imaging.MotionCorrection & key).fetch1("motion_correct_channel"))
    shifts = np.stack((imaging.MotionCorrection.RigidMotionCorrection & key).fetch1("y_shifts", "x_shifts"),
                      axis=1).astype(np.float32)
    recording = readers.read_recording(find_full_path(imaging.get_raw_root_dirs(), directory), software=software,
                                       fps=frame_rate)
    y0, y1, x0, x1 = box
    with recording.movie(channel=channel) as movie:
        height, width = movie.shape[1:]
        if movie.shape[0] != n_frames or shifts.shape != (n_frames, 2):
            raise ValueError(f"{directory}: the raw movie has {movie.shape[0]} frames and the motion correction "
                             f"{len(shifts)}, but the loaded results {n_frames}")
        pad = int(np.ceil(np.abs(shifts).max(initial=0.0))) + 3
        py0, py1, px0, px1 = max(y0 - pad, 0), min(y1 + pad, height), max(x0 - pad, 0), min(x1 + pad, width)
        out = np.empty((n_frames, y1 - y0, x1 - x0), np.float32)
        for start in range(0, n_frames, chunk):
            stop = min(start + chunk, n_frames)
            frames = movie.read(start, stop)[:, py0:py1, px0:px1].astype(np.float32)
            moved = motion.apply_shifts(frames, shifts=shifts[start:stop], device="auto")
            out[start:stop] = moved[:, y0 - py0:y1 - py0, x0 - px0:x1 - px0]
    return out


def _cell_from_raw_movie(key: dict[str, Any], sources, drawn: np.ndarray, *, mask_id: int) -> NewCell:
    """A drawn cell's footprint and trace fitted to the raw movie around ``drawn`` (H, W), the other cells'
    activity (footprints times denoised calcium, or fluorescence) removed first."""
    rows, cols = np.nonzero(drawn)
    reach = GROW + RING_GAP + RING_WIDTH + BOX_MARGIN
    y0, y1 = max(int(rows.min()) - reach, 0), min(int(rows.max()) + reach + 1, sources.height)
    x0, x1 = max(int(cols.min()) - reach, 0), min(int(cols.max()) + reach + 1, sources.width)
    inside = np.zeros((sources.height, sources.width), bool)
    inside[y0:y1, x0:x1] = True
    footprints = sources.footprints[np.flatnonzero(inside.ravel())]
    present = np.flatnonzero(np.asarray(abs(footprints).sum(axis=0)).ravel() > 0)
    calcium = sources.denoised if sources.denoised is not None else sources.fluorescence
    estimate = curation_compute.estimate_cell(
        _raw_box(key, sources.n_frames, (y0, y1, x0, x1)), drawn[y0:y1, x0:x1],
        others=footprints[:, present], others_calcium=calcium[present],
        grow=GROW, ring_gap=RING_GAP, ring_width=RING_WIDTH)
    ypix, xpix = np.nonzero(estimate.footprint)
    return NewCell(mask_id=mask_id, ypix=(ypix + y0).astype(np.int32), xpix=(xpix + x0).astype(np.int32),
                   weights=estimate.footprint[ypix, xpix].astype(np.float32), fluorescence=estimate.fluorescence,
                   background=estimate.background)


def reject(key: dict[str, Any], ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation without the cells ``ids``; returns its key.

    Raises:
        ValueError: no id, or an id that is not a cell of curation ``key``.
    """
    known = cell_ids(key)
    return _derive(key, known, note, curator, rejected=_checked_ids(key, known, ids))


def merge(key: dict[str, Any], ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation where the cells ``ids`` are one cell; returns its key.

    The merged cell starts from the sum of their footprints and is fitted again (footprint and trace)
    to the motion-corrected movie, with the other cells' activity removed. Results loaded from another tool
    have no such movie: the merged cell is then the mean of the cells (footprint, fluorescence, background), as
    CalTrig merges.

    Raises:
        ValueError: fewer than two distinct ids, or an unknown id.
    """
    sources = imaging.curated_sources(key)
    chosen = _checked_ids(key, sources.mask_ids, ids, at_least=2)
    columns = [int(np.flatnonzero(sources.mask_ids == i)[0]) for i in chosen]
    movie = _movie_path(key)
    if movie is None:
        cell = _averaged_cell(sources, columns, mask_id=_new_mask_id(key), merged_ids=tuple(chosen))
        return _derive(key, sources.mask_ids, note, curator, merged=(cell,))
    initial = np.asarray(sources.footprints[:, columns].sum(axis=1)).reshape(sources.height, sources.width)
    cell = estimate_new_cell(movie, sources, initial, mask_id=_new_mask_id(key), merged_ids=tuple(chosen))
    return _derive(key, sources.mask_ids, note, curator, merged=(cell,))


def add_missed(key: dict[str, Any], mask, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation with a cell the segmentation missed, drawn as ``mask`` (H, W); returns its key.

    ``mask`` is boolean (or non-negative weights) over the whole field of view; the cell's footprint
    and trace are estimated from the motion-corrected movie around it, or, for results loaded from another
    tool (no such movie), from the recording's raw movie moved by the loaded motion correction.

    Raises:
        ValueError: a mask of the wrong shape, an empty or negative mask, or a raw movie that does not fit.
    """
    sources = imaging.curated_sources(key)
    drawn = np.asarray(mask)
    if drawn.shape != (sources.height, sources.width):
        raise ValueError(f"mask must have the field of view's shape {(sources.height, sources.width)}, "
                         f"got {drawn.shape}")
    drawn = drawn.astype(np.float32)
    if not np.isfinite(drawn).all() or (drawn < 0).any() or not drawn.any():
        raise ValueError("mask must be finite, non-negative and not empty")
    movie = _movie_path(key)
    cell = (_cell_from_raw_movie(key, sources, drawn, mask_id=_new_mask_id(key)) if movie is None
            else estimate_new_cell(movie, sources, drawn, mask_id=_new_mask_id(key)))
    return _derive(key, sources.mask_ids, note, curator, added=(cell,))


def verify(key: dict[str, Any], ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation where the cells ``ids`` are marked verified (with those the parent verified)."""
    known = cell_ids(key)
    return _derive(key, known, note, curator, verified=_verified(key) | set(_checked_ids(key, known, ids)))


def group(key: dict[str, Any], name: str, ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation where the cells ``ids`` also belong to the group ``name`` (a cell may be in several)."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ValueError(f"group name must be 1 to 64 characters, got {name!r}")
    known = cell_ids(key)
    groups = cell_groups(key)
    groups.setdefault(name.strip(), set()).update(_checked_ids(key, known, ids))
    return _derive(key, known, note, curator, groups=groups)


def check_consistency(key: dict[str, Any]) -> list[str]:
    """Problems with curation ``key``'s cell ids (CalTrig ``unit_id_consistency``); empty when consistent.

    Every cell of the curation must have a footprint (the curated sources), a fluorescence trace, and
    a trace of every activity method computed for it; no table may hold a cell the curation lacks;
    verified and grouped cells must be cells of the curation.
    """
    expected = set(cell_ids(key).tolist())
    problems = []
    tables = {"Fluorescence.Trace": imaging.Fluorescence.Trace & key}
    for method in (imaging.Activity & key).to_arrays("extraction_method"):
        tables[f"Activity.Trace ({method})"] = imaging.Activity.Trace & key & {"extraction_method": method}
    tables["Verified"] = imaging.Curation.Verified & key
    tables["CellGroup"] = imaging.Curation.CellGroup & key
    for name, table in tables.items():
        found = set(table.to_arrays("mask_id").tolist())
        if name in ("Verified", "CellGroup"):
            extra, missing = found - expected, set()
        else:
            extra, missing = found - expected, expected - found
        if missing:
            problems.append(f"{name} lacks cell(s) {sorted(missing)}")
        if extra:
            problems.append(f"{name} holds cell(s) {sorted(extra)} that are not cells of the curation")
    return problems


def ungroup(key: dict[str, Any], name: str, ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation where the cells ``ids`` no longer belong to the group ``name`` (a group left empty goes).

    Raises:
        ValueError: a group the curation lacks, or an id that is not in that group.
    """
    groups = cell_groups(key)
    if name not in groups:
        raise ValueError(f"curation {key['curation_id']} has no group {name!r}; its groups: {sorted(groups)}")
    chosen = {int(i) for i in np.atleast_1d(np.asarray(ids, dtype=np.int64))}
    if not chosen or chosen - groups[name]:
        raise ValueError(f"cell id(s) {sorted(chosen - groups[name]) or []} are not in group {name!r} "
                         f"({sorted(groups[name])}); give ids of its cells")
    groups[name] -= chosen
    if not groups[name]:
        del groups[name]
    return _derive(key, cell_ids(key), note, curator, groups=groups)


def _task_folder(key: dict[str, Any]):
    output_dir = (imaging.ProcessingTask & key).fetch1("processing_output_dir")
    return find_full_path(imaging.get_processed_root_dir(), output_dir)


def import_caltrig(key: dict[str, Any], *, folder=None, note: str = "imported from CalTrig",
                   curator: str = "") -> dict[str, Any]:
    """A new curation of curation ``key`` holding what a CalTrig user decided (`loaders.caltrig`); returns its key.

    Cells CalTrig rejected (``good_cells`` 0) are rejected; its verified cells (and not rejected) are verified;
    each cell it drew (``M``) becomes an added cell, footprint and trace estimated as `add_missed` does; its cell
    groups (``session_group_ids.json``) become the curation's groups (ids that are not cells of the curation, e.g.
    merged away, are left out). CalTrig's event array ``E`` goes to the transients (`import_caltrig_events`).

    Args:
        key: the curation CalTrig worked on (usually curation 0 of a task loaded with method ``caltrig`` or
            ``minian``): its cells are CalTrig's ``unit_id``.
        folder: the minian output folder CalTrig opened; default the processing task's output folder.

    Raises:
        ValueError: CalTrig files that name unit ids the curation lacks, or drawn masks of another frame size.
    """
    found = loaders_caltrig.load_caltrig_curation(_task_folder(key) if folder is None else folder)
    sources = imaging.curated_sources(key)
    unknown = sorted(set(found.unit_ids.tolist()) - set(sources.mask_ids.tolist()))
    if unknown:
        raise ValueError(f"{found.source}: CalTrig's 'E' names unit id(s) {unknown[:10]} that are not cells of "
                         f"curation {key['curation_id']}; give the curation CalTrig worked on")
    if len(found.missed_ids) and found.missed_masks.shape[1:] != (sources.height, sources.width):
        raise ValueError(f"{found.source}: CalTrig's 'M' masks are {found.missed_masks.shape[1:]} but the cells' "
                         f"field of view is {(sources.height, sources.width)}")
    movie = _movie_path(key)
    first_id = _new_mask_id(key)
    added = tuple(
        _cell_from_raw_movie(key, sources, mask.astype(np.float32), mask_id=first_id + n) if movie is None
        else estimate_new_cell(movie, sources, mask.astype(np.float32), mask_id=first_id + n)
        for n, mask in enumerate(found.missed_masks))
    rejected = found.unit_ids[~found.good].tolist()
    verified = set(found.unit_ids[found.verified & found.good].tolist())
    groups = {name: set(ids) for name, ids in found.groups.items()}
    return _derive(key, sources.mask_ids, note, curator, rejected=rejected, added=added, verified=verified,
                   groups=groups)


def import_caltrig_events(transients_key: dict[str, Any], *, folder=None, note: str = "imported from CalTrig",
                          curator: str = "") -> dict[str, Any]:
    """CalTrig's event array ``E`` as a new `events.TransientCuration` of ``transients_key``; returns its key.

    CalTrig's E of a cell is the final set of its transients ("Accept Incoming Only" is how its confirmed picks
    replace the rest). Each cell of the curation that E marks with at least one event, or that CalTrig verified,
    gets one correction: every detected transient rejected, and one marked peak per run of E (the frame of the
    largest Activity trace value within the run), merge mode ``"incoming_only"``. CuratedTransients then measures
    each marked transient on the trace (start, end), so its frames can differ from E's run where the trace says
    otherwise; the peaks are E's. Cells E does not mark and CalTrig did not verify keep the detected transients.

    Args:
        transients_key: a key of `events.Transients` of the curation CalTrig's cells are in.
        folder: the minian output folder CalTrig opened; default the processing task's output folder.

    Raises:
        ValueError: no E in the folder, or an E whose frame count is not the recording's.
    """
    from . import events

    master_key = (events.Transients & transients_key).fetch1("KEY")
    found = loaders_caltrig.load_caltrig_curation(_task_folder(master_key) if folder is None else folder)
    if found.events is None:
        raise ValueError(f"{found.source}: no CalTrig event array (E.zarr) to import")
    ids, traces = (imaging.Activity.Trace & master_key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
    trace_of = dict(zip((int(i) for i in ids), traces))
    n_frames = int((imaging.RecordingInfo & master_key).fetch1("nframes"))
    if found.events.shape[1] != n_frames:
        raise ValueError(f"{found.source}: CalTrig's 'E' has {found.events.shape[1]} frames but the recording "
                         f"{n_frames}")
    detected = events.Transients.Transient & master_key
    cells = []
    for unit, row, verified in zip(found.unit_ids.tolist(), found.events, found.verified):
        if unit not in trace_of or not (row.any() or verified):
            continue
        rejected = (detected & {"mask_id": unit}).to_arrays("transient_id", order_by="transient_id")
        cells.append({"mask_id": unit, "merge_mode": "incoming_only", "rejected_ids": np.asarray(rejected, np.int64),
                      "marked_peaks": curation_compute.event_run_peaks(row, trace_of[unit])})
    existing = (events.TransientCuration & master_key).to_arrays("transient_curation_id")
    new_key = {**master_key, "transient_curation_id": int(max(existing, default=-1)) + 1}
    with events.TransientCuration.connection.transaction:
        events.TransientCuration.insert1({**new_key, "curation_time": datetime.now(), "curator": curator,
                                          "curation_note": note, "parent_curation_id": None})
        events.TransientCuration.Cell.insert({**new_key, "fluorescence_channel": 0, **cell} for cell in cells)
    return new_key
