"""What CalTrig, minian and element-miniscope users expect stored, through the tables: each footprint's maximum
pixel, each cell's AR coefficients, peri-event windows of the transient raster, and the Processing record."""

import socket
from importlib import metadata

import numpy as np
import pandas as pd
from helpers import SESSION_TIME, small_movie, suite2p_load_task
from scipy import sparse

from element_calcium import behavior
from element_calcium.compute.events import peri_event_windows, transient_raster
from element_calcium.compute.params import PeriEventParams
from element_calcium.export.minian import MinianContent, write_minian
from element_calcium.simulate import simulate, simulate_traces, write_miniscope_v4
from workflow.ingest import ingest_recording

FPS = 20.0
N_FRAMES = 2400
LEVER_TIMES = 5.0 + np.cumsum(np.random.default_rng(17).uniform(2.5, 5.0, 25))
RASTER_SET = 264


def _populate(imaging) -> dict:
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


def _check_processing(imaging, task_key, *, software: str, version: str | None) -> dict:
    row = (imaging.Processing & task_key).fetch1()
    assert row["processing_start"] <= row["processing_time"]
    assert (row["software"], row["package_version"], row["host"]) == (software, version, socket.gethostname())
    stages = (imaging.Processing.Stage & task_key).to_dicts(order_by="stage_start")
    assert [stage["stage"] for stage in stages] == ["MotionCorrection", "Segmentation"]
    assert all(stage["stage_start"] <= stage["stage_end"] for stage in stages)
    assert stages[0]["stage_end"] <= stages[1]["stage_start"]  # segmentation ran after motion correction
    assert {stage["element_calcium_version"] for stage in stages} == {metadata.version("element_calcium")}
    return row


def test_computed_chain_stores_mask_maxima_ar_coefficients_and_its_processing(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=200, seed=3), frames_per_file=100)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key
    assert not _populate(imaging)

    _check_processing(imaging, task_key, software="element_calcium", version=metadata.version("element_calcium"))
    masks = (imaging.Segmentation.Mask & task_key).to_dicts(order_by="mask_id")
    assert masks
    for mask in masks:
        first = np.lexsort((mask["mask_xpix"], mask["mask_ypix"]))  # row-major order, as argmax of the image
        weights = mask["mask_weights"][first]
        top = first[np.argmax(weights)]
        assert (mask["mask_max_y"], mask["mask_max_x"]) == (mask["mask_ypix"][top], mask["mask_xpix"][top])
        assert mask["ar_coefficients"].shape == (1,) and 0 < mask["ar_coefficients"][0] < 1  # the CNMF's AR(1)
    stored = dict(zip(*(imaging.Activity.Trace & task_key & {"extraction_method": "deconvolved"}).to_arrays(
        "mask_id", "ar_coefficients")))
    for mask in masks:  # the CNMF's spikes are the deconvolved activity: its g goes with them
        np.testing.assert_array_equal(stored[mask["mask_id"]], mask["ar_coefficients"])
    assert set((imaging.Activity.Trace & task_key & {"extraction_method": "dff"}).to_arrays("ar_coefficients")) \
        == {None}


def test_loaded_minian_task_names_minian_in_processing(pipeline, new_folder, subject_name, tmp_path):
    imaging = pipeline.imaging
    movie = simulate(n_frames=100, height=40, width=48, n_cells=4, mode="1p", fps=FPS, max_shift=0.0, seed=9)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=100)
    imaging.ProcessingParamSet.insert_new_params("minian", 240, "minian results", {"modality": "1p"})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     create_task=False).recording_key
    output_dir = f"minian_{subject_name}"
    images = movie.truth.footprints.reshape(-1, movie.truth.footprints.shape[2])
    write_minian(pipeline.get_processed_root_dir() / output_dir, MinianContent(
        footprints=sparse.csc_array(images), height=40, width=48, unit_ids=np.arange(4, dtype=np.int64) + 1,
        fluorescence=movie.truth.calcium, denoised=movie.truth.calcium, spikes=movie.truth.spikes,
        motion=np.zeros((100, 2), np.float32), max_proj=np.ones((40, 48), np.float32)))
    task_key = {**recording_key, "paramset_id": 240}
    imaging.ProcessingTask.insert1({**task_key, "processing_output_dir": output_dir, "task_mode": "load"})
    assert not _populate(imaging)

    _check_processing(imaging, task_key, software="minian", version=None)  # minian's files name no version
    masks = (imaging.Segmentation.Mask & task_key).to_dicts(order_by="mask_id")
    peaks = images.argmax(axis=0)
    assert [(m["mask_max_y"], m["mask_max_x"]) for m in masks] == [divmod(int(p), 48) for p in peaks]
    assert all(mask["ar_coefficients"] is None for mask in masks)  # minian's files hold no g


def test_raster_windows_come_in_the_same_populate_all_as_their_transients(pipeline, new_folder, subject_name):
    imaging, events = pipeline.imaging, pipeline.events
    truth = simulate_traces(n_cells=3, n_frames=N_FRAMES, fps=FPS, rate_hz=0.05, snr=8.0, event_times=LEVER_TIMES,
                            locked_cells=[0], lag_s=0.5, jitter_s=0.02, seed=4)
    recording_key = suite2p_load_task(pipeline, new_folder(), subject_name, truth.dff, fps=FPS, paramset_id=200,
                                      description="suite2p results for rasters", cell_diameter=10.0,
                                      output_dir=f"suite2p_{subject_name}", movie_cells=3,
                                      centers=[(6, 8), (20, 25), (10, 27)])
    behavior.insert_events(recording_key, pd.DataFrame({"time": LEVER_TIMES, "event_type": "lever"}))
    events.EventParamSet.insert_new_params("peri_event", RASTER_SET, "onset raster around events", {
        "source": "transients", "raster_frames": "onset", "pre_s": 2.0, "post_s": 2.0, "alternative": "greater"})
    try:
        assert not _populate(imaging)  # one call: transients first, then the windows of their raster

        _check_processing(imaging, {**recording_key, "paramset_id": 200}, software="suite2p", version=None)
        key = {**recording_key, "paramset_id": 200, "curation_id": 0, "extraction_method": "dff",
               "event_type": "lever", "event_paramset_id": RASTER_SET}
        key = (events.PeriEventWindow & key).fetch1("KEY")
        window = (events.PeriEventWindow & key).fetch1()
        assert (window["transient_paramset_id"], window["transient_curation_id"]) == (0, None)
        windows = np.asarray(window["windows"])
        probability = windows.mean(axis=0)
        lags = window["sample_times"]
        near_lag = np.abs(lags - 0.5) <= 0.2
        assert probability[0, near_lag].sum() >= 0.8  # the locked cell: an onset about 0.5 s after most presses
        assert probability[1:].max() <= 0.2
        activity_key = {name: key[name] for name in imaging.Activity.primary_key}
        cells, onsets = (events.Transients.Transient & activity_key & {"event_paramset_id": 0}).to_arrays(
            "mask_id", "onset_frame")
        mask_ids = np.asarray(window["mask_ids"])
        frame_times = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times")
        raster = transient_raster(np.searchsorted(mask_ids, cells), onsets, onsets, n_cells=3, n_frames=N_FRAMES)
        expected = peri_event_windows(raster, LEVER_TIMES, frame_times, raster=True,
                                      params=PeriEventParams(pre_s=2.0, post_s=2.0))
        np.testing.assert_array_equal(windows, expected.windows)  # the stored transients' onsets, windowed
        p_values = dict(zip(*(events.PeriEventWindow.CellResponse & key).to_arrays("mask_id", "p_value")))
        assert p_values[min(p_values)] <= 0.01
    finally:  # the set would add windows to every later populate of this run's schemas
        (events.EventParamSet & {"event_paramset_id": RASTER_SET}).delete(prompt=False)
