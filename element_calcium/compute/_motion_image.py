"""Per-frame image operations of motion correction: high-pass filter, border taper, warps.

Each takes and returns float32 arrays of the namespace ``xp``: OpenCV does the work on NumPy
arrays, ``cupyx.scipy.ndimage`` on CuPy arrays. Warps use cubic interpolation (OpenCV's cubic
convolution on the CPU, cubic B-splines on the GPU) or linear interpolation, and replicate the
border pixels into the area a shift uncovers.
"""

from __future__ import annotations

from types import ModuleType

import cv2
import numpy as np

from element_calcium.compute import _backend

OUTER_SIGMA_RATIO = 4.0  # the high-pass filter's outer Gaussian is this many times wider than its inner one
_CV_INTERPOLATION = {"cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
_SPLINE_ORDER = {"cubic": 3, "linear": 1}


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
    ndimage = _backend.ndimage_namespace(xp)
    out = xp.empty_like(frames)
    host_shifts = _backend.to_numpy(shifts).astype(np.float64)
    for t, (dy, dx) in enumerate(host_shifts):
        ndimage.shift(frames[t], (-dy, -dx), out[t], order=_SPLINE_ORDER[interpolation], mode="nearest")
    return out


def remap(frames, field_y, field_x, xp: ModuleType):
    """Undo non-rigid motion: ``out[t](p) = frames[t](p + field[t](p))``, cubic interpolation.

    frames, field_y, field_x: (n, H, W) float32; the fields are each pixel's motion (pixels).
    Returns (n, H, W) float32.
    """
    height, width = frames.shape[1:]
    rows = xp.arange(height, dtype=xp.float32)[:, None]
    cols = xp.arange(width, dtype=xp.float32)[None, :]
    out = xp.empty_like(frames)
    if xp is np:
        for t in range(len(frames)):
            cv2.remap(frames[t], cols + field_x[t], rows + field_y[t], cv2.INTER_CUBIC, out[t], cv2.BORDER_REPLICATE)
        return out
    ndimage = _backend.ndimage_namespace(xp)
    for t in range(len(frames)):
        coordinates = xp.stack([rows + field_y[t], cols + field_x[t]])
        ndimage.map_coordinates(frames[t], coordinates, out[t], order=3, mode="nearest")
    return out
