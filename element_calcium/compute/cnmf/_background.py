"""CNMF-E ring background model on a spatially downsampled grid.

The background of a pixel is a constant ``b0`` plus a fluctuation predicted, frame by frame, from the
residual (movie minus components minus ``b0``) on a ring around it:

    B_t = b0 + up(W down(Y_t - A C_t - b0))

``down`` averages ``SSUB`` x ``SSUB`` blocks, ``up`` interpolates linearly back to full size. Each row of the
sparse ``W`` holds the ridge-regression weights of one coarse pixel on ``RING_POINTS`` coarse pixels evenly
spaced in angle on a circle of radius ``ring_size_factor * gSiz / 2`` (full-size pixels) around it: beyond a
cell's own footprint, so a cell's activity is not taken for background. Frames are averaged in blocks down to
at most ``FIT_FRAMES`` for the fit (`fit_frames`); the background varies slowly, so little is lost.

The ridge regressions of `fit` (a batched product and solve per block of pixels) run on ``xp``; the resizing
(OpenCV) and the sparse ``W`` stay on the CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import sparse

from element_calcium.compute import _backend

SSUB = 2
RING_POINTS = 32
FIT_FRAMES = 500
_RIDGE = 1e-3  # ridge penalty relative to the mean diagonal of each pixel's ring Gram matrix
_PIXEL_CHUNK = 256


@dataclass
class RingModel:
    """A fitted ring model of an (h, w) patch.

    Attributes:
        shape: (h, w) full-size patch shape.
        coarse_shape: (h', w') downsampled shape.
        weights: (h' w', h' w') float32 CSR ring weights W.
    """

    shape: tuple[int, int]
    coarse_shape: tuple[int, int]
    weights: sparse.csr_array


def coarse_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """(h', w') of the downsampled grid of an (h, w) patch."""
    return math.ceil(shape[0] / SSUB), math.ceil(shape[1] / SSUB)


def downsample(frames: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, h, w) float32 frames averaged over SSUB x SSUB blocks: (n, h' w') float32."""
    target = coarse_shape(shape)
    out = np.empty((len(frames), *target), dtype=np.float32)
    for frame, small in zip(frames, out):
        cv2.resize(frame, (target[1], target[0]), dst=small, interpolation=cv2.INTER_AREA)
    return out.reshape(len(frames), -1)


def upsample(coarse: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, h' w') float32 coarse frames interpolated linearly to (n, h * w) float32."""
    small = coarse_shape(shape)
    out = np.empty((len(coarse), *shape), dtype=np.float32)
    for frame, big in zip(coarse, out):
        cv2.resize(frame.reshape(small), (shape[1], shape[0]), dst=big, interpolation=cv2.INTER_LINEAR)
    return out.reshape(len(coarse), -1)


def ring_offsets(radius: float) -> np.ndarray:
    """(K, 2) distinct integer (dy, dx) coarse-pixel offsets on a circle of ``radius`` coarse pixels."""
    angles = np.linspace(0.0, 2 * np.pi, RING_POINTS, endpoint=False)
    offsets = np.round(np.stack([radius * np.sin(angles), radius * np.cos(angles)], axis=1)).astype(int)
    return np.unique(offsets, axis=0)


def fit_frames(n_frames: int) -> int:
    """Consecutive frames averaged into one for the fit: T frames become at most `FIT_FRAMES`."""
    return max(1, math.ceil(n_frames / FIT_FRAMES))


def fit(data: np.ndarray, shape: tuple[int, int], *, radius: float, xp) -> RingModel:
    """Fit W on ``data`` (n, h' w') float32 coarse residual frames (movie - components - b0, downsampled),
    averaged over blocks of `fit_frames` frames.

    ``radius`` is the ring radius in full-size pixels; ``xp`` the array namespace of the regressions.
    """
    small = coarse_shape(shape)
    n_pixels = small[0] * small[1]
    data = xp.asarray(data, dtype=xp.float32)
    data = xp.concatenate([data, xp.zeros((len(data), 1), dtype=xp.float32)], axis=1)  # column n_pixels: zero
    offsets = ring_offsets(max(radius / SSUB, 1.0))
    yy, xx = np.divmod(np.arange(n_pixels), small[1])
    ny = yy[:, None] + offsets[None, :, 0]
    nx = xx[:, None] + offsets[None, :, 1]
    inside = (ny >= 0) & (ny < small[0]) & (nx >= 0) & (nx < small[1])
    neighbours = np.where(inside, ny * small[1] + nx, n_pixels)
    weights = xp.zeros(neighbours.shape, dtype=xp.float32)
    ring_pixels = xp.asarray(neighbours)
    for start in range(0, n_pixels, _PIXEL_CHUNK):
        stop = min(start + _PIXEL_CHUNK, n_pixels)
        ring = data[:, ring_pixels[start:stop]].transpose(1, 2, 0)  # (c, K, T)
        gram = ring @ ring.transpose(0, 2, 1)
        target = ring @ data[:, start:stop].T[:, :, None]
        ridge = _RIDGE * xp.trace(gram, axis1=1, axis2=2) / gram.shape[1] + 1e-12
        gram += ridge[:, None, None] * xp.eye(gram.shape[1], dtype=xp.float32)
        weights[start:stop] = xp.linalg.solve(gram.astype(xp.float64), target.astype(xp.float64))[:, :, 0]
    weights = _backend.to_numpy(weights)
    weights[~inside] = 0.0
    rows = np.repeat(np.arange(n_pixels), neighbours.shape[1])
    matrix = sparse.csr_array(
        (weights.ravel(), (rows, np.minimum(neighbours, n_pixels - 1).ravel())), shape=(n_pixels, n_pixels)
    )
    matrix.eliminate_zeros()
    return RingModel(shape=shape, coarse_shape=small, weights=matrix.astype(np.float32))


def predict(model: RingModel, coarse_residual: np.ndarray) -> np.ndarray:
    """(n, h' w') float32 coarse background fluctuations ``W down(residual)`` of (n, h' w') coarse residuals."""
    return np.asarray((model.weights @ coarse_residual.T).T, dtype=np.float32)
