import os
import socket
import subprocess
import sys

import pytest
from helpers import small_movie

from element_calcium.simulate import write_miniscope_v4, write_tiff


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "workflow.cli", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300,
    )


def test_setup_db_is_a_no_op_when_the_server_answers(pipeline):
    for _ in range(2):
        result = cli("setup-db")
        assert result.returncode == 0, result.stderr
        assert "nothing to do" in result.stdout


def test_setup_db_says_what_to_do_when_no_server_answers():
    result = cli("setup-db", "--no-install", env={"DJ_PORT": "1"})
    assert result.returncode == 1
    assert "No database answers at" in result.stdout
    assert "docker compose up -d db" in result.stdout


def test_ingest_status_and_refusal(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    args = ("ingest", str(written.path), "--subject", subject_name, "--session-datetime", "2026-03-01T09:00:00")

    first = cli(*args)
    assert first.returncode == 0, first.stderr
    assert "ingested" in first.stdout and "processing task" in first.stdout
    again = cli(*args)
    assert again.returncode == 0 and "nothing added" in again.stdout

    report = cli("status")
    assert report.returncode == 0, report.stderr
    assert "RecordingInfo" in report.stdout and "ProcessingTask" in report.stdout

    broken = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    (broken.path / "My_V4_Miniscope" / "metaData.json").unlink()
    refused = cli("ingest", str(broken.path), "--subject", subject_name, "--session-datetime", "2026-03-01T09:00")
    assert refused.returncode == 2
    assert "metaData.json" in refused.stderr


def test_bad_session_datetime_is_reported():
    result = cli("ingest", ".", "--subject", "x", "--session-datetime", "yesterday")
    assert result.returncode == 2
    assert "ISO-8601" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def error_line(result) -> str:
    """The one line a user error prints (standard error), checking that it is one line and exit status 2."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def ingested_key(result, what: str = "recording") -> str:
    """The key ``ingest`` printed for the recording (or ``processing task``), as one shell word."""
    line = next(line for line in result.stdout.splitlines() if f"{what} " in line and "=" in line)
    return line.rsplit(" ", 1)[-1]


@pytest.mark.parametrize("command", [("status",), ("worker", "--once"), ("ingest", "{folder}", "--subject", "x",
                                                                          "--session-datetime", "2026-03-01")])
def test_unreachable_database_is_one_line_naming_it_and_what_to_do(command, tmp_path):
    port = free_port()
    folder = write_miniscope_v4(tmp_path / "recording", small_movie(n_frames=30), frames_per_file=30).path
    line = error_line(cli(*(part.format(folder=folder) for part in command), env={"DJ_PORT": str(port)}))
    assert f"127.0.0.1:{port}" in line and "Connection refused" in line
    assert "element-calcium setup-db" in line and "DJ_USER" in line and "DJ_PASS" in line


def test_ingest_prints_keys_that_report_and_video_take(pipeline, new_folder, subject_name, tmp_path):
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    result = cli("ingest", str(written.path), "--subject", subject_name, "--session-datetime", "2026-03-01T09:00")
    assert result.returncode == 0, result.stderr
    recording, task = ingested_key(result), ingested_key(result, "processing task")
    assert recording == f"subject={subject_name},session_datetime=2026-03-01T09:00:00,recording_id=0"
    assert task == recording + ",paramset_id=0,plane=0"
    assert f"element-calcium report --recording {recording}" in result.stdout

    report = cli("report", "--recording", recording, "--out", str(tmp_path / "page.html"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "page.html").is_file()
    line = error_line(cli("video", "--task", task))
    assert "not segmented" in line and "element-calcium worker --once" in line


def test_misspelt_or_mistyped_key_attributes_are_refused(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    for session in ("2026-03-01T09:00", "2026-03-02T09:00"):
        folder = written.path if session.endswith("01T09:00") else write_miniscope_v4(
            new_folder(), small_movie(n_frames=60), frames_per_file=30).path
        assert cli("ingest", str(folder), "--subject", subject_name, "--session-datetime", session).returncode == 0

    line = error_line(cli("report", "--recording", f"subjet={subject_name}"))
    assert "unknown attribute 'subjet'" in line and "subject, session_datetime, recording_id" in line
    line = error_line(cli("report", "--recording", f"subject={subject_name}"))
    assert "2 recordings match" in line and "give a key that names one" in line
    line = error_line(cli("report", "--recording", f"subject={subject_name},recording_id=first"))
    assert "recording_id='first' is not an integer" in line
    line = error_line(cli("video", "--task", f"subject={subject_name},session_datetime=March"))
    assert "session_datetime='March' is not ISO-8601" in line


def test_fps_is_asked_for_and_refused_as_the_option_it_is(pipeline, new_folder, subject_name):
    tiff = write_tiff(new_folder(), small_movie("2p"), n_files=1)
    line = error_line(cli("ingest", str(tiff.path), "--subject", subject_name, "--session-datetime", "2026-03-01"))
    assert "plain TIFF files carry no frame rate" in line and "--fps" in line and "fps=" not in line

    miniscope = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    args = ("ingest", str(miniscope.path), "--subject", subject_name, "--session-datetime", "2026-03-01")
    for _ in range(2):  # before and after it is ingested
        line = error_line(cli(*args, "--fps", "20"))
        assert "--fps applies to plain TIFF only" in line and "Miniscope-DAQ-V4" in line
        assert cli(*args).returncode == 0


def test_missing_avi_names_the_device_folder_and_the_file(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=60)
    for path in written.files:
        path.unlink()
    line = error_line(cli("ingest", str(written.path), "--subject", subject_name, "--session-datetime", "2026-03-01"))
    assert "My_V4_Miniscope: no movie file 0.avi" in line and "copy the recording's numbered AVI files" in line


def test_status_counts_keys_no_worker_has_seen_and_worker_once_fails_on_a_failed_key(
        pipeline, new_folder, subject_name):
    def pending_motion() -> int:
        result = cli("status")
        assert result.returncode == 0, result.stderr
        row = next(line for line in result.stdout.splitlines() if line.startswith("MotionCorrection "))
        return int(row.split()[2])

    before = pending_motion()
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    ingest = cli("ingest", str(written.path), "--subject", subject_name, "--session-datetime", "2026-03-01")
    assert ingest.returncode == 0, ingest.stderr
    assert pending_motion() == before + 1  # no worker has looked at it: its jobs table knows nothing of it

    written.files[-1].unlink()  # the recording breaks after ingest: its motion correction fails
    worker = cli("worker", "--once")
    assert worker.returncode == 1, worker.stderr
    task = ingested_key(ingest, "processing task")
    assert f"MotionCorrection {task} failed: ValueError" in worker.stderr
    assert f"1 key(s) failed in this cycle: MotionCorrection {task}" in worker.stderr


@pytest.mark.parametrize("command", ["setup-db", "demo", "ingest", "populate", "worker", "status", "jobs", "report",
                                     "video", "cleanup"])
def test_every_command_has_help_with_examples_and_defaults(command):
    result = cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert "examples:" in result.stdout and f"element-calcium {command}" in result.stdout.split("examples:")[1]
    section = result.stdout.split("options:")[1].split("examples:")[0]
    entries = ["-" + entry for entry in section.split("\n  -")[1:]]  # one per option, with its help text
    for entry in entries:
        option = entry.split()[0].rstrip(",")
        if option not in FLAGS_WITHOUT_DEFAULT and "--help" not in entry:
            assert "default" in entry, f"{command} {option} names no default"


FLAGS_WITHOUT_DEFAULT = {"--no-install", "--reserve-jobs", "--once", "--no-task", "--delete", "--help", "--fps",
                         "--subject", "--session-datetime", "--recording", "--task"}
