"""Clusters schema on the database: cells clustered by activity (any cut of the stored tree), outliers left
out by the curation, and transients clustered by shape with counts per group.

The cells' traces are known: a suite2p result whose fluorescence holds three simulated activity classes.
"""

import numpy as np
import pandas as pd
from clustering_scoring import adjusted_rand_index
from helpers import suite2p_load_task

from element_calcium import behavior, curation
from element_calcium.simulate import CellClass, simulate_cell_classes, simulate_peri_event_classes

FPS = 20.0
N_FRAMES = 6000
CLASSES = (CellClass(rate_hz=0.05), CellClass(rate_hz=0.5), CellClass(rate_hz=2.0, oscillation_hz=0.5, depth=1.0))


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


def test_cells_and_transients_are_clustered(pipeline, new_folder, subject_name):
    imaging, events, clusters = pipeline.imaging, pipeline.events, pipeline.clusters
    clusters.ClusteringParamSet.insert_new_params("cells", 30, "three clusters", {"n_clusters": 3})
    truth = simulate_cell_classes(n_per_class=4, classes=CLASSES, n_frames=N_FRAMES, fps=FPS, seed=2)
    recording_key = suite2p_load_task(pipeline, new_folder(), subject_name, truth.dff, fps=FPS, paramset_id=230,
                                      description="suite2p results, 13 px cells", cell_diameter=13.0,
                                      output_dir=f"suite2p_{subject_name}")
    try:
        assert _populate(imaging) == {}
        curation0 = {**recording_key, "paramset_id": 230, "curation_id": 0}
        three = (clusters.CellClustering & curation0 & {"clustering_paramset_id": 30}).fetch1()
        assert three["n_clusters"] == 3 and three["extraction_method"] == "denoised"
        labels = (clusters.CellClustering.Assignment & three).to_arrays("cluster", order_by="mask_id")
        assert adjusted_rand_index(truth.labels, labels) >= 0.8
        assert sorted(np.asarray(three["leaf_order"]).tolist()) == list(range(12))

        cut, silhouette = clusters.CellClustering.cut(three, n_clusters=3)
        np.testing.assert_array_equal(cut["cluster"], labels)
        two, _ = clusters.CellClustering.cut(three, n_clusters=2)
        assert two["cluster"].nunique() == 2 and np.isfinite(silhouette)
        automatic = (clusters.CellClustering & curation0 & {"clustering_paramset_id": 0}).fetch1("n_clusters")
        assert 2 <= automatic <= 10

        marked = curation.group(curation0, "outliers", [0, 11])
        assert _populate(imaging) == {}
        excluded = (clusters.CellClustering.Excluded & marked & {"clustering_paramset_id": 30}).to_dicts(
            order_by="mask_id")
        assert [(row["mask_id"], row["reason"]) for row in excluded] == [(0, "outlier"), (11, "outlier")]
        kept = (clusters.CellClustering.Assignment & marked & {"clustering_paramset_id": 30}).to_arrays(
            "mask_id", "cluster", order_by="mask_id")
        assert kept[1][0] == kept[1][11] == -1 and (kept[1][1:11] >= 0).all()

        transients_key = (events.Transients & curation0 & {"extraction_method": "dff"}).fetch1("KEY")
        clusters.EventClusteringTask.insert1({"event_clustering_id": 1, "clustering_paramset_id": 1})
        clusters.EventClusteringTask.TransientSource.insert1({"event_clustering_id": 1, **transients_key,
                                                              "event_group": "session A"})
        assert _populate(imaging) == {}
        result = (clusters.EventClustering & {"event_clustering_id": 1}).fetch1()
        n_transients = len(events.Transients.Transient & transients_key)
        assert result["n_events"] == n_transients > 50
        assigned = (clusters.EventClustering.TransientAssignment & {"event_clustering_id": 1}).to_arrays(
            "event_index", "cluster")
        assert sorted(assigned[0].tolist()) == list(range(n_transients))
        counts = (clusters.EventClustering.Counts & {"event_clustering_id": 1}).to_dicts()
        assert sum(row["event_count"] for row in counts) == n_transients
        assert {row["event_group"] for row in counts} == {"session A"}
        assert np.isclose(sum(row["fraction"] for row in counts), 1.0)
        table = clusters.EventClustering.counts({"event_clustering_id": 1})
        assert list(table.columns) == ["session A"] and table.to_numpy().sum() == n_transients
        assert result["cut_rule"] == "eigengap" and three["cut_rule"] == "n_clusters"
    finally:
        (clusters.EventClusteringTask & {"event_clustering_id": 1}).delete(prompt=False)
        (clusters.ClusteringParamSet & {"clustering_paramset_id": 30}).delete(prompt=False)


def test_cells_are_clustered_on_sections_around_behaviour_events(pipeline, new_folder, subject_name):
    """Cells differ only within 6 s after each lever press (response classes), and differ elsewhere by a
    crossed background class: the parameter set with ``section_event`` reads the stored BehaviorEvent rows and
    finds the response classes; the whole recording does not. The stored row says how the cut was chosen."""
    imaging, clusters = pipeline.imaging, pipeline.clusters
    truth = simulate_peri_event_classes(n_per_class=6, n_frames=N_FRAMES, fps=FPS, n_events=25, seed=0)
    clusters.ClusteringParamSet.insert_new_params("cells", 32, "whole recording, dF/F", {"signal": "dff"})
    recording_key = suite2p_load_task(pipeline, new_folder(), subject_name, truth.dff, fps=FPS, paramset_id=230,
                                      description="suite2p results, 13 px cells", cell_diameter=13.0,
                                      output_dir=f"suite2p_sections_{subject_name}")
    try:
        assert _populate(imaging) == {}
        behavior.insert_events(recording_key, pd.DataFrame({"time": truth.event_times, "event_type": "lever"}))
        clusters.ClusteringParamSet.insert_new_params("cells", 31, "lever sections", {
            "signal": "dff", "section_event": "lever", "section_pre_s": 0.0, "section_post_s": truth.response_s})
        assert _populate(imaging) == {}
        curation0 = {**recording_key, "paramset_id": 230, "curation_id": 0}
        found = {}
        for paramset_id in (31, 32):
            key = (clusters.CellClustering & curation0 & {"clustering_paramset_id": paramset_id}).fetch1("KEY")
            assert (clusters.CellClustering & key).fetch1("cut_rule") == "eigengap"
            found[paramset_id] = (clusters.CellClustering.Assignment & key).to_arrays("cluster", order_by="mask_id")
        assert adjusted_rand_index(truth.labels, found[31]) >= 0.9
        assert adjusted_rand_index(truth.labels, found[32]) < 0.7
        assert (clusters.CellClustering & curation0 & {"clustering_paramset_id": 0}).fetch1("cut_rule") == "eigengap"
    finally:
        (clusters.ClusteringParamSet & "clustering_paramset_id in (31, 32)").delete(prompt=False)
