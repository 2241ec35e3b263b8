"""Never two results in one place: a folder per task, refused when shared, results files that name their key."""

import datetime
import shutil

import numpy as np
import pytest
from helpers import SESSION_TIME, small_movie

from element_calcium import results_file
from element_calcium.stages import motion as motion_stage
from element_calcium.simulate import write_miniscope_v4
from workflow.ingest import ingest_recording

MILLISECOND = datetime.timedelta(milliseconds=1)


@pytest.fixture
def lookalikes(pipeline, subject_name):
    """Two subject names whose characters other than letters and digits differ: ``"<name> 1"``, ``"<name>-1"``."""
    names = (f"{subject_name} 1", f"{subject_name}-1")
    yield names
    for name in names:
        (pipeline.Subject & {"subject": name}).delete(prompt=False)
        for table in pipeline.imaging.automatic_tables():
            if table.jobs.is_declared:
                (table.jobs & {"subject": name}).delete_quick()


def _recording(new_folder, *, seed=0, n_frames=60):
    return write_miniscope_v4(new_folder(), small_movie(n_frames=n_frames, seed=seed), frames_per_file=30).path


def _populate(table, key):
    return table.populate(key, display_progress=False, suppress_errors=True)


def test_default_folders_differ_for_lookalike_subjects_and_for_milliseconds(pipeline, lookalikes):
    sessions = [{"subject": lookalikes[0], "session_datetime": SESSION_TIME + 123 * MILLISECOND},
                {"subject": lookalikes[1], "session_datetime": SESSION_TIME + 123 * MILLISECOND},
                {"subject": lookalikes[0], "session_datetime": SESSION_TIME + 124 * MILLISECOND}]
    for session in sessions:
        pipeline.Subject.insert1({"subject": session["subject"]}, skip_duplicates=True)
        pipeline.Session.insert1(session)

    folders = [pipeline.imaging.ProcessingTask.default_output_dir({**session, "recording_id": 0, "paramset_id": 0})
               for session in sessions]

    assert len(set(folders)) == 3, folders
    assert all(folder.endswith("/recording0/paramset0") for folder in folders)
    assert "20260301_090000_123-" in folders[0] and "20260301_090000_124-" in folders[2]  # readable, ms kept


def test_lookalike_recordings_each_get_their_own_movie(pipeline, new_folder, lookalikes):
    imaging = pipeline.imaging
    keys = [ingest_recording(_recording(new_folder, seed=seed), subject=subject, session_datetime=SESSION_TIME)
            .task_key for seed, subject in enumerate(lookalikes)]

    for key in keys:
        assert _populate(imaging.MotionCorrection, key)["success_count"] == 1

    movies = [(imaging.MotionCorrection & key).fetch1("corrected_movie") for key in keys]
    assert movies[0].rsplit("/", 1)[0] != movies[1].rsplit("/", 1)[0]
    for key, movie in zip(keys, movies):
        owner = imaging.results_owner(imaging.MotionCorrection, key)
        assert results_file.read_owner(pipeline.get_processed_root_dir() / movie)[1] == owner
    means = [(imaging.MotionCorrection.Summary & key).fetch1("average_image") for key in keys]
    assert not np.allclose(means[0], means[1])


def test_a_task_pointed_at_another_tasks_folder_is_refused(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    first = ingest_recording(_recording(new_folder), subject=subject_name, session_datetime=SESSION_TIME).task_key
    assert _populate(imaging.MotionCorrection, first)["success_count"] == 1
    folder = (imaging.ProcessingTask & first).fetch1("processing_output_dir")
    files = sorted((pipeline.get_processed_root_dir() / folder).iterdir())
    second = ingest_recording(_recording(new_folder, seed=1), subject=subject_name, session_datetime=SESSION_TIME,
                              create_task=False).recording_key
    imaging.ProcessingTask.insert1({**second, "paramset_id": 0, "processing_output_dir": f"./{folder}//",
                                    "task_mode": "trigger"})
    second_task = {**second, "paramset_id": 0}

    [(_, message)] = _populate(imaging.MotionCorrection, second_task)["error_list"]

    assert f"processing_output_dir './{folder}//' is already the output folder of task" in message
    assert "\n" not in message
    assert not imaging.MotionCorrection & second_task
    assert sorted((pipeline.get_processed_root_dir() / folder).iterdir()) == files


def test_ingest_refuses_a_folder_another_task_uses_and_stores_nothing(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    first = ingest_recording(_recording(new_folder), subject=subject_name, session_datetime=SESSION_TIME,
                             create_task=False).recording_key
    taken = imaging.ProcessingTask.default_output_dir({**first, "recording_id": 1, "paramset_id": 0})
    imaging.ProcessingTask.insert1({**first, "paramset_id": 0, "processing_output_dir": taken})
    folder = _recording(new_folder, seed=1)

    with pytest.raises(ValueError, match=f"processing_output_dir '{taken}' is already the output folder of task"):
        ingest_recording(folder, subject=subject_name, session_datetime=SESSION_TIME)

    assert not imaging.Recording & {**first, "recording_id": 1}
    assert len(imaging.ProcessingTask & {"subject": subject_name}) == 1


def test_results_files_of_another_key_are_refused(pipeline, new_folder, lookalikes):
    imaging = pipeline.imaging
    root = pipeline.get_processed_root_dir()
    keys = [ingest_recording(_recording(new_folder, seed=seed), subject=subject, session_datetime=SESSION_TIME)
            .task_key for seed, subject in enumerate(lookalikes)]
    assert _populate(imaging.MotionCorrection, keys[0])["success_count"] == 1
    first_movie = root / (imaging.MotionCorrection & keys[0]).fetch1("corrected_movie")
    second_folder = root / (imaging.ProcessingTask & keys[1]).fetch1("processing_output_dir")
    second_folder.mkdir(parents=True)
    shutil.copy(first_movie, second_folder / "motion_corrected.h5")

    [(_, message)] = _populate(imaging.MotionCorrection, keys[1])["error_list"]

    assert f"these are the results of MotionCorrection {{\"paramset_id\": 0, \"recording_id\": 0, " \
           f"\"session_datetime\": \"2026-03-01T09:00:00\", \"subject\": \"{lookalikes[0]}\"}}" in message
    assert "two keys share this folder" in message

    (second_folder / "motion_corrected.h5").unlink()
    assert _populate(imaging.MotionCorrection, keys[1])["success_count"] == 1
    second_movie = root / (imaging.MotionCorrection & keys[1]).fetch1("corrected_movie")
    shutil.copy(first_movie, second_movie)  # the second recording's row now names the first's movie

    [(_, message)] = _populate(imaging.Segmentation, keys[1])["error_list"]

    assert f"{second_movie}: these are the results of MotionCorrection" in message and lookalikes[0] in message
    assert not imaging.Segmentation & keys[1]


def test_a_second_computation_never_replaces_the_file_a_row_names(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    key = ingest_recording(_recording(new_folder), subject=subject_name, session_datetime=SESSION_TIME).task_key
    assert _populate(imaging.MotionCorrection, key)["success_count"] == 1
    stored = pipeline.get_processed_root_dir() / (imaging.MotionCorrection & key).fetch1("corrected_movie")
    before = stored.stat()
    [inputs] = imaging.MotionCorrection().make_fetch(key)

    rows = motion_stage.run(inputs)  # as a second worker would, e.g. after the database restarted

    again = pipeline.get_processed_root_dir() / rows.master["corrected_movie"]
    assert again != stored and again.parent == stored.parent
    assert (stored.stat().st_ino, stored.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert results_file.read_owner(again) == results_file.read_owner(stored)
    with pytest.raises(Exception, match="Duplicate"):  # the insert decides: the committed row stays
        imaging.MotionCorrection.insert1({**key, **rows.master}, allow_direct_insert=True)
    assert pipeline.get_processed_root_dir() / (imaging.MotionCorrection & key).fetch1("corrected_movie") == stored
