"""Calcium transients of each cell from dF/F, and per-cell transient statistics.

Definitions (all on frames, 0-based; ``w`` is the Savitzky-Golay window in frames):

- Smoothed trace s: Savitzky-Golay filter of dF/F (window ``savgol_window_s``, order
  ``savgol_order``, mode ``"interp"``: `element_calcium.compute.signal.savgol_smooth`); its first
  derivative d (dF/F per frame) comes from the same local polynomials.
- Noise sigma (dF/F, per frame): a rolling statistic of the residual |dF/F - s| over
  ``noise_window_s``. For white noise of standard deviation sigma the residual at a frame has standard
  deviation sigma sqrt(1 - h0), h0 being the filter's central coefficient; ``"median"`` divides the
  rolling median by 0.6745 sqrt(1 - h0) and ``"mean"`` the rolling mean by sqrt(2 / pi) sqrt(1 - h0),
  so both estimate sigma. ``"max"`` keeps the rolling maximum, an envelope above sigma (stricter
  thresholds). The median is taken exactly on consecutive, non-overlapping noise windows (and on the
  last one) and interpolated linearly between their centres; mean and max are exact at every frame.
- Noise floor: sigma is at least the float32 resolution of the trace, eps * max|dF/F| (eps = 2^-23;
  the smallest normal float32 for an all-zero trace). Below it the residual is rounding, not noise:
  where a trace is noise-free (a flat zero stretch of sparse deconvolved calcium, minian's ``C``) sigma
  is that floor, so every SNR is finite and independent of the trace's units: at most 2 c / eps, c
  being the most the smoothing can amplify a value (the sum of its coefficients' magnitudes, at most
  about 2 at the ends of the trace), so below about 4e7. As in CalTrig's ``get_SNR``, a noise-free
  trace gets a finite SNR, not NaN.
- Peaks: local maxima of s (`scipy.signal.find_peaks`) whose prominence is at least ``min_snr`` times
  sigma at the peak and whose width at half prominence is at least ``min_width_s``.
- Rise: a peak needs one, a run of frames where d exceeds ``onset_threshold`` times the derivative's
  noise (sigma times the norm of the derivative filter) ending within w // 2 + 1 frames before the peak
  (the smoothed-derivative threshold of CalSciPy's ``identify_events``). Peaks without one are not
  transients.
- start: the first frame of that run, no earlier than ``max_rise_s`` before the peak nor than the
  previous candidate peak. The smoothing spreads a sudden rise over w frames, so start comes up to
  w // 2 frames before the true rise.
- onset: the frame of steepest rise (largest d) in start..peak, within a frame or two of the spike
  that caused a fast-rising transient. Inter-event intervals are taken between onsets.
- amplitude: s[peak] - s[start], at least ``min_snr`` sigma[peak] (else not a transient); snr:
  amplitude / sigma[peak].
- peak_dff: the largest value of the unsmoothed dF/F over start..end, CalTrig's peak dF/F (its
  ``get_average_peak_dff`` averages the maximum dF/F of each transient). The smoothed trace at the peak,
  s[peak], is lower on noisy traces (the smoothing flattens the top); its mean per cell is
  ``mean_peak_smoothed_dff`` in `transient_statistics`.
- end: the first frame after the peak where s falls to s[start] + ``end_fraction`` * amplitude; else the
  frame before the next transient's start (or the last frame).
- rise_s = (peak - start) / fps; decay_s = (end - peak) / fps; area = sum over start..end of
  (s - s[start]) / fps, in dF/F seconds. All but peak_dff are measured on the smoothed trace.
- MAD (per cell): median |dF/F - median(dF/F)| / 0.6745, as CalTrig's ``get_mad``: for Gaussian noise it
  estimates the standard deviation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from element_calcium.compute import _checks
from element_calcium.compute.dff import standardized_noise
from element_calcium.compute.params import TransientParams
from element_calcium.compute.signal import savgol_smooth

__all__ = ["STATISTICS_COLUMNS", "TRANSIENT_COLUMNS", "detect_transients", "median_absolute_deviation", "range_max",
           "smooth_and_noise", "snr_per_frame", "transient_statistics"]

TRANSIENT_COLUMNS = ("cell", "start", "onset", "peak", "end", "peak_dff", "amplitude", "snr", "rise_s", "decay_s",
                     "area")
STATISTICS_COLUMNS = ("cell", "n_transients", "rate_hz", "mean_iei_s", "mean_peak_dff", "mean_peak_smoothed_dff",
                      "mean_amplitude", "snr", "noise", "mad", "standardized_noise")
_BLOCK_CELLS = 64  # cells processed together; bounds memory to a few arrays of 64 x T
_MEDIAN_TO_SIGMA = 0.6745  # median |x| of a standard normal
_MEAN_TO_SIGMA = np.sqrt(2.0 / np.pi)  # mean |x| of a standard normal
_RESOLUTION = float(np.finfo(np.float32).eps)  # relative spacing of float32 values
_SMALLEST = float(np.finfo(np.float32).tiny)  # noise floor of an all-zero trace


def _window_frames(params: TransientParams, fps: float, n_frames: int) -> int:
    """Odd Savitzky-Golay window in frames, at least savgol_order + 2, at most the recording."""
    window = max(int(round(params.savgol_window_s * fps)), params.savgol_order + 2)
    window += 1 - window % 2
    if window > n_frames:
        raise ValueError(f"dff must have at least {window} frames (savgol_window_s={params.savgol_window_s} s "
                         f"at {fps} fps), got {n_frames}")
    return window


def _block_median(residual: np.ndarray, window: int) -> np.ndarray:
    """Running median of ``window`` frames: exact on consecutive blocks (and the last window), linear between."""
    n_frames = residual.shape[1]
    window = min(window, n_frames)
    starts = np.unique(np.append(np.arange(0, n_frames - window + 1, window), n_frames - window))
    values = np.median(sliding_window_view(residual, window, axis=1)[:, starts], axis=-1)
    centres = starts + (window - 1) / 2.0
    if centres.size == 1:
        return np.repeat(values, n_frames, axis=1)
    position = np.interp(np.arange(n_frames), centres, np.arange(centres.size))
    lower = np.minimum(position.astype(np.int64), centres.size - 2)
    weight = (position - lower).astype(np.float32)
    return values[:, lower] * (1.0 - weight) + values[:, lower + 1] * weight


def _noise_floor(rows: np.ndarray) -> np.ndarray:
    """(n, 1) float32 smallest noise sigma of each row: eps * max|row|, at least the smallest normal float32."""
    scale = np.abs(rows).max(axis=1, keepdims=True).astype(np.float64)
    return np.maximum(scale * _RESOLUTION, _SMALLEST).astype(np.float32)


def _rolling_noise(residual: np.ndarray, window: int, statistic: str, h0: float, floor: np.ndarray) -> np.ndarray:
    """(n, T) noise sigma from the residual |dF/F - smoothed|, at least ``floor`` (n, 1) (see the module notes)."""
    scale = np.sqrt(1.0 - h0)
    if statistic == "median":
        noise = _block_median(residual, window) / (_MEDIAN_TO_SIGMA * scale)
    elif statistic == "mean":
        noise = ndimage.uniform_filter1d(residual, window, axis=1, mode="nearest") / (_MEAN_TO_SIGMA * scale)
    else:
        noise = ndimage.maximum_filter1d(residual, window, axis=1, mode="nearest")
    return np.maximum(noise, floor).astype(np.float32)


def smooth_and_noise(rows: np.ndarray, fps: float, params: TransientParams):
    """Smoothed trace, its first derivative (per frame) and the noise sigma (at least the noise floor of the
    module notes), each (n, T) float32, of (n, T) rows."""
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    rows = np.asarray(rows, dtype=np.float32)
    window = _window_frames(params, fps, rows.shape[1])
    order = params.savgol_order
    smoothed = savgol_smooth(rows, window_length=window, polyorder=order, mode="interp", axis=1).astype(np.float32)
    derivative = savgol_smooth(rows, window_length=window, polyorder=order, deriv=1, mode="interp",
                               axis=1).astype(np.float32)
    h0 = float(signal.savgol_coeffs(window, order)[window // 2])
    noise_window = max(1, int(round(params.noise_window_s * fps)))
    noise = _rolling_noise(np.abs(rows - smoothed), noise_window, params.noise_statistic, h0, _noise_floor(rows))
    return smoothed, derivative, noise


def _segments(starts: np.ndarray, stops: np.ndarray):
    """Frames of the ranges [starts[k], stops[k]) laid end to end, each with its range k."""
    lengths = np.maximum(stops - starts, 0)
    segment = np.repeat(np.arange(starts.size), lengths)
    offsets = np.cumsum(lengths) - lengths
    return segment, starts[segment] + np.arange(lengths.sum()) - offsets[segment]


def _first_below(row: np.ndarray, starts: np.ndarray, stops: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """For each k, the first frame f in [starts[k], stops[k]) with row[f] <= levels[k], else stops[k] - 1."""
    segment, frames = _segments(starts, stops)
    hits = np.flatnonzero(row[frames] <= levels[segment])
    ends = stops - 1
    if hits.size:
        hit_segments, first = np.unique(segment[hits], return_index=True)
        ends[hit_segments] = frames[hits[first]]
    return ends


def _steepest(derivative: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """For each k, the first frame of largest derivative in [starts[k], stops[k]] (non-empty ranges)."""
    if starts.size == 0:
        return starts
    segment, frames = _segments(starts, stops + 1)
    values = derivative[frames]
    offsets = np.concatenate(([0], np.cumsum(stops + 1 - starts)[:-1]))
    hits = np.flatnonzero(values == np.maximum.reduceat(values, offsets)[segment])
    _, first = np.unique(segment[hits], return_index=True)
    return frames[hits[first]]


def range_max(row: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """(k,) float64 largest value of ``row`` over each frame range starts[k]..ends[k] (inclusive, non-empty)."""
    if starts.size == 0:
        return np.zeros(0)
    _, frames = _segments(starts, ends + 1)
    offsets = np.concatenate(([0], np.cumsum(ends + 1 - starts)[:-1]))
    return np.maximum.reduceat(row[frames].astype(np.float64), offsets)


def _candidate_peaks(smoothed, noise, run_end, window: int, params: TransientParams, fps: float) -> np.ndarray:
    """Peaks of one smoothed row that pass the prominence, width and rise tests."""
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    width = params.min_width_s * fps
    peaks, properties = signal.find_peaks(smoothed, prominence=params.min_snr * float(noise.min()),
                                          width=width if width > 0 else None)
    keep = properties["prominences"] >= params.min_snr * noise[peaks]
    ends = run_end[peaks]
    keep &= (ends >= 0) & (peaks - ends <= window // 2 + 1)
    return peaks[keep]


def _cell_transients(row, smoothed, derivative, noise, run_end, run_start, window, params, fps) -> np.ndarray:
    """(k, 10) start, onset, peak, end, peak_dff, amplitude, snr, rise_s, decay_s, area of one cell (trace
    ``row``)."""
    max_rise = max(1, int(round(params.max_rise_s * fps)))
    peaks = _candidate_peaks(smoothed, noise, run_end, window, params, fps)
    previous = np.concatenate(([-1], peaks[:-1]))
    starts = np.clip(run_start[run_end[peaks]], np.maximum(previous + 1, peaks - max_rise), peaks)
    keep = smoothed[peaks] - smoothed[starts] >= params.min_snr * noise[peaks]
    peaks, starts = peaks[keep], starts[keep]
    onsets = _steepest(derivative, starts, peaks)
    base = smoothed[starts].astype(np.float64)
    amplitude = smoothed[peaks] - base
    stops = np.append(starts[1:], smoothed.size)
    ends = np.maximum(_first_below(smoothed, peaks + 1, stops, base + params.end_fraction * amplitude), peaks)
    cumulative = np.concatenate(([0.0], np.cumsum(smoothed, dtype=np.float64)))
    area = (cumulative[ends + 1] - cumulative[starts] - (ends - starts + 1) * base) / fps
    return np.column_stack([starts, onsets, peaks, ends, range_max(row, starts, ends), amplitude,
                            amplitude / noise[peaks], (peaks - starts) / fps, (ends - peaks) / fps, area])


def _rise_runs(derivative: np.ndarray, noise: np.ndarray, threshold: float):
    """Per frame: the last rising frame at or before it (-1: none) and the first frame of each rising run."""
    rising = derivative > threshold * noise
    index = np.arange(derivative.shape[1], dtype=np.int32)
    run_end = np.maximum.accumulate(np.where(rising, index, -1), axis=1)
    run_start = np.maximum.accumulate(np.where(rising, -1, index), axis=1) + 1
    return run_end, run_start


def _detect_block(rows: np.ndarray, fps: float, params: TransientParams) -> list[np.ndarray]:
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    smoothed, derivative, noise = smooth_and_noise(rows, fps, params)
    window = _window_frames(params, fps, rows.shape[1])
    derivative_norm = float(np.linalg.norm(signal.savgol_coeffs(window, params.savgol_order, deriv=1)))
    run_end, run_start = _rise_runs(derivative, noise * derivative_norm, params.onset_threshold)
    return [_cell_transients(rows[i], smoothed[i], derivative[i], noise[i], run_end[i], run_start[i], window, params,
                             fps) for i in range(rows.shape[0])]


def detect_transients(dff, *, fps: float, params: TransientParams = TransientParams()) -> pd.DataFrame:
    """Calcium transients of every cell (see the module notes for the definitions).

    Args:
        dff: (N, T) dF/F (or denoised calcium) of N cells, finite; T at least the smoothing window.
        fps: frames per second, > 0.
        params: the detection parameters (smoothing window and order, noise window and statistic, min_snr,
            onset_threshold, min_width_s, max_rise_s, end_fraction); the defaults suit GCaMP6f at 20-30 fps.

    Returns:
        One row per transient, ordered by cell then onset, with columns ``cell`` (row of ``dff``),
        ``start``, ``onset``, ``peak``, ``end`` (0-based frames, start <= onset <= peak <= end),
        ``peak_dff`` and ``amplitude`` (dF/F), ``snr``, ``rise_s`` and ``decay_s`` (seconds) and
        ``area`` (dF/F s).
    """
    array = _checks.matrix(dff, "dff", finite=True)
    fps = _checks.fps(fps)
    if array.shape[0]:
        _window_frames(params, fps, array.shape[1])
    cells, found = [], []
    for first in range(0, array.shape[0], _BLOCK_CELLS):
        for i, table in enumerate(_detect_block(array[first : first + _BLOCK_CELLS], fps, params)):
            cells.append(np.full(len(table), first + i, dtype=np.int64))
            found.append(table)
    return _table(np.concatenate(cells) if cells else np.zeros(0, np.int64),
                  np.concatenate(found) if found else np.zeros((0, 10)))


def _table(cells: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(values, columns=list(TRANSIENT_COLUMNS[1:]))
    frame.insert(0, "cell", cells)
    return frame.astype({"start": np.int64, "onset": np.int64, "peak": np.int64, "end": np.int64})


def _check_transients(transients, n_cells: int, n_frames: int) -> pd.DataFrame:
    if not isinstance(transients, pd.DataFrame):
        raise ValueError(f"transients must be a pandas DataFrame, got {type(transients).__name__}")
    missing = sorted({"cell", "onset", "peak", "peak_dff", "amplitude"} - set(transients.columns))
    if missing:
        raise ValueError(f"transients lacks column(s) {missing}")
    cells = transients["cell"].to_numpy()
    if cells.size and (cells.min() < 0 or cells.max() >= n_cells):
        raise ValueError(f"transients.cell must be in [0, {n_cells}) (rows of dff), got {cells.min()}..{cells.max()}")
    peaks = transients["peak"].to_numpy()
    if peaks.size and (peaks.min() < 0 or peaks.max() >= n_frames):
        raise ValueError(f"transients.peak must be frames in [0, {n_frames}), got {peaks.min()}..{peaks.max()}")
    return transients


def median_absolute_deviation(dff) -> np.ndarray:
    """(N,) CalTrig's MAD of each row of (N, T) dF/F: median |dF/F - median(dF/F)| / 0.6745 (dF/F).

    Scaled so that it estimates the standard deviation of Gaussian noise (the unscaled median absolute
    deviation is this times 0.6745).
    """
    rows = _checks.matrix(dff, "dff", finite=True)
    return np.median(np.abs(rows - np.median(rows, axis=1, keepdims=True)), axis=1) / _MEDIAN_TO_SIGMA


def _cell_summaries(array: np.ndarray, fps: float, settings: TransientParams, cells: np.ndarray,
                    peaks: np.ndarray) -> dict[str, np.ndarray]:
    """(N,) noise (mean sigma), peak SNR (max of smoothed / sigma, finite), MAD, standardized noise; and
    ``peak_smoothed`` (len(peaks),): the smoothed trace at each transient's peak frame."""
    columns = {name: np.zeros(array.shape[0]) for name in ("snr", "noise", "mad", "standardized_noise")}
    columns["peak_smoothed"] = np.zeros(peaks.size)
    for first in range(0, array.shape[0], _BLOCK_CELLS):
        rows = array[first : first + _BLOCK_CELLS].astype(np.float32)
        smoothed, _, sigma = smooth_and_noise(rows, fps, settings)
        block = slice(first, first + rows.shape[0])
        mine = (cells >= first) & (cells < first + rows.shape[0])
        columns["peak_smoothed"][mine] = smoothed[cells[mine] - first, peaks[mine]]
        columns["noise"][block] = sigma.mean(axis=1)
        columns["snr"][block] = (smoothed / sigma).max(axis=1)
        columns["mad"][block] = median_absolute_deviation(rows)
        if rows.shape[1] >= 2:
            columns["standardized_noise"][block] = standardized_noise(rows, fps=fps)
    return columns


def snr_per_frame(dff, *, fps: float, scaled_to_trace: bool = False,
                  params: TransientParams = TransientParams()) -> np.ndarray:
    """Signal-to-noise ratio at every frame (CalTrig ``get_SNR``): |smoothed dF/F| / noise sigma.

    The smoothed trace and sigma are those of the module notes (the noise floor keeps a noise-free trace
    finite: a constant trace c != 0 gets 1 / eps = 2^23 at every frame, an all-zero trace 0).

    Args:
        dff: (N, T) or (T,) dF/F, finite; T at least the smoothing window.
        fps: frames per second, > 0.
        scaled_to_trace: False gives the ratio itself; True rescales each row as CalTrig does for display,
            so that its largest value equals the largest smoothed dF/F (an all-zero row stays 0).
        params: the transient parameters (the smoothing and noise ones are used).

    Returns:
        float32 array of the shape of ``dff``: the ratio (unitless), or with ``scaled_to_trace`` dF/F.
    """
    values = np.asarray(dff)
    rows = _checks.matrix(values[None, :] if values.ndim == 1 else values, "dff", finite=True)
    fps = _checks.fps(fps)
    result = np.zeros(rows.shape, np.float32)
    if rows.shape[0]:
        _window_frames(params, fps, rows.shape[1])
    for first in range(0, rows.shape[0], _BLOCK_CELLS):
        smoothed, _, sigma = smooth_and_noise(rows[first : first + _BLOCK_CELLS], fps, params)
        ratio = np.abs(smoothed) / sigma
        if scaled_to_trace:
            largest = ratio.max(axis=1, keepdims=True)
            factor = np.divide(smoothed.max(axis=1, keepdims=True), largest, out=np.zeros_like(largest),
                               where=largest > 0)
            ratio = ratio * factor
        result[first : first + ratio.shape[0]] = ratio
    return result[0] if values.ndim == 1 else result


def transient_statistics(dff, transients, *, fps: float, params: TransientParams = TransientParams()) -> pd.DataFrame:
    """Per-cell summary of the transients of `detect_transients`, every cell included.

    Args:
        dff: (N, T) the dF/F the transients were detected in.
        transients: the DataFrame of `detect_transients` (columns cell, onset, peak, peak_dff, amplitude).
        fps: frames per second, > 0.
        params: the parameters the transients were detected with (their smoothing and noise define the noise
            and SNR columns).

    Returns:
        One row per cell with columns ``cell``; ``n_transients``; ``rate_hz`` (transients per second of
        recording, T / fps); ``mean_iei_s`` (mean interval between consecutive onsets, seconds, NaN with
        fewer than two transients); ``mean_peak_dff`` (mean over the cell's transients of their largest
        dF/F, CalTrig's average peak dF/F), ``mean_peak_smoothed_dff`` (mean smoothed dF/F at the
        transients' peak frames) and ``mean_amplitude`` (NaN without transients); ``snr`` (largest smoothed
        dF/F over the noise; finite: a noise-free trace is measured against the noise floor of the module
        notes, an all-zero trace gets 0); ``noise`` (mean noise sigma, dF/F); ``mad`` (CalTrig's median
        absolute deviation, scaled by 1 / 0.6745: `median_absolute_deviation`); ``standardized_noise``
        (`element_calcium.compute.dff.standardized_noise`, % per sqrt(Hz)).
    """
    array = _checks.matrix(dff, "dff", finite=True)
    fps = _checks.fps(fps)
    n_cells, n_frames = array.shape
    table = _check_transients(transients, n_cells, n_frames)
    if n_cells:
        _window_frames(params, fps, n_frames)
    ordered = table.sort_values(["cell", "onset"])
    summaries = _cell_summaries(array, fps, params, ordered["cell"].to_numpy(np.int64),
                                ordered["peak"].to_numpy(np.int64))
    ordered = ordered.assign(peak_smoothed=summaries.pop("peak_smoothed"))
    groups = ordered.groupby("cell")
    counts = groups.size().reindex(range(n_cells), fill_value=0).to_numpy()
    gaps = ordered["onset"].diff().where(ordered["cell"].diff() == 0)
    stats = pd.DataFrame({
        "cell": np.arange(n_cells, dtype=np.int64),
        "n_transients": counts.astype(np.int64),
        "rate_hz": counts / (n_frames / fps),
        "mean_iei_s": (gaps.groupby(ordered["cell"]).mean() / fps).reindex(range(n_cells)).to_numpy(),
        "mean_peak_dff": groups["peak_dff"].mean().reindex(range(n_cells)).to_numpy(),
        "mean_peak_smoothed_dff": groups["peak_smoothed"].mean().reindex(range(n_cells)).to_numpy(),
        "mean_amplitude": groups["amplitude"].mean().reindex(range(n_cells)).to_numpy(),
        **summaries,
    })
    return stats[list(STATISTICS_COLUMNS)].astype({"mean_iei_s": np.float64, "mean_peak_dff": np.float64,
                                                   "mean_peak_smoothed_dff": np.float64,
                                                   "mean_amplitude": np.float64})
