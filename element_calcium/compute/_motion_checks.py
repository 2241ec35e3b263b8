"""Argument checks of the motion-correction API: each raises ValueError naming the argument."""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _backend
from element_calcium.compute._motion_grid import PatchGrid


def frames(movie, name: str = "frames", first_index: int = 0):
    """``movie`` as a non-empty real (n, H, W) array without NaN or inf.

    ``first_index`` is the recording index of ``movie[0]``, used to name a bad frame.
    """
    if not hasattr(movie, "ndim"):
        movie = np.asarray(movie)
    if movie.ndim != 3:
        raise ValueError(f"{name} must be a 3-D (frames, height, width) array, got shape {tuple(movie.shape)}")
    if movie.shape[0] == 0:
        raise ValueError(f"{name} holds zero frames")
    if movie.dtype.kind not in "uif":
        raise ValueError(f"{name} must hold integer or float pixels, got dtype {movie.dtype}")
    if movie.dtype.kind == "f":
        xp = _backend.namespace_of(movie)
        finite = xp.isfinite(movie).all(axis=(1, 2))
        if not bool(finite.all()):
            bad = int(xp.flatnonzero(~finite)[0])
            raise ValueError(f"{name}: frame {first_index + bad} contains NaN or infinite values")
    return movie


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


def positive_int(value, name: str) -> int:
    """An integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def shifts(values, n_frames: int, grid: PatchGrid | None, name: str = "shifts") -> np.ndarray:
    """Finite (n, 2) rigid shifts, or (n, ny, nx, 2) patch shifts on ``grid``, as float32."""
    values = np.asarray(_backend.to_numpy(values), dtype=np.float32)
    expected = (n_frames, 2) if grid is None else (n_frames, *grid.shape, 2)
    if values.shape != expected:
        raise ValueError(f"{name} must have shape {expected}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    return values
