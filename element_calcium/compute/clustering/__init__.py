"""Hierarchical clustering of cells by the power spectrum of their activity, and of events by their shape.

Cells (`cluster_cells`; ``params``: a `element_calcium.compute.params.CellClusteringParams`):

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
- Sections around behaviour events (CalTrig's sections): `event_sections` turns event times into the frame
  windows [t - pre, t + post) s, merged where they overlap, which are passed as ``section``.

Events (`cluster_events`; ``params``: an `EventClusteringParams`): normalised, brought to one length
and compared as defined in ``_events``, then the same tree and cuts.

Cuts (`cut_linkage`, the same for cells and events): ``n_clusters`` -> at most that many clusters
(`scipy.cluster.hierarchy.fcluster` ``"maxclust"``; fewer when merge heights tie); ``threshold`` -> clusters
whose merge heights are all <= threshold (``"distance"``); neither -> the automatic cut ``auto_cut``:
``"eigengap"`` (default) cuts into `eigengap_count` clusters, the count at the largest gap between the
eigenvalues of the normalised, locally scaled affinity of the observations (spectral clustering's estimate of
the number of groups; it follows groups at every scale, where a single height or silhouette favours the
first, widest split); ``"silhouette"`` takes the cut into 2..max_clusters clusters with the highest silhouette
(fewest clusters on ties). The result says which rule chose it (``cut_rule``). Clusters are numbered 0, 1, ...
in the order they first appear along the dendrogram's leaves (`leaf_order`).

Silhouette of a cut: the mean over the clustered observations of s(i) = (b - a) / max(a, b), where a is the
mean distance from i to the other members of its cluster and b the smallest mean distance from i to the
members of another cluster, on the distances the tree was built from; s(i) = 0 for a singleton cluster. It is
NaN for a cut into fewer than 2 clusters or into as many clusters as observations.
"""

from __future__ import annotations

from element_calcium.compute.clustering._cells import (
    CellClusters,
    cluster_cells,
    event_sections,
    feature_distances,
    power_spectra,
    spike_filtered,
)
from element_calcium.compute.clustering._events import (
    COUNT_NORMALIZATIONS,
    EventClusters,
    cluster_events,
    counts_per_cluster,
    dtw_distances,
    enforce_length,
    event_distances,
    normalize_events,
)
from element_calcium.compute.clustering._tree import (
    ClusterCut,
    cut_linkage,
    eigengap_count,
    leaf_order,
    silhouette_score,
)

__all__ = ["COUNT_NORMALIZATIONS", "CellClusters", "ClusterCut", "EventClusters", "cluster_cells", "cluster_events",
           "counts_per_cluster", "cut_linkage", "dtw_distances", "eigengap_count", "enforce_length",
           "event_distances", "event_sections", "feature_distances", "leaf_order", "normalize_events",
           "power_spectra", "silhouette_score", "spike_filtered"]
