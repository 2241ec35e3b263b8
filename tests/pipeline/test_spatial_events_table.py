"""SpatialEvents on the database: a simulated astrocyte recording from TIFF to its events and event map."""

import numpy as np
from helpers import SESSION_TIME

from element_calcium import storage
from element_calcium.simulate import simulate, simulate_astro, write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording


def test_astrocyte_events_are_found_and_mapped(pipeline, new_folder, subject_name):
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate_astro(n_frames=300, height=128, width=128, n_waves=2, n_blobs=3, seed=4)
    written = write_tiff(new_folder(), movie)
    imaging.ProcessingParamSet.insert_new_params("element_calcium", 50, "astrocytes, rigid",
                                                 {"modality": "2p", "motion": {"pw_rigid": False, "max_shift": 4.0}})
    events.EventParamSet.insert_new_params("spatial", 50, "astrocyte events", {})
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=written.fps, paramset_id=50).task_key
    try:
        results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
        assert not results["SpatialEvents"]["error_list"]

        row = (events.SpatialEvents & task_key).fetch1()
        assert row["noise_image"].shape == (128, 128)
        path = pipeline.get_processed_root_dir() / row["event_map"]
        assert not list(path.parent.glob(".*provisional*"))
        event_map = storage.open_movie(path).read(0, 300)
        truth = movie.labels(0, 300)
        matched = set()
        for label in range(1, len(movie.truth) + 1):
            true_mask = truth == label
            found = np.bincount(event_map[true_mask], minlength=row["event_count"] + 1)[1:]
            detected = event_map == int(np.argmax(found)) + 1
            iou = (true_mask & detected).sum() / (true_mask | detected).sum()
            assert iou >= 0.5, (label, iou)
            matched.add(int(np.argmax(found)) + 1)
        # the motion correction's sub-pixel residuals (about 0.1 pixel here) may leave a few small false events
        false = [e for e in range(1, row["event_count"] + 1) if e not in matched]
        assert len(false) <= 2 and all((event_map == e).sum() < 500 for e in false)

        parts = (events.SpatialEvents.Event & task_key).to_dicts(order_by="event_id")
        assert [part["event_id"] for part in parts] == list(range(1, row["event_count"] + 1))
        for part in parts:
            assert len(part["trace"]) == part["z1"] - part["z0"]
            assert part["volume"] == int((event_map == part["event_id"]).sum())
            assert len(part["footprint_ypix"]) == part["area"]
            assert part["start_time"] == part["z0"] / written.fps
        assert [part["z0"] for part in parts] == sorted(part["z0"] for part in parts)
    finally:
        (events.EventParamSet & {"event_paramset_id": 50}).delete(prompt=False)


def test_a_one_photon_flash_filling_the_frame_is_stored(pipeline, new_folder, subject_name):
    """A whole-field flash of a one-photon movie is an event without a ring around it; its noise comes from
    the frames around it (before: NaN into NOT NULL columns, and the whole key failed)."""
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate(n_frames=200, height=48, width=48, n_cells=3, mode="1p", max_shift=0.0, seed=2)
    flash = 80.0 * np.exp(-0.5 * ((np.arange(200) - 100) / 6.0) ** 2)
    frames = np.clip(movie.render(0, 200) + flash[:, None, None], 0, 255).astype(np.uint8)
    written = write_miniscope_v4(new_folder(), frames, fps=movie.fps)
    imaging.ProcessingParamSet.insert_new_params("element_calcium", 51, "one-photon, rigid",
                                                 {"modality": "1p", "motion": {"pw_rigid": False, "max_shift": 4.0}})
    events.EventParamSet.insert_new_params("spatial", 51, "one-photon events", {})
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                paramset_id=51).task_key
    try:
        imaging.MotionCorrection.populate(task_key)
        events.SpatialEvents.populate(task_key)
        parts = (events.SpatialEvents.Event & task_key).to_dicts(order_by="event_id")
        whole = [part for part in parts if part["area"] == 48 * 48]
        assert len(whole) == 1 and whole[0]["z0"] < 100 < whole[0]["z1"]
        assert all(np.isfinite([part["noise_mean"], part["noise_std"]]).all() for part in parts)
        assert whole[0]["noise_std"] > 0 and whole[0]["snr"] > 5
    finally:
        (events.EventParamSet & {"event_paramset_id": 51}).delete(prompt=False)
