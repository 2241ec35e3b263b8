"""Behaviour alignment: event times to frames, analog threshold crossings, peri-event windows, responses.

Times are seconds in the recording's clock; ``timestamps`` (T,) are the frame times, strictly
increasing; frames are 0-based; the frame interval dt is the median of diff(timestamps).

- Nearest frame (CalSciPy's ``align_data`` idea): the frame whose timestamp is closest (the earlier
  one on a tie). An event time must lie within the recording, [timestamps[0] - dt / 2,
  timestamps[-1] + dt / 2]; analog samples outside it map to frame -1.
- Windows: without resampling, frames f + k for k = -round(pre_s / dt) .. round(post_s / dt) around
  each event's nearest frame f (relative times k dt). With ``resample_ms`` (CalTrig's
  ``get_interval_section``), samples every resample_ms from -pre_s to post_s (0 included) after the
  exact event time, linearly interpolated between frames; an event raster (``raster=True``) is instead
  counted: the number of onsets whose frame time falls in each sample's interval. Samples outside
  the recording are NaN.
- Response statistics per cell over the events whose windows lie wholly inside the recording (others
  are left out and not counted in n_trials): baseline b_e = mean over the pre_s frames before the
  event's frame, response r_e = mean over [response_start_s, response_end_s) after it; delta = mean_e
  (r_e - b_e). z_score = (mean response - mu) / sd, where mu and sd are the mean and standard deviation
  (ddof=1) of the trial-averaged trace over the baseline frames (NaN when sd is 0). p_value: the
  events are shifted circularly by a random number of frames (the same shift for all, keeping their
  intervals; at least one window length, pre plus response end, away from no shift when the
  recording allows) within the frames whose windows fit, ``n_shuffles`` times; p = (1 + #null at least as
  extreme) / (1 + n_shuffles), two-sided extremes measured from the null's mean. Each frame's
  statistic r - b is precomputed once from cumulative sums, so a shuffle costs one gather per event.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from element_calcium.compute.params import PeriEventParams

__all__ = ["CROSSING_DIRECTIONS", "PeriEventWindows", "analog_to_frames", "nearest_frames", "peri_event_windows",
           "peri_event_zscore", "response_statistics", "samples_to_frames", "threshold_crossings",
           "transient_raster"]

CROSSING_DIRECTIONS = ("rising", "falling", "both")
RESPONSE_COLUMNS = ("cell", "n_trials", "baseline", "mean_response", "delta", "z_score", "p_value")
_SHUFFLE_ELEMENTS = 1 << 23  # cells x shuffles x events gathered at once


@dataclass(frozen=True)
class PeriEventWindows:
    """Activity around each event.

    Attributes:
        windows: (E, N, S) float32, trial x cell x sample; NaN where a sample falls outside the recording.
        times: (S,) float64 sample times relative to the event, seconds.
        event_frames: (E,) int64 nearest frame of each event.
    """

    windows: np.ndarray
    times: np.ndarray
    event_frames: np.ndarray


def _times(values, name: str, *, min_size: int = 0) -> np.ndarray:
    """1-D finite, strictly increasing float64 times."""
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a 1-D array of times in seconds, got shape {array.shape}")
    array = array.astype(np.float64)
    if array.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} values, got {array.size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    steps = np.diff(array)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0])
        kind = "duplicate" if steps[i] == 0 else "unsorted"
        raise ValueError(f"{name} must be strictly increasing; {kind} at index {i + 1} "
                         f"({array[i]} then {array[i + 1]})")
    return array


def _frame_interval(timestamps: np.ndarray) -> float:
    return float(np.median(np.diff(timestamps)))


def _nearest(times: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    right = np.clip(np.searchsorted(timestamps, times), 1, timestamps.size - 1)
    left = right - 1
    return np.where(times - timestamps[left] <= timestamps[right] - times, left, right).astype(np.int64)


def nearest_frames(event_times, timestamps) -> np.ndarray:
    """(E,) int64 nearest frame of each event time.

    Args:
        event_times: (E,) strictly increasing event times, seconds, inside the recording.
        timestamps: (T,) strictly increasing frame times, seconds, T >= 2.

    Raises:
        ValueError: unsorted or duplicate times, or an event outside the recording.
    """
    stamps = _times(timestamps, "timestamps", min_size=2)
    times = _times(event_times, "event_times")
    half = _frame_interval(stamps) / 2.0
    outside = (times < stamps[0] - half) | (times > stamps[-1] + half)
    if outside.any():
        raise ValueError(f"event_times: {int(outside.sum())} event(s) outside the recording "
                         f"[{stamps[0] - half}, {stamps[-1] + half}] s, first {times[outside][0]}")
    return _nearest(times, stamps)


def samples_to_frames(sample_times, timestamps) -> np.ndarray:
    """(S,) int64 nearest frame of each analog sample; -1 for samples outside the recording."""
    stamps = _times(timestamps, "timestamps", min_size=2)
    times = _times(sample_times, "sample_times")
    half = _frame_interval(stamps) / 2.0
    frames = _nearest(times, stamps)
    frames[(times < stamps[0] - half) | (times > stamps[-1] + half)] = -1
    return frames


def analog_to_frames(values, sample_times, timestamps) -> np.ndarray:
    """(T,) float64 mean of the analog samples nearest each frame; NaN for a frame no sample is nearest to."""
    channel = np.asarray(values, dtype=np.float64)
    frames = samples_to_frames(sample_times, timestamps)
    if channel.shape != frames.shape:
        raise ValueError(f"values must have the shape of sample_times {frames.shape}, got {channel.shape}")
    inside = frames >= 0
    n_frames = np.asarray(timestamps).size
    sums = np.bincount(frames[inside], weights=channel[inside], minlength=n_frames)
    counts = np.bincount(frames[inside], minlength=n_frames)
    return np.divide(sums, counts, out=np.full(n_frames, np.nan), where=counts > 0)


def threshold_crossings(values, sample_times, *, threshold: float, direction: str = "rising",
                        min_interval_s: float = 0.0) -> np.ndarray:
    """Times at which an analog (or TTL) channel crosses ``threshold``, seconds.

    A rising crossing is a sample at or above the threshold after one below it (falling: the
    reverse); its time is interpolated linearly between the two samples. A crossing less than
    ``min_interval_s`` after the previous kept one is dropped (debouncing).

    Args:
        values: (S,) channel samples.
        sample_times: (S,) strictly increasing sample times, seconds in the recording's clock.
        threshold: level in the channel's units.
        direction: ``"rising"``, ``"falling"`` or ``"both"``.
        min_interval_s: shortest interval between kept crossings, seconds, >= 0.

    Returns:
        (E,) float64 increasing crossing times.
    """
    times = _times(sample_times, "sample_times")
    channel = np.asarray(values, dtype=np.float64)
    if channel.shape != times.shape or not np.isfinite(channel).all():
        raise ValueError(f"values must be finite and have the shape of sample_times {times.shape}")
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    if direction not in CROSSING_DIRECTIONS:
        raise ValueError(f"direction must be one of {CROSSING_DIRECTIONS}, got {direction!r}")
    if isinstance(min_interval_s, bool) or not isinstance(min_interval_s, Real) or not min_interval_s >= 0:
        raise ValueError(f"min_interval_s must be a number >= 0 seconds, got {min_interval_s!r}")
    above = channel >= threshold
    rising, falling = ~above[:-1] & above[1:], above[:-1] & ~above[1:]
    chosen = {"rising": rising, "falling": falling, "both": rising | falling}[direction]
    i = np.flatnonzero(chosen)
    fraction = (threshold - channel[i]) / (channel[i + 1] - channel[i])
    crossings = times[i] + fraction * (times[i + 1] - times[i])
    kept, last = [], -np.inf
    for time in crossings:
        if time - last >= min_interval_s:
            kept.append(time)
            last = time
    return np.asarray(kept, dtype=np.float64)


def _traces(traces, n_frames: int) -> np.ndarray:
    array = np.asarray(traces)
    if array.ndim != 2 or array.dtype.kind not in "biuf":
        raise ValueError(f"traces must be a 2-D (cells, frames) array of numbers, got shape {array.shape}")
    if array.shape[1] != n_frames:
        raise ValueError(f"traces has {array.shape[1]} frames but timestamps has {n_frames}")
    if not np.isfinite(array).all():
        raise ValueError("traces contains NaN or infinite values")
    return array


def _setup(traces, event_times, timestamps, params: PeriEventParams):
    """Checked traces, timestamps, events, their frames and the frame interval."""
    stamps = _times(timestamps, "timestamps", min_size=2)
    array = _traces(traces, stamps.size)
    frames = nearest_frames(event_times, stamps)
    dt = _frame_interval(stamps)
    duration = stamps[-1] - stamps[0] + dt
    if params.pre_s + params.post_s >= duration:
        raise ValueError(f"pre_s + post_s = {params.pre_s + params.post_s} s must be shorter than the recording "
                         f"({duration} s)")
    return array, stamps, np.asarray(event_times, dtype=np.float64), frames, dt


def _frame_windows(array, frames, dt: float, params: PeriEventParams):
    offsets = np.arange(-int(round(params.pre_s / dt)), int(round(params.post_s / dt)) + 1)
    index = frames[:, None] + offsets[None, :]
    inside = (index >= 0) & (index < array.shape[1])
    windows = array[:, np.clip(index, 0, array.shape[1] - 1)].astype(np.float32).transpose(1, 0, 2)
    windows[np.broadcast_to(~inside[:, None, :], windows.shape)] = np.nan
    return windows, offsets * dt


def _resampled_windows(array, stamps, events, dt: float, params: PeriEventParams, raster: bool):
    step = params.resample_ms / 1000.0
    times = step * np.arange(-int(np.floor(params.pre_s / step + 1e-9)), int(np.floor(params.post_s / step + 1e-9)) + 1)
    absolute = events[:, None] + times[None, :]
    if raster:
        cumulative = np.concatenate((np.zeros((array.shape[0], 1)), np.cumsum(array, axis=1, dtype=np.float64)), 1)
        low = np.searchsorted(stamps, absolute - step / 2.0)
        high = np.searchsorted(stamps, absolute + step / 2.0)
        values = cumulative[:, high] - cumulative[:, low]
        inside = (absolute - step / 2.0 >= stamps[0] - dt / 2.0) & (absolute + step / 2.0 <= stamps[-1] + dt / 2.0)
    else:
        position = np.interp(absolute, stamps, np.arange(stamps.size, dtype=np.float64))
        lower = np.minimum(position.astype(np.int64), stamps.size - 2)
        weight = position - lower
        values = array[:, lower] * (1.0 - weight) + array[:, lower + 1] * weight
        inside = (absolute >= stamps[0]) & (absolute <= stamps[-1])
    windows = values.astype(np.float32).transpose(1, 0, 2)
    windows[np.broadcast_to(~inside[:, None, :], windows.shape)] = np.nan
    return windows, times


def peri_event_windows(traces, event_times, timestamps, *, raster: bool = False,
                       params: PeriEventParams = PeriEventParams()) -> PeriEventWindows:
    """Trial x cell x sample windows of ``traces`` around each event (see the module notes).

    Args:
        traces: (N, T) dF/F, denoised C, deconvolved S, or a transient raster (`event_raster`).
        event_times: (E,) strictly increasing event times, seconds, inside the recording.
        timestamps: (T,) strictly increasing frame times, seconds (``np.arange(T) / fps`` for a steady rate).
        raster: ``traces`` is an event raster: resampled windows count its events per interval instead
            of interpolating.
        params: the peri-event parameters; pre_s, post_s and resample_ms are used here.

    Returns:
        `PeriEventWindows`; samples outside the recording are NaN.
    """
    array, stamps, events, frames, dt = _setup(traces, event_times, timestamps, params)
    if params.resample_ms is None:
        windows, times = _frame_windows(array, frames, dt, params)
    else:
        windows, times = _resampled_windows(array, stamps, events, dt, params, raster)
    return PeriEventWindows(windows=windows, times=times, event_frames=frames)


def transient_raster(cells, starts, ends, *, n_cells: int, n_frames: int) -> np.ndarray:
    """(N, T) uint8 transient raster, CalTrig's E: 1 over the frames start..end (inclusive) of each transient.

    Args:
        cells: (k,) 0-based row of each transient's cell, in [0, N).
        starts, ends: (k,) its first and last frame, 0 <= start <= end < T. ``starts = ends`` marks one frame
            (an onset or a peak raster).
        n_cells: N; n_frames: T.
    """
    cells, starts, ends = (np.asarray(values, dtype=np.int64).ravel() for values in (cells, starts, ends))
    if not cells.shape == starts.shape == ends.shape:
        raise ValueError(f"cells, starts and ends must have one value per transient, got {cells.shape}, "
                         f"{starts.shape} and {ends.shape}")
    bad = (cells < 0) | (cells >= n_cells) | (starts < 0) | (starts > ends) | (ends >= n_frames)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"transient {i} (cell {cells[i]}, frames {starts[i]}..{ends[i]}) lies outside "
                         f"{n_cells} cells x {n_frames} frames or ends before it starts")
    steps = np.zeros((n_cells, n_frames + 1), dtype=np.int64)
    np.add.at(steps, (cells, starts), 1)
    np.add.at(steps, (cells, ends + 1), -1)
    return (np.cumsum(steps[:, :-1], axis=1) > 0).astype(np.uint8)


def peri_event_zscore(windows: PeriEventWindows) -> np.ndarray:
    """(N, S) trial-averaged windows z-scored against their baseline (times < 0), NaN samples ignored.

    z = (mean over trials - mu) / sd, mu and sd (ddof=1) over the baseline samples of the trial
    average; NaN where sd is 0 or undefined.
    """
    if len(windows.windows) == 0:
        raise ValueError("windows holds no trials")
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        average = np.nanmean(windows.windows.astype(np.float64), axis=0)
        baseline = average[:, windows.times < 0]
        mu = np.nanmean(baseline, axis=1, keepdims=True)
        sd = np.nanstd(baseline, axis=1, ddof=1, keepdims=True)
        return np.where(sd > 0, (average - mu) / sd, np.nan)


def _frame_statistics(array, pre: int, start: int, stop: int):
    """Baseline and response means of every frame f whose windows fit, f = pre .. T - stop: (N, F) each."""
    cumulative = np.concatenate((np.zeros((array.shape[0], 1)), np.cumsum(array, axis=1, dtype=np.float64)), 1)
    frames = np.arange(pre, array.shape[1] - stop + 1)
    baseline = ((cumulative[:, frames] - cumulative[:, frames - pre]) / pre).astype(np.float32)
    response = ((cumulative[:, frames + stop] - cumulative[:, frames + start]) / (stop - start)).astype(np.float32)
    return baseline, response


def _p_values(statistic, positions, guard: int, params: PeriEventParams) -> np.ndarray:
    """Circular-shift permutation p-value of the mean of ``statistic`` at ``positions`` (see module notes)."""
    n_cells, n_valid = statistic.shape
    observed = statistic[:, positions].mean(axis=1)
    low, high = (guard, n_valid - guard) if n_valid > 2 * guard else (1, n_valid - 1)
    shifts = np.random.default_rng(params.seed).integers(low, max(low, high) + 1, params.n_shuffles)
    chunk = max(1, _SHUFFLE_ELEMENTS // max(1, n_cells * positions.size))
    null = np.empty((n_cells, params.n_shuffles))
    for first in range(0, params.n_shuffles, chunk):
        index = (positions[None, :] + shifts[first : first + chunk, None]) % n_valid
        null[:, first : first + chunk] = statistic[:, index].mean(axis=2)
    centre = null.mean(axis=1, keepdims=True)
    if params.alternative == "greater":
        extreme = null >= observed[:, None]
    elif params.alternative == "less":
        extreme = null <= observed[:, None]
    else:
        extreme = np.abs(null - centre) >= np.abs(observed[:, None] - centre)
    return (1.0 + extreme.sum(axis=1)) / (1.0 + params.n_shuffles)


def _response_frames(params: PeriEventParams, dt: float) -> tuple[int, int, int]:
    pre = max(1, int(round(params.pre_s / dt)))
    start = int(round(params.response_start_s / dt))
    return pre, start, max(start + 1, int(round(params.response_end_s / dt)))


def response_statistics(traces, event_times, timestamps, *,
                        params: PeriEventParams = PeriEventParams()) -> pd.DataFrame:
    """Each cell's response to the events: mean response, z-score against the baseline, permutation p-value.

    Args:
        traces: (N, T) activity: dF/F, denoised C, deconvolved S or an event raster.
        event_times: (E,) strictly increasing event times, seconds, inside the recording.
        timestamps: (T,) strictly increasing frame times, seconds.
        params: the peri-event parameters (pre_s is the baseline; response_start_s, response_end_s,
            n_shuffles, seed and alternative define the test).

    Returns:
        One row per cell: ``cell``, ``n_trials`` (events whose windows fit), ``baseline`` and
        ``mean_response`` (mean over trials, trace units), ``delta`` (their difference), ``z_score``
        and ``p_value`` (definitions in the module notes).

    Raises:
        ValueError: bad times (see `nearest_frames`), a window longer than the recording, or no event
            whose windows fit inside it.
    """
    array, _, _, frames, dt = _setup(traces, event_times, timestamps, params)
    pre, start, stop = _response_frames(params, dt)
    baseline, response = _frame_statistics(array, pre, start, stop)
    positions = frames[(frames >= pre) & (frames <= array.shape[1] - stop)] - pre
    if positions.size == 0:
        raise ValueError("event_times: no event has its baseline and response windows inside the recording")
    mean_baseline = baseline[:, positions].mean(axis=1)
    mean_response = response[:, positions].mean(axis=1)
    average = array[:, (positions + pre)[:, None] + np.arange(-pre, 0)[None, :]].mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = average.std(axis=1, ddof=1) if pre > 1 else np.full(array.shape[0], np.nan)
        z_score = np.where(sd > 0, (mean_response - average.mean(axis=1)) / sd, np.nan)
    return pd.DataFrame({
        "cell": np.arange(array.shape[0], dtype=np.int64),
        "n_trials": np.full(array.shape[0], positions.size, dtype=np.int64),
        "baseline": mean_baseline,
        "mean_response": mean_response,
        "delta": mean_response - mean_baseline,
        "z_score": z_score,
        "p_value": _p_values(response - baseline, positions, pre + stop, params),
    })
