"""Trees, cuts and silhouettes, the same for cells and events (module docstring of
`element_calcium.compute.clustering`)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from element_calcium.compute import _checks
from element_calcium.compute.params import AUTO_CUTS

_SCALE_NEIGHBOURS = (1, 2, 3, 4)  # eigengap: the local scales, distances to the 1st..4th nearest neighbours


@dataclass(frozen=True)
class ClusterCut:
    """One flat clustering taken from a tree.

    Attributes:
        labels: (M,) int64 cluster of each observation of the tree, 0..n_clusters-1.
        n_clusters: number of clusters.
        silhouette: mean silhouette of the cut (NaN when undefined; see the module notes).
        cut_rule: how the number of clusters was chosen: ``"n_clusters"`` or ``"threshold"`` (given), or the
            automatic rule, ``"eigengap"`` or ``"silhouette"``.
    """

    labels: np.ndarray
    n_clusters: int
    silhouette: float
    cut_rule: str


def silhouette_score(distances, labels) -> float:
    """Mean silhouette of a flat clustering (see the module notes).

    Args:
        distances: (M (M - 1) / 2,) condensed distances.
        labels: (M,) cluster of each observation (any integers).
    """
    square = squareform(np.asarray(distances, dtype=np.float64), checks=False)
    labels = np.asarray(labels)
    if labels.shape != (square.shape[0],):
        raise ValueError(f"labels must hold one cluster per observation ({square.shape[0]}), got shape {labels.shape}")
    return _silhouette(square, np.unique(labels, return_inverse=True)[1])


def _silhouette(square: np.ndarray, labels: np.ndarray) -> float:
    n_obs, n_clusters = labels.size, int(labels.max()) + 1
    if not 2 <= n_clusters < n_obs:
        return float("nan")
    members = np.zeros((n_obs, n_clusters))
    members[np.arange(n_obs), labels] = 1.0
    sums, sizes = square @ members, members.sum(axis=0)
    own = sizes[labels]
    within = sums[np.arange(n_obs), labels] / np.maximum(own - 1, 1)
    between = sums / sizes
    between[np.arange(n_obs), labels] = np.inf
    nearest = between.min(axis=1)
    spread = np.maximum(within, nearest)
    scores = np.where((own > 1) & (spread > 0), (nearest - within) / np.where(spread > 0, spread, 1.0), 0.0)
    return float(scores.mean())


def eigengap_count(distances, *, max_clusters: int = 10, neighbours: tuple[int, ...] = _SCALE_NEIGHBOURS) -> int:
    """Number of clusters by the eigengap of the normalised affinity, the median over several local scales.

    For one scale rank r, the affinity of observations i, j is exp(-d_ij^2 / (s_i s_j)), with s_i the distance
    from i to its r-th nearest neighbour (local scaling, Zelnik-Manor and Perona 2004; 0 on the diagonal);
    normalised, D^-1/2 A D^-1/2 with D the row sums. Its eigenvalues l_1 >= l_2 >= ... are near 1 once per
    group of observations that are close to one another and far from the rest; that scale's count is the k in
    1..min(max_clusters, M - 1) with the largest l_k - l_(k+1). The count returned is the median (rounded down)
    of the counts of the ranks in ``neighbours``: one rank alone splits a small class in two where its members'
    r-th neighbour happens to lie outside it.

    Args:
        distances: (M (M - 1) / 2,) condensed distances, M >= 2.
        max_clusters: the largest count returned, >= 1.
        neighbours: ranks (>= 1) of the neighbours whose distances set the observations' scales.

    Returns:
        The number of clusters, 1..min(max_clusters, M - 1) (1 when M = 2 or all distances are 0).
    """
    square = squareform(np.asarray(distances, dtype=np.float64), checks=False)
    n_obs = square.shape[0]
    largest = min(int(max_clusters), n_obs - 1)
    if largest < 2 or not square.max() > 0:
        return 1
    ranked = np.sort(square, axis=1)
    counts = [_eigengap_at_scale(square, ranked[:, min(int(rank), n_obs - 1)], largest) for rank in neighbours]
    return int(np.floor(np.median(counts)))


def _eigengap_at_scale(square: np.ndarray, scale: np.ndarray, largest: int) -> int:
    """Eigengap count of the (M, M) distances ``square`` with per-observation scales ``scale`` (M,)."""
    scale = np.maximum(scale, 1e-12 * square.max())
    affinity = np.exp(-square ** 2 / np.outer(scale, scale))
    np.fill_diagonal(affinity, 0.0)
    degree = np.maximum(affinity.sum(axis=1), np.finfo(np.float64).tiny)
    normalised = affinity / np.sqrt(np.outer(degree, degree))
    values = np.sort(np.linalg.eigvalsh((normalised + normalised.T) / 2.0))[::-1][:largest + 1]
    return int(np.argmax(values[:-1] - values[1:]) + 1)


def leaf_order(linkage) -> np.ndarray:
    """(M,) int64 observations of a tree in dendrogram order (left to right)."""
    return hierarchy.leaves_list(np.asarray(linkage, dtype=np.float64)).astype(np.int64)


def _numbered(flat: np.ndarray, leaves: np.ndarray) -> np.ndarray:
    """Flat cluster numbers renumbered 0.. by first appearance along the leaves."""
    order = pd.unique(flat[leaves])
    mapping = np.empty(int(flat.max()) + 1, dtype=np.int64)
    mapping[order] = np.arange(order.size)
    return mapping[flat]


def _check_cut(n_clusters, threshold, max_clusters, auto_cut) -> None:
    if auto_cut not in AUTO_CUTS:
        raise ValueError(f"auto_cut must be one of {AUTO_CUTS}, got {auto_cut!r}")
    if n_clusters is not None and threshold is not None:
        raise ValueError("give n_clusters or threshold, not both")
    if n_clusters is not None:
        _checks.integer(n_clusters, "n_clusters")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, Real)
                                  or not np.isfinite(threshold) or threshold < 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    _checks.integer(max_clusters, "max_clusters", 2)


def _check_tree(linkage, distances) -> tuple[np.ndarray, np.ndarray]:
    linkage = np.asarray(linkage, dtype=np.float64)
    distances = np.asarray(distances, dtype=np.float64)
    if linkage.ndim != 2 or linkage.shape[1] != 4 or not hierarchy.is_valid_linkage(linkage):
        raise ValueError(f"linkage must be a SciPy linkage matrix (M - 1, 4), got shape {linkage.shape}")
    n_obs = linkage.shape[0] + 1
    if distances.shape != (n_obs * (n_obs - 1) // 2,):
        raise ValueError(f"distances must be condensed for {n_obs} observations ({n_obs * (n_obs - 1) // 2} "
                         f"values), got shape {distances.shape}")
    return linkage, distances


def cut_linkage(linkage, distances, *, n_clusters=None, threshold=None, max_clusters: int = 10,
                auto_cut: str = "eigengap") -> ClusterCut:
    """Flat clusters from an existing tree, without recomputing features or the tree (see the module notes).

    Args:
        linkage: (M - 1, 4) SciPy linkage matrix, e.g. ``CellClusters.linkage``.
        distances: (M (M - 1) / 2,) condensed distances the tree was built from.
        n_clusters: at most this many clusters.
        threshold: largest merge height within a cluster.
        max_clusters: with neither n_clusters nor threshold, the automatic cut has at most this many clusters.
        auto_cut: the automatic rule: ``"eigengap"`` (`eigengap_count` clusters) or ``"silhouette"`` (the
            best-silhouette cut of 2..max_clusters).

    Returns:
        `ClusterCut` with labels for the tree's M observations and the rule that chose the cut.
    """
    _check_cut(n_clusters, threshold, max_clusters, auto_cut)
    linkage, distances = _check_tree(linkage, distances)
    square, leaves = squareform(distances, checks=False), leaf_order(linkage)
    if threshold is not None:
        return _cut(linkage, square, leaves, threshold, "distance", "threshold")
    if n_clusters is not None:
        return _cut(linkage, square, leaves, n_clusters, "maxclust", "n_clusters")
    if auto_cut == "eigengap":
        count = eigengap_count(distances, max_clusters=max_clusters)
        return _cut(linkage, square, leaves, count, "maxclust", "eigengap")
    cuts = [_cut(linkage, square, leaves, k, "maxclust", "silhouette")
            for k in range(2, min(max_clusters, square.shape[0] - 1) + 1)]
    scored = [cut for cut in cuts if np.isfinite(cut.silhouette)]
    if not scored:
        return _cut(linkage, square, leaves, 1, "maxclust", "silhouette")
    return max(scored, key=lambda cut: (cut.silhouette, -cut.n_clusters))


def _cut(linkage, square, leaves, value, criterion: str, rule: str) -> ClusterCut:
    labels = _numbered(hierarchy.fcluster(linkage, value, criterion=criterion) - 1, leaves)
    return ClusterCut(labels=labels, n_clusters=int(labels.max()) + 1, silhouette=_silhouette(square, labels),
                      cut_rule=rule)
