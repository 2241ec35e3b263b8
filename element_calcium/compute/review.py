"""What a reviewer looks at, computed from arrays: the model frames A.C of a few frames, the residual of the
motion-corrected movie against them, and long traces decimated for display keeping every extreme.

    model = model_frames(footprints, calcium[:, t0:t1], (H, W))          # (n, H, W)
    residual = corrected[t0:t1] - model - background                     # background from residual_background
    times, values = minmax_decimate(trace, n_bins=1000)                   # at most 2000 points
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def model_frames(footprints, calcium, frame_shape: tuple[int, int]) -> np.ndarray:
    """The reconstruction A.C of some frames.

    Args:
        footprints: (H * W, N) footprints A (SciPy sparse or dense), pixel row ``y * W + x``.
        calcium: (N, n) temporal components C of the n frames wanted, movie units per unit footprint weight.
        frame_shape: (H, W) pixels.

    Returns:
        (n, H, W) float32 movie units.
    """
    height, width = (int(size) for size in frame_shape)
    matrix = sparse.csr_array(footprints, dtype=np.float32)
    calcium = np.asarray(calcium, dtype=np.float32)
    if calcium.ndim != 2 or matrix.shape != (height * width, calcium.shape[0]):
        raise ValueError(f"footprints {matrix.shape} and calcium {calcium.shape} do not fit (H * W, N) and (N, n) "
                         f"with H, W = {height}, {width}")
    return np.asarray(matrix @ calcium).T.reshape(calcium.shape[1], height, width)


def residual_background(corrected_sample, model_sample) -> np.ndarray:
    """The (H, W) float32 background of the residual: the per-pixel median of ``corrected - model`` over sampled
    frames, both (n, H, W) in movie units (the background CNMF leaves out of A.C)."""
    corrected_sample = np.asarray(corrected_sample, dtype=np.float32)
    model_sample = np.asarray(model_sample, dtype=np.float32)
    if corrected_sample.ndim != 3 or corrected_sample.shape != model_sample.shape:
        raise ValueError(f"corrected frames {corrected_sample.shape} and model frames {model_sample.shape} must "
                         "both be (n, H, W)")
    return np.median(corrected_sample - model_sample, axis=0)


def minmax_decimate(values, *, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """A long trace cut to ``n_bins`` equal runs of frames, each drawn by its minimum and maximum in frame order,
    so that a line through the points shows every peak and trough of the full trace.

    Args:
        values: (T,) trace.
        n_bins: runs; a trace of at most 2 ``n_bins`` frames comes back whole.

    Returns:
        ``(frames, values)``: (M,) int64 frame indices and (M,) float32 values, M <= 2 ``n_bins``, frames increasing.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 1:
        raise ValueError(f"values must be a (T,) trace, got shape {values.shape}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    n_frames = len(values)
    if n_frames <= 2 * n_bins:
        return np.arange(n_frames, dtype=np.int64), values
    edges = np.linspace(0, n_frames, n_bins + 1).astype(np.int64)
    starts = edges[:-1]
    lows = starts + np.array([np.argmin(values[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    highs = starts + np.array([np.argmax(values[a:b]) for a, b in zip(edges[:-1], edges[1:])])
    frames = np.unique(np.concatenate([lows, highs]))
    return frames, values[frames]
