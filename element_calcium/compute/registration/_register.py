"""`register_sessions`: align every session to the reference, then match the cells of all sessions jointly."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from element_calcium.compute import _backend, _checks
from element_calcium.compute.registration import _align, _footprints, _match, _transform
from element_calcium.compute.registration._params import RegistrationParams

_REFINE_ROUNDS = 2  # refits of the transforms to the matched cells
_MIN_REFIT_CELLS = 4  # a session needs this many matched cells for its transform to be refitted
_DEFAULT_DIAMETER = 10.0  # pixels, when no session holds a footprint to measure
_REFIT_TRIM = 3.0  # pairs further than this many median residuals from the first fit are left out of the refit


@dataclass(frozen=True)
class Registration:
    """Cells of several sessions of one field of view, matched.

    Attributes:
        reference: index of the reference session.
        alignments: per session, its `Alignment` to the reference (the reference's own: the identity).
        global_ids: per session, (N_s,) int64 global cell id of each footprint, 0 .. n_cells - 1; footprints of
            different sessions with the same id are one cell. A cell seen in one session has an id of its own.
        confidence: per session, (N_s,) float64 in [0, 1]: for a matched cell the mean pair score with the
            other sessions' footprints of its cell; for a cell seen once, one minus its best score with any
            footprint of another session.
        centers: per session, (N_s, 2) float64 (y, x) centroids in reference pixels.
        footprints: per session, (N_s, H * W) float32 sparse footprints resampled into the reference frame.
        cell_diameter: (pixels) the cell diameter used (given, or the median of the footprints').
        n_cells: number of distinct cells.
    """

    reference: int
    alignments: tuple[_align.Alignment, ...]
    global_ids: tuple[np.ndarray, ...]
    confidence: tuple[np.ndarray, ...]
    centers: tuple[np.ndarray, ...]
    footprints: tuple[sparse.csr_array, ...]
    cell_diameter: float
    n_cells: int


def _identity(frame_shape) -> _align.Alignment:
    return _align.Alignment(matrix=_transform.similarity_matrix(0.0, 1.0, (0.0, 0.0), frame_shape), rotation_deg=0.0,
                            scale=1.0, shift=np.zeros(2), displacement=None, patch_shifts=None, correlation=1.0)


def _checked_images(images) -> list[np.ndarray]:
    if not isinstance(images, Sequence) or len(images) < 2:
        raise ValueError("images must be a sequence of at least two (H, W) summary images, one per session")
    checked = []
    for s, image in enumerate(images):
        array = np.asarray(image)
        if array.ndim != 2 or min(array.shape) < 16:
            raise ValueError(f"images[{s}] must be a 2-D (H, W) image at least 16 px a side, got shape {array.shape}")
        checked.append(_checks.matrix(array, f"images[{s}]", finite=True).astype(np.float32))
        if checked[-1].shape != checked[0].shape:
            raise ValueError(f"images[{s}] has shape {checked[-1].shape}, images[0] {checked[0].shape}; "
                             "every session must have the reference's frame size")
    return checked


def _match_all(moved, shape, *, cell_diameter: float, params: RegistrationParams):
    counts = [f.shape[0] for f in moved]
    sessions = np.repeat(np.arange(len(moved)), counts)
    stacked = sparse.vstack(moved, format="csr")
    centers = _footprints.centroids(stacked, shape)
    pairs = _match.candidate_pairs(_footprints.normalised(stacked), centers, sessions, cell_diameter=cell_diameter,
                                   max_distance=params.max_distance)
    groups = _match.group_cells(pairs, sessions, min_score=params.min_score)
    confidence = _match.confidences(pairs, groups)
    split = np.cumsum(counts)[:-1]
    return np.split(groups, split), np.split(confidence, split), np.split(centers, split)


def _refit(session: int, groups, confidence, centers, own_centers) -> np.ndarray | None:
    """A session's transform refitted to its matched cells: their own centroids against the mean reference
    position of the other sessions' footprints of the same cells; None with too few matched cells."""
    all_groups = np.concatenate(groups)
    all_centers = np.concatenate(centers)
    is_other = np.concatenate([np.full(len(g), s != session) for s, g in enumerate(groups)])
    n_groups = all_groups.max() + 1
    counts = np.bincount(all_groups[is_other], minlength=n_groups)
    sums = np.stack([np.bincount(all_groups[is_other], weights=all_centers[is_other, k], minlength=n_groups)
                     for k in range(2)], axis=1)
    matched = counts[groups[session]] > 0
    if matched.sum() < _MIN_REFIT_CELLS:
        return None
    consensus = sums[groups[session][matched]] / counts[groups[session][matched], None]
    own, weights = own_centers[matched], np.maximum(confidence[session][matched], 1e-3)
    matrix = _transform.fit_similarity(consensus, own, weights)
    residual = np.linalg.norm(_transform.apply(matrix, consensus) - own, axis=1)
    keep = residual <= _REFIT_TRIM * max(np.median(residual), 0.1)
    if keep.sum() < _MIN_REFIT_CELLS:
        return matrix
    return _transform.fit_similarity(consensus[keep], own[keep], weights[keep])


def register_sessions(images, footprints, *, params: RegistrationParams | None = None, reference: int = 0,
                      device: str = "auto") -> Registration:
    """Align sessions of one field of view to a reference and match their cells jointly.

    Args:
        images: per session, an (H, W) summary image (correlation, mean or max projection); the same kind and
            frame size for every session.
        footprints: per session, the cells' footprints: an (N_s, H, W) array or an (N_s, H * W) SciPy sparse
            matrix (rows in the session's cell order), non-negative.
        params: `RegistrationParams` (default: its defaults).
        reference: index of the session the others are aligned to.
        device: "auto", "cpu" or "cuda" for the FFT cross-correlations of the alignment.

    Returns:
        The `Registration`.

    Raises:
        ValueError: fewer than two sessions, images of different sizes, footprints that do not fit their image,
            a reference out of range, or parameters that are not a `RegistrationParams`.
    """
    params = RegistrationParams() if params is None else params
    if not isinstance(params, RegistrationParams):
        raise ValueError(f"params must be a RegistrationParams, got {type(params).__name__}")
    images = _checked_images(images)
    shape = images[0].shape
    if not isinstance(footprints, Sequence) or len(footprints) != len(images):
        raise ValueError(f"footprints must be a sequence of one footprint set per session ({len(images)})")
    footprints = [_footprints.as_sparse(f, shape, f"footprints[{s}]") for s, f in enumerate(footprints)]
    reference = _checks.integer(reference, "reference", minimum=0)
    if reference >= len(images):
        raise ValueError(f"reference must be a session index below {len(images)}, got {reference}")
    device = _backend.resolve_device(device)
    diameters = np.concatenate([_footprints.diameters(f, shape) for f in footprints])
    if params.cell_diameter is not None:
        cell_diameter = float(params.cell_diameter)
    else:
        cell_diameter = float(np.median(diameters)) if diameters.size else _DEFAULT_DIAMETER

    def aligned(session: int, matrix: np.ndarray | None = None) -> _align.Alignment:
        if session == reference:
            return _identity(shape)
        if matrix is None:
            alignment = _align.align_similarity(
                images[session], images[reference], cell_diameter=cell_diameter, max_shift=params.max_shift,
                max_rotation_deg=params.max_rotation_deg, max_scale_change=params.max_scale_change, device=device)
        else:
            rotation, scale, shift = _transform.decompose(matrix, shape)
            alignment = _align.Alignment(matrix=_transform.similarity_matrix(rotation, scale, shift, shape),
                                         rotation_deg=rotation, scale=scale, shift=shift, displacement=None,
                                         patch_shifts=None, correlation=0.0)
            alignment = dataclasses.replace(alignment, correlation=_align.image_correlation(
                images[session], images[reference], alignment, cell_diameter=cell_diameter))
        if params.piecewise:
            alignment = _align.add_piecewise(images[session], images[reference], alignment,
                                             cell_diameter=cell_diameter, patch_size=params.patch_size,
                                             max_deviation=params.max_deviation, device=device)
        return alignment

    alignments = [aligned(s) for s in range(len(images))]
    own_centers = [_footprints.centroids(f, shape) for f in footprints]
    for round_ in range(_REFINE_ROUNDS + 1):
        moved = [_footprints.to_reference(f, a.coordinates(shape), shape) for f, a in zip(footprints, alignments)]
        groups, confidence, centers = _match_all(moved, shape, cell_diameter=cell_diameter, params=params)
        if not params.refine_with_cells or round_ == _REFINE_ROUNDS:
            break
        for s in range(len(images)):
            matrix = None if s == reference else _refit(s, groups, confidence, centers, own_centers[s])
            if matrix is not None:
                alignments[s] = aligned(s, matrix)
    n_cells = int(max((g.max() + 1 for g in groups if g.size), default=0))
    return Registration(reference=reference, alignments=tuple(alignments), global_ids=tuple(groups),
                        confidence=tuple(confidence), centers=tuple(centers), footprints=tuple(moved),
                        cell_diameter=cell_diameter, n_cells=n_cells)
