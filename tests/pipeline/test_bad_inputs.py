"""Bad inputs through the paths a user takes (`workflow.ingest`, `element-calcium`, the event importers): each is
refused with one line that names the file or value and says what to do, and nothing is stored."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from helpers import SESSION_TIME, insert_recording, small_movie, table_sizes

from element_calcium import behavior
from element_calcium.simulate import write_miniscope_v4, write_tiff
from workflow.ingest import ingest_recording


def cli(*args, env=None, wrap=()):
    return subprocess.run([*wrap, sys.executable, "-m", "workflow.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def one_line_error(result) -> str:
    """The error a refused command printed: exit status 2, one line, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def refused(pipeline, match, *args, error=ValueError, **kwargs):
    """ingest_recording(*args, **kwargs) raises ``error`` matching ``match``, and stores nothing."""
    sizes = table_sizes(pipeline)
    with pytest.raises(error, match=match):
        ingest_recording(*args, **kwargs)
    assert table_sizes(pipeline) == sizes


def _tiff(folder, data, **options):
    folder.mkdir()
    tifffile.imwrite(folder / "movie.tif", data, photometric="minisblack", **options)
    return folder


# ----------------------------------------------------------------------------- 6: Miniscope frame times


def test_frame_times_going_backwards_are_refused_with_their_row(pipeline, new_folder, subject_name):
    written = write_miniscope_v4(new_folder(), small_movie("1p"), frames_per_file=50)
    csv = written.path / "My_V4_Miniscope" / "timeStamps.csv"
    lines = csv.read_text().splitlines()
    lines[101] = "100,500,0"  # frame 100 at 0.5 s, among frames near 5 s
    csv.write_text("\n".join(lines) + "\n")
    refused(pipeline, r"timeStamps\.csv: frame times do not increase in data row\(s\) 101 \(the first is 0\.5 s",
            written.path, subject=subject_name, session_datetime=SESSION_TIME)


# ----------------------------------------------------------------------------- 7: TIFF pixel types, length, planes


def test_float64_tiff_is_read_as_float32_and_corrected(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    frames = small_movie("1p").render(0, 120).astype(np.float64) / 3.0
    folder = _tiff(new_folder(), frames)
    key = ingest_recording(folder, subject=subject_name, session_datetime=SESSION_TIME, fps=20.0,
                           paramset_id=imaging.DEFAULT_PARAMSET_ID["1p"]).task_key
    imaging.MotionCorrection.populate(key)
    assert len(imaging.MotionCorrection & key) == 1


@pytest.mark.parametrize(("data", "options", "message"), [
    (np.zeros((20, 16, 16), bool), {}, r"movie\.tif: pixels are 1-bit black-and-white \(a mask\), not intensities"),
    (np.zeros((2, 16, 16), np.uint16), {}, r"the recording has 2 frame\(s\) per plane; the pipeline needs at "
                                           r"least 4 \(deconvolution"),
    (np.zeros((1, 16, 16), np.uint16), {}, r"the recording has 1 frame\(s\) per plane; the pipeline needs"),
    (np.zeros((10, 5, 16, 16), np.uint16), {}, r"movie\.tif: a 4-D stack of shape \(10, 5, 16, 16\) with axes "
                                               r"'QQYX'; name its axes time first"),
])
def test_tiff_the_pipeline_cannot_process_is_refused_at_ingest(pipeline, new_folder, subject_name, data, options,
                                                              message):
    refused(pipeline, message, _tiff(new_folder(), data, **options), subject=subject_name,
            session_datetime=SESSION_TIME, fps=20.0)


def test_tiff_of_named_planes_is_ingested_as_planes(pipeline, new_folder, subject_name):
    folder = _tiff(new_folder(), np.zeros((10, 5, 16, 16), np.uint16), metadata={"axes": "TZYX"})
    key = ingest_recording(folder, subject=subject_name, session_datetime=SESSION_TIME, fps=20.0).recording_key
    assert (pipeline.imaging.RecordingInfo & key).fetch1("nframes", "nplanes") == (10, 5)


# ----------------------------------------------------------------------------- 8: read-only processed root


def _read_only(folder):
    """A command prefix under which ``folder`` is read-only; skips where none can be made."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return ()
    unshare = shutil.which("unshare")
    wrap = (unshare, "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder))
    if unshare is None or subprocess.run([*wrap, "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root without a private mount namespace: no way to make a folder read-only")
    return wrap


def test_read_only_processed_root(pipeline, tmp_path):
    root = tmp_path / "processed"
    root.mkdir()
    wrap, env = _read_only(root), {"EC_PROCESSED_ROOT": str(root)}
    status = cli("status", env=env, wrap=wrap)
    assert status.returncode == 0, status.stderr
    assert "RecordingInfo" in status.stdout
    message = one_line_error(cli("populate", env=env, wrap=wrap))
    assert f"the processed root {root} is not writable" in message
    assert "set EC_PROCESSED_ROOT" in message
    root.chmod(0o755)


# ----------------------------------------------------------------------------- 9, 10: names, values, database


@pytest.mark.parametrize(("subject", "message"), [
    ("", r"subject must be a non-empty name, got ''"),
    ("   ", r"subject must be a non-empty name"),
    (" m1", r"subject ' m1' has surrounding spaces or control characters"),
    ("m" * 70, r"subject 'm+'\.\.\. is 70 characters long; at most 64 fit"),
])
def test_subject_the_tables_cannot_hold_is_refused(pipeline, new_folder, subject, message):
    written = write_tiff(new_folder(), small_movie("2p", n_frames=20))
    refused(pipeline, message, written.path, subject=subject, session_datetime=SESSION_TIME, fps=20.0)


def test_non_latin_subject_is_stored_as_given(pipeline, new_folder, subject_name):
    written = write_tiff(new_folder(), small_movie("2p", n_frames=20))
    subject = subject_name[:40] + "_Мышь_小鼠"
    try:
        key = ingest_recording(written.path, subject=subject, session_datetime=SESSION_TIME, fps=20.0).recording_key
        assert (pipeline.imaging.RecordingInfo & key).fetch1("KEY")["subject"] == subject
    finally:
        (pipeline.Subject & {"subject": subject}).delete(prompt=False)


def test_infinite_frame_rate_and_unknown_equipment_are_refused(pipeline, new_folder, subject_name):
    written = write_tiff(new_folder(), small_movie("2p", n_frames=20))
    message = one_line_error(cli("ingest", str(written.path), "--subject", subject_name, "--session-datetime",
                                 "2026-03-01T09:00:00", "--fps", "inf"))
    assert f"{written.path}: fps inf is not a frame rate: give a finite number of Hz in (0, 10000]" in message
    refused(pipeline, r"equipment 'Bruker 2000' is not in Equipment \(", written.path, subject=subject_name,
            session_datetime=SESSION_TIME, fps=20.0, equipment="Bruker 2000")


def test_event_type_longer_than_its_column_is_refused(pipeline, new_folder, subject_name, tmp_path):
    from workflow.pipeline import events

    written = write_tiff(new_folder(), small_movie("2p", n_frames=40))
    key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME, fps=20.0,
                           create_task=False).recording_key
    csv = tmp_path / "events.csv"
    csv.write_text(f"time,event_type\n0.5,lever\n1.0,{'reward_' * 6}\n")
    with pytest.raises(ValueError, match=r"event type 'reward_reward_.*'\.\.\. is 42 characters long; at most 32"):
        behavior.import_event_csv(key, csv)
    assert not events.BehaviorEvent & key


def test_wrong_password_is_one_line():
    message = one_line_error(cli("status", env={"DJ_PASS": "certainly-not-the-password"}))
    assert "refused user" in message and "wrong password or unknown user; set DJ_USER and DJ_PASS" in message


def test_schemas_are_created_in_utf8mb4_whatever_the_server_default(pipeline):
    connection = pipeline.imaging.schema.connection
    names = [os.environ["EC_DB_PREFIX"] + suffix for suffix in ("charset_default", "charset_utf8mb4")]
    query = "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s"
    connection.query("SET SESSION character_set_server = 'latin1'")  # as an older server's default
    try:
        connection.query(f"CREATE DATABASE `{names[0]}`")
        pipeline.imaging.create_utf8mb4_schema(names[1])
        charsets = [connection.query(query, args=(name,)).fetchone()[0] for name in names]
    finally:
        connection.query("SET SESSION character_set_server = DEFAULT")
        for name in names:
            connection.query(f"DROP DATABASE IF EXISTS `{name}`")
    assert charsets == ["latin1", "utf8mb4"]


def test_non_latin_subject_on_latin1_schemas_is_one_line(pipeline, new_folder):
    prefix = os.environ["EC_DB_PREFIX"] + "latin1_"
    names = [prefix + schema for schema in ("session", "imaging", "events", "clusters", "registration")]
    connection = pipeline.imaging.schema.connection
    for name in names:
        connection.query(f"CREATE DATABASE `{name}` CHARACTER SET latin1")
    written = write_tiff(new_folder(), small_movie("2p", n_frames=20))
    try:
        message = one_line_error(cli("ingest", str(written.path), "--subject", "Мышь", "--session-datetime",
                                     "2026-03-01T09:00:00", "--fps", "20", env={"EC_DB_PREFIX": prefix}))
    finally:
        for name in reversed(names):
            connection.query(f"DROP DATABASE IF EXISTS `{name}`")
    assert f"subject 'Мышь' holds characters (Мышь) that the latin1 column {prefix}session.subject.subject" in message


# ----------------------------------------------------------------------------- 11: what a path really is


def test_folder_that_is_a_file_or_a_link_leaving_the_raw_root_says_what_it_is(pipeline, raw_root, new_folder,
                                                                           subject_name, tmp_path):
    written = write_tiff(tmp_path / "elsewhere", small_movie("2p", n_frames=20))
    link, dangling, file = new_folder("link"), new_folder("dangling"), new_folder("file")
    link.symlink_to(written.path)
    dangling.symlink_to(tmp_path / "gone")
    file.write_text("not a recording")
    options = dict(subject=subject_name, session_datetime=SESSION_TIME, fps=20.0)
    refused(pipeline, rf"{link} is reached through a symbolic link that leads to {written.path}, outside every raw "
                      rf"root \({raw_root}\); move or copy the recording", link, **options)
    refused(pipeline, rf"{dangling} is a symbolic link to {tmp_path / 'gone'}, which does not exist", dangling,
            error=FileNotFoundError, **options)
    refused(pipeline, rf"{file} is a file, not a folder; give the folder that holds the recording's files", file,
            **options)


def test_file_linked_from_outside_the_raw_root_is_refused(pipeline, new_folder, subject_name, tmp_path):
    written = write_tiff(new_folder(), small_movie("2p", n_frames=20), n_files=2)
    outside = tmp_path / written.files[1].name
    shutil.move(written.files[1], outside)
    written.files[1].symlink_to(outside)
    refused(pipeline, rf"{written.files[1]} is reached through a symbolic link that leads to {outside}", written.path,
            subject=subject_name, session_datetime=SESSION_TIME, fps=20.0)


def test_stored_folder_that_links_out_of_the_raw_root_fails_populate_saying_so(pipeline, new_folder, subject_name,
                                                                             tmp_path):
    written = write_tiff(tmp_path / "elsewhere", small_movie("2p", n_frames=20))
    link = new_folder("link")
    link.symlink_to(written.path)
    key = insert_recording(pipeline, link.name, subject_name, software="TIFF")
    with pytest.raises(FileNotFoundError, match=rf"{link} is reached through a symbolic link that leads to "
                                                rf"{written.path}, outside its root"):
        pipeline.imaging.RecordingInfo.populate(key)
    assert not pipeline.imaging.RecordingInfo & key
