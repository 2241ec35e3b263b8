"""Stored spatial events as astroCAST users query them: the bleach-corrected movie beside the event map,
Events.filter as a DataJoint restriction, Events.to_numpy over the stored events, and the shape columns."""

import numpy as np
import pytest
from helpers import SESSION_TIME

from element_calcium import spatial_event_queries, storage
from element_calcium.compute.events import filter_events
from element_calcium.compute.signal import delta_bleach_correction
from element_calcium.simulate import simulate_astro, write_tiff
from workflow.ingest import ingest_recording


def test_bleach_corrected_events_are_stored_filtered_and_placed_on_the_timeline(pipeline, new_folder, subject_name):
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate_astro(n_frames=240, height=96, width=96, n_waves=1, n_blobs=3, bleaching=0.6, seed=6)
    written = write_tiff(new_folder(), movie)
    imaging.ProcessingParamSet.insert_new_params("element_calcium", 50, "astrocytes, rigid",
                                                 {"modality": "2p", "motion": {"pw_rigid": False, "max_shift": 4.0}})
    events.EventParamSet.insert_new_params("spatial", 52, "astrocyte events after Delta",
                                           {"bleach_correction": True, "bleach_window": 30, "min_size": 50})
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=written.fps, paramset_id=50).task_key
    try:
        imaging.MotionCorrection.populate(task_key)
        events.SpatialEvents.populate(task_key)
        key = (events.SpatialEvents & task_key).keys()[0]
        row = (events.SpatialEvents & key).fetch1()
        root = pipeline.get_processed_root_dir()
        corrected = storage.open_movie(root / row["corrected_movie"]).read(0, 240)
        motion = storage.open_movie(root / (imaging.MotionCorrection & key).fetch1("corrected_movie")).read(0, 240)
        np.testing.assert_array_equal(corrected, delta_bleach_correction(motion, window=30, device="cpu"))

        stored = events.SpatialEvents.Event & key
        parts = stored.to_dicts(order_by="event_id")
        assert len(parts) == row["event_count"] >= 3
        assert all(len(part["contour"]) and part["fp_area_convex"] >= part["area"] for part in parts)

        # Events.filter: the restriction keeps exactly the rows in the ranges, as the same filter on a table
        table = stored.to_pandas().reset_index()
        area = int(np.median(table["area"]))
        filters = {"area": (area, None), "dz": (2, None)}
        restricted = spatial_event_queries.filter_spatial_events(stored, filters)
        expected = filter_events(table, filters)["event_id"].tolist()
        assert sorted(restricted.to_arrays("event_id")) == sorted(expected)
        assert 0 < len(expected) < len(table)
        with pytest.raises(ValueError, match="unknown event property 'v_area'; known properties: .*area.*, dz"):
            spatial_event_queries.filter_spatial_events(stored, {"v_area": (1, None)})

        # Events.to_numpy: each event's stored trace at its frames, NaN elsewhere
        event_ids, timeline = spatial_event_queries.events_on_timeline(restricted)
        assert timeline.shape == (len(expected), 240) and list(event_ids) == sorted(expected)
        for event_id, values in zip(event_ids, timeline):
            part = parts[event_id - 1]
            np.testing.assert_array_equal(values[part["z0"] : part["z1"]], part["trace"])
            assert np.isnan(values[: part["z0"]]).all() and np.isnan(values[part["z1"] :]).all()
    finally:
        (events.EventParamSet & {"event_paramset_id": 52}).delete(prompt=False)
