"""NWB export of a populated simulated recording: nwbinspector finds nothing critical, pynwb reads back every value
the tables hold, and load mode ``nwb`` brings the exported cells and traces back into the pipeline unchanged."""

import datetime
import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
from helpers import SESSION_TIME

from element_calcium import behavior, curation
from element_calcium.export import export_nwb
from element_calcium.readers import read_recording
from element_calcium.simulate import simulate, write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

N_FRAMES, HEIGHT, WIDTH, FPS = 200, 96, 112, 20.0
LOAD_PARAMSET = 250
LEVER_TIMES = [1.5, 3.25, 6.0]


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


@pytest.fixture(scope="module")
def exported(pipeline, tmp_path_factory):
    """A populated two-photon recording with behaviour events and a curation (cells grouped and verified),
    exported with the frames; returns (task key, curation key, NWB path). Its subject is deleted afterwards."""
    imaging, events = pipeline.imaging, pipeline.events
    subject = f"nwb_export_{uuid.uuid4().hex[:8]}"
    movie = simulate(n_frames=N_FRAMES, height=HEIGHT, width=WIDTH, n_cells=8, mode="2p", fps=FPS, seed=4)
    written = write_tiff(pipeline.get_raw_root_dirs()[0] / subject, movie)
    pipeline.Subject.insert1({"subject": subject, "sex": "F", "subject_birth_date": datetime.date(2026, 1, 5)})
    task = ingest_recording(written.path, subject=subject, session_datetime=SESSION_TIME, fps=written.fps).task_key
    recording_key = {name: task[name] for name in imaging.Recording.primary_key}
    behavior.insert_events(recording_key, pd.DataFrame({"time": LEVER_TIMES, "event_type": "lever"}))
    assert _populate(imaging) == {}
    curation0 = {**task, "curation_id": 0}
    ids = curation.cell_ids(curation0)
    assert len(ids) >= 3
    grouped = curation.group(curation.verify(curation0, ids[:1]), "place cells", ids[1:3])
    assert _populate(imaging) == {}
    path = export_nwb(imaging, events, recording_key, tmp_path_factory.mktemp("nwb") / "recording.nwb",
                      movie="data", species="Mus musculus", indicator="GCaMP6f", excitation_lambda_nm=920.0)
    yield task, grouped, path
    (pipeline.Subject & {"subject": subject}).delete(prompt=False)
    for table in imaging.automatic_tables():
        if table.jobs.is_declared:
            (table.jobs & {"subject": subject}).delete_quick()


def _findings(path):
    """nwbinspector's findings of importance CRITICAL, PYNWB_VALIDATION or ERROR, one line each."""
    from nwbinspector import Importance, inspect_nwbfile

    levels = {Importance.ERROR, Importance.PYNWB_VALIDATION, Importance.CRITICAL}
    return [f"{m.importance.name} {m.check_function_name}: {m.message}"
            for m in inspect_nwbfile(nwbfile_path=str(path)) if m.importance in levels]


def test_export_is_inspector_clean_and_holds_the_tables_values(pipeline, exported):
    imaging, events = pipeline.imaging, pipeline.events
    task_key, curation_key, path = exported
    recording_key = {name: task_key[name] for name in imaging.Recording.primary_key}
    assert _findings(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.subject_id == recording_key["subject"] and nwbfile.subject.sex == "F"
        assert nwbfile.subject.date_of_birth.date() == datetime.date(2026, 1, 5)
        assert nwbfile.session_start_time.replace(tzinfo=None) == SESSION_TIME
        series = nwbfile.acquisition["TwoPhotonSeries"]
        assert series.rate == pytest.approx(FPS) and series.imaging_plane.indicator == "GCaMP6f"
        frames = read_recording(_raw_folder(pipeline, recording_key), fps=FPS)
        np.testing.assert_array_equal(series.data[:], frames.movie().read(0, N_FRAMES).transpose(0, 2, 1))
        ophys = nwbfile.processing["ophys"]
        rigid = (imaging.MotionCorrection.RigidMotionCorrection & curation_key).fetch1()
        np.testing.assert_allclose(ophys["motion_rigid_shifts"].data[:],
                                   np.stack([rigid["y_shifts"], rigid["x_shifts"]], axis=1), rtol=1e-6)
        summary = (imaging.MotionCorrection.Summary & curation_key).fetch1()
        np.testing.assert_allclose(ophys["summary_images"]["average_image"].data[:].T, summary["average_image"])
        _compare_cells(imaging, ophys, curation_key)
        _compare_transients(events, ophys, curation_key)
        behaviour = nwbfile.intervals["behavior_events"]
        np.testing.assert_allclose(behaviour["start_time"][:], LEVER_TIMES)
        assert list(behaviour["event_type"][:]) == ["lever"] * 3


def _raw_folder(pipeline, recording_key):
    from element_calcium.paths import find_full_path

    directory = (pipeline.imaging.Recording & recording_key).fetch1("recording_directory")
    return find_full_path(pipeline.get_raw_root_dirs(), directory)


def _compare_cells(imaging, ophys, curation_key):
    table = ophys["ImageSegmentation"]["PlaneSegmentation"]
    ids = curation.cell_ids(curation_key)
    np.testing.assert_array_equal(table.id.data[:], ids)
    masks = {row["mask_id"]: row for row in (imaging.Segmentation.Mask & curation_key).to_dicts()}
    types = dict(zip(*(imaging.MaskClassification.MaskType & curation_key).to_arrays("mask_id", "mask_type")))
    groups = curation.cell_groups(curation_key)
    verified = set((imaging.Curation.Verified & curation_key).to_arrays("mask_id").tolist())
    for row, mask_id in enumerate(ids.tolist()):
        pixels = table["pixel_mask"][row]
        mask = masks[mask_id]
        np.testing.assert_array_equal([p[0] for p in pixels], mask["mask_xpix"])
        np.testing.assert_array_equal([p[1] for p in pixels], mask["mask_ypix"])
        np.testing.assert_allclose([p[2] for p in pixels], mask["mask_weights"], rtol=1e-6)
        assert table["mask_type"][row] == types[mask_id]
        assert table["verified"][row] == (mask_id in verified)
        assert set(table["cell_groups"][row]) == {name for name, members in groups.items() if mask_id in members}
    assert groups and verified
    fluorescence = np.stack((imaging.Fluorescence.Trace & curation_key).to_arrays("fluorescence", order_by="mask_id"))
    np.testing.assert_allclose(ophys["Fluorescence"]["RoiResponseSeries"].data[:], fluorescence.T, rtol=1e-6)
    for method, (container, name) in {"dff": ("DfOverF", "RoiResponseSeries"),
                                      "deconvolved": ("Fluorescence", "Deconvolved"),
                                      "denoised": ("Fluorescence", "Denoised")}.items():
        stored = (imaging.Activity.Trace & curation_key & {"extraction_method": method})
        traces = np.stack(stored.to_arrays("activity_trace", order_by="mask_id"))
        np.testing.assert_allclose(ophys[container][name].data[:], traces.T, rtol=1e-6, err_msg=method)


def _compare_transients(events, ophys, curation_key):
    key = {**curation_key, "extraction_method": "dff", "event_paramset_id": 0}
    stored = (events.Transients.Transient & key).to_pandas().reset_index()
    assert len(stored) > 0
    table = ophys["transients_dff_paramset0"].to_dataframe().sort_values(["mask_id", "transient_id"])
    stored = stored.sort_values(["mask_id", "transient_id"])
    for column in ("mask_id", "transient_id", "peak_frame", "end_frame"):
        np.testing.assert_array_equal(table[column].to_numpy(), stored[column].to_numpy(), err_msg=column)
    for column in ("peak_time", "amplitude", "snr"):
        np.testing.assert_allclose(table[column].to_numpy(), stored[column].to_numpy(), rtol=1e-6, err_msg=column)
    np.testing.assert_allclose(table["stop_time"].to_numpy(), stored["end_time"].to_numpy())


def test_linked_movie_export_is_inspector_clean(pipeline, exported, tmp_path):
    task_key, _, _ = exported
    path = export_nwb(pipeline.imaging, pipeline.events, task_key, tmp_path / "linked.nwb",
                      curation_id=0, masks="image", species="Mus musculus")
    assert _findings(path) == []
    with pynwb.NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["TwoPhotonSeries"]
        assert series.format == "external" and len(series.external_file) >= 1
        assert all((path.parent / name).is_file() for name in series.external_file[:])
        masks = nwbfile.processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]["image_mask"].data
        assert masks.shape[1:] == (WIDTH, HEIGHT)
    with pytest.raises(ValueError, match="the file exists"):
        export_nwb(pipeline.imaging, pipeline.events, task_key, path)
    with pytest.raises(ValueError, match="curation 7 is not a curation"):
        export_nwb(pipeline.imaging, pipeline.events, task_key, tmp_path / "other.nwb", curation_id=7)


def test_round_trip_through_load_mode_nwb(pipeline, exported):
    imaging = pipeline.imaging
    task_key, curation_key, path = exported
    recording_key = {name: task_key[name] for name in imaging.Recording.primary_key}
    output_dir = f"nwb_{recording_key['subject']}"
    folder = pipeline.get_processed_root_dir() / output_dir
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    imaging.ProcessingParamSet.insert_new_params("nwb", LOAD_PARAMSET, "NWB results", {"modality": "2p"})
    imaging.ProcessingTask.insert1({**recording_key, "paramset_id": LOAD_PARAMSET, "processing_output_dir": output_dir,
                                    "task_mode": "load"})
    assert _populate(imaging) == {}
    loaded = {**recording_key, "paramset_id": LOAD_PARAMSET, "curation_id": 0}
    ids = curation.cell_ids(curation_key)
    np.testing.assert_array_equal(curation.cell_ids(loaded), ids)
    original = {row["mask_id"]: row for row in (imaging.Segmentation.Mask & curation_key).to_dicts()}
    for row in (imaging.Segmentation.Mask & loaded).to_dicts():
        mask = original[row["mask_id"]]
        np.testing.assert_array_equal(row["mask_ypix"], mask["mask_ypix"])
        np.testing.assert_array_equal(row["mask_xpix"], mask["mask_xpix"])
        np.testing.assert_allclose(row["mask_weights"], mask["mask_weights"], rtol=1e-5)
    for part, attribute, order in ((imaging.Fluorescence.Trace, "fluorescence", "mask_id"),
                                   (imaging.Activity.Trace, "activity_trace", ("extraction_method", "mask_id"))):
        before = (part & curation_key).to_arrays(attribute, order_by=order)
        after = (part & loaded).to_arrays(attribute, order_by=order)
        np.testing.assert_allclose(np.stack(after), np.stack(before), rtol=1e-5)
    rigid = imaging.MotionCorrection.RigidMotionCorrection
    np.testing.assert_allclose((rigid & loaded).fetch1("y_shifts"), (rigid & curation_key).fetch1("y_shifts"))


def test_command_writes_the_file(pipeline, exported, tmp_path):
    task_key, curation_key, _ = exported
    key = ",".join(f"{name}={value.isoformat() if hasattr(value, 'isoformat') else value}"
                   for name, value in task_key.items())
    out = tmp_path / "command.nwb"
    result = subprocess.run([sys.executable, "-m", "workflow.cli", "export-nwb", "--recording", key,
                             "--curation", "0", "--species", "Mus musculus", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    with pynwb.NWBHDF5IO(str(out), "r") as io:
        table = io.read().processing["ophys"]["ImageSegmentation"]["PlaneSegmentation"]
        np.testing.assert_array_equal(table.id.data[:], curation.cell_ids({**task_key, "curation_id": 0}))


def test_miniscope_recording_without_results_links_every_file_and_keeps_frame_times(pipeline, new_folder,
                                                                                    subject_name, tmp_path):
    movie = simulate(n_frames=150, height=40, width=48, n_cells=3, mode="1p", fps=FPS, seed=6)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=60, drop_frames=[70])
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     create_task=False).recording_key
    frame_times = (pipeline.imaging.RecordingInfo.Timestamps & recording_key).fetch1("frame_times")
    linked = export_nwb(pipeline.imaging, pipeline.events, recording_key, tmp_path / "linked.nwb", age="P60D")
    copied = export_nwb(pipeline.imaging, None, recording_key, tmp_path / "copied.nwb", movie="data", age="P60D")
    for path in (linked, copied):
        assert _findings(path) == []
    with pynwb.NWBHDF5IO(str(linked), "r") as io:
        series = io.read().acquisition["OnePhotonSeries"]
        assert list(series.external_file[:]) == [os.path.relpath(file, tmp_path) for file in written.files]
        assert len(written.files) == 3 and all((tmp_path / name).is_file() for name in series.external_file[:])
        np.testing.assert_array_equal(series.starting_frame[:], [0, 60, 120][: len(written.files)])
        np.testing.assert_allclose(series.timestamps[:], frame_times)
    with pynwb.NWBHDF5IO(str(copied), "r") as io:
        nwbfile = io.read()
        assert "ophys" not in nwbfile.processing
        raw = read_recording(_raw_folder(pipeline, recording_key)).movie()
        np.testing.assert_array_equal(nwbfile.acquisition["OnePhotonSeries"].data[:],
                                      raw.read(0, len(raw)).transpose(0, 2, 1))
