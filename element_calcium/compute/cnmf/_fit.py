"""CNMF / CNMF-E on one patch: initialise, then alternate background, spatial and temporal updates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from element_calcium.compute.cnmf import _init, _updates

TREND_FRAMES = 600  # ring (one-photon) model: slow changes of a pixel over this many frames are removed before seeding
INIT_FRAMES = 1000  # initialisation runs on at most this many frames (block means of consecutive frames)


@dataclass
class PatchResult:
    """Components of one (h, w) patch; arrays as in `ExtractionResult`, footprints dense (h * w, N)."""

    shape: tuple[int, int]
    footprints: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    residual: np.ndarray
    background: np.ndarray
    baselines: np.ndarray
    g: np.ndarray
    noise: np.ndarray
    spatial_corr: np.ndarray
    correlation_image: np.ndarray
    pnr_image: np.ndarray
    background_constant: np.ndarray
    low_rank_b: np.ndarray
    low_rank_f: np.ndarray


@dataclass(frozen=True)
class Settings:
    """Resolved settings of a patch fit (pixels for lengths)."""

    gSig: float
    gSiz: int
    min_corr: float
    min_pnr: float
    background: str
    ring_radius: float
    nb: int
    max_components: int | None
    merge_thr: float
    n_iterations: int
    min_pixels: int
    init: str


class PatchFrames:
    """The (T, P) frames of a patch (pixels in C order), handed out as float32 chunks.

    ``frames[start:stop]`` is a new (stop - start, P) float32 array; ``len(frames)`` is T, ``frames.shape``
    (T, P) and ``frames.movie_shape`` (T, h, w). ``PatchFrames(movie)`` holds a (T, h, w) movie in its own
    dtype (an 8- or 16-bit movie stays at its size, not as a float32 copy); `PatchFrames.streamed` reads the
    frames from their source each time they are used, so nothing of the movie stays in memory.
    """

    def __init__(self, movie: np.ndarray):
        self._data = movie.reshape(len(movie), -1)
        self._read = lambda start, stop: self._data[start:stop]
        self.movie_shape = tuple(movie.shape)
        self.shape = self._data.shape
        self._mean = None

    @classmethod
    def streamed(cls, read, movie_shape: tuple[int, int, int]) -> PatchFrames:
        """Frames read by ``read(start, stop)``, which returns (stop - start, h, w) real values, on each use."""
        frames = cls.__new__(cls)
        frames._read = read
        frames.movie_shape = tuple(movie_shape)
        frames.shape = (movie_shape[0], movie_shape[1] * movie_shape[2])
        frames._mean = None
        return frames

    def __len__(self) -> int:
        return self.shape[0]

    def mean(self) -> np.ndarray:
        """(P,) float64 temporal mean of each pixel (computed on first use, then kept)."""
        if self._mean is None:
            total = np.zeros(self.shape[1], dtype=np.float64)
            for start in range(0, len(self), _updates.CHUNK_FRAMES):
                total += self[start : start + _updates.CHUNK_FRAMES].sum(axis=0, dtype=np.float64)
            self._mean = total / len(self)
        return self._mean

    def __getitem__(self, frames: slice) -> np.ndarray:
        if not isinstance(frames, slice) or frames.step not in (None, 1):
            raise TypeError(f"PatchFrames takes a slice of consecutive frames, got {frames!r}")
        start, stop, _ = frames.indices(len(self))
        chunk = np.array(self._read(start, stop), dtype=np.float32)  # a copy: callers may change it in place
        return chunk.reshape(max(0, stop - start), self.shape[1])


def _block_means(Y: PatchFrames, shape: tuple[int, int], factor: int) -> np.ndarray:
    """(T // factor, h, w) float32 means of consecutive blocks of ``factor`` frames of ``Y`` (a new array), read
    a few hundred frames at a time."""
    if factor == 1:
        return Y[0 : len(Y)].reshape(len(Y), *shape)
    n = len(Y) // factor
    out = np.empty((n, *shape), dtype=np.float32)
    per_read = max(1, _updates.CHUNK_FRAMES // factor)  # blocks per read
    for first in range(0, n, per_read):
        last = min(first + per_read, n)
        frames = Y[first * factor : last * factor].reshape(last - first, factor, -1)
        out[first:last] = frames.mean(axis=1).reshape(last - first, *shape)
    return out


def fit_patch(movie: np.ndarray | PatchFrames, settings: Settings, deconvolution, *, xp,
              allowed: np.ndarray | None = None) -> PatchResult:
    """Extract the components of ``movie``: (T, h, w) float32 or integers of up to 16 bits (left unchanged), or
    its `PatchFrames`.

    ``allowed``: (h, w) bool, the pixels where a component may be seeded (None: all).
    """
    Y = movie if isinstance(movie, PatchFrames) else PatchFrames(movie)
    n_frames, height, width = Y.movie_shape
    shape = (height, width)
    factor = max(1, math.ceil(n_frames / INIT_FRAMES))
    initialise = _init.sparse_nmf if settings.init == "sparse_nmf" else _init.greedy
    init = initialise(
        _block_means(Y, shape, factor), gSig=settings.gSig, gSiz=settings.gSiz, min_corr=settings.min_corr,
        min_pnr=settings.min_pnr, max_components=settings.max_components, allowed=allowed,
        trend_window=max(3, TREND_FRAMES // factor) if settings.background == "ring" else None, xp=xp,
    )
    A = init.footprints
    C = np.repeat(init.traces, factor, axis=1)
    if C.shape[1] < n_frames:
        C = np.concatenate([C, np.repeat(C[:, -1:], n_frames - C.shape[1], axis=1)], axis=1)
    images = (init.correlation_image, init.pnr_image)
    if A.shape[1] == 0:
        return _empty(shape, n_frames, Y, settings, images)
    if settings.background == "ring":
        background = _updates.Background("ring", shape, np.zeros(height * width, np.float32))
    else:
        background = _updates.init_low_rank(Y, A, C, shape, nb=settings.nb, xp=xp)
    radius = max(1, int(math.ceil(settings.gSig)))
    temporal = None
    for _ in range(settings.n_iterations):
        if settings.background == "ring":
            del background  # frees the previous fit's (T, P / 4) coarse frames before the next fit makes its own
            background = _updates.fit_ring(Y, A, C, shape, radius=settings.ring_radius, xp=xp)
        else:
            background = _updates.fit_low_rank(Y, A, C, background, nb=settings.nb, xp=xp)
        masks = _updates.search_masks(A, shape, radius=radius, box=2 * settings.gSiz + 1)
        A = _updates.update_spatial(Y, background, A, C, masks, xp=xp)
        A = _updates.clean_footprints(A, shape)
        A, C = _updates.normalise(A, C)
        kept = _updates.keep(A, C, min_pixels=settings.min_pixels)
        A, C = A[:, kept], C[kept]
        if A.shape[1] == 0:
            return _empty(shape, n_frames, Y, settings, images, background)
        U, _ = _updates.project(Y, background, A, xp=xp)
        temporal = _updates.update_temporal(U, A, C, deconvolution)
        A, C, merged = _updates.merge(A, temporal.calcium, temporal.residual, threshold=settings.merge_thr)
        if not merged:
            C = temporal.calcium
    kept = _updates.keep(A, C, min_pixels=settings.min_pixels)
    A, C = A[:, kept], C[kept]
    if A.shape[1] == 0:
        return _empty(shape, n_frames, Y, settings, images, background)
    U, under = _updates.project(Y, background, A, xp=xp)
    temporal = _updates.update_temporal(U, A, C, deconvolution)
    kept = np.abs(temporal.calcium).sum(axis=1) > 0
    A = A[:, kept]
    if A.shape[1] == 0:
        return _empty(shape, n_frames, Y, settings, images, background)
    temporal = _updates.Temporal(*(getattr(temporal, name)[kept] for name in
                                        ("calcium", "spikes", "residual", "baselines", "g", "noise")))
    corr = _updates.spatial_corr(Y, background, A, temporal.calcium, xp=xp)
    b, f = _low_rank(background, n_frames)
    return PatchResult(
        shape=shape, footprints=A, calcium=temporal.calcium, spikes=temporal.spikes, residual=temporal.residual,
        background=under[kept], baselines=temporal.baselines, g=temporal.g, noise=temporal.noise, spatial_corr=corr,
        correlation_image=images[0], pnr_image=images[1], background_constant=background.b0.reshape(shape),
        low_rank_b=b, low_rank_f=f,
    )


def _low_rank(background, n_frames):
    if background is not None and background.kind == "low_rank":
        return background.b.astype(np.float32), background.f.astype(np.float32)
    size = background.b0.size if background is not None else 0
    return np.zeros((size, 0), np.float32), np.zeros((0, n_frames), np.float32)


def _empty(shape, n_frames, Y, settings, images, background=None) -> PatchResult:
    """A patch result without components; the constant background is the temporal mean."""
    n_pixels = shape[0] * shape[1]
    if background is None:
        b0 = Y.mean().astype(np.float32)
        b = np.zeros((n_pixels, 0), np.float32)
        f = np.zeros((0, n_frames), np.float32)
    else:
        b0 = background.b0
        b, f = _low_rank(background, n_frames)
    traces = np.zeros((0, n_frames), dtype=np.float32)
    return PatchResult(
        shape=shape, footprints=np.zeros((n_pixels, 0), np.float32), calcium=traces, spikes=traces.copy(),
        residual=traces.copy(), background=traces.copy(), baselines=np.zeros(0, np.float32),
        g=np.zeros((0, 1), np.float32), noise=np.zeros(0, np.float32), spatial_corr=np.zeros(0, np.float32),
        correlation_image=images[0], pnr_image=images[1], background_constant=b0.reshape(shape),
        low_rank_b=b, low_rank_f=f,
    )
