"""PrairieView photostimulation (MarkPoints, galvo point lists) and voltage output protocols, and the alignment of
voltage samples to frames, against XML written in PrairieView's element and attribute names."""

import numpy as np
import pytest

from element_calcium.readers import (
    FixedVoltage,
    PulseTrain,
    WaveformComponent,
    align_voltage_to_frames,
    read_galvo_point_list,
    read_mark_points,
    read_voltage_output,
)
from element_calcium.readers.behavior import read_voltage_recording
from element_calcium.simulate import write_voltage_recording

BOM = "\ufeff"

# A T-series' <name>_Cycle00001_MarkPoints.xml: one stimulation of a group of three spiral targets.
TSERIES_MARK_POINTS = """<?xml version="1.0" encoding="utf-8"?>
<PVMarkPointSeriesElements Category="Ensembles" Name="Ensemble A" Iterations="3" IterationDelay="5000.00" CalcFunctMap="False">
  <PVMarkPointElement Repetitions="5" UncagingLaser="Uncaging" UncagingLaserPower="0.45" TriggerFrequency="None" TriggerSelection="PFI1" TriggerCount="1" AsyncSyncFrequency="None" VoltageOutputCategoryName="None" VoltageRecCategoryName="Current" parameterSet="CurrentSettings">
    <PVGalvoPointElement InitialDelay="1000" InterPointDelay="0.12" Duration="20" SpiralRevolutions="10" AllPointsAtOnce="True" Points="Group 1" Indices="2-4">
      <Point Index="2" X="0.25" Y="0.5" IsSpiral="True" SpiralWidth="0.0340461221379181" SpiralHeight="0.0340461221379181" SpiralSizeInMicrons="15" />
      <Point Index="3" X="0.625" Y="0.125" IsSpiral="True" SpiralWidth="0.0340461221379181" SpiralHeight="0.0340461221379181" SpiralSizeInMicrons="15" />
      <Point Index="4" X="0.75" Y="0.875" IsSpiral="False" SpiralWidth="0" SpiralHeight="0" SpiralSizeInMicrons="0" />
    </PVGalvoPointElement>
  </PVMarkPointElement>
</PVMarkPointSeriesElements>
"""

# A series saved from the MarkPoints window: no Point children, several elements, index lists of every form.
SAVED_SERIES = BOM + """<?xml version="1.0" encoding="utf-8"?>
<PVSavedMarkPointSeriesElements Iterations="1" IterationDelay="0.00" CalcFunctMap="False">
  <PVMarkPointElement Repetitions="1" UncagingLaser="Uncaging" UncagingLaserPower="0" TriggerFrequency="None" TriggerSelection="None" TriggerCount="50" AsyncSyncFrequency="None" VoltageOutputCategoryName="None" VoltageRecCategoryName="None" parameterSet="CurrentSettings">
    <PVGalvoPointElement InitialDelay="1000" InterPointDelay="0.12" Duration="1" SpiralRevolutions="0.01" AllPointsAtOnce="False" Points="Point 0" Indices="1" />
  </PVMarkPointElement>
  <PVMarkPointElement Repetitions="2" UncagingLaser="Uncaging" UncagingLaserPower="0.025" TriggerFrequency="None" TriggerSelection="None" TriggerCount="50" AsyncSyncFrequency="None" VoltageOutputCategoryName="None" VoltageRecCategoryName="None" parameterSet="CurrentSettings">
    <PVGalvoPointElement InitialDelay="500" InterPointDelay="10" Duration="3" SpiralRevolutions="7" AllPointsAtOnce="False" Points="Group 3" Indices="1, 3, 5, 7" />
  </PVMarkPointElement>
</PVSavedMarkPointSeriesElements>"""

GALVO_POINT_LIST = """<?xml version="1.0" encoding="utf-8"?>
<PVGalvoPointList>
  <PVGalvoPoint X="-4.7409306188229" Y="-7.0807318361134" Name="ROI 0" Index="0" ActivityType="MarkPoints" UncagingLaser="Uncaging" UncagingLaserPower="5.00000000000000" Duration="100.000000000000" IsSpiral="True" SpiralSize="0.21805182832506" SpiralRevolutions="50.0000000000000" Z="19.9600000000000" />
  <PVGalvoPoint X="-2.1406139227276" Y="-6.1234824253751" Name="ROI 1" Index="1" ActivityType="MarkPoints" UncagingLaser="Uncaging" UncagingLaserPower="2.5" Duration="80" IsSpiral="False" SpiralSize="0.28019515548799" SpiralRevolutions="25" Z="19.96" />
  <PVGalvoPoint X="1.65770869850553" Y="-4.1234684964384" Name="ROI 8" Index="2" ActivityType="MarkPoints" UncagingLaser="Uncaging" UncagingLaserPower="5" Duration="100" IsSpiral="True" SpiralSize="0.19813371632324" SpiralRevolutions="50" Z="19.96" />
  <PVGalvoPointGroup Indices="0,2" Name="Ensemble 1" Index="3" ActivityType="MarkPoints" UncagingLaser="Uncaging" UncagingLaserPower="5.00000000000000" Duration="100.000000000000" IsSpiral="True" SpiralSize="0.00000000000000" SpiralRevolutions="50.0000000000000" Z="19.9600000000000" />
  <PVGalvoPointGroup Indices="1," Index="4" ActivityType="MarkPoints" UncagingLaser="Uncaging" UncagingLaserPower="5" Duration="100" IsSpiral="True" SpiralSize="0" SpiralRevolutions="50" Z="19.96">
    </PVGalvoPointGroup>
</PVGalvoPointList>
"""

VOLTAGE_OUTPUT = BOM + """<?xml version="1.0" encoding="utf-8"?>
<Experiment>
  <Name>Optogenetics</Name>
  <UpdateRate>10000</UpdateRate>
  <UpdateDivisor>2000</UpdateDivisor>
  <Waveform>
    <Name>LED</Name>
    <Enabled>true</Enabled>
    <AOLine>0</AOLine>
    <Units>V</Units>
    <UnitScaleFactor>1</UnitScaleFactor>
    <UnitVoltageOffset>0</UnitVoltageOffset>
    <UnitScaleOffset>0</UnitScaleOffset>
    <PlotColor>-256</PlotColor>
    <WaveformComponent_PulseTrain>
      <Name>Theta burst</Name>
      <PulseCount>3</PulseCount>
      <PulseWidth>2</PulseWidth>
      <PulseSpacing>18</PulseSpacing>
      <PulsePotentialStart>5</PulsePotentialStart>
      <PulsePotentialDelta>-0.5</PulsePotentialDelta>
      <RestPotential>0</RestPotential>
      <FirstPulseDelay>900</FirstPulseDelay>
      <Repetitions>4</Repetitions>
      <DelayBetweenReps>200</DelayBetweenReps>
    </WaveformComponent_PulseTrain>
  </Waveform>
  <Waveform>
    <Name>Voltage Output 1</Name>
    <Enabled>false</Enabled>
    <AOLine>1</AOLine>
    <Units>V</Units>
    <UnitScaleFactor>1</UnitScaleFactor>
    <UnitVoltageOffset>0</UnitVoltageOffset>
    <UnitScaleOffset>0</UnitScaleOffset>
    <PlotColor>-7876870</PlotColor>
    <WaveformComponent_FixedVoltage>
      <Name>Waveform Component #1</Name>
      <Potential>2</Potential>
      <HoldTime>1</HoldTime>
      <ChangeAtEnd>false</ChangeAtEnd>
      <EndingPotential>0</EndingPotential>
    </WaveformComponent_FixedVoltage>
  </Waveform>
  <Waveform>
    <Name>Uncaging X Galvo</Name>
    <Enabled>false</Enabled>
    <AOLine>5</AOLine>
    <Units>V</Units>
    <UnitScaleFactor>1</UnitScaleFactor>
    <UnitVoltageOffset>0</UnitVoltageOffset>
    <UnitScaleOffset>0</UnitScaleOffset>
    <PlotColor>-65536</PlotColor>
    <WaveformComponent_Ramp>
      <Name>Sweep</Name>
      <StartPotential>-1</StartPotential>
    </WaveformComponent_Ramp>
  </Waveform>
</Experiment>
"""


def written(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_tseries_mark_points_become_typed_records(tmp_path):
    series = read_mark_points(written(tmp_path, "TSeries-001_Cycle00001_MarkPoints.xml", TSERIES_MARK_POINTS))
    assert (series.iterations, series.iteration_delay_ms, series.calc_funct_map) == (3, 5000.0, False)
    assert (series.name, series.category) == ("Ensemble A", "Ensembles")
    (element,) = series.elements
    assert (element.repetitions, element.uncaging_laser, element.uncaging_laser_power) == (5, "Uncaging", 0.45)
    assert (element.trigger_selection, element.trigger_count) == ("PFI1", 1)
    assert element.voltage_rec_category_name == "Current"
    (stimulation,) = element.stimulations
    assert (stimulation.initial_delay_ms, stimulation.inter_point_delay_ms, stimulation.duration_ms) == (1000, 0.12, 20)
    assert (stimulation.spiral_revolutions, stimulation.all_points_at_once) == (10, True)
    assert (stimulation.points, stimulation.indices) == ("Group 1", (2, 3, 4))
    assert [target.index for target in stimulation.targets] == [2, 3, 4]
    first, _, last = stimulation.targets
    assert (first.x, first.y, first.is_spiral, first.spiral_size_um) == (0.25, 0.5, True, 15.0)
    assert first.spiral_width == pytest.approx(0.0340461221379181)
    assert first.pixel_xy(width=512, height=256) == (128.0, 128.0)
    assert (last.is_spiral, last.z) == (False, None)


def test_saved_series_with_bom_and_index_lists(tmp_path):
    series = read_mark_points(written(tmp_path, "saved_series.xml", SAVED_SERIES))
    assert [element.repetitions for element in series.elements] == [1, 2]
    assert [element.uncaging_laser_power for element in series.elements] == [0.0, 0.025]
    second = series.elements[1].stimulations[0]
    assert (second.points, second.indices, second.targets) == ("Group 3", (1, 3, 5, 7), ())
    assert (second.duration_ms, second.spiral_revolutions, second.initial_delay_ms) == (3.0, 7.0, 500.0)


def test_galvo_point_list_points_and_groups(tmp_path):
    points = read_galvo_point_list(written(tmp_path, "protocol.gpl", GALVO_POINT_LIST))
    assert [(p.index, p.name) for p in points.points] == [(0, "ROI 0"), (1, "ROI 1"), (2, "ROI 8")]
    roi1 = points.points[1]
    assert (roi1.x, roi1.y, roi1.z) == (-2.1406139227276, -6.1234824253751, 19.96)
    assert (roi1.uncaging_laser_power, roi1.duration_ms) == (2.5, 80)
    assert (roi1.is_spiral, roi1.spiral_revolutions) == (False, 25)
    assert roi1.spiral_size == pytest.approx(0.28019515548799)
    assert [(g.index, g.name, g.members) for g in points.groups] == [(3, "Ensemble 1", (0, 2)), (4, None, (1,))]


def test_malformed_protocols_are_named(tmp_path):
    bad_number = TSERIES_MARK_POINTS.replace('Duration="20"', 'Duration="twenty"')
    with pytest.raises(ValueError, match=r"bad\.xml: PVGalvoPointElement Duration='twenty' is not a number"):
        read_mark_points(written(tmp_path, "bad.xml", bad_number))
    no_x = TSERIES_MARK_POINTS.replace('Index="3" X="0.625" ', 'Index="3" ')
    with pytest.raises(ValueError, match=r"nox\.xml: Point lacks the X attribute"):
        read_mark_points(written(tmp_path, "nox.xml", no_x))
    with pytest.raises(ValueError, match=r"range '5-2' runs backwards"):
        read_mark_points(written(tmp_path, "back.xml", TSERIES_MARK_POINTS.replace('"2-4"', '"5-2"')))
    with pytest.raises(ValueError, match=r"gpl\.xml: root element PVGalvoPointList, expected PVMarkPointSeries"):
        read_mark_points(written(tmp_path, "gpl.xml", GALVO_POINT_LIST))
    orphan = GALVO_POINT_LIST.replace('Indices="0,2"', 'Indices="0,9"')
    with pytest.raises(ValueError, match=r"orphan\.gpl: PVGalvoPointGroup 3 names point\(s\) \[9\]"):
        read_galvo_point_list(written(tmp_path, "orphan.gpl", orphan))
    with pytest.raises(FileNotFoundError, match="absent.xml"):
        read_mark_points(tmp_path / "absent.xml")


def test_voltage_output_waveforms_and_pulse_train(tmp_path):
    output = read_voltage_output(written(tmp_path, "TSeries-001_Cycle00001_VoltageOutput_001.xml", VOLTAGE_OUTPUT))
    assert (output.name, output.update_rate) == ("Optogenetics", 10000.0)
    assert [(w.name, w.enabled, w.ao_line) for w in output.waveforms] == [
        ("LED", True, 0), ("Voltage Output 1", False, 1), ("Uncaging X Galvo", False, 5)]
    assert [w.name for w in output.enabled()] == ["LED"]
    led = output.waveforms[0]
    assert (led.units, led.unit_scale_factor, led.unit_voltage_offset) == ("V", 1.0, 0.0)
    (train,) = led.components
    assert isinstance(train, PulseTrain)
    assert (train.name, train.pulse_count, train.repetitions, train.delay_between_reps_ms) == ("Theta burst", 3, 4, 200)
    # 2 ms pulses with 18 ms gaps make a 50 Hz burst after the 900 ms delay
    assert np.array_equal(train.train_onsets_ms(), [900.0, 920.0, 940.0])
    assert np.array_equal(train.amplitudes(), [5.0, 4.5, 4.0])
    (fixed,) = output.waveforms[1].components
    assert fixed == FixedVoltage(name="Waveform Component #1", potential=2.0, hold_time_ms=1.0,
                                 change_at_end=False, ending_potential=0.0)
    (other,) = output.waveforms[2].components
    assert other == WaveformComponent(kind="Ramp", fields={"Name": "Sweep", "StartPotential": "-1"})


def test_voltage_output_errors_name_the_file_and_field(tmp_path):
    broken = VOLTAGE_OUTPUT.replace("<PulseWidth>2</PulseWidth>", "<PulseWidth>wide</PulseWidth>")
    with pytest.raises(ValueError, match=r"vo\.xml: Waveform 'LED' WaveformComponent_PulseTrain PulseWidth='wide'"):
        read_voltage_output(written(tmp_path, "vo.xml", broken))
    with pytest.raises(ValueError, match=r"rate\.xml: UpdateRate 0.0"):
        read_voltage_output(written(tmp_path, "rate.xml", VOLTAGE_OUTPUT.replace(">10000<", ">0<")))
    with pytest.raises(ValueError, match=r"gpl\.xml: not a PrairieView voltage output"):
        read_voltage_output(written(tmp_path, "gpl.xml", GALVO_POINT_LIST))


def test_voltage_samples_align_to_frames_like_calscipy_align_data(tmp_path):
    rate, n = 1000.0, 1000
    csv = write_voltage_recording(tmp_path / "TSeries-001_Cycle00001_VoltageRecording_001.csv",
                                  {"Input 0": np.sin(np.arange(n) / 50)}, rate=rate)
    recording = read_voltage_recording(csv)
    frame_times = 0.1001 + np.arange(20) * 0.03325  # frames start 100 ms into the voltage recording, none on a tie
    aligned = align_voltage_to_frames(recording, frame_times)
    assert np.array_equal(aligned.sample_at_frame, np.rint(frame_times * rate).astype(int))
    assert np.all(aligned.frame_at_sample[:101] == -1)  # samples up to 100 ms precede the first frame: no frame
    expected = np.argmin(np.abs(recording.times[101:, None] - frame_times[None, :]), axis=1)
    assert np.array_equal(aligned.frame_at_sample[101:], expected)
    assert np.all(aligned.frame_at_sample[800:] == 19)  # after the last frame: the last frame
    sparse = align_voltage_to_frames(recording, frame_times, fill=False)
    marked = np.flatnonzero(sparse.frame_at_sample >= 0)
    assert np.array_equal(marked, aligned.sample_at_frame)
    assert np.array_equal(sparse.frame_at_sample[marked], np.arange(20))
    shifted = align_voltage_to_frames(recording, frame_times, offset_s=0.05)
    assert np.array_equal(shifted.sample_at_frame, aligned.sample_at_frame - 50)
    with pytest.raises(ValueError, match="frame_times must be"):
        align_voltage_to_frames(recording, frame_times[::-1])
