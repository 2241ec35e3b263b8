"""Populate with jobs: failures recorded, retries, parallel workers, killed workers, heartbeats, dropped
connections and lost reservations."""

import os
import re
import signal
import subprocess
import sys
import time

import pymysql
from helpers import SESSION_TIME, insert_recording, small_movie

from element_calcium import reservations
from element_calcium.reservations import Heartbeat
from element_calcium.simulate import write_miniscope_v4
from workflow import status
from workflow.ingest import ingest_recording
from workflow.worker import return_orphaned_jobs


def _worker(*args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "workflow.cli", "worker", *args],
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


def test_reservation_of_a_killed_worker_returns_to_pending_after_the_timeout(pipeline, new_folder, subject_name):
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

    return_orphaned_jobs([imaging.RecordingInfo], orphan_timeout_s=60.0)
    assert imaging.RecordingInfo.jobs.reserved & key, "returned before its timeout"
    time.sleep(1.5)
    assert return_orphaned_jobs([imaging.RecordingInfo], orphan_timeout_s=1.0) >= 1

    assert imaging.RecordingInfo.jobs.pending & key
    worker = _worker("--once")
    log = worker.communicate(timeout=300)[0]
    assert worker.returncode == 0, log
    assert imaging.RecordingInfo & key


def test_reservation_with_a_heartbeat_outlives_the_timeout(pipeline, new_folder, subject_name):
    """Orphan detection judges the heartbeat, not the reservation's age nor its connection."""
    imaging = pipeline.imaging
    folder = write_miniscope_v4(new_folder(), small_movie(n_frames=40), frames_per_file=20).path
    key = insert_recording(pipeline, folder, subject_name)
    jobs = imaging.RecordingInfo.jobs
    jobs.refresh()
    assert jobs.reserve(key)

    with Heartbeat(jobs, key, interval_s=0.2):
        for _ in range(3):
            time.sleep(1.5)
            return_orphaned_jobs([imaging.RecordingInfo], orphan_timeout_s=3.0)
            assert jobs.reserved & key, "a live reservation was returned to pending"
    time.sleep(3.5)
    return_orphaned_jobs([imaging.RecordingInfo], orphan_timeout_s=3.0)
    assert jobs.pending & key, "the heartbeat stopped, yet the reservation stayed"


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


def _motion_task(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    return ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME).task_key


def test_insert_that_meets_a_dropped_connection_is_retried_without_computing_again(
    pipeline, new_folder, subject_name, monkeypatch
):
    imaging = pipeline.imaging
    task_key = _motion_task(pipeline, new_folder, subject_name)
    calls = {"compute": 0, "insert": 0}
    compute, insert = imaging.MotionCorrection.make_compute, imaging.MotionCorrection.make_insert

    def counted_compute(self, key, *fetched):
        calls["compute"] += 1
        return compute(self, key, *fetched)

    def insert_on_a_dropped_connection(self, key, *rows):
        calls["insert"] += 1
        if calls["insert"] == 1:  # the server drops the connection of the open insert transaction
            connection_id = self.connection.query("SELECT CONNECTION_ID()").fetchone()[0]
            info = self.connection.conn_info
            killer = pymysql.connect(host=info["host"], port=int(info["port"]), user=info["user"],
                                     password=info["passwd"], autocommit=True)
            with killer:
                killer.cursor().execute(f"KILL {int(connection_id)}")
        return insert(self, key, *rows)

    monkeypatch.setattr(imaging.MotionCorrection, "make_compute", counted_compute)
    monkeypatch.setattr(imaging.MotionCorrection, "make_insert", insert_on_a_dropped_connection)
    result = reservations.populate_reserved(imaging.MotionCorrection, suppress_errors=True)

    assert result["error_list"] == [] and result["success_count"] == 1
    assert calls == {"compute": 1, "insert": 2}
    assert len(imaging.MotionCorrection & task_key) == 1
    assert not imaging.MotionCorrection.jobs & task_key


def test_result_of_a_lost_reservation_is_not_inserted(pipeline, new_folder, subject_name, monkeypatch):
    """A worker whose reservation was returned to pending while it computed (cut off from the server longer
    than the orphan timeout) drops its result: the worker that holds the key now inserts it."""
    imaging = pipeline.imaging
    task_key = _motion_task(pipeline, new_folder, subject_name)
    jobs = imaging.MotionCorrection.jobs
    compute = imaging.MotionCorrection.make_compute

    def compute_while_another_worker_takes_the_key(self, key, *fetched):
        result = compute(self, key, *fetched)
        jobs.connection.query(
            f"UPDATE {jobs.full_table_name} SET host='elsewhere', pid=1{(jobs & key).where_clause()}"
        )
        return result

    monkeypatch.setattr(imaging.MotionCorrection, "make_compute", compute_while_another_worker_takes_the_key)
    result = reservations.populate_reserved(imaging.MotionCorrection, suppress_errors=True)

    assert result == {"success_count": 0, "error_list": []}
    assert not imaging.MotionCorrection & task_key
    assert (jobs & task_key).fetch1("status", "host") == ("reserved", "elsewhere")
