"""Alternating updates of one patch: background, spatial HALS, temporal HALS with deconvolution, merging.

The patch movie ``Y`` is a (T, P) `_fit.PatchFrames` (pixels in C order), read as float32 chunks of frames.
Components are dense ``A`` (P, N) and ``C`` (N, T). Products with the movie are accumulated over chunks of
frames of the background-subtracted movie ``Y - B`` (`subtracted`), so at most a chunk of it exists at
a time. A movie or coarse ring background larger than `HELD_BYTES` is not kept: the movie is read from its
source again and the background predicted again, chunk by chunk, so a patch's memory does not grow with T
beyond its (N, T) traces. The products with the movie, the background frames of the low-rank model and the ring regressions run on
``xp`` (NumPy or CuPy); the component-by-component HALS steps (few pixels or N x N products), the cleaning of the
footprints, merging and the deconvolution inside the temporal update run on NumPy. Products of few components with a
chunk are written ``(chunk @ A).T``, not ``A.T @ chunk.T``: the same product, but multithreaded OpenBLAS runs
the second form an order of magnitude slower (few output rows, a long inner dimension).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.sparse import csgraph

from element_calcium.compute import _backend
from element_calcium.compute.cnmf import _background
from element_calcium.compute.deconvolution import deconvolve_traces

CHUNK_FRAMES = 256
SPATIAL_PASSES = 3
TEMPORAL_PASSES = 2
NMF_PASSES = 10
FOOTPRINT_FLOOR = 0.02  # footprint values below this fraction of the maximum are zeroed after each update
SPATIAL_CORR_FLOOR = 0.1  # support of the spatial correlation: footprint above this fraction of its maximum


HELD_BYTES = 2**28  # a patch's movie or coarse ring background (as float32) up to this size is held in memory;
# a larger one is read again, or recomputed, chunk by chunk whenever it is used, so memory does not grow with T


def held(n_frames: int, n_pixels: int) -> bool:
    """Whether T x P float32 values fit in `HELD_BYTES`."""
    return n_frames * n_pixels * 4 <= HELD_BYTES


@dataclass(frozen=True)
class CoarseResidual:
    """The residual ``Y - A C - b0`` of chunks of frames on the ring model's coarse grid.

    Downsampling is linear, so ``down(Y - A C - b0) = down(Y) - down(A) C - down(b0)``: the footprints and the
    constant are downsampled once, and each chunk costs its own downsampling and a product with the
    coarse footprints (a quarter of the pixels).

    Attributes:
        shape: (h, w) full-size patch shape.
        footprints: (h' w', N) float32 downsampled footprints.
        b0: (h' w',) float32 downsampled constant.
        C: (N, T) float32 traces.
    """

    shape: tuple[int, int]
    footprints: np.ndarray
    b0: np.ndarray
    C: np.ndarray

    @classmethod
    def of(cls, A: np.ndarray, C: np.ndarray, b0: np.ndarray, shape: tuple[int, int]) -> CoarseResidual:
        """From footprints (P, N), traces (N, T) and constant (P,) of an (h, w) patch."""
        images = np.ascontiguousarray(A.T).reshape(A.shape[1], *shape)
        footprints = np.ascontiguousarray(_background.downsample(images, shape).T)
        return cls(shape, footprints, _background.downsample(b0.reshape(1, *shape), shape)[0], C)

    def __call__(self, start: int, stop: int, chunk: np.ndarray, *, xp) -> np.ndarray:
        """(stop - start, h' w') float32 coarse residual of frames start..stop; ``chunk``: their (n, P) float32
        NumPy movie frames."""
        coarse = _background.downsample(chunk.reshape(stop - start, *self.shape), self.shape)
        coarse -= _backend.to_numpy(xp.asarray(self.C[:, start:stop]).T @ xp.asarray(self.footprints).T)
        coarse -= self.b0
        return coarse


@dataclass(frozen=True)
class RingFit:
    """What the ring background of a chunk of frames is predicted from: the fitted weights, and the coarse
    residual (with the footprints, traces and constant it was taken with)."""

    model: _background.RingModel
    residual: CoarseResidual

    def coarse(self, start: int, stop: int, chunk: np.ndarray, *, xp) -> np.ndarray:
        """(stop - start, h' w') float32 coarse fluctuations of frames start..stop from ``chunk``, their (n, P)
        float32 NumPy movie frames."""
        return _background.predict(self.model, self.residual(start, stop, chunk, xp=xp))


@dataclass
class Background:
    """Background of a patch: ``"ring"`` (b0 + ring fluctuations) or ``"low_rank"`` (b0 + b f).

    Attributes:
        kind: "ring" or "low_rank".
        shape: (h, w) of the patch.
        b0: (P,) float32 constant per pixel.
        ring: ring: the fit the fluctuations are predicted from; None before the first fit.
        coarse: ring: (T, h' w') float32 coarse fluctuations when they are `held`; None: predicted from each
            chunk of frames as it is used.
        b: low_rank: (P, nb) float32 spatial components; b f is the whole background and b0 its time average.
        f: low_rank: (nb, T) float32 temporal components.
    """

    kind: str
    shape: tuple[int, int]
    b0: np.ndarray
    ring: RingFit | None = None
    coarse: np.ndarray | None = None
    b: np.ndarray | None = None
    f: np.ndarray | None = None

    def frames(self, start: int, stop: int, chunk: np.ndarray, *, xp=np):
        """(stop - start, P) float32 background of frames start..stop, an array of ``xp``; ``chunk``: their
        (n, P) float32 NumPy movie frames (the ring model predicts from them; its interpolation runs on the
        CPU). Chunks must be those of `_chunks`: a held coarse background is the same numbers."""
        if self.kind == "ring":
            if self.ring is None:
                return xp.broadcast_to(xp.asarray(self.b0), (stop - start, self.b0.size))
            coarse = self.coarse[start:stop] if self.coarse is not None else self.ring.coarse(start, stop, chunk, xp=xp)
            fluctuations = _background.upsample(coarse, self.shape)
            fluctuations += self.b0
            return xp.asarray(fluctuations)
        return (xp.asarray(self.b) @ xp.asarray(self.f[:, start:stop])).T


def _chunks(n_frames: int):
    for start in range(0, n_frames, CHUNK_FRAMES):
        yield start, min(start + CHUNK_FRAMES, n_frames)


def subtracted(Y: np.ndarray, background: Background, *, xp):
    """Yield (start, stop, (stop - start, P) float32 Y - B, an array of ``xp``) over chunks of frames."""
    for start, stop in _chunks(len(Y)):
        chunk = Y[start:stop]  # a new array: changed in place once the background has been predicted from it
        frames = background.frames(start, stop, chunk, xp=xp)
        movie = xp.asarray(chunk)
        movie -= frames
        yield start, stop, movie


def fit_ring(Y, A, C, shape: tuple[int, int], *, radius: float, xp) -> Background:
    """Fit b0 and the ring weights of an (h, w) patch on the residual ``Y - A C``; the new background.

    The weights are fitted on block means of the coarse residual (`_background.fit_frames`), summed as the movie
    is read; the coarse fluctuations are kept when `held`, else predicted again from each chunk as it is used.
    """
    n_frames = len(Y)
    b0 = (Y.mean() - A @ C.mean(axis=1)).astype(np.float32)
    residual_of = CoarseResidual.of(A, C, b0, shape)
    n_coarse = int(np.prod(_background.coarse_shape(shape)))
    block = _background.fit_frames(n_frames)
    fitted_frames = (n_frames // block) * block
    sums = np.zeros((n_frames // block, n_coarse), dtype=np.float64)
    coarse = np.empty((n_frames, n_coarse), dtype=np.float32) if held(n_frames, n_coarse) else None
    for start, stop in _chunks(n_frames):
        residual = residual_of(start, stop, Y[start:stop], xp=xp)
        if coarse is not None:
            coarse[start:stop] = residual
        _add_to_blocks(sums, residual[: max(0, fitted_frames - start)], start, block)
    ring = RingFit(_background.fit((sums / block).astype(np.float32), shape, radius=radius, xp=xp), residual_of)
    if coarse is not None:
        for start, stop in _chunks(n_frames):
            coarse[start:stop] = _background.predict(ring.model, coarse[start:stop])
    return Background(kind="ring", shape=shape, b0=b0, ring=ring, coarse=coarse)


def _add_to_blocks(sums: np.ndarray, rows: np.ndarray, start: int, block: int) -> None:
    """Add ``rows`` (n, p), frames start..start + n, to ``sums`` (T // block, p), row b summing frames of block b."""
    if len(rows) == 0:
        return
    index = np.arange(start, start + len(rows)) // block
    firsts = np.concatenate([[0], np.flatnonzero(np.diff(index)) + 1])
    sums[index[firsts]] += np.add.reduceat(rows, firsts, axis=0)


def fit_low_rank(Y, A, C, background: Background, *, nb: int, xp) -> Background:
    """Refit the nb-component non-negative background b f on the residual ``Y - A C`` (HALS)."""
    b, f = background.b, background.f
    for _ in range(2):
        Yf = np.zeros((Y.shape[1], nb), dtype=np.float32)
        for start, stop in _chunks(len(Y)):
            Yf += _backend.to_numpy(xp.asarray(Y[start:stop]).T @ xp.asarray(f[:, start:stop]).T)
        residual_f = Yf - A @ (C @ f.T)
        ff = f @ f.T
        for k in range(nb):
            if ff[k, k] > 0:
                b[:, k] = np.maximum(b[:, k] + (residual_f[:, k] - b @ ff[:, k]) / ff[k, k], 0.0)
        bY = np.zeros((nb, len(Y)), dtype=np.float32)
        for start, stop in _chunks(len(Y)):
            bY[:, start:stop] = _backend.to_numpy((xp.asarray(Y[start:stop]) @ xp.asarray(b)).T)
        residual_b = bY - (b.T @ A) @ C
        bb = b.T @ b
        for k in range(nb):
            if bb[k, k] > 0:
                f[k] = np.maximum(f[k] + (residual_b[k] - bb[k] @ f) / bb[k, k], 0.0)
    b0 = (b @ f.mean(axis=1)).astype(np.float32)
    return Background(kind="low_rank", shape=background.shape, b0=b0, b=b, f=f)


def init_low_rank(Y, A, C, shape, *, nb: int, xp) -> Background:
    """A first low-rank background: b_k the mean residual over the k-th of nb blocks of frames, f from HALS."""
    n_frames = len(Y)
    edges = np.linspace(0, n_frames, nb + 1).round().astype(int)
    b = np.zeros((Y.shape[1], nb), dtype=np.float32)
    for k in range(nb):
        lo, hi = edges[k], max(edges[k + 1], edges[k] + 1)
        total = np.zeros(Y.shape[1], dtype=np.float64)
        for start in range(lo, hi, CHUNK_FRAMES):
            total += Y[start : min(start + CHUNK_FRAMES, hi)].sum(axis=0, dtype=np.float64)
        b[:, k] = np.maximum(total / (hi - lo) - A @ C[:, lo:hi].mean(axis=1), 0.0)
    f = np.ones((nb, n_frames), dtype=np.float32)
    return fit_low_rank(Y, A, C, Background("low_rank", shape, b @ f.mean(axis=1), b=b, f=f), nb=nb, xp=xp)


def search_masks(A: np.ndarray, shape: tuple[int, int], *, radius: int, box: int) -> np.ndarray:
    """(P, N) bool: each footprint's support dilated by a disc of ``radius``, within ``box`` of its peak."""
    yy, xx = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    disc = yy**2 + xx**2 <= radius**2
    masks = np.zeros(A.shape, dtype=bool)
    half = box // 2
    for n in range(A.shape[1]):
        image = A[:, n].reshape(shape)
        py, px = np.unravel_index(int(np.argmax(image)), shape)
        window = (slice(max(py - half, 0), py + half + 1), slice(max(px - half, 0), px + half + 1))
        grown = np.zeros(shape, dtype=bool)
        grown[window] = ndimage.binary_dilation(image[window] > 0, structure=disc)
        masks[:, n] = grown.ravel()
    return masks


def update_spatial(Y, background, A, C, masks, *, xp) -> np.ndarray:
    """HALS update of the footprints ``A`` (P, N) within ``masks`` on ``Y - B`` and traces ``C``."""
    c = xp.asarray(C)
    YC = xp.zeros((Y.shape[1], len(C)), dtype=xp.float32)
    for start, stop, movie in subtracted(Y, background, xp=xp):
        YC += movie.T @ c[:, start:stop].T
    YC = _backend.to_numpy(YC)
    CC = C @ C.T
    A = A.copy()
    pixels = [np.flatnonzero(masks[:, n]) for n in range(A.shape[1])]
    for _ in range(SPATIAL_PASSES):
        for n, inside in enumerate(pixels):
            A[:, n] = 0.0
            if CC[n, n] <= 0:
                continue
            update = (YC[inside, n] - A[inside] @ CC[:, n]) / CC[n, n]
            A[inside, n] = np.maximum(update, 0.0)
    return A


def clean_footprints(A, shape):
    """Zero values below FOOTPRINT_FLOOR of each footprint's maximum and keep its largest connected piece."""
    A = A.copy()
    for n in range(A.shape[1]):
        peak = A[:, n].max()
        if peak <= 0:
            continue
        image = A[:, n].reshape(shape)
        image[image < FOOTPRINT_FLOOR * peak] = 0.0
        labels, count = ndimage.label(image > 0)
        if count > 1:
            sizes = np.bincount(labels.ravel(), weights=image.ravel())
            sizes[0] = 0
            image[labels != int(np.argmax(sizes))] = 0.0
    return A


def normalise(A, C):
    """Footprints scaled to unit L2 norm, traces scaled inversely; zero footprints stay zero."""
    norms = np.linalg.norm(A, axis=0)
    scale = np.where(norms > 0, norms, 1.0).astype(np.float32)
    return (A / scale).astype(np.float32), (C * scale[:, None]).astype(np.float32)


def keep(A, C, *, min_pixels: int):
    """(N,) bool: components with at least min_pixels footprint pixels and a non-zero trace."""
    return ((A > 0).sum(axis=0) >= min_pixels) & (np.abs(C).sum(axis=1) > 0)


def project(Y, background, A, *, xp):
    """(U, background_under): (N, T) float32 A^T (Y - B) and A^T B."""
    a = xp.asarray(A)
    U = np.empty((A.shape[1], len(Y)), dtype=np.float32)
    under = np.empty_like(U)
    for start, stop in _chunks(len(Y)):
        chunk = Y[start:stop]
        under[:, start:stop] = _backend.to_numpy((background.frames(start, stop, chunk, xp=xp) @ a).T)
        U[:, start:stop] = _backend.to_numpy((xp.asarray(chunk) @ a).T) - under[:, start:stop]
    return U, under


def _groups(V: np.ndarray) -> list[np.ndarray]:
    """Components split into groups with non-overlapping footprints (greedy colouring of V > 0)."""
    n = len(V)
    colour = np.full(n, -1)
    overlap = (V > 0) & ~np.eye(n, dtype=bool)
    for i in range(n):
        used = set(colour[overlap[i]].tolist())
        colour[i] = next(k for k in range(n + 1) if k not in used)
    return [np.flatnonzero(colour == k) for k in range(colour.max() + 1)] if n else []


@dataclass
class Temporal:
    """Deconvolved traces of the components (all (N, T) float32 but baselines (N,), g (N, p), noise (N,))."""

    calcium: np.ndarray
    spikes: np.ndarray
    residual: np.ndarray
    baselines: np.ndarray
    g: np.ndarray
    noise: np.ndarray


def update_temporal(U, A, C, deconvolution) -> Temporal:
    """HALS block-coordinate update of ``C`` on U = A^T (Y - B), with each raw trace deconvolved."""
    V = A.T @ A
    diagonal = np.where(np.diag(V) > 0, np.diag(V), 1.0).astype(np.float32)
    C = C.copy()
    n, n_frames = C.shape
    p = deconvolution.p
    spikes = np.zeros_like(C)
    baselines = np.zeros(n, dtype=np.float32)
    g = np.zeros((n, p), dtype=np.float32)
    noise = np.zeros(n, dtype=np.float32)
    groups = _groups(V)
    for _ in range(TEMPORAL_PASSES):
        for group in groups:
            raw = C[group] + (U[group] - V[group] @ C) / diagonal[group, None]
            result = deconvolve_traces(
                raw, p=p, s_min=deconvolution.s_min, noise_range=deconvolution.noise_range,
                optimize_g=deconvolution.optimize_g,
            )
            C[group] = result.calcium
            spikes[group] = result.spikes
            baselines[group] = result.baselines
            g[group] = np.asarray(result.g, dtype=np.float32).reshape(len(group), p)
            noise[group] = result.noise
    residual = (U - V @ C) / diagonal[:, None]
    return Temporal(C.astype(np.float32), spikes.astype(np.float32), residual.astype(np.float32), baselines, g, noise)


def merge(A, C, residual, *, threshold: float):
    """Merge groups of components whose footprints overlap and whose traces correlate above ``threshold``.

    Each group is replaced by the rank-1 non-negative factorisation of the sum of its members' raw data
    ``sum_i a_i (c_i + r_i)`` over the union of their supports. Returns (A, C, merged_any); the merged
    components' traces are raw (to be deconvolved by the next temporal update).
    """
    n = A.shape[1]
    if n < 2:
        return A, C, False
    overlap = (A.T @ A) > 0
    centred = C - C.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    norms[norms == 0] = np.inf
    corr = (centred @ centred.T) / np.outer(norms, norms)
    linked = overlap & (corr > threshold)
    np.fill_diagonal(linked, False)
    if not linked.any():
        return A, C, False
    count, labels = csgraph.connected_components(linked, directed=False)
    columns, traces = [], []
    for label in range(count):
        members = np.flatnonzero(labels == label)
        if len(members) == 1:
            columns.append(A[:, members[0]])
            traces.append(C[members[0]])
            continue
        pixels = np.flatnonzero((A[:, members] > 0).any(axis=1))
        data = A[np.ix_(pixels, members)] @ (C[members] + residual[members])
        a = A[np.ix_(pixels, members)].sum(axis=1)
        a /= np.linalg.norm(a)
        c = np.maximum(a @ data, 0.0)
        for _ in range(NMF_PASSES):
            a = np.maximum(data @ c, 0.0)
            norm = np.linalg.norm(a)
            if norm == 0:
                break
            a /= norm
            c = np.maximum(a @ data, 0.0)
        column = np.zeros(A.shape[0], dtype=np.float32)
        column[pixels] = a
        columns.append(column)
        traces.append(c.astype(np.float32))
    return np.stack(columns, axis=1).astype(np.float32), np.stack(traces).astype(np.float32), True


def spatial_corr(Y, background, A, C, *, xp) -> np.ndarray:
    """(N,) float32 r-value: correlation, within the footprint's support, of the footprint with the mean of
    ``Y - B`` over the component's most active frames (the top max(5, T / 50) frames of its trace)."""
    n, n_frames = C.shape
    top = int(min(n_frames, max(5, n_frames // 50)))
    selection = np.zeros((n_frames, n), dtype=np.float32)
    for i in range(n):
        frames = np.argsort(C[i])[-top:]
        selection[frames, i] = 1.0 / top
    means = xp.zeros((Y.shape[1], n), dtype=xp.float32)
    sel = xp.asarray(selection)
    for start, stop, movie in subtracted(Y, background, xp=xp):
        means += movie.T @ sel[start:stop]
    means = _backend.to_numpy(means)
    out = np.zeros(n, dtype=np.float32)
    for i in range(n):
        support = A[:, i] > SPATIAL_CORR_FLOOR * A[:, i].max()
        if support.sum() < 2:
            continue
        x, y = A[support, i], means[support, i]
        if x.std() > 0 and y.std() > 0:
            out[i] = np.corrcoef(x, y)[0, 1]
    return out
