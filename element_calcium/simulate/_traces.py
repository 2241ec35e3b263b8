"""Seeded dF/F traces with known spikes, for testing transient detection and behaviour alignment.

Each cell fires background spikes (Bernoulli per frame, at most one a frame, mean rate ``rate_hz``);
cells listed in ``locked_cells`` also fire once per behaviour event, ``lag_s`` after it plus a Gaussian
jitter. Every spike adds an AR(2) transient (rise and decay time constants drawn per cell, as
`element_calcium.simulate` does) whose peak is the spike's amplitude, drawn uniformly from
``amplitude``. Gaussian white noise of standard deviation ``amplitude[0] / snr`` is added, so every
single-spike transient has a peak-to-noise ratio of at least ``snr``.

With ``burst_fraction``, that fraction of the cells fires in bursts separated by long silences instead
(`burst_frames`, same mean rate), and their calcium is exactly 0 wherever it is below `SILENT_LEVEL`: flat
zero stretches many seconds long, as minian's ``C`` and sparse OASIS calcium have (`silence_below`).

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

from element_calcium.simulate._checks import check_int, check_number

__all__ = ["SimulatedTraces", "burst_frames", "burst_spike_counts", "bursting_cells", "score_transients",
           "silence_below", "simulate_traces", "true_transients"]

BURST_S = (1.0, 4.0)  # s, length of one burst of a bursting cell
SILENCE_S = (10.0, 30.0)  # s, silence between two bursts
SILENT_LEVEL = 1e-3  # calcium of a bursting cell below this (one spike's peak is about 1) is exactly 0


@dataclass(frozen=True)
class SimulatedTraces:
    """Traces and their ground truth.

    Attributes:
        dff: (N, T) float32 noisy dF/F.
        calcium: (N, T) float32 noise-free dF/F (exactly 0 in the silences of bursting cells).
        spikes: (N, T) float32 spike amplitude at each spike's frame, 0 elsewhere.
        noise: (N,) float32 standard deviation of the added noise (dF/F).
        bursting: (N,) bool, the cells that fire in bursts.
        timestamps: (T,) float64 frame times, seconds (``t / fps``).
        fps: frames per second.
    """

    dff: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    noise: np.ndarray
    timestamps: np.ndarray
    fps: float
    bursting: np.ndarray

    def spike_frames(self, cell: int) -> np.ndarray:
        """0-based frames of the spikes of ``cell``, increasing."""
        return np.flatnonzero(self.spikes[cell])


def bursting_cells(rng, n_cells: int, fraction: float) -> np.ndarray:
    """(N,) bool: round(fraction * N) cells drawn at random; draws nothing when there are none."""
    bursting = np.zeros(n_cells, dtype=bool)
    count = round(fraction * n_cells)
    if count:
        bursting[rng.choice(n_cells, count, replace=False)] = True
    return bursting


def burst_frames(rng, n_frames: int, fps: float) -> np.ndarray:
    """(T,) bool frames inside the bursts of one cell: bursts of `BURST_S` seconds separated by silences of
    `SILENCE_S` seconds (both uniform), the first burst starting uniformly in the first `SILENCE_S[1]` s."""
    inside = np.zeros(n_frames, dtype=bool)
    start = rng.uniform(0.0, SILENCE_S[1])
    while start * fps < n_frames:
        length = rng.uniform(*BURST_S)
        inside[round(start * fps) : round((start + length) * fps)] = True
        start += length + rng.uniform(*SILENCE_S)
    return inside


def burst_spike_counts(rng, rate_hz: float, n_frames: int, fps: float) -> np.ndarray:
    """(T,) float32 Poisson spike counts of a bursting cell: none outside `burst_frames`, inside at the rate that
    keeps ``rate_hz`` over the recording (rate_hz / fraction of frames in bursts)."""
    inside = burst_frames(rng, n_frames, fps)
    if not inside.any():
        return np.zeros(n_frames, dtype=np.float32)
    counts = rng.poisson(rate_hz / (fps * inside.mean()), n_frames) * inside
    return counts.astype(np.float32)


def silence_below(calcium: np.ndarray, level: float = SILENT_LEVEL) -> np.ndarray:
    """``calcium`` with every value below ``level`` set to exactly 0 (same shape and dtype)."""
    return np.where(calcium >= level, calcium, 0).astype(calcium.dtype)


def kernel_filter(rng, fps: float, tau_rise_s, tau_decay_s):
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
    burst_fraction: float = 0.0,
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
        burst_fraction: fraction of the cells, in [0, 1], whose background spikes come in bursts of 1-4 s
            separated by 10-30 s of silence (the same mean rate); their calcium is exactly 0 where below
            `SILENT_LEVEL`. 0 gives the same traces as before this option existed.
        seed: seed of every random draw (the bursts come from a stream of their own).

    Returns:
        `SimulatedTraces`.
    """
    n_cells = check_int("n_cells", n_cells, 0)
    n_frames = check_int("n_frames", n_frames, 1)
    fps = check_number("fps", fps, 0.0, strict=True)
    rate_hz = check_number("rate_hz", rate_hz, 0.0, fps)
    snr = check_number("snr", snr, 0.0, strict=True)
    low = check_number("amplitude[0]", amplitude[0], 0.0, strict=True)
    high = check_number("amplitude[1]", amplitude[1], low)
    jitter_s = check_number("jitter_s", jitter_s, 0.0)
    burst_fraction = check_number("burst_fraction", burst_fraction, 0.0, 1.0)
    seed = check_int("seed", seed, 0)
    rng, rng_bursts = np.random.default_rng(seed), np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    spikes = (rng.random((n_cells, n_frames)) < rate_hz / fps).astype(np.float32)
    bursting = bursting_cells(rng_bursts, n_cells, burst_fraction)
    for cell in np.flatnonzero(bursting):
        spikes[cell] = np.minimum(burst_spike_counts(rng_bursts, rate_hz, n_frames, fps), 1.0)  # one a frame
    for cell in locked_cells:
        cell = check_int("locked_cells[i]", cell, 0, n_cells - 1)
        spikes[cell, _locked_spikes(rng, event_times, n_frames, fps, lag_s, jitter_s)] = 1.0
    spikes *= rng.uniform(low, high, spikes.shape).astype(np.float32)
    calcium = np.empty_like(spikes)
    for cell in range(n_cells):
        denominator, gain = kernel_filter(rng, fps, tau_rise_s, tau_decay_s)
        calcium[cell] = signal.lfilter([gain], denominator, spikes[cell])
    calcium[bursting] = silence_below(calcium[bursting])
    noise = np.full(n_cells, low / snr, dtype=np.float32)
    dff = calcium + noise[:, None] * rng.standard_normal(calcium.shape, dtype=np.float32)
    timestamps = np.arange(n_frames) / fps
    return SimulatedTraces(dff=dff, calcium=calcium, spikes=spikes, noise=noise, timestamps=timestamps, fps=fps,
                           bursting=bursting)


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
