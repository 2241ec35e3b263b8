import json
import os

import numpy as np
import pytest
from helpers import SESSION_TIME, insert_recording, small_movie, table_sizes

from element_calcium.simulate import write_miniscope_v3, write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording

WRITERS = {
    "Miniscope-DAQ-V4": lambda folder: write_miniscope_v4(folder, small_movie("1p"), frames_per_file=50,
                                                          drop_frames=(30, 31, 77)),
    "Miniscope-DAQ-V3": lambda folder: write_miniscope_v3(folder, small_movie("1p"), frames_per_file=50,
                                                          drop_frames=(40,)),
    "TIFF": lambda folder: write_tiff(folder, small_movie("2p"), n_files=2),
    "ScanImage": lambda folder: write_tiff(folder, small_movie("2p"), scanimage=True),
}


@pytest.mark.parametrize("software", list(WRITERS))
def test_recording_info_equals_what_was_written(pipeline, new_folder, subject_name, raw_root, software):
    imaging = pipeline.imaging
    written = WRITERS[software](new_folder())
    fps = written.fps if software == "TIFF" else None

    result = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME, fps=fps)

    key = result.recording_key
    assert result.created
    assert (imaging.Recording & key).fetch1("acquisition_software") == software
    info = (imaging.RecordingInfo & key).fetch1()
    assert (info["nframes"], info["px_height"], info["px_width"]) == (written.nframes, written.height, written.width)
    assert info["fps"] == pytest.approx(written.fps, rel=0.02)
    frame_times, dropped = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times", "dropped_frames")
    assert frame_times[0] == 0.0
    # DAQ V3 writes a junk clock value for the first frame, so only the intervals are exact there
    np.testing.assert_allclose(np.diff(frame_times), np.diff(written.timestamps), atol=1e-3)
    if software != "Miniscope-DAQ-V3":
        np.testing.assert_allclose(frame_times, written.timestamps, atol=1e-3)
    assert dropped == written.dropped_frames
    stored_files = (imaging.RecordingInfo.File & key).to_arrays("file_path", order_by="file_id")
    assert [raw_root / path for path in stored_files] == [path.resolve() for path in written.files]
    task = (imaging.ProcessingTask & key).fetch1()
    assert task["paramset_id"] == imaging.DEFAULT_PARAMSET_ID[imaging.modality_of(software)]
    assert task["task_mode"] == "trigger"
    assert not os.path.isabs(task["processing_output_dir"])


def test_ingesting_twice_adds_nothing(pipeline, new_folder, subject_name):
    written = WRITERS["Miniscope-DAQ-V4"](new_folder())
    first = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    sizes = table_sizes(pipeline)

    again = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)

    assert not again.created
    assert again.recording_key == first.recording_key
    assert again.task_key == first.task_key
    assert table_sizes(pipeline) == sizes


def test_same_folder_under_another_session_is_refused(pipeline, new_folder, subject_name):
    written = WRITERS["Miniscope-DAQ-V4"](new_folder())
    ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    sizes = table_sizes(pipeline)
    with pytest.raises(ValueError, match="already ingested"):
        ingest_recording(written.path, subject=subject_name + "x", session_datetime=SESSION_TIME)
    assert table_sizes(pipeline) == sizes


def test_no_task_and_chosen_paramset(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    first = ingest_recording(WRITERS["TIFF"](new_folder()).path, subject=subject_name,
                             session_datetime=SESSION_TIME, fps=20.0, create_task=False)
    assert first.task_key is None and not imaging.ProcessingTask & first.recording_key
    second = ingest_recording(WRITERS["Miniscope-DAQ-V4"](new_folder()).path, subject=subject_name,
                              session_datetime=SESSION_TIME, paramset_id=imaging.DEFAULT_PARAMSET_ID["2p"])
    assert second.recording_key["recording_id"] == first.recording_key["recording_id"] + 1
    assert (imaging.ProcessingTask & second.recording_key).fetch1("paramset_id") == 1


def _remove(folder, name):
    next(folder.rglob(name)).unlink()


def _garble_json(folder):
    next(folder.rglob("My_V4_Miniscope/metaData.json")).write_text('{"frameRate": "30FPS", ')


def _garble_csv(folder):
    path = next(folder.rglob("timeStamps.csv"))
    lines = path.read_text().splitlines()
    lines[5] = "5,not-a-number,0"
    path.write_text("\n".join(lines) + "\n")


def _drop_timestamp_row(folder):
    path = next(folder.rglob("timeStamps.csv"))
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")


def _truncate_avi(folder):
    path = next(folder.rglob("1.avi"))
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _empty_folder(folder):
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


BREAKAGES = {
    "missing timeStamps.csv": (lambda f: _remove(f, "timeStamps.csv"), "timeStamps.csv"),
    "missing metaData.json": (lambda f: _remove(f, "My_V4_Miniscope/metaData.json"), "metaData.json"),
    "malformed JSON": (_garble_json, "metaData.json"),
    "malformed CSV": (_garble_csv, "timeStamps.csv"),
    "frame count mismatch": (_drop_timestamp_row, "timeStamps.csv"),
    "truncated AVI": (_truncate_avi, "1.avi"),
    "empty folder": (_empty_folder, "rec_"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_bad_folder_is_refused_with_nothing_stored(pipeline, new_folder, subject_name, breakage):
    written = WRITERS["Miniscope-DAQ-V4"](new_folder())
    damage, named_file = BREAKAGES[breakage]
    damage(written.path)
    sizes = table_sizes(pipeline)

    with pytest.raises((ValueError, FileNotFoundError), match=named_file):
        ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)

    assert table_sizes(pipeline) == sizes


def test_folder_outside_every_raw_root_is_refused(pipeline, tmp_path, subject_name):
    written = WRITERS["Miniscope-DAQ-V4"](tmp_path / "elsewhere")
    sizes = table_sizes(pipeline)
    with pytest.raises(ValueError, match="not under any root"):
        ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    assert table_sizes(pipeline) == sizes


def test_missing_folder_is_refused(pipeline, new_folder, subject_name):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ingest_recording(new_folder(), subject=subject_name, session_datetime=SESSION_TIME)


def test_plain_tiff_without_fps_is_refused(pipeline, new_folder, subject_name):
    written = WRITERS["TIFF"](new_folder())
    sizes = table_sizes(pipeline)
    with pytest.raises(ValueError, match="fps"):
        ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    assert table_sizes(pipeline) == sizes


def test_stored_directory_leaving_its_root_fails_populate(pipeline, subject_name):
    imaging = pipeline.imaging
    key = insert_recording(pipeline, "../outside", subject_name)
    with pytest.raises(ValueError, match="leaves its root"):
        imaging.RecordingInfo.populate(key)
    assert not imaging.RecordingInfo & key


def test_extra_metadata_is_json(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie("1p"), frames_per_file=60, gain="Medium",
                                 head_orientation=True)
    key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).recording_key
    info = (pipeline.imaging.RecordingInfo & key).fetch1()
    assert info["gain"] == pytest.approx(2.0)
    assert info["led_power"] == pytest.approx(30)
    assert info["recording_datetime"] is not None
    json.dumps(info["extra"])


def test_frame_rate_given_again_must_match_what_was_ingested(pipeline, new_folder, subject_name):
    tiff = WRITERS["TIFF"](new_folder())
    ingest_recording(tiff.path, subject=subject_name, session_datetime=SESSION_TIME, fps=tiff.fps)
    again = ingest_recording(tiff.path, subject=subject_name, session_datetime=SESSION_TIME, fps=tiff.fps)
    assert not again.created
    with pytest.raises(ValueError, match=rf"already ingested at {tiff.fps:g} Hz, not 7 Hz"):
        ingest_recording(tiff.path, subject=subject_name, session_datetime=SESSION_TIME, fps=7.0)

    miniscope = WRITERS["Miniscope-DAQ-V4"](new_folder())
    ingest_recording(miniscope.path, subject=subject_name, session_datetime=SESSION_TIME)
    with pytest.raises(ValueError, match="records its own frame rate; the frame rate .fps. applies to plain TIFF only"):
        ingest_recording(miniscope.path, subject=subject_name, session_datetime=SESSION_TIME, fps=20.0)
