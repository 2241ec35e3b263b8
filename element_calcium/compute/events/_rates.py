"""Event frames, rasters, binning and firing rates (CalSciPy's event_processing and reorganization ideas).

Frames are 0-based indices; times are seconds; rates are per second (Hz).
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd
from scipy import ndimage

from element_calcium.compute import _checks

__all__ = ["BIN_STATISTICS", "bin_data", "event_raster", "firing_rates", "inter_event_intervals",
           "normalize_firing_rates", "transient_frames", "trial_tensor"]

BIN_STATISTICS = ("mean", "sum", "max")


def bin_data(data, *, bin_frames: int, statistic: str = "mean") -> np.ndarray:
    """Combine consecutive frames into bins.

    Args:
        data: (N, T) traces, rasters or rates.
        bin_frames: frames per bin, >= 1; the last T % bin_frames frames (an incomplete bin) are dropped.
        statistic: ``"mean"``, ``"sum"`` (e.g. event counts) or ``"max"`` of each bin.

    Returns:
        (N, T // bin_frames) float64.
    """
    array = _checks.matrix(data, "data")
    bin_frames = _checks.integer(bin_frames, "bin_frames", 1)
    if statistic not in BIN_STATISTICS:
        raise ValueError(f"statistic must be one of {BIN_STATISTICS}, got {statistic!r}")
    n_bins = array.shape[1] // bin_frames
    blocks = array[:, : n_bins * bin_frames].astype(np.float64).reshape(array.shape[0], n_bins, bin_frames)
    return getattr(blocks, statistic)(axis=2)


def transient_frames(transients: pd.DataFrame, *, n_cells: int, column: str = "onset") -> list[np.ndarray]:
    """Per cell, the increasing frames of its transients (e.g. from `detect_transients`).

    Args:
        transients: table with columns ``cell`` and ``column``.
        n_cells: N, the number of cells; cells without transients get an empty array.
        column: which frame of each transient: ``"onset"``, ``"start"``, ``"peak"`` or ``"end"``.

    Returns:
        N int64 arrays.
    """
    n_cells = _checks.integer(n_cells, "n_cells", 0)
    if not isinstance(transients, pd.DataFrame) or not {"cell", column} <= set(transients.columns):
        raise ValueError(f"transients must be a DataFrame with columns 'cell' and {column!r}")
    cells = transients["cell"].to_numpy(np.int64)
    if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
        raise ValueError(f"transients.cell must be in [0, {n_cells}), got {cells.min()}..{cells.max()}")
    frames = transients[column].to_numpy(np.int64)
    order = np.lexsort((frames, cells))
    bounds = np.searchsorted(cells[order], np.arange(n_cells + 1))
    return [frames[order][bounds[i] : bounds[i + 1]] for i in range(n_cells)]


def event_raster(event_frames, *, n_frames: int) -> np.ndarray:
    """(N, T) uint8 raster: 1 at each cell's event frames, 0 elsewhere.

    Args:
        event_frames: N sequences of 0-based frames in [0, n_frames).
        n_frames: T, >= 1.
    """
    n_frames = _checks.integer(n_frames, "n_frames", 1)
    raster = np.zeros((len(event_frames), n_frames), dtype=np.uint8)
    for cell, frames in enumerate(event_frames):
        frames = np.asarray(frames, dtype=np.int64)
        if frames.size and (frames.min() < 0 or frames.max() >= n_frames):
            raise ValueError(f"event_frames[{cell}] must lie in [0, {n_frames}), got {frames.min()}..{frames.max()}")
        raster[cell, frames] = 1
    return raster


def inter_event_intervals(event_frames, *, fps: float) -> list[np.ndarray]:
    """Per cell, the intervals between consecutive events, seconds (float64; empty below two events)."""
    fps = _checks.fps(fps)
    return [np.diff(np.sort(np.asarray(frames, dtype=np.int64))) / fps for frames in event_frames]


def firing_rates(spike_probability, *, fps: float, smooth_s: float = 0.0) -> np.ndarray:
    """Instantaneous firing rates (Hz) from per-frame spike probabilities (or counts).

    rate = probability * fps, optionally smoothed by a Gaussian of standard deviation ``smooth_s`` seconds.

    Args:
        spike_probability: (N, T) probability (or expected count) of a spike in each frame, >= 0.
        fps: frames per second, > 0.
        smooth_s: Gaussian kernel standard deviation, seconds, >= 0 (0: no smoothing).

    Returns:
        (N, T) float32 rates in Hz.
    """
    array = _checks.matrix(spike_probability, "spike_probability").astype(np.float32)
    fps = _checks.fps(fps)
    if isinstance(smooth_s, bool) or not isinstance(smooth_s, Real) or not smooth_s >= 0:
        raise ValueError(f"smooth_s must be a number >= 0 seconds, got {smooth_s!r}")
    if array.size and (not np.isfinite(array).all() or array.min() < 0):
        raise ValueError("spike_probability must be finite and >= 0")
    rates = array * np.float32(fps)
    if smooth_s > 0:
        rates = ndimage.gaussian_filter1d(rates, smooth_s * fps, axis=1, mode="nearest")
    return rates


def normalize_firing_rates(rates) -> np.ndarray:
    """(N, T) float32 rates scaled so each cell's maximum is 1; negatives become 0, silent cells stay 0."""
    array = np.maximum(_checks.matrix(rates, "rates").astype(np.float32), 0.0)
    peak = array.max(axis=1, keepdims=True) if array.shape[1] else np.ones((array.shape[0], 1), np.float32)
    return np.divide(array, peak, out=np.zeros_like(array), where=peak > 0)


def trial_tensor(traces, *, trial_frames: int) -> np.ndarray:
    """Cut (N, T) traces into consecutive trials of ``trial_frames`` frames: (T // trial_frames, N, trial_frames).

    The last T % trial_frames frames (an incomplete trial) are dropped.
    """
    array = _checks.matrix(traces, "traces")
    trial_frames = _checks.integer(trial_frames, "trial_frames", 1)
    n_trials = array.shape[1] // trial_frames
    cut = array[:, : n_trials * trial_frames].reshape(array.shape[0], n_trials, trial_frames)
    return np.ascontiguousarray(cut.transpose(1, 0, 2))
