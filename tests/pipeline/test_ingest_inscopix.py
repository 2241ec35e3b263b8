"""Ingesting an Inscopix ``.isxd`` recording: detected, read without Inscopix's software, one-photon defaults."""

import numpy as np
import pytest
from helpers import SESSION_TIME, small_movie

from element_calcium.simulate import write_inscopix
from workflow.ingest import ingest_recording


def test_isxd_recording_is_ingested_as_one_photon(pipeline, new_folder, subject_name, raw_root):
    imaging = pipeline.imaging
    written = write_inscopix(new_folder(), small_movie("1p"), frame_header_footer=False, drop_frames=(7, 8))

    result = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)

    key = result.recording_key
    assert (imaging.Recording & key).fetch1("acquisition_software") == "Inscopix"
    assert (imaging.Recording & key).fetch1("equipment") == "Inscopix miniscope"
    info = (imaging.RecordingInfo & key).fetch1()
    assert (info["nframes"], info["px_height"], info["px_width"]) == (written.nframes, written.height, written.width)
    assert info["fps"] == pytest.approx(written.fps)
    frame_times, dropped = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times", "dropped_frames")
    np.testing.assert_allclose(frame_times, written.timestamps, atol=1e-9)
    assert dropped == 2
    stored = (imaging.RecordingInfo.File & key).to_arrays("file_path")
    assert [raw_root / path for path in stored] == [written.files[0].resolve()]
    assert (imaging.ProcessingTask & key).fetch1("paramset_id") == imaging.DEFAULT_PARAMSET_ID["1p"]
