"""Populate with jobs: failures recorded, retries, parallel workers, killed workers."""

import os
import re
import signal
import subprocess
import sys
import time

from helpers import insert_recording, small_movie

from element_calcium.simulate import write_miniscope_v4
from workflow import status
from workflow.worker import repend_own_interrupted_jobs, return_orphaned_jobs


def _worker(*args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "element_calcium.cli", "worker", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen,
    )


def _made(log: str, table: str) -> int:
    return sum(int(count) for count in re.findall(rf"{table}: (\d+) made", log))


def test_failing_key_is_recorded_and_others_succeed(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    folders = [write_miniscope_v4(new_folder(), small_movie(n_frames=40), frames_per_file=20).path for _ in range(3)]
    (folders[1] / "My_V4_Miniscope" / "timeStamps.csv").rename(folders[1] / "moved.csv")
    keys = [insert_recording(pipeline, folder, subject_name, recording_id=i) for i, folder in enumerate(folders)]

    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)

    assert results["RecordingInfo"]["success_count"] == 2
    assert imaging.RecordingInfo & keys[0] and imaging.RecordingInfo & keys[2]
    assert not imaging.RecordingInfo & keys[1]
    [error] = [e for e in status.job_errors("RecordingInfo") if e["key"]["subject"] == subject_name]
    assert error["key"]["recording_id"] == 1
    assert "timeStamps.csv" in error["error_message"]

    imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    assert not imaging.RecordingInfo & keys[1], "errors are not retried until cleared"

    (folders[1] / "moved.csv").rename(folders[1] / "My_V4_Miniscope" / "timeStamps.csv")
    assert status.retry_errors("RecordingInfo") >= 1
    imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    assert imaging.RecordingInfo & keys[1]


def test_two_workers_in_parallel_process_each_key_once(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    keys = [
        insert_recording(pipeline, write_miniscope_v4(new_folder(), small_movie(n_frames=200, seed=i),
                                                      frames_per_file=25).path, subject_name, recording_id=i)
        for i in range(6)
    ]
    workers = [_worker("--once") for _ in range(2)]
    logs = [worker.communicate(timeout=300)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], logs
    assert sum(_made(log, "RecordingInfo") for log in logs) == 6, logs
    assert len(imaging.RecordingInfo & keys) == 6
    assert not [e for e in status.job_errors() if e["key"].get("subject") == subject_name]


def test_reservation_of_a_killed_worker_returns_to_pending(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    folder = write_miniscope_v4(new_folder(), small_movie(n_frames=40), frames_per_file=20).path
    key = insert_recording(pipeline, folder, subject_name)
    reserve_and_die = (
        "import os, signal, datetime\n"
        "from workflow.pipeline import imaging\n"
        f"key = {{'subject': {subject_name!r}, 'session_datetime': datetime.datetime(2026, 3, 1, 9, 0), "
        "'recording_id': 0}\n"
        "imaging.RecordingInfo.jobs.refresh()\n"
        "assert imaging.RecordingInfo.jobs.reserve(key)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", reserve_and_die], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert imaging.RecordingInfo.jobs.reserved & key

    returned = 0
    for _ in range(20):
        returned += return_orphaned_jobs([imaging.RecordingInfo])
        if returned:
            break
        time.sleep(0.5)

    assert returned == 1
    assert imaging.RecordingInfo.jobs.pending & key
    worker = _worker("--once")
    log = worker.communicate(timeout=300)[0]
    assert worker.returncode == 0, log
    assert imaging.RecordingInfo & key


def test_live_reservation_is_left_alone(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    folder = write_miniscope_v4(new_folder(), small_movie(n_frames=40), frames_per_file=20).path
    key = insert_recording(pipeline, folder, subject_name)
    imaging.RecordingInfo.jobs.refresh()
    assert imaging.RecordingInfo.jobs.reserve(key)
    assert return_orphaned_jobs([imaging.RecordingInfo]) == 0
    assert imaging.RecordingInfo.jobs.reserved & key


def test_worker_exits_cleanly_on_sigterm(pipeline):
    worker = _worker("--sleep", "30")
    deadline = time.monotonic() + 60
    line = ""
    while "worker started" not in line and time.monotonic() < deadline:
        line = worker.stdout.readline()
    assert "worker started" in line
    time.sleep(1.0)
    os.kill(worker.pid, signal.SIGTERM)
    rest = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0
    assert "worker stopped" in rest


def test_job_interrupted_by_sigterm_goes_back_to_pending(pipeline, new_folder, subject_name):
    """DataJoint records a SIGTERM during make() as a SystemExit error; the worker re-pends it."""
    imaging = pipeline.imaging
    folder = write_miniscope_v4(new_folder(), small_movie(n_frames=40), frames_per_file=20).path
    key = insert_recording(pipeline, folder, subject_name)
    jobs = imaging.RecordingInfo.jobs
    jobs.refresh()
    assert jobs.reserve(key)
    jobs.error(key, error_message="SystemExit: SIGTERM received")
    assert jobs.errors & key

    repend_own_interrupted_jobs([imaging.RecordingInfo])

    assert jobs.pending & key
    assert not jobs.errors & key
