"""Overlapping square patches of a field of view, their cores, and the removal of duplicates across them."""

from __future__ import annotations

import math

import numpy as np

DUPLICATE_OVERLAP = 0.5  # footprints of different patches with cosine similarity above this may be one cell


def axis_spans(length: int, size: int, overlap: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Patches [start, stop) along an axis of ``length`` pixels and their cores.

    Patches are ``size`` long (the whole axis when it is no longer), at least ``overlap`` apart, spread evenly
    with the last flush with the end. The cores tile the axis: neighbouring cores meet in the middle of the
    two patches' overlap.
    """
    if length <= size:
        return [(0, length)], [(0, length)]
    count = math.ceil((length - overlap) / (size - overlap))
    starts = np.linspace(0, length - size, count).round().astype(int)
    spans = [(int(s), int(s) + size) for s in starts]
    bounds = [0] + [(spans[i][1] + spans[i + 1][0]) // 2 for i in range(count - 1)] + [length]
    return spans, [(bounds[i], bounds[i + 1]) for i in range(count)]


def grid(shape: tuple[int, int], size: int, overlap: int):
    """List of ((y0, y1, x0, x1) patch, (cy0, cy1, cx0, cx1) core) covering an (H, W) field of view."""
    rows, row_cores = axis_spans(shape[0], size, overlap)
    cols, col_cores = axis_spans(shape[1], size, overlap)
    return [
        ((y0, y1, x0, x1), (cy0, cy1, cx0, cx1))
        for (y0, y1), (cy0, cy1) in zip(rows, row_cores)
        for (x0, x1), (cx0, cx1) in zip(cols, col_cores)
    ]


def centres(footprints: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, 2) float (y, x) centres of mass of dense footprints (h * w, N)."""
    yy, xx = np.divmod(np.arange(shape[0] * shape[1]), shape[1])
    mass = footprints.sum(axis=0)
    mass = np.where(mass > 0, mass, 1.0)
    return np.stack([yy @ footprints / mass, xx @ footprints / mass], axis=1)


def duplicates(footprints, calcium, patch_ids, quality, *, threshold: float) -> np.ndarray:
    """(N,) bool: components to drop as duplicates of a better one found in another patch.

    footprints: (P, N) sparse unit-norm columns; calcium: (N, T); patch_ids: (N,) patch of each component;
    quality: (N,) higher is better. Two components of different patches are one cell when their footprints'
    cosine similarity exceeds DUPLICATE_OVERLAP and their traces correlate above ``threshold``.
    """
    n = footprints.shape[1]
    drop = np.zeros(n, dtype=bool)
    if n < 2:
        return drop
    similarity = (footprints.T @ footprints).toarray()
    pairs = np.argwhere(np.triu(similarity > DUPLICATE_OVERLAP, 1) & (patch_ids[:, None] != patch_ids[None, :]))
    if len(pairs) == 0:
        return drop
    centred = calcium - calcium.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    norms[norms == 0] = np.inf
    for i, j in sorted(pairs.tolist(), key=lambda pair: -min(quality[pair[0]], quality[pair[1]])):
        if drop[i] or drop[j]:
            continue
        if centred[i] @ centred[j] / (norms[i] * norms[j]) > threshold:
            drop[j if quality[i] >= quality[j] else i] = True
    return drop
