"""Input checks shared by the compute families: each raises ValueError naming the argument and what is wrong.

A number is Python's or NumPy's, never a bool (``True`` is not a count of frames). Checks that only one
family needs stay in that family (`motion._arguments`, ...).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from element_calcium.compute import _backend


def integer(value, name: str, minimum: int = 1, unit: str = "") -> int:
    """``value`` as an int >= ``minimum``; ``unit`` (e.g. ``"frames"``) is named in the message."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{f' {unit}' if unit else ''}, got {value!r}")
    return int(value)


def positive_number(value, name: str) -> float:
    """``value`` as a float: a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def fps(value) -> float:
    """A frame rate (frames per second) as a float: a finite number > 0."""
    return positive_number(value, "fps")


def traces(values, name: str, min_frames: int, ndims: tuple[int, ...] = (1, 2)) -> np.ndarray:
    """``values`` as a finite float64 (T,) or (N, T) array (the ranks in ``ndims``) of at least ``min_frames``
    frames."""
    array = np.asarray(values)
    if array.ndim not in ndims:
        shapes = " or ".join({1: "1-D (T,)", 2: "2-D (N, T)"}[n] for n in ndims)
        raise ValueError(f"{name} must be a {shapes} array, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if array.shape[-1] < min_frames:
        raise ValueError(f"{name} must have at least {min_frames} frames, got {array.shape[-1]}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def matrix(values, name: str, *, finite: bool = False) -> np.ndarray:
    """``values`` as a 2-D (cells, frames) array of real numbers, its dtype kept; NaN and infinite values
    refused when ``finite``."""
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (cells, frames) array, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def frames(movie, name: str = "frames", first_index: int = 0):
    """``movie`` (NumPy or CuPy) as a non-empty real (n, H, W) array without NaN or inf.

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
