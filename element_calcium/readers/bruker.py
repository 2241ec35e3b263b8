"""Bruker PrairieView T-series: one ``*.xml`` file describing frames stored as OME-TIFFs.

The XML (root ``PVScan``) lists ``Sequence`` elements of ``Frame`` elements; each frame has a
``relativeTime``/``absoluteTime`` in seconds and one ``File`` per channel (``channel``,
``filename``, optional 1-based ``page``). Top-level ``PVStateValue`` elements give
``framePeriod`` (s) and ``micronsPerPixel`` (XAxis, YAxis). A ``ZSeries`` sequence type means
each sequence is one volume whose frames are its planes.

Opening parses the XML, checks that every file exists and reads the first and last files.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import xml.etree.ElementTree as ET

import numpy as np

from element_calcium.readers.movie import (
    RawRecording,
    RecordingMetadata,
    check_fps,
    check_frame_times,
    count_dropped_frames,
    timestamp_fps,
)
from element_calcium.readers.tiff import TiffFileInfo, TiffSegment, scan_tiff

PV_ROOT = b"<PVScan"
PV_DATE_FORMAT = "%m/%d/%Y %I:%M:%S %p"


@dataclasses.dataclass
class _Frame:
    time: float
    files: dict[int, tuple[str, int]]  # channel -> (file name, 0-based page)


def is_bruker_folder(folder: pathlib.Path) -> bool:
    """Whether ``folder`` holds a PrairieView XML file."""
    return bool(_pv_xml_files(folder))


def read_bruker(folder: pathlib.Path) -> RawRecording:
    """Open a PrairieView T-series folder; reads the XML and the first and last TIFF files."""
    xml_files = _pv_xml_files(folder)
    if not xml_files:
        raise FileNotFoundError(f"{folder}: no PrairieView XML file (root element PVScan)")
    if len(xml_files) > 1:
        raise ValueError(f"{folder}: several PrairieView XML files ({', '.join(p.name for p in xml_files)})")
    xml_path = xml_files[0]
    root, sequences, state = _parse(xml_path)

    volumes, channels = _volumes(sequences, xml_path)
    nplanes = len(volumes[0])
    times = np.array([volume[0].time for volume in volumes], dtype=np.float64)
    check_frame_times(times, source=f"{xml_path} (Frame times)")
    timestamps = times - times[0]
    frame_period = _positive(state.get("framePeriod"))
    if nplanes == 1 and frame_period is not None:
        fps = check_fps(1.0 / frame_period, source=f"{xml_path}: 1 / framePeriod")
    else:
        fps = timestamp_fps(timestamps, source=xml_path)

    names = [volume[plane].files[channel] for volume in volumes for plane in range(nplanes) for channel in channels]
    paths = list(dict.fromkeys(folder / name for name, _ in names))
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: file not found (listed in {xml_path})")
    first_info, last_info = scan_tiff(paths[0]), scan_tiff(paths[-1])
    if (last_info.height, last_info.width) != (first_info.height, first_info.width):
        raise ValueError(
            f"{paths[-1]}: frames are {last_info.height}x{last_info.width} pixels, "
            f"but {paths[0]} has {first_info.height}x{first_info.width}"
        )
    segments = {
        (c, p): _segments([volume[p].files[channel] for volume in volumes], folder, first_info)
        for c, channel in enumerate(channels)
        for p in range(nplanes)
    }

    microns = state.get("micronsPerPixel")
    microns = microns if isinstance(microns, dict) else {}
    um_x, um_y = _positive(microns.get("XAxis")), _positive(microns.get("YAxis"))
    extra = {"channels": channels, "xml_file": xml_path.name, "version": root.get("version")}
    recorded = _recording_datetime(root.get("date"))
    if recorded is None and root.get("date"):
        extra["date"] = root.get("date")
    metadata = RecordingMetadata(
        software="Bruker-PrairieView",
        nchannels=len(channels),
        nplanes=nplanes,
        nframes=len(volumes),
        height=first_info.height,
        width=first_info.width,
        fps=float(fps),
        timestamps=timestamps,
        dropped_frames=count_dropped_frames(timestamps),
        files=tuple(paths),
        um_height=None if um_y is None else um_y * first_info.height,
        um_width=None if um_x is None else um_x * first_info.width,
        recording_datetime=recorded,
        extra=extra,
    )
    return RawRecording(metadata, segments)


def _volumes(sequences: list[tuple[str, list[_Frame]]], xml_path: pathlib.Path) -> tuple[list[list[_Frame]], list[int]]:
    """Frames grouped by time point (a Z-series sequence is one volume) and the channel numbers."""
    if any("zseries" in kind.lower() for kind, _ in sequences):
        volumes = [frames for _, frames in sequences]
        if any(len(volume) != len(volumes[0]) for volume in volumes):
            raise ValueError(f"{xml_path}: Z-series volumes have different numbers of planes")
    else:
        volumes = [[frame] for _, frames in sequences for frame in frames]
    channels = sorted(volumes[0][0].files)
    for volume in volumes:
        for frame in volume:
            if sorted(frame.files) != channels:
                raise ValueError(f"{xml_path}: a frame lists channels {sorted(frame.files)}, the first {channels}")
    return volumes, channels


def _pv_xml_files(folder: pathlib.Path) -> list[pathlib.Path]:
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() == ".xml":
            with path.open("rb") as handle:
                if PV_ROOT in handle.read(1024):
                    found.append(path.resolve())
    return found


def _parse(xml_path: pathlib.Path) -> tuple[dict, list[tuple[str, list[_Frame]]], dict]:
    """Root attributes, (type, frames) per non-empty Sequence, and top-level PVStateValue settings."""
    root: dict | None = None
    sequences: list[tuple[str, list[_Frame]]] = []
    state: dict = {}
    try:
        for event, element in ET.iterparse(xml_path, events=("start", "end")):
            if event == "start":
                if root is None:
                    root = dict(element.attrib)
                elif element.tag == "Sequence":
                    sequences.append((element.get("type", ""), []))
            elif element.tag == "Frame":
                if not sequences:
                    raise ValueError("a Frame lies outside any Sequence")
                sequences[-1][1].append(_frame(element))
                element.clear()
            elif element.tag == "Sequence":
                element.clear()
            elif element.tag == "PVStateValue" and not sequences:
                state[element.get("key")] = _state_value(element)
    except (ET.ParseError, ValueError, TypeError) as exc:
        raise ValueError(f"{xml_path}: malformed PrairieView XML ({exc})") from exc
    sequences = [s for s in sequences if s[1]]
    if root is None or not sequences:
        raise ValueError(f"{xml_path}: no Frame elements")
    return root, sequences, state


def _frame(element: ET.Element) -> _Frame:
    time = element.get("absoluteTime", element.get("relativeTime"))
    if time is None:
        raise ValueError(f"Frame {element.get('index')} has no relativeTime")
    files = {}
    for file in element.iter("File"):
        if file.get("channel") is None or not file.get("filename"):
            raise ValueError(f"Frame {element.get('index')}: a File lacks its channel or filename")
        files[int(file.get("channel"))] = (file.get("filename"), int(file.get("page", "1")) - 1)
    if not files:
        raise ValueError(f"Frame {element.get('index')} lists no File")
    return _Frame(float(time), files)


def _state_value(element: ET.Element) -> float | str | dict:
    """A PVStateValue: its value, or {index: value} of its IndexedValue children."""
    if element.get("value") is not None:
        return _number_or_text(element.get("value"))
    return {item.get("index"): _number_or_text(item.get("value", "")) for item in element.iter("IndexedValue")}


def _number_or_text(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _segments(files: list[tuple[str, int]], folder: pathlib.Path, info: TiffFileInfo) -> list[TiffSegment]:
    """One segment per run of consecutive pages of one file; all files share ``info``'s page size."""
    runs: list[list] = []
    for name, page in files:
        if runs and runs[-1][0] == name and runs[-1][1] + runs[-1][2] == page:
            runs[-1][2] += 1
        else:
            runs.append([name, page, 1])
    return [
        TiffSegment(dataclasses.replace(info, path=(folder / name).resolve(), npages=None), nframes=n, first=page)
        for name, page, n in runs
    ]


def _positive(value: object) -> float | None:
    return float(value) if isinstance(value, float) and value > 0 else None


def _recording_datetime(date: str | None) -> datetime.datetime | None:
    if not date:
        return None
    try:
        return datetime.datetime.strptime(date.strip(), PV_DATE_FORMAT)
    except ValueError:
        return None
