"""Event traces made comparable (normalised, one length), their pairwise distances, and counts per cluster.

Definitions (E events, each a 1-D trace of its own length; L the common length):

- Normalisation: the steps of `element_calcium.compute.params.normalization_steps`, applied in order to each
  event; a statistic is taken over the event's own frames as they stand after the previous steps. Dividing by
  a statistic that is 0 (a flat event) leaves the event as it is, so a flat event stays flat.
- Length: L is the given number of frames, or the longest or shortest event's length. An event longer than L
  keeps its first L frames; a shorter one is padded after its last frame, with its last value (``"edge"``) or
  with ``pad_value`` (``"constant"``). Events are aligned on their first frame.
- Distances (condensed, E (E - 1) / 2, `scipy.spatial.distance.squareform` order): ``"euclidean"``;
  ``"correlation"``, 1 - Pearson r (0..2), undefined for a constant event (an error); ``"dtw"``, dynamic time
  warping within a Sakoe-Chiba band (`dtw_distances`). Unconstrained warping maps a slow rise onto a fast one
  and a long decay onto a short one, so shapes that differ in their time constants come out alike (on the
  simulated shapes ARI 0.43 with no band, 1.0 within a band of 5 % of the length).
- Counts per cluster: events of each cluster (rows) in each group (columns); ``normalize="group"`` divides each
  column by its total (fraction of a group's events in each cluster, comparable across groups with different
  numbers of events), ``"cluster"`` each row by its total, ``"total"`` everything by the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import pdist

from element_calcium.compute.clustering._tree import cut_linkage, leaf_order
from element_calcium.compute.params import LENGTH_RULES, PAD_MODES, EventClusteringParams, normalization_steps

COUNT_NORMALIZATIONS = ("group", "cluster", "total")
_STATISTICS = {"min": np.min, "max": np.max, "mean": np.mean, "median": np.median, "std": np.std}


def event_traces(traces) -> list[np.ndarray]:
    """The events as a list of 1-D float64 arrays (rows of a 2-D array count as events).

    Raises:
        ValueError: fewer than 2 events, an event that is not 1-D or is empty, or NaN / infinite values.
    """
    events = [np.asarray(trace, dtype=np.float64) for trace in traces]
    if len(events) < 2:
        raise ValueError(f"traces must hold at least 2 events, got {len(events)}")
    bad_shape = [i for i, event in enumerate(events) if event.ndim != 1 or event.size == 0]
    if bad_shape:
        raise ValueError(f"events {bad_shape[:10]} are not non-empty 1-D traces")
    not_finite = [i for i, event in enumerate(events) if not np.isfinite(event).all()]
    if not_finite:
        raise ValueError(f"events {not_finite[:10]} contain NaN or infinite values")
    return events


def normalize_events(traces, steps) -> list[np.ndarray]:
    """Each event normalised by ``steps`` (see the module notes).

    Args:
        traces: E 1-D event traces.
        steps: normalisation instructions, e.g. ``[["subtract", "min"], ["divide", "max"]]``.

    Returns:
        E float64 traces, each as long as its input.
    """
    steps = normalization_steps(steps)
    return [_normalized(event, steps) for event in event_traces(traces)]


def _normalized(event: np.ndarray, steps) -> np.ndarray:
    for operation, statistic in steps:
        value = _STATISTICS[statistic](event)
        if operation == "subtract":
            event = event - value
        elif value != 0:
            event = event / value
    return event


def _target_length(events: list[np.ndarray], length) -> int:
    sizes = [event.size for event in events]
    if length == "longest":
        return max(sizes)
    if length == "shortest":
        return min(sizes)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be an integer >= 1 frames or one of {LENGTH_RULES}, got {length!r}")
    return int(length)


def enforce_length(traces, *, length="longest", pad_mode: str = "edge", pad_value: float = 0.0) -> np.ndarray:
    """The events cut or padded to one length (see the module notes).

    Args:
        traces: E 1-D event traces.
        length: L in frames, ``"longest"`` or ``"shortest"``.
        pad_mode: ``"edge"`` or ``"constant"``.
        pad_value: padding value with ``"constant"``.

    Returns:
        (E, L) float64.
    """
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    events = event_traces(traces)
    n_frames = _target_length(events, length)
    out = np.empty((len(events), n_frames), dtype=np.float64)
    for row, event in enumerate(events):
        kept = event[:n_frames]
        out[row, :kept.size] = kept
        out[row, kept.size:] = kept[-1] if pad_mode == "edge" else pad_value
    return out


_DTW_PAIRS = 4096  # event pairs whose warping is computed together; bounds memory to a few 4096 x L arrays


def dtw_distances(events, *, band: float = 0.05) -> np.ndarray:
    """Condensed dynamic-time-warping distances between equal-length events, within a Sakoe-Chiba band.

    The distance of events a and b is sqrt(min over warping paths of the sum of (a_i - b_j)^2 along the path),
    a path running from (0, 0) to (L - 1, L - 1) by steps (1, 0), (0, 1) or (1, 1) and keeping
    |i - j| <= w, w = round(band L) (tslearn's ``dtw`` with ``sakoe_chiba_radius=w``). w = 0 gives the
    euclidean distance.

    Args:
        events: (E, L) events, e.g. from `enforce_length`.
        band: half-width of the band as a fraction of L, in [0, 1].

    Returns:
        (E (E - 1) / 2,) float64.
    """
    events = np.asarray(events, dtype=np.float64)
    if events.ndim != 2 or events.shape[0] < 2:
        raise ValueError(f"events must be a 2-D (events, frames) array of >= 2 events, got shape {events.shape}")
    if not 0 <= band <= 1:
        raise ValueError(f"band must be in [0, 1], got {band!r}")
    width = int(round(band * events.shape[1]))
    first, second = np.triu_indices(events.shape[0], 1)
    out = np.empty(first.size, dtype=np.float64)
    for start in range(0, first.size, _DTW_PAIRS):
        chunk = slice(start, start + _DTW_PAIRS)
        out[chunk] = _warped(events[first[chunk]], events[second[chunk]], width)
    return out


def _warped(a: np.ndarray, b: np.ndarray, width: int) -> np.ndarray:
    """(P,) DTW distance of each row pair of (P, L) ``a`` and ``b`` within the band |i - j| <= width."""
    n_pairs, length = a.shape
    previous = np.full((n_pairs, length + 1), np.inf)
    previous[:, 0] = 0.0
    for i in range(length):
        current = np.full((n_pairs, length + 1), np.inf)
        low, high = max(0, i - width), min(length - 1, i + width)
        cost = (a[:, i:i + 1] - b[:, low:high + 1]) ** 2
        diagonal_or_up = np.minimum(previous[:, low:high + 1], previous[:, low + 1:high + 2])
        for offset, j in enumerate(range(low, high + 1)):
            current[:, j + 1] = cost[:, offset] + np.minimum(diagonal_or_up[:, offset], current[:, j])
        previous = current
    return np.sqrt(previous[:, length])


def event_distances(events, *, metric: str, dtw_band: float = 0.05) -> np.ndarray:
    """Condensed pairwise distances between equal-length events.

    Args:
        events: (E, L) events, e.g. from `enforce_length`.
        metric: ``"euclidean"``, ``"correlation"`` or ``"dtw"``.
        dtw_band: with ``"dtw"``, the band's half-width as a fraction of L (`dtw_distances`).

    Returns:
        (E (E - 1) / 2,) float64.

    Raises:
        ValueError: unknown metric, or constant events with ``"correlation"``.
    """
    events = np.asarray(events, dtype=np.float64)
    if metric == "dtw":
        return dtw_distances(events, band=dtw_band)
    if metric == "correlation":
        constant = np.flatnonzero(np.ptp(events, axis=1) == 0)
        if constant.size:
            raise ValueError(f"events {constant[:10].tolist()} are constant after normalisation and length "
                             "enforcement; their correlation distance is undefined")
        return pdist(events, "correlation")
    if metric == "euclidean":
        return pdist(events, "euclidean")
    raise ValueError(f"metric must be one of ('euclidean', 'correlation', 'dtw'), got {metric!r}")


def counts_per_cluster(labels, groups, *, normalize: str | None = None) -> pd.DataFrame:
    """Events of each cluster in each group (e.g. condition, recording).

    Args:
        labels: (E,) cluster of each event.
        groups: (E,) group of each event.
        normalize: None (counts), ``"group"``, ``"cluster"`` or ``"total"`` (see the module notes).

    Returns:
        DataFrame, index ``cluster`` (sorted), columns ``group`` (sorted); int64 counts, or float64 fractions
        when normalised. A cluster absent from a group counts 0.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    if labels.ndim != 1 or labels.shape != groups.shape:
        raise ValueError(f"labels and groups must be 1-D of one length, got shapes {labels.shape} and {groups.shape}")
    if normalize is not None and normalize not in COUNT_NORMALIZATIONS:
        raise ValueError(f"normalize must be None or one of {COUNT_NORMALIZATIONS}, got {normalize!r}")
    counts = pd.crosstab(pd.Series(labels, name="cluster"), pd.Series(groups, name="group"))
    if normalize == "group":
        return counts / counts.sum(axis=0)
    if normalize == "cluster":
        return counts.div(counts.sum(axis=1), axis=0)
    if normalize == "total":
        return counts / labels.size
    return counts


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
        cut_rule: how the cut was chosen: ``"n_clusters"``, ``"threshold"``, ``"eigengap"`` or ``"silhouette"``.
    """

    traces: np.ndarray
    distances: np.ndarray
    linkage: np.ndarray
    leaves: np.ndarray
    labels: np.ndarray
    n_clusters: int
    silhouette: float
    cut_rule: str


def cluster_events(traces, *, params: EventClusteringParams = EventClusteringParams()) -> EventClusters:
    """Events clustered by shape (see the module notes and ``_events``).

    Args:
        traces: E >= 2 1-D event traces of any lengths (e.g. dF/F from start to end of each transient).
        params: the clustering parameters (normalize, length, pad_mode, pad_value, metric, dtw_band, method, and
            the cut: n_clusters, threshold or max_clusters and auto_cut).

    Returns:
        `EventClusters`.

    Raises:
        ValueError: fewer than 2 events, empty or non-finite events, bad parameters, or constant events
            with metric ``"correlation"``.
    """
    events = enforce_length(normalize_events(traces, params.normalize), length=params.length,
                            pad_mode=params.pad_mode, pad_value=params.pad_value)
    distances = event_distances(events, metric=params.metric, dtw_band=params.dtw_band)
    linkage = hierarchy.linkage(distances, method=params.method)
    cut = cut_linkage(linkage, distances, n_clusters=params.n_clusters, threshold=params.threshold,
                      max_clusters=params.max_clusters, auto_cut=params.auto_cut)
    return EventClusters(traces=events, distances=distances, linkage=linkage, leaves=leaf_order(linkage),
                         labels=cut.labels, n_clusters=cut.n_clusters, silhouette=cut.silhouette,
                         cut_rule=cut.cut_rule)
