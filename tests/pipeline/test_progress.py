"""Long steps say how far they are: log lines (with rate and time left) or a bar, and `status` for a worker's key."""

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from helpers import SESSION_TIME

from element_calcium import progress, reservations
from element_calcium.simulate import simulate, write_miniscope_v4
from workflow.ingest import ingest_recording

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"(?P<table>\w+) (?P<key>\S+): (?P<step>[a-z ()]+) (?P<done>\d+)/(?P<total>\d+) (?P<unit>\w+)")


def progress_lines(records, table: str) -> list[re.Match]:
    lines = [LINE.match(record.getMessage()) for record in records if record.name == "element_calcium.progress"]
    return [line for line in lines if line and line["table"] == table]


def test_long_steps_log_their_progress_with_rate_and_time_left(pipeline, new_folder, subject_name, caplog,
                                                               monkeypatch):
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate(n_frames=240, height=160, width=160, n_cells=8, mode="1p", seed=3)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=120)
    result = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    events.EventParamSet.insert_new_params("spatial", 61, "progress test", {"min_size": 150})
    monkeypatch.setattr(progress, "PROGRESS_LOG_S", 0.0)  # a line at every report, not every 10 s
    monkeypatch.setenv("EC_CHUNK_FRAMES", "60")
    caplog.set_level(logging.INFO, logger="element_calcium.progress")
    try:
        imaging.populate_all(display_progress=False)
    finally:
        (events.EventParamSet & {"event_paramset_id": 61}).delete(prompt=False)

    task = progress.key_text(result.task_key)
    for table, step, unit, total in (("MotionCorrection", "registering frames", "frames", 240),
                                     ("Segmentation", "fitting patches", "patches", 4),
                                     ("SpatialEvents", "detecting events (two passes)", "frames", 480)):
        lines = progress_lines(caplog.records, table)
        assert lines, f"{table} reported no progress"
        assert all(line["key"].startswith(task) and line["step"] == step and line["unit"] == unit for line in lines)
        done = [int(line["done"]) for line in lines]
        assert {int(line["total"]) for line in lines} == {total}
        assert done == sorted(done) and done[-1] == total and len(done) >= 2
    messages = [record.getMessage() for record in caplog.records if record.name == "element_calcium.progress"]
    assert any(re.search(r"registering frames 60/240 frames \(25%\), [\d.e+]+ frames/s, \d+ s left", m)
               for m in messages)


def test_a_bar_on_a_terminal_and_log_lines_at_most_every_interval(capsys, caplog):
    caplog.set_level(logging.INFO, logger="element_calcium.progress")
    key = {"subject": "m1", "recording_id": 0}
    with progress.showing_progress(bar=True), \
            progress.step_progress("MotionCorrection", key, step="registering frames", unit="frames") as step:
        for done in range(100, 1001, 100):
            step(done, 1000)
    assert "MotionCorrection: registering frames" in capsys.readouterr().err and not caplog.records

    with progress.showing_progress(bar=False, log_interval_s=3600.0), \
            progress.step_progress("Segmentation", key, step="fitting patches", unit="patches") as step:
        for done in range(1, 11):
            step(done, 10)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2  # the first report, then none within the interval, and the last
    assert messages[0].startswith("Segmentation subject=m1,recording_id=0: fitting patches 1/10 patches (10%)")
    assert "fitting patches 10/10 patches (100%)" in messages[1]


def test_status_shows_what_a_worker_computes_and_how_far_it_is(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    movie = simulate(n_frames=60, height=48, width=56, n_cells=3, mode="1p", seed=4)
    result = ingest_recording(write_miniscope_v4(new_folder(), movie, frames_per_file=60).path,
                              subject=subject_name, session_datetime=SESSION_TIME)
    jobs = imaging.MotionCorrection.jobs
    jobs.refresh()
    assert jobs.reserve(result.task_key)  # as a worker does, before computing
    step = progress.StepProgress("MotionCorrection", result.task_key, step="registering frames", unit="frames")
    step(300, 1200)
    board = progress.ProgressBoard()
    board.step = step
    heartbeat = reservations.Heartbeat(jobs, result.task_key, interval_s=0.05, board=board)
    with heartbeat:  # its beats write the progress; once written, status shows it
        shown = ""
        for _ in range(20):
            shown = subprocess.run([sys.executable, "-m", "workflow.cli", "status"], cwd=ROOT,
                                   env=dict(os.environ), capture_output=True, text=True, timeout=120).stdout
            if "300/1200" in shown:
                break
    task = progress.key_text(result.task_key)
    assert "running now: 1" in shown
    assert (f"MotionCorrection {task}: registering frames 300/1200 frames (25%)" in shown
            and f"(worker {os.uname().nodename}, process {os.getpid()})" in shown), shown
    running_row = next(line for line in shown.splitlines() if line.startswith("MotionCorrection "))
    assert running_row.split()[3] == "1"
    left = imaging.schema.connection.query(  # the heartbeat removed the key's progress when it stopped
        f"SELECT COUNT(*) FROM `{imaging.schema.database}`.`{progress.PROGRESS_TABLE}`").fetchone()[0]
    assert left == 0
    (jobs & result.task_key).delete_quick()
