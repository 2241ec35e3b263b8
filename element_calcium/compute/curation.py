"""A cell's footprint and trace estimated from the movie, for cells a curator merges or draws by hand
(`estimate_cell`); without a movie to fit, a merge averages the cells as CalTrig does (`average_cells`).

The model of the movie ``Y`` (T, h, w) in a box around the cell, after the activity of the other
cells there (their footprints times their denoised calcium) has been subtracted::

    Y[t, p] = mu[p] + gamma[p] * b(t) + a[p] * c(t) + noise

``b(t)`` is the local background: the mean of the ring of pixels around the cell (from ``ring_gap``
to ``ring_gap + ring_width`` pixels outside the initial mask, other cells' pixels left out), minus
its mean. ``mu`` (each pixel's resting level) and ``gamma`` (how strongly it follows the local
background) absorb the one-photon haze and slow drift; ``a`` >= 0 is the footprint, non-zero only
within ``grow`` pixels of the initial mask, and ``c`` the cell's trace. Alternating least squares:
given ``c``, each pixel's (mu, gamma, a) is a three-parameter regression (a clipped at 0); given
those, ``c`` is the footprint-weighted projection of the background-removed movie. It starts from
the initial mask's mean minus the ring's.

The footprint comes back with unit L2 norm and the trace in the matching units (grey levels times
the footprint norm), as the extraction's traces are; the background trace is the footprint-weighted
background (mu + gamma b) in the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["EstimatedCell", "average_cells", "estimate_cell", "event_run_peaks"]


@dataclass(frozen=True)
class EstimatedCell:
    """Footprint and traces of one cell in a box of the movie.

    Attributes:
        footprint: (h, w) float32, non-negative, unit L2 norm.
        fluorescence: (T,) float32 the cell's own signal (grey levels x footprint norm).
        background: (T,) float32 the background under the footprint, same units.
    """

    footprint: np.ndarray
    fluorescence: np.ndarray
    background: np.ndarray


def _ring(mask: np.ndarray, *, gap: int, width: int, exclude: np.ndarray) -> np.ndarray:
    inner = ndimage.binary_dilation(mask, iterations=gap) if gap else mask
    outer = ndimage.binary_dilation(mask, iterations=gap + width)
    return outer & ~inner & ~exclude


def estimate_cell(
    movie: np.ndarray,
    initial: np.ndarray,
    *,
    others: np.ndarray | None = None,
    others_calcium: np.ndarray | None = None,
    grow: int = 2,
    ring_gap: int = 2,
    ring_width: int = 4,
    n_iterations: int = 5,
) -> EstimatedCell:
    """Estimate one cell's footprint and trace from the movie around it (model in the module notes).

    Args:
        movie: (T, h, w) the motion-corrected movie in a box around the cell.
        initial: (h, w) non-negative initial footprint (a hand-drawn mask, or the sum of merged footprints).
        others: (h * w, K) footprints of the other cells in the box (unit-norm columns, dense or sparse), or None.
        others_calcium: (K, T) their denoised calcium (so that ``others @ others_calcium`` is in movie units).
        grow: (pixels) how far the footprint may extend beyond the initial mask.
        ring_gap, ring_width: (pixels) the background ring's distance from the mask and its width.
        n_iterations: rounds of the alternating least squares.

    Raises:
        ValueError: shapes that disagree, an empty initial mask, no background ring pixel in the box,
            or non-finite values.
    """
    movie = np.asarray(movie, dtype=np.float32)
    initial = np.asarray(initial, dtype=np.float32)
    if movie.ndim != 3 or initial.shape != movie.shape[1:]:
        raise ValueError(f"initial must be one frame of movie: shapes {initial.shape} and {movie.shape}")
    if not np.isfinite(movie).all() or not np.isfinite(initial).all() or (initial < 0).any():
        raise ValueError("movie and initial must be finite and initial non-negative")
    mask = initial > 0
    if not mask.any():
        raise ValueError("the initial footprint is empty")
    n_frames = len(movie)
    pixels = movie.reshape(n_frames, -1)
    occupied = np.zeros(mask.shape, bool)
    if others is not None and others.shape[1]:
        pixels = pixels - np.asarray(others @ np.asarray(others_calcium, np.float32)).T
        occupied = (np.asarray(abs(others).sum(axis=1)).ravel() > 0).reshape(mask.shape)
    ring = _ring(mask, gap=ring_gap, width=ring_width, exclude=occupied)
    if not ring.any():
        raise ValueError("no background ring pixel around the cell in the box; give a larger box")
    background = pixels[:, ring.ravel()].mean(axis=1)
    background = background - background.mean()
    support = (ndimage.binary_dilation(mask, iterations=grow) if grow else mask).ravel()
    local = pixels[:, support].astype(np.float64)
    trace = local[:, mask.ravel()[support]].mean(axis=1) - (background + pixels[:, ring.ravel()].mean())
    weights = np.zeros(support.sum())
    for _ in range(n_iterations):
        design = np.column_stack([np.ones(n_frames), background, trace])
        coefficients, *_ = np.linalg.lstsq(design, local, rcond=None)
        weights = np.maximum(coefficients[2], 0.0)
        if not weights.any():
            break
        level = design[:, :2] @ coefficients[:2]
        trace = ((local - level) @ weights) / (weights @ weights)
    norm = float(np.linalg.norm(weights))
    if norm == 0:
        raise ValueError("the movie shows no signal that follows the initial footprint")
    footprint = np.zeros(mask.size, np.float32)
    footprint[support] = weights / norm
    level = np.column_stack([np.ones(n_frames), background]) @ coefficients[:2]
    return EstimatedCell(
        footprint=footprint.reshape(mask.shape),
        fluorescence=(trace * norm).astype(np.float32),
        background=(level @ (weights / norm)).astype(np.float32),
    )


def average_cells(
    footprints: np.ndarray, fluorescence: np.ndarray, background: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """CalTrig's merge of cells when there is no movie to fit them to: the averages of their footprints and traces.

    CalTrig (``DataInstance.merge_cells``) replaces a group of cells by one whose footprint (``A``) and traces
    (``C``, ``S``, ``YrA``, ``DFF``) are the means over the group, in the units they were stored in.

    Args:
        footprints: (P, k) the k cells' footprints (dense or sparse), P pixels.
        fluorescence: (k, T) their traces.
        background: (k, T) their background traces, or None.

    Returns:
        ((P,) float32 mean footprint, (T,) float32 mean trace, (T,) float32 mean background or None).

    Raises:
        ValueError: fewer than one cell, or shapes that disagree.
    """
    fluorescence = np.asarray(fluorescence, dtype=np.float64)
    n_cells = footprints.shape[1]
    if n_cells < 1 or fluorescence.ndim != 2 or fluorescence.shape[0] != n_cells:
        raise ValueError(f"give k >= 1 footprints (P, k) and traces (k, T); got {footprints.shape} and "
                         f"{fluorescence.shape}")
    if background is not None and np.shape(background) != fluorescence.shape:
        raise ValueError(f"background must be {fluorescence.shape} like the traces, got {np.shape(background)}")
    footprint = np.asarray(footprints.sum(axis=1)).ravel() / n_cells
    mean_background = None if background is None else np.asarray(background, np.float64).mean(axis=0)
    return (footprint.astype(np.float32), fluorescence.mean(axis=0).astype(np.float32),
            None if mean_background is None else mean_background.astype(np.float32))


def event_run_peaks(events: np.ndarray, trace: np.ndarray) -> np.ndarray:
    """The peak frame of each run of CalTrig's event array: where ``trace`` is largest within the run.

    Args:
        events: (T,) bool, True on the frames of each transient (one row of CalTrig's ``E``).
        trace: (T,) the cell's trace the transients were marked on.

    Returns:
        (n_runs,) int64 frames, in time order.
    """
    events = np.asarray(events, dtype=bool)
    trace = np.asarray(trace, dtype=np.float64)
    if events.ndim != 1 or trace.shape != events.shape:
        raise ValueError(f"events and trace must be (T,) of one length, got {events.shape} and {trace.shape}")
    edges = np.diff(np.concatenate([[False], events, [False]]).astype(np.int8))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return np.array([start + int(np.argmax(trace[start:stop])) for start, stop in zip(starts, stops)], np.int64)
