"""The stage of RecordingInfo: a recording's metadata, files and frame times, read from its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from element_calcium import readers
from element_calcium.paths import relative_to_root
from element_calcium.stages.rows import Rows, RunSettings

MIN_FRAMES = 4


@dataclass(frozen=True)
class RecordingInputs:
    """What the stage needs.

    Attributes:
        folder: absolute folder of the raw recording.
        software: its acquisition software (`readers.SOFTWARE`).
        frame_rate: (Hz) given by the user for files that carry none (plain TIFF), else None.
        raw_roots: the raw root folders; stored file paths are relative to the one that holds them.
    """

    folder: Path
    software: str
    frame_rate: float | None
    raw_roots: list[Path]


def run(inputs: RecordingInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The RecordingInfo row and its ``File`` (one per file, in acquisition order) and ``Timestamps`` parts.

    Raises:
        ValueError: the recording is too short (`check_recording`), or its files cannot be read.
    """
    metadata = readers.read_recording(inputs.folder, software=inputs.software, fps=inputs.frame_rate).metadata
    check_recording(metadata, folder=inputs.folder)
    master = {
        "nchannels": metadata.nchannels,
        "nplanes": metadata.nplanes,
        "nframes": metadata.nframes,
        "px_height": metadata.height,
        "px_width": metadata.width,
        "um_height": metadata.um_height,
        "um_width": metadata.um_width,
        "fps": metadata.fps,
        "gain": metadata.gain,
        "spatial_downsample": metadata.spatial_downsample,
        "led_power": metadata.led_power,
        "recording_datetime": metadata.recording_datetime,
        "recording_duration": _duration_s(metadata.timestamps, metadata.fps),
        "extra": metadata.extra,
    }
    return Rows(master=master, parts={
        "File": [{"file_id": file_id, "file_path": relative_to_root(inputs.raw_roots, path)}
                 for file_id, path in enumerate(metadata.files)],
        "Timestamps": [{"frame_times": metadata.timestamps, "dropped_frames": metadata.dropped_frames}],
    })


def check_recording(metadata: readers.RecordingMetadata, *, folder: Path) -> None:
    """Refuse a recording the pipeline cannot process: fewer than ``MIN_FRAMES`` frames per plane.

    Deconvolution (in Segmentation and Activity) fits each trace an autoregressive model of up to second
    order, whose coefficients come from the autocovariance at lags 1..p+1 (p + 2 = 4 frames), and takes
    the trace's noise from the upper half of its power spectrum; shorter recordings leave it nothing to fit.

    Raises:
        ValueError: naming ``folder``, the frame count and the minimum.
    """
    if metadata.nframes < MIN_FRAMES:
        raise ValueError(
            f"{folder}: the recording has {metadata.nframes} frame(s) per plane; the pipeline needs at least "
            f"{MIN_FRAMES} (deconvolution fits each trace a calcium decay model over 4 frames); record longer"
        )


def _duration_s(timestamps: np.ndarray, fps: float) -> float:
    """(s) from the first to the last frame time plus one frame interval; 0 without frames."""
    return float(timestamps[-1] - timestamps[0]) + 1.0 / fps if len(timestamps) else 0.0
