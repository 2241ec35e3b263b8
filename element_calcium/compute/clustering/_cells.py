"""Cells clustered by the power spectrum of their activity (module docstring of
`element_calcium.compute.clustering`)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

from element_calcium.compute import _checks
from element_calcium.compute.clustering._tree import cut_linkage, leaf_order
from element_calcium.compute.params import CellClusteringParams

_BLOCK_CELLS = 64  # cells whose spectra are taken together; bounds memory to a few 64 x T arrays
_LOG_FLOOR = 1e-12  # log features: PSD floored at this fraction of the median cell's mean PSD


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
        cut_rule: how the cut was chosen: ``"n_clusters"``, ``"threshold"``, ``"eigengap"`` or ``"silhouette"``.
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
    cut_rule: str


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


def event_sections(event_times, frame_times, *, pre_s: float, post_s: float) -> list[tuple[int, int]]:
    """The frames within [t - pre_s, t + post_s) seconds of each event time t, as (start, stop) windows.

    Windows that overlap or touch are merged, so no frame is used twice; windows are in time order and clipped
    to the recording. Events whose window holds no frame are dropped.

    Args:
        event_times: (E,) s on the clock of ``frame_times``.
        frame_times: (T,) s, increasing, the time of each frame.
        pre_s: seconds before each event, >= 0.
        post_s: seconds after each event, > 0.

    Returns:
        Windows ``[(start, stop), ...]`` of frame indices, stop exclusive; empty when no event has a frame.
    """
    times = np.asarray(frame_times, dtype=np.float64)
    events = np.sort(np.asarray(event_times, dtype=np.float64).ravel())
    if times.ndim != 1 or times.size < 2 or not np.all(np.diff(times) > 0):
        raise ValueError(f"frame_times must be increasing times of >= 2 frames, got shape {times.shape}")
    if not np.isfinite(events).all():
        raise ValueError("event_times must be finite seconds")
    if not (pre_s >= 0 and post_s > 0):
        raise ValueError(f"pre_s must be >= 0 and post_s > 0 seconds, got {pre_s} and {post_s}")
    starts = np.searchsorted(times, events - pre_s, side="left")
    stops = np.searchsorted(times, events + post_s, side="left")
    windows: list[list[int]] = []
    for start, stop in zip(starts.tolist(), stops.tolist()):
        if stop <= start:
            continue
        if windows and start <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], stop)
        else:
            windows.append([start, stop])
    return [(start, stop) for start, stop in windows]


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
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    traces, fps = _check_traces(traces), _checks.fps(fps)
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


def cluster_cells(traces, *, fps: float, spikes=None, cell_ids=None, exclude=(), section=None,
                  params: CellClusteringParams = CellClusteringParams()) -> CellClusters:
    """Cells clustered by the power spectrum of their activity (see the module notes).

    Args:
        traces: (N, T) C or dF/F, one row per cell.
        fps: frames per second, > 0.
        spikes: (N, T) deconvolved spikes S; required with ``signal="filtered"`` (traces are then C), and only then.
        cell_ids: (N,) distinct integer id of each row; default 0..N-1.
        exclude: ids of outlier cells, left out of the clustering.
        section: a window (start, stop) of frames, or a list of windows, whose frames are used; None: all.
        params: the clustering parameters (signal, psd, segment_s, max_freq_hz, scale, metric, method, and the
            cut: n_clusters, threshold or max_clusters and auto_cut; silent_fraction). Its section_* fields
            are applied by the caller, which turns the events into ``section`` (`event_sections`).

    Returns:
        `CellClusters`.

    Raises:
        ValueError: bad shapes, NaN or infinite values, bad parameters, unknown excluded ids, bad sections,
            or fewer than 2 cells left to cluster.
    """
    array = _check_traces(traces)
    if (spikes is not None) != (params.signal == "filtered"):
        raise ValueError("spikes are needed with signal 'filtered', and only then")
    if spikes is not None:
        array = spike_filtered(array, spikes)
    ids = _cell_ids(cell_ids, array.shape[0])
    used = array if section is None else array[:, _frames(section, array.shape[1])]
    frequencies, power = power_spectra(used, fps, psd=params.psd, segment_s=params.segment_s,
                                       max_freq_hz=params.max_freq_hz)
    reasons = _exclusions(ids, exclude, np.ptp(used, axis=1) == 0, power.sum(axis=1), params.silent_fraction)
    keep = reasons == ""
    if keep.sum() < 2:
        raise ValueError(f"fewer than 2 cells left to cluster: {(reasons == 'outlier').sum()} outliers and "
                         f"{(reasons == 'silent').sum()} silent cells of {ids.size}")
    features = _scaled(power[keep], params.scale)
    distances = feature_distances(features, metric=params.metric)
    linkage = hierarchy.linkage(distances, method=params.method)
    cut = cut_linkage(linkage, distances, n_clusters=params.n_clusters, threshold=params.threshold,
                      max_clusters=params.max_clusters, auto_cut=params.auto_cut)
    labels = np.full(ids.size, -1, dtype=np.int64)
    labels[keep] = cut.labels
    excluded = pd.DataFrame({"cell": ids[~keep], "reason": reasons[~keep].astype(object)})
    return CellClusters(cell_ids=ids, labels=labels, excluded=excluded, included=ids[keep], frequencies=frequencies,
                        features=features, distances=distances, linkage=linkage,
                        leaves=ids[keep][leaf_order(linkage)], n_clusters=cut.n_clusters, silhouette=cut.silhouette,
                        cut_rule=cut.cut_rule)
