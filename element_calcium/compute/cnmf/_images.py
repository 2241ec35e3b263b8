"""Seed images of source extraction: the CNMF-E seed filter, per-pixel noise, peak-to-noise and local correlation.

Frames are (T, h, w) float32, NumPy or CuPy: the images are computed in the namespace of their input
(`_backend.namespace_of`). OpenCV filters NumPy frames, the backend's ndimage CuPy frames (the same mirrored
borders); the running median of `remove_trend` runs on the CPU.
"""

from __future__ import annotations

import cv2
import numpy as np

from element_calcium.compute import _backend
from element_calcium.compute.dff import running_percentile

CORR_THRESHOLD = 2.0  # filtered values below this many noise levels are zeroed before the correlation image
TREND_PIXELS = 2048  # pixels whose running median `remove_trend` computes at a time (bounds its memory)
TREND_KNOTS = 2  # exact running medians per window length in `remove_trend` (linear in between)
NOISE_CAP = 3.0  # a pixel's seed noise is at most this many times the median noise of the patch's pixels


def seed_kernel(gSig: float, gSiz: int) -> np.ndarray:
    """(gSiz, gSiz) float32 CNMF-E seed filter: a Gaussian of sigma ``gSig`` minus its mean over a disc.

    The disc is where the Gaussian exceeds its value at the middle of the kernel's edge (radius about
    gSiz / 2); the kernel is zero outside it and sums to zero, so it removes any background that is smooth
    on the scale of a cell and keeps cell-sized blobs.
    """
    gaussian = cv2.getGaussianKernel(gSiz, gSig, cv2.CV_64F)
    psf = gaussian @ gaussian.T
    inside = psf >= psf[0].max()
    psf = psf - psf[inside].mean()
    psf[~inside] = 0.0
    return psf.astype(np.float32)


def remove_trend(frames: np.ndarray, window: int | None) -> None:
    """Subtract from each pixel of ``frames`` (T, h, w) its running median over ``window`` frames (in place).

    None or a window of T frames or more subtracts the median over the whole recording. The running
    median is `dff.running_percentile`'s, exact every half window (`TREND_KNOTS`) and linear in between:
    the trend is what changes over the window, so two knots per window follow it (a quarter of the work of
    eight, for the same seeds on the benchmark recordings). It is computed for `TREND_PIXELS` pixels at a
    time (working memory some ten times its input's) and runs on the CPU: CuPy ``frames`` are copied to
    the host and back.
    """
    n_frames = len(frames)
    if window is None or window >= n_frames:
        frames -= _backend.namespace_of(frames).median(frames, axis=0)
        return
    if _backend.namespace_of(frames) is not np:
        on_host = _backend.to_numpy(frames)
        remove_trend(on_host, window)
        frames[...] = _backend.namespace_of(frames).asarray(on_host)
        return
    pixels = frames.reshape(n_frames, -1)
    for start in range(0, pixels.shape[1], TREND_PIXELS):
        block = pixels[:, start : start + TREND_PIXELS]
        block -= running_percentile(block.T, window=window, percentile=50.0, knots_per_window=TREND_KNOTS).T


def filter_frames(frames: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Each (h, w) frame of ``frames`` (T, h, w) float32 filtered with ``kernel`` (mirrored borders).

    NumPy frames go through OpenCV one frame at a time, CuPy frames through the backend's ndimage at once.
    """
    xp = _backend.namespace_of(frames)
    if xp is not np:
        return filter_with_ndimage(frames, kernel, ndimage=_backend.ndimage_namespace(xp))
    out = np.empty_like(frames)
    for frame, filtered in zip(frames, out):
        cv2.filter2D(frame, cv2.CV_32F, kernel, filtered, borderType=cv2.BORDER_REFLECT)
    return out


def filter_with_ndimage(frames, kernel: np.ndarray, *, ndimage):
    """`filter_frames` through an ndimage namespace (``scipy.ndimage`` or ``cupyx.scipy.ndimage``) for frames
    of its array type: a correlation of each frame with ``kernel`` (gSiz, gSiz) and OpenCV's mirrored borders
    (``BORDER_REFLECT``, ndimage's ``"reflect"``). Equal to OpenCV's result up to float32 rounding."""
    xp = _backend.namespace_of(frames)
    weights = xp.asarray(kernel, dtype=xp.float32)[None]
    return ndimage.correlate(frames, weights, mode="reflect").astype(xp.float32, copy=False)


def filter_image(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One (h, w) float32 image filtered like `filter_frames`."""
    return cv2.filter2D(image.astype(np.float32), cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT)


def negative_noise(centered: np.ndarray) -> np.ndarray:
    """(…) float32 noise standard deviation of each pixel of ``centered`` (T, …), median-removed traces.

    The root mean square of the negative values: transients are positive, so only noise falls below the
    median; for Gaussian noise this is the noise standard deviation.
    """
    xp = _backend.namespace_of(centered)
    negative = xp.minimum(centered, 0.0)
    count = xp.maximum((centered < 0).sum(axis=0), 1)
    return xp.sqrt(xp.einsum("t...,t...->...", negative, negative) / count).astype(xp.float32)


def seed_noise(centered: np.ndarray) -> np.ndarray:
    """(h, w) float32 noise standard deviation of each pixel of ``centered`` (T, h, w), median-removed filtered
    frames, as the seeds are scored against: `negative_noise`, at most ``NOISE_CAP`` times its median over
    the pixels with noise (those of the patch).

    The negative values measure noise only while the median is the pixel's baseline. A cell active most of the
    time lifts its pixels' median above their baseline, so its own decays fall below the median and pass for
    noise (and the seed filter's negative surround puts its transients, inverted, below its neighbours'
    median): its peak-to-noise drops below that of far weaker cells (a two-photon cell with 15 times the
    patch's median noise and a PNR of 4 was never seeded). Noise so far above the rest of the patch is the
    pixel's own activity, and the cap keeps such a cell seeded; pixels of ordinary noise are left as they are.
    """
    xp = _backend.namespace_of(centered)
    noise = negative_noise(centered)
    measured = noise[noise > 0]
    if measured.size == 0:
        return noise
    return xp.minimum(noise, NOISE_CAP * xp.median(measured)).astype(xp.float32)


def peak_to_noise(centered: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(h, w) float32 peak over time of ``centered`` (T, h, w) divided by ``noise`` (h, w); 0 where noise is 0."""
    xp = _backend.namespace_of(centered)
    peak = centered.max(axis=0)
    return xp.where(noise > 0, peak / xp.where(noise > 0, noise, 1.0), 0.0).astype(xp.float32)


def local_correlation(centered: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(h, w) float32 mean temporal correlation of each pixel with its 8 neighbours.

    ``centered`` (T, h, w) median-removed filtered frames; values below ``CORR_THRESHOLD`` x ``noise`` are set to
    zero first (CNMF-E), so correlation comes from transients rather than noise.
    """
    xp = _backend.namespace_of(centered)
    data = xp.where(centered >= CORR_THRESHOLD * noise, centered, 0.0).astype(xp.float32)
    data -= data.mean(axis=0)
    norm = xp.sqrt(xp.einsum("thw,thw->hw", data, data))
    data /= xp.where(norm > 0, norm, 1.0)
    height, width = data.shape[1:]
    total = xp.zeros((height, width), dtype=xp.float32)
    count = xp.zeros((height, width), dtype=xp.float32)
    for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):  # each neighbour pair once, credited to both pixels
        ys, yd = slice(0, height - dy), slice(dy, height)
        xs, xd = (slice(0, width - dx), slice(dx, width)) if dx >= 0 else (slice(-dx, width), slice(0, width + dx))
        product = xp.einsum("thw,thw->hw", data[:, ys, xs], data[:, yd, xd])
        total[ys, xs] += product
        total[yd, xd] += product
        count[ys, xs] += 1.0
        count[yd, xd] += 1.0
    return (total / xp.maximum(count, 1.0)).astype(xp.float32)
