"""Argument checks of the motion-correction API: each raises ValueError naming the argument.

The checks other families share (frames, integers) are in `element_calcium.compute._checks`.
"""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _backend
from element_calcium.compute.motion._grid import PatchGrid


def template(image, frame_shape: tuple[int, int], name: str = "template") -> np.ndarray:
    """``image`` as a finite (H, W) float32 NumPy array matching the frames."""
    image = np.asarray(_backend.to_numpy(image), dtype=np.float32)
    if image.shape != tuple(frame_shape):
        raise ValueError(f"{name} must be one frame of shape {tuple(frame_shape)}, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return image


def max_shift(value: float, shape: tuple[int, int], name: str = "max_shift") -> float:
    """A shift bound > 0 and less than half the smaller side of ``shape``."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0 pixels, got {value}")
    if value >= min(shape) / 2:
        raise ValueError(
            f"{name}={value} px must be less than half the smaller side of a {shape[0]} x {shape[1]} image"
        )
    return float(value)


def max_deviation(value: float, grid: PatchGrid, name: str = "max_deviation") -> float:
    """A patch-shift bound >= 0 and less than half the smaller patch side."""
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 pixels, got {value}")
    if value >= min(grid.size) / 2:
        raise ValueError(f"{name}={value} px must be less than half the smaller side of a patch {grid.size}")
    return float(value)


def shifts(values, n_frames: int, grid: PatchGrid | None, name: str = "shifts") -> np.ndarray:
    """Finite (n, 2) rigid shifts, or (n, ny, nx, 2) patch shifts on ``grid``, as float32."""
    values = np.asarray(_backend.to_numpy(values), dtype=np.float32)
    expected = (n_frames, 2) if grid is None else (n_frames, *grid.shape, 2)
    if values.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return values
