"""dF/F with a running-percentile baseline, and the standardized noise of dF/F traces.

- `running_percentile`: the percentile of a centred window of frames, computed exactly on a grid
  of window positions ``window // 8`` frames apart (and at the last frame) and interpolated
  linearly in between, which costs about 8 partial sorts of each trace instead of one per frame.
  Windows 1/8 apart share 7/8 of their frames, so their percentiles differ little: on noisy
  traces with a slow drift the error against the exact running percentile is about 0.04 noise
  standard deviations on average and below 0.3 at worst (window 300).
- `detrend_dff` (CaImAn's ``detrend_df_f`` idea): dF/F = (F - baseline(F)) / F0 with
  F0 = baseline(F + background), baselines being running percentiles. F0 is the percentile of
  the whole light under the component, not the sum of the two percentiles: percentiles do not
  add, and where F and the background move against each other (another tool's modelled calcium
  against the movie under its footprint) the sum understates F0, down to zero or below.
- `project_on_footprints` and `movie_under_footprints`: the light under each footprint in the
  units of the component's trace (``a . y / (a . a)``: a frame equal to the footprint times c
  gives c), the background a tool's results leave out when their traces have no baseline.
- `standardized_noise` (Rupprecht et al. 2021, CalSciPy): nu = 100 median|diff dF/F| / sqrt(fps),
  in % per sqrt(Hz), comparable across frame rates.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import sparse

from element_calcium.compute import _checks

__all__ = ["detrend_dff", "movie_under_footprints", "project_on_footprints", "running_percentile", "standardized_noise"]

_GRID_DIVISIONS = 8  # grid positions per window in `running_percentile`
_CHUNK_ELEMENTS = 1 << 22  # window samples copied and partitioned at once (16 MB of float32)
_MAD_TO_SIGMA = 1.0 / (0.6745 * np.sqrt(2.0))  # median |diff| of white noise = 0.6745 sqrt(2) sigma
_FLOOR_FRACTION = 1e-6  # smallest F0 as a fraction of max |F| when F has no noise
_CHUNK_PIXELS = 1 << 24  # movie pixels projected at once in `movie_under_footprints` (64 MB of float32)


def _percentile(value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 100.0:
        raise ValueError(f"percentile must be a number in [0, 100], got {value!r}")
    return float(value)


def _window_percentiles(rows: np.ndarray, starts: np.ndarray, window: int, percentile: float) -> np.ndarray:
    """(n, len(starts)) percentile of rows[:, s : s + window] for each start s (all inside)."""
    rank = (window - 1) * percentile / 100.0
    below = int(np.floor(rank))
    above = min(below + 1, window - 1)
    fraction = rank - below
    per_row = max(1, _CHUNK_ELEMENTS // (window * max(starts.size, 1)))
    out = np.empty((rows.shape[0], starts.size), dtype=np.float32)
    windows = sliding_window_view(rows, window, axis=-1)
    for first in range(0, rows.shape[0], per_row):
        part = np.partition(windows[first : first + per_row, starts], [below, above], axis=-1)
        out[first : first + per_row] = part[..., below] * (1.0 - fraction) + part[..., above] * fraction
    return out


def running_percentile(traces, *, window: int, percentile: float, knots_per_window: int = _GRID_DIVISIONS
                       ) -> np.ndarray:
    """Percentile of each centred window of ``window`` frames (approximated, see module notes).

    The window at frame t spans t - (window - 1) // 2 .. t + window // 2; near the ends only the
    frames that exist count. Percentiles interpolate linearly between order statistics (NumPy's
    default). Exact at every ``window // knots_per_window``-th frame and at the last frame, linear in
    between: the cost is about ``knots_per_window`` partial sorts of each trace.

    Args:
        traces: (T,) or (N, T) finite traces.
        window: frames per window, >= 1.
        percentile: in [0, 100].
        knots_per_window: exact positions per window length, >= 1 (8 by default; fewer is faster and
            follows changes faster than the window less closely).

    Returns:
        float32 array of the shape of ``traces``.
    """
    array = _checks.traces(traces, "traces", 1)
    window = _checks.integer(window, "window", 1, unit="frames")
    percentile = _percentile(percentile)
    knots_per_window = _checks.integer(knots_per_window, "knots_per_window", 1)
    rows = array.reshape(-1, array.shape[-1]).astype(np.float32)
    n_frames = rows.shape[1]
    left, right = (window - 1) // 2, window // 2
    step = max(1, window // knots_per_window)
    grid = np.unique(np.append(np.arange(0, n_frames, step), n_frames - 1))
    values = np.empty((rows.shape[0], grid.size), dtype=np.float32)
    inside = (grid >= left) & (grid + right < n_frames)
    if inside.any():
        values[:, inside] = _window_percentiles(rows, grid[inside] - left, window, percentile)
    for i in np.flatnonzero(~inside):
        values[:, i] = np.percentile(rows[:, max(0, grid[i] - left) : grid[i] + right + 1], percentile, axis=-1)
    position = np.interp(np.arange(n_frames), grid, np.arange(grid.size))
    lower = np.minimum(position.astype(np.int64), grid.size - 1)
    upper = np.minimum(lower + 1, grid.size - 1)
    weight = position - lower
    result = values[:, lower] * (1.0 - weight) + values[:, upper] * weight
    return result.reshape(array.shape).astype(np.float32)


def detrend_dff(fluorescence, *, fps: float, window_s: float = 30.0, percentile: float = 8.0, background=None):
    """dF/F of each component against a running-percentile baseline.

    F0 = baseline(F + background), dF/F = (F - baseline(F)) / F0, baselines being running
    percentiles over ``window_s``. Where F0 falls below the noise of F + background (robust
    standard deviation of its frame-to-frame changes), F0 is clipped at that noise (at
    1e-6 max|F| for a noise-free trace): a baseline-subtracted trace given without its background
    then yields (F - baseline) in units of its noise, finite, instead of dividing by ~0.

    Args:
        fluorescence: (N, T) trace F of each component (e.g. CNMF's C + YrA, or suite2p's
            F - 0.7 Fneu), T >= 3, in grey levels.
        fps: frames per second, > 0.
        window_s: (seconds) baseline window, > 0; round(window_s * fps) frames, at least 3, made
            odd, at most T.
        percentile: baseline percentile in [0, 100].
        background: (N, T) background fluorescence under each component in the units of F, or
            None (F then holds the whole fluorescence).

    Returns:
        (N, T) float32 dF/F.
    """
    trace = _checks.traces(fluorescence, "fluorescence", 3, (2,))
    fps = _checks.fps(fps)
    window_s = _checks.positive_number(window_s, "window_s")
    percentile = _percentile(percentile)
    n_frames = trace.shape[1]
    window = max(3, int(round(window_s * fps)))
    window = min(window + 1 - window % 2, n_frames - 1 + n_frames % 2)
    baseline = running_percentile(trace, window=window, percentile=percentile).astype(np.float64)
    total = trace
    if background is not None:
        background = _checks.traces(background, "background", 3, (2,))
        if background.shape != trace.shape:
            raise ValueError(
                f"background must have the shape of fluorescence {trace.shape}, got {background.shape}"
            )
        total = trace + background
    f0 = running_percentile(total, window=window, percentile=percentile).astype(np.float64)
    noise = np.median(np.abs(np.diff(total, axis=1)), axis=1) * _MAD_TO_SIGMA
    floor = np.maximum(noise, _FLOOR_FRACTION * np.abs(trace).max(axis=1))
    floor = np.maximum(floor, np.finfo(np.float64).tiny)
    return ((trace - baseline) / np.maximum(f0, floor[:, None])).astype(np.float32)


def project_on_footprints(footprints, pixels) -> np.ndarray:
    """Each footprint's share of each pixel vector, in the units of the footprint's trace.

    Row i is ``a_i . p_k / (a_i . a_i)``: a vector equal to ``c a_i`` projects to c on row i.
    A footprint with no weight projects to 0.

    Args:
        footprints: (P, N) footprints a_i (sparse or dense), P pixels.
        pixels: (P, K) pixel vectors p_k (frames, background components), dense.

    Returns:
        (N, K) float32.
    """
    footprints = sparse.csc_array(footprints, dtype=np.float32)
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim != 2 or pixels.shape[0] != footprints.shape[0]:
        raise ValueError(f"pixels must be ({footprints.shape[0]}, K) like the footprints' rows, got {pixels.shape}")
    norms = np.asarray(footprints.multiply(footprints).sum(axis=0)).ravel()
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (np.asarray(footprints.T @ pixels) * scale[:, None]).astype(np.float32)


def movie_under_footprints(
    read: Callable[[int, int], np.ndarray], n_frames: int, *, footprints, chunk_frames: int | None = None
) -> np.ndarray:
    """The light of a movie under each footprint, frame by frame, in the units of the footprints' traces.

    Frame t gives ``a_i . y_t / (a_i . a_i)`` (`project_on_footprints`), so a component's own
    signal ``a_i c_i(t)`` contributes c_i(t): what is left besides it is the background, the
    neighbours' light and the noise under the footprint. Memory is bounded by the chunk.

    Args:
        read: ``read(start, stop)`` -> (stop - start, H, W) frames, in the footprints' coordinates
            (motion-corrected).
        n_frames: T, the frames to read.
        footprints: (H * W, N) footprints, pixel row ``y * W + x``.
        chunk_frames: frames read at once; None reads about 16 million pixels at a time.

    Returns:
        (N, T) float32.
    """
    footprints = sparse.csc_array(footprints, dtype=np.float32)
    n_frames = _checks.integer(n_frames, "n_frames", 0)
    n_pixels = footprints.shape[0]
    step = max(1, _CHUNK_PIXELS // max(n_pixels, 1)) if chunk_frames is None else chunk_frames
    if isinstance(step, bool) or not isinstance(step, Integral) or step < 1:
        raise ValueError(f"chunk_frames must be an integer >= 1 or None, got {chunk_frames!r}")
    out = np.empty((footprints.shape[1], n_frames), dtype=np.float32)
    for start in range(0, n_frames, step):
        stop = min(start + step, n_frames)
        frames = np.asarray(read(start, stop))
        if frames.ndim != 3 or frames.shape[0] != stop - start or frames.shape[1] * frames.shape[2] != n_pixels:
            raise ValueError(
                f"read({start}, {stop}) returned shape {frames.shape}; expected ({stop - start}, H, W) "
                f"with H * W = {n_pixels} pixels"
            )
        out[:, start:stop] = project_on_footprints(footprints, frames.reshape(stop - start, n_pixels).T)
    return out


def standardized_noise(dff, *, fps: float) -> np.ndarray | float:
    """Standardized noise nu = 100 median|dF/F_t - dF/F_{t-1}| / sqrt(fps), in % per sqrt(Hz).

    For white noise of standard deviation sigma (in dF/F) nu = 100 * 0.6745 sqrt(2) sigma /
    sqrt(fps); the best Allen Brain Observatory recordings sit near 1 % Hz^-1/2.

    Args:
        dff: (T,) or (N, T) dF/F traces (fractions, not percent), T >= 2.
        fps: frames per second, > 0.

    Returns:
        A float for one trace, (N,) float32 for (N, T).
    """
    array = _checks.traces(dff, "dff", 2)
    fps = _checks.fps(fps)
    nu = 100.0 * np.median(np.abs(np.diff(array, axis=-1)), axis=-1) / np.sqrt(fps)
    return float(nu) if array.ndim == 1 else nu.astype(np.float32)
