"""Miniscope DAQ V4 and V3 readers against recordings written by element_calcium.simulate."""

import json
import shutil
import warnings

import cv2
import numpy as np
import pytest

from element_calcium.readers import detect_software, read_recording
from element_calcium.simulate import simulate, write_miniscope_v3, write_miniscope_v4
from memory_checks import chunked_sum_and_peak

FPS = 20.0
T, H, W = 47, 32, 40
PER_FILE = 4  # 47 frames -> 12 files, so numeric and text order differ
DROPS = (5, 17, 18)


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(7).integers(0, 256, (T, H, W), dtype=np.uint8)


@pytest.fixture(scope="module")
def v4(tmp_path_factory, frames):
    """A V4 session written once; tests that change it work on a copy."""
    folder = tmp_path_factory.mktemp("v4") / "session"
    written = write_miniscope_v4(folder, frames, fps=FPS, frames_per_file=PER_FILE, drop_frames=DROPS)
    return written, np.delete(frames, DROPS, axis=0)


@pytest.fixture()
def v4_copy(tmp_path, v4):
    written, _ = v4
    folder = tmp_path / "session"
    shutil.copytree(written.path, folder)
    return folder, folder / "My_V4_Miniscope"


@pytest.fixture(scope="module")
def v3(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("v3") / "run"
    return write_miniscope_v3(folder, frames, fps=FPS, frames_per_file=PER_FILE, seed=0)


@pytest.fixture()
def v3_copy(tmp_path, v3):
    folder = tmp_path / "run"
    shutil.copytree(v3.path, folder)
    return folder


def check_against_written(recording, written, expected, *, fps_rel=1e-6):
    meta = recording.metadata
    assert meta.nframes == written.nframes == len(expected)
    assert (meta.height, meta.width) == (written.height, written.width)
    assert (meta.nchannels, meta.nplanes) == (1, 1)
    assert meta.fps == pytest.approx(written.fps, rel=fps_rel)
    assert meta.timestamps.dtype == np.float64 and meta.timestamps[0] == 0.0
    assert meta.dropped_frames == written.dropped_frames
    assert meta.files == tuple(p.resolve() for p in written.files)
    movie = recording.movie()
    assert movie.shape == expected.shape and movie.dtype == np.uint8
    assert np.array_equal(movie.read(0, len(movie)), expected)
    assert np.array_equal(np.concatenate(list(movie.chunks(5))), expected)
    assert np.array_equal(movie.read(2, 11), expected[2:11])  # spans three files
    n = len(expected)
    assert np.array_equal(movie.read(n - 6, n - 3), expected[n - 6 : n - 3])  # backwards after the full read
    assert np.array_equal(movie.read(1, 3), expected[1:3])
    assert np.array_equal(movie[-1], expected[-1])


# ----------------------------------------------------------------------------- V4


@pytest.mark.parametrize("codec", ["FFV1", "GREY"])
def test_v4_codecs(tmp_path, frames, codec):
    written = write_miniscope_v4(
        tmp_path / "s", frames, fps=FPS, frames_per_file=PER_FILE, codec=codec, drop_frames=DROPS, gain="Medium"
    )
    assert len(written.files) > 10
    assert detect_software(written.path) == "Miniscope-DAQ-V4"
    recording = read_recording(written.path)
    check_against_written(recording, written, np.delete(frames, DROPS, axis=0))
    meta = recording.metadata
    assert meta.software == "Miniscope-DAQ-V4"
    assert np.allclose(meta.timestamps, written.timestamps, rtol=0, atol=1e-3)
    assert meta.dropped_frames == len(DROPS)
    assert [p.name for p in meta.files] == [f"{i}.avi" for i in range(11)]
    assert meta.gain == 2.0 and meta.led_power == 30.0
    assert meta.recording_datetime.isoformat() == "2024-05-17T13:47:03.117000"
    assert meta.extra["compression"] == codec
    assert meta.extra["roi"]["height"] == H
    json.dumps(meta.extra)


def test_v4_device_folder_given_directly(v4):
    written, expected = v4
    recording = read_recording(written.path / "My_V4_Miniscope")
    check_against_written(recording, written, expected)
    assert recording.metadata.recording_datetime is not None


def test_v4_simulated_movie_round_trip(tmp_path):
    movie = simulate(n_frames=24, height=H, width=W, n_cells=3, fps=30.0, seed=3)
    written = write_miniscope_v4(tmp_path / "s", movie, frames_per_file=10, device_folder="Scope")
    recording = read_recording(written.path)
    check_against_written(recording, written, movie.render(0, 24))
    assert recording.metadata.fps == 30.0
    assert recording.metadata.extra["device_folder"] == "Scope"


@pytest.mark.parametrize(("gain", "expected"), [("Low", 1.0), ("High", 3.5), (2, 2.0), (4.5, 4.5)])
def test_v4_gain_forms(tmp_path, frames, gain, expected):
    written = write_miniscope_v4(tmp_path / "s", frames[:6], fps=FPS, gain=gain)
    assert read_recording(written.path).metadata.gain == expected


def test_v4_gain_as_numeric_string(v4_copy):
    folder, device = v4_copy
    set_device_metadata(device, gain="2.5")
    assert read_recording(folder).metadata.gain == 2.5


def test_v4_optional_parts_absent(tmp_path, frames):
    written = write_miniscope_v4(
        tmp_path / "s", frames[:10], fps=FPS, include_roi=False, session_metadata=False, frames_per_file=3
    )
    with pytest.warns(UserWarning, match=r"s/metaData\.json: no session metaData\.json .* start time is unknown"):
        meta = read_recording(written.path).metadata
    assert (meta.height, meta.width) == (H, W)
    assert "roi" not in meta.extra and "head_orientation_file" not in meta.extra
    assert meta.recording_datetime is None
    assert meta.extra["daq_frame_numbers"] is False


def test_v4_head_orientation_and_daq_frame_numbers(tmp_path, frames):
    written = write_miniscope_v4(tmp_path / "s", frames[:10], fps=FPS, head_orientation=True)
    csv = written.path / "My_V4_Miniscope" / "timeStamps.csv"
    lines = csv.read_text().splitlines()
    rows = [f"{line},{i}" for i, line in enumerate(lines[1:])]
    csv.write_text("\n".join([lines[0] + ",DAQ Frame Number", *rows]) + "\n")
    meta = read_recording(written.path).metadata
    assert meta.extra["head_orientation_file"] == "My_V4_Miniscope/headOrientation.csv"
    assert meta.extra["daq_frame_numbers"] is True
    assert np.allclose(meta.timestamps, written.timestamps, rtol=0, atol=1e-3)


def test_v4_numeric_frame_rate(v4_copy):
    folder, device = v4_copy
    set_device_metadata(device, frameRate=20)
    assert read_recording(folder).metadata.fps == 20.0


def test_v4_frame_rate_a_little_off_warns(v4_copy):
    folder, device = v4_copy
    set_device_metadata(device, frameRate="22FPS")
    with pytest.warns(UserWarning, match=r"metaData\.json.*frameRate 22 Hz"):
        meta = read_recording(folder).metadata
    assert meta.fps == 22.0


def test_v4_frame_rate_far_off_fails(v4_copy):
    folder, device = v4_copy
    set_device_metadata(device, frameRate="40FPS")
    with pytest.raises(ValueError, match=r"metaData\.json.*frameRate 40 Hz"):
        read_recording(folder)


def test_v4_behaviour_camera_is_ignored(v4_copy):
    folder, device = v4_copy
    for name, meta in [("BehavCam_0", {}), ("Camera_2", {"deviceName": "BehavCam 2", "deviceType": "WebCam-320x240"})]:
        shutil.copytree(device, folder / name)
        set_device_metadata(folder / name, **meta)
    assert detect_software(folder) == "Miniscope-DAQ-V4"
    assert read_recording(folder).metadata.extra["device_folder"] == "My_V4_Miniscope"


def test_v4_two_miniscopes_are_ambiguous(v4_copy):
    folder, device = v4_copy
    shutil.copytree(device, folder / "Second_Scope")
    with pytest.raises(ValueError, match=r"session.*several Miniscope device folders.*My_V4_Miniscope.*Second_Scope"):
        read_recording(folder)


def test_v4_sequential_reads_do_not_seek(v4, monkeypatch):
    written, expected = v4
    seeks = []
    real_capture = cv2.VideoCapture

    class CountingCapture:
        def __init__(self, *args):
            self._capture = real_capture(*args)

        def set(self, prop, value):
            if prop == cv2.CAP_PROP_POS_FRAMES:
                seeks.append(value)
            return self._capture.set(prop, value)

        def __getattr__(self, name):
            return getattr(self._capture, name)

    monkeypatch.setattr(cv2, "VideoCapture", CountingCapture)
    movie = read_recording(written.path).movie()
    seeks.clear()
    assert np.array_equal(np.concatenate(list(movie.chunks(3))), expected)
    assert seeks == []
    movie.read(9, 10)  # 9 = frame 1 of 2.avi: a jump back
    assert seeks == [1]
    movie.read(10, 15)
    assert seeks == [1]
    movie.close()


def test_v4_chunks_use_bounded_memory(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (400, 64, 64), dtype=np.uint8)
    written = write_miniscope_v4(tmp_path / "s", frames, fps=FPS, frames_per_file=100)
    movie = read_recording(written.path).movie()
    checksum, peak = chunked_sum_and_peak(movie, 20)
    assert checksum == int(frames.sum(dtype=np.int64))
    assert peak < frames.nbytes / 4


# ----------------------------------------------------------------------------- V4 bad input


def set_device_metadata(device, **changes):
    path = device / "metaData.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*not found"):
        read_recording(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        detect_software(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path.name}.*empty"):
        read_recording(tmp_path)


def test_unknown_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no recording of a known format.*notes\.txt"):
        detect_software(tmp_path)


@pytest.mark.parametrize("name", ["timeStamps.csv", "metaData.json"])
def test_v4_missing_file(v4_copy, name):
    folder, device = v4_copy
    (device / name).unlink()
    with pytest.raises(FileNotFoundError, match=f"My_V4_Miniscope/{name}.*not found"):
        read_recording(folder)


def test_v4_malformed_json(v4_copy):
    folder, device = v4_copy
    (device / "metaData.json").write_text('{"frameRate": "20FPS", "gain": ')
    with pytest.raises(ValueError, match=r"My_V4_Miniscope/metaData\.json: malformed JSON"):
        read_recording(folder)


def test_v4_malformed_session_json(v4_copy):
    folder, _ = v4_copy
    (folder / "metaData.json").write_text("[1, 2")
    with pytest.raises(ValueError, match=r"session/metaData\.json: malformed JSON"):
        read_recording(folder)


def test_v4_bad_recording_start(v4_copy):
    folder, _ = v4_copy
    (folder / "metaData.json").write_text(json.dumps({"recordingStartTime": {"year": 2024, "month": 13}}))
    with pytest.raises(ValueError, match=r"session/metaData\.json: recordingStartTime"):
        read_recording(folder)
    (folder / "metaData.json").write_text(json.dumps({"year": 2021, "month": 10, "day": 14}))  # v1.0x, cut short
    with pytest.raises(ValueError, match=r"session/metaData\.json: start time \{'year': 2021.*'hour'"):
        read_recording(folder)


def test_v4_start_time_of_daq_software_v1_0x_is_top_level(v4_copy):
    folder, _ = v4_copy
    session = json.loads((folder / "metaData.json").read_text())
    del session["recordingStartTime"]
    session.update(year=2021, month=10, day=14, hour=10, minute=11, second=24, msec=779)
    (folder / "metaData.json").write_text(json.dumps(session))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta = read_recording(folder).metadata
    assert meta.recording_datetime.isoformat() == "2021-10-14T10:11:24.779000"


@pytest.mark.parametrize("start", [None, {}, ""], ids=["absent", "empty", "blank"])
def test_v4_missing_start_time_warns(v4_copy, start):
    folder, _ = v4_copy
    session = json.loads((folder / "metaData.json").read_text())
    session.pop("recordingStartTime")
    if start is not None:
        session["recordingStartTime"] = start
    (folder / "metaData.json").write_text(json.dumps(session))
    with pytest.warns(UserWarning, match=r"session/metaData\.json: no recording start time"):
        meta = read_recording(folder).metadata
    assert meta.recording_datetime is None and meta.nframes == T - len(DROPS)


def test_v4_csv_bad_header(v4_copy):
    folder, device = v4_copy
    csv = device / "timeStamps.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(["Frame,Time,Buffer", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"timeStamps\.csv: no 'Time Stamp \(ms\)' column"):
        read_recording(folder)


def test_v4_csv_non_numeric(v4_copy):
    folder, device = v4_copy
    csv = device / "timeStamps.csv"
    lines = csv.read_text().splitlines()
    lines[7] = "6,abc,0"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"timeStamps\.csv: malformed table"):
        read_recording(folder)


def test_v4_csv_empty(v4_copy):
    folder, device = v4_copy
    (device / "timeStamps.csv").write_text("Frame Number,Time Stamp (ms),Buffer Index\n")
    with pytest.raises(ValueError, match=r"timeStamps\.csv: no rows"):
        read_recording(folder)


def test_v4_timestamp_count_mismatch(v4_copy):
    folder, device = v4_copy
    csv = device / "timeStamps.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"timeStamps\.csv: 43 timestamps, but the 11 AVI file\(s\) hold 44 frames"):
        read_recording(folder)


def _set_v4_time(csv, data_row: int, value: str) -> None:
    lines = csv.read_text().splitlines()
    fields = lines[data_row].split(",")
    fields[1] = value
    lines[data_row] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")


def test_v4_time_going_backwards_is_refused_with_its_row(v4_copy):
    folder, device = v4_copy
    _set_v4_time(device / "timeStamps.csv", 30, "500")  # frame 29 at 0.5 s, between frames near 1.5 s
    with pytest.raises(ValueError, match=r"timeStamps\.csv: frame times do not increase in data row\(s\) 30 "
                                         r"\(the first is 0\.5 s after 1\.55 s\)"):
        read_recording(folder)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_v4_time_that_is_not_a_number_is_refused_with_its_row(v4_copy, value):
    folder, device = v4_copy
    _set_v4_time(device / "timeStamps.csv", 12, value)
    with pytest.raises(ValueError, match=r"timeStamps\.csv: frame times are not finite numbers in data row\(s\) 12$"):
        read_recording(folder)


def test_v4_repeated_time_is_refused(v4_copy):
    folder, device = v4_copy
    csv = device / "timeStamps.csv"
    previous = csv.read_text().splitlines()[8].split(",")[1]
    _set_v4_time(csv, 9, previous)
    with pytest.raises(ValueError, match=r"do not increase in data row\(s\) 9 "):
        read_recording(folder)


@pytest.mark.parametrize("name", ["5.avi", "10.avi"])
def test_v4_truncated_avi(v4_copy, name):
    folder, device = v4_copy
    path = device / name
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    with pytest.raises(ValueError, match=f"My_V4_Miniscope/{name}: .*(truncated|corrupt)"):
        read_recording(folder)


def test_v4_avi_cut_inside_header(v4_copy):
    folder, device = v4_copy
    with open(device / "3.avi", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(ValueError, match=r"My_V4_Miniscope/3\.avi: cannot open"):
        read_recording(folder)


def test_v4_not_a_video(v4_copy):
    folder, device = v4_copy
    (device / "0.avi").write_bytes(b"RIFF this is not a video at all" * 10)
    with pytest.raises(ValueError, match=r"My_V4_Miniscope/0\.avi"):
        read_recording(folder)


def test_v4_missing_avi(v4_copy):
    folder, device = v4_copy
    (device / "3.avi").unlink()
    with pytest.raises(FileNotFoundError, match=r"My_V4_Miniscope: .*3\.avi missing"):
        read_recording(folder)


def test_v4_frame_of_another_size(v4_copy):
    folder, device = v4_copy
    path = device / "2.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 60.0, (W, H + 2), False)
    for _ in range(PER_FILE):
        writer.write(np.zeros((H + 2, W), np.uint8))
    writer.release()
    with pytest.raises(ValueError, match=rf"My_V4_Miniscope/2\.avi: frames are {H + 2}x{W}"):
        read_recording(folder)


@pytest.mark.parametrize(("key", "value"), [("gain", "Loud"), ("frameRate", "fast"), ("led0", [1, 2])])
def test_v4_bad_metadata_values(v4_copy, key, value):
    folder, device = v4_copy
    set_device_metadata(device, **{key: value})
    with pytest.raises(ValueError, match=rf"metaData\.json: {key}"):
        read_recording(folder)


def test_fps_is_refused_where_the_files_carry_it(v4):
    written, _ = v4
    with pytest.raises(ValueError, match="fps applies to plain TIFF only"):
        read_recording(written.path, fps=20.0)


def test_unknown_software(v4):
    written, _ = v4
    with pytest.raises(ValueError, match="software must be one of"):
        read_recording(written.path, software="Scanbox")


# ----------------------------------------------------------------------------- V3


def test_v3_reads_miniscope_camera(v3, frames):
    assert len(v3.files) == 12
    assert detect_software(v3.path) == "Miniscope-DAQ-V3"
    recording = read_recording(v3.path)
    check_against_written(recording, v3, frames, fps_rel=1e-2)
    meta = recording.metadata
    assert meta.software == "Miniscope-DAQ-V3"
    assert [p.name for p in meta.files] == [f"msCam{i}.avi" for i in range(1, 13)]
    assert meta.extra == {"camera": 1, "other_cameras": [0]}
    check_v3_timestamps(meta.timestamps, v3.timestamps)


def check_v3_timestamps(timestamps, written):
    """The junk first clock value is estimated as the second minus the median interval, so the first
    interval may differ from the written one by the clock jitter; every later interval is exact."""
    assert np.allclose(timestamps[1:] - timestamps[1], written[1:] - written[1], rtol=0, atol=1e-6)
    assert np.allclose(timestamps, written, rtol=0, atol=2.5e-3)


def miniscope_camera(timestamp_file, nframes):
    """The camNum whose row count in timestamp.dat equals the miniscope's frame count."""
    table = np.loadtxt(timestamp_file, skiprows=1, usecols=0, dtype=int)
    cameras, counts = np.unique(table, return_counts=True)
    [camera] = cameras[counts == nframes]
    return int(camera)


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_v3_camera_numbering_and_drops(tmp_path, frames, seed):
    written = write_miniscope_v3(tmp_path / "r", frames, fps=FPS, frames_per_file=10, drop_frames=(9, 30), seed=seed)
    recording = read_recording(written.path)
    check_against_written(recording, written, np.delete(frames, (9, 30), axis=0), fps_rel=1e-2)
    assert recording.metadata.extra["camera"] == miniscope_camera(written.path / "timestamp.dat", written.nframes)
    assert recording.metadata.dropped_frames == 2
    check_v3_timestamps(recording.metadata.timestamps, written.timestamps)


def test_v3_single_camera(tmp_path, frames):
    written = write_miniscope_v3(tmp_path / "r", frames[:20], fps=30.0, frames_per_file=7, other_camera=False)
    recording = read_recording(written.path, software="Miniscope-DAQ-V3")
    check_against_written(recording, written, frames[:20], fps_rel=1e-2)
    assert recording.metadata.extra == {"camera": 0, "other_cameras": []}


def test_v3_missing_timestamps(v3_copy):
    (v3_copy / "timestamp.dat").unlink()
    with pytest.raises(FileNotFoundError, match=r"run/timestamp\.dat: file not found"):
        read_recording(v3_copy)


def test_v3_bad_header(v3_copy):
    path = v3_copy / "timestamp.dat"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(["cam\tframe\tclock\tbuffer", *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match=r"timestamp\.dat: header .* lacks column"):
        read_recording(v3_copy)


def test_v3_non_numeric(v3_copy):
    path = v3_copy / "timestamp.dat"
    lines = path.read_text().splitlines()
    lines[4] = "1\t3\tnan?\t0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"timestamp\.dat: malformed table"):
        read_recording(v3_copy)


def test_v3_clock_going_backwards_is_refused_with_its_row(v3_copy):
    path = v3_copy / "timestamp.dat"
    lines = path.read_text().splitlines()
    scope_rows = [i for i, line in enumerate(lines) if line.startswith("1\t")]
    row = scope_rows[20]
    fields = lines[row].split("\t")
    fields[2] = str(int(lines[scope_rows[2]].split("\t")[2]))
    lines[row] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"timestamp\.dat: frame times do not increase in data row\(s\) {row} \(the first"):
        read_recording(v3_copy)


def test_v3_no_camera_matches(v3_copy):
    path = v3_copy / "timestamp.dat"
    lines = path.read_text().splitlines()
    scope_rows = [i for i, line in enumerate(lines) if line.startswith("1\t")]
    del lines[scope_rows[-1]]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"timestamp\.dat: no camera has as many frames as the msCam files \(47\)"):
        read_recording(v3_copy)


def test_v3_ambiguous_cameras(v3_copy):
    path = v3_copy / "timestamp.dat"
    lines = path.read_text().splitlines()
    scope = [line for line in lines[1:] if line.startswith("1\t")]
    twin = ["2" + line[1:] for line in scope]
    path.write_text("\n".join([lines[0], *scope, *twin]) + "\n")
    with pytest.raises(ValueError, match=r"timestamp\.dat: cameras \[1, 2\] all have"):
        read_recording(v3_copy)


def test_v3_missing_movie_file(v3_copy):
    (v3_copy / "msCam2.avi").unlink()
    with pytest.raises(FileNotFoundError, match=r"msCam2\.avi missing"):
        read_recording(v3_copy)


def test_v3_truncated_movie_file(v3_copy):
    path = v3_copy / "msCam12.avi"
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 2000)
    with pytest.raises(ValueError, match=r"run/msCam12\.avi: frame 2 of 3 does not decode"):
        read_recording(v3_copy)


def test_v3_behaviour_files_alone_are_not_a_recording(tmp_path, v3):
    folder = tmp_path / "behav"
    folder.mkdir()
    for path in v3.path.glob("behavCam*.avi"):
        shutil.copy(path, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="no recording of a known format"):
            detect_software(folder)
