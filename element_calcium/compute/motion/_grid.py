"""The patch grid of piecewise-rigid registration and the smooth per-pixel field of patch shifts."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
from scipy.interpolate import CubicSpline

from element_calcium.compute import _backend


@dataclass(frozen=True)
class PatchGrid:
    """Overlapping rectangular patches tiling a frame.

    Attributes:
        frame_shape: (H, W) pixels.
        size: (ph, pw) pixels of every patch (strides + overlaps).
        origins_y: (ny,) int row of each patch row's top edge; the last patches sit flush with the
            bottom edge.
        origins_x: (nx,) int column of each patch column's left edge; likewise flush on the right.
    """

    frame_shape: tuple[int, int]
    size: tuple[int, int]
    origins_y: np.ndarray
    origins_x: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx) patches."""
        return len(self.origins_y), len(self.origins_x)

    @property
    def origins(self) -> np.ndarray:
        """(ny, nx, 2) int (y0, x0) of each patch."""
        yy, xx = np.meshgrid(self.origins_y, self.origins_x, indexing="ij")
        return np.stack([yy, xx], axis=-1)

    @property
    def centers(self) -> np.ndarray:
        """(ny, nx, 2) float (y, x) centre of each patch in pixels."""
        return self.origins + (np.asarray(self.size) - 1) / 2.0


def _axis_origins(length: int, size: int, stride: int) -> np.ndarray:
    origins = list(range(0, length - size + 1, stride))
    if origins[-1] + size < length:
        origins.append(length - size)
    return np.asarray(origins, dtype=np.int64)


def patch_grid(frame_shape: tuple[int, int], *, strides: tuple[int, int], overlaps: tuple[int, int]) -> PatchGrid:
    """The patches of (H, W) frames: size strides + overlaps, origins every stride, the last flush.

    Raises:
        ValueError: a frame is smaller than one patch.
    """
    height, width = (int(v) for v in frame_shape)
    size = (int(strides[0]) + int(overlaps[0]), int(strides[1]) + int(overlaps[1]))
    if height < size[0] or width < size[1]:
        raise ValueError(
            f"frames of {height} x {width} pixels are smaller than one piecewise-rigid patch of {size[0]} x {size[1]} "
            f"(strides + overlaps); lower strides/overlaps or set pw_rigid to false"
        )
    return PatchGrid(
        frame_shape=(height, width),
        size=size,
        origins_y=_axis_origins(height, size[0], int(strides[0])),
        origins_x=_axis_origins(width, size[1], int(strides[1])),
    )


def extract_patches(frames, grid: PatchGrid, xp: ModuleType):
    """(n, ny, nx, ph, pw) copy of every patch of (n, H, W) frames."""
    rows = xp.asarray(grid.origins_y[:, None] + np.arange(grid.size[0])[None, :])  # (ny, ph)
    cols = xp.asarray(grid.origins_x[:, None] + np.arange(grid.size[1])[None, :])  # (nx, pw)
    return frames[:, rows[:, None, :, None], cols[None, :, None, :]]


def _axis_weights(length: int, centers: np.ndarray, upsample: int) -> np.ndarray:
    """(length, n) weights taking n values at patch ``centers`` to every pixel of an axis.

    A natural cubic spline through the patch centres is sampled on a grid ``upsample`` times
    finer than the patches, then interpolated linearly to each pixel; constant beyond the outer
    patch centres.
    """
    n = len(centers)
    if n == 1:
        return np.ones((length, 1), dtype=np.float32)
    nodes = np.linspace(centers[0], centers[-1], (n - 1) * upsample + 1)
    spline = CubicSpline(centers, np.eye(n), bc_type="natural")(nodes)  # (n_nodes, n)
    position = np.clip(np.arange(length, dtype=np.float64), centers[0], centers[-1])
    upper = np.clip(np.searchsorted(nodes, position, side="right"), 1, len(nodes) - 1)
    fraction = (position - nodes[upper - 1]) / (nodes[upper] - nodes[upper - 1])
    weights = (1.0 - fraction)[:, None] * spline[upper - 1] + fraction[:, None] * spline[upper]
    return weights.astype(np.float32)


def field_weights(grid: PatchGrid, upsample: int, xp: ModuleType):
    """Row and column weights (H, ny), (W, nx) float32: ``field = Wy @ patch_values @ Wx.T``."""
    centers = grid.centers
    weights_y = _axis_weights(grid.frame_shape[0], centers[:, 0, 0], upsample)
    weights_x = _axis_weights(grid.frame_shape[1], centers[0, :, 1], upsample)
    return xp.asarray(weights_y), xp.asarray(weights_x)


def shift_fields(patch_shifts, weights, xp: ModuleType):
    """Motion of every pixel from the motion of the patches.

    patch_shifts: (n, ny, nx, 2) (dy, dx) pixels; weights: `field_weights` of the grid.
    Returns the (n, H, W) float32 y and x fields.
    """
    weights_y, weights_x = weights
    patch_shifts = xp.asarray(patch_shifts, dtype=xp.float32)
    return tuple(
        _backend.matmul(_backend.matmul(weights_y, patch_shifts[..., axis]), weights_x.T) for axis in (0, 1)
    )
