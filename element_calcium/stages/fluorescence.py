"""The stage of Fluorescence: the cells of a curation, a segmentation's sources with its chain of curations applied.

A curation lists its changes to its parent: masks rejected, and new cells, each either merged from
several of the parent's masks (which it replaces) or drawn by hand where the segmentation found
none. A new cell's footprint and traces are estimated from the motion-corrected movie around it
(`compute.curation.estimate_cell`), with the activity of the other cells there removed first. No
database code here: the curation API (`element_calcium.curation`), the Fluorescence stage and cross-session
registration call these; `run` gives the rows of Fluorescence and its ``Trace`` part, which Activity starts from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from element_calcium import storage
from element_calcium.compute import curation as curation_compute
from element_calcium.compute import deconvolution, dff
from element_calcium.compute.params import ProcessingParams
from element_calcium.extraction_file import ExtractedSources, read_sources
from element_calcium.stages.rows import Rows, RunSettings

BOX_MARGIN = 10  # pixels of movie read around a new cell's mask beyond its footprint and background ring
GROW, RING_GAP, RING_WIDTH = 2, 2, 4  # pixels: footprint growth, background ring distance and width


@dataclass(frozen=True)
class NewCell:
    """A cell a curation adds: merged from ``merged_ids`` (empty when drawn by hand).

    Attributes:
        mask_id: its id.
        ypix, xpix: (npix,) int32 pixel rows and columns of its footprint.
        weights: (npix,) float32 footprint weights (unit L2 norm).
        fluorescence: (T,) float32 its own signal (grey levels x footprint norm).
        background: (T,) float32 the background under it, same units.
        merged_ids: ids of the parent's masks it replaces.
    """

    mask_id: int
    ypix: np.ndarray
    xpix: np.ndarray
    weights: np.ndarray
    fluorescence: np.ndarray
    background: np.ndarray
    merged_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class CurationEdits:
    """One curation's changes to its parent."""

    rejected: frozenset[int] = frozenset()
    new_cells: tuple[NewCell, ...] = field(default_factory=tuple)


def edits_from_rows(rows: dict) -> CurationEdits:
    """One curation's changes from its stored rows: ``rejected`` (mask ids) and ``new_cells`` (rows of the
    Merged and Added parts, ``merged_ids`` only in the former)."""
    cells = [
        NewCell(mask_id=int(row["mask_id"]), ypix=np.asarray(row["mask_ypix"]), xpix=np.asarray(row["mask_xpix"]),
                weights=np.asarray(row["mask_weights"]), fluorescence=np.asarray(row["fluorescence"]),
                background=np.asarray(row["background_fluorescence"]),
                merged_ids=tuple(int(i) for i in row.get("merged_ids", ())))
        for row in rows["new_cells"]
    ]
    return CurationEdits(rejected=frozenset(int(i) for i in rows["rejected"]),
                         new_cells=tuple(sorted(cells, key=lambda cell: cell.mask_id)))


def curated_sources(inputs: dict) -> ExtractedSources:
    """The sources of a curation from what `imaging.curation_inputs` gathers: the segmentation's results file
    and the owner it must record (``owner``, `results_file.owner_text`; absent or None: not checked), its mask ids,
    the changes of each curation from curation 0 on, and the parameter set."""
    base = read_sources(inputs["results_file"], owner=inputs.get("owner")).select(np.asarray(inputs["mask_ids"]))
    chain = [edits_from_rows(rows) for rows in inputs["chain"]]
    return apply_edits(base, chain, params=inputs["params"])


def _kept_ids(ids: np.ndarray, edits: CurationEdits) -> np.ndarray:
    """The ``ids`` of a parent's cells that a curation keeps, in order (ValueError if it removes one not there)."""
    removed = set(edits.rejected) | {i for cell in edits.new_cells for i in cell.merged_ids}
    unknown = removed - {int(i) for i in ids}
    if unknown:
        raise ValueError(f"curation removes mask id(s) {sorted(unknown)} that its parent does not have")
    return np.array([i for i in ids if int(i) not in removed], dtype=np.int64)


def edited_ids(ids: np.ndarray, edits: CurationEdits) -> np.ndarray:
    """The cell ids after a curation's changes to a parent with cells ``ids``: the kept ones, then the new."""
    return np.concatenate([_kept_ids(ids, edits), np.array([cell.mask_id for cell in edits.new_cells], np.int64)])


def curated_ids(inputs: dict) -> np.ndarray:
    """The cell ids of a curation from what `imaging.curation_inputs` gathers, without reading the results file."""
    ids = np.asarray(inputs["mask_ids"], dtype=np.int64)
    for rows in inputs["chain"]:
        ids = edited_ids(ids, edits_from_rows(rows))
    return ids


def apply_edits(base: ExtractedSources, chain: list[CurationEdits], *, params: dict) -> ExtractedSources:
    """The sources of the last curation of ``chain`` (curation 0 first), starting from the segmentation's.

    New cells get denoised calcium and spikes (OASIS, the parameter set's deconvolution) and dF/F
    where the segmentation's sources carry those traces, so every cell has the same traces.
    """
    sources = base
    for edits in chain:
        kept = sources.select(_kept_ids(sources.mask_ids, edits))
        sources = _append(kept, edits.new_cells, params) if edits.new_cells else kept
    return sources


def _append(sources: ExtractedSources, cells: tuple[NewCell, ...], params: dict) -> ExtractedSources:
    """``sources`` with the new cells after them (their optional traces computed as needed)."""
    columns = [sparse.csc_array((cell.weights, (cell.ypix.astype(np.int64) * sources.width + cell.xpix, np.zeros(
        len(cell.weights), np.int64))), shape=(sources.height * sources.width, 1)) for cell in cells]
    fluorescence = np.stack([cell.fluorescence for cell in cells]).astype(np.float32)
    background = np.stack([cell.background for cell in cells]).astype(np.float32)
    settings = ProcessingParams.from_dict(params)
    extra = {}
    if sources.denoised is not None or sources.spikes is not None:
        fit = settings.deconvolution
        result = deconvolution.deconvolve_traces(fluorescence, p=fit.p, s_min=fit.s_min,
                                                 noise_range=fit.noise_range, optimize_g=fit.optimize_g)
        extra = {"denoised": result.calcium, "spikes": result.spikes}
    if sources.dff is not None:
        extra["dff"] = dff.detrend_dff(fluorescence, fps=sources.fps, window_s=settings.dff.window_s,
                                       percentile=settings.dff.percentile, background=background)

    def joined(name, new):
        old = getattr(sources, name)
        return None if old is None else np.concatenate([old, np.asarray(new, np.float32)])

    return ExtractedSources(
        height=sources.height, width=sources.width,
        footprints=sparse.csc_array(sparse.hstack([sources.footprints, *columns])),
        mask_ids=np.concatenate([sources.mask_ids, [cell.mask_id for cell in cells]]).astype(np.int64),
        fluorescence=np.concatenate([sources.fluorescence, fluorescence]),
        background=joined("background", background),
        denoised=joined("denoised", extra.get("denoised")),
        spikes=joined("spikes", extra.get("spikes")),
        dff=joined("dff", extra.get("dff")),
        fps=sources.fps,
    )


def estimate_new_cell(
    movie_path: str | os.PathLike,
    sources: ExtractedSources,
    initial: np.ndarray,
    *,
    mask_id: int,
    merged_ids: tuple[int, ...] = (),
) -> NewCell:
    """A new cell's footprint and traces from the corrected movie around ``initial`` (H, W), >= 0.

    ``sources`` are the parent curation's; the cells in ``merged_ids`` are what the new cell replaces,
    the others' activity is removed from the movie before the estimate.
    """
    height, width = sources.height, sources.width
    rows, cols = np.nonzero(initial)
    reach = GROW + RING_GAP + RING_WIDTH + BOX_MARGIN
    y0, y1 = max(int(rows.min()) - reach, 0), min(int(rows.max()) + reach + 1, height)
    x0, x1 = max(int(cols.min()) - reach, 0), min(int(cols.max()) + reach + 1, width)
    inside = np.zeros((height, width), bool)
    inside[y0:y1, x0:x1] = True
    others = [n for n, i in enumerate(sources.mask_ids) if int(i) not in merged_ids]
    box_pixels = np.flatnonzero(inside.ravel())
    footprints = sources.footprints[box_pixels][:, others]
    present = np.asarray(abs(footprints).sum(axis=0)).ravel() > 0
    calcium = sources.denoised if sources.denoised is not None else sources.fluorescence
    with storage.MovieRegions(movie_path) as regions:
        box = regions.read(0, sources.n_frames, y0, y1, x0, x1)
    estimate = curation_compute.estimate_cell(
        box, np.asarray(initial, np.float32)[y0:y1, x0:x1],
        others=sparse.csc_array(footprints[:, present]), others_calcium=calcium[np.array(others)[present]]
        if present.any() else np.zeros((0, sources.n_frames), np.float32),
        grow=GROW, ring_gap=RING_GAP, ring_width=RING_WIDTH,
    )
    ypix, xpix = np.nonzero(estimate.footprint)
    return NewCell(
        mask_id=int(mask_id), ypix=(ypix + y0).astype(np.int32), xpix=(xpix + x0).astype(np.int32),
        weights=estimate.footprint[ypix, xpix].astype(np.float32), fluorescence=estimate.fluorescence,
        background=estimate.background, merged_ids=tuple(int(i) for i in merged_ids),
    )


def run(inputs: dict, *, settings: RunSettings = RunSettings()) -> Rows:
    """The ``Trace`` rows of Fluorescence (one per cell of the curation, channel 0) from what
    `imaging.curation_inputs` gathers (`curated_sources`)."""
    sources = curated_sources(inputs)
    return Rows(parts={"Trace": [
        {
            "mask_id": int(mask_id),
            "fluorescence_channel": 0,
            "fluorescence": sources.fluorescence[n],
            "background_fluorescence": None if sources.background is None else sources.background[n],
        }
        for n, mask_id in enumerate(sources.mask_ids)
    ]})
