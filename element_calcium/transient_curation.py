"""Transient curation: a curator rejects detected transients of a cell and marks peaks the detector missed.

Each call records a new `events.TransientCuration` (the automatic result stays); populate computes its
`events.CuratedTransients`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from . import events, imaging
from .compute import events as event_compute


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
    """Record corrections of one cell's transients as a new `events.TransientCuration`; returns its key.

    Args:
        transients_key: a key of `events.Transients`.
        mask_id: the cell.
        reject: transient ids (of `events.Transients.Transient`) to reject.
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
    master_key = (events.Transients & transients_key).fetch1("KEY")
    cell_key = {**master_key, "mask_id": int(mask_id)}
    known_ids = set((events.Transients.Transient & cell_key).to_arrays("transient_id").tolist())
    if not imaging.Activity.Trace & cell_key:
        raise ValueError(f"mask_id {mask_id} is not a cell of {master_key}")
    rejected = sorted({int(i) for i in reject})
    if set(rejected) - known_ids:
        raise ValueError(f"transient id(s) {sorted(set(rejected) - known_ids)} are not transients of mask {mask_id}")
    n_frames = int((imaging.RecordingInfo & master_key).fetch1("nframes"))
    marked = sorted({int(frame) for frame in mark})
    if marked and (marked[0] < 0 or marked[-1] >= n_frames):
        raise ValueError(f"marked frames must lie in [0, {n_frames}), got {marked[0]}..{marked[-1]}")
    existing = (events.TransientCuration & master_key).to_arrays("transient_curation_id")
    parent_id = _parent_curation(existing, parent)
    edit_columns = ("mask_id", "merge_mode", "rejected_ids", "marked_peaks")
    parent_cells = events.TransientCuration.Cell & master_key & {"transient_curation_id": parent_id}
    cells = {int(row[0]): dict(zip(edit_columns, row)) for row in zip(*parent_cells.to_arrays(*edit_columns))}
    previous = cells.get(int(mask_id))
    if previous is not None:
        rejected = sorted(set(rejected) | set(np.asarray(previous["rejected_ids"]).tolist()))
        marked = sorted(set(marked) | set(np.asarray(previous["marked_peaks"]).tolist()))
    new_id = int(max(existing, default=-1)) + 1
    curation_key = {**master_key, "transient_curation_id": new_id}
    cells[int(mask_id)] = {"mask_id": int(mask_id), "merge_mode": mode,
                           "rejected_ids": np.array(rejected, np.int64), "marked_peaks": np.array(marked, np.int64)}
    with events.TransientCuration.connection.transaction:
        events.TransientCuration.insert1({**curation_key, "curation_time": datetime.now(), "curator": curator,
                                          "curation_note": note, "parent_curation_id": parent_id})
        events.TransientCuration.Cell.insert({**curation_key, "fluorescence_channel": 0, **row}
                                             for row in cells.values())
    return curation_key


def _parent_curation(existing: np.ndarray, parent: int | str | None) -> int | None:
    if parent is None:
        return None
    if parent == "latest":
        return int(max(existing)) if len(existing) else None
    if int(parent) not in set(existing.tolist()):
        raise ValueError(f"parent curation {parent} does not exist; existing: {sorted(existing.tolist())}")
    return int(parent)
