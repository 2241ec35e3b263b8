"""The stage of EventClustering: the events of a task (spatiotemporal events, transients) clustered by shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from element_calcium.compute import clustering
from element_calcium.compute.params import EventClusteringParams
from element_calcium.stages.cell_clustering import nullable
from element_calcium.stages.rows import Rows, RunSettings


@dataclass(frozen=True)
class EventMember:
    """One event to cluster.

    Attributes:
        part: the assignment part it goes to (``"SpatialAssignment"`` or ``"TransientAssignment"``).
        event_key: the event's key in that part beyond the task's key.
        event_group: the group label of its source.
        trace: (L,) float32 its trace.
    """

    part: str
    event_key: dict[str, Any]
    event_group: str
    trace: np.ndarray


@dataclass(frozen=True)
class EventClusteringInputs:
    """The events of the task (``task``: its key as text, for messages), spatiotemporal events first, then
    transients, and the complete ``event_clustering`` parameters."""

    task: str
    members: list[EventMember]
    params: dict[str, Any]


def run(inputs: EventClusteringInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The EventClustering row, one assignment row per event (in the order of ``members``) and the ``Counts`` of
    each cluster in each group.

    Raises:
        ValueError: fewer than two events.
    """
    members = inputs.members
    if len(members) < 2:
        raise ValueError(f"event clustering {inputs.task} has {len(members)} event(s); at least 2 are needed")
    result = clustering.cluster_events([member.trace for member in members],
                                       params=EventClusteringParams(**inputs.params))
    counts = clustering.counts_per_cluster(result.labels, [member.event_group for member in members])
    parts: dict[str, list[dict[str, Any]]] = {"SpatialAssignment": [], "TransientAssignment": []}
    for index, (member, label) in enumerate(zip(members, result.labels.tolist())):
        parts[member.part].append({**member.event_key, "event_index": index, "cluster": label})
    totals = counts.sum(axis=0)
    parts["Counts"] = [
        {"event_group": str(group), "cluster": int(cluster), "event_count": int(counts.loc[cluster, group]),
         "fraction": float(counts.loc[cluster, group] / totals[group])}
        for cluster in counts.index for group in counts.columns
    ]
    master = {"n_events": len(result.labels), "n_clusters": result.n_clusters,
              "silhouette": nullable(result.silhouette), "cut_rule": result.cut_rule, "linkage": result.linkage, "leaf_order": result.leaves}
    return Rows(master=master, parts=parts)
