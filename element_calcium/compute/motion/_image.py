"""Per-frame image operations of motion correction: high-pass filter, compression, border taper, warps.

Each takes and returns float32 arrays of the namespace ``xp``: OpenCV does the work on NumPy
arrays, ``cupyx.scipy.ndimage`` and array operations on CuPy arrays. Warps use OpenCV's cubic
convolution (Keys, a = -0.75) or linear interpolation on both devices, and replicate the border
pixels into the area a shift uncovers.
"""

from __future__ import annotations

from types import ModuleType

import cv2
import numpy as np

from element_calcium.compute import _backend

OUTER_SIGMA_RATIO = 4.0  # the high-pass filter's outer Gaussian is this many times wider than its inner one
_CV_INTERPOLATION = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
_CUBIC_A = -0.75  # OpenCV's cubic convolution kernel
_COMPRESS_STEP = 4  # `compress` measures a frame's median and spread on every 4th pixel along each axis


def highpass(frames, sigma: float, xp: ModuleType):
    """Difference of Gaussians ``G(sigma) * f - G(OUTER_SIGMA_RATIO * sigma) * f`` of each frame.

    frames: (n, H, W) float32; sigma in pixels. Borders are mirrored (reflect-101); Gaussian
    kernels reach 4 sigma. Returns (n, H, W) float32 with the smooth background removed.
    """
    outer = OUTER_SIGMA_RATIO * sigma
    if xp is np:
        out = np.empty_like(frames)
        for frame, filtered in zip(frames, out):
            cv2.subtract(cv2.GaussianBlur(frame, (0, 0), sigma), cv2.GaussianBlur(frame, (0, 0), outer), filtered)
        return out
    ndimage = _backend.ndimage_namespace(xp)
    inner = ndimage.gaussian_filter(frames, (0, sigma, sigma), mode="mirror", truncate=4.0)
    return inner - ndimage.gaussian_filter(frames, (0, outer, outer), mode="mirror", truncate=4.0)


def compress(frames, scale: float, xp: ModuleType):
    """Each frame's values squashed smoothly: ``tanh((f - median) / (scale * MAD))``, in (-1, 1).

    frames: (n, H, W) float32 high-pass filtered frames; scale: the spread, in robust standard deviations
    (1.4826 x the median absolute deviation of the frame), at which values saturate. A cell flashing 50 times
    above the noise then weighs no more in a correlation than a faint but lasting edge, so the registration
    follows the tissue's structure rather than whichever cells are active. Returns (n, H, W) float32.
    """
    sample = frames[:, ::_COMPRESS_STEP, ::_COMPRESS_STEP].reshape(len(frames), -1)
    centre = xp.median(sample, axis=1)
    spread = 1.4826 * xp.median(xp.abs(sample - centre[:, None]), axis=1)
    spread = xp.where(spread > 0, spread, 1.0) * scale
    return xp.tanh((frames - centre[:, None, None]) / spread[:, None, None]).astype(xp.float32)


def taper(shape: tuple[int, int], xp: ModuleType):
    """(h, w) float32 border taper: the outer product of sine windows ``sin(pi (i + 1) / (n + 1))``."""
    windows = [np.sin(np.pi * np.arange(1, n + 1) / (n + 1)) for n in shape]
    return xp.asarray(np.outer(*windows).astype(np.float32))


def translate(frames, shifts, xp: ModuleType, *, interpolation: str = "cubic"):
    """Undo rigid motion: ``out[t](p) = frames[t](p + shifts[t])``.

    frames: (n, H, W) float32; shifts: (n, 2) (dy, dx) pixels, the motion of each frame.
    interpolation: "cubic" or "linear". Returns (n, H, W) float32.
    """
    if xp is np:
        out = np.empty_like(frames)
        height, width = frames.shape[1:]
        flags = _CV_INTERPOLATION[interpolation] | cv2.WARP_INVERSE_MAP
        for frame, (dy, dx), moved in zip(frames, np.asarray(shifts, dtype=np.float64), out):
            matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
            cv2.warpAffine(frame, matrix, (width, height), moved, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        return out
    shifts = xp.asarray(shifts, dtype=xp.float64)
    rows = xp.arange(frames.shape[1])[None, :, None] + shifts[:, 0, None, None]
    cols = xp.arange(frames.shape[2])[None, None, :] + shifts[:, 1, None, None]
    return _interpolate(frames, rows, cols, xp, interpolation)


def remap(frames, field_y, field_x, xp: ModuleType):
    """Undo non-rigid motion: ``out[t](p) = frames[t](p + field[t](p))``, cubic interpolation.

    frames, field_y, field_x: (n, H, W) float32; the fields are each pixel's motion (pixels).
    Returns (n, H, W) float32.
    """
    height, width = frames.shape[1:]
    rows = xp.arange(height, dtype=xp.float32)[:, None]
    cols = xp.arange(width, dtype=xp.float32)[None, :]
    if xp is not np:
        return _interpolate(frames, rows + field_y, cols + field_x, xp, "cubic")
    out = np.empty_like(frames)
    for t in range(len(frames)):
        cv2.remap(frames[t], cols + field_x[t], rows + field_y[t], cv2.INTER_CUBIC, out[t], cv2.BORDER_REPLICATE)
    return out


def _taps(position, size: int, interpolation: str, xp: ModuleType):
    """Samples that interpolate an axis of ``size`` pixels at ``position`` (pixels, any shape), as OpenCV does.

    Returns 4 (cubic) or 2 (linear) index arrays, edge pixels repeated beyond the axis, and their float32
    weights, each of the shape of ``position``.
    """
    base = xp.floor(position)
    t = position - base
    if interpolation == "linear":
        offsets, weights = (0, 1), [1 - t, t]
    else:
        a = _CUBIC_A
        weights = [
            ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
        ]
        offsets = (-1, 0, 1, 2)
        weights.append(1 - sum(weights))
    base = base.astype(xp.int32)
    return [xp.clip(base + offset, 0, size - 1) for offset in offsets], [w.astype(xp.float32) for w in weights]


def _interpolate(frames, rows, cols, xp: ModuleType, interpolation: str):
    """(n, H, W) float32 ``frames[t]`` sampled at (``rows``, ``cols``), pixel positions broadcasting to (n, H, W).

    OpenCV's interpolation (`_taps`) written with array operations, for the GPU.
    """
    row_index, row_weights = _taps(rows, frames.shape[1], interpolation, xp)
    col_index, col_weights = _taps(cols, frames.shape[2], interpolation, xp)
    frame = xp.arange(len(frames))[:, None, None]
    out = xp.zeros(frames.shape, dtype=xp.float32)
    for r, row_weight in zip(row_index, row_weights):
        for c, col_weight in zip(col_index, col_weights):
            out += row_weight * col_weight * frames[frame, r, c]
    return out
