"""Seeded dF/F traces with known spikes, for testing transient detection and behaviour alignment.

Each cell fires background spikes (Bernoulli per frame, at most one a frame, mean rate ``rate_hz``);
cells listed in ``locked_cells`` also fire once per behaviour event, ``lag_s`` after it plus a Gaussian
jitter. Every spike adds an AR(2) transient (rise and decay time constants drawn per cell, as
`element_calcium.simulate` does) whose peak is the spike's amplitude, drawn uniformly from
``amplitude``. Gaussian white noise of standard deviation ``amplitude[0] / snr`` is added, so every
single-spike transient has a peak-to-noise ratio of at least ``snr``.

`score_transients` matches detected transients to the truth: spikes closer than ``resolve_s`` to the
previous one form one true transient (first..last spike), and a detection matches a true transient
when its onset lies within ``tolerance_s`` of that span; a true transient matches at most one
detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from element_calcium._simulate_formats import _check_int, _check_number

__all__ = ["SimulatedTraces", "score_transients", "simulate_traces", "true_transients"]


@dataclass(frozen=True)
class SimulatedTraces:
    """Traces and their ground truth.

    Attributes:
        dff: (N, T) float32 noisy dF/F.
        calcium: (N, T) float32 noise-free dF/F.
        spikes: (N, T) float32 spike amplitude at each spike's frame, 0 elsewhere.
        noise: (N,) float32 standard deviation of the added noise (dF/F).
        timestamps: (T,) float64 frame times, seconds (``t / fps``).
        fps: frames per second.
    """

    dff: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    noise: np.ndarray
    timestamps: np.ndarray
    fps: float

    def spike_frames(self, cell: int) -> np.ndarray:
        """0-based frames of the spikes of ``cell``, increasing."""
        return np.flatnonzero(self.spikes[cell])


def _kernel_filter(rng, fps: float, tau_rise_s, tau_decay_s):
    """AR(2) denominator and the gain that makes the impulse response peak at 1."""
    tau_rise, tau_decay = rng.uniform(*tau_rise_s), rng.uniform(*tau_decay_s)
    decay, rise = math.exp(-1.0 / (tau_decay * fps)), math.exp(-1.0 / (tau_rise * fps))
    denominator = [1.0, -(decay + rise), decay * rise]
    impulse = np.zeros(math.ceil(10 * tau_rise * fps) + 4)
    impulse[0] = 1.0
    return denominator, 1.0 / signal.lfilter([1.0], denominator, impulse).max()


def _locked_spikes(rng, event_times, n_frames: int, fps: float, lag_s: float, jitter_s: float) -> np.ndarray:
    """Frames of one spike per event at event + lag + jitter (those inside the recording)."""
    times = np.asarray(event_times, dtype=np.float64) + lag_s + rng.normal(0.0, jitter_s, len(event_times))
    frames = np.rint(times * fps).astype(np.int64)
    return frames[(frames >= 0) & (frames < n_frames)]


def simulate_traces(
    *,
    n_cells: int = 10,
    n_frames: int = 6000,
    fps: float = 20.0,
    rate_hz: float = 0.2,
    snr: float = 5.0,
    amplitude: tuple[float, float] = (1.0, 1.5),
    tau_rise_s: tuple[float, float] = (0.04, 0.08),
    tau_decay_s: tuple[float, float] = (0.3, 0.7),
    event_times=(),
    locked_cells=(),
    lag_s: float = 0.5,
    jitter_s: float = 0.0,
    seed: int = 0,
) -> SimulatedTraces:
    """Seeded dF/F traces of ``n_cells`` cells with known spikes.

    Args:
        n_cells: N >= 0.
        n_frames: T >= 1.
        fps: frames per second, > 0.
        rate_hz: background spike rate of every cell, spikes per second, >= 0 (below fps).
        snr: smallest transient peak over the noise standard deviation, > 0.
        amplitude: (low, high) peak dF/F of one spike's transient, 0 < low <= high.
        tau_rise_s, tau_decay_s: (low, high) ranges of the rise and decay time constants, seconds.
        event_times: behaviour event times, seconds (frame t is at t / fps).
        locked_cells: indices of the cells that also fire ``lag_s`` after every event.
        lag_s: delay of the locked spikes after each event, seconds.
        jitter_s: standard deviation of the locked spikes' timing, seconds, >= 0.
        seed: seed of every random draw.

    Returns:
        `SimulatedTraces`.
    """
    n_cells = _check_int("n_cells", n_cells, 0)
    n_frames = _check_int("n_frames", n_frames, 1)
    fps = _check_number("fps", fps, 0.0, strict=True)
    rate_hz = _check_number("rate_hz", rate_hz, 0.0, fps)
    snr = _check_number("snr", snr, 0.0, strict=True)
    low = _check_number("amplitude[0]", amplitude[0], 0.0, strict=True)
    high = _check_number("amplitude[1]", amplitude[1], low)
    jitter_s = _check_number("jitter_s", jitter_s, 0.0)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    spikes = (rng.random((n_cells, n_frames)) < rate_hz / fps).astype(np.float32)
    for cell in locked_cells:
        cell = _check_int("locked_cells[i]", cell, 0, n_cells - 1)
        spikes[cell, _locked_spikes(rng, event_times, n_frames, fps, lag_s, jitter_s)] = 1.0
    spikes *= rng.uniform(low, high, spikes.shape).astype(np.float32)
    calcium = np.empty_like(spikes)
    for cell in range(n_cells):
        denominator, gain = _kernel_filter(rng, fps, tau_rise_s, tau_decay_s)
        calcium[cell] = signal.lfilter([gain], denominator, spikes[cell])
    noise = np.full(n_cells, low / snr, dtype=np.float32)
    dff = calcium + noise[:, None] * rng.standard_normal(calcium.shape, dtype=np.float32)
    timestamps = np.arange(n_frames) / fps
    return SimulatedTraces(dff=dff, calcium=calcium, spikes=spikes, noise=noise, timestamps=timestamps, fps=fps)


def true_transients(spike_frames: np.ndarray, *, fps: float, resolve_s: float) -> tuple[np.ndarray, np.ndarray]:
    """First and last frame of each group of increasing spike frames closer than ``resolve_s`` seconds."""
    frames = np.asarray(spike_frames, dtype=np.int64)
    if frames.size == 0:
        return frames, frames
    gap = np.diff(frames) > resolve_s * fps
    firsts = frames[np.concatenate(([0], np.flatnonzero(gap) + 1))]
    lasts = frames[np.concatenate((np.flatnonzero(gap), [frames.size - 1]))]
    return firsts, lasts


def score_transients(truth: SimulatedTraces, transients, *, resolve_s: float, tolerance_s: float) -> dict:
    """Counts of true, detected and matched transients over all cells, with recall and precision.

    Args:
        truth: the simulated traces.
        transients: table with columns ``cell`` and ``onset`` (e.g. from `detect_transients`).
        resolve_s: spikes closer than this (seconds) form one true transient.
        tolerance_s: largest distance (seconds) of a matching onset from its true transient's spikes.
    """
    tolerance = tolerance_s * truth.fps
    counts = {"true": 0, "detected": 0, "matched": 0}
    for cell in range(truth.dff.shape[0]):
        firsts, lasts = true_transients(truth.spike_frames(cell), fps=truth.fps, resolve_s=resolve_s)
        onsets = np.sort(transients.loc[transients["cell"] == cell, "onset"].to_numpy())
        low = np.searchsorted(onsets, firsts - tolerance)
        high = np.searchsorted(onsets, lasts + tolerance, side="right")
        counts["true"] += firsts.size
        counts["detected"] += onsets.size
        counts["matched"] += int((high > low).sum())
    counts["recall"] = counts["matched"] / max(counts["true"], 1)
    counts["precision"] = counts["matched"] / max(counts["detected"], 1)
    return counts
