"""The stage of CellClustering: the cells of an Activity trace set clustered by the power spectrum of their
activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from element_calcium.compute import clustering
from element_calcium.compute.params import CellClusteringParams
from element_calcium.stages.rows import Rows, RunSettings


@dataclass(frozen=True)
class CellClusteringInputs:
    """What the stage needs.

    Attributes:
        mask_ids: (N,) int64 cell ids.
        traces: (N, T) float32 activity traces of the parameter set's signal.
        spikes: (N, T) float32 deconvolved spikes (signal ``filtered``), else None.
        outliers: mask ids in the curation's outlier group, left out.
        fps: frame rate (Hz).
        params: the complete ``cell_clustering`` parameters.
        event_times: (E,) s of the events of the parameters' ``section_event`` (None without one).
        frame_times: (T,) s of each frame (needed with ``section_event``).
    """

    mask_ids: np.ndarray
    traces: np.ndarray
    spikes: np.ndarray | None
    outliers: np.ndarray
    fps: float
    params: dict[str, Any]
    event_times: np.ndarray | None = None
    frame_times: np.ndarray | None = None


def run(inputs: CellClusteringInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The CellClustering row (the tree, its stored cut and the rule that chose it, the features) and its
    ``Assignment`` and ``Excluded`` parts.

    Raises:
        ValueError: the parameters name a ``section_event`` of which no event falls within the recording.
    """
    params = CellClusteringParams(**inputs.params)
    mask_ids = np.asarray(inputs.mask_ids, np.int64)
    outliers = np.intersect1d(np.asarray(inputs.outliers, np.int64), mask_ids)
    if len(mask_ids) - len(outliers) < 2:
        result = _unclustered(mask_ids, outliers)
    else:
        result = clustering.cluster_cells(inputs.traces, fps=inputs.fps, spikes=inputs.spikes, cell_ids=mask_ids,
                                          exclude=outliers, section=_section(inputs, params), params=params)
    master = {
        "n_clusters": result.n_clusters, "silhouette": nullable(result.silhouette), "cut_rule": result.cut_rule,
        "linkage": result.linkage,
        "distances": result.distances, "clustered_ids": result.included, "leaf_order": result.leaves,
        "frequencies": result.frequencies, "features": result.features,
    }
    return Rows(master=master, parts={
        "Assignment": [{"mask_id": int(mask_id), "fluorescence_channel": 0, "cluster": int(label)}
                       for mask_id, label in zip(result.cell_ids, result.labels)],
        "Excluded": [{"mask_id": int(row.cell), "fluorescence_channel": 0, "reason": row.reason}
                     for row in result.excluded.itertuples(index=False)],
    })


def _section(inputs: CellClusteringInputs, params: CellClusteringParams) -> list[tuple[int, int]] | None:
    """The frame windows around the events of ``params.section_event``; None for the whole recording."""
    if params.section_event is None:
        return None
    windows = clustering.event_sections(np.asarray(inputs.event_times, np.float64).ravel(), inputs.frame_times,
                                        pre_s=params.section_pre_s, post_s=params.section_post_s)
    if not windows:
        raise ValueError(f"no behaviour event of type {params.section_event!r} falls within the recording; insert "
                         "its events (behavior.insert_events) or use a parameter set without section_event")
    return windows


def _unclustered(mask_ids: np.ndarray, outliers: np.ndarray) -> clustering.CellClusters:
    """The result for a trace set with fewer than two cells to cluster: every cell left out."""
    reasons = ["outlier" if mask_id in set(outliers.tolist()) else "too_few_cells" for mask_id in mask_ids]
    empty = np.zeros(0, np.int64)
    return clustering.CellClusters(
        cell_ids=np.asarray(mask_ids, np.int64), labels=np.full(len(mask_ids), -1, np.int64),
        excluded=pd.DataFrame({"cell": np.asarray(mask_ids, np.int64), "reason": reasons}), included=empty,
        frequencies=np.zeros(0), features=np.zeros((0, 0)), distances=np.zeros(0), linkage=np.zeros((0, 4)),
        leaves=empty, n_clusters=0, silhouette=float("nan"), cut_rule="none",
    )


def nullable(value) -> float | None:
    """A float for a nullable column: None where it is undefined (None, NaN or infinite)."""
    return None if value is None or not np.isfinite(value) else float(value)
