"""Trace figures of `element_calcium.plotting` (stacked traces, raster, peri-event heatmaps, one cell, the
nearest-neighbour cell order).

Figures are built with the object-oriented API (`matplotlib.figure.Figure`), never pyplot, so they render
headless and in threads. Times are in seconds (frame / fps); row 0 of every cell axis is at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from element_calcium.plotting._common import axes_for, check_array, check_fps, check_ids, label_rows, robust_limits

_SPIKE_COLOR = "tab:red"
_SPIKE_TICK = 0.2  # length of a spike tick, as a fraction of the row spacing
_ROW_FILL = 1.1  # default row spacing: this times the largest range of one trace


def _spike_segments(spikes: np.ndarray, times: np.ndarray, base: float, length: float) -> list[np.ndarray]:
    """Vertical ticks from `base` down by `length` at every time where `spikes` > 0."""
    return [np.array([[t, base], [t, base - length]]) for t in times[spikes > 0]]


def _check_spikes(spikes, shape: tuple[int, ...]) -> np.ndarray | None:
    if spikes is None:
        return None
    spikes = check_array("spikes", spikes, str(shape), ndim=len(shape))
    if spikes.shape != shape:
        raise ValueError(f"spikes must have the shape of the traces {shape}, got {spikes.shape}")
    return spikes


# ---------------------------------------------------------------- stacked traces and cell order


def plot_traces(traces, *, fps, spikes=None, order=None, cell_ids=None, spacing=None, ax=None,
                color="k", linewidth: float = 0.6) -> Figure:
    """Traces stacked one row per cell, the first of `order` on top, with spikes as ticks under each row.

    Args:
        traces: (N, T) traces of N cells over T frames, e.g. dF/F (unitless). Each row is drawn relative to
            its median, so raw fluorescence stacks too.
        fps: frame rate, frames per second; the x axis is in seconds.
        spikes: (N, T) deconvolved spikes (>= 0); a tick under row n at each frame where spikes[n] > 0.
        order: (N,) permutation of 0..N-1 giving the rows from top to bottom (`nn_walk_order`); None keeps the
            input order.
        cell_ids: (N,) row labels; None labels rows 0..N-1.
        spacing: distance between rows, in trace units; None uses 1.1 x the largest range (median to
            99.5th percentile) of one trace.
        ax: axes to draw into; None makes a new figure.
        color, linewidth: of the traces.

    Returns:
        The Figure. The traces are one LineCollection of N lines (gid "traces"), the spikes another (gid
        "spikes").
    """
    traces = check_array("traces", traces, "(N, T)", ndim=2)
    fps = check_fps(fps)
    spikes = _check_spikes(spikes, traces.shape)
    n_cells, n_frames = traces.shape
    order = _check_order(order, n_cells)
    ids = check_ids("cell_ids", cell_ids, n_cells)
    centred = traces - np.median(traces, axis=1, keepdims=True)
    spacing = _row_spacing(centred) if spacing is None else _positive("spacing", spacing)
    times = np.arange(n_frames) / fps
    offsets = (n_cells - 1 - np.arange(n_cells)) * spacing  # row r of the figure, top first
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(10, min(2 + 0.3 * n_cells, 12)))
    lines = [np.column_stack((times, centred[cell] + offset)) for cell, offset in zip(order, offsets)]
    ax.add_collection(LineCollection(lines, colors=color, linewidths=linewidth, gid="traces"))
    if spikes is not None:
        ticks = [tick for cell, offset in zip(order, offsets)
                 for tick in _spike_segments(spikes[cell], times, offset - 0.05 * spacing, _SPIKE_TICK * spacing)]
        ax.add_collection(LineCollection(ticks, colors=_SPIKE_COLOR, linewidths=0.8, gid="spikes"))
    ax.autoscale_view()
    ax.set_xlim(0, times[-1] if n_frames > 1 else 1 / fps)
    label_rows(ax, offsets, ids[order])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cell")
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def _check_order(order, count: int) -> np.ndarray:
    if order is None:
        return np.arange(count)
    order = np.asarray(order)
    if order.shape != (count,) or order.dtype.kind not in "iu" or not np.array_equal(np.sort(order),
                                                                                    np.arange(count)):
        raise ValueError(f"order must be a permutation of 0..{count - 1}, got {order!r}")
    return order


def _row_spacing(centred: np.ndarray) -> float:
    largest = float(np.max(np.percentile(centred, 99.5, axis=1)))
    return _ROW_FILL * largest if largest > 0 else 1.0


def _positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def nn_walk_order(centroids) -> np.ndarray:
    """Cells in the order of a nearest-neighbour walk over their centroids, so neighbours plot together.

    The walk starts at the cell nearest the top-left corner (smallest y + x; ties: the lower index) and
    repeatedly steps to the nearest cell not yet visited (ties: the lower index). O(N^2) time, O(N) memory.

    Args:
        centroids: (N, 2) cell centres (y, x) in pixels.

    Returns:
        (N,) int64 permutation of 0..N-1: the visiting order (entry k is the cell visited k-th), ready
        for ``plot_traces(order=...)``. `nn_sort` gives the inverse: each cell's place in the walk.
    """
    points = np.asarray(centroids, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"centroids must be an (N, 2) array of (y, x), got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("centroids contains NaN or infinite values")
    order = np.empty(len(points), dtype=np.int64)
    unvisited = np.ones(len(points), dtype=bool)
    current = int(np.argmin(points.sum(axis=1))) if len(points) else 0
    for step in range(len(points)):
        order[step] = current
        unvisited[current] = False
        distance = np.where(unvisited, np.sum((points - points[current]) ** 2, axis=1), np.inf)
        current = int(np.argmin(distance))
    return order


def nn_sort(centroids) -> np.ndarray:
    """Each cell's place in the nearest-neighbour walk of `nn_walk_order`, as minian's ``NNsort`` returns it.

    Sorting cells by this value (``np.argsort``) puts neighbours together; minian's viewers group cells
    five at a time in that order.

    Args:
        centroids: (N, 2) cell centres (y, x) in pixels (minian's ``height``, ``width``).

    Returns:
        (N,) int64: entry i is the step (0-based) at which the walk visits cell i.
    """
    order = nn_walk_order(centroids)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank


# ---------------------------------------------------------------- raster


def plot_raster(events, *, fps, n_frames=None, cell_ids=None, ax=None, color="k") -> Figure:
    """Raster of events (e.g. calcium transients), one row per cell, cell 0 on top.

    Args:
        events: either a NumPy (N, T) raster (an event wherever non-zero), or a sequence of N 1-D arrays
            holding each cell's event frames (0-based frame indices, e.g. the transients' peak frames).
        fps: frame rate, frames per second; the x axis is in seconds.
        n_frames: recording length T in frames, for the x range; None takes it from the raster, or from the
            last event.
        cell_ids: (N,) row labels; None labels rows 0..N-1.
        ax: axes to draw into; None makes a new figure.
        color: of the event ticks.

    Returns:
        The Figure; one EventCollection per cell, positions in seconds.
    """
    fps = check_fps(fps)
    frames, length = _event_frames(events)
    if n_frames is not None:
        if isinstance(n_frames, bool) or not isinstance(n_frames, Integral) or n_frames < 1:
            raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
        length = int(n_frames)
    elif length is None:
        length = int(max((f.max() for f in frames if f.size), default=0)) + 1
    ids = check_ids("cell_ids", cell_ids, len(frames))
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(10, min(2 + 0.2 * len(frames), 12)))
    ax.eventplot([f / fps for f in frames], lineoffsets=np.arange(len(frames)), linelengths=0.8,
                 colors=color, linewidths=1.0)
    ax.set_ylim(len(frames) - 0.5, -0.5)
    ax.set_xlim(0, length / fps)
    label_rows(ax, np.arange(len(frames)), ids)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("cell")
    return figure


def _event_frames(events) -> tuple[list[np.ndarray], int | None]:
    """Per-cell event frames, and the raster length T (None for event lists)."""
    if isinstance(events, np.ndarray) and events.ndim == 2:
        raster = check_array("events", events, "(N, T)", ndim=2)
        return [np.flatnonzero(row) for row in raster], raster.shape[1]
    if isinstance(events, (str, bytes)) or not isinstance(events, (Sequence, np.ndarray)) or len(events) == 0:
        raise ValueError("events must be an (N, T) NumPy raster or a non-empty sequence of N arrays of frames")
    frames = []
    for cell, values in enumerate(events):
        values = np.asarray(values)
        if values.size == 0:
            values = values.astype(np.float64).reshape(0)
        if values.ndim != 1 or values.dtype.kind not in "iuf" or not np.isfinite(values).all() \
                or (values < 0).any() or (values != np.round(values)).any():
            raise ValueError(f"events[{cell}] must be a 1-D array of frame indices >= 0, got {values!r}")
        frames.append(values.astype(np.int64))
    return frames, None


# ---------------------------------------------------------------- peri-event heatmaps


def plot_peri_event(windows, times, *, cell=None, cell_ids=None, axes=None, cmap="viridis",
                    label: str = "dF/F") -> Figure:
    """Activity around events as heatmaps.

    With ``cell=None``, one heatmap of cells x time of the trial-averaged windows, cells sorted by their
    response (mean after the event, times >= 0, minus mean before it), strongest on top. With a cell, that
    cell's trials x time heatmap under its trial average (mean +- s.e.m. band).

    Args:
        windows: (E, N, S) activity of N cells in windows of S samples around E events; NaN where a window
            leaves the recording (as `compute.events.peri_event_windows` returns).
        times: (S,) increasing sample times relative to the event, seconds.
        cell: the cell to show: an index along N, or one of `cell_ids` when those are given.
        cell_ids: (N,) cell labels; None uses 0..N-1.
        axes: one Axes (population view) or two (cell view: average, heatmap); None makes a new figure.
        cmap: heatmap colour map.
        label: name and unit of the activity, for the colour bar and the average's y axis.

    Returns:
        The Figure.
    """
    windows = check_array("windows", windows, "(E, N, S)", ndim=3, finite=False)
    times = check_array("times", times, "(S,)", ndim=1)
    if times.size != windows.shape[2]:
        raise ValueError(f"times has {times.size} samples but windows have S = {windows.shape[2]}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("times must increase")
    ids = check_ids("cell_ids", cell_ids, windows.shape[1])
    if cell is None:
        return _population_heatmap(windows, times, ids, axes, cmap, label)
    return _cell_heatmap(windows[:, _cell_index(cell, ids, cell_ids is not None)], times, cell, axes, cmap, label)


def _cell_index(cell, ids: np.ndarray, by_id: bool) -> int:
    if by_id:
        matches = np.flatnonzero(ids == cell)
        if matches.size != 1:
            raise ValueError(f"cell {cell!r} is not one of cell_ids")
        return int(matches[0])
    if isinstance(cell, bool) or not isinstance(cell, Integral) or not 0 <= cell < len(ids):
        raise ValueError(f"cell must be an index in 0..{len(ids) - 1}, got {cell!r}")
    return int(cell)


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean over the finite values along `axis`; NaN where there are none (no warning)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def _extent(times: np.ndarray, rows: int) -> list[float]:
    half = (times[1] - times[0]) / 2 if times.size > 1 else 0.5
    return [times[0] - half, times[-1] + half, rows - 0.5, -0.5]


def _heatmap(ax: Axes, figure: Figure, image: np.ndarray, times: np.ndarray, cmap, label: str):
    low, high = robust_limits(image)
    shown = ax.imshow(np.ma.masked_invalid(image), aspect="auto", interpolation="nearest", cmap=cmap,
                      vmin=low, vmax=high, extent=_extent(times, image.shape[0]))
    ax.axvline(0.0, color="w", linestyle="--", linewidth=1.0)
    figure.colorbar(shown, ax=ax, label=label)
    return shown


def _population_heatmap(windows, times, ids, axes, cmap, label) -> Figure:
    average = _nanmean(windows, axis=0)  # (N, S)
    after = _nanmean(average[:, times >= 0], axis=1)
    before = _nanmean(average[:, times < 0], axis=1) if np.any(times < 0) else np.zeros(len(average))
    order = np.argsort(-(after - before), kind="stable")  # NaN responses last
    figure, (ax,) = axes_for(axes, 1, name="axes", figsize=(7, min(2.5 + 0.15 * len(ids), 10)))
    _heatmap(ax, figure, average[order], times, cmap, label)
    label_rows(ax, np.arange(len(ids)), ids[order])
    ax.set_xlabel("time from event (s)")
    ax.set_ylabel("cell (by response)")
    ax.set_title(f"trial average of {windows.shape[0]} events")
    return figure


def _cell_heatmap(trials, times, cell, axes, cmap, label) -> Figure:
    figure, (top, bottom) = axes_for(axes, 2, name="axes", figsize=(7, 6), vertical=True, ratios=[1, 2],
                                     sharex=True)
    mean = _nanmean(trials, axis=0)
    count = np.isfinite(trials).sum(axis=0)
    spread = np.sqrt(_nanmean((trials - mean) ** 2, axis=0) / np.maximum(count, 1))
    top.fill_between(times, mean - spread, mean + spread, color="tab:blue", alpha=0.3, linewidth=0)
    top.plot(times, mean, color="tab:blue")
    top.axvline(0.0, color="0.3", linestyle="--", linewidth=1.0)
    top.set_ylabel(f"mean {label}")
    top.set_title(f"cell {cell}: {trials.shape[0]} trials")
    _heatmap(bottom, figure, trials, times, cmap, label)
    bottom.set_xlabel("time from event (s)")
    bottom.set_ylabel("trial")
    return figure


# ---------------------------------------------------------------- one cell


def plot_cell(footprint, trace, *, fps, spikes=None, cell_id=None, axes=None, cmap="viridis") -> Figure:
    """One cell: its footprint crop beside its trace, spikes as ticks under the trace.

    Args:
        footprint: (h, w) footprint weights around the cell (a crop of the field of view).
        trace: (T,) activity, e.g. dF/F.
        fps: frame rate, frames per second; the x axis is in seconds.
        spikes: (T,) deconvolved spikes (>= 0); a tick at each frame where spikes > 0.
        cell_id: label for the title.
        axes: two Axes (footprint, trace); None makes a new figure.
        cmap: footprint colour map.

    Returns:
        The Figure.
    """
    footprint = check_array("footprint", footprint, "(h, w)", ndim=2)
    trace = check_array("trace", trace, "(T,)", ndim=1)
    fps = check_fps(fps)
    spikes = _check_spikes(spikes, trace.shape)
    times = np.arange(trace.size) / fps
    figure, (left, right) = axes_for(axes, 2, name="axes", figsize=(11, 2.6), ratios=[1, 4])
    left.imshow(footprint, cmap=cmap, interpolation="nearest")
    left.set_axis_off()
    left.set_title("footprint" if cell_id is None else f"cell {cell_id}")
    right.plot(times, trace, color="k", linewidth=0.7)
    if spikes is not None:
        low, high = float(trace.min()), float(trace.max())
        length = _SPIKE_TICK * (high - low if high > low else 1.0)
        right.add_collection(LineCollection(_spike_segments(spikes, times, low - 0.2 * length, length),
                                            colors=_SPIKE_COLOR, linewidths=0.8, gid="spikes"))
        right.autoscale_view()
    right.set_xlabel("time (s)")
    right.spines[["top", "right"]].set_visible(False)
    return figure
