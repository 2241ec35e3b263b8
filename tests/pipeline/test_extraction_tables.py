"""Segmentation, MaskClassification, Curation, Fluorescence and Activity, computed and loaded."""

import numpy as np
from extraction_scoring import score
from helpers import SESSION_TIME
from scipy import ndimage

from element_calcium.stages.segmentation import masks_to_footprints
from element_calcium.simulate import simulate, write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording


def _populate(imaging):
    return imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)


def _write_suite2p(plane, *, n_frames, height, width, rng):
    """A suite2p plane folder: three ROIs, their traces and the motion of a still recording."""
    plane.mkdir(parents=True)
    stat = []
    for y, x in [(6, 8), (20, 25), (10, 27)]:
        ys, xs = np.mgrid[y - 2 : y + 3, x - 2 : x + 3]
        stat.append({"ypix": ys.ravel(), "xpix": xs.ravel(), "lam": np.linspace(1, 2, 25).astype(np.float32),
                     "overlap": np.zeros(25, bool), "med": [y, x]})
    traces = {name: rng.random((3, n_frames)).astype(np.float32) + offset
              for name, offset in (("F", 100.0), ("Fneu", 50.0), ("spks", 0.0))}
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    for name, values in traces.items():
        np.save(plane / f"{name}.npy", values)
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [0, 0.2], [1, 0.7]]))
    ops = {"yoff": np.zeros(n_frames), "xoff": np.zeros(n_frames), "nonrigid": False, "Ly": height, "Lx": width,
           "nframes": n_frames, "fs": 10.0, "yrange": [0, height], "xrange": [0, width],
           "refImg": rng.random((height, width)), "meanImg": rng.random((height, width))}
    np.save(plane / "ops.npy", ops, allow_pickle=True)
    return traces


def test_suite2p_results_load_through_to_activity(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    n_frames, height, width = 60, 32, 36
    written = write_tiff(new_folder(), simulate(n_frames=n_frames, height=height, width=width, n_cells=3, mode="2p"))
    imaging.ProcessingParamSet.insert_new_params("suite2p", 210, "suite2p results",
                                                 {"modality": "2p", "cell_diameter": 9.0})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     fps=written.fps, create_task=False).recording_key
    output_dir = f"suite2p_{subject_name}"
    plane = pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0"
    traces = _write_suite2p(plane, n_frames=n_frames, height=height, width=width, rng=np.random.default_rng(1))
    task_key = {**recording_key, "paramset_id": 210}
    imaging.ProcessingTask.insert1({**task_key, "processing_output_dir": output_dir, "task_mode": "load"})

    errors = {table: result["error_list"] for table, result in _populate(imaging).items() if result["error_list"]}
    assert not errors

    assert (imaging.Segmentation & task_key).fetch1("mask_count") == 3
    masks = (imaging.Segmentation.Mask & task_key).to_dicts(order_by="mask_id")
    assert [(m["mask_center_y"] > 0, m["mask_npix"]) for m in masks] == [(True, 25)] * 3
    assert masks[1]["mask_ypix"].min() == 18 and masks[1]["mask_xpix"].min() == 23
    assert (imaging.MaskClassification & task_key).fetch1("classification_method") == "tool"
    calls = (imaging.MaskClassification.MaskType & task_key).to_arrays("mask_type", "confidence", order_by="mask_id")
    assert list(calls[0]) == ["soma", "artefact", "soma"]
    np.testing.assert_allclose(calls[1], [0.9, 0.8, 0.7], rtol=1e-6)

    curation = (imaging.Curation & task_key).fetch1()
    assert curation["curation_id"] == 0 and curation["parent_curation_id"] is None
    fluorescence = (imaging.Fluorescence.Trace & task_key).to_arrays(
        "fluorescence", "background_fluorescence", order_by="mask_id")
    np.testing.assert_allclose(np.stack(fluorescence[0]), traces["F"] - 0.7 * traces["Fneu"], rtol=1e-5)
    np.testing.assert_allclose(np.stack(fluorescence[1]), 0.7 * traces["Fneu"], rtol=1e-5)

    activity = {method: np.stack((imaging.Activity.Trace & task_key & {"extraction_method": method}).to_arrays(
        "activity_trace", order_by="mask_id")) for method in ("dff", "deconvolved", "denoised")}
    np.testing.assert_array_equal(activity["deconvolved"], traces["spks"])
    assert activity["dff"].shape == activity["denoised"].shape == (3, n_frames)
    assert np.isfinite(activity["dff"]).all() and (activity["denoised"] >= 0).all()


def test_one_photon_recording_runs_from_raw_movie_to_activity(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    movie = simulate(n_frames=600, height=128, width=128, n_cells=20, mode="1p", max_shift=2.0, seed=5)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=300)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key

    errors = {table: result["error_list"] for table, result in _populate(imaging).items() if result["error_list"]}
    assert not errors

    segmentation = (imaging.Segmentation & task_key).fetch1()
    masks = (imaging.Segmentation.Mask & task_key).to_dicts(order_by="mask_id")
    assert segmentation["mask_count"] == len(masks) > 0 and segmentation["device"] == "cpu"
    assert segmentation["correlation_image"].shape == (128, 128)
    footprints = masks_to_footprints(masks, 128, 128)
    # The corrected frame is the template's: the tissue sits where it was, on average, when the template was made.
    y_shifts, x_shifts = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1("y_shifts", "x_shifts")
    offset = (movie.truth.shifts - np.stack([y_shifts, x_shifts], axis=1)).mean(axis=0)
    truth = ndimage.shift(movie.truth.footprints, (*offset, 0), order=1)
    denoised = np.stack((imaging.Activity.Trace & task_key & {"extraction_method": "denoised"}).to_arrays(
        "activity_trace", order_by="mask_id"))
    result = score(truth, movie.truth.calcium, footprints, denoised)
    assert result.f1 >= 0.85, result
    assert result.median_r >= 0.85, result

    calls = dict(zip(*(imaging.MaskClassification.MaskType & task_key).to_arrays("mask_id", "mask_type")))
    matched_calls = [calls[masks[j]["mask_id"]] for j in result.estimated_index]
    assert matched_calls.count("soma") >= 0.8 * len(matched_calls)
    assert (imaging.MaskClassification & task_key).fetch1("classification_method") == "quality"

    assert len(imaging.Curation & task_key) == 1
    assert len(imaging.Fluorescence.Trace & task_key) == len(masks)
    for method in ("dff", "deconvolved", "denoised"):
        traces = np.stack((imaging.Activity.Trace & task_key & {"extraction_method": method}).to_arrays(
            "activity_trace", order_by="mask_id"))
        assert traces.shape == (len(masks), movie.shape[0]) and np.isfinite(traces).all(), method
    spikes = np.stack((imaging.Activity.Trace & task_key & {"extraction_method": "deconvolved"}).to_arrays(
        "activity_trace"))
    assert (spikes >= 0).all()
    dff, noise = (imaging.Activity.Trace & task_key & {"extraction_method": "dff"}).to_arrays(
        "activity_trace", "standardized_noise")
    expected = 100 * np.median(np.abs(np.diff(np.stack(dff), axis=1)), axis=1) / np.sqrt(movie.fps)
    np.testing.assert_allclose(noise.astype(float), expected, rtol=1e-4)
    assert set((imaging.Activity.Trace & task_key & {"extraction_method": "denoised"}).to_arrays(
        "standardized_noise")) == {None}


def test_recording_without_cells_runs_through_with_no_masks(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_miniscope_v4(new_folder(), simulate(n_frames=200, height=64, width=64, n_cells=0, seed=2))
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key

    errors = {table: result["error_list"] for table, result in _populate(imaging).items() if result["error_list"]}
    assert not errors

    assert (imaging.Segmentation & task_key).fetch1("mask_count") == 0
    assert len(imaging.MaskClassification & task_key) == 1 and not imaging.MaskClassification.MaskType & task_key
    assert len(imaging.Fluorescence & task_key) == 1 and not imaging.Fluorescence.Trace & task_key
    assert len(imaging.Activity & task_key) == 3 and not imaging.Activity.Trace & task_key
