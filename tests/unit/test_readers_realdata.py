"""Readers on files written by real instruments (the ``realdata`` fixture; skipped where the folder is absent).

- Miniscope DAQ V4 ``metaData.json`` contents from a real lab: two device files (gain 3.5 as a number; one
  with an ROI of 608x608) and a session file from DAQ software v1.0x, which keeps the start time as top-level
  ``year`` ... ``msec`` fields. Each is put in place of the one the simulator's V4 writer wrote in a session
  folder under tmp_path, so the movie files around it stay valid.
- Three real two-photon TIFF crops (fissa's test images), read in place as one recording split over files.
"""

import datetime
import json
import warnings

import numpy as np
import pytest
import tifffile

from element_calcium.readers import read_recording
from element_calcium.simulate import write_miniscope_v4

FPS = 30.0  # the real device files say "30FPS"
T, H, W = 12, 24, 32
DEVICE = "My_V4_Miniscope"
V4_REAL = "miniscope_v4_real_metadata"


def session_with(tmp_path, realdata, name: str, *, session: bool):
    """A simulated V4 session whose session (or device) metaData.json is the real file ``name``."""
    frames = np.random.default_rng(0).integers(0, 256, (T, H, W), dtype=np.uint8)
    written = write_miniscope_v4(tmp_path / "session", frames, fps=FPS, frames_per_file=5, device_folder=DEVICE)
    target = written.path / "metaData.json" if session else written.path / DEVICE / "metaData.json"
    target.write_text((realdata / V4_REAL / name).read_text())
    return written


def read_quietly(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_recording(folder).metadata


def test_v4_device_metadata_of_2021(tmp_path, realdata):
    written = session_with(tmp_path, realdata, "device_metaData_CaiLab_2021.json", session=False)
    meta = read_quietly(written.path)
    assert (meta.nframes, meta.height, meta.width, meta.fps) == (T, H, W, FPS)
    assert meta.gain == 3.5 and meta.led_power == 12.0
    assert meta.extra["device_name"] == "Miniscope" and meta.extra["device_type"] == "Miniscope_V4_BNO"
    assert meta.extra["compression"] == "FFV1" and "roi" not in meta.extra
    assert meta.recording_datetime is not None  # from the simulator's session file


def test_v4_device_metadata_of_2022_with_an_roi(tmp_path, realdata):
    written = session_with(tmp_path, realdata, "device_metaData_CaiLab_2022_with_ROI.json", session=False)
    with pytest.warns(UserWarning, match=rf"ROI 608x608 differs from the {H}x{W}-pixel frames"):
        meta = read_recording(written.path).metadata
    assert (meta.height, meta.width) == (H, W)  # the frames decide
    assert meta.extra["roi"] == {"height": 608, "width": 608, "leftEdge": 0, "topEdge": 0}
    assert meta.gain == 3.5 and meta.led_power == 1.0 and meta.extra["device_name"] == "miniscope"


def test_v4_session_metadata_of_daq_software_v1_0x(tmp_path, realdata):
    name = "session_metaData_CaiLab_2021_DAQv1.0x_toplevel_date.json"
    written = session_with(tmp_path, realdata, name, session=True)
    meta = read_quietly(written.path)
    assert meta.recording_datetime == datetime.datetime(2021, 10, 14, 10, 11, 24, 779000)
    # the fields are local time; msecSinceEpoch is the same instant in UTC, a whole number of hours away
    epoch_ms = json.loads((realdata / V4_REAL / name).read_text())["msecSinceEpoch"]
    utc = datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.timezone.utc).replace(tzinfo=None)
    offset = (utc - meta.recording_datetime).total_seconds()
    assert offset % 3600 == 0 and abs(offset) <= 14 * 3600
    assert meta.nframes == T and meta.gain == 1.0  # the simulator's device file ("Low")


def test_two_photon_tiff_crops_read_in_place(realdata):
    folder = realdata / "fissa_tiny_tiffs"
    files = sorted(folder.glob("*.tif"))
    recording = read_recording(folder, fps=1.0)  # plain TIFF carries no rate; fissa's own run used 1 Hz
    meta = recording.metadata
    assert meta.software == "TIFF" and [path.name for path in meta.files] == [path.name for path in files]
    assert (meta.nframes, meta.height, meta.width) == (3 * 29, 21, 14)
    assert (meta.nchannels, meta.nplanes) == (1, 1)
    movie = recording.movie()
    assert movie.shape == (87, 21, 14) and movie.dtype == np.uint16
    expected = np.concatenate([tifffile.imread(path) for path in files])
    assert expected.shape == (87, 21, 14) and expected.dtype == np.uint16
    np.testing.assert_array_equal(movie.read(0, 87), expected)
    np.testing.assert_array_equal(movie.read(27, 32), expected[27:32])  # across the first two files
    for index, path in enumerate(files):
        np.testing.assert_array_equal(movie.read(29 * index, 29 * (index + 1)), tifffile.imread(path))
