"""Inscopix ``.isxd`` movies: the layout isxcore writes (frames, JSON header, NUL, uint64 length)."""

import datetime
import json

import numpy as np
import pytest

from element_calcium.readers import detect_software, read_recording
from element_calcium.readers.inscopix import read_isxd_header
from element_calcium.simulate import write_inscopix


def frames(n=8, height=6, width=10, dtype=np.uint16, seed=0):
    values = np.random.default_rng(seed).integers(0, 60000, (n, height, width))
    return (values / 7).astype(dtype) if dtype == np.float32 else values.astype(dtype)


def isxd_bytes(pixels: bytes, header: dict) -> bytes:
    text = json.dumps(header, sort_keys=True, indent=4).encode()
    return pixels + text + b"\0" + len(text).to_bytes(8, "little")


def test_recording_with_dropped_frames(tmp_path):
    movie = frames(9)
    written = write_inscopix(tmp_path / "rec", movie, fps=20.0, drop_frames=[2, 5])
    assert detect_software(written.path) == "Inscopix"
    recording = read_recording(written.path)
    meta = recording.metadata
    assert (meta.software, meta.nframes, meta.height, meta.width) == ("Inscopix", 7, 6, 10)
    assert meta.fps == pytest.approx(20.0)
    assert np.allclose(meta.timestamps, written.timestamps)
    assert np.allclose(meta.timestamps, np.array([0, 1, 3, 4, 6, 7, 8]) / 20.0)
    assert meta.dropped_frames == 2
    assert meta.um_height == pytest.approx(18.0) and meta.um_width == pytest.approx(30.0)
    assert meta.recording_datetime == datetime.datetime(2024, 5, 17, 13, 47, 3, 117000)
    kept = movie[[0, 1, 3, 4, 6, 7, 8]]
    movie_read = recording.movie()
    assert movie_read.dtype == np.uint16
    assert np.array_equal(movie_read.read(0, 7), kept)
    assert np.array_equal(np.concatenate(list(movie_read.chunks(3))), kept)


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_float_and_8_bit_movies(tmp_path, dtype):
    movie = frames(4, dtype=dtype)
    written = write_inscopix(tmp_path / "m", movie, fps=10.0)
    read = read_recording(written.path).movie()
    assert read.dtype == dtype and np.array_equal(read.read(0, 4), movie)


def test_frames_wrapped_in_sensor_headers_and_footers(tmp_path):
    movie = frames(5)
    written = write_inscopix(tmp_path / "nvista", movie, fps=10.0, frame_header_footer=True, drop_frames=[1])
    assert written.files[0].stat().st_size > 4 * (2 * 2560 * 2 + movie[0].nbytes)
    recording = read_recording(written.path)
    assert recording.metadata.extra["frame_header_footer"] is True
    assert np.array_equal(recording.movie().read(1, 4), movie[[2, 3, 4]])


def test_cropped_and_blank_frames_are_not_stored(tmp_path):
    """timingInfo as isx 2.1 writes it for dropped=[1], cropped=[[3, 4]], blank=[6] out of 8 frames."""
    movie = frames(8, 3, 5)
    stored = movie[[0, 2, 5, 7]]
    header = {
        "type": 0, "dataType": 0, "fileVersion": 1, "hasFrameHeaderFooter": False, "extraProperties": None,
        "producer": {"name": "isxcore", "version": [2, 0, 1]},
        "spacingInfo": {"numPixels": {"x": 5, "y": 3}, "pixelSize": {"x": {"den": 1, "num": 3},
                                                                     "y": {"den": 1, "num": 3}}},
        "timingInfo": {"blank": [6], "cropped": ["3 - 4"], "dropped": [1], "numTimes": 8,
                       "period": {"den": 1000, "num": 40},
                       "start": {"secsSinceEpoch": {"den": 1, "num": 0}, "utcOffset": 0}},
    }
    (tmp_path / "cropped.isxd").write_bytes(isxd_bytes(stored.tobytes(), header))
    recording = read_recording(tmp_path)
    meta = recording.metadata
    assert meta.nframes == 4 and np.allclose(meta.timestamps, [0, 0.08, 0.2, 0.28])
    assert (meta.dropped_frames, meta.extra["cropped_frames"], meta.extra["blank_frames"]) == (1, 2, 1)
    assert meta.recording_datetime is None
    assert np.array_equal(recording.movie().read(0, 4), stored)


def test_truncated_file_is_refused_in_one_line_naming_it(tmp_path):
    written = write_inscopix(tmp_path / "cut", frames(6), fps=10.0)
    path = written.files[0]
    data = path.read_bytes()
    header_start = data.index(b"{")
    path.write_bytes(data[: header_start - 10] + data[header_start:])  # frames lost, header intact
    with pytest.raises(ValueError) as error:
        read_recording(written.path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "truncated" in message
    path.write_bytes(data[:-20])  # the end of the file lost
    with pytest.raises(ValueError, match=r"movie\.isxd: the header length .* truncated"):
        read_recording(written.path)


def test_not_a_movie_and_several_files_are_refused(tmp_path):
    header = {"type": 1, "dataType": 1, "spacingInfo": {"numPixels": {"x": 2, "y": 2}},
              "timingInfo": {"numTimes": 1, "period": {"num": 1, "den": 10}}}
    (tmp_path / "cellset.isxd").write_bytes(isxd_bytes(b"", header))
    with pytest.raises(ValueError, match=r"cellset\.isxd: an \.isxd file of type 1, not a movie"):
        read_isxd_header(tmp_path / "cellset.isxd")
    write_inscopix(tmp_path / "two", frames(2), fps=5.0)
    (tmp_path / "two" / "other.isxd").write_bytes((tmp_path / "two" / "movie.isxd").read_bytes())
    with pytest.raises(ValueError, match=r"several \.isxd files \(movie\.isxd, other\.isxd\)"):
        read_recording(tmp_path / "two")


def test_isx_reads_our_files_and_we_read_isx_files(tmp_path):
    """Cross-check against Inscopix's own library where it is installed (``pip install isx``)."""
    isx = pytest.importorskip("isx")
    movie = frames(6, 4, 7)
    ours = write_inscopix(tmp_path / "ours", movie, fps=25.0, drop_frames=[3], frame_header_footer=True)
    theirs = isx.Movie.read(str(ours.files[0]))
    assert theirs.timing.num_samples == 6 and theirs.timing.dropped == [3]
    assert all(np.array_equal(theirs.get_frame_data(t), movie[t]) for t in (0, 1, 2, 4, 5))
    timing = isx.Timing(num_samples=6, period=isx.Duration.from_msecs(50), dropped=[2], cropped=[[4, 4]])
    (tmp_path / "isx").mkdir()
    written = isx.Movie.write(str(tmp_path / "isx" / "movie.isxd"), timing, isx.Spacing(num_pixels=(4, 7)), np.float32)
    values = frames(6, 4, 7, dtype=np.float32)
    for t in (0, 1, 3, 5):
        written.set_frame_data(t, values[t])
    written.flush()
    recording = read_recording(tmp_path / "isx")
    assert np.allclose(recording.metadata.timestamps, [0, 0.05, 0.15, 0.25])
    assert np.array_equal(recording.movie().read(0, 4), values[[0, 1, 3, 5]])
