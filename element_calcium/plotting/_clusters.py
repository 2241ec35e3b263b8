"""Figures of clusterings: the dendrogram with its cut, the mean spectrum of each cluster, and counts per cluster."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

from element_calcium.plotting._common import GREY, axes_for, check_array, check_labels, cluster_colors


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
    labels = check_labels("labels", list(np.asarray(labels).ravel()))
    if len(labels) != features.shape[0]:
        raise ValueError(f"labels has {len(labels)} entries for {features.shape[0]} rows of features")
    if spread not in ("std", "sem"):
        raise ValueError(f"spread must be 'std' or 'sem', got {spread!r}")
    labels = np.asarray(labels)
    clusters = sorted(set(labels.tolist()) - {-1})
    if not clusters:
        raise ValueError("labels holds no cluster (all -1)")
    colors = cluster_colors(labels.tolist())
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
    values = _count_values(counts, finite=False)
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(1.5 + 0.7 * values.shape[1], 1.2 + 0.45 * values.shape[0]))
    _heatmap(figure, ax, values, counts.index, counts.columns, cmap=cmap, annotate=annotate)
    ax.set_xlabel(str(counts.columns.name or "group"))
    ax.set_ylabel(str(counts.index.name or "cluster"))
    return figure


def plot_count_clustermap(counts: pd.DataFrame, *, metric: str = "euclidean", method: str = "average",
                          cluster_rows: bool = True, cluster_columns: bool = True, cmap="viridis",
                          annotate: bool = True) -> Figure:
    """Heatmap of a clusters x groups table with its rows and columns ordered by hierarchical clustering, each
    with its dendrogram (astroCAST's per-cluster counts shown as seaborn's ``clustermap`` shows them).

    The rows are clustered by their values across the columns and the columns by theirs across the rows
    (`scipy.cluster.hierarchy.linkage` of ``metric`` distances with ``method``), and each is drawn in the
    leaf order of its dendrogram (`scipy.cluster.hierarchy.leaves_list`): rows that count alike sit together,
    as do groups with alike clusters. The values are shown as given (counts, or fractions from
    `compute.clustering.counts_per_cluster` with ``normalize``).

    Args:
        counts: DataFrame, one row per cluster and one column per group, finite numbers (e.g.
            ``clusters.EventClustering.counts(key)``).
        metric: distance of `scipy.spatial.distance.pdist` (``"euclidean"``, ``"correlation"``, ...).
        method: linkage method (``"average"``, ``"complete"``, ``"single"``, ``"ward"``, ...).
        cluster_rows, cluster_columns: order that axis by its dendrogram; False keeps the table's order and
            draws no dendrogram there (an axis of one entry is never clustered).
        cmap: colour map.
        annotate: write each value in its cell.

    Returns:
        The Figure; axes gids ``"heatmap"``, ``"row_dendrogram"`` and ``"column_dendrogram"``. The heatmap's
        tick labels name the rows and columns in the order drawn, top to bottom and left to right.
    """
    values = _count_values(counts, finite=True)
    n_rows, n_columns = values.shape
    row_tree = _linkage(values, metric, method) if cluster_rows and n_rows > 1 else None
    column_tree = _linkage(values.T, metric, method) if cluster_columns and n_columns > 1 else None
    rows = np.arange(n_rows) if row_tree is None else hierarchy.leaves_list(row_tree)
    columns = np.arange(n_columns) if column_tree is None else hierarchy.leaves_list(column_tree)
    figure = Figure(figsize=(2.5 + 0.7 * n_columns, 2.2 + 0.45 * n_rows), layout="constrained")
    grid = figure.add_gridspec(2, 2, width_ratios=(1, 4), height_ratios=(1, 4))
    ax = figure.add_subplot(grid[1, 1], gid="heatmap")
    _heatmap(figure, ax, values[np.ix_(rows, columns)], counts.index[rows], counts.columns[columns], cmap=cmap,
             annotate=annotate)
    ax.set_xlabel(str(counts.columns.name or "group"))
    ax.set_ylabel(str(counts.index.name or "cluster"))
    if row_tree is not None:
        side = figure.add_subplot(grid[1, 0], gid="row_dendrogram")
        hierarchy.dendrogram(row_tree, ax=side, orientation="left", no_labels=True, color_threshold=0,
                             above_threshold_color=GREY)
        side.set_ylim(10 * n_rows, 0)  # leaf i of the dendrogram at y = 10 i + 5, beside heatmap row i
        side.set_axis_off()
    if column_tree is not None:
        top = figure.add_subplot(grid[0, 1], gid="column_dendrogram")
        hierarchy.dendrogram(column_tree, ax=top, no_labels=True, color_threshold=0, above_threshold_color=GREY)
        top.set_xlim(0, 10 * n_columns)
        top.set_axis_off()
    return figure


def _count_values(counts, *, finite: bool) -> np.ndarray:
    if not isinstance(counts, pd.DataFrame) or counts.empty:
        raise ValueError("counts must be a non-empty pandas DataFrame (clusters x groups)")
    return check_array("counts", counts.to_numpy(), "(clusters, groups)", ndim=2, finite=finite)


def _linkage(values: np.ndarray, metric: str, method: str) -> np.ndarray:
    distances = pdist(values, metric)
    if not np.isfinite(distances).all():
        raise ValueError(f"metric {metric!r} is undefined for some rows or columns of counts (e.g. correlation "
                         "of a constant row); choose another metric")
    return hierarchy.linkage(distances, method=method)


def _heatmap(figure: Figure, ax, values: np.ndarray, row_names, column_names, *, cmap, annotate: bool) -> None:
    """``values`` drawn on ``ax`` row by row (row 0 at the top), with a colour bar and tick labels."""
    shown = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, aspect="auto", interpolation="nearest")
    figure.colorbar(shown, ax=ax)
    ax.set_xticks(np.arange(values.shape[1]), [str(c) for c in column_names], rotation=45, ha="right")
    ax.set_yticks(np.arange(values.shape[0]), [str(i) for i in row_names])
    if annotate:
        finite = np.isfinite(values)
        integral = np.all(values[finite] == np.round(values[finite]))
        for row, column in zip(*np.nonzero(finite)):
            value = values[row, column]
            red, green, blue, _ = shown.cmap(shown.norm(value))
            ink = "k" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "w"
            ax.text(column, row, f"{value:.0f}" if integral else f"{value:.3g}", ha="center", va="center",
                    color=ink, fontsize="small")
