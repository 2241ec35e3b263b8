"""MotionCorrection populated from raw recordings (trigger) and from other tools' results (load)."""

import numpy as np
import pytest
from helpers import SESSION_TIME

from element_calcium import storage
from element_calcium.simulate import simulate, write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording


def _rmse_after_offset(estimated, truth):
    error = np.asarray(estimated, dtype=np.float64) - truth
    error -= error.mean(axis=0)
    return float(np.sqrt(np.mean(error**2)))


def _populate(imaging):
    return imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)


def test_one_photon_recording_is_corrected_and_summarised(pipeline, new_folder, subject_name, tmp_path):
    imaging = pipeline.imaging
    movie = simulate(n_frames=240, height=96, width=96, n_cells=12, mode="1p", max_shift=4.0, seed=3)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=100)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key

    _populate(imaging)

    row = (imaging.MotionCorrection & task_key).fetch1()
    assert row["device"] == "cpu" and row["wall_time"] > 0
    y_shifts, x_shifts = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1("y_shifts", "x_shifts")
    assert _rmse_after_offset(np.stack([y_shifts, x_shifts], axis=1), movie.truth.shifts) < 0.2
    # the filter followed the cells' size measured on the frames; correction made them agree better
    assert 8 < row["cell_diameter_estimate"] < 20 and row["registration_sigma"] > 0.7
    assert row["corrected_mean_correlation"] > row["raw_mean_correlation"]
    assert row["improved_fraction"] > 0.7 and row["quality_warning"] is None
    assert not imaging.MotionCorrection.NonRigidMotionCorrection & task_key

    corrected = storage.open_movie(pipeline.get_processed_root_dir() / row["corrected_movie"])
    assert corrected.shape == movie.shape and corrected.dtype == np.uint8
    summary = (imaging.MotionCorrection.Summary & task_key).fetch1()
    for name in ("ref_image", "average_image", "correlation_image", "max_proj_image", "pnr_image"):
        assert summary[name].shape == (96, 96), name
        assert np.isfinite(summary[name]).all(), name


def test_two_photon_piecewise_rigid_blocks(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    movie = simulate(n_frames=160, height=128, width=128, n_cells=15, mode="2p", max_shift=3.0, seed=4)
    written = write_tiff(new_folder(), movie)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=movie.fps).task_key

    _populate(imaging)

    nonrigid = (imaging.MotionCorrection.NonRigidMotionCorrection & task_key).fetch1()
    blocks = (imaging.MotionCorrection.Block & task_key).to_dicts(order_by="block_id")
    assert len(blocks) == nonrigid["block_count_y"] * nonrigid["block_count_x"] > 1
    for block in blocks:
        assert block["y_shifts"].shape == (movie.shape[0],)
        assert 0 <= block["block_y"][0] < block["block_y"][1] <= 128
    rigid = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1()
    assert _rmse_after_offset(np.stack([rigid["y_shifts"], rigid["x_shifts"]], axis=1), movie.truth.shifts) < 0.1


def test_corrupt_file_fails_the_key_without_rows_or_stray_files(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_miniscope_v4(new_folder(), simulate(n_frames=120, height=48, width=48, n_cells=4), frames_per_file=40)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key
    middle = written.path / "My_V4_Miniscope" / "1.avi"
    with open(middle, "r+b") as handle:
        handle.truncate(middle.stat().st_size // 2)

    _populate(imaging)

    assert not imaging.MotionCorrection & task_key
    assert imaging.MotionCorrection.jobs.errors & task_key
    output_dir = pipeline.get_processed_root_dir() / (imaging.ProcessingTask & task_key).fetch1("processing_output_dir")
    assert not output_dir.exists() or not any(output_dir.iterdir())


def test_suite2p_results_are_loaded(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    n_frames = 50
    written = write_tiff(new_folder(), simulate(n_frames=n_frames, height=32, width=32, n_cells=3, mode="2p"))
    imaging.ProcessingParamSet.insert_new_params("suite2p", 200, "suite2p results",
                                                 {"modality": "2p", "cell_diameter": 10.0})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     fps=written.fps, create_task=False).recording_key
    output_dir = f"suite2p_{subject_name}"
    plane = pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yoff, xoff = rng.integers(-3, 4, n_frames), rng.integers(-3, 4, n_frames)
    ops = {"yoff": yoff, "xoff": xoff, "nonrigid": False, "refImg": rng.random((32, 32)),
           "meanImg": rng.random((32, 32)), "Ly": 32, "Lx": 32, "nframes": n_frames,
           "yrange": [0, 32], "xrange": [0, 32], "Vcorr": rng.random((32, 32)), "max_proj": rng.random((32, 32))}
    np.save(plane / "ops.npy", ops, allow_pickle=True)
    task_key = {**recording_key, "paramset_id": 200}
    imaging.ProcessingTask.insert1({**task_key, "processing_output_dir": output_dir, "task_mode": "load"})

    _populate(imaging)

    row = (imaging.MotionCorrection & task_key).fetch1()
    assert row["corrected_movie"] is None and row["device"] == "none"
    y_shifts, x_shifts = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1("y_shifts", "x_shifts")
    np.testing.assert_array_equal(y_shifts, yoff)  # suite2p's offsets are already the tissue motion
    np.testing.assert_array_equal(x_shifts, xoff)
    np.testing.assert_allclose((imaging.MotionCorrection.Summary & task_key).fetch1("average_image"), ops["meanImg"],
                               rtol=1e-6)


def test_loaded_motion_of_another_length_is_refused(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_tiff(new_folder(), simulate(n_frames=40, height=32, width=32, n_cells=3, mode="2p"))
    imaging.ProcessingParamSet.insert_new_params("suite2p", 202, "suite2p results, 2p, 9.75 px",
                                                 {"modality": "2p", "cell_diameter": 9.75})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     fps=written.fps, create_task=False).recording_key
    output_dir = f"suite2p_{subject_name}"
    plane = pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    n_frames = 2000  # results of another recording
    ops = {"yoff": np.zeros(n_frames), "xoff": np.zeros(n_frames), "nonrigid": False, "Ly": 32, "Lx": 32,
           "nframes": n_frames, "yrange": [0, 32], "xrange": [0, 32], "meanImg": np.ones((32, 32))}
    np.save(plane / "ops.npy", ops, allow_pickle=True)
    task_key = {**recording_key, "paramset_id": 202}
    imaging.ProcessingTask.insert1({**task_key, "processing_output_dir": output_dir, "task_mode": "load"})

    with pytest.raises(ValueError, match="motion results have 2000 frames, the recording 40"):
        imaging.MotionCorrection.populate(task_key)
    assert not imaging.MotionCorrection & task_key
    assert not imaging.MotionCorrection.RigidMotionCorrection & task_key


def test_trigger_with_an_external_method_is_refused(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_tiff(new_folder(), simulate(n_frames=30, height=32, width=32, n_cells=3, mode="2p"))
    imaging.ProcessingParamSet.insert_new_params("caiman", 201, "caiman results",
                                                 {"modality": "2p", "cell_diameter": 11.0})
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=written.fps, paramset_id=201).task_key
    with pytest.raises(ValueError, match="cannot be triggered"):
        imaging.MotionCorrection.populate(task_key)
    assert not imaging.MotionCorrection & task_key
