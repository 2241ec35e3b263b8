"""Similarity transforms between fields of view, and resampling of images and footprints through them.

A transform is a (2, 3) float64 affine matrix ``A`` acting on (y, x, 1): a reference pixel p lies at ``A p`` in
the session. A similarity is ``A p = scale * R(rotation) (p - c) + c + shift`` about the frame centre
``c = ((H - 1) / 2, (W - 1) / 2)`` with ``R(a) = [[cos a, -sin a], [sin a, cos a]]`` on (y, x).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import sparse


def similarity_matrix(rotation_deg: float, scale: float, shift, frame_shape) -> np.ndarray:
    """(2, 3) float64 transform of a rotation (degrees), a scale and a (y, x) shift (pixels) about the centre of
    frames of ``frame_shape`` (H, W)."""
    angle = math.radians(rotation_deg)
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    center = (np.asarray(frame_shape, dtype=np.float64) - 1) / 2
    return np.hstack([linear, (center - linear @ center + np.asarray(shift, dtype=np.float64))[:, None]])


def decompose(matrix: np.ndarray, frame_shape) -> tuple[float, float, np.ndarray]:
    """Rotation (degrees), scale and (y, x) shift (pixels) of a similarity ``matrix`` (`similarity_matrix`'s
    inverse; the closest similarity for any other affine matrix)."""
    linear = matrix[:, :2]
    scale = math.sqrt(abs(np.linalg.det(linear)))
    rotation = math.degrees(math.atan2(linear[1, 0] - linear[0, 1], linear[0, 0] + linear[1, 1]))
    center = (np.asarray(frame_shape, dtype=np.float64) - 1) / 2
    return rotation, scale, matrix[:, 2] - center + linear @ center


def apply(matrix: np.ndarray, points) -> np.ndarray:
    """(N, 2) points (y, x) mapped by ``matrix``."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse transform, (2, 3)."""
    inverse = np.linalg.inv(matrix[:, :2])
    return np.hstack([inverse, (-inverse @ matrix[:, 2])[:, None]])


def fit_similarity(source, target, weights=None) -> np.ndarray:
    """Least-squares similarity (2, 3) mapping (N, 2) ``source`` points onto ``target`` points (Umeyama, 1991),
    each pair weighted by ``weights`` (N,) (default 1). Needs N >= 2 distinct points."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    weights = np.ones(len(source)) if weights is None else np.asarray(weights, np.float64)
    weights = weights / weights.sum()
    mean_source, mean_target = weights @ source, weights @ target
    centred_source, centred_target = source - mean_source, target - mean_target
    covariance = (centred_target * weights[:, None]).T @ centred_source
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    variance = weights @ (centred_source**2).sum(axis=1)
    scale = float(np.trace(np.diag(singular) @ sign) / variance)
    linear = scale * rotation
    return np.hstack([linear, (mean_target - linear @ mean_source)[:, None]])


def coordinate_map(matrix: np.ndarray, frame_shape, displacement=None) -> np.ndarray:
    """(H, W, 2) float64 session position (y, x) of every reference pixel: ``A (p + displacement(p))``.

    displacement: (H, W, 2) (y, x) pixels in the reference frame (piecewise alignment) or None.
    """
    yy, xx = np.meshgrid(np.arange(frame_shape[0], dtype=np.float64), np.arange(frame_shape[1], dtype=np.float64),
                         indexing="ij")
    points = np.stack([yy, xx], axis=-1)
    if displacement is not None:
        points = points + displacement
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_image(image: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """(H, W) float32 image resampled at (H, W, 2) session ``coordinates`` (bilinear; outside: edge value)."""
    return cv2.remap(np.asarray(image, dtype=np.float32), coordinates[..., 1].astype(np.float32),
                     coordinates[..., 0].astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_affine(image: np.ndarray, matrix: np.ndarray, out_shape) -> np.ndarray:
    """(H, W) float32 image resampled at ``matrix`` p for every pixel p of an ``out_shape`` frame (bilinear;
    outside: NaN)."""
    xy_matrix = matrix[::-1][:, [1, 0, 2]]  # OpenCV's matrices act on (x, y)
    return cv2.warpAffine(np.asarray(image, dtype=np.float32), xy_matrix, (int(out_shape[1]), int(out_shape[0])),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float("nan"))


def inside_mask(coordinates: np.ndarray, source_shape) -> np.ndarray:
    """(H, W) bool: reference pixels whose session position lies inside a frame of ``source_shape``."""
    return ((coordinates >= 0) & (coordinates <= np.asarray(source_shape, dtype=np.float64) - 1)).all(axis=-1)


def sampling_matrix(coordinates: np.ndarray, source_shape) -> sparse.csr_array:
    """(H * W, h * w) float32 sparse bilinear interpolation: row p holds the weights of the source pixels around
    ``coordinates[p]``; positions outside the source get no weight."""
    height, width = source_shape
    flat = coordinates.reshape(-1, 2)
    base = np.floor(flat).astype(np.int64)
    fraction = flat - base
    rows, columns, values = [], [], []
    for dy in (0, 1):
        for dx in (0, 1):
            y, x = base[:, 0] + dy, base[:, 1] + dx
            weight = (fraction[:, 0] if dy else 1 - fraction[:, 0]) * (fraction[:, 1] if dx else 1 - fraction[:, 1])
            keep = (y >= 0) & (y < height) & (x >= 0) & (x < width) & (weight > 0)
            rows.append(np.flatnonzero(keep))
            columns.append(y[keep] * width + x[keep])
            values.append(weight[keep])
    return sparse.csr_array((np.concatenate(values).astype(np.float32), (np.concatenate(rows),
                                                                          np.concatenate(columns))),
                            shape=(len(flat), height * width))
