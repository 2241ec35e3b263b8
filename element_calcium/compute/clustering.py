"""Hierarchical clustering of cells by the power spectrum of their activity, and of events by their shape.

Cells (`cluster_cells`; parameters: the fields of `element_calcium.compute.params.CellClusteringParams`):

- Signal: the traces as given (C or dF/F), or with ``signal="filtered"`` C kept only at frames where the
  deconvolved spikes S are positive: C x normalised S, S normalised to 1 where positive and 0 elsewhere
  (CalTrig's filtered C; `spike_filtered`). With ``section``, only the frames of the windows
  [start, stop) are used, concatenated in the order given.
- Features: the power spectral density (PSD) of each cell's signal, mean removed: Welch's method (Hann window
  of ``segment_s`` seconds, half overlap) or the periodogram (one FFT of the whole signal, no taper), at the
  frequencies 0 < f <= min(max_freq_hz, fps / 2); units (trace unit)^2 / Hz. ``scale="log"`` takes log10 of
  the PSD floored at 1e-12 times the median over the clustered cells of their mean PSD; ``"power"`` keeps it.
- Excluded cells: outliers (the ids in ``exclude``) and silent cells, whose signal is constant over the frames
  used or whose band power (PSD summed over the feature frequencies) is below ``silent_fraction`` times the
  median band power of the non-outlier, non-constant cells. Each is reported in
  ``excluded`` with its reason (``"outlier"`` or ``"silent"``) and gets label -1.
- Tree: `scipy.cluster.hierarchy.linkage` of the condensed ``metric`` distances between the clustered cells'
  features (observation i is ``included[i]``).

Events (`cluster_events`; parameters: the fields of `EventClusteringParams`): normalised, brought to one length
and compared as defined in ``_clustering_events``, then the same tree and cuts.

Cuts (`cut_linkage`, the same for cells and events): ``n_clusters`` -> at most that many clusters
(`scipy.cluster.hierarchy.fcluster` ``"maxclust"``; fewer when merge heights tie); ``threshold`` -> clusters
whose merge heights are all <= threshold (``"distance"``); neither -> the cut into 2..max_clusters clusters with
the highest silhouette (fewest clusters on ties). Clusters are numbered 0, 1, ... in the order they first
appear along the dendrogram's leaves (`leaf_order`).

Silhouette of a cut: the mean over the clustered observations of s(i) = (b - a) / max(a, b), where a is the
mean distance from i to the other members of its cluster and b the smallest mean distance from i to the
members of another cluster, on the distances the tree was built from; s(i) = 0 for a singleton cluster. It is
NaN for a cut into fewer than 2 clusters or into as many clusters as observations.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy import signal
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist, squareform

from element_calcium.compute._clustering_events import (
    COUNT_NORMALIZATIONS,
    counts_per_cluster,
    enforce_length,
    event_distances,
    normalize_events,
)
from element_calcium.compute.params import CellClusteringParams, EventClusteringParams

__all__ = ["COUNT_NORMALIZATIONS", "CellClusters", "ClusterCut", "EventClusters", "cluster_cells", "cluster_events",
           "counts_per_cluster", "cut_linkage", "enforce_length", "event_distances", "feature_distances",
           "leaf_order", "normalize_events", "power_spectra", "silhouette_score", "spike_filtered"]

_BLOCK_CELLS = 64  # cells whose spectra are taken together; bounds memory to a few 64 x T arrays
_LOG_FLOOR = 1e-12  # log features: PSD floored at this fraction of the median cell's mean PSD


@dataclass(frozen=True)
class ClusterCut:
    """One flat clustering taken from a tree.

    Attributes:
        labels: (M,) int64 cluster of each observation of the tree, 0..n_clusters-1.
        n_clusters: number of clusters.
        silhouette: mean silhouette of the cut (NaN when undefined; see the module notes).
    """

    labels: np.ndarray
    n_clusters: int
    silhouette: float


@dataclass(frozen=True)
class CellClusters:
    """Cells clustered by activity spectrum.

    Attributes:
        cell_ids: (N,) int64 id of every cell, in input order.
        labels: (N,) int64 cluster of each cell, 0..n_clusters-1; -1 for excluded cells.
        excluded: one row per excluded cell, columns ``cell`` (id) and ``reason`` (``"outlier"``, ``"silent"``).
        included: (M,) int64 ids of the clustered cells; observation i of the tree is cell ``included[i]``.
        frequencies: (F,) float64 Hz of the feature columns.
        features: (M, F) float64 scaled PSD of each clustered cell.
        distances: (M (M - 1) / 2,) float64 condensed distances the tree was built from.
        linkage: (M - 1, 4) float64 SciPy linkage matrix.
        leaves: (M,) int64 ids of the clustered cells in dendrogram order.
        n_clusters: number of clusters of the cut taken.
        silhouette: silhouette of that cut.
    """

    cell_ids: np.ndarray
    labels: np.ndarray
    excluded: pd.DataFrame
    included: np.ndarray
    frequencies: np.ndarray
    features: np.ndarray
    distances: np.ndarray
    linkage: np.ndarray
    leaves: np.ndarray
    n_clusters: int
    silhouette: float


@dataclass(frozen=True)
class EventClusters:
    """Events clustered by shape.

    Attributes:
        traces: (E, L) float64 events as compared: normalised and brought to one length.
        distances: (E (E - 1) / 2,) float64 condensed distances the tree was built from.
        linkage: (E - 1, 4) float64 SciPy linkage matrix.
        leaves: (E,) int64 event indices in dendrogram order.
        labels: (E,) int64 cluster of each event, 0..n_clusters-1.
        n_clusters: number of clusters of the cut taken.
        silhouette: silhouette of that cut.
    """

    traces: np.ndarray
    distances: np.ndarray
    linkage: np.ndarray
    leaves: np.ndarray
    labels: np.ndarray
    n_clusters: int
    silhouette: float


def _params(kind, values: dict):
    known = set(kind.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {kind.__name__} parameter(s) {unknown}; known: {sorted(known)}")
    return kind(**values)


# --- trees, cuts and silhouettes ------------------------------------------------------------------------------


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


def leaf_order(linkage) -> np.ndarray:
    """(M,) int64 observations of a tree in dendrogram order (left to right)."""
    return hierarchy.leaves_list(np.asarray(linkage, dtype=np.float64)).astype(np.int64)


def _numbered(flat: np.ndarray, leaves: np.ndarray) -> np.ndarray:
    """Flat cluster numbers renumbered 0.. by first appearance along the leaves."""
    order = pd.unique(flat[leaves])
    mapping = np.empty(int(flat.max()) + 1, dtype=np.int64)
    mapping[order] = np.arange(order.size)
    return mapping[flat]


def _check_cut(n_clusters, threshold, max_clusters) -> None:
    if n_clusters is not None and threshold is not None:
        raise ValueError("give n_clusters or threshold, not both")
    if n_clusters is not None and (isinstance(n_clusters, bool) or not isinstance(n_clusters, Integral)
                                   or n_clusters < 1):
        raise ValueError(f"n_clusters must be an integer >= 1, got {n_clusters!r}")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, Real)
                                  or not np.isfinite(threshold) or threshold < 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    if isinstance(max_clusters, bool) or not isinstance(max_clusters, Integral) or max_clusters < 2:
        raise ValueError(f"max_clusters must be an integer >= 2, got {max_clusters!r}")


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


def cut_linkage(linkage, distances, *, n_clusters=None, threshold=None, max_clusters: int = 10) -> ClusterCut:
    """Flat clusters from an existing tree, without recomputing features or the tree (see the module notes).

    Args:
        linkage: (M - 1, 4) SciPy linkage matrix, e.g. ``CellClusters.linkage``.
        distances: (M (M - 1) / 2,) condensed distances the tree was built from (for the silhouette).
        n_clusters: at most this many clusters.
        threshold: largest merge height within a cluster.
        max_clusters: with neither n_clusters nor threshold, the best-silhouette cut of 2..max_clusters.

    Returns:
        `ClusterCut` with labels for the tree's M observations.
    """
    _check_cut(n_clusters, threshold, max_clusters)
    linkage, distances = _check_tree(linkage, distances)
    square, leaves = squareform(distances, checks=False), leaf_order(linkage)
    if threshold is not None:
        return _cut(linkage, square, leaves, threshold, "distance")
    if n_clusters is not None:
        return _cut(linkage, square, leaves, n_clusters, "maxclust")
    cuts = [_cut(linkage, square, leaves, k, "maxclust") for k in range(2, min(max_clusters, square.shape[0] - 1) + 1)]
    scored = [cut for cut in cuts if np.isfinite(cut.silhouette)]
    if not scored:
        return _cut(linkage, square, leaves, 1, "maxclust")
    return max(scored, key=lambda cut: (cut.silhouette, -cut.n_clusters))


def _cut(linkage, square, leaves, value, criterion: str) -> ClusterCut:
    labels = _numbered(hierarchy.fcluster(linkage, value, criterion=criterion) - 1, leaves)
    return ClusterCut(labels=labels, n_clusters=int(labels.max()) + 1, silhouette=_silhouette(square, labels))


# --- cells ----------------------------------------------------------------------------------------------------


def spike_filtered(calcium, spikes) -> np.ndarray:
    """C kept where the deconvolved spikes are positive, 0 elsewhere: C x (S normalised to 0 / 1).

    Args:
        calcium: (N, T) denoised calcium C.
        spikes: (N, T) deconvolved spikes S.

    Returns:
        (N, T) float32.
    """
    calcium, spikes = np.asarray(calcium), np.asarray(spikes)
    if calcium.shape != spikes.shape:
        raise ValueError(f"spikes must have the shape of the traces {calcium.shape}, got {spikes.shape}")
    return np.where(spikes > 0, calcium, 0).astype(np.float32)


def _check_traces(traces) -> np.ndarray:
    array = np.asarray(traces)
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"traces must be a 2-D (cells, frames) array with >= 2 frames, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"traces must hold real numbers, got dtype {array.dtype}")
    bad = np.flatnonzero(~np.isfinite(array).all(axis=1))
    if bad.size:
        raise ValueError(f"traces of rows {bad[:10].tolist()} contain NaN or infinite values")
    return array


def _is_window(value) -> bool:
    return (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2
            and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value))


def _frames(section, n_frames: int) -> np.ndarray:
    """Frame indices of the windows [start, stop) of ``section``, concatenated."""
    if section is None:
        return np.arange(n_frames)
    windows = [section] if _is_window(section) else list(section)
    frames = []
    for window in windows:
        if not _is_window(window) or not 0 <= window[0] < window[1] <= n_frames:
            raise ValueError(f"section windows must be (start, stop) frames with 0 <= start < stop <= {n_frames}, "
                             f"got {window!r}")
        frames.append(np.arange(window[0], window[1]))
    if not frames or sum(f.size for f in frames) < 2:
        raise ValueError(f"section must select at least 2 frames, got {section!r}")
    return np.concatenate(frames)


def power_spectra(traces, fps, *, psd: str = "welch", segment_s: float = 20.0,
                  max_freq_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Power spectral density of each trace, mean removed, without the 0 Hz bin (see the module notes).

    Args:
        traces: (N, T) traces.
        fps: frames per second, > 0.
        psd: ``"welch"`` or ``"periodogram"``.
        segment_s: Welch segment length, seconds (at most the trace).
        max_freq_hz: highest frequency kept, Hz; None: fps / 2.

    Returns:
        frequencies (F,) float64 Hz and PSD (N, F) float64 in (trace unit)^2 / Hz.
    """
    traces, fps = _check_traces(traces), _check_fps(fps)
    if psd not in ("welch", "periodogram"):
        raise ValueError(f"psd must be 'welch' or 'periodogram', got {psd!r}")
    n_frames = traces.shape[1]
    segment = min(max(int(round(segment_s * fps)), 2), n_frames)
    blocks = []
    for start in range(0, traces.shape[0], _BLOCK_CELLS):
        block = traces[start:start + _BLOCK_CELLS].astype(np.float64)
        if psd == "welch":
            frequencies, power = signal.welch(block, fs=fps, window="hann", nperseg=segment, axis=-1)
        else:
            frequencies, power = signal.periodogram(block, fs=fps, window="boxcar", axis=-1)
        blocks.append(power)
    keep = (frequencies > 0) & (frequencies <= (fps / 2 if max_freq_hz is None else max_freq_hz))
    if not keep.any():
        raise ValueError(f"no frequency in (0, {max_freq_hz}] Hz at {n_frames} frames and {fps} fps")
    return frequencies[keep], np.concatenate(blocks)[:, keep]


def _check_fps(fps) -> float:
    if isinstance(fps, bool) or not isinstance(fps, Real) or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
    return float(fps)


def _cell_ids(cell_ids, n_cells: int) -> np.ndarray:
    if cell_ids is None:
        return np.arange(n_cells, dtype=np.int64)
    ids = np.asarray(cell_ids)
    if ids.shape != (n_cells,) or ids.dtype.kind not in "iu" or np.unique(ids).size != n_cells:
        raise ValueError(f"cell_ids must be {n_cells} distinct integers, one per row of traces")
    return ids.astype(np.int64)


def _exclusions(ids: np.ndarray, exclude, constant: np.ndarray, power: np.ndarray, fraction: float) -> np.ndarray:
    """(N,) reason per cell: "" (clustered), "outlier" or "silent"."""
    outliers = np.asarray([int(v) for v in exclude], dtype=np.int64)
    unknown = np.setdiff1d(outliers, ids)
    if unknown.size:
        raise ValueError(f"exclude names cells that are not in cell_ids: {unknown[:10].tolist()}")
    outlier = np.isin(ids, outliers)
    reference = power[~outlier & ~constant]
    silent = constant | (power < fraction * (np.median(reference) if reference.size else np.inf))
    return np.where(outlier, "outlier", np.where(silent, "silent", ""))


def feature_distances(features, *, metric: str) -> np.ndarray:
    """Condensed ``metric`` distances (``"euclidean"`` or ``"cosine"``) between the rows of (M, F) features."""
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    return pdist(np.asarray(features, dtype=np.float64), metric)


def _scaled(power: np.ndarray, scale: str) -> np.ndarray:
    if scale == "power":
        return power
    floor = _LOG_FLOOR * np.median(power.mean(axis=1))
    return np.log10(np.maximum(power, floor if floor > 0 else np.finfo(np.float64).tiny))


def cluster_cells(traces, fps, *, spikes=None, cell_ids=None, exclude=(), section=None, **params) -> CellClusters:
    """Cells clustered by the power spectrum of their activity (see the module notes).

    Args:
        traces: (N, T) C or dF/F, one row per cell.
        fps: frames per second, > 0.
        spikes: (N, T) deconvolved spikes S; required with ``signal="filtered"`` (traces are then C), and only then.
        cell_ids: (N,) distinct integer id of each row; default 0..N-1.
        exclude: ids of outlier cells, left out of the clustering.
        section: a window (start, stop) of frames, or a list of windows, whose frames are used; None: all.
        **params: fields of `CellClusteringParams` (psd, metric, method, n_clusters, threshold, ...).

    Returns:
        `CellClusters`.

    Raises:
        ValueError: bad shapes, NaN or infinite values, bad parameters, unknown excluded ids, bad sections,
            or fewer than 2 cells left to cluster.
    """
    settings = _params(CellClusteringParams, params)
    array = _check_traces(traces)
    if (spikes is not None) != (settings.signal == "filtered"):
        raise ValueError("spikes are needed with signal 'filtered', and only then")
    if spikes is not None:
        array = spike_filtered(array, spikes)
    ids = _cell_ids(cell_ids, array.shape[0])
    used = array if section is None else array[:, _frames(section, array.shape[1])]
    frequencies, power = power_spectra(used, fps, psd=settings.psd, segment_s=settings.segment_s,
                                       max_freq_hz=settings.max_freq_hz)
    reasons = _exclusions(ids, exclude, np.ptp(used, axis=1) == 0, power.sum(axis=1), settings.silent_fraction)
    keep = reasons == ""
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 cells left to cluster: {(reasons == 'outlier').sum()} outliers and "
                         f"{(reasons == 'silent').sum()} silent cells of {ids.size}")
    features = _scaled(power[keep], settings.scale)
    distances = feature_distances(features, metric=settings.metric)
    linkage = hierarchy.linkage(distances, method=settings.method)
    cut = cut_linkage(linkage, distances, n_clusters=settings.n_clusters, threshold=settings.threshold,
                      max_clusters=settings.max_clusters)
    labels = np.full(ids.size, -1, dtype=np.int64)
    labels[keep] = cut.labels
    excluded = pd.DataFrame({"cell": ids[~keep], "reason": reasons[~keep].astype(object)})
    return CellClusters(cell_ids=ids, labels=labels, excluded=excluded, included=ids[keep], frequencies=frequencies,
                        features=features, distances=distances, linkage=linkage,
                        leaves=ids[keep][leaf_order(linkage)], n_clusters=cut.n_clusters, silhouette=cut.silhouette)


# --- events ---------------------------------------------------------------------------------------------------


def cluster_events(traces, **params) -> EventClusters:
    """Events clustered by shape (see the module notes and ``_clustering_events``).

    Args:
        traces: E >= 2 1-D event traces of any lengths (e.g. dF/F from start to end of each transient).
        **params: fields of `EventClusteringParams` (normalize, length, pad_mode, metric, method, ...).

    Returns:
        `EventClusters`.

    Raises:
        ValueError: fewer than 2 events, empty or non-finite events, bad parameters, or constant events
            with metric ``"correlation"``.
        ImportError: metric ``"dtw"`` without the optional package tslearn.
    """
    settings = _params(EventClusteringParams, params)
    events = enforce_length(normalize_events(traces, settings.normalize), length=settings.length,
                            pad_mode=settings.pad_mode, pad_value=settings.pad_value)
    distances = event_distances(events, metric=settings.metric)
    linkage = hierarchy.linkage(distances, method=settings.method)
    cut = cut_linkage(linkage, distances, n_clusters=settings.n_clusters, threshold=settings.threshold,
                      max_clusters=settings.max_clusters)
    return EventClusters(traces=events, distances=distances, linkage=linkage, leaves=leaf_order(linkage),
                         labels=cut.labels, n_clusters=cut.n_clusters, silhouette=cut.silhouette)
