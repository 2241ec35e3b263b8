"""Clusters schema: cells clustered by their activity spectrum, events clustered by shape.

Activate it after the imaging and events schemas::

    clusters.activate("ec_clusters")

- `CellClustering`: for each Activity trace set of a curation and each ``cells`` parameter set, the
  hierarchical clustering of the cells by the power spectrum of their activity
  (`compute.clustering.cluster_cells`), over the whole recording or, with ``section_event``, over the
  windows around that type's `events.BehaviorEvent` rows (CalTrig's sections). The tree is stored, so `CellClustering.cut` gives the clusters
  of any cut (a number of clusters or a distance threshold) without recomputing. Cells the curation
  puts in the cell group ``"outliers"`` are left out, as are silent cells; both are listed with the reason.
- `EventClusteringTask` (Manual) names the events to cluster together — spatiotemporal events and/or
  transients of any recordings, each source with a group label such as a condition — and
  `EventClustering` clusters them by shape (`compute.clustering.cluster_events`) and counts each
  cluster's events per group.

Parameter set 0 (``cells``) and 1 (``events``) are built in.
"""

from __future__ import annotations

import importlib
from typing import Any

import datajoint as dj
import numpy as np
import pandas as pd

from . import _schema_runtime, events, imaging, stages
from ._schema_runtime import StageTable, insert_paramset, paramset_row
from .stages.cell_clustering import CellClusteringInputs
from .stages.event_clustering import EventClusteringInputs, EventMember
from ._fetched import pack, unpack
from .output_dirs import key_of
from .compute import clustering

schema = dj.Schema()

OUTLIER_GROUP = "outliers"  # cells a curation puts in this cell group are left out of cell clustering
SIGNAL_METHOD = {"denoised": "denoised", "dff": "dff", "filtered": "denoised"}  # params signal -> Activity method
TARGET_STEP = {"cells": "cell_clustering", "events": "event_clustering"}


def activate(schema_name: str, *, create_schema: bool = True, create_tables: bool = True) -> None:
    """Bind the clusters tables to ``schema_name``; the imaging and events schemas must be activated first."""
    if not (imaging.schema.is_activated() and events.schema.is_activated()):
        raise dj.DataJointError("activate the imaging and events schemas before the clusters schema")
    if create_schema:
        imaging.create_utf8mb4_schema(schema_name)
    schema.activate(schema_name, create_schema=create_schema, create_tables=create_tables)
    _schema_runtime.record_activated(importlib.import_module(__name__))


def _paramset_row(clustering_paramset_id: int, target: str, description: str, params: dict) -> dict[str, Any]:
    if target not in TARGET_STEP:
        raise ValueError(f"target must be one of {tuple(TARGET_STEP)}, got {target!r}")
    return paramset_row("clustering_paramset_id", clustering_paramset_id, description, params,
                        purpose={"step": TARGET_STEP[target]}, columns={"target": target})


@schema
class ClusteringParamSet(dj.Lookup):
    """Parameter sets of clustering, validated, complete and hashed.

    Attributes:
        clustering_paramset_id: the set's id; 0 (cells) and 1 (events) hold the defaults.
        target: ``cells`` or ``events``.
        paramset_desc: what the set is for.
        param_set_hash: MD5 UUID of the canonical JSON of ``{"step": ..., "params": params}``.
        params: the complete parameters (`compute.params.CellClusteringParams`, ``EventClusteringParams``).
    """

    definition = """
    clustering_paramset_id: int16
    ---
    target: enum('cells', 'events')   # what is clustered
    paramset_desc: varchar(255)
    param_set_hash: uuid              # MD5 of the canonical JSON of step and params
    unique index (param_set_hash)
    params: json                      # complete parameters
    """
    contents = [
        _paramset_row(0, "cells", "cells by activity spectrum, defaults", {}),
        _paramset_row(1, "events", "events by shape, defaults", {}),
    ]

    @classmethod
    def insert_new_params(cls, target: str, clustering_paramset_id: int, paramset_desc: str,
                          params: dict[str, Any]) -> None:
        """Validate, hash and insert a parameter set for ``target`` (``"cells"`` or ``"events"``).

        The same parameters under the same id are a no-op; the same parameters under another id, or other
        parameters under a taken id, raise ``dj.DataJointError``.

        Raises:
            ValueError: unknown target, unknown key or out-of-range value.
        """
        insert_paramset(cls, _paramset_row(clustering_paramset_id, target, paramset_desc, params),
                                "clustering_paramset_id")


# ---------------------------------------------------------------------------- cells


@schema
class CellClustering(StageTable, dj.Computed):
    """The cells of an Activity trace set clustered by the power spectrum of their activity
    (`stages.cell_clustering`).

    Attributes:
        n_clusters, silhouette: the stored cut (the parameter set's) and its mean silhouette (None: undefined).
        cut_rule: what chose that cut: the parameter set's ``n_clusters`` or ``threshold``, or its automatic
            rule ``auto_cut`` (``eigengap``, ``silhouette``); ``none`` when fewer than two cells were left.
        linkage, distances: the SciPy tree of the M clustered cells and their condensed feature distances.
        clustered_ids, leaf_order: mask ids in observation order and in dendrogram order.
        frequencies, features: (F,) Hz and (M, F) spectral features.
        Assignment: per cell, its cluster (-1: left out); Excluded: per cell left out, why.
    """

    definition = """
    # cells of an Activity trace set clustered by the power spectrum of their activity
    -> imaging.Activity
    -> ClusteringParamSet
    ---
    n_clusters: int16                  # clusters of the stored cut (the parameter set's)
    silhouette=null: float32           # mean silhouette of that cut; null when undefined
    cut_rule="": varchar(16)           # what chose the cut: n_clusters, threshold, eigengap, silhouette (none: no tree)
    linkage: <blob>                    # (M - 1, 4) SciPy linkage of the M clustered cells
    distances: <blob>                  # (M (M - 1) / 2,) condensed feature distances
    clustered_ids: <blob>              # (M,) mask ids in the linkage's observation order
    leaf_order: <blob>                 # (M,) mask ids in dendrogram order
    frequencies: <blob>                # (F,) Hz of the spectral features
    features: <blob>                   # (M, F) spectral features of the clustered cells
    """

    class Assignment(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        ---
        cluster: int16                   # 0, 1, ... in dendrogram order; -1: left out (see Excluded)
        """

    class Excluded(dj.Part):
        definition = """
        -> master
        -> imaging.Activity.Trace
        ---
        reason: varchar(16)              # outlier (in the curation's "outliers" group), silent, or too_few_cells
        """

    @property
    def key_source(self):
        pairs = [
            {"clustering_paramset_id": paramset_id, "extraction_method": SIGNAL_METHOD[params["signal"]]}
            for paramset_id, params in zip(*(ClusteringParamSet & {"target": "cells"}).to_arrays(
                "clustering_paramset_id", "params"))
        ]
        return (imaging.Activity * ClusteringParamSet.proj()) & pairs

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        params = (ClusteringParamSet & key).fetch1("params")
        curation = key_of(imaging.Curation.primary_key, key)
        mask_ids, traces = (imaging.Activity.Trace & key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
        spikes = None
        if params["signal"] == "filtered":
            spikes = (imaging.Activity.Trace & curation & {"extraction_method": "deconvolved"}).to_arrays(
                "activity_trace", order_by="mask_id")
        outliers = (imaging.Curation.CellGroup & curation & {"group_name": OUTLIER_GROUP}).to_arrays("mask_id")
        event_times = frame_times = None
        if params.get("section_event") is not None:
            recording = {name: key[name] for name in imaging.Recording.primary_key}
            event_times = (events.BehaviorEvent & recording & {"event_type": params["section_event"]}).to_arrays(
                "event_time", order_by="event_time")
            frame_times = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times")
        return (pack(vars(CellClusteringInputs(
            mask_ids=mask_ids, traces=_stacked(traces), spikes=None if spikes is None else _stacked(spikes),
            outliers=outliers, fps=float((imaging.RecordingInfo & key).fetch1("fps")), params=params,
            event_times=event_times, frame_times=frame_times))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        return (stages.run(CellClustering.__name__, CellClusteringInputs(**unpack(inputs))),)

    @classmethod
    def cut(cls, key: dict[str, Any], *, n_clusters: int | None = None,
            threshold: float | None = None) -> tuple[pd.DataFrame, float]:
        """The clusters of another cut of a stored tree, without recomputing it.

        Args:
            key: a key of `CellClustering`.
            n_clusters: at most this many clusters; or
            threshold: largest merge height (feature distance) within a cluster.

        Returns:
            ``(assignments, silhouette)``: a DataFrame with ``mask_id`` and ``cluster`` for every cell of the
            trace set (-1 for the cells left out), and the cut's mean silhouette.
        """
        key = key_of(cls.primary_key, key)
        row = (cls & key).fetch1()
        result = clustering.cut_linkage(row["linkage"], row["distances"], n_clusters=n_clusters,
                                        threshold=threshold)
        labels = dict(zip(np.asarray(row["clustered_ids"]).tolist(), result.labels.tolist()))
        mask_ids = (cls.Assignment & key).to_arrays("mask_id", order_by="mask_id")
        assignments = pd.DataFrame({"mask_id": mask_ids, "cluster": [labels.get(int(m), -1) for m in mask_ids]})
        return assignments, result.silhouette


def _stacked(traces) -> np.ndarray:
    return np.stack(traces).astype(np.float32) if len(traces) else np.zeros((0, 0), np.float32)


# ---------------------------------------------------------------------------- events


@schema
class EventClusteringTask(dj.Manual):
    """Events of one or more recordings to cluster together by shape, each source with a group label.

    Attributes:
        event_clustering_id: the task's id.
        clustering_paramset_id: a ``ClusteringParamSet`` of target ``events``.
        task_desc: what the task is for.
        SpatialSource, TransientSource: the `events.SpatialEvents` and `events.Transients` keys, each with its
            ``event_group``.
    """

    definition = """
    # events of one or more recordings to cluster together by shape, each source with a group label
    event_clustering_id: int16
    ---
    -> ClusteringParamSet
    task_desc='': varchar(255)
    """

    class SpatialSource(dj.Part):
        definition = """
        # all spatiotemporal events of a detection
        -> master
        -> events.SpatialEvents
        ---
        event_group: varchar(32)         # e.g. a condition; events are counted per cluster and group
        """

    class TransientSource(dj.Part):
        definition = """
        # all transients of a trace set; each transient's trace runs from its start to its end frame
        -> master
        -> events.Transients
        ---
        event_group: varchar(32)
        """


@schema
class EventClustering(StageTable, dj.Computed):
    """The events of a task clustered by shape (`stages.event_clustering`).

    Attributes:
        n_events, n_clusters, silhouette: events clustered, clusters of the cut and its mean silhouette.
        cut_rule: what chose the cut (as `CellClustering`).
        linkage, leaf_order: the tree over the events and their dendrogram order.
        SpatialAssignment, TransientAssignment: per event, its position and cluster.
        Counts: per group and cluster, events and their share of the group.
    """

    definition = """
    # the events of a task clustered by shape
    -> EventClusteringTask
    ---
    n_events: int32
    n_clusters: int16
    silhouette=null: float32
    cut_rule="": varchar(16)           # what chose the cut: n_clusters, threshold, eigengap, silhouette
    linkage: <blob>                    # (E - 1, 4) over the events in the order of the assignment parts
    leaf_order: <blob>                 # (E,) event positions (0-based, that order) in dendrogram order
    """

    class SpatialAssignment(dj.Part):
        definition = """
        -> master
        -> events.SpatialEvents.Event
        ---
        event_index: int32               # position in the linkage's observation order
        cluster: int16
        """

    class TransientAssignment(dj.Part):
        definition = """
        -> master
        -> events.Transients.Transient
        ---
        event_index: int32
        cluster: int16
        """

    class Counts(dj.Part):
        definition = """
        # events of each cluster in each group
        -> master
        event_group: varchar(32)
        cluster: int16
        ---
        event_count: int32
        fraction: float32                # of the group's events
        """

    @property
    def key_source(self):
        return EventClusteringTask & (ClusteringParamSet & {"target": "events"})

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        params = (ClusteringParamSet & (EventClusteringTask & key)).fetch1("params")
        members = []
        for source in (EventClusteringTask.SpatialSource & key).to_dicts():
            members += [_member(self.SpatialAssignment, key, source, row, row["trace"])
                        for row in (events.SpatialEvents.Event & source).to_dicts(order_by="event_id")]
        for source in (EventClusteringTask.TransientSource & key).to_dicts():
            traces = dict(zip(*(imaging.Activity.Trace & source).to_arrays("mask_id", "activity_trace")))
            rows = (events.Transients.Transient & source).to_dicts(order_by=("mask_id", "transient_id"))
            members += [_member(self.TransientAssignment, key, source, row,
                                traces[row["mask_id"]][row["start_frame"] : row["end_frame"] + 1]) for row in rows]
        return (pack({"task": str(key), "members": [vars(member) for member in members], "params": params}),)

    @classmethod
    def counts(cls, key: dict[str, Any], *, fraction: bool = False) -> pd.DataFrame:
        """The stored events of each cluster in each group as a clusters x groups table (for
        `plotting.plot_count_clustermap` or `plotting.plot_cluster_counts`).

        Args:
            key: a key of `EventClustering`.
            fraction: the share of each group's events instead of counts.

        Returns:
            DataFrame, index ``cluster``, columns ``event_group`` (both sorted).
        """
        key = key_of(cls.primary_key, key)
        rows = pd.DataFrame((cls.Counts & key).to_dicts())
        if rows.empty:
            raise ValueError(f"no stored counts for event clustering {key}; populate EventClustering first")
        table = rows.pivot(index="cluster", columns="event_group", values="fraction" if fraction else "event_count")
        return table.sort_index().sort_index(axis=1)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = unpack(inputs)
        inputs = EventClusteringInputs(task=inputs["task"], params=inputs["params"],
                                       members=[EventMember(**member) for member in inputs["members"]])
        return (stages.run(EventClustering.__name__, inputs),)


def _member(part, key: dict[str, Any], source: dict[str, Any], row: dict[str, Any], trace) -> EventMember:
    """An event of ``source`` (a source row of the task ``key``) for the assignment ``part``."""
    event_key = {name: row[name] for name in part.heading.primary_key if name in row and name not in key}
    return EventMember(part=part.__name__, event_key=event_key, event_group=source["event_group"], trace=trace)
