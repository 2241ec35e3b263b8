"""Curation of results loaded from another tool (no motion-corrected movie), and CalTrig's files in and out.

A simulated one-photon Miniscope recording whose results are handed to the pipeline as CalTrig would leave them: a
minian output folder built from the simulator's truth (footprints, calcium, spikes, motion), one true cell left
out, and CalTrig's own arrays beside it: E with good_cells and verified, DFF, M (the left-out cell, drawn by the
user) and session_group_ids.json one folder up. Loaded with processing method ``caltrig``.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse
from helpers import SESSION_TIME, populate_tables

from element_calcium import curation
from element_calcium.compute.curation import event_run_peaks
from element_calcium.export import MinianContent, export_minian, write_minian, write_minian_variable
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.simulate import simulate, write_miniscope_v4
from workflow.ingest import ingest_recording
from workflow.keys import format_key

pytest.importorskip("zarr")

SIZE, N_FRAMES, PARAMSET = 64, 400, 270


def _disc(center, radius):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    return np.hypot(yy - center[0], xx - center[1]) <= radius


def _populate(pipeline, key, tables=None):
    imaging, events = pipeline.imaging, pipeline.events
    tables = tables or (imaging.MotionCorrection, imaging.Segmentation, imaging.Curation, imaging.Fluorescence,
                        imaging.Activity, events.Transients, events.CuratedTransients)
    return populate_tables(pipeline, key, tables)


def _write_caltrig_files(folder, truth, kept, missed):
    """CalTrig's arrays and groups for the cells ``kept`` (unit_id = their index in the truth); returns them."""
    units = np.asarray(kept, np.int64)
    events = np.stack([truth.calcium[n] > 0.3 for n in kept]).astype(np.float64)
    events[1:3] = 0  # cells the user has not looked at keep an all-zero row
    good = np.ones(len(units))
    good[0] = 0
    verified = np.zeros(len(units))
    verified[[2, 3, 4]] = 1
    frames = np.arange(N_FRAMES)
    write_minian_variable(folder, "E", events, dims=("unit_id", "frame"), coords={
        "unit_id": units, "frame": frames, "good_cells": (("unit_id",), good), "verified": (("unit_id",), verified),
        "timestamp(ms)": (("frame",), frames * 50.0)})
    write_minian_variable(folder, "DFF", truth.calcium[kept].astype(np.float64), dims=("unit_id", "frame"),
                          coords={"unit_id": units, "frame": frames})
    drawn = _disc(truth.centers[missed], 4).astype(np.float64)[None]
    write_minian_variable(folder, "M", drawn, dims=("missed_id", "height", "width"), coords={
        "missed_id": np.array([1]), "height": np.arange(SIZE), "width": np.arange(SIZE)})
    groups = {"Group 1": [int(units[0]), int(units[3]), int(units[5])], "Group 2": [int(units[4]), 999]}
    (folder.parent / "session_group_ids.json").write_text(json.dumps(groups))
    return {"units": units, "events": events > 0, "good": good == 1, "verified": verified == 1, "groups": groups}


@pytest.fixture
def loaded(pipeline, new_folder, subject_name):
    """(truth, curation 0 key, the left-out cell, the kept cells, what CalTrig wrote)."""
    imaging = pipeline.imaging
    movie = simulate(n_frames=N_FRAMES, height=SIZE, width=SIZE, n_cells=8, mode="1p", max_shift=2.0, seed=11)
    truth = movie.truth
    centers = truth.centers
    distance = np.hypot(*(centers[:, None] - centers[None]).transpose(2, 0, 1)) + np.eye(len(centers)) * SIZE
    edge = np.minimum(centers, SIZE - 1 - centers).min(axis=1)
    missed = int(np.argmax(np.where(edge > 12, distance.min(axis=1), 0)))
    kept = [n for n in range(len(centers)) if n != missed]
    written = write_miniscope_v4(new_folder(), movie)
    output_dir = f"caltrig_{subject_name}/minian"
    folder = pipeline.get_processed_root_dir() / output_dir
    footprints = scipy.sparse.csc_array(truth.footprints[:, :, kept].reshape(SIZE * SIZE, -1))
    write_minian(folder, MinianContent(
        footprints=footprints, height=SIZE, width=SIZE, unit_ids=np.array(kept), fluorescence=truth.calcium[kept],
        denoised=truth.calcium[kept], spikes=truth.spikes[kept], motion=truth.shifts))
    caltrig = _write_caltrig_files(folder, truth, kept, missed)
    imaging.ProcessingParamSet.insert_new_params("caltrig", PARAMSET, "a CalTrig session", {"modality": "1p"})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     create_task=False).recording_key
    task_key = {**recording_key, "paramset_id": PARAMSET}
    imaging.ProcessingTask.insert1({**task_key, "task_mode": "load", "processing_output_dir": output_dir})
    assert _populate(pipeline, task_key) == {}
    curation0 = (imaging.Curation & task_key & "curation_id = 0").fetch1("KEY")
    return truth, curation0, missed, kept, caltrig


def _footprint_image(row):
    image = np.zeros((SIZE, SIZE), np.float64)
    image[row["mask_ypix"], row["mask_xpix"]] = row["mask_weights"]
    return image


def test_merge_and_draw_on_loaded_results(pipeline, loaded):
    imaging = pipeline.imaging
    truth, curation0, missed, kept, _ = loaded
    assert not (imaging.MotionCorrection & curation0).fetch1("corrected_movie")
    pair = [kept[5], kept[6]]
    merged = curation.merge(curation0, pair, note="as CalTrig merges")
    row = (imaging.Curation.Merged & merged).fetch1()
    masks = [(imaging.Segmentation.Mask & curation0 & {"mask_id": i}).fetch1() for i in pair]
    np.testing.assert_allclose(_footprint_image(row), np.mean([_footprint_image(m) for m in masks], axis=0),
                               rtol=1e-6, atol=1e-7)
    parents = [(imaging.Fluorescence.Trace & curation0 & {"mask_id": i}).fetch1() for i in pair]
    np.testing.assert_allclose(row["fluorescence"], np.mean([p["fluorescence"] for p in parents], axis=0), rtol=1e-6)
    np.testing.assert_allclose(row["background_fluorescence"],
                               np.mean([p["background_fluorescence"] for p in parents], axis=0), rtol=1e-5)

    drawn = curation.add_missed(curation0, _disc(truth.centers[missed], 4), note="drawn on the raw movie")
    added = (imaging.Curation.Added & drawn).fetch1()
    correlation = np.corrcoef(added["fluorescence"], truth.calcium[missed])[0, 1]
    assert correlation >= 0.9, correlation
    for new in (merged, drawn):
        assert _populate(pipeline, new, (imaging.Fluorescence, imaging.Activity)) == {}
        assert curation.check_consistency(new) == []


def test_caltrig_decisions_and_events_come_in_as_written(pipeline, loaded, tmp_path):
    imaging, events = pipeline.imaging, pipeline.events
    truth, curation0, missed, kept, caltrig = loaded
    imported = curation.import_caltrig(curation0)
    units = caltrig["units"]
    assert (imaging.Curation.Rejected & imported).to_arrays("mask_id").tolist() == units[~caltrig["good"]].tolist()
    assert set((imaging.Curation.Verified & imported).to_arrays("mask_id").tolist()) == set(
        units[caltrig["verified"] & caltrig["good"]].tolist())
    added = (imaging.Curation.Added & imported).fetch1()
    assert np.corrcoef(added["fluorescence"], truth.calcium[missed])[0, 1] >= 0.9
    cells = set(curation.cell_ids(imported).tolist())
    assert curation.cell_groups(imported) == {
        name: set(ids) & cells for name, ids in caltrig["groups"].items() if set(ids) & cells}

    assert _populate(pipeline, imported) == {}
    transients_key = (events.Transients & imported & {"extraction_method": "denoised"}).fetch1("KEY")
    transient_curation = curation.import_caltrig_events(transients_key)
    rows = {row["mask_id"]: row for row in (events.TransientCuration.Cell & transient_curation).to_dicts()}
    marked_units = [u for u, e, v in zip(units, caltrig["events"], caltrig["verified"]) if u in cells and (
        e.any() or v)]
    assert sorted(rows) == sorted(marked_units)
    for unit in marked_units:
        row = caltrig["events"][list(units).index(unit)]
        trace = (imaging.Activity.Trace & transients_key & {"mask_id": unit}).fetch1("activity_trace")
        np.testing.assert_array_equal(rows[unit]["marked_peaks"], event_run_peaks(row, trace))
        detected = (events.Transients.Transient & transients_key & {"mask_id": unit}).to_arrays("transient_id")
        assert sorted(rows[unit]["rejected_ids"].tolist()) == sorted(detected.tolist())
        assert rows[unit]["merge_mode"] == "incoming_only"
    assert _populate(pipeline, transient_curation, (events.CuratedTransients,)) == {}
    for unit in marked_units:
        row = caltrig["events"][list(units).index(unit)]
        peaks = np.asarray((events.CuratedTransients.Transient & transient_curation & {"mask_id": unit}).to_arrays(
            "peak_frame"), dtype=np.int64)
        assert len(peaks) == len(rows[unit]["marked_peaks"]) and row[peaks].all(), (unit, peaks)

    task = {name: imported[name] for name in imaging.ProcessingTask.primary_key}
    exported = tmp_path / "exported"
    result = subprocess.run([sys.executable, "-m", "workflow.cli", "export-minian", "--task", format_key(task),
                             "--curation", str(imported["curation_id"]), str(exported)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(exported)
    with pytest.raises(FileExistsError, match="exported: exists"):
        export_minian(imaging, imported, exported)
    back, motion = load_minian_extraction(exported), load_minian_motion(exported)
    ids, fluorescence = (imaging.Fluorescence.Trace & imported).to_arrays("mask_id", "fluorescence",
                                                                          order_by="mask_id")
    np.testing.assert_array_equal(back.mask_ids, ids)
    np.testing.assert_allclose(back.fluorescence, np.stack(fluorescence), rtol=0, atol=1e-5)
    np.testing.assert_allclose(motion.rigid_shifts, truth.shifts, atol=1e-6)
