"""Manual curation of a segmentation's cells (CalTrig's ``DataInstance`` operations) as versioned curations.

Each operation derives a new `imaging.Curation` from the curation ``key`` it is given (curation_id
one above the segmentation's highest, ``parent_curation_id`` = key's) and returns the new key;
nothing already stored changes, so curation 0 (the segmentation as it came out) stays as it was.
Downstream tables (Fluorescence, Activity, Transients, ...) populate for the new curation like for
any other. Merged and hand-drawn cells get their footprint and traces from the motion-corrected
movie (`stages.fluorescence.estimate_new_cell`), not from averaging the old ones.

    key = curation.reject(curation_0_key, [3, 17], note="out of focus")
    key = curation.merge(key, [5, 6])
    key = curation.add_missed(key, drawn_mask)        # (H, W) bool
    key = curation.verify(key, [1, 2, 4])
    key = curation.group(key, "place cells", [1, 4])
    assert not curation.check_consistency(key)        # after populating
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from . import imaging
from .stages import fluorescence as curation_chain
from .stages.fluorescence import NewCell, estimate_new_cell
from .paths import find_full_path

__all__ = ["add_missed", "cell_ids", "cell_groups", "check_consistency", "group", "merge", "reject", "ungroup", "verify"]


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
    corrected = (imaging.MotionCorrection & key).fetch1("corrected_movie")
    if corrected is None:
        raise ValueError("merging and adding cells estimate traces from the motion-corrected movie, which this "
                         "recording's motion correction (loaded from another tool) did not write")
    return find_full_path(imaging.get_processed_root_dir(), corrected)


def reject(key: dict[str, Any], ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation without the cells ``ids``; returns its key.

    Raises:
        ValueError: no id, or an id that is not a cell of curation ``key``.
    """
    known = cell_ids(key)
    return _derive(key, known, note, curator, rejected=_checked_ids(key, known, ids))


def merge(key: dict[str, Any], ids, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation where the cells ``ids`` are one cell, re-estimated from the movie; returns its key.

    The merged cell starts from the sum of their footprints and is fitted again (footprint and trace)
    to the motion-corrected movie, with the other cells' activity removed.

    Raises:
        ValueError: fewer than two distinct ids, an unknown id, or no motion-corrected movie.
    """
    sources = imaging.curated_sources(key)
    chosen = _checked_ids(key, sources.mask_ids, ids, at_least=2)
    columns = [int(np.flatnonzero(sources.mask_ids == i)[0]) for i in chosen]
    initial = np.asarray(sources.footprints[:, columns].sum(axis=1)).reshape(sources.height, sources.width)
    cell = estimate_new_cell(_movie_path(key), sources, initial, mask_id=_new_mask_id(key), merged_ids=tuple(chosen))
    return _derive(key, sources.mask_ids, note, curator, merged=(cell,))


def add_missed(key: dict[str, Any], mask, *, note: str = "", curator: str = "") -> dict[str, Any]:
    """A new curation with a cell the segmentation missed, drawn as ``mask`` (H, W); returns its key.

    ``mask`` is boolean (or non-negative weights) over the whole field of view; the cell's footprint
    and trace are estimated from the motion-corrected movie around it.

    Raises:
        ValueError: a mask of the wrong shape, an empty or negative mask, or no motion-corrected movie.
    """
    sources = imaging.curated_sources(key)
    drawn = np.asarray(mask)
    if drawn.shape != (sources.height, sources.width):
        raise ValueError(f"mask must have the field of view's shape {(sources.height, sources.width)}, "
                         f"got {drawn.shape}")
    drawn = drawn.astype(np.float32)
    if not np.isfinite(drawn).all() or (drawn < 0).any() or not drawn.any():
        raise ValueError("mask must be finite, non-negative and not empty")
    cell = estimate_new_cell(_movie_path(key), sources, drawn, mask_id=_new_mask_id(key))
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
