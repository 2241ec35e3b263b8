"""Passes of `detect_spatial_events` other than the filters: reading, noise, joining chunks, measuring events.

- `Reader`: checked reads of the recording that reuse the previous block where ranges overlap, so the halos
  of consecutive chunks are read once.
- `pixel_noise`: the noise pass (module docstring of `_spatial`, step 3).
- `Joiner`: provisional labels of consecutive chunks -> events. Per provisional id it keeps the voxel count,
  the first voxel (raster index over the recording), the last frame and the footprint pixels; ids touching
  across a chunk boundary are joined (connected components of the boundary pairs).
- `measure`: the second pass over the frames of the events: traces over the footprints and over the rings
  around them, and the table of event properties. An event whose footprint fills the frame (a one-photon
  flash, the neuropil of a whole field) has no ring: its noise comes from its own footprint in the frames
  just outside the event, as many before and after as it lasts (the ring in time a 3-D dilation would give);
  an event that also lasts the whole recording has neither, and its noise comes from its own trace (median
  level, robust standard deviation of its frame-to-frame steps). See `_event_noise`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from element_calcium.compute import _backend
from element_calcium.compute.frames import ReadFrames, checked_frames

_NOISE_RUN = 100  # frames per run of the noise pass
_MAD_TO_STD = 1.0 / (0.6745 * math.sqrt(2.0))  # a difference of two frames has twice the noise variance
COLUMNS = (
    "event_id", "z0", "z1", "y0", "y1", "x0", "x1", "volume", "area", "duration_s", "centroid_y", "centroid_x",
    "max_height", "max_gradient", "noise_mean", "noise_std", "snr",
)


class Reader:
    """Checked reads of ``read_frames`` (`element_calcium.compute.frames.checked_frames`), reusing the previous
    block's overlap.

    Attributes:
        n_frames: frames T of the recording.
        frame_shape: (H, W), known after the first read.
    """

    def __init__(self, read_frames: ReadFrames, n_frames: int):
        self._read_frames = read_frames
        self.n_frames = n_frames
        self.frame_shape: tuple[int, int] | None = None
        self._start = 0
        self._frames: np.ndarray | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start <= t < stop`` as (stop - start, H, W) NumPy (not to be modified)."""
        cached = self._frames
        end = self._start + (0 if cached is None else len(cached))
        if cached is not None and self._start <= start and stop <= end:
            return cached[start - self._start : stop - self._start]
        if cached is not None and self._start <= start < end:
            frames = np.concatenate([cached[start - self._start :], self._checked(end, stop)])
        else:
            frames = self._checked(start, stop)
        self._start, self._frames = start, frames
        return frames

    def _checked(self, start: int, stop: int) -> np.ndarray:
        frames = _backend.to_numpy(checked_frames(self._read_frames, start, stop, self.frame_shape))
        self.frame_shape = tuple(frames.shape[1:])
        return frames


def noise_runs(n_frames: int, noise_frames: int) -> list[tuple[int, int]]:
    """(start, stop) of the runs of the noise pass: about ``noise_frames`` frames in runs of `_NOISE_RUN`.

    The whole recording (in consecutive runs) when it is no longer than ``noise_frames``; else runs of
    equal length spread evenly from its first to its last frame.
    """
    total = min(noise_frames, n_frames)
    n_runs = max(1, total // _NOISE_RUN)
    if total == n_frames:
        bounds = np.round(np.linspace(0, n_frames, n_runs + 1)).astype(int)
        return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    length = total // n_runs
    starts = np.round(np.linspace(0, n_frames - length, n_runs)).astype(int)
    return [(int(a), int(a) + length) for a in starts]


def pixel_noise(reader: Reader, filters):
    """(H, W) float32 device array: noise standard deviation of the delta of each pixel.

    Median over the runs of `noise_runs` of each run's median absolute frame-to-frame difference, times
    1 / (0.6745 sqrt 2). ``filters`` is the `_spatial.Filters` that computes the delta.
    """
    xp = filters.xp
    halo = filters.params.window - 1
    per_run = []
    for start, stop in noise_runs(reader.n_frames, filters.params.noise_frames):
        first = max(0, start - halo)
        delta = filters.delta(reader.read(first, min(reader.n_frames, stop + halo)), first)
        per_run.append(_median_step(delta[start - first : stop - first], xp))
    return (xp.median(xp.stack(per_run), axis=0) * xp.float32(_MAD_TO_STD)).astype(xp.float32)


def _median_step(frames, xp):
    """(H, W) median over time of ``|frames[t + 1] - frames[t]|`` of (n, H, W) frames (n >= 2).

    An odd number of differences (the last one dropped when even) makes the median one order statistic,
    taken by a partition along contiguous rows.
    """
    steps = xp.abs(xp.diff(frames[: len(frames) - (len(frames) + 1) % 2], axis=0))
    rows = xp.ascontiguousarray(steps.reshape(len(steps), -1).T)
    middle = len(steps) // 2
    return xp.partition(rows, middle, axis=1)[:, middle].reshape(frames.shape[1:])


@dataclass(frozen=True)
class FoundEvents:
    """Joined events before measuring: N events in id order.

    Attributes:
        lookup: (P + 1,) int32 provisional id -> event id (0: removed).
        z0, z1: (N,) int64 first and one-past-last frame.
        volume: (N,) int64 voxels.
        pixels: N (n_i,) int64 sorted flat pixel indices (y * W + x) of the footprints.
    """

    lookup: np.ndarray
    z0: np.ndarray
    z1: np.ndarray
    volume: np.ndarray
    pixels: tuple[np.ndarray, ...]


class Joiner:
    """Provisional labels of consecutive chunks -> events (union-find over the chunk boundaries).

    Args:
        frame_shape: (H, W).
        connectivity: 3-D connectivity of the labelling (1, 2 or 3).
    """

    def __init__(self, frame_shape: tuple[int, int], connectivity: int):
        self.frame_shape = frame_shape
        self.n_pixels = frame_shape[0] * frame_shape[1]
        self.offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dy) + abs(dx) <= connectivity - 1]
        self.count = 0
        self._stats: dict[str, list[np.ndarray]] = {"volume": [], "first": [], "last": [], "pairs": [], "edges": []}
        self._previous: np.ndarray | None = None

    def add(self, start: int, labels: np.ndarray) -> np.ndarray:
        """Make the labels 1..K of a chunk starting at frame ``start`` provisional ids (in place) and record them.

        Returns the chunk's (n, H, W) int32 provisional labels.
        """
        n_new = int(labels.max(initial=0))
        if self.count + n_new >= np.iinfo(np.int32).max:
            raise ValueError("too many provisional components for int32 labels; raise the thresholds")
        flat = labels.reshape(-1)
        voxels = np.flatnonzero(flat)
        local = flat[voxels] - 1
        flat[voxels] += self.count
        if n_new:
            _, first = np.unique(local, return_index=True)
            _, last = np.unique(local[::-1], return_index=True)
            self._stats["volume"].append(np.bincount(local, minlength=n_new))
            self._stats["first"].append(start * self.n_pixels + voxels[first].astype(np.int64))
            self._stats["last"].append(start + voxels[len(voxels) - 1 - last] // self.n_pixels)
            ids = local.astype(np.int64) + self.count + 1
            self._stats["pairs"].append(np.unique(ids * self.n_pixels + voxels % self.n_pixels))
        if self._previous is not None:
            self._stats["edges"].append(self._boundary_edges(self._previous, labels[0]))
        self._previous = labels[-1].copy()
        self.count += n_new
        return labels

    def finish(self, min_size: int) -> FoundEvents:
        """The joined events of at least ``min_size`` voxels, ids 1..N by raster order of their first voxel."""
        n = self.count
        if n == 0:
            return FoundEvents(np.zeros(1, np.int32), *(np.zeros(0, np.int64) for _ in range(3)), ())
        stats = {name: np.concatenate(values) if values else None for name, values in self._stats.items()}
        edges = stats["edges"] if stats["edges"] is not None else np.zeros((0, 2), np.int64)
        graph = sparse.coo_array((np.ones(len(edges)), (edges[:, 0] - 1, edges[:, 1] - 1)), shape=(n, n))
        n_joined, joined = csgraph.connected_components(graph, directed=False)
        volume = np.bincount(joined, weights=stats["volume"], minlength=n_joined).astype(np.int64)
        first = np.full(n_joined, np.iinfo(np.int64).max)
        np.minimum.at(first, joined, stats["first"])
        last = np.zeros(n_joined, np.int64)
        np.maximum.at(last, joined, stats["last"])
        kept = np.flatnonzero(volume >= min_size)
        order = kept[np.argsort(first[kept])]
        event_of = np.zeros(n_joined, np.int32)
        event_of[order] = np.arange(1, len(order) + 1, dtype=np.int32)
        lookup = np.concatenate([[0], event_of[joined]]).astype(np.int32)
        return FoundEvents(
            lookup=lookup,
            z0=first[order] // self.n_pixels,
            z1=last[order] + 1,
            volume=volume[order],
            pixels=self._footprints(stats["pairs"], lookup, len(order)),
        )

    def _boundary_edges(self, previous: np.ndarray, current: np.ndarray) -> np.ndarray:
        """(k, 2) int64 pairs of provisional ids connected across consecutive frames."""
        height, width = self.frame_shape
        edges = []
        for dy, dx in self.offsets:
            a = previous[max(0, -dy) : height - max(0, dy), max(0, -dx) : width - max(0, dx)]
            b = current[max(0, dy) : height - max(0, -dy), max(0, dx) : width - max(0, -dx)]
            both = (a > 0) & (b > 0)
            edges.append(np.stack([a[both], b[both]], axis=1))
        return np.unique(np.concatenate(edges).astype(np.int64), axis=0)

    def _footprints(self, pairs: np.ndarray, lookup: np.ndarray, n_events: int) -> tuple[np.ndarray, ...]:
        event = lookup[pairs // self.n_pixels].astype(np.int64)
        keys = np.unique(event[event > 0] * self.n_pixels + pairs[event > 0] % self.n_pixels)
        bounds = np.searchsorted(keys // self.n_pixels, np.arange(1, n_events + 2))
        return tuple(keys[a:b] % self.n_pixels for a, b in zip(bounds[:-1], bounds[1:]))


def measure(
    reader: Reader,
    filters,
    found: FoundEvents,
    *,
    fps: float,
    chunk_frames: int,
    progress: Callable | None,
) -> tuple[pd.DataFrame, tuple, tuple]:
    """Second pass: traces of the events and their property table.

    Reads only the chunks of frames that hold events (with the delta's halo), and for an event without a ring
    the frames around it (`_footprint_spans`).

    Returns:
        The property table (columns `COLUMNS`), the (ypix, xpix) footprints and the float32 traces.
    """
    n_frames = reader.n_frames
    width = reader.frame_shape[1]
    rings = tuple(_ring(pixels, reader.frame_shape, filters.params.ring_width) for pixels in found.pixels)
    first, last = _footprint_spans(found, rings, n_frames)
    spans = [np.zeros(b - a, np.float32) for a, b in zip(first, last)]
    ring_traces = [np.full(z1 - z0, np.nan, np.float32) for z0, z1 in zip(found.z0, found.z1)]
    halo = filters.params.window - 1
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        present = np.flatnonzero((first < stop) & (last > start))
        if len(present):
            read_from = max(0, start - halo)
            delta = filters.delta(reader.read(read_from, min(n_frames, stop + halo)), read_from)
            delta = delta[start - read_from : stop - read_from]
            for regions, out, lows, highs in ((found.pixels, spans, first, last),
                                              (rings, ring_traces, found.z0, found.z1)):
                means = _region_means(delta, [regions[i] for i in present], filters.xp)
                _fill(out, present, lows, highs, means, start, stop)
        if progress is not None:
            progress(n_frames + stop, 2 * n_frames)
    footprints = tuple((pixels // width, pixels % width) for pixels in found.pixels)
    cuts = [(z0 - a, z1 - a) for z0, z1, a in zip(found.z0, found.z1, first)]
    traces = tuple(span[a:b] for span, (a, b) in zip(spans, cuts))
    outside = tuple(np.concatenate([span[:a], span[b:]]) for span, (a, b) in zip(spans, cuts))
    noise = [_event_noise(ring, ring_trace, around, trace)
             for ring, ring_trace, around, trace in zip(rings, ring_traces, outside, traces)]
    return _table(found, footprints, traces, noise, fps), footprints, traces


def _fill(out: list, events: np.ndarray, lows, highs, means: np.ndarray, start: int, stop: int) -> None:
    """Copy ``means`` (stop - start, len(events)), of frames start..stop, into each event's trace ``out[event]``,
    which covers frames lows[event]..highs[event] - 1."""
    for column, event in enumerate(events):
        low, high = max(start, lows[event]), min(stop, highs[event])
        if high > low:
            out[event][low - lows[event] : high - lows[event]] = means[low - start : high - start, column]


def _footprint_spans(found: FoundEvents, rings: tuple, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(N,) first and one-past-last frame over which each event's footprint is measured.

    z0..z1 for an event with a ring; for one without, also as many frames before z0 and after z1 as the event
    lasts (within the recording), whose footprint mean is its noise (`_event_noise`).
    """
    ringless = np.array([len(ring) == 0 for ring in rings], dtype=bool)
    duration = found.z1 - found.z0
    first = np.where(ringless, np.maximum(found.z0 - duration, 0), found.z0)
    last = np.where(ringless, np.minimum(found.z1 + duration, n_frames), found.z1)
    return first.astype(np.int64), last.astype(np.int64)


def _event_noise(ring: np.ndarray, ring_trace: np.ndarray, outside: np.ndarray, trace: np.ndarray):
    """(noise_mean, noise_std) of one event, finite, in delta units.

    - With a ring (pixels within ``ring_width`` of the footprint): mean and standard deviation over z0..z1 of
      the ring's mean delta.
    - Without one (the footprint fills the frame): the same of the footprint's mean delta over the frames
      just outside the event, ``outside`` (as many before z0 and after z1 as the event lasts).
    - Without either (the event also lasts the whole recording): the median of its own trace, and the
      standard deviation of white noise estimated from the trace's frame-to-frame steps
      (median |step| / (0.6745 sqrt 2), as the noise pass); 0 for a one-frame trace.
    """
    samples = ring_trace if len(ring) else outside
    if len(samples):
        return float(np.mean(samples)), float(np.std(samples))
    steps = np.abs(np.diff(trace))
    return float(np.median(trace)), float(np.median(steps) * _MAD_TO_STD) if len(steps) else 0.0


def _region_means(delta, regions: list[np.ndarray], xp) -> np.ndarray:
    """(n, len(regions)) float32 NumPy mean of (n, H, W) ``delta`` over each region (NaN when empty)."""
    sizes = np.array([len(region) for region in regions])
    means = np.full((len(delta), len(regions)), np.nan, dtype=np.float32)
    filled = np.flatnonzero(sizes)
    if len(filled):
        pixels = xp.asarray(np.concatenate([regions[i] for i in filled]))
        values = _backend.to_numpy(delta.reshape(len(delta), -1)[:, pixels])
        starts = np.concatenate([[0], np.cumsum(sizes[filled])[:-1]])
        means[:, filled] = np.add.reduceat(values, starts, axis=1) / sizes[filled]
    return means


def _ring(pixels: np.ndarray, frame_shape: tuple[int, int], ring_width: int) -> np.ndarray:
    """Sorted flat indices of the pixels within ``ring_width`` of a footprint (Euclidean), not in it."""
    height, width = frame_shape
    ys, xs = pixels // width, pixels % width
    y0, x0 = max(0, ys.min() - ring_width), max(0, xs.min() - ring_width)
    y1, x1 = min(height, ys.max() + ring_width + 1), min(width, xs.max() + ring_width + 1)
    inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    inside[ys - y0, xs - x0] = True
    offsets = np.arange(-ring_width, ring_width + 1)
    disk = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= ring_width**2
    ry, rx = np.nonzero(ndimage.binary_dilation(inside, structure=disk) & ~inside)
    return np.sort((ry + y0) * width + rx + x0)


def _table(found: FoundEvents, footprints, traces, noise, fps: float) -> pd.DataFrame:
    rows = []
    for index, ((ys, xs), trace, (noise_mean, noise_std)) in enumerate(zip(footprints, traces, noise)):
        z0, z1 = int(found.z0[index]), int(found.z1[index])
        peak = float(trace.max())
        rows.append((
            index + 1, z0, z1, int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1,
            int(found.volume[index]), len(ys), (z1 - z0) / fps, float(ys.mean()), float(xs.mean()),
            peak - float(trace.min()), float(np.diff(trace).max()) if len(trace) > 1 else math.nan,
            noise_mean, noise_std, (peak - noise_mean) / noise_std if noise_std > 0 else math.nan,
        ))
    return pd.DataFrame.from_records(rows, columns=list(COLUMNS)) if rows else _empty_table()


def _empty_table() -> pd.DataFrame:
    integers = set(COLUMNS[:9])
    return pd.DataFrame({name: pd.Series(dtype=np.int64 if name in integers else np.float64) for name in COLUMNS})
