"""Acquisition formats -> lazy movies with metadata.

``read_recording(folder)`` recognises the acquisition software from the files in ``folder``
and returns a :class:`RawRecording`: its :class:`RecordingMetadata` (frame count, size, frame
rate, timestamps, files, ...) and a lazy :class:`Movie` per channel and plane that reads
frames only when asked.

Beside the recordings: CalSciPy's raw binary movies (`read_binary`, `write_binary`); PrairieView's per-frame
TIFFs repackaged as stacks (`repackage_bruker_tiffs`); PrairieView photostimulation and voltage output protocols
(`read_mark_points`, `read_galvo_point_list`, `read_voltage_output`) and voltage samples aligned to frames
(`align_voltage_to_frames`).
"""

from __future__ import annotations

import math
import os
import pathlib

from element_calcium.readers._bruker_markpoints import (
    GalvoPoint,
    GalvoPointGroup,
    GalvoPointList,
    MarkPointElement,
    MarkPointSeries,
    StimulationPoint,
    StimulationTargets,
    read_galvo_point_list,
    read_mark_points,
)
from element_calcium.readers._bruker_repackage import RepackagedStacks, repackage_bruker_tiffs
from element_calcium.readers._bruker_voltage import (
    AlignedSamples,
    FixedVoltage,
    PulseTrain,
    VoltageOutput,
    Waveform,
    WaveformComponent,
    align_voltage_to_frames,
    read_voltage_output,
)
from element_calcium.readers.binary import read_binary, write_binary
from element_calcium.readers.bruker import is_bruker_folder, read_bruker
from element_calcium.readers.inscopix import is_inscopix_folder, read_inscopix
from element_calcium.readers.miniscope import find_v4_device_folder, is_v3_folder, read_miniscope_v3, read_miniscope_v4
from element_calcium.readers.movie import (
    MAX_FPS,
    Movie,
    RawRecording,
    RecordingMetadata,
    count_dropped_frames,
)
from element_calcium.readers.tiff import read_scanimage, read_tiff, scanimage_frame_data, tiff_files

__all__ = [
    "MAX_FPS",
    "SOFTWARE",
    "AlignedSamples",
    "FixedVoltage",
    "GalvoPoint",
    "GalvoPointGroup",
    "GalvoPointList",
    "MarkPointElement",
    "MarkPointSeries",
    "Movie",
    "PulseTrain",
    "RawRecording",
    "RecordingMetadata",
    "RepackagedStacks",
    "StimulationPoint",
    "StimulationTargets",
    "VoltageOutput",
    "Waveform",
    "WaveformComponent",
    "align_voltage_to_frames",
    "count_dropped_frames",
    "detect_software",
    "read_binary",
    "read_galvo_point_list",
    "read_mark_points",
    "read_recording",
    "read_voltage_output",
    "repackage_bruker_tiffs",
    "write_binary",
]

SOFTWARE = ("Miniscope-DAQ-V3", "Miniscope-DAQ-V4", "ScanImage", "Bruker-PrairieView", "TIFF", "Inscopix")


def detect_software(folder: str | os.PathLike) -> str:
    """The acquisition software (one of ``SOFTWARE``) that wrote the recording in ``folder``.

    Miniscope V4: the folder or exactly one Miniscope sub-folder holds numbered AVIs with
    metaData.json / timeStamps.csv. Miniscope V3: msCam<N>.avi files. Bruker: a PrairieView
    XML file. Inscopix: an ``.isxd`` movie. ScanImage: TIFF files with ScanImage metadata. TIFF: other TIFF
    files.
    Raises FileNotFoundError if the folder does not exist, ValueError if nothing fits.
    """
    folder = _existing_folder(folder)
    if find_v4_device_folder(folder) is not None:
        return "Miniscope-DAQ-V4"
    if is_v3_folder(folder):
        return "Miniscope-DAQ-V3"
    if is_bruker_folder(folder):
        return "Bruker-PrairieView"
    if is_inscopix_folder(folder):
        return "Inscopix"
    tiffs = tiff_files(folder)
    if tiffs:
        return "ScanImage" if scanimage_frame_data(tiffs[0]) is not None else "TIFF"
    entries = sorted(p.name for p in folder.iterdir())
    if not entries:
        raise ValueError(f"{folder}: the folder is empty")
    shown = ", ".join(entries[:10]) + (", ..." if len(entries) > 10 else "")
    raise ValueError(f"{folder}: no recording of a known format ({', '.join(SOFTWARE)}) among: {shown}")


def read_recording(folder: str | os.PathLike, *, software: str | None = None, fps: float | None = None) -> RawRecording:
    """Open the recording in ``folder`` without reading its frames.

    software: one of ``SOFTWARE``; None detects it (``detect_software``).
    fps: frame rate in Hz of plain TIFF stacks, which is required there (a finite number in
    (0, ``MAX_FPS``]); the other formats record their own frame rate, and passing fps for them
    raises ValueError. None or NaN (a database null) means not given.
    """
    folder = _existing_folder(folder)
    fps = None if isinstance(fps, float) and math.isnan(fps) else fps
    software = detect_software(folder) if software is None else software
    if software not in SOFTWARE:
        raise ValueError(f"software must be one of {SOFTWARE}, got {software!r}")
    if software == "TIFF":
        return read_tiff(folder, fps=fps)
    if fps is not None:
        raise ValueError(f"{folder}: {software} recordings carry their own frame rate; fps applies to plain TIFF only")
    readers = {
        "Miniscope-DAQ-V3": read_miniscope_v3,
        "Miniscope-DAQ-V4": read_miniscope_v4,
        "ScanImage": read_scanimage,
        "Bruker-PrairieView": read_bruker,
        "Inscopix": read_inscopix,
    }
    return readers[software](folder)


def _existing_folder(folder: str | os.PathLike) -> pathlib.Path:
    path = pathlib.Path(folder).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path}: folder not found")
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder (give the folder that holds the recording's files)")
    return path
