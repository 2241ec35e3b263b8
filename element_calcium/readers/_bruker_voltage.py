"""PrairieView voltage output protocols (``*_VoltageOutput_NNN.xml``) and analog samples aligned to frames.

A voltage output file (root ``Experiment``) names the experiment (``Name``), its ``UpdateRate`` (samples per
second) and one ``Waveform`` per analog output line: ``Name``, ``Enabled``, ``AOLine``, ``Units``,
``UnitScaleFactor``, ``UnitVoltageOffset``, ``UnitScaleOffset`` and its components, such as
``WaveformComponent_PulseTrain`` (``PulseCount``, ``PulseWidth`` and ``PulseSpacing`` in ms,
``PulsePotentialStart``, ``PulsePotentialDelta``, ``RestPotential`` in the waveform's units, ``FirstPulseDelay``
in ms, ``Repetitions``, ``DelayBetweenReps`` in ms) and ``WaveformComponent_FixedVoltage`` (``Potential``,
``HoldTime``, ``ChangeAtEnd``, ``EndingPotential``). CalSciPy's ``get_voltage_output`` reports the update rate
and the names, units and enabled state of the waveforms; here every component is kept too.

`align_voltage_to_frames` pairs a voltage recording's samples with imaging frames as CalSciPy's ``align_data``
does: each frame lands on the sample at its time, and with ``fill`` every sample from the first frame on
takes the nearest frame (the last frame after it); samples before the first frame have none.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import xml.etree.ElementTree as ET

import numpy as np

from element_calcium.readers._bruker_markpoints import xml_root
from element_calcium.readers.behavior import VoltageRecording

__all__ = [
    "AlignedSamples",
    "FixedVoltage",
    "PulseTrain",
    "VoltageOutput",
    "Waveform",
    "WaveformComponent",
    "align_voltage_to_frames",
    "read_voltage_output",
]

_PULSE_FIELDS = {
    "pulse_count": "PulseCount", "pulse_width_ms": "PulseWidth", "pulse_spacing_ms": "PulseSpacing",
    "pulse_potential_start": "PulsePotentialStart", "pulse_potential_delta": "PulsePotentialDelta",
    "rest_potential": "RestPotential", "first_pulse_delay_ms": "FirstPulseDelay", "repetitions": "Repetitions",
    "delay_between_reps_ms": "DelayBetweenReps",
}
_WHOLE = ("pulse_count", "repetitions")


@dataclasses.dataclass(frozen=True)
class PulseTrain:
    """A ``WaveformComponent_PulseTrain``.

    Attributes:
        name: the component's name.
        pulse_count: pulses per train; repetitions: trains.
        pulse_width_ms: pulse length; pulse_spacing_ms: gap from one pulse's end to the next one's start (ms).
        pulse_potential_start: amplitude of the first pulse; pulse_potential_delta: added per pulse
            (the waveform's units); rest_potential: level between pulses.
        first_pulse_delay_ms: from the start of the output to the first pulse (ms).
        delay_between_reps_ms: PrairieView's delay between repetitions (ms), as written.
    """

    name: str
    pulse_count: int
    pulse_width_ms: float
    pulse_spacing_ms: float
    pulse_potential_start: float
    pulse_potential_delta: float
    rest_potential: float
    first_pulse_delay_ms: float
    repetitions: int
    delay_between_reps_ms: float

    def train_onsets_ms(self) -> np.ndarray:
        """(pulse_count,) onset of each pulse of the first train, ms from the output's start.

        Pulse k starts at ``first_pulse_delay_ms + k * (pulse_width_ms + pulse_spacing_ms)``.
        """
        return self.first_pulse_delay_ms + np.arange(self.pulse_count) * (self.pulse_width_ms + self.pulse_spacing_ms)

    def amplitudes(self) -> np.ndarray:
        """(pulse_count,) amplitude of each pulse: ``pulse_potential_start + k * pulse_potential_delta``."""
        return self.pulse_potential_start + np.arange(self.pulse_count) * self.pulse_potential_delta


@dataclasses.dataclass(frozen=True)
class FixedVoltage:
    """A ``WaveformComponent_FixedVoltage``: hold ``potential`` for ``hold_time_ms``, then optionally change."""

    name: str
    potential: float
    hold_time_ms: float
    change_at_end: bool
    ending_potential: float


@dataclasses.dataclass(frozen=True)
class WaveformComponent:
    """Any other ``WaveformComponent_*``: its kind (the tag without the prefix) and its fields as written."""

    kind: str
    fields: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Waveform:
    """One analog output line.

    Attributes:
        name: the output's name; enabled: whether it was used; ao_line: the analog output line number.
        units: the waveform's units; unit_scale_factor, unit_voltage_offset, unit_scale_offset: PrairieView's
            conversion between those units and volts, as written.
        components: pulse trains, fixed voltages and other components in file order.
    """

    name: str
    enabled: bool
    ao_line: int
    units: str | None
    unit_scale_factor: float | None
    unit_voltage_offset: float | None
    unit_scale_offset: float | None
    components: tuple[PulseTrain | FixedVoltage | WaveformComponent, ...]


@dataclasses.dataclass(frozen=True)
class VoltageOutput:
    """A voltage output protocol: its name, update rate (samples per second), waveforms and the file read."""

    name: str | None
    update_rate: float
    waveforms: tuple[Waveform, ...]
    file: pathlib.Path

    def enabled(self) -> tuple[Waveform, ...]:
        """The waveforms that were output."""
        return tuple(waveform for waveform in self.waveforms if waveform.enabled)


@dataclasses.dataclass(frozen=True)
class AlignedSamples:
    """Voltage samples paired with imaging frames.

    Attributes:
        frame_at_sample: (n_samples,) int64, with ``fill`` the nearest frame of each sample (the last frame after
            it), else the frame whose time falls on the sample; -1 where there is none.
        sample_at_frame: (n_frames,) int64 index of the sample nearest each frame's time.
    """

    frame_at_sample: np.ndarray
    sample_at_frame: np.ndarray


def read_voltage_output(path: str | os.PathLike) -> VoltageOutput:
    """Parse a PrairieView voltage output XML.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable XML, a root other than ``Experiment``, no positive ``UpdateRate``, or a waveform
            field that is missing or not a number (names the file, the waveform and the field).
    """
    path, root = xml_root(path, ("Experiment",), kind="PrairieView voltage output")
    if root.find("Waveform") is None:
        raise ValueError(f"{path}: not a PrairieView voltage output (root {root.tag}, expected Experiment with "
                         "Waveform elements)")
    rate = _number(path, root, "UpdateRate", "Experiment")
    if rate <= 0:
        raise ValueError(f"{path}: UpdateRate {rate} is not a positive number of samples per second")
    waveforms = tuple(_waveform(path, element) for element in root.findall("Waveform"))
    return VoltageOutput(name=root.findtext("Name"), update_rate=rate, waveforms=waveforms, file=path)


def align_voltage_to_frames(
    recording: VoltageRecording,
    frame_times: np.ndarray,
    *,
    offset_s: float = 0.0,
    fill: bool = True,
) -> AlignedSamples:
    """Pair each voltage sample with an imaging frame and each frame with a sample.

    Args:
        recording: from `read_voltage_recording`; its ``times`` (n,) s.
        frame_times: (T,) s of each frame, increasing (``RecordingMetadata.timestamps``).
        offset_s: time of the recording's first sample on the frames' clock (0 when both start together, as
            with PrairieView's "start with next scan" trigger).
        fill: as CalSciPy's ``align_data(fill=True)``: every sample from the first frame on gets the nearest
            frame; False marks only the sample nearest each frame.
    """
    frames = np.asarray(frame_times, dtype=np.float64)
    if frames.ndim != 1 or frames.size == 0 or not np.all(np.isfinite(frames)) or np.any(np.diff(frames) <= 0):
        raise ValueError("frame_times must be a non-empty, finite, increasing (T,) array of seconds")
    samples = np.asarray(recording.times, dtype=np.float64) + float(offset_s)
    sample_at_frame = _nearest(samples, frames)
    frame_at_sample = np.full(samples.size, -1, dtype=np.int64)
    if fill:
        after_first = samples >= frames[0]
        frame_at_sample[after_first] = _nearest(frames, samples[after_first])
    else:
        frame_at_sample[sample_at_frame] = np.arange(frames.size)
    return AlignedSamples(frame_at_sample=frame_at_sample, sample_at_frame=sample_at_frame)


def _nearest(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the element of the increasing ``grid`` nearest each value (the earlier one on a tie)."""
    if grid.size == 1:
        return np.zeros(values.size, dtype=np.int64)
    right = np.clip(np.searchsorted(grid, values), 1, grid.size - 1)
    left = right - 1
    return np.where(values - grid[left] <= grid[right] - values, left, right).astype(np.int64)


def _waveform(path: pathlib.Path, element: ET.Element) -> Waveform:
    name = (element.findtext("Name") or "").strip()
    where = f"Waveform {name!r}"
    components: list[PulseTrain | FixedVoltage | WaveformComponent] = []
    for child in element:
        if not child.tag.startswith("WaveformComponent_"):
            continue
        component_where = f"{where} {child.tag}"
        if child.tag == "WaveformComponent_PulseTrain":
            values = {field: _number(path, child, tag, component_where) for field, tag in _PULSE_FIELDS.items()}
            for field in _WHOLE:
                if not float(values[field]).is_integer():
                    raise ValueError(f"{path}: {component_where} {_PULSE_FIELDS[field]} is not a whole number")
                values[field] = int(values[field])
            components.append(PulseTrain(name=child.findtext("Name") or "", **values))
        elif child.tag == "WaveformComponent_FixedVoltage":
            components.append(FixedVoltage(
                name=child.findtext("Name") or "",
                potential=_number(path, child, "Potential", component_where),
                hold_time_ms=_number(path, child, "HoldTime", component_where),
                change_at_end=(child.findtext("ChangeAtEnd") or "").strip().lower() == "true",
                ending_potential=_number(path, child, "EndingPotential", component_where),
            ))
        else:
            fields = {item.tag: (item.text or "").strip() for item in child}
            components.append(WaveformComponent(kind=child.tag.removeprefix("WaveformComponent_"), fields=fields))
    return Waveform(
        name=name,
        enabled=(element.findtext("Enabled") or "").strip().lower() == "true",
        ao_line=int(_number(path, element, "AOLine", where)),
        units=element.findtext("Units"),
        unit_scale_factor=_optional_number(path, element, "UnitScaleFactor", where),
        unit_voltage_offset=_optional_number(path, element, "UnitVoltageOffset", where),
        unit_scale_offset=_optional_number(path, element, "UnitScaleOffset", where),
        components=tuple(components),
    )


def _number(path: pathlib.Path, element: ET.Element, tag: str, where: str) -> float:
    value = _optional_number(path, element, tag, where)
    if value is None:
        raise ValueError(f"{path}: {where} has no {tag}")
    return value


def _optional_number(path: pathlib.Path, element: ET.Element, tag: str, where: str) -> float | None:
    text = element.findtext(tag)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}: {where} {tag}={text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}: {where} {tag}={text.strip()!r} is not a finite number")
    return value
