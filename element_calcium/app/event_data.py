"""The app's queries of transients, transient curation, behaviour and peri-event windows, clusters and spatial
events: the `EventQueries` part of `data.AppData` (which holds ``imaging``, ``events`` and ``clusters``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from element_calcium import transient_curation
from element_calcium.output_dirs import key_of


class EventQueries:
    """Queries of the events and clusters schemas; mixed into `data.AppData`."""

    def cell_transient_peaks(self, curation_key: dict[str, Any], mask_id: int) -> np.ndarray:
        """(k,) peak frames of the cell's transients detected on its dF/F (first event parameter set)."""
        sets = [key for key in self.transient_sets(curation_key) if key["extraction_method"] == "dff"]
        if not sets:
            return np.zeros(0, np.int64)
        peaks = (self.events.Transients.Transient & sets[0] & {"mask_id": int(mask_id)}).to_arrays("peak_frame")
        return np.asarray(peaks, np.int64)

    def transient_sets(self, curation_key: dict[str, Any]) -> list[dict[str, Any]]:
        """Keys of the curation's `Transients` (one per trace method and event parameter set)."""
        return (self.events.Transients & curation_key).keys(order_by="extraction_method, event_paramset_id")

    def set_cells(self, transients_key: dict[str, Any]) -> list[int]:
        """Ids of the cells of a transient set's traces."""
        activity = key_of(self.imaging.Activity.primary_key, transients_key)
        return sorted(int(i) for i in (self.imaging.Activity.Trace & activity).to_arrays("mask_id"))

    def set_trace(self, transients_key: dict[str, Any], mask_id: int) -> np.ndarray:
        """(T,) float32 the trace the set's transients were detected on, of cell ``mask_id``."""
        activity = key_of(self.imaging.Activity.primary_key, transients_key)
        if int(mask_id) not in self.set_cells(transients_key):
            raise ValueError(f"cell {mask_id} has no {activity['extraction_method']} trace in this curation")
        return np.asarray((self.imaging.Activity.Trace & activity & {"mask_id": int(mask_id)}).fetch1(
            "activity_trace"), np.float32)

    def transients(self, transients_key: dict[str, Any], mask_id: int) -> pd.DataFrame:
        """The cell's detected transients: ``transient_id``, start/peak/end frames, peak dF/F and SNR."""
        columns = ["transient_id", "start_frame", "peak_frame", "end_frame", "peak_dff", "snr"]
        rows = (self.events.Transients.Transient & transients_key & {"mask_id": int(mask_id)}).to_dicts(
            order_by="transient_id")
        return pd.DataFrame(rows, columns=[*columns, *(c for c in (rows[0] if rows else {}) if c not in columns)])[
            columns]

    def transient_curations(self, transients_key: dict[str, Any]) -> pd.DataFrame:
        """Every transient curation of the set, with its cells' corrections."""
        events = self.events
        rows = (events.TransientCuration & transients_key).to_dicts(order_by="transient_curation_id")
        for row in rows:
            cells = (events.TransientCuration.Cell & row).to_dicts(order_by="mask_id")
            row["changes"] = "; ".join(
                f"cell {c['mask_id']}: rejected {np.asarray(c['rejected_ids']).tolist()}, marked "
                f"{np.asarray(c['marked_peaks']).tolist()} ({c['merge_mode']})" for c in cells)
        frame = pd.DataFrame(rows, columns=["transient_curation_id", "parent_curation_id", "curator",
                                            "curation_time", "changes"])
        frame["parent_curation_id"] = frame["parent_curation_id"].astype("Int64")
        return frame

    def cell_corrections(self, transients_key: dict[str, Any], curation_id, mask_id: int) -> dict[str, list[int]]:
        """Rejected transient ids and marked peak frames of one cell in a transient curation (empty for None)."""
        if curation_id is None:
            return {"rejected": [], "marked": []}
        cell = self.events.TransientCuration.Cell & transients_key & {"transient_curation_id": int(curation_id),
                                                                     "mask_id": int(mask_id)}
        if not cell:
            return {"rejected": [], "marked": []}
        rejected, marked = cell.fetch1("rejected_ids", "marked_peaks")
        return {"rejected": np.asarray(rejected).tolist(), "marked": np.asarray(marked).tolist()}

    def curate_transients(self, transients_key: dict[str, Any], mask_id: int, *, parent, seen_latest, reject=(),
                          mark=(), mode: str = "incoming_only", curator: str = "") -> dict[str, Any]:
        """A new transient curation (`transient_curation.curate_transients`) from ``parent``; ``stale`` in the
        result lists the curations made since the page read ``seen_latest`` (the newest it knew)."""
        existing = (self.events.TransientCuration & transients_key).to_arrays("transient_curation_id").tolist()
        newer = sorted(i for i in existing if seen_latest is None or i > seen_latest)
        new_key = transient_curation.curate_transients(transients_key, mask_id, reject=reject, mark=mark, mode=mode,
                                                parent=parent, curator=curator)
        return {"key": new_key, "stale": newer}

    def behavior_events(self, task_key: dict[str, Any]) -> dict[str, np.ndarray]:
        """Event type -> (E,) times (s) of the recording's behaviour events."""
        types, times = (self.events.BehaviorEvent & task_key).to_arrays("event_type", "event_time")
        return {str(name): np.sort(times[types == name]) for name in np.unique(types)}

    # ------------------------------------------------------------------ events and clusters

    def peri_event(self, curation_key: dict[str, Any]) -> list[dict[str, Any]]:
        """Per event type and trace method: cells (N,), sample times (S,) s, the trial-averaged windows (N, S)
        and the responsive cells (p < 0.01)."""
        found = []
        for row in (self.events.PeriEventWindow & curation_key).to_dicts(order_by="event_type, extraction_method"):
            responses = (self.events.PeriEventWindow.CellResponse & row).to_dicts(order_by="mask_id")
            responsive = [int(r["mask_id"]) for r in responses if r["p_value"] < 0.01]
            with np.errstate(all="ignore"):
                mean = np.nanmean(np.asarray(row["windows"], np.float32), axis=0) if row["n_events"] else None
            found.append({"event_type": row["event_type"], "method": row["extraction_method"],
                          "n_events": int(row["n_events"]), "mask_ids": np.asarray(row["mask_ids"]),
                          "times": np.asarray(row["sample_times"]), "mean": mean, "responsive": responsive})
        return found

    def cell_clusterings(self, curation_key: dict[str, Any]) -> list[dict[str, Any]]:
        """The curation's cell clusterings: key, linkage (M - 1, 4), clustered ids (M,), n_clusters."""
        rows = (self.clusters.CellClustering & curation_key).to_dicts()
        return [{"key": {name: row[name] for name in self.clusters.CellClustering.primary_key},
                 "linkage": np.asarray(row["linkage"]), "clustered_ids": np.asarray(row["clustered_ids"]),
                 "n_clusters": int(row["n_clusters"])} for row in rows]

    def cluster_labels(self, clustering_key: dict[str, Any]) -> dict[int, int]:
        """Mask id -> cluster (-1 left out) as the clustering stored them."""
        ids, labels = (self.clusters.CellClustering.Assignment & clustering_key).to_arrays("mask_id", "cluster")
        return dict(zip(np.asarray(ids, int).tolist(), np.asarray(labels, int).tolist()))

    def cut_clusters(self, clustering_key: dict[str, Any], *, threshold: float) -> tuple[dict[int, int], float]:
        """Mask id -> cluster (-1 left out) of the stored tree cut at ``threshold`` (`CellClustering.cut`)."""
        assignments, silhouette = self.clusters.CellClustering.cut(clustering_key, threshold=float(threshold))
        return dict(zip(assignments["mask_id"].astype(int), assignments["cluster"].astype(int))), silhouette

    def event_cluster_counts(self, task_key: dict[str, Any]) -> pd.DataFrame:
        """Event-cluster counts per group of the recording's event clusterings (empty when none)."""
        rows = (self.clusters.EventClustering.Counts & task_key).to_dicts()
        return pd.DataFrame(rows, columns=["event_group", "cluster", "event_count", "fraction"])

    def spatial_events(self, task_key: dict[str, Any]) -> pd.DataFrame:
        """Spatial events of the recording: id, first frame, frame after the last, duration (s), centroid
        (pixels), area and footprint pixels."""
        columns = ["event_id", "z0", "z1", "duration_s", "centroid_x", "centroid_y", "area", "footprint_xpix",
                   "footprint_ypix"]
        rows = (self.events.SpatialEvents.Event & task_key).proj(*columns[1:]).to_dicts(order_by="event_id")
        return pd.DataFrame(rows, columns=[*task_key, "event_paramset_id", *columns])[columns]
