import os
import subprocess
import sys

from helpers import small_movie

from element_calcium.simulate import write_miniscope_v4


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "element_calcium.cli", *args],
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
