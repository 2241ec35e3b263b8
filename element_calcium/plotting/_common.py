"""Input checks and axes helpers every plotting module shares, and the colours of categories and clusters."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

_MAX_TICK_LABELS = 40  # at most this many labelled rows on a cell axis
GREY = "0.6"  # excluded / unlabelled cells


def check_array(name: str, value, shape: str, *, ndim: int, finite: bool = True) -> np.ndarray:
    """`value` as a float64 array with `ndim` dimensions, none empty; ValueError naming `name` and `shape`."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a numeric array {shape}, got {type(value).__name__}") from error
    if array.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array {shape}, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def check_fps(fps) -> float:
    """`fps` as a float; ValueError unless a finite number > 0."""
    if isinstance(fps, bool) or not isinstance(fps, Real) or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    return float(fps)


def check_ids(name: str, ids, count: int) -> np.ndarray:
    """`ids` as a (count,) array, or 0..count-1 when None."""
    if ids is None:
        return np.arange(count)
    ids = np.asarray(ids)
    if ids.shape != (count,):
        raise ValueError(f"{name} must have shape ({count},), got {ids.shape}")
    return ids


def robust_limits(values: np.ndarray, low: float = 1.0, high: float = 99.5) -> tuple[float, float]:
    """(low, high) percentiles of the finite values; a range of 1 above `low` when they coincide."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lower, upper = (float(v) for v in np.percentile(finite, [low, high]))
    return (lower, upper) if upper > lower else (lower, lower + 1.0)


def axes_for(axes, count: int, *, name: str, figsize, vertical: bool = False, ratios=None,
             sharex: bool = False) -> tuple[Figure, list[Axes]]:
    """The root figure and `count` axes: the given ones (an Axes, or a sequence of them), else a new figure
    of `figsize` inches with `count` axes in a row (a column when `vertical`), sized by `ratios`."""
    if axes is None:
        figure = Figure(figsize=figsize, layout="constrained")
        key = "height_ratios" if vertical else "width_ratios"
        grid = figure.subplots(*((count, 1) if vertical else (1, count)), squeeze=False, sharex=sharex,
                               gridspec_kw={key: ratios} if ratios else None)
        return figure, list(grid.ravel())
    given = [axes] if isinstance(axes, Axes) else list(axes)
    if len(given) != count or not all(isinstance(ax, Axes) for ax in given):
        raise ValueError(f"{name} must be {count} matplotlib Axes, got {axes!r}")
    return root_figure(given[0]), given


def root_figure(ax: Axes) -> Figure:
    """The top-level Figure of `ax` (`Figure.figure` is the figure itself, `SubFigure.figure` its root)."""
    return ax.figure.figure


def label_rows(ax: Axes, positions, labels, *, axis: str = "y") -> None:
    """Tick labels `labels` at `positions` on a cell axis, thinned to at most `_MAX_TICK_LABELS`."""
    step = max(1, int(np.ceil(len(positions) / _MAX_TICK_LABELS)))
    set_ticks = ax.set_yticks if axis == "y" else ax.set_xticks
    set_ticks(np.asarray(positions)[::step], [str(label) for label in np.asarray(labels)[::step]])


def _sort_key(value):
    return (0, float(value), "") if isinstance(value, Real) else (1, 0.0, str(value))


def colors_of(categories: list, grey=(None,)) -> dict:
    """Colour of each category: tab10 (tab20 beyond ten) in sorted order, then the `grey` categories grey."""
    named = sorted({c for c in categories if c not in grey}, key=_sort_key)
    palette = colormaps["tab10" if len(named) <= 10 else "tab20"]
    colors = {category: palette(index % palette.N) for index, category in enumerate(named)}
    colors.update({category: to_rgba(GREY) for category in set(categories) if category in grey})
    return colors


def legend(ax, colors: dict, names: dict) -> None:
    handles = [Line2D([], [], color=color, linewidth=3, label=names.get(category, str(category)))
               for category, color in colors.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def cluster_colors(labels) -> dict:
    """Colour of each cluster label; -1 (excluded) grey."""
    return colors_of(list(labels), grey=(-1,))


def check_labels(name: str, labels: list) -> list[int]:
    if any(isinstance(v, bool) or not isinstance(v, Integral) or v < -1 for v in labels):
        raise ValueError(f"{name} must be integers >= 0, or -1 for excluded cells")
    return [int(v) for v in labels]
