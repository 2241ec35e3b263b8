"""Figures of clusterings: the dendrogram with its cut, the mean spectrum of each cluster, and counts per cluster."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.cluster import hierarchy

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
