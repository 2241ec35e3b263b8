"""Figures and movies to look at a recording's results, drawn from arrays (fetched table data); no database.

Every figure function returns a `matplotlib.figure.Figure` built with the object-oriented API (never
pyplot, never ``show()``), so it renders headless and in threads: save it with ``fig.savefig(path)`` or
display it in a notebook. Those that take ``ax`` / ``axes`` draw into the given axes instead of a new figure.
Images use pixel coordinates (x to the right, y down, pixel centres at integers); times are in seconds.

- Motion: `plot_motion`. Summary images: `plot_summary_images`.
- Cells: `plot_footprint_contours`, `plot_cell`, `plot_traces` (with `nn_sort`), `plot_raster`,
  `plot_peri_event`.
- Clusters: `plot_dendrogram`, `plot_cluster_footprints`, `plot_cluster_psd`, `plot_cluster_counts`.
- Movies: `write_video` (streaming H.264 MP4), `four_panel_frames` (raw | corrected | A.C | residual).

Footprints (``masks``) come either as rows of ``Segmentation.Mask`` (a sequence of mappings, a pandas
DataFrame or a NumPy structured array, with ``mask_id``, ``mask_xpix``, ``mask_ypix``, ``mask_weights``) or
as an (H * W, N) matrix
(SciPy sparse or dense, pixel row ``y * W + x``) with ``mask_ids`` (N,) (None: 0..N-1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import sparse
from scipy.cluster import hierarchy
from skimage import measure

from element_calcium._plotting_movies import four_panel_frames, write_video
from element_calcium._plotting_traces import (
    axes_for,
    check_array,
    check_fps,
    nn_sort,
    plot_cell,
    plot_peri_event,
    plot_raster,
    plot_traces,
    robust_limits,
)

__all__ = [
    "four_panel_frames",
    "nn_sort",
    "plot_cell",
    "plot_cluster_counts",
    "plot_cluster_footprints",
    "plot_cluster_psd",
    "plot_dendrogram",
    "plot_footprint_contours",
    "plot_motion",
    "plot_peri_event",
    "plot_raster",
    "plot_summary_images",
    "plot_traces",
    "write_video",
]

GREY = "0.6"  # excluded / unlabelled cells
_MASK_FIELDS = ("mask_id", "mask_xpix", "mask_ypix", "mask_weights")


# ---------------------------------------------------------------- motion and summary images


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


# ---------------------------------------------------------------- footprints


class _Mask(NamedTuple):
    id: object
    y: np.ndarray  # (npix,) rows
    x: np.ndarray  # (npix,) columns
    weights: np.ndarray  # (npix,)


def _masks(masks, shape: tuple[int, int], mask_ids) -> list[_Mask]:
    """Masks as (id, y, x, weights), checked against an image of `shape` (H, W)."""
    if isinstance(masks, np.ndarray) and masks.dtype.names:  # rows as DataJoint's fetch() returns them
        masks = [dict(zip(masks.dtype.names, row)) for row in masks]
    if sparse.issparse(masks) or isinstance(masks, np.ndarray):
        return _matrix_masks(masks, shape, mask_ids)
    if mask_ids is not None:
        raise ValueError("mask_ids goes with an (H * W, N) footprint matrix; mask rows carry their mask_id")
    if isinstance(masks, pd.DataFrame):
        masks = masks.to_dict("records")
    if isinstance(masks, (str, bytes)) or not isinstance(masks, Sequence):
        raise ValueError(f"masks must be Segmentation.Mask rows or an (H * W, N) matrix, got {type(masks).__name__}")
    return [_row_mask(index, row, shape) for index, row in enumerate(masks)]


def _row_mask(index: int, row, shape) -> _Mask:
    if not isinstance(row, Mapping) or any(field not in row for field in _MASK_FIELDS):
        raise ValueError(f"masks[{index}] must be a mapping with {_MASK_FIELDS}")
    y, x = (np.asarray(row[field]).ravel() for field in ("mask_ypix", "mask_xpix"))
    weights = np.asarray(row["mask_weights"], dtype=np.float64).ravel()
    if not (y.size == x.size == weights.size > 0) or y.dtype.kind not in "iu" or x.dtype.kind not in "iu":
        raise ValueError(f"mask {row['mask_id']!r}: mask_ypix, mask_xpix and mask_weights must be non-empty "
                         "and equally long, the pixels integers")
    if y.min() < 0 or x.min() < 0 or y.max() >= shape[0] or x.max() >= shape[1]:
        raise ValueError(f"mask {row['mask_id']!r} has pixels outside the {shape[0]} x {shape[1]} image")
    return _Mask(row["mask_id"], y.astype(np.int64), x.astype(np.int64), weights)


def _matrix_masks(matrix, shape, mask_ids) -> list[_Mask]:
    matrix = sparse.csc_array(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != shape[0] * shape[1]:
        raise ValueError(f"masks as a matrix must be (H * W, N) with H * W = {shape[0] * shape[1]}, "
                         f"got {matrix.shape}")
    ids = np.arange(matrix.shape[1]) if mask_ids is None else np.asarray(mask_ids)
    if ids.shape != (matrix.shape[1],):
        raise ValueError(f"mask_ids must have shape ({matrix.shape[1]},), got {ids.shape}")
    matrix.eliminate_zeros()
    result = []
    for column, mask_id in enumerate(ids):
        rows = matrix.indices[matrix.indptr[column] : matrix.indptr[column + 1]]
        if rows.size == 0:
            raise ValueError(f"mask {mask_id!r} (column {column}) is empty")
        y, x = np.divmod(rows.astype(np.int64), shape[1])
        result.append(_Mask(mask_id, y, x, matrix.data[matrix.indptr[column] : matrix.indptr[column + 1]]))
    return result


def _contours(mask: _Mask, fraction: float) -> list[np.ndarray]:
    """(x, y) outlines of `mask` at `fraction` of its maximum weight, in image pixels."""
    top, left = mask.y.min() - 1, mask.x.min() - 1
    crop = np.zeros((mask.y.max() - top + 2, mask.x.max() - left + 2))  # a zero border closes the outlines
    crop[mask.y - top, mask.x - left] = mask.weights
    level = fraction * crop.max()
    return [np.column_stack((line[:, 1] + left, line[:, 0] + top)) for line in measure.find_contours(crop, level)]


def _centroid(mask: _Mask) -> tuple[float, float]:
    weights = np.clip(mask.weights, 0, None)
    weights = weights if weights.sum() > 0 else np.ones_like(weights)
    return float(np.average(mask.y, weights=weights)), float(np.average(mask.x, weights=weights))


def _per_mask(name: str, values, masks: list[_Mask], missing) -> list:
    """One value per mask, from a sequence in mask order or a mapping mask_id -> value (a dict or a pandas
    Series indexed by mask_id; `missing` where absent)."""
    if isinstance(values, pd.Series):
        values = values.to_dict()
    if isinstance(values, Mapping):
        return [values.get(mask.id, missing) for mask in masks]
    values = list(np.asarray(values).ravel()) if isinstance(values, np.ndarray) else list(values)
    if len(values) != len(masks):
        raise ValueError(f"{name} has {len(values)} entries for {len(masks)} masks")
    return values


def _sort_key(value):
    return (0, float(value), "") if isinstance(value, Real) else (1, 0.0, str(value))


def _colors(categories: list, grey=(None,)) -> dict:
    """Colour of each category: tab10 (tab20 beyond ten) in sorted order, then the `grey` categories grey."""
    named = sorted({c for c in categories if c not in grey}, key=_sort_key)
    palette = colormaps["tab10" if len(named) <= 10 else "tab20"]
    colors = {category: palette(index % palette.N) for index, category in enumerate(named)}
    colors.update({category: to_rgba(GREY) for category in set(categories) if category in grey})
    return colors


def _legend(ax, colors: dict, names: dict) -> None:
    handles = [Line2D([], [], color=color, linewidth=3, label=names.get(category, str(category)))
               for category, color in colors.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)


def _image_figsize(shape: tuple[int, int]) -> tuple[float, float]:
    return 7.0, min(7.0 * shape[0] / shape[1], 12.0) + 0.5


def _show_background(ax, image: np.ndarray, cmap) -> None:
    low, high = robust_limits(image)
    ax.imshow(image, cmap=cmap, vmin=low, vmax=high, interpolation="nearest")
    ax.set_axis_off()


def plot_footprint_contours(background, masks, *, mask_ids=None, labels=None, colors_by=None,
                            fraction: float = 0.5, ax=None, cmap="gray", fontsize: float = 7) -> Figure:
    """Outline of each footprint over an image, with its label at its weighted centroid.

    Args:
        background: (H, W) image to draw on, e.g. the average or correlation image.
        masks: N footprints: ``Segmentation.Mask`` rows or an (H * W, N) matrix (see the module notes).
        mask_ids: (N,) ids of the matrix columns; None uses 0..N-1. Only with a matrix.
        labels: (N,) texts written at the centroids, in mask order; None writes the mask ids.
        colors_by: per-mask category (e.g. classification "soma" / "dendrite", or a cluster label): (N,)
            values in mask order, or a mapping mask_id -> category (dict or Series). Each category gets a
            colour and a legend entry; masks without one (None, or absent from the mapping) are grey.
        fraction: the outline is drawn at this fraction of each footprint's maximum weight, in (0, 1).
        ax: axes to draw into; None makes a new figure.
        cmap: colour map of the background.
        fontsize: of the labels.

    Returns:
        The Figure. Each mask's outline is one LineCollection with gid ``"mask <id>"``.
    """
    image = check_array("background", background, "(H, W)", ndim=2)
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 < fraction < 1:
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    items = _masks(masks, image.shape, mask_ids)
    texts = [str(v) for v in ([mask.id for mask in items] if labels is None
                              else _per_mask("labels", labels, items, ""))]
    categories = [None] * len(items) if colors_by is None else _per_mask("colors_by", colors_by, items, None)
    colors = {None: to_rgba("yellow")} if colors_by is None else _colors(categories)
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=_image_figsize(image.shape))
    _show_background(ax, image, cmap)
    for mask, text, category in zip(items, texts, categories):
        color = colors[category]
        ax.add_collection(LineCollection(_contours(mask, float(fraction)), colors=[color], linewidths=1.0,
                                         gid=f"mask {mask.id}"))
        y, x = _centroid(mask)
        ax.text(x, y, text, color=color, fontsize=fontsize, ha="center", va="center")
    if colors_by is not None:
        _legend(ax, colors, {None: "none"})
    return figure


# ---------------------------------------------------------------- clusters


def _cluster_colors(labels) -> dict:
    """Colour of each cluster label; -1 (excluded) grey."""
    return _colors(list(labels), grey=(-1,))


def _check_labels(name: str, labels: list) -> list[int]:
    if any(isinstance(v, bool) or not isinstance(v, Integral) or v < -1 for v in labels):
        raise ValueError(f"{name} must be integers >= 0, or -1 for excluded cells")
    return [int(v) for v in labels]


def plot_cluster_footprints(background, masks, cluster_labels, *, mask_ids=None, alpha: float = 0.7, ax=None,
                            cmap="gray") -> Figure:
    """Footprints filled with their cluster's colour over an image; excluded cells (label -1) in grey.

    Each pixel takes the colour of the footprint weighing most there (relative to each footprint's maximum),
    with opacity ``alpha`` x that relative weight, so footprints fade out at their edges.

    Args:
        background: (H, W) image, e.g. the average image.
        masks: N footprints: ``Segmentation.Mask`` rows or an (H * W, N) matrix (see the module notes).
        cluster_labels: cluster of each mask: (N,) integers in mask order, or a mapping mask_id -> cluster
            (dict or Series); -1, and masks absent from the mapping, are excluded.
        mask_ids: (N,) ids of the matrix columns; None uses 0..N-1. Only with a matrix.
        alpha: opacity at a footprint's peak, in (0, 1].
        ax: axes to draw into; None makes a new figure.
        cmap: colour map of the background.

    Returns:
        The Figure; the colour overlay is its second image, (H, W, 4) RGBA.
    """
    image = check_array("background", background, "(H, W)", ndim=2)
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not 0 < alpha <= 1:
        raise ValueError(f"alpha must be a number in (0, 1], got {alpha!r}")
    items = _masks(masks, image.shape, mask_ids)
    labels = _check_labels("cluster_labels", _per_mask("cluster_labels", cluster_labels, items, -1))
    colors = _cluster_colors(labels)
    overlay = np.zeros((*image.shape, 4))
    strongest = np.zeros(image.shape)
    for mask, label in zip(items, labels):
        relative = mask.weights / mask.weights.max() if mask.weights.max() > 0 else np.zeros_like(mask.weights)
        wins = relative > strongest[mask.y, mask.x]
        y, x, relative = mask.y[wins], mask.x[wins], relative[wins]
        strongest[y, x] = relative
        overlay[y, x, :3] = colors[label][:3]
        overlay[y, x, 3] = alpha * relative
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=_image_figsize(image.shape))
    _show_background(ax, image, cmap)
    ax.imshow(overlay, interpolation="nearest")
    counts = pd.Series(labels).value_counts()
    _legend(ax, colors, {label: f"{'excluded' if label == -1 else f'cluster {label}'} ({counts[label]})"
                         for label in colors})
    return figure


def plot_dendrogram(linkage, *, labels=None, threshold=None, n_clusters=None, ax=None) -> Figure:
    """Dendrogram of a hierarchical clustering, with the cut drawn as a dashed line.

    Args:
        linkage: (M - 1, 4) SciPy linkage matrix of M observations (cells or events).
        labels: (M,) leaf labels in observation order (e.g. cell ids); None uses 0..M-1.
        threshold: cut at this distance (as ``fcluster(..., criterion="distance")``).
        n_clusters: cut where the tree has this many clusters: halfway between the merge heights that
            bound it. At most one of threshold and n_clusters; with a cut, links below it are coloured by
            cluster and links above it grey.
        ax: axes to draw into; None makes a new figure.

    Returns:
        The Figure; the cut line has gid ``"cut"``.
    """
    tree = np.asarray(linkage, dtype=np.float64)
    if tree.ndim != 2 or tree.shape[0] < 1 or not hierarchy.is_valid_linkage(tree):
        raise ValueError(f"linkage must be a SciPy (M - 1, 4) linkage matrix, got shape {tree.shape}")
    size = tree.shape[0] + 1
    if labels is not None:
        labels = [str(v) for v in np.asarray(labels).ravel()]
        if len(labels) != size:
            raise ValueError(f"labels has {len(labels)} entries for {size} observations")
    height = _cut_height(tree, threshold, n_clusters)
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(max(6, min(0.15 * size, 16)), 4))
    hierarchy.dendrogram(tree, ax=ax, labels=labels, color_threshold=height, above_threshold_color=GREY,
                         leaf_rotation=90, no_labels=size > 200)
    if height is not None:
        ax.axhline(height, color="tab:red", linestyle="--", linewidth=1.0, gid="cut")
    ax.set_ylabel("distance")
    return figure


def _cut_height(tree: np.ndarray, threshold, n_clusters) -> float | None:
    if threshold is not None and n_clusters is not None:
        raise ValueError("give threshold or n_clusters, not both")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not np.isfinite(threshold) \
                or threshold < 0:
            raise ValueError(f"threshold must be a finite distance >= 0, got {threshold!r}")
        return float(threshold)
    if n_clusters is None:
        return None
    size = tree.shape[0] + 1
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral) or not 1 <= n_clusters <= size:
        raise ValueError(f"n_clusters must be an integer in 1..{size}, got {n_clusters!r}")
    heights = np.sort(tree[:, 2])
    merged = size - n_clusters  # merges below the cut
    below = heights[merged - 1] if merged > 0 else 0.0
    above = heights[merged] if merged < size - 1 else (1.1 * below if below > 0 else 1.0)
    return float(below + above) / 2


def plot_cluster_psd(frequencies, features, labels, *, spread: str = "std", ax=None) -> Figure:
    """Mean power spectrum of each cluster, with a band of +- one standard deviation (or s.e.m.).

    Args:
        frequencies: (F,) frequencies of the feature columns, Hz.
        features: (M, F) spectrum features of M cells (e.g. `CellClusters.features`).
        labels: (M,) cluster of each row; rows labelled -1 are left out.
        spread: "std" or "sem", the half-width of the band.
        ax: axes to draw into; None makes a new figure.

    Returns:
        The Figure: one line and one band per cluster.
    """
    frequencies = check_array("frequencies", frequencies, "(F,)", ndim=1)
    features = check_array("features", features, "(M, F)", ndim=2)
    if features.shape[1] != frequencies.size:
        raise ValueError(f"features has {features.shape[1]} columns for {frequencies.size} frequencies")
    labels = _check_labels("labels", list(np.asarray(labels).ravel()))
    if len(labels) != features.shape[0]:
        raise ValueError(f"labels has {len(labels)} entries for {features.shape[0]} rows of features")
    if spread not in ("std", "sem"):
        raise ValueError(f"spread must be 'std' or 'sem', got {spread!r}")
    labels = np.asarray(labels)
    clusters = sorted(set(labels.tolist()) - {-1})
    if not clusters:
        raise ValueError("labels holds no cluster (all -1)")
    colors = _cluster_colors(labels.tolist())
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(7, 4))
    for cluster in clusters:
        rows = features[labels == cluster]
        mean = rows.mean(axis=0)
        band = rows.std(axis=0) / (np.sqrt(len(rows)) if spread == "sem" else 1.0)
        ax.fill_between(frequencies, mean - band, mean + band, color=colors[cluster], alpha=0.25, linewidth=0)
        ax.plot(frequencies, mean, color=colors[cluster], label=f"cluster {cluster} ({len(rows)})")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("power (feature scale)")
    ax.legend(fontsize="small", frameon=False)
    return figure


def plot_cluster_counts(counts: pd.DataFrame, *, ax=None, cmap="viridis", annotate: bool = True) -> Figure:
    """Heatmap of a clusters x groups table (e.g. cells per cluster and session), values written in the cells.

    A plain matplotlib heatmap in the table's row and column order (no seaborn, which would draw through
    pyplot).

    Args:
        counts: DataFrame, one row per cluster and one column per group, numbers; NaN cells are left blank.
        ax: axes to draw into; None makes a new figure.
        cmap: colour map.
        annotate: write each value in its cell.

    Returns:
        The Figure.
    """
    if not isinstance(counts, pd.DataFrame) or counts.empty:
        raise ValueError("counts must be a non-empty pandas DataFrame (clusters x groups)")
    values = check_array("counts", counts.to_numpy(), "(clusters, groups)", ndim=2, finite=False)
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(1.5 + 0.7 * values.shape[1], 1.2 + 0.45 * values.shape[0]))
    shown = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", interpolation="nearest")
    figure.colorbar(shown, ax=ax)
    ax.set_xticks(np.arange(values.shape[1]), [str(c) for c in counts.columns], rotation=45, ha="right")
    ax.set_yticks(np.arange(values.shape[0]), [str(i) for i in counts.index])
    ax.set_xlabel(str(counts.columns.name or "group"))
    ax.set_ylabel(str(counts.index.name or "cluster"))
    if annotate:
        finite = np.isfinite(values)
        integral = np.all(values[finite] == np.round(values[finite]))
        for row, column in zip(*np.nonzero(finite)):
            value = values[row, column]
            red, green, blue, _ = shown.cmap(shown.norm(value))
            ink = "k" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "w"
            ax.text(column, row, f"{value:.0f}" if integral else f"{value:.3g}", ha="center", va="center",
                    color=ink, fontsize="small")
    return figure
