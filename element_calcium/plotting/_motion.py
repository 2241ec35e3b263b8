"""Figures of motion correction: the shifts over time and the summary images."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from element_calcium.plotting._common import axes_for, check_array, check_fps, robust_limits


def plot_motion(y_shifts, x_shifts, *, fps=None, outlier_frames=None, block_y_shifts=None, block_x_shifts=None,
                axes=None) -> Figure:
    """Motion estimates over time: the rigid (y, x) shifts, and the non-rigid block shifts when given.

    Args:
        y_shifts, x_shifts: (T,) rigid shift of each frame, pixels.
        fps: frame rate, frames per second: the x axis is in seconds; None plots frame numbers.
        outlier_frames: frames to mark on the curves (e.g. failed registrations): (T,) booleans or 0-based
            frame indices.
        block_y_shifts, block_x_shifts: (B, T) shifts of B blocks per frame (piecewise-rigid registration),
            pixels; both or neither. Each is shown as a blocks x time image with a colour scale centred on 0.
        axes: one Axes (rigid only) or three (rigid, block y, block x); None makes a new figure.

    Returns:
        The Figure.
    """
    y = check_array("y_shifts", y_shifts, "(T,)", ndim=1)
    x = check_array("x_shifts", x_shifts, "(T,)", ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"x_shifts has {x.size} frames but y_shifts has {y.size}")
    times = np.arange(y.size) / (1.0 if fps is None else check_fps(fps))
    blocks = _block_shifts(block_y_shifts, block_x_shifts, y.size)
    count = 1 if blocks is None else 3
    figure, axes = axes_for(axes, count, name="axes", figsize=(10, 3 if count == 1 else 7), vertical=True,
                            ratios=[2, 1, 1][:count], sharex=True)
    rigid = axes[0]
    rigid.plot(times, y, label="y", color="tab:blue", linewidth=0.8)
    rigid.plot(times, x, label="x", color="tab:orange", linewidth=0.8)
    outliers = _frames("outlier_frames", outlier_frames, y.size)
    if outliers.size:
        rigid.plot(np.concatenate([times[outliers]] * 2), np.concatenate([y[outliers], x[outliers]]),
                   linestyle="none", marker="x", color="tab:red", label="outlier")
    rigid.set_ylabel("shift (px)")
    rigid.legend(loc="upper right", fontsize="small")
    if blocks is not None:
        limit = max(float(np.abs(blocks).max()), 1e-6)
        half = 0.5 * (times[1] - times[0]) if times.size > 1 else 0.5
        for ax, shifts, axis in zip(axes[1:], blocks, "yx"):
            shown = ax.imshow(shifts, aspect="auto", interpolation="nearest", cmap="RdBu_r", vmin=-limit,
                              vmax=limit, extent=[times[0] - half, times[-1] + half, len(shifts) - 0.5, -0.5])
            figure.colorbar(shown, ax=ax, label=f"{axis} shift (px)")
            ax.set_ylabel("block")
    axes[-1].set_xlabel("frame" if fps is None else "time (s)")
    return figure


def _block_shifts(block_y, block_x, n_frames: int) -> np.ndarray | None:
    if block_y is None and block_x is None:
        return None
    if block_y is None or block_x is None:
        raise ValueError("block_y_shifts and block_x_shifts must be given together")
    y = check_array("block_y_shifts", block_y, "(B, T)", ndim=2)
    x = check_array("block_x_shifts", block_x, "(B, T)", ndim=2)
    if y.shape[1] != n_frames or x.shape != y.shape:
        raise ValueError(f"block shifts must both be (B, T) with T = {n_frames}, got {y.shape} and {x.shape}")
    return np.stack([y, x])


def _frames(name: str, frames, n_frames: int) -> np.ndarray:
    """Frame indices from None, (T,) booleans or indices in 0..T-1."""
    if frames is None:
        return np.empty(0, dtype=np.int64)
    frames = np.asarray(frames)
    if frames.dtype == bool:
        if frames.shape != (n_frames,):
            raise ValueError(f"{name} as booleans must have shape ({n_frames},), got {frames.shape}")
        return np.flatnonzero(frames)
    if frames.ndim != 1 or (frames.size and (frames.dtype.kind not in "iu" or frames.min() < 0
                                             or frames.max() >= n_frames)):
        raise ValueError(f"{name} must be (T,) booleans or frame indices in 0..{n_frames - 1}, got {frames!r}")
    return frames.astype(np.int64)


def plot_summary_images(images: Mapping[str, np.ndarray], *, axes=None, cmap="gray") -> Figure:
    """Summary images side by side (e.g. average, max, correlation, peak-to-noise), each with its own
    robust colour range (1st to 99.5th percentile) and colour bar.

    Args:
        images: title -> (H, W) image; NaN pixels are left blank.
        axes: one Axes per image; None makes a new figure.
        cmap: colour map.

    Returns:
        The Figure.
    """
    if not isinstance(images, Mapping) or not images:
        raise ValueError("images must be a non-empty mapping of title -> (H, W) image")
    checked = {title: check_array(f"images[{title!r}]", image, "(H, W)", ndim=2, finite=False)
               for title, image in images.items()}
    figure, axes = axes_for(axes, len(checked), name="axes", figsize=(3.4 * len(checked), 3.4))
    for ax, (title, image) in zip(axes, checked.items()):
        low, high = robust_limits(image)
        shown = ax.imshow(np.ma.masked_invalid(image), cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
        figure.colorbar(shown, ax=ax, shrink=0.8)
        ax.set_title(str(title))
        ax.set_axis_off()
    return figure
