"""UCLA Miniscope recordings: DAQ software V4 and V3.

V4: a device folder holds ``0.avi, 1.avi, ...`` (FFV1 or uncompressed GREY), ``metaData.json``
(frameRate, gain, led0, ROI, ...) and ``timeStamps.csv`` (``Frame Number, Time Stamp (ms),
Buffer Index`` and optionally ``DAQ Frame Number``); the session folder above it holds a
``metaData.json`` with the start time (``recordingStartTime`` from DAQ software v1.10 on, top-level
``year`` ... ``msec`` fields before) and behaviour-camera folders, which are ignored.

V3: a folder holds ``msCam1.avi ... msCamN.avi`` and a tab-separated ``timestamp.dat``
(``camNum frameNum sysClock buffer``, sysClock in ms) listing the frames of every camera.

Opening reads metadata, AVI headers and the last frame of each AVI only, once per process while the files
stay unchanged (`_parse_cache`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import pathlib
import re
import warnings

import cv2
import numpy as np

from element_calcium.readers import _parse_cache
from element_calcium.readers.movie import (
    RawRecording,
    RecordingMetadata,
    check_fps,
    check_frame_times,
    count_dropped_frames,
    timestamp_fps,
)

V4_METADATA = "metaData.json"
V4_TIMESTAMPS = "timeStamps.csv"
V4_TIME_COLUMN = "Time Stamp (ms)"
V4_DAQ_FRAME_COLUMN = "DAQ Frame Number"
V4_HEAD_ORIENTATION = "headOrientation.csv"
V3_TIMESTAMPS = "timestamp.dat"
V3_COLUMNS = ("camNum", "frameNum", "sysClock", "buffer")

# Analogue gain of the V4 sensor (Python480) for the DAQ software's gain names.
V4_GAIN_NAMES = {"low": 1.0, "medium": 2.0, "high": 3.5}

FPS_WARN_TOLERANCE = 0.05
FPS_ERROR_TOLERANCE = 0.25

_V4_START_FIELDS = ("year", "month", "day", "hour", "minute", "second")
_V4_AVI = re.compile(r"^(\d+)\.avi$", re.IGNORECASE)
_V3_AVI = re.compile(r"^msCam(\d+)\.avi$", re.IGNORECASE)


class AviSegment:
    """One grey-scale AVI file read with OpenCV, checked when opened.

    The header's frame count and size are read and the last frame is decoded, so a truncated
    or corrupt file fails here. Reads return (n, height, width) uint8 frames; a read that
    starts where the previous one stopped continues without seeking.
    """

    def __init__(self, path: pathlib.Path):
        self.path = path
        capture = self._open()
        try:
            self.nframes = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if self.nframes < 0 or self.width <= 0 or self.height <= 0:
                raise ValueError(
                    f"{path}: the AVI header is unreadable (frames={self.nframes}, "
                    f"size={self.width}x{self.height}); the file is truncated or corrupt"
                )
            if self.nframes > 0:
                capture.set(cv2.CAP_PROP_POS_FRAMES, self.nframes - 1)
                self._grey(capture, self.nframes - 1)
        finally:
            capture.release()
        self.dtype = np.dtype(np.uint8)
        self._capture: cv2.VideoCapture | None = None
        self._next = 0

    @classmethod
    def probed(cls, path: pathlib.Path, nframes: int, width: int, height: int) -> AviSegment:
        """The segment of a file whose header and last frame were checked before (the file unchanged since)."""
        segment = cls.__new__(cls)
        segment.path, segment.nframes, segment.width, segment.height = path, nframes, width, height
        segment.dtype, segment._capture, segment._next = np.dtype(np.uint8), None, 0
        return segment

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of this file, (stop - start, height, width) uint8."""
        if self._capture is None:
            self._capture = self._open()
            self._next = 0
        if start != self._next:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, start)
        out = np.empty((stop - start, self.height, self.width), dtype=np.uint8)
        try:
            for i in range(stop - start):
                out[i] = self._grey(self._capture, start + i)
        except ValueError:
            self.close()
            raise
        self._next = stop
        return out

    def close(self) -> None:
        """Release the OpenCV capture; the next read reopens the file."""
        if self._capture is not None:
            self._capture.release()
            self._capture = None

    def _open(self) -> cv2.VideoCapture:
        try:
            capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        except cv2.error as exc:
            raise ValueError(f"{self.path}: cannot open the AVI file ({exc})") from exc
        if not capture.isOpened():
            raise ValueError(f"{self.path}: cannot open the AVI file; it is truncated, corrupt or not a video")
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)  # grey frames as decoded, without a BGR copy
        return capture

    def _grey(self, capture: cv2.VideoCapture, index: int) -> np.ndarray:
        try:
            ok, frame = capture.read()
        except cv2.error as exc:
            raise ValueError(f"{self.path}: frame {index} does not decode ({exc})") from exc
        if not ok or frame is None:
            raise ValueError(
                f"{self.path}: frame {index} of {self.nframes} does not decode; the file is truncated or corrupt"
            )
        # Backends that ignore CONVERT_RGB hand grey video back as BGR with three equal channels.
        grey = frame[..., 0] if frame.ndim == 3 else frame
        if grey.shape != (self.height, self.width):
            raise ValueError(
                f"{self.path}: frame {index} is {grey.shape[0]}x{grey.shape[1]} pixels, "
                f"but the header says {self.height}x{self.width}"
            )
        return grey


def find_v4_device_folder(folder: pathlib.Path) -> pathlib.Path | None:
    """The Miniscope V4 device folder: ``folder`` itself or its one Miniscope sub-folder.

    A device folder holds numbered AVIs and ``metaData.json`` or ``timeStamps.csv``; folders of
    behaviour cameras are skipped. Returns None when there is none; raises ValueError listing
    them when several sub-folders fit, and FileNotFoundError naming a Miniscope device folder
    (device ``metaData.json`` or ``timeStamps.csv``) that holds no numbered AVI.
    """
    if _holds_v4_device(folder):
        return folder
    found = sorted(p for p in folder.iterdir() if p.is_dir() and _holds_v4_device(p) and _is_miniscope(p))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ValueError(f"{folder}: several Miniscope device folders ({names}); pass one of them")
    if not found:
        _refuse_device_without_movies(folder)
    return found[0] if found else None


def _refuse_device_without_movies(folder: pathlib.Path) -> None:
    """FileNotFoundError naming the Miniscope device folder (``folder`` or a sub-folder) that has its metadata
    or frame times but no numbered AVI."""
    for device in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        names = {p.name for p in device.iterdir() if p.is_file()}
        describes_device = V4_TIMESTAMPS in names or (V4_METADATA in names and _device_metadata(device))
        if describes_device and _is_miniscope(device) and not any(_V4_AVI.match(n) for n in names):
            beside = V4_TIMESTAMPS if V4_TIMESTAMPS in names else V4_METADATA
            raise FileNotFoundError(
                f"{device}: no movie file 0.avi (nor 1.avi, ...) beside {beside}; copy the recording's numbered AVI "
                "files into this folder"
            )


def _device_metadata(device: pathlib.Path) -> bool:
    """Whether ``device``'s metaData.json describes a device (not a session folder's recording settings)."""
    try:
        meta = json.loads((device / V4_METADATA).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and ("deviceType" in meta or "deviceName" in meta)


def is_v3_folder(folder: pathlib.Path) -> bool:
    """Whether ``folder`` holds Miniscope DAQ V3 movie files (``msCam<N>.avi``)."""
    return any(_V3_AVI.match(p.name) for p in folder.iterdir() if p.is_file())


def read_miniscope_v4(folder: pathlib.Path) -> RawRecording:
    """Open a Miniscope DAQ V4 recording (session folder or device folder); reads no frames."""
    device = find_v4_device_folder(folder)
    if device is None:
        raise FileNotFoundError(
            f"{folder}: no Miniscope V4 device folder (numbered AVIs 0.avi, 1.avi ... with {V4_METADATA} or "
            f"{V4_TIMESTAMPS}); give the session folder or its device folder"
        )
    return _opened(_parse_cache.parsed(f"v4 {folder.resolve()}", (device, device.parent),
                                       lambda: _parse_v4(folder, device)))


def _opened(parsed: tuple[RecordingMetadata, list[tuple]]) -> RawRecording:
    """A recording from parsed metadata and (path, nframes, width, height) of each AVI, in order."""
    metadata, headers = parsed
    metadata = dataclasses.replace(metadata, timestamps=metadata.timestamps.copy(), extra=dict(metadata.extra))
    return RawRecording(metadata, {(0, 0): [AviSegment.probed(*header) for header in headers]})


def _headers(segments: list[AviSegment]) -> list[tuple]:
    """(path, nframes, width, height) of each probed AVI, for `AviSegment.probed`."""
    return [(s.path, s.nframes, s.width, s.height) for s in segments]


def _parse_v4(folder: pathlib.Path, device: pathlib.Path) -> tuple[RecordingMetadata, list[tuple]]:
    metadata_path = _require(device / V4_METADATA)
    timestamps_path = _require(device / V4_TIMESTAMPS)
    meta = _read_json(metadata_path)
    columns, table = _read_csv(timestamps_path, delimiter=",")
    if V4_TIME_COLUMN not in columns:
        raise ValueError(f"{timestamps_path}: no '{V4_TIME_COLUMN}' column in the header {columns}")
    stamps_ms = table[:, columns.index(V4_TIME_COLUMN)]
    check_frame_times(stamps_ms / 1000.0, source=timestamps_path, rows=np.arange(1, len(stamps_ms) + 1))
    timestamps = (stamps_ms - stamps_ms[0]) / 1000.0

    segments = [AviSegment(p) for p in _numbered_files(device, _V4_AVI, first=0, name="{}.avi")]
    _check_frame_total(segments, len(timestamps), timestamps_path)

    measured = timestamp_fps(timestamps, source=timestamps_path)
    fps = _nominal_fps(meta, metadata_path, measured=measured)
    height, width = segments[0].height, segments[0].width
    extra = {
        "device_folder": device.relative_to(folder).as_posix(),
        "device_name": meta.get("deviceName"),
        "device_type": meta.get("deviceType"),
        "compression": meta.get("compression"),
        "fps_from_timestamps": measured,
        "daq_frame_numbers": V4_DAQ_FRAME_COLUMN in columns,
    }
    roi = meta.get("ROI")
    if isinstance(roi, dict):
        extra["roi"] = roi
        if (roi.get("height"), roi.get("width")) != (height, width):
            warnings.warn(
                f"{metadata_path}: ROI {roi.get('height')}x{roi.get('width')} differs from the "
                f"{height}x{width}-pixel frames of {segments[0].path}; using the frame size",
                stacklevel=2,
            )
    if (device / V4_HEAD_ORIENTATION).is_file():
        extra["head_orientation_file"] = (device / V4_HEAD_ORIENTATION).relative_to(folder).as_posix()

    metadata = RecordingMetadata(
        software="Miniscope-DAQ-V4",
        nchannels=1,
        nplanes=1,
        nframes=len(timestamps),
        height=height,
        width=width,
        fps=fps,
        timestamps=timestamps,
        dropped_frames=count_dropped_frames(timestamps),
        files=tuple(s.path for s in segments),
        gain=_gain(meta.get("gain"), metadata_path),
        led_power=_number(meta.get("led0"), "led0", metadata_path),
        recording_datetime=_recording_start(device.parent / V4_METADATA),
        extra=extra,
    )
    return metadata, _headers(segments)


def read_miniscope_v3(folder: pathlib.Path) -> RawRecording:
    """Open a Miniscope DAQ V3 recording folder; reads no frames.

    The Miniscope's camera is the one in ``timestamp.dat`` whose frame count equals the
    frames of the msCam files. Its first sysClock value is junk and is replaced by the second
    minus the median interval. fps is measured from the timestamps (``timestamp_fps``).
    """
    return _opened(_parse_cache.parsed("v3", (folder,), lambda: _parse_v3(folder)))


def _parse_v3(folder: pathlib.Path) -> tuple[RecordingMetadata, list[tuple]]:
    timestamps_path = _require(folder / V3_TIMESTAMPS)
    segments = [AviSegment(p) for p in _numbered_files(folder, _V3_AVI, first=1, name="msCam{}.avi")]
    total = sum(s.nframes for s in segments)

    columns, table = _read_csv(timestamps_path, delimiter=None)
    missing = [c for c in V3_COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"{timestamps_path}: header {columns} lacks column(s) {missing}; expected {list(V3_COLUMNS)}")
    cameras = table[:, columns.index("camNum")].astype(int)
    counts = {int(c): int(np.sum(cameras == c)) for c in np.unique(cameras)}
    matching = [c for c, n in counts.items() if n == total]
    if len(matching) != 1:
        problem = "no camera has" if not matching else f"cameras {matching} all have"
        raise ValueError(
            f"{timestamps_path}: {problem} as many frames as the msCam files ({total}); frames per camera: {counts}"
        )
    camera = matching[0]
    data_rows = np.flatnonzero(cameras == camera)
    data_rows = data_rows[np.argsort(table[data_rows, columns.index("frameNum")], kind="stable")]
    clock_ms = table[data_rows, columns.index("sysClock")].astype(np.float64)
    if len(clock_ms) < 3:
        raise ValueError(f"{timestamps_path}: camera {camera} has {len(clock_ms)} frames; at least 3 are needed")
    check_frame_times(clock_ms[1:] / 1000.0, source=timestamps_path, rows=data_rows[1:] + 1)
    clock_ms[0] = clock_ms[1] - np.median(np.diff(clock_ms[1:]))
    timestamps = (clock_ms - clock_ms[0]) / 1000.0

    metadata = RecordingMetadata(
        software="Miniscope-DAQ-V3",
        nchannels=1,
        nplanes=1,
        nframes=total,
        height=segments[0].height,
        width=segments[0].width,
        fps=timestamp_fps(timestamps, source=timestamps_path),
        timestamps=timestamps,
        dropped_frames=count_dropped_frames(timestamps),
        files=tuple(s.path for s in segments),
        extra={"camera": camera, "other_cameras": sorted(c for c in counts if c != camera)},
    )
    return metadata, _headers(segments)


def _holds_v4_device(folder: pathlib.Path) -> bool:
    names = {p.name for p in folder.iterdir() if p.is_file()}
    has_avi = any(_V4_AVI.match(n) for n in names)
    return has_avi and (V4_METADATA in names or V4_TIMESTAMPS in names)


def _is_miniscope(device: pathlib.Path) -> bool:
    """False for behaviour cameras: 'behav' in the folder or device name, or a non-Miniscope type."""
    if "behav" in device.name.lower():
        return False
    try:
        meta = json.loads((device / V4_METADATA).read_text())
    except (OSError, ValueError):
        return True
    if not isinstance(meta, dict):
        return True
    name = str(meta.get("deviceName", "")).lower()
    kind = meta.get("deviceType")
    return "behav" not in name and (kind is None or "miniscope" in str(kind).lower())


def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (needed to read the recording in {path.parent})")
    return path


def _numbered_files(folder: pathlib.Path, pattern: re.Pattern, *, first: int, name: str) -> list[pathlib.Path]:
    """Files whose names match ``pattern``, in numeric order; numbers must run first, first+1, ...

    name: the file name pattern with ``{}`` for the number, used to name a missing file.
    """
    numbered = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            numbered[int(match.group(1))] = path.resolve()
    if not numbered:
        raise FileNotFoundError(f"{folder}: no movie files named {name.format('N')}")
    missing = sorted(set(range(first, max(numbered) + 1)) - set(numbered))
    if missing:
        listed = ", ".join(name.format(n) for n in missing)
        raise FileNotFoundError(f"{folder}: movie file(s) {listed} missing from the numbered sequence")
    return [numbered[n] for n in sorted(numbered)]


def _check_frame_total(segments: list[AviSegment], n_timestamps: int, timestamps_path: pathlib.Path) -> None:
    total = sum(s.nframes for s in segments)
    if total != n_timestamps:
        raise ValueError(
            f"{timestamps_path}: {n_timestamps} timestamps, but the {len(segments)} AVI file(s) hold {total} frames"
        )


def _read_json(path: pathlib.Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: malformed JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _read_csv(path: pathlib.Path, *, delimiter: str | None) -> tuple[list[str], np.ndarray]:
    """Header names and an (n_rows, n_columns) float64 table; delimiter None = whitespace."""
    try:
        with path.open() as handle:
            header = handle.readline()
            columns = [c.strip() for c in header.strip().split(delimiter)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # numpy warns on an empty table; checked below
                table = np.loadtxt(handle, delimiter=delimiter, ndmin=2, dtype=np.float64)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed table ({exc})") from exc
    if table.shape[0] == 0:
        raise ValueError(f"{path}: no rows below the header")
    if table.shape[1] != len(columns):
        raise ValueError(f"{path}: the header names {len(columns)} columns {columns}, rows have {table.shape[1]}")
    return columns, table


def _nominal_fps(meta: dict, path: pathlib.Path, *, measured: float) -> float:
    """``frameRate`` from metaData.json ('30FPS' or a number), checked against ``measured`` Hz."""
    raw = meta.get("frameRate")
    if raw is None:
        return measured
    text = str(raw).strip()
    try:
        fps = float(text[:-3] if text.upper().endswith("FPS") else text)
    except ValueError:
        raise ValueError(f"{path}: frameRate {raw!r} is not a frame rate") from None
    fps = check_fps(fps, source=f"{path}: frameRate")
    mismatch = abs(measured - fps) / fps
    message = f"{path}: frameRate {fps:g} Hz but the timestamps run at {measured:.3f} Hz"
    if mismatch > FPS_ERROR_TOLERANCE:
        raise ValueError(message)
    if mismatch > FPS_WARN_TOLERANCE:
        warnings.warn(message, stacklevel=2)
    return fps


def _gain(raw: object, path: pathlib.Path) -> float | None:
    if isinstance(raw, str) and raw.strip().lower() in V4_GAIN_NAMES:
        return V4_GAIN_NAMES[raw.strip().lower()]
    return _number(raw, "gain", path)


def _number(raw: object, key: str, path: pathlib.Path) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {key} {raw!r} is not a number") from None


def _recording_start(path: pathlib.Path) -> datetime.datetime | None:
    """Start of the recording (local time) from the session metaData.json at ``path``.

    DAQ software v1.10 and later write ``recordingStartTime`` {year, month, day, hour, minute, second, msec};
    v1.0x writes the same fields at the top level of the file. Where the file is absent or holds neither
    (or an empty ``recordingStartTime``), warns and returns None; raises ValueError where the fields are not
    a date and time.
    """
    if not path.is_file():
        warnings.warn(f"{path}: no session {V4_METADATA} above the device folder; the recording start time is "
                      "unknown", stacklevel=3)
        return None
    meta = _read_json(path)
    start, where = meta.get("recordingStartTime"), "recordingStartTime"
    if start is None and any(name in meta for name in _V4_START_FIELDS):
        start, where = {name: meta[name] for name in (*_V4_START_FIELDS, "msec") if name in meta}, "start time"
    if not start:
        warnings.warn(f"{path}: no recording start time (neither recordingStartTime nor top-level year, month, "
                      "day, hour, minute, second); the recording's date and time are left empty", stacklevel=3)
        return None
    try:
        return datetime.datetime(
            int(start["year"]),
            int(start["month"]),
            int(start["day"]),
            int(start["hour"]),
            int(start["minute"]),
            int(start["second"]),
            int(start.get("msec", 0)) * 1000,
        )
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {where} {start!r} is not a date and time ({exc})") from exc
