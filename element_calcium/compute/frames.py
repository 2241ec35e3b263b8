"""Frame sources: how a recording reaches the compute functions, which open no files.

A movie is handed over as a function that reads part of it, never as a path:

- `ReadFrames`: ``read_frames(start, stop)`` returns frames ``start <= t < stop`` as a (stop - start, H, W)
  array of integers or floats. ``readers.Movie.read`` fits, and so does the ``read`` of a motion-corrected
  movie in the results files. `motion.correct_motion` and `events.detect_spatial_events` take one.
- `ReadRegion`: ``read_region(start, stop, y0, y1, x0, x1)`` returns those frames of the region
  ``y0 <= y < y1``, ``x0 <= x < x1`` as a (stop - start, y1 - y0, x1 - x0) array of any real dtype.
  `cnmf.extract_sources` takes one.

A source's exceptions propagate unchanged. `checked_frames` and `checked_region` call a source and refuse
what does not fit the protocol, naming the call.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from element_calcium.compute import _checks

__all__ = ["ReadFrames", "ReadRegion", "checked_frames", "checked_region"]


class ReadFrames(Protocol):
    """``read_frames(start, stop)``: frames ``start <= t < stop`` as a (stop - start, H, W) real array."""

    def __call__(self, start: int, stop: int) -> np.ndarray: ...


class ReadRegion(Protocol):
    """``read_region(start, stop, y0, y1, x0, x1)``: frames ``start <= t < stop`` of the region
    ``y0 <= y < y1``, ``x0 <= x < x1`` as a (stop - start, y1 - y0, x1 - x0) real array."""

    def __call__(self, start: int, stop: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray: ...


def checked_frames(read_frames: ReadFrames, start: int, stop: int, frame_shape: tuple[int, int] | None = None):
    """``read_frames(start, stop)``, checked: (stop - start, H, W), real, finite (NumPy or CuPy as returned).

    Args:
        read_frames: the source.
        start, stop: frames ``start <= t < stop``.
        frame_shape: (H, W) pixels the frames must have; None: any.

    Raises:
        ValueError: the wrong shape, a non-real dtype, or NaN / infinite values (the first such frame named).
    """
    chunk = read_frames(start, stop)
    if not hasattr(chunk, "ndim"):
        chunk = np.asarray(chunk)
    shape = tuple(chunk.shape)
    if len(shape) != 3 or shape[0] != stop - start or (frame_shape is not None and shape[1:] != frame_shape):
        size = "H, W" if frame_shape is None else f"{frame_shape[0]}, {frame_shape[1]}"
        raise ValueError(f"read_frames({start}, {stop}) returned shape {shape}, expected ({stop - start}, {size})")
    return _checks.frames(chunk, f"read_frames({start}, {stop})", start)


def checked_region(read_region: ReadRegion, start: int, stop: int, region: tuple[int, int, int, int]) -> np.ndarray:
    """``read_region(start, stop, *region)`` as a NumPy array of shape (stop - start, y1 - y0, x1 - x0).

    Args:
        read_region: the source.
        start, stop: frames ``start <= t < stop``.
        region: (y0, y1, x0, x1) pixels, ends exclusive.

    Raises:
        ValueError: the block has another shape.
    """
    y0, y1, x0, x1 = region
    block = np.asarray(read_region(start, stop, y0, y1, x0, x1))
    if block.shape != (stop - start, y1 - y0, x1 - x0):
        raise ValueError(f"read_region({start}, {stop}, {y0}, {y1}, {x0}, {x1}) returned shape {block.shape}, "
                         f"expected {(stop - start, y1 - y0, x1 - x0)}")
    return block
