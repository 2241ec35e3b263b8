"""CalSciPy's movie filters (median, Gaussian) run blockwise over frames on the CPU or a GPU.

A block of frames is filtered together with ``halo`` frames on each side, the reach of the filter along time,
and only the block's own frames are kept, so the result equals the filter applied to the whole movie at once
(scipy.ndimage's "reflect" boundary at the movie's first and last frames) while only one block and its halo
are in memory on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import numpy as np

from element_calcium.compute import _backend, _checks


def _three_sizes(value, name: str) -> tuple[int, int, int]:
    """``value`` (an int, or one per axis: frames, height, width) as three ints >= 1."""
    sizes = (value,) * 3 if isinstance(value, Integral) else tuple(value) if np.ndim(value) == 1 else ()
    if len(sizes) != 3 or any(isinstance(s, bool) or not isinstance(s, Integral) or s < 1 for s in sizes):
        raise ValueError(f"{name} must be an integer >= 1 or three of them (frames, height, width), got {value!r}")
    return tuple(int(s) for s in sizes)


def _three_sigmas(value) -> tuple[float, float, float]:
    """``sigma`` (a number, or one per axis: frames, height, width) as three finite floats >= 0."""
    sigmas = (value,) * 3 if isinstance(value, Real) else tuple(value) if np.ndim(value) == 1 else ()
    if len(sigmas) != 3 or any(isinstance(s, bool) or not isinstance(s, Real) or not 0 <= s < np.inf
                               for s in sigmas):
        raise ValueError(f"sigma must be a number >= 0 or three of them (frames, height, width), got {value!r}")
    return tuple(float(s) for s in sigmas)


def _output(out, shape: tuple[int, ...]):
    """The array the result is written to: ``out`` when given (checked), else a new float32 array."""
    if out is None:
        return np.empty(shape, dtype=np.float32)
    if tuple(getattr(out, "shape", ())) != shape:
        raise ValueError(f"out must have the movie's shape {shape}, got {getattr(out, 'shape', None)}")
    return out


def _filter_blockwise(movie, filter_block: Callable, *, halo: int, block_frames: int, device: str, out):
    """``filter_block(xp, block)`` over ``block_frames`` frames at a time, each read with ``halo`` extra frames on
    either side, written to ``out`` (or a new float32 array) as NumPy."""
    if not hasattr(movie, "shape") or len(movie.shape) != 3:
        shape = getattr(movie, "shape", None)
        raise ValueError(f"movie must be a 3-D (frames, height, width) array, got shape {shape}")
    block_frames = _checks.integer(block_frames, "block_frames", unit="frames")
    shape = tuple(int(n) for n in movie.shape)
    result = _output(out, shape)
    xp = _backend.get_xp(device)
    for start in range(0, shape[0], block_frames):
        stop = min(start + block_frames, shape[0])
        first, last = max(0, start - halo), min(shape[0], stop + halo)
        block = _checks.frames(np.asarray(movie[first:last]), "movie", first_index=first)
        filtered = filter_block(xp, xp.asarray(_backend.to_device(block, device), dtype=xp.float32))
        result[start:stop] = _backend.to_numpy(filtered[start - first : stop - first])
    return result


def median_filter(movie, *, window=(3, 3, 3), block_frames: int = 256, device: str = "auto", out=None):
    """Median of each pixel's (frames, height, width) neighbourhood (CalSciPy's ``median_filter``).

    Args:
        movie: (T, H, W) array-like with NumPy slicing (ndarray, memmap, zarr), real pixels, any units.
        window: neighbourhood size, one int for all axes or (frames, height, width); a box of ones as
            CalSciPy's footprint.
        block_frames: frames filtered per block: the memory bound, with window[0] // 2 halo frames per side.
        device: "auto", "cpu" or "cuda".
        out: optional (T, H, W) array (e.g. a memmap) the result is written into.

    Returns:
        ``out``, or a new float32 (T, H, W) NumPy array: scipy.ndimage.median_filter(movie, size=window)
        ("reflect" boundaries).
    """
    sizes = _three_sizes(window, "window")

    def filter_block(xp, block):
        return _backend.ndimage_namespace(xp).median_filter(block, size=sizes, mode="reflect")

    return _filter_blockwise(movie, filter_block, halo=sizes[0] // 2, block_frames=block_frames, device=device,
                             out=out)


def gaussian_filter(movie, *, sigma=1.0, truncate: float = 4.0, block_frames: int = 256, device: str = "auto",
                    out=None):
    """Gaussian smoothing of a movie over frames and pixels (CalSciPy's ``gaussian_filter``).

    Args:
        movie: (T, H, W) array-like with NumPy slicing (ndarray, memmap, zarr), real pixels, any units.
        sigma: standard deviation, one number for all axes or (frames, height, width), in frames and pixels;
            0 leaves an axis unsmoothed.
        truncate: the kernel reaches ``truncate`` standard deviations each side (scipy's default 4).
        block_frames: frames filtered per block: the memory bound, with int(truncate x sigma_frames + 0.5) halo
            frames per side.
        device: "auto", "cpu" or "cuda".
        out: optional (T, H, W) array (e.g. a memmap) the result is written into.

    Returns:
        ``out``, or a new float32 (T, H, W) NumPy array: scipy.ndimage.gaussian_filter(movie, sigma, truncate=
        truncate) ("reflect" boundaries).
    """
    sigmas = _three_sigmas(sigma)
    truncate = _checks.positive_number(truncate, "truncate")

    def filter_block(xp, block):
        return _backend.ndimage_namespace(xp).gaussian_filter(block, sigma=sigmas, truncate=truncate,
                                                               mode="reflect")

    return _filter_blockwise(movie, filter_block, halo=int(truncate * sigmas[0] + 0.5), block_frames=block_frames,
                             device=device, out=out)
