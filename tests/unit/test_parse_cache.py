"""A Miniscope recording's metadata is parsed once per process while its files stay unchanged."""

import json
import warnings

import numpy as np
import pytest

from element_calcium import readers
from element_calcium.readers import _parse_cache, miniscope
from element_calcium.simulate import simulate, write_miniscope_v4


@pytest.fixture
def recording(tmp_path):
    movie = simulate(n_frames=60, height=32, width=40, n_cells=3, mode="1p", fps=20.0, seed=3)
    return write_miniscope_v4(tmp_path / "session", movie, frames_per_file=25).path


@pytest.fixture
def parses(monkeypatch):
    """Count the parses of V4 metadata."""
    _parse_cache.clear()
    count = [0]
    parse = miniscope._parse_v4

    def counting(folder, device):
        count[0] += 1
        return parse(folder, device)

    monkeypatch.setattr(miniscope, "_parse_v4", counting)
    return count


def test_metadata_is_parsed_once_and_each_opening_reads_the_same_frames(recording, parses):
    first = readers.read_recording(recording)
    second = readers.read_recording(recording)
    assert parses[0] == 1
    assert first.metadata.nframes == second.metadata.nframes == 60
    np.testing.assert_array_equal(first.metadata.timestamps, second.metadata.timestamps)
    assert first.metadata.timestamps is not second.metadata.timestamps
    with first.movie() as a, second.movie() as b:
        np.testing.assert_array_equal(a.read(20, 40), b.read(20, 40))


def test_a_changed_file_is_parsed_again(recording, parses):
    readers.read_recording(recording)
    metadata_file = recording / "My_V4_Miniscope" / "metaData.json"
    meta = json.loads(metadata_file.read_text())
    meta["led0"] = 55
    metadata_file.write_text(json.dumps(meta))
    assert readers.read_recording(recording).metadata.led_power == 55
    assert parses[0] == 2


def test_warnings_of_the_parse_are_given_on_every_opening(recording, parses):
    (recording / "metaData.json").unlink()  # no session metadata: the start time is unknown (a warning)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            readers.read_recording(recording)
        assert any("start time is unknown" in str(w.message) for w in caught)
    assert parses[0] == 1


def test_a_failed_parse_is_not_remembered(recording, parses):
    timestamps = recording / "My_V4_Miniscope" / "timeStamps.csv"
    good = timestamps.read_text()
    timestamps.write_text(good.splitlines()[0] + "\n")
    with pytest.raises(ValueError, match="timeStamps.csv"):
        readers.read_recording(recording)
    timestamps.write_text(good)
    assert readers.read_recording(recording).metadata.nframes == 60
    assert parses[0] == 2
