"""Every page of the app on minian's real output loaded into the pipeline (the ``realdata`` fixture; skipped
where the folder is absent): 223 real units over a Miniscope V3 recording of the real frames, loaded as
``tests/pipeline/test_load_realdata.py`` loads them."""

import datetime
import os

import numpy as np
import pytest

from element_calcium.app import recording_view, recordings_view
from element_calcium.app.frames import RecordingFrames

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MINIAN = "minian_pr65_output"
ORG = "minian_org_frames_100x480x752_uint8.npz"
PARAMSET = 243
SUBJECT = "app-minian"


@pytest.fixture(scope="module")
def minian_task(app_pipeline, realdata):
    """The processing task of the real minian results, loaded through the motion, cells, traces and transients."""
    from element_calcium.simulate import write_miniscope_v3
    from workflow.ingest import ingest_recording

    imaging = app_pipeline.imaging
    org = np.load(realdata / ORG)["org"]
    folder = app_pipeline.get_raw_root_dirs()[0] / f"app_minian_{os.getpid()}"
    written = write_miniscope_v3(folder, org[(np.arange(800) // 2) % 100], fps=30.0)
    imaging.ProcessingParamSet.insert_new_params("minian", PARAMSET, "minian results for the app", {"modality": "1p"})
    recording = ingest_recording(written.path, subject=SUBJECT, session_datetime=datetime.datetime(2026, 3, 3, 9),
                                 create_task=False).recording_key
    output = app_pipeline.get_processed_root_dir() / f"app_minian_{os.getpid()}"
    output.mkdir()
    for store in (realdata / MINIAN).iterdir():
        os.symlink(store, output / store.name)
    task = {**recording, "paramset_id": PARAMSET}
    imaging.ProcessingTask.insert1({**task, "task_mode": "load", "processing_output_dir": output.name})
    for table in (imaging.MotionCorrection, imaging.Segmentation, imaging.MaskClassification, imaging.Curation,
                  imaging.Fluorescence, imaging.Activity, app_pipeline.events.Transients):
        if table is imaging.Curation:
            table.fill_automatic()
        else:
            assert not table.populate(task, display_progress=False, suppress_errors=True)["error_list"]
    yield task
    (app_pipeline.Subject & {"subject": SUBJECT}).delete(prompt=False)
    (imaging.ProcessingParamSet & {"paramset_id": PARAMSET}).delete(prompt=False)


def test_every_page_opens_on_real_minian_results(app_data, minian_task):
    row = app_data.recordings(subject=SUBJECT).iloc[0]
    assert row["cells"] == 223 and row["Segmentation"] == "done" and row["mode"] == "load"
    curation = {**minian_task, "curation_id": 0}
    cells = app_data.cells(curation)
    assert len(cells) == 223 and all(len(x) >= 3 for x in cells["contour_x"])
    traces, source = app_data.cell_traces(curation, int(cells["mask_id"].iloc[0]))
    assert source == 0 and {"fluorescence", "dff", "denoised"} <= set(traces)
    assert all(trace.shape == (800,) and np.isfinite(trace).all() for trace in traces.values())
    assert len(app_data.transient_sets(curation)) >= 1

    recordings_view(app_data).get_root()
    view = recording_view(curation, pipeline=app_data)
    for index in range(len(view)):
        view.active = index
    view.get_root()
    assert all(len(page) > 1 for page in view)


def test_the_movie_of_a_loaded_recording_shows_its_raw_frames_and_model(app_data, minian_task):
    frames = RecordingFrames(app_data, {**minian_task, "curation_id": 0})
    assert frames.corrected is None and frames.shape == (480, 752)
    panels = frames.frame(10)
    assert panels["raw"].shape == (480, 752) and panels["reconstruction"].max() > 0
    assert np.isfinite(panels["residual"]).all()
