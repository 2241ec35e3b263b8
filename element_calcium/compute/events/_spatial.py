"""Spatiotemporal (astrocyte) event detection, astroCAST ``Delta`` + ``Detector`` style, streamed over chunks.

The detection of a movie F (T, H, W) is defined on the whole movie; `detect_spatial_events` computes exactly
that result chunk by chunk (see "Streaming"). Every filter along time cuts its window at the ends of the
recording (SciPy's ``mode="nearest"``, which for minima and maxima is the same).

1. Delta: ``side_min(x, n)(t) = max(min x[t - n .. t], min x[t .. t + n])``. The background is
   ``B = side_min(F, window - 1)``; ``D = F - B`` (dF) or ``(F - B) / B`` (dF/F).
2. Smoothing: ``S = G * D``, a 3-D Gaussian (``smooth_sigma`` pixels and frames, cut at ``smooth_radius``,
   ends repeated); without smoothing ``S = D``.
3. Noise: ``noise(p)`` is the median, over runs of frames spread over the recording, of each run's
   ``median_t |D(t + 1, p) - D(t, p)|``, divided by 0.6745 sqrt(2): the standard deviation of white noise in
   D. In S it is ``sigma_s(t, p) = noise(p) * ||G||_2`` where ``||G||_2`` is the L2 norm of the kernel at
   (t, p), the taps beyond the ends folded onto them (larger at the edges of the frame and recording).
   Pixels with zero noise are never active.
4. Prominence in noise units: ``z = (S - side_min(S, h)) / sigma_s`` with ``h = temporal_wlen // 2``.
5. Temporal criterion: a voxel is a *core* where ``z >= temporal_prominence``. ``peak(t)`` is the largest
   core z of its pixel within ``h`` frames of t. A voxel is *low* where it is a core or
   ``z >= (1 - temporal_rel_height) * peak > 0``; it is temporally active where it is low and linked
   through low voxels of its pixel to a core at most ``h`` frames away (bounded hysteresis). Runs of
   temporally active frames shorter than ``temporal_width`` are removed (opening along time).
6. Spatial criterion: a voxel is *bright* where ``z >= spatial_threshold``; it is spatially active where
   bright pixels make up at least ``spatial_min_ratio`` of the in-frame pixels of the (2 r + 1)^2 square
   around it in its frame (``r = spatial_radius``).
7. Active voxels: temporal & spatial (``comb_type="&"``) or temporal | spatial (``"|"``), or the one
   criterion in use; with ``threshold`` set, simply ``S >= threshold``. Then in each frame the holes (regions
   of inactive pixels, 4-connected, not touching the frame edge) of at most ``area_threshold`` pixels are
   filled, and the ``exclude_border`` band is cleared.
8. Events: 3-D connected components of the active voxels (``connectivity``); with ``remove_objects``,
   those of fewer than ``min_size`` voxels are dropped. Event ids 1..N follow the raster order (t, y, x) of
   each event's first voxel, hence the order of z0.

Streaming: steps 1, 2, 4 and 5 are stages that each need a fixed number of frames (their reach) on both
sides of a frame. Chunks of frames go through the stages in order; each stage keeps the last frames of its
input, so it computes every frame once and hands on only frames at least its reach away from a cut (or at
the recording's own ends), which equal the whole-movie values. Each chunk of active voxels is labelled on
its own (provisional ids, unique over the recording); components touching across a chunk boundary are
joined (union-find), and ``min_size`` applies to the joined events (`_spatial_props.Joiner`). A second
pass over the frames of the events measures their traces (`_spatial_props.measure`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd

from element_calcium.compute import _backend, _checks
from element_calcium.compute.events import _spatial_props
from element_calcium.compute.events._spatial_props import Joiner, Reader
from element_calcium.compute.frames import ReadFrames
from element_calcium.compute.params import SpatialEventParams

__all__ = ["SpatialEventsResult", "detect_spatial_events"]

_STRIPE_PIXELS = 2**15  # CPU: pixels per stripe of rows for the per-pixel steps, so temporaries stay small
_BATCH_PIXELS = 2**21  # CPU: pixels per batch of frames for the per-frame steps


@dataclass(frozen=True)
class SpatialEventsResult:
    """Spatiotemporal events of a recording.

    Attributes:
        events: one row per event, in order of ``event_id`` (1..N, by first frame): ``event_id``; ``z0, z1``
            first and one-past-last frame; ``y0, y1, x0, x1`` bounding box in pixels (ends exclusive);
            ``volume`` (voxels); ``area`` (footprint pixels); ``duration_s`` ((z1 - z0) / fps);
            ``centroid_y, centroid_x`` (pixels, mean of the footprint); ``max_height`` (max - min of the
            trace); ``max_gradient`` (largest rise of the trace from one frame to the next, NaN for one
            frame); ``noise_mean, noise_std`` (always finite: mean and standard deviation over z0..z1 of the
            mean delta over the ring of ``ring_width`` pixels around the footprint; for an event whose
            footprint fills the frame, of its footprint's mean delta over the frames just outside it, as many
            before and after as it lasts; for one that also lasts the whole recording, the median of its trace
            and the robust standard deviation of the trace's frame-to-frame steps); ``snr`` ((max of the
            trace - noise_mean) / noise_std, NaN when noise_std is 0). Delta units: grey levels for dF, a
            fraction for dF/F.
        footprints: per event, (ypix, xpix) int64 arrays of the pixels it covers in any frame.
        traces: per event, (z1 - z0,) float32 mean delta (unsmoothed) over its footprint in frames z0..z1.
        label_lookup: (P + 1,) int32 map from the provisional ids handed to ``write_labels`` to event ids
            (0: background or a removed component): final labels = ``label_lookup[provisional]``.
        noise: (H, W) float32 noise standard deviation of the delta at each pixel (delta units).
        device: "cpu" or "cuda", the device that ran the detection.
    """

    events: pd.DataFrame
    footprints: tuple[tuple[np.ndarray, np.ndarray], ...]
    traces: tuple[np.ndarray, ...]
    label_lookup: np.ndarray
    noise: np.ndarray
    device: str


def detect_spatial_events(
    read_frames: ReadFrames,
    n_frames: int,
    *,
    fps: float,
    params: SpatialEventParams,
    device: str = "auto",
    chunk_frames: int = 250,
    write_labels: Callable[[int, np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SpatialEventsResult:
    """Detect spatiotemporal events in a recording read chunk by chunk (see the module docstring).

    Args:
        read_frames: ``read_frames(start, stop)`` returns frames ``start <= t < stop`` as a
            (stop - start, H, W) array of integers or floats (e.g. the motion-corrected movie). It is called
            over a sample of runs (noise), once over every frame (detection) and over the frames of the
            events (measuring).
        n_frames: number of frames T of the recording (>= 2).
        fps: frames per second (> 0), for ``duration_s``.
        params: detection parameters.
        device: "auto" (a CUDA GPU when CuPy sees one), "cpu" or "cuda".
        chunk_frames: frames read at a time. Memory grows with chunk_frames plus twice the largest reach of
            a step (about ``2 * max(window, temporal_wlen // 2 + temporal_width)`` frames), not with the
            recording length.
        write_labels: called as ``write_labels(start, labels)`` with consecutive (n, H, W) int32 chunks of
            provisional labels of frames start..start + n, in order and covering the recording; map them
            through the result's ``label_lookup`` to event ids.
        progress: called as ``progress(done, 2 * n_frames)`` after each chunk of the detection pass (done =
            frames read) and of the measuring pass (done = n_frames + frames measured).

    Returns:
        The events, their footprints and traces, the label lookup and the noise image.

    Raises:
        ValueError: bad arguments, frames with NaN or inf, chunks of the wrong shape, or (dF/F) a background
            <= 0.
    """
    if not isinstance(params, SpatialEventParams):
        raise ValueError(f"params must be a SpatialEventParams, got {type(params).__name__}")
    n_frames = _checks.integer(n_frames, "n_frames")
    if n_frames < 2:
        raise ValueError(f"n_frames must be >= 2 (the noise comes from frame-to-frame differences), got {n_frames}")
    fps = _checks.fps(fps)
    chunk_frames = _checks.integer(chunk_frames, "chunk_frames")
    for name, function in (("write_labels", write_labels), ("progress", progress)):
        if function is not None and not callable(function):
            raise ValueError(f"{name} must be callable or None, got {type(function).__name__}")
    device = _backend.resolve_device(device)
    filters = Filters(params, _backend.get_xp(device), n_frames)
    reader = Reader(read_frames, n_frames)
    noise = _spatial_props.pixel_noise(reader, filters)
    filters.set_noise(noise)

    found = _labelling_pass(reader, filters, chunk_frames=chunk_frames, write_labels=write_labels, progress=progress)
    table, footprints, traces = _spatial_props.measure(
        reader, filters, found, fps=fps, chunk_frames=chunk_frames, progress=progress
    )
    return SpatialEventsResult(
        events=table,
        footprints=footprints,
        traces=traces,
        label_lookup=found.lookup,
        noise=_backend.to_numpy(noise),
        device=device,
    )


def _labelling_pass(
    reader: Reader, filters: Filters, *, chunk_frames: int, write_labels: Callable | None, progress: Callable | None
) -> _spatial_props.FoundEvents:
    """Stream every frame through the stages, label each chunk of active voxels and join the chunks."""
    n_frames = reader.n_frames
    joiner = Joiner(reader.frame_shape, filters.params.connectivity)
    stages = [_Stage(reach, compute, n_frames) for reach, compute in filters.stages()]
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        data, first = reader.read(start, stop), start
        for stage in stages:
            if data is not None:
                data, first = stage.push(data, first)
        if data is not None:
            labels = joiner.add(first, filters.label(filters.clean(data)))
            if write_labels is not None:
                write_labels(first, labels)
        if progress is not None:
            progress(stop, 2 * n_frames)
    return joiner.finish(filters.params.min_size if filters.params.remove_objects else 1)


class _Stage:
    """A step whose output at frame t depends on its input within ``reach`` frames of t, run on a stream.

    ``compute(block, first_frame)`` maps a block of consecutive frames to a block of the same length; near
    a cut end of the block its values are inexact, so `push` hands on only frames at least ``reach`` away
    from a cut (the recording's own ends are exact) and keeps the input frames the next push needs.
    """

    def __init__(self, reach: int, compute: Callable, n_frames: int):
        self.reach, self.compute, self.n_frames = reach, compute, n_frames
        self.kept = None
        self.kept_start = 0
        self.done = 0

    def push(self, data, start: int):
        """Take input frames ``start ..`` (following the previous push).

        Returns (exact output frames, index of the first), or (None, None) when none are exact yet.
        """
        if self.kept is not None and len(self.kept):
            xp = _backend.namespace_of(self.kept)
            data, start = xp.concatenate([self.kept, xp.asarray(data)]), self.kept_start
        stop = start + len(data)
        high = stop if stop == self.n_frames else max(stop - self.reach, self.done)
        output = self.compute(data, start)[self.done - start : high - start] if high > self.done else None
        first, self.done = self.done, high
        keep_from = max(start, high - self.reach)
        self.kept, self.kept_start = data[keep_from - start :].copy(), keep_from
        return (output, first) if output is not None else (None, None)


class Filters:
    """The array steps of the detection (module docstring, steps 1-8) on one device.

    Args:
        params: detection parameters.
        xp: array namespace of the device.
        n_frames: frames of the recording.
    """

    def __init__(self, params: SpatialEventParams, xp: ModuleType, n_frames: int):
        self.params = params
        self.xp = xp
        self.n_frames = n_frames
        self.ndi = _backend.ndimage_namespace(xp)
        self.inverse_noise = None
        self.structure = xp.asarray(_structure(params.connectivity))
        # per-pixel and per-frame steps run on stripes of rows and batches of frames (whole blocks on a GPU)
        self.stripe_pixels, self.batch_pixels = (_STRIPE_PIXELS, _BATCH_PIXELS) if xp is np else (2**62, 2**62)

    def stages(self) -> list[tuple[int, Callable]]:
        """(reach in frames, compute) of the streamed steps, in order: delta, smoothing, prominence, criteria."""
        p = self.params
        stages = [(p.window - 1, self.delta)]
        if p.use_smoothing:
            stages.append((p.smooth_radius, lambda delta, _: self.smooth(delta)))
        if p.threshold is not None:
            return [*stages, (0, lambda smoothed, _: smoothed >= p.threshold)]
        half = p.temporal_wlen // 2
        criteria_reach = half + p.temporal_width - 1 if p.use_temporal else 0
        return [*stages, (half, self.prominence), (criteria_reach, self.criteria)]

    def reach(self) -> int:
        """Frames on each side of a frame that its active voxels depend on (the stages' reaches added)."""
        return sum(reach for reach, _ in self.stages())

    def delta(self, raw, first_frame: int):
        """(n, H, W) float32 delta D of consecutive raw frames (step 1), ``first_frame`` the index of the first."""
        xp, window, method = self.xp, self.params.window, self.params.method

        def stripe(part, out, _rows):
            out[...] = xp.asarray(part)
            background = side_minimum(out, window - 1, xp)
            out -= background
            if method == "dFF":
                positive = (background > 0).all(axis=(1, 2))
                if not bool(positive.all()):
                    bad = first_frame + int(xp.flatnonzero(~positive)[0])
                    raise ValueError(f"method 'dFF' needs a background > 0 at every pixel; frame {bad} has one <= 0")
                out /= background

        return self._by_stripes(stripe, raw, xp.float32)

    def smooth(self, delta):
        """3-D Gaussian smoothing of (n, H, W) float32 ``delta`` (step 2), ends repeated."""
        p, xp = self.params, self.xp

        def stripe(part, out, _rows):
            temporal_gaussian(part, p.smooth_sigma, p.smooth_radius, xp, out=out)

        out = self._by_stripes(stripe, delta, xp.float32)
        for axis in (1, 2):
            self.ndi.gaussian_filter1d(
                out, p.smooth_sigma, axis=axis, mode="nearest", truncate=p.smooth_radius / p.smooth_sigma, output=out
            )
        return out

    def set_noise(self, noise) -> None:
        """Take the (H, W) noise of the delta (step 3) for the thresholds in noise units."""
        xp, p = self.xp, self.params
        scale = np.ones(noise.shape)
        if p.use_smoothing:
            rows, cols = (folded_norms(np.arange(n), n, p.smooth_sigma, p.smooth_radius) for n in noise.shape)
            scale = rows[:, None] * cols[None, :]
        smoothed = noise * xp.asarray(scale.astype(np.float32))
        self.inverse_noise = xp.where(smoothed > 0, 1 / xp.where(smoothed > 0, smoothed, 1), 0).astype(xp.float32)

    def prominence(self, smoothed, first_frame: int):
        """(n, H, W) prominence z of consecutive smoothed frames in noise units (step 4)."""
        xp, p = self.xp, self.params
        per_frame = xp.ones((len(smoothed), 1, 1), dtype=xp.float32)
        if p.use_smoothing:
            norms = folded_norms(np.arange(first_frame, first_frame + len(smoothed)), self.n_frames,
                                 p.smooth_sigma, p.smooth_radius)
            per_frame = xp.asarray((1 / norms).astype(np.float32)).reshape(-1, 1, 1)

        def stripe(part, out, rows):
            xp.subtract(part, side_minimum(part, p.temporal_wlen // 2, xp), out=out)
            out *= self.inverse_noise[rows]
            out *= per_frame

        return self._by_stripes(stripe, smoothed, xp.float32)

    def criteria(self, z, _first_frame: int):
        """(n, H, W) bool voxels meeting the temporal and/or spatial criterion (steps 5-7, before cleaning)."""
        p = self.params
        spatial = self._spatial(z) if p.use_spatial else None
        if not p.use_temporal:
            return spatial
        temporal = self._by_stripes(self._temporal, z, bool)
        if spatial is None:
            return temporal
        return temporal & spatial if p.comb_type == "&" else temporal | spatial

    def clean(self, active):
        """Fill the small holes of each frame and clear the border band (step 7), in place."""
        p, xp, ndi = self.params, self.xp, self.ndi
        frames = xp.flatnonzero(active.any(axis=(1, 2)))
        if p.fill_holes and len(frames):
            in_plane = np.zeros((3, 3, 3), dtype=bool)
            in_plane[1] = _structure(1)[1]
            background, n_regions = ndi.label(~active[frames], structure=xp.asarray(in_plane))
            fill = xp.bincount(background.ravel(), minlength=int(n_regions) + 1) <= p.area_threshold
            for edge in (background[:, 0, :], background[:, -1, :], background[:, :, 0], background[:, :, -1]):
                fill[edge.ravel()] = False
            fill[0] = False
            active[frames] |= fill[background]
        band = p.exclude_border
        if band:
            for view in (active[:, :band], active[:, -band:], active[:, :, :band], active[:, :, -band:]):
                view[...] = False
        return active

    def label(self, active) -> np.ndarray:
        """(n, H, W) int32 NumPy labels 1..K of the 3-D connected components of ``active`` (step 8)."""
        labels, _ = self.ndi.label(active, structure=self.structure)
        return _backend.to_numpy(labels).astype(np.int32, copy=False)

    def _temporal(self, z, out, _rows):
        """Temporally active voxels (step 5) of (n, h, W) prominences in noise units, into ``out``."""
        p, xp = self.params, self.xp
        half = p.temporal_wlen // 2
        core = z >= p.temporal_prominence
        peak = running_extreme(xp.where(core, z, xp.float32(0)), half, half, xp.maximum, xp)
        low = core | ((z >= xp.float32(1 - p.temporal_rel_height) * peak) & (peak > 0))
        del peak
        active = joined_to_core(core, low, half, xp)
        width = p.temporal_width
        if width > 1:
            eroded = running_extreme(active.view(xp.uint8), width // 2, (width - 1) // 2, xp.minimum, xp)
            active = running_extreme(eroded, (width - 1) // 2, width // 2, xp.maximum, xp).view(bool)
        out[...] = active

    def _spatial(self, z):
        """Spatially active voxels (step 6) of (n, H, W) prominences in noise units."""
        p, xp, ndi = self.params, self.xp, self.ndi
        size = 2 * p.spatial_radius + 1
        if size == 1:
            return z >= p.spatial_threshold
        inside = ndi.uniform_filter(xp.ones(z.shape[1:], dtype=xp.float32), size=size, mode="constant")
        level = xp.float32(p.spatial_min_ratio) * inside - xp.float32(0.01 / size**2)
        active = xp.empty(z.shape, dtype=bool)
        step = max(1, self.batch_pixels // (z.shape[1] * z.shape[2]))
        for start in range(0, len(z), step):
            bright = (z[start : start + step] >= p.spatial_threshold).astype(xp.float32)
            fraction = ndi.uniform_filter(bright, size=(1, size, size), mode="constant", cval=0.0)
            active[start : start + step] = fraction >= level
        return active

    def _by_stripes(self, function, x, dtype):
        """(n, H, W) ``dtype`` output of a per-pixel step, computed on stripes of rows of (n, H, W) ``x``:
        ``function(part, out_part, rows)`` writes the output of ``part = x[:, rows]`` into ``out_part``."""
        height, width = x.shape[1:]
        out = self.xp.empty(x.shape, dtype=dtype)
        step = max(1, self.stripe_pixels // width)
        for start in range(0, height, step):
            rows = slice(start, min(start + step, height))
            function(x[:, rows], out[:, rows], rows)
        return out


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """(2 radius + 1,) float64 unit-sum Gaussian taps, SciPy's ``gaussian_filter1d`` kernel."""
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def folded_norms(positions: np.ndarray, length: int, sigma: float, radius: int) -> np.ndarray:
    """L2 norm of the `gaussian_kernel` at ``positions`` of an axis of ``length`` samples, the taps beyond
    the ends folded onto the end samples (``mode="nearest"``): the standard deviation that unit white
    noise has after smoothing along the axis.
    """
    kernel = gaussian_kernel(sigma, radius)
    taps = np.clip(np.asarray(positions)[:, None] + np.arange(-radius, radius + 1)[None, :], 0, length - 1)
    same = taps[:, :, None] == taps[:, None, :]
    return np.sqrt(np.einsum("pij,i,j->p", same, kernel, kernel))


def temporal_gaussian(x, sigma: float, radius: int, xp: ModuleType, *, out=None):
    """`gaussian_kernel` correlated with (n, H, W) ``x`` along axis 0, ends repeated (``mode="nearest"``);
    into ``out`` when given."""
    n = len(x)
    kernel = gaussian_kernel(sigma, radius).astype(np.float32)
    out = xp.multiply(x, kernel[radius], out=out)
    scratch = xp.empty_like(x)
    for offset in range(-radius, radius + 1):
        if offset == 0:
            continue
        inner_a, inner_b = max(0, -offset), min(n, n - offset)
        pieces = [(0, min(inner_a, n), x[:1]), (max(inner_b, 0), n, x[n - 1 :])]
        if inner_a < inner_b:
            pieces.append((inner_a, inner_b, x[inner_a + offset : inner_b + offset]))
        for a, b, source in pieces:
            if a < b:
                out[a:b] += xp.multiply(source, kernel[radius + offset], out=scratch[: b - a])
    return out


def running_extreme(x, before: int, after: int, op, xp: ModuleType):
    """``op`` (``xp.minimum`` or ``xp.maximum``) over ``x[t - before .. t + after]`` along axis 0, windows
    cut at the ends (van Herk / Gil-Werman: prefix and suffix runs within blocks of the window length)."""
    prefix, suffix = _block_runs(x, before + after + 1, op, xp)
    return _window(prefix, suffix, before, after, op, xp.empty_like(x))


def side_minimum(x, half: int, xp: ModuleType):
    """``max(min x[t - half .. t], min x[t .. t + half])`` along axis 0, windows cut at the ends."""
    prefix, suffix = _block_runs(x, half + 1, xp.minimum, xp)
    before = _window(prefix, suffix, half, 0, xp.minimum, xp.empty_like(x))
    after = _window(prefix, suffix, 0, half, xp.minimum, suffix)  # reads suffix[t] only where it writes it
    return xp.maximum(before, after, out=before)


def _block_runs(x, size: int, op, xp: ModuleType):
    """Running ``op`` of ``x`` from the start (prefix) and to the end (suffix) of each block of ``size``."""
    n = len(x)
    prefix, suffix = xp.empty_like(x), xp.empty_like(x)
    for t in range(n):
        if t % size:
            op(prefix[t - 1], x[t], out=prefix[t])
        else:
            prefix[t] = x[t]
    for t in range(n - 1, -1, -1):
        if (t + 1) % size and t + 1 < n:
            op(suffix[t + 1], x[t], out=suffix[t])
        else:
            suffix[t] = x[t]
    return prefix, suffix


def _window(prefix, suffix, before: int, after: int, op, out):
    """``out[t]`` = ``op`` over ``x[max(0, t - before) .. min(n - 1, t + after)]`` from the block runs.

    A full window spans at most two blocks: suffix of its first frame, prefix of its last. A window cut
    at the start is a prefix of the first block; one cut at the end lies in the last block or spans two.
    """
    n, size = len(prefix), before + after + 1
    head, tail = min(before, n), max(n - after, min(before, n))
    inside = max(0, min(head, n - after))
    out[:inside] = prefix[after : after + inside]
    out[inside:head] = prefix[n - 1 :]
    if head < tail:
        op(suffix[head - before : tail - before], prefix[head + after : tail + after], out=out[head:tail])
    for t in range(tail, n):
        if (t - before) // size == (n - 1) // size:
            out[t] = suffix[t - before]
        else:
            op(suffix[t - before], prefix[n - 1], out=out[t])
    return out


def joined_to_core(core, low, reach: int, xp: ModuleType):
    """Voxels of ``low`` linked to a ``core`` voxel of their pixel at most ``reach`` frames before or after
    through ``low`` voxels only (cores must be low); scans each direction frame by frame."""
    n = len(core)
    cap = xp.int16(min(reach + 1, 2**15 - 1))
    joined = xp.zeros(core.shape, dtype=bool)
    for order in (range(n), range(n - 1, -1, -1)):
        distance = xp.full(core.shape[1:], cap, dtype=xp.int16)
        for t in order:
            distance = xp.where(low[t], xp.minimum(distance + 1, cap), cap)
            distance = xp.where(core[t], xp.int16(0), distance)
            joined[t] |= distance <= reach
    return joined


def _structure(connectivity: int) -> np.ndarray:
    """(3, 3, 3) bool neighbourhood of a voxel for ``connectivity`` 1 (faces), 2 (edges) or 3 (corners)."""
    offsets = np.indices((3, 3, 3)) - 1
    return np.abs(offsets).sum(axis=0) <= connectivity
