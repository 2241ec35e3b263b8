"""Footprints as sparse (N, H * W) matrices: input checks, centroids, sizes, resampling into the reference."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from element_calcium.compute.registration import _transform


def as_sparse(footprints, frame_shape, name: str) -> sparse.csr_array:
    """``footprints`` ((N, H, W) array or (N, H * W) SciPy sparse matrix) as a float32 CSR (N, H * W) matrix.

    Raises:
        ValueError: wrong shape for ``frame_shape``, non-finite or negative weights, or an empty footprint.
    """
    height, width = frame_shape
    if sparse.issparse(footprints):
        if footprints.ndim != 2 or footprints.shape[1] != height * width:
            raise ValueError(f"{name} must be a sparse (cells, {height * width}) matrix for {height} x {width} "
                             f"frames, got shape {footprints.shape}")
        matrix = sparse.csr_array(footprints, dtype=np.float32)
    else:
        array = np.asarray(footprints)
        if array.ndim != 3 or array.shape[1:] != (height, width):
            raise ValueError(f"{name} must be a (cells, {height}, {width}) array, got shape {array.shape}")
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
        matrix = sparse.csr_array(array.reshape(len(array), -1).astype(np.float32))
    matrix.eliminate_zeros()
    if not np.isfinite(matrix.data).all() or (matrix.data < 0).any():
        raise ValueError(f"{name} holds negative, NaN or infinite weights; footprints are non-negative")
    empty = np.flatnonzero(np.diff(matrix.indptr) == 0)
    if empty.size:
        raise ValueError(f"{name}: footprint {int(empty[0])} has no pixel; leave empty footprints out")
    return matrix


def _pixel_grid(frame_shape) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.meshgrid(np.arange(frame_shape[0], dtype=np.float64), np.arange(frame_shape[1], dtype=np.float64),
                         indexing="ij")
    return yy.ravel(), xx.ravel()


def centroids(footprints: sparse.csr_array, frame_shape) -> np.ndarray:
    """(N, 2) float64 weighted centroid (y, x) of each footprint, pixels."""
    yy, xx = _pixel_grid(frame_shape)
    total = np.asarray(footprints.sum(axis=1), dtype=np.float64)
    return np.stack([footprints @ yy, footprints @ xx], axis=1) / np.maximum(total, 1e-12)[:, None]


def diameters(footprints: sparse.csr_array, frame_shape) -> np.ndarray:
    """(N,) float64 diameter of each footprint, pixels: 4 x the root-mean-square spread of its weights about the
    centroid along an axis (a Gaussian's 4 sigma; a flat disk's diameter)."""
    yy, xx = _pixel_grid(frame_shape)
    total = np.maximum(np.asarray(footprints.sum(axis=1), dtype=np.float64), 1e-12)
    center = centroids(footprints, frame_shape)
    second = (footprints @ (yy**2 + xx**2)) / total - (center**2).sum(axis=1)
    return 4.0 * np.sqrt(np.maximum(second, 0.0) / 2.0)


def normalised(footprints: sparse.csr_array) -> sparse.csr_array:
    """Each footprint scaled to unit L2 norm."""
    norms = np.sqrt(np.asarray(footprints.multiply(footprints).sum(axis=1), dtype=np.float64))
    return sparse.csr_array(sparse.diags_array(1.0 / np.maximum(norms, 1e-12)) @ footprints, dtype=np.float32)


def to_reference(footprints: sparse.csr_array, coordinates: np.ndarray, source_shape) -> sparse.csr_array:
    """Footprints of a session resampled onto the reference pixels whose session positions are ``coordinates``
    ((H, W, 2), `_transform.coordinate_map`); (N, H * W) float32, pixels below 1e-3 of a footprint's peak
    dropped."""
    sampling = _transform.sampling_matrix(coordinates, source_shape)
    moved = sparse.csr_array(footprints @ sampling.T, dtype=np.float32)
    peaks = moved.max(axis=1).toarray().ravel()
    rows = np.repeat(np.arange(moved.shape[0]), np.diff(moved.indptr))
    moved.data[moved.data < 1e-3 * peaks[rows]] = 0
    moved.eliminate_zeros()
    return moved
