"""Footprints over an image: outlines with labels, and fills coloured by cluster (masks as table rows or a matrix,
see the module docstring of `element_calcium.plotting`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import NamedTuple

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from scipy import sparse
from skimage import measure

from element_calcium.plotting._common import (
    axes_for,
    check_array,
    check_labels,
    cluster_colors,
    colors_of,
    legend,
    robust_limits,
)

_MASK_FIELDS = ("mask_id", "mask_xpix", "mask_ypix", "mask_weights")


class Mask(NamedTuple):
    id: object
    y: np.ndarray  # (npix,) rows
    x: np.ndarray  # (npix,) columns
    weights: np.ndarray  # (npix,)


def masks_of(masks, shape: tuple[int, int], mask_ids) -> list[Mask]:
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


def _row_mask(index: int, row, shape) -> Mask:
    if not isinstance(row, Mapping) or any(field not in row for field in _MASK_FIELDS):
        raise ValueError(f"masks[{index}] must be a mapping with {_MASK_FIELDS}")
    y, x = (np.asarray(row[field]).ravel() for field in ("mask_ypix", "mask_xpix"))
    weights = np.asarray(row["mask_weights"], dtype=np.float64).ravel()
    if not (y.size == x.size == weights.size > 0) or y.dtype.kind not in "iu" or x.dtype.kind not in "iu":
        raise ValueError(f"mask {row['mask_id']!r}: mask_ypix, mask_xpix and mask_weights must be non-empty "
                         "and equally long, the pixels integers")
    if y.min() < 0 or x.min() < 0 or y.max() >= shape[0] or x.max() >= shape[1]:
        raise ValueError(f"mask {row['mask_id']!r} has pixels outside the {shape[0]} x {shape[1]} image")
    return Mask(row["mask_id"], y.astype(np.int64), x.astype(np.int64), weights)


def _matrix_masks(matrix, shape, mask_ids) -> list[Mask]:
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
        result.append(Mask(mask_id, y, x, matrix.data[matrix.indptr[column] : matrix.indptr[column + 1]]))
    return result


def _contours(mask: Mask, fraction: float) -> list[np.ndarray]:
    """(x, y) outlines of `mask` at `fraction` of its maximum weight, in image pixels."""
    top, left = mask.y.min() - 1, mask.x.min() - 1
    crop = np.zeros((mask.y.max() - top + 2, mask.x.max() - left + 2))  # a zero border closes the outlines
    crop[mask.y - top, mask.x - left] = mask.weights
    level = fraction * crop.max()
    return [np.column_stack((line[:, 1] + left, line[:, 0] + top)) for line in measure.find_contours(crop, level)]


def _centroid(mask: Mask) -> tuple[float, float]:
    weights = np.clip(mask.weights, 0, None)
    weights = weights if weights.sum() > 0 else np.ones_like(weights)
    return float(np.average(mask.y, weights=weights)), float(np.average(mask.x, weights=weights))


def per_mask(name: str, values, masks: list[Mask], missing) -> list:
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


def image_figsize(shape: tuple[int, int]) -> tuple[float, float]:
    return 7.0, min(7.0 * shape[0] / shape[1], 12.0) + 0.5


def show_background(ax, image: np.ndarray, cmap) -> None:
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
    items = masks_of(masks, image.shape, mask_ids)
    texts = [str(v) for v in ([mask.id for mask in items] if labels is None
                              else per_mask("labels", labels, items, ""))]
    categories = [None] * len(items) if colors_by is None else per_mask("colors_by", colors_by, items, None)
    colors = {None: to_rgba("yellow")} if colors_by is None else colors_of(categories)
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=image_figsize(image.shape))
    show_background(ax, image, cmap)
    for mask, text, category in zip(items, texts, categories):
        color = colors[category]
        ax.add_collection(LineCollection(_contours(mask, float(fraction)), colors=[color], linewidths=1.0,
                                         gid=f"mask {mask.id}"))
        y, x = _centroid(mask)
        ax.text(x, y, text, color=color, fontsize=fontsize, ha="center", va="center")
    if colors_by is not None:
        legend(ax, colors, {None: "none"})
    return figure


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
    items = masks_of(masks, image.shape, mask_ids)
    labels = check_labels("cluster_labels", per_mask("cluster_labels", cluster_labels, items, -1))
    colors = cluster_colors(labels)
    overlay = np.zeros((*image.shape, 4))
    strongest = np.zeros(image.shape)
    for mask, label in zip(items, labels):
        relative = mask.weights / mask.weights.max() if mask.weights.max() > 0 else np.zeros_like(mask.weights)
        wins = relative > strongest[mask.y, mask.x]
        y, x, relative = mask.y[wins], mask.x[wins], relative[wins]
        strongest[y, x] = relative
        overlay[y, x, :3] = colors[label][:3]
        overlay[y, x, 3] = alpha * relative
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=image_figsize(image.shape))
    show_background(ax, image, cmap)
    ax.imshow(overlay, interpolation="nearest")
    counts = pd.Series(labels).value_counts()
    legend(ax, colors, {label: f"{'excluded' if label == -1 else f'cluster {label}'} ({counts[label]})"
                         for label in colors})
    return figure
