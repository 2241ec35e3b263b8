"""Ground-truth astrocyte movies: expanding calcium waves and stationary blobs on a bleaching, noisy baseline.

`simulate_astro` draws a seeded set of events and renders frames on demand, chunk by chunk, so a long, large
recording never sits in memory whole (like `element_calcium.simulate.SimulatedMovie`).

Image model of frame ``t`` at pixel ``p`` (before noise and rounding to uint16)::

    frame_t(p) = bleach(t) * F0(p) * (1 + sum_e amplitude_e * profile_e(t, p))

- ``F0``: resting brightness around ``baseline`` grey levels: a coarse (6 px) and a fine (1.5 px) random
  texture, each varying it by up to +-30%.
- ``bleach(t) = 1 - bleaching * (1 - exp(-t / (fps * 200 s)))``.
- ``profile_e`` (peak 1) of a **blob**: ``g(p) * k(t - onset)``, ``g`` a Gaussian of width ``sigma`` around the
  centre. Of a **wave**: ``k(t - onset - r / speed) * edge(r)``, ``r`` the distance from the centre: a front
  leaves the centre at ``onset`` and expands at ``speed`` pixels per frame up to ``radius``, beyond which
  ``edge(r) = exp(-(r - radius)^2 / (2 * 2 px^2))`` (1 inside).
- ``k(tau)``: ``(1 - exp(-tau / tau_rise)) * exp(-tau / tau_decay)`` for ``tau >= 0``, scaled to peak 1.
- Additive Gaussian noise of standard deviation ``noise`` grey levels; frame t's noise comes from
  ``numpy.random.default_rng([seed, t])``.

The **true extent** of an event is the set of voxels where its profile is at least ``EXTENT_FRACTION`` (0.05)
of its peak: ``profile_e(t, p) >= 0.05``, where it raises the fluorescence by at least 5% of its peak rise.
Events are placed so that their supports (profile >= 0.01), padded by a margin, never overlap, so every voxel
belongs to at most one true event.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from element_calcium.simulate._checks import check_int, check_number

__all__ = ["EXTENT_FRACTION", "AstroMovie", "AstroTruth", "simulate_astro"]

EXTENT_FRACTION = 0.05  # a voxel is inside an event's true extent where its profile is >= this fraction of the peak
_SUPPORT = 0.01  # profile values below this are zero
_TEXTURE_SCALES = (6.0, 1.5)  # px, Gaussian scales of the resting texture: territories and fine processes
_BLEACH_TAU = 200.0  # s
_EDGE_SIGMA = 2.0  # px, soft edge of a wave beyond its final radius
_MARGIN = (10, 6)  # (frames, px) kept free between the supports of two events
_PLACEMENT_TRIES = 200
# Ranges events are drawn from (uniform). Times in seconds, sizes in pixels.
_BLOB_SIGMA = (3.0, 6.0)
_WAVE_RADIUS = (10.0, 24.0)
_WAVE_SPEED = (8.0, 15.0)  # px per second
_TAU_RISE = (0.15, 0.35)
_TAU_DECAY = (0.5, 1.0)
_AMPLITUDE = (0.4, 1.0)  # dF/F at the peak of the profile


@dataclass(frozen=True)
class AstroTruth:
    """The events of a simulated astrocyte movie, in order of onset; event ``i`` has label ``i + 1``.

    Attributes:
        kind: (N,) str, "wave" or "blob".
        onset: (N,) float64 frames, start of the rise (at the centre for a wave).
        center: (N, 2) float64 (y, x) pixels.
        sigma: (N,) float64 pixels, Gaussian width of a blob (NaN for waves).
        radius: (N,) float64 pixels, final radius of a wave (NaN for blobs).
        speed: (N,) float64 pixels per frame, expansion speed of a wave (NaN for blobs).
        tau_rise, tau_decay: (N,) float64 frames of the temporal kernel.
        amplitude: (N,) float64 dF/F at the peak of the event.
        support: (N, 6) int64 ``(t0, t1, y0, y1, x0, x1)``, half-open box that holds every voxel with a
            profile >= 0.01 (and so the whole true extent).
        fps: frames per second.
        baseline: mean resting brightness, grey levels.
        noise: noise standard deviation, grey levels.
    """

    kind: np.ndarray
    onset: np.ndarray
    center: np.ndarray
    sigma: np.ndarray
    radius: np.ndarray
    speed: np.ndarray
    tau_rise: np.ndarray
    tau_decay: np.ndarray
    amplitude: np.ndarray
    support: np.ndarray
    fps: float
    baseline: float
    noise: float

    def __len__(self) -> int:
        return len(self.kind)


class AstroMovie:
    """A seeded astrocyte movie rendered on demand; made by `simulate_astro`.

    Attributes:
        truth: the events the frames are drawn from.
        shape: (T, H, W).
        dtype: uint16.
        fps: frames per second.
    """

    dtype = np.dtype(np.uint16)

    def __init__(self, truth: AstroTruth, resting: np.ndarray, bleach: np.ndarray, *, seed: int):
        self.truth = truth
        self._resting = resting
        self._bleach = bleach
        self._seed = seed
        self.shape = (len(bleach), *resting.shape)
        self.fps = truth.fps

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"AstroMovie(shape={self.shape}, n_events={len(self.truth)}, fps={self.fps})"

    def render(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start <= t < stop``, (stop - start, H, W) uint16; the same pixels whatever the range."""
        start, stop = self._span(start, stop)
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        for t in range(start, stop):
            out[t - start] = self._frame(t)
        return out

    def labels(self, start: int, stop: int) -> np.ndarray:
        """True extents of frames ``start <= t < stop``: (n, H, W) int32, event ``i`` as ``i + 1``, 0 outside."""
        start, stop = self._span(start, stop)
        out = np.zeros((stop - start, *self.shape[1:]), dtype=np.int32)
        for t in range(start, stop):
            for event, (ys, xs), profile in self._profiles(t):
                out[t - start, ys, xs][profile >= EXTENT_FRACTION] = event + 1
        return out

    def chunks(self, n_frames: int) -> Iterator[np.ndarray]:
        """Consecutive renders of ``n_frames`` frames (the last one shorter), covering the whole movie."""
        n_frames = check_int("n_frames", n_frames, 1)
        for start in range(0, len(self), n_frames):
            yield self.render(start, min(start + n_frames, len(self)))

    def _span(self, start: int, stop: int) -> tuple[int, int]:
        start = check_int("start", start, 0, len(self))
        return start, check_int("stop", stop, start, len(self))

    def _frame(self, t: int) -> np.ndarray:
        relative = np.ones(self.shape[1:], dtype=np.float32)
        for event, (ys, xs), profile in self._profiles(t):
            relative[ys, xs] += np.float32(self.truth.amplitude[event]) * profile
        frame = relative * self._resting
        frame *= self._bleach[t]
        if self.truth.noise > 0:
            rng = np.random.default_rng([self._seed, t])
            frame += np.float32(self.truth.noise) * rng.standard_normal(frame.shape, dtype=np.float32)
        return np.clip(np.rint(frame), 0, np.iinfo(self.dtype).max).astype(self.dtype)

    def _profiles(self, t: int) -> Iterator[tuple[int, tuple[slice, slice], np.ndarray]]:
        """(event, (rows, cols) of its support box, (h, w) float32 profile) of each event present in frame t."""
        truth = self.truth
        present = np.flatnonzero((truth.support[:, 0] <= t) & (t < truth.support[:, 1]))
        for event in present:
            _, _, y0, y1, x0, x1 = (int(v) for v in truth.support[event])
            yy, xx = np.mgrid[y0:y1, x0:x1]
            r = np.hypot(yy - truth.center[event, 0], xx - truth.center[event, 1])
            tau = t - truth.onset[event]
            if truth.kind[event] == "blob":
                profile = np.exp(-(r**2) / (2 * truth.sigma[event] ** 2)) * _kernel(tau, event, truth)
            else:
                beyond = np.maximum(r - truth.radius[event], 0.0)
                edge = np.exp(-(beyond**2) / (2 * _EDGE_SIGMA**2))
                profile = _kernel(tau - r / truth.speed[event], event, truth) * edge
            profile[profile < _SUPPORT] = 0.0
            yield event, (slice(y0, y1), slice(x0, x1)), profile.astype(np.float32)


def simulate_astro(
    *,
    n_frames: int = 600,
    height: int = 128,
    width: int = 128,
    n_waves: int = 2,
    n_blobs: int = 4,
    fps: float = 10.0,
    baseline: float = 200.0,
    noise: float = 15.0,
    bleaching: float = 0.2,
    seed: int = 0,
) -> AstroMovie:
    """A seeded ground-truth astrocyte movie with expanding waves and stationary blobs, rendered lazily.

    Args:
        n_frames: number of frames T.
        height, width: frame size H, W in pixels (at least 64 each, room for the largest wave).
        n_waves: number of expanding calcium waves (radius 10-24 px, 8-15 px/s).
        n_blobs: number of stationary Gaussian blobs (sigma 3-6 px).
        fps: frames per second; rise (0.15-0.35 s) and decay (0.5-1 s) times are drawn in seconds.
        baseline: mean resting brightness in grey levels (a coarse and a fine texture each vary it by up to
            +-30%).
        noise: standard deviation of the additive Gaussian noise, grey levels (0: noiseless).
        bleaching: fraction of brightness lost after long imaging (time constant 200 s), in [0, 1).
        seed: seed of every random draw.

    Returns:
        The movie; ``n_waves = n_blobs = 0`` gives a noise-only movie.

    Raises:
        ValueError: an argument out of range, or the events do not fit into the movie without overlapping.
    """
    n_frames = check_int("n_frames", n_frames, 1)
    height = check_int("height", height, 64)
    width = check_int("width", width, 64)
    n_waves = check_int("n_waves", n_waves, 0)
    n_blobs = check_int("n_blobs", n_blobs, 0)
    seed = check_int("seed", seed, 0)
    fps = check_number("fps", fps, 0.0, strict=True)
    baseline = check_number("baseline", baseline, 0.0, strict=True)
    noise = check_number("noise", noise, 0.0)
    bleaching = check_number("bleaching", bleaching, 0.0)
    if bleaching >= 1:
        raise ValueError(f"bleaching must be in [0, 1), got {bleaching}")

    rng_events, rng_tissue = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    kinds = rng_events.permutation(np.array(["wave"] * n_waves + ["blob"] * n_blobs, dtype=object))
    events = [_draw_event(rng_events, kind, fps) for kind in kinds]
    _place(rng_events, events, (n_frames, height, width))
    events.sort(key=lambda event: event["onset"])
    truth = _truth(events, fps=fps, baseline=baseline, noise=noise)
    resting = np.full((height, width), baseline, dtype=np.float64)
    for scale in _TEXTURE_SCALES:  # territories, then the fine processes that registration locks onto
        texture = ndimage.gaussian_filter(rng_tissue.standard_normal((height, width)), scale, mode="wrap")
        resting *= 1.0 + 0.3 * texture / max(np.abs(texture).max(), 1e-12)
    resting = resting.astype(np.float32)
    time_s = np.arange(n_frames) / fps
    bleach = (1.0 - bleaching * (1.0 - np.exp(-time_s / _BLEACH_TAU))).astype(np.float32)
    return AstroMovie(truth, resting, bleach, seed=seed)


def _kernel(tau, event: int, truth: AstroTruth):
    """Temporal kernel of ``event`` at ``tau`` frames after its onset (peak 1, 0 before the onset)."""
    rise, decay = truth.tau_rise[event], truth.tau_decay[event]
    tau = np.maximum(tau, 0.0)
    return (1.0 - np.exp(-tau / rise)) * np.exp(-tau / decay) / _kernel_peak(rise, decay)


def _kernel_peak(rise: float, decay: float) -> float:
    peak = rise * math.log1p(decay / rise)
    return (1.0 - math.exp(-peak / rise)) * math.exp(-peak / decay)


def _draw_event(rng, kind: str, fps: float) -> dict:
    """Shape and timing of one event (no position yet); times in frames."""
    event = {
        "kind": kind,
        "tau_rise": rng.uniform(*_TAU_RISE) * fps,
        "tau_decay": rng.uniform(*_TAU_DECAY) * fps,
        "amplitude": rng.uniform(*_AMPLITUDE),
        "sigma": np.nan,
        "radius": np.nan,
        "speed": np.nan,
    }
    if kind == "blob":
        event["sigma"] = rng.uniform(*_BLOB_SIGMA)
        event["reach"] = event["sigma"] * math.sqrt(2 * math.log(1 / _SUPPORT))
        event["travel"] = 0.0
    else:
        event["radius"] = rng.uniform(*_WAVE_RADIUS)
        event["speed"] = rng.uniform(*_WAVE_SPEED) / fps
        event["reach"] = event["radius"] + _EDGE_SIGMA * math.sqrt(2 * math.log(1 / _SUPPORT))
        event["travel"] = event["reach"] / event["speed"]
    # the kernel is below _SUPPORT from here on: exp(-tau / decay) / peak < _SUPPORT
    tail = event["tau_decay"] * math.log(1 / (_SUPPORT * _kernel_peak(event["tau_rise"], event["tau_decay"])))
    event["duration"] = event["travel"] + tail
    return event


def _place(rng, events: list[dict], shape: tuple[int, int, int]) -> None:
    """Draw onset and centre of each event so that the padded supports do not overlap (in place)."""
    boxes = np.empty((len(events), 6))
    for index, event in enumerate(events):
        half = math.ceil(event["reach"]) + 1
        length = math.ceil(event["duration"]) + 2
        low = np.array([1, half, half], dtype=float)
        high = np.array([shape[0] - length, shape[1] - 1 - half, shape[2] - 1 - half], dtype=float)
        if np.any(high <= low):
            raise ValueError(f"a {event['kind']} of {length} frames and {2 * half} px does not fit a {shape} movie")
        for _ in range(_PLACEMENT_TRIES):
            onset, cy, cx = rng.uniform(low, high)
            box = np.array([onset, onset + length, cy - half, cy + half, cx - half, cx + half])
            if not _overlapping(box, boxes[:index]).any():
                break
        else:
            raise ValueError(f"could not place {len(events)} events in a {shape} movie without overlap; "
                             "use fewer events or a longer or larger movie")
        boxes[index] = box
        event.update(onset=float(onset), center=(float(cy), float(cx)), box=box)


def _overlapping(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(k,) bool: which of (k, 6) boxes (t0, t1, y0, y1, x0, x1) overlap ``box`` once padded by `_MARGIN`."""
    pads = np.array([_MARGIN[0], _MARGIN[1], _MARGIN[1]], dtype=float)
    return np.all((box[0::2] < boxes[:, 1::2] + pads) & (boxes[:, 0::2] < box[1::2] + pads), axis=1)


def _truth(events: list[dict], **constants) -> AstroTruth:
    def column(name, dtype=np.float64):
        return np.array([event[name] for event in events], dtype=dtype)

    support = np.array([np.floor(e["box"]) + (0, 1, 0, 1, 0, 1) for e in events], dtype=np.int64).reshape(-1, 6)
    truth = AstroTruth(
        kind=column("kind", object).astype(str),
        onset=column("onset"),
        center=np.array([event["center"] for event in events], dtype=np.float64).reshape(-1, 2),
        sigma=column("sigma"),
        radius=column("radius"),
        speed=column("speed"),
        tau_rise=column("tau_rise"),
        tau_decay=column("tau_decay"),
        amplitude=column("amplitude"),
        support=support,
        **constants,
    )
    for value in (truth.kind, truth.onset, truth.center, truth.sigma, truth.radius, truth.speed,
                  truth.tau_rise, truth.tau_decay, truth.amplitude, truth.support):
        value.flags.writeable = False
    return truth
