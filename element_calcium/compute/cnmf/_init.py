"""Greedy initialisation of components from the seed images (CNMF-E style, both modalities).

The movie is filtered with the seed kernel, its per-pixel median removed; seeds are taken in decreasing order
of local correlation x peak-to-noise. Each seed's trace is the mean filtered trace of the pixels that correlate
with it; its footprint is the regression of the raw pixels of the gSiz box on that trace, a local background
trace and a constant. The component is then subtracted from the raw and filtered data, and the seed images
are recomputed around it, so the next seed comes from what is left.

The seed images and the products of `sparse_nmf` with the movie run on ``xp`` (NumPy or CuPy); the seed-by-seed
loop of `greedy` works on small boxes and runs on NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from element_calcium.compute import _backend
from element_calcium.compute.cnmf import _images

MIN_CORR_NEURON = 0.9  # pixels correlating this much with the seed give the initial trace
MAX_CORR_BACKGROUND = 0.3  # pixels correlating less than this give the local background trace (their mean)


@dataclass
class Initialisation:
    """Initial components of one patch.

    Attributes:
        footprints: (h * w, N) float32, unit L2 norm columns (C-order pixels).
        traces: (N, T') float32 initial traces (units of the raw movie times the footprint norm).
        correlation_image: (h, w) float32 local correlation of the seed-filtered movie.
        pnr_image: (h, w) float32 peak-to-noise ratio of the seed-filtered movie.
    """

    footprints: np.ndarray
    traces: np.ndarray
    correlation_image: np.ndarray
    pnr_image: np.ndarray



def _seed_images(frames: np.ndarray, kernel: np.ndarray, trend_window: int | None, *, xp):
    """The movie (T', h, w) float32 filtered by the seed ``kernel`` less its running median over ``trend_window``
    frames, its noise (h, w), and its local-correlation and peak-to-noise images (h, w), from which both
    initialisations pick their seeds. Computed on ``xp``; all four come back as NumPy."""
    filtered = _images.filter_frames(xp.asarray(frames), kernel)
    _images.remove_trend(filtered, trend_window)
    noise = _images.seed_noise(filtered)
    images = (_images.local_correlation(filtered, noise), _images.peak_to_noise(filtered, noise))
    return tuple(_backend.to_numpy(image) for image in (filtered, noise, *images))

def greedy(
    frames: np.ndarray, *, gSig: float, gSiz: int, min_corr: float, min_pnr: float, max_components: int | None,
    allowed: np.ndarray | None = None, trend_window: int | None = None, xp,
) -> Initialisation:
    """Initialise components of ``frames`` (T', h, w) float32 (modified in place: components are subtracted).

    ``allowed``: (h, w) bool, the pixels a seed may be taken at (None: all). ``trend_window``: frames of
    the running median removed from each pixel of the filtered movie before seeding, so that slow
    background changes (drift, bleaching) do not pass for cells; None removes one median per pixel.
    ``xp``: the array namespace of the seed images.
    """
    n_frames, height, width = frames.shape
    kernel = _images.seed_kernel(gSig, gSiz)
    filtered, noise, corr, pnr = _seed_images(frames, kernel, trend_window, xp=xp)
    images = (corr.copy(), pnr.copy())
    search = _seed_score(corr, pnr, min_corr, min_pnr, allowed)
    radius = gSiz // 2
    footprints, traces = [], []
    limit = max_components if max_components is not None else height * width
    fail_radius = max(1, int(round(gSig)))
    while len(footprints) < limit:
        index = int(np.argmax(search))
        if search.flat[index] <= 0:
            break
        y, x = divmod(index, width)
        found = _extract(frames, filtered, (y, x), radius)
        if found is None:
            search[max(y - fail_radius, 0) : y + fail_radius + 1, max(x - fail_radius, 0) : x + fail_radius + 1] = 0
            continue
        box, footprint, trace = found
        search[y, x] = 0
        full = np.zeros((height, width), dtype=np.float32)
        full[box] = footprint
        frames[(slice(None), *box)] -= trace[:, None, None] * footprint
        wide = (slice(max(box[0].start - radius, 0), min(box[0].stop + radius, height)),
                slice(max(box[1].start - radius, 0), min(box[1].stop + radius, width)))
        filtered_footprint = _images.filter_image(full, kernel)[wide]
        filtered[(slice(None), *wide)] -= trace[:, None, None] * filtered_footprint
        _refresh(search, filtered, noise, wide, min_corr, min_pnr)
        norm = float(np.linalg.norm(footprint))
        footprints.append(full.ravel() / norm)
        traces.append(trace * norm)
    if footprints:
        a = np.stack(footprints, axis=1).astype(np.float32)
        c = np.stack(traces).astype(np.float32)
    else:
        a = np.zeros((height * width, 0), dtype=np.float32)
        c = np.zeros((0, n_frames), dtype=np.float32)
    return Initialisation(a, c, *images)


def _seed_score(corr, pnr, min_corr, min_pnr, allowed) -> np.ndarray:
    """(h, w) correlation x PNR where both pass their thresholds and a seed is allowed, else 0."""
    passing = (corr >= min_corr) & (pnr >= min_pnr)
    if allowed is not None:
        passing &= allowed
    return np.where(passing, corr * pnr, 0.0)


def _refresh(search, filtered, noise, wide, min_corr, min_pnr):
    """Recompute the seed score of the pixels in ``wide`` (a box) after a component was subtracted."""
    height, width = search.shape
    ys, xs = wide
    outer = (slice(max(ys.start - 1, 0), min(ys.stop + 1, height)), slice(max(xs.start - 1, 0), min(xs.stop + 1, width)))
    inner = (slice(ys.start - outer[0].start, ys.stop - outer[0].start),
             slice(xs.start - outer[1].start, xs.stop - outer[1].start))
    data = filtered[(slice(None), *outer)]
    corr = _images.local_correlation(data, noise[outer])[inner]
    pnr = _images.peak_to_noise(data, noise[outer])[inner]
    keep = search[wide] > 0
    search[wide] = np.where(keep & (corr >= min_corr) & (pnr >= min_pnr), corr * pnr, 0.0)


def _extract(frames, filtered, seed, radius):
    """(box, footprint (bh, bw), trace (T',)) of the component at ``seed``, or None when there is none."""
    n_frames, height, width = frames.shape
    y, x = seed
    box = (slice(max(y - radius, 0), min(y + radius + 1, height)), slice(max(x - radius, 0), min(x + radius + 1, width)))
    shape = (box[0].stop - box[0].start, box[1].stop - box[1].start)
    centre = (y - box[0].start, x - box[1].start)
    local = filtered[(slice(None), *box)].reshape(n_frames, -1)
    raw = frames[(slice(None), *box)].reshape(n_frames, -1)
    centred = local - local.mean(axis=0)
    norms = np.linalg.norm(centred, axis=0)
    norms[norms == 0] = 1.0
    seed_index = centre[0] * shape[1] + centre[1]
    corr = (centred[:, seed_index] @ centred) / (norms * norms[seed_index])
    trace = local[:, corr > MIN_CORR_NEURON].mean(axis=1)
    trace = trace - np.median(trace)
    if not trace.max() > 0:
        return None
    background = corr < MAX_CORR_BACKGROUND
    columns = [trace - trace.mean()]
    if background.any():
        local_background = raw[:, background].mean(axis=1)
        columns.append(local_background - local_background.mean())
    columns.append(np.ones(n_frames, dtype=np.float32))
    design = np.stack(columns, axis=1).astype(np.float64)
    coefficients = np.linalg.lstsq(design, raw.astype(np.float64), rcond=None)[0][0]
    footprint = np.maximum(coefficients, 0.0).reshape(shape)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    footprint[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 > radius**2] = 0.0
    if not footprint[centre] > 0:
        return None
    labels, _ = ndimage.label(footprint > 0)
    footprint[labels != labels[centre]] = 0.0
    trace = np.maximum(trace, 0.0)
    return box, footprint.astype(np.float32), trace.astype(np.float32)


SPARSE_NMF_PASSES = 8
SPARSE_NMF_L1 = 0.05  # L1 penalty on a footprint, as a fraction of the largest entry of its data product


def sparse_nmf(
    frames: np.ndarray, *, gSig: float, gSiz: int, min_corr: float, min_pnr: float, max_components: int | None,
    allowed: np.ndarray | None = None, trend_window: int | None = None, xp,
) -> Initialisation:
    """Initialise components of ``frames`` (T', h, w) float32 by a sparse non-negative factorisation.

    Seeds are the local maxima (at least 2 gSig apart) of correlation x PNR above ``min_corr`` and ``min_pnr``;
    each starts as a Gaussian of sigma gSig within a disc of radius gSiz / 2. The median-removed, non-negative
    movie X is then factorised as A C by HALS with an L1 penalty on each footprint, every footprint kept within
    its disc. ``allowed``, ``trend_window`` and ``xp`` are as in `greedy`; the products with the movie run on
    ``xp``, the updates of the components (few pixels each) on NumPy.
    """
    n_frames, height, width = frames.shape
    filtered, _, corr, pnr = _seed_images(frames, _images.seed_kernel(gSig, gSiz), trend_window, xp=xp)
    del filtered
    score = _seed_score(corr, pnr, min_corr, min_pnr, allowed)
    spacing = max(3, int(round(2 * gSig)) | 1)
    peaks = np.flatnonzero((score > 0) & (score == ndimage.maximum_filter(score, size=spacing)))
    peaks = peaks[np.argsort(score.flat[peaks])[::-1]]
    if max_components is not None:
        peaks = peaks[:max_components]
    if len(peaks) == 0:
        return Initialisation(np.zeros((height * width, 0), np.float32), np.zeros((0, n_frames), np.float32),
                              corr, pnr)
    movie = xp.asarray(frames)
    data = movie.reshape(n_frames, -1) - xp.median(movie, axis=0).reshape(1, -1)
    del movie
    xp.maximum(data, 0.0, out=data)
    radius = gSiz // 2
    yy, xx = np.divmod(np.arange(height * width), width)
    py, px = np.divmod(peaks, width)
    distance2 = (yy[:, None] - py[None, :]) ** 2 + (xx[:, None] - px[None, :]) ** 2
    masks = distance2 <= radius**2
    A = np.where(masks, np.exp(-distance2 / (2 * gSig**2)), 0.0).astype(np.float32)
    A /= np.linalg.norm(A, axis=0)
    C = np.maximum(_backend.to_numpy(data @ xp.asarray(A)).T, 0.0).astype(np.float32)
    pixels = [np.flatnonzero(masks[:, n]) for n in range(len(peaks))]
    for _ in range(SPARSE_NMF_PASSES):
        AY, AA = _backend.to_numpy(data @ xp.asarray(A)).T, A.T @ A  # A.T @ data.T is slow in multithreaded OpenBLAS
        for n in range(len(peaks)):
            if AA[n, n] > 0:
                C[n] = np.maximum(C[n] + (AY[n] - AA[n] @ C) / AA[n, n], 0.0)
        YC, CC = _backend.to_numpy(data.T @ xp.asarray(C.T)), C @ C.T
        for n, inside in enumerate(pixels):
            A[:, n] = 0.0
            if CC[n, n] > 0:
                penalty = SPARSE_NMF_L1 * YC[inside, n].max()
                A[inside, n] = np.maximum((YC[inside, n] - A[inside] @ CC[:, n] - penalty) / CC[n, n], 0.0)
    norms = np.linalg.norm(A, axis=0)
    kept = norms > 0
    return Initialisation((A[:, kept] / norms[kept]).astype(np.float32), (C[kept] * norms[kept, None]).astype(np.float32),
                          corr, pnr)
