"""Behaviour event files: event CSVs and PrairieView voltage recordings, good and bad."""

import numpy as np
import pytest

from element_calcium.readers.behavior import read_event_csv, read_voltage_recording
from element_calcium.simulate import write_voltage_recording


def write(path, text):
    path.write_text(text)
    return path


def test_event_csv_is_read_and_sorted(tmp_path):
    path = write(tmp_path / "events.csv", "time,event_type,note\n12.5,lever,x\n3.25, reward ,\n7,lever,\n")
    events = read_event_csv(path)
    assert list(events.columns) == ["time", "event_type"]
    np.testing.assert_array_equal(events["time"], [3.25, 7.0, 12.5])
    assert list(events["event_type"]) == ["reward", "lever", "lever"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t,event_type\n1,lever\n", r"missing column\(s\) \['time'\]"),
        ("time,kind\n1,lever\n", r"missing column\(s\) \['event_type'\]"),
        ("time,event_type\n1,lever\nsoon,lever\n", r"'time' is not a finite number in data row\(s\) 2"),
        ("time,event_type\n1,lever\n2,\n", r"'event_type' is empty in data row\(s\) 2"),
        ("time,event_type\n1,lever\n1,reward\n1,lever\n", "same event type at the same time in data rows 1, 3"),
        ("time,event_type\n", "no data rows"),
        ("", "not a readable CSV"),
    ],
)
def test_bad_event_csv_is_refused_naming_the_file(tmp_path, text, message):
    path = write(tmp_path / "events.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        read_event_csv(path)
    assert str(path) in str(error.value)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_event_csv(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_voltage_recording(tmp_path / "nope.csv")


@pytest.fixture
def voltage_file(tmp_path):
    lever = np.zeros(2000)
    lever[500:520] = 5.0
    signals = {"Input 0": lever, "Lick": np.linspace(0, 1, 2000)}
    return write_voltage_recording(tmp_path / "TSeries-001_Cycle00001_VoltageRecording_001.csv", signals, rate=1000.0)


def test_voltage_recording_with_its_xml(voltage_file):
    recording = read_voltage_recording(voltage_file)
    assert recording.rate == pytest.approx(1000.0)
    assert recording.file == voltage_file
    np.testing.assert_allclose(recording.times[:3], [0.0, 0.001, 0.002])
    assert set(recording.signals) == {"Input 0", "Lick"}
    assert np.flatnonzero(recording.signals["Input 0"] > 2.5).tolist() == list(range(500, 520))


def test_voltage_recording_without_xml(voltage_file):
    voltage_file.with_suffix(".xml").unlink()
    assert read_voltage_recording(voltage_file).rate == pytest.approx(1000.0)


def test_voltage_recording_disagreeing_with_its_xml_is_refused(voltage_file):
    xml = voltage_file.with_suffix(".xml")
    text = xml.read_text()
    xml.write_text(text.replace("<Rate>1000</Rate>", "<Rate>2000</Rate>"))
    with pytest.raises(ValueError, match="Rate 2000.0 Hz, but the CSV's time column gives 1000.000 Hz"):
        read_voltage_recording(voltage_file)
    xml.write_text(text.replace("<Name>Lick</Name>", "<Name>Reward</Name>"))
    with pytest.raises(ValueError, match=r"enabled inputs \['Input 0', 'Reward'\] differ"):
        read_voltage_recording(voltage_file)
    xml.write_text("<VRecSessionEntry><Experiment>")
    with pytest.raises(ValueError, match="not readable XML"):
        read_voltage_recording(voltage_file)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Time,Input 0\n0,1\n1,2\n", r"no 'Time\(ms\)' column"),
        ("Time(ms)\n0\n1\n", "no input column"),
        ("Time(ms),Input 0\n0,1\n1,high\n", r"non-numeric or missing samples in data row\(s\) 2"),
        ("Time(ms),Input 0\n0,1\n0,2\n", "strictly increasing"),
    ],
)
def test_bad_voltage_recording_is_refused_naming_the_file(tmp_path, text, message):
    path = write(tmp_path / "rec_VoltageRecording_001.csv", text)
    with pytest.raises(ValueError, match=message) as error:
        read_voltage_recording(path)
    assert str(path) in str(error.value)
