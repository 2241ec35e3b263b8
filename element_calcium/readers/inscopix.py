"""Inscopix ``.isxd`` movies (nVista / nVoke recordings and the movies Inscopix Data Processing writes).

Layout, as Inscopix's isxcore writes and reads it (``MosaicMovieFile``): the file starts with the recorded
frames, each ``height x width`` pixels in C order, little-endian, of ``dataType`` 0 (uint16), 1 (float32) or
2 (uint8); with ``hasFrameHeaderFooter`` each frame is wrapped in a header and a footer of 2560 uint16 values
(sensor lines). Then comes a UTF-8 JSON header, one NUL byte, and the JSON's length in bytes as a little-endian
uint64 (the last 8 bytes). The JSON holds ``type`` (0 for a movie), ``dataType``, ``fileVersion``,
``hasFrameHeaderFooter``, ``spacingInfo`` (``numPixels`` x/y; ``pixelSize`` x/y as ``{num, den}`` micrometres)
and ``timingInfo``: ``numTimes`` frame slots, ``period`` ``{num, den}`` seconds, ``start`` (``secsSinceEpoch``
``{num, den}``, ``utcOffset``), ``dropped`` (frame indices), ``cropped`` (``"a - b"`` inclusive index ranges)
and ``blank`` (frame indices). Dropped, cropped and blank frames are not stored: frame slot ``i`` is the
recorded frame ``i`` minus the invalid slots before it.

The movie here holds the recorded frames only; their timestamps (``slot * period``) keep the gaps, so the
frames missing show as gaps like the other formats' dropped frames. Opening reads the JSON and checks the file
size, without decoding frames.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
import struct

import numpy as np

from element_calcium.readers.movie import RawRecording, RecordingMetadata, check_fps

__all__ = ["IsxdHeader", "IsxdSegment", "is_inscopix_folder", "isxd_files", "read_inscopix", "read_isxd_header"]

ISXD_SUFFIX = ".isxd"
DATA_TYPES = {0: np.dtype("<u2"), 1: np.dtype("<f4"), 2: np.dtype("u1")}
HEADER_FOOTER_VALUES = 2560  # uint16 values in each frame's header and in its footer (isxcore s_numHeaderFooterValues)
MOVIE_TYPE = 0


class IsxdHeader:
    """The JSON header of an ``.isxd`` movie and where its frames lie.

    Attributes:
        path: the file. json: the header as parsed. dtype: pixel type. height, width: pixels.
        has_frame_header_footer: frames are wrapped in 2560-value headers and footers.
        period: seconds between frame slots. slots: frame slots (``numTimes``).
        valid: (n_recorded,) int64 slot of each recorded frame. dropped, cropped, blank: invalid slots.
        frames_end: byte offset where the frames end and the JSON begins.
    """

    def __init__(self, path: pathlib.Path, content: dict, frames_end: int):
        self.path, self.json, self.frames_end = path, content, frames_end
        try:
            kind = int(content["type"])
            data_type = int(content["dataType"])
            pixels = content["spacingInfo"]["numPixels"]
            self.width, self.height = int(pixels["x"]), int(pixels["y"])
            timing = content["timingInfo"]
            self.slots = int(timing["numTimes"])
            self.period = _ratio(timing["period"])
            self.dropped = sorted(int(i) for i in timing.get("dropped") or [])
            self.blank = sorted(int(i) for i in timing.get("blank") or [])
            self.cropped = [i for entry in timing.get("cropped") or [] for i in _index_range(entry)]
        except (KeyError, TypeError, ValueError) as error:
            problem = f"{path}: the .isxd JSON header lacks or garbles {error} (not an Inscopix movie)"
            raise ValueError(problem) from None
        if kind != MOVIE_TYPE:
            raise ValueError(f"{path}: an .isxd file of type {kind}, not a movie (type 0); give the movie file")
        if data_type not in DATA_TYPES:
            raise ValueError(f"{path}: pixel dataType {data_type} is not uint16 (0), float32 (1) or uint8 (2)")
        self.dtype = DATA_TYPES[data_type]
        version = int(content.get("fileVersion", 0))  # isxcore ignores the flag in files of version 0
        self.has_frame_header_footer = version > 0 and bool(content.get("hasFrameHeaderFooter"))
        if self.has_frame_header_footer and data_type != 0:
            raise ValueError(f"{path}: frames with sensor headers must be uint16, the header says dataType {data_type}")
        if min(self.width, self.height, self.slots) < 1 or not self.period > 0:
            raise ValueError(f"{path}: {self.slots} frames of {self.height}x{self.width} pixels every {self.period} s")
        invalid = set(self.dropped) | set(self.blank) | set(self.cropped)
        self.valid = np.array([i for i in range(self.slots) if i not in invalid], dtype=np.int64)

    @property
    def frame_stride(self) -> int:
        """Bytes per recorded frame in the file (pixels plus header and footer)."""
        pixels = self.height * self.width * self.dtype.itemsize
        return pixels + (4 * HEADER_FOOTER_VALUES if self.has_frame_header_footer else 0)

    @property
    def start(self) -> datetime.datetime | None:
        """Local time of the first slot (UTC plus ``utcOffset`` s), or None when the file records none (0)."""
        start = self.json["timingInfo"].get("start") or {}
        try:
            seconds = _ratio(start["secsSinceEpoch"])
        except (KeyError, TypeError, ValueError):
            return None
        if seconds <= 0:
            return None
        offset = float(start.get("utcOffset") or 0)
        return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds + offset)

    def pixel_size_um(self) -> tuple[float | None, float | None]:
        """(y, x) pixel size in micrometres, or None where absent."""
        size = (self.json.get("spacingInfo") or {}).get("pixelSize") or {}
        values = []
        for axis in ("y", "x"):
            try:
                values.append(_ratio(size[axis]))
            except (KeyError, TypeError, ValueError):
                values.append(None)
        return values[0], values[1]


class IsxdSegment:
    """The recorded frames of one ``.isxd`` file (the segment protocol of `readers.movie`)."""

    def __init__(self, header: IsxdHeader):
        self.path = header.path
        self.nframes = len(header.valid)
        self.height, self.width = header.height, header.width
        self.dtype = np.dtype(header.dtype.newbyteorder("="))
        self._header = header
        self._handle = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Recorded frames ``start:stop``, ``(stop - start, height, width)``."""
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(f"{self.path}: cannot read frames {start}:{stop} of {self.nframes}")
        header = self._header
        if self._handle is None:
            self._handle = self.path.open("rb")
        self._handle.seek(start * header.frame_stride)
        raw = np.fromfile(self._handle, dtype=np.uint8, count=(stop - start) * header.frame_stride)
        if raw.size != (stop - start) * header.frame_stride:
            raise ValueError(f"{self.path}: the file ends before frame {stop} (it was truncated after opening)")
        rows = raw.reshape(stop - start, header.frame_stride)
        if header.has_frame_header_footer:
            skip = 2 * HEADER_FOOTER_VALUES
            rows = rows[:, skip : skip + self.height * self.width * header.dtype.itemsize]
        pixels = np.ascontiguousarray(rows).view(header.dtype).reshape(stop - start, self.height, self.width)
        return pixels.astype(self.dtype, copy=False)

    def close(self) -> None:
        """Close the file; a later ``read`` reopens it."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def isxd_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The ``.isxd`` files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ISXD_SUFFIX)


def is_inscopix_folder(folder: pathlib.Path) -> bool:
    """Whether ``folder`` holds an ``.isxd`` file."""
    return bool(isxd_files(folder))


def read_isxd_header(path: str | os.PathLike) -> IsxdHeader:
    """Read and check the JSON header at the end of an ``.isxd`` file (frames are not read).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file too short for the header, a length field pointing outside the file, JSON that does
            not parse, a header that is not a movie's, or frames that do not fill the space before the header
            (a truncated or damaged file). Each message names the file.
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size < 10:
            raise ValueError(f"{path}: {size} bytes, too short for an .isxd header; the file is truncated")
        handle.seek(size - 8)
        (length,) = struct.unpack("<Q", handle.read(8))
        frames_end = size - 8 - 1 - length
        if length < 2 or frames_end < 0:
            raise ValueError(f"{path}: the header length {length} does not fit a {size}-byte file; "
                             "the file is truncated or not an .isxd file")
        handle.seek(frames_end)
        text = handle.read(length + 1)
    if text[-1:] != b"\0":
        raise ValueError(f"{path}: no NUL after the JSON header; the file is truncated or not an .isxd file")
    try:
        content = json.loads(text[:-1].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: the .isxd JSON header does not parse ({error})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: the .isxd JSON header is not an object")
    header = IsxdHeader(path, content, frames_end)
    expected = len(header.valid) * header.frame_stride
    if frames_end != expected:
        raise ValueError(
            f"{path}: {frames_end} bytes of frames, but the header describes {len(header.valid)} recorded frames of "
            f"{header.height}x{header.width} {header.dtype.name} ({expected} bytes); the file is truncated or damaged"
        )
    return header


def read_inscopix(folder: pathlib.Path) -> RawRecording:
    """Open the one ``.isxd`` movie in ``folder`` (or the ``.isxd`` file given) without decoding frames.

    Raises:
        FileNotFoundError: no ``.isxd`` file.
        ValueError: several ``.isxd`` files (pass the one to read), or a file `read_isxd_header` refuses.
    """
    folder = pathlib.Path(folder)
    if folder.is_file():
        files = [folder]
    else:
        files = isxd_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no .isxd file")
    if len(files) > 1:
        raise ValueError(f"{folder}: several .isxd files ({', '.join(p.name for p in files)}); give the movie to read")
    header = read_isxd_header(files[0])
    if len(header.valid) == 0:
        raise ValueError(f"{files[0]}: every frame is dropped, cropped or blank; nothing to read")
    fps = check_fps(1.0 / header.period, source=f"{files[0]}: 1 / timingInfo.period")
    timestamps = header.valid * header.period
    timestamps = timestamps - timestamps[0]
    um_y, um_x = header.pixel_size_um()
    producer = header.json.get("producer") or {}
    metadata = RecordingMetadata(
        software="Inscopix",
        nchannels=1,
        nplanes=1,
        nframes=len(header.valid),
        height=header.height,
        width=header.width,
        fps=fps,
        timestamps=timestamps,
        dropped_frames=len(header.dropped),
        files=(files[0].resolve(),),
        um_height=None if um_y is None else um_y * header.height,
        um_width=None if um_x is None else um_x * header.width,
        recording_datetime=header.start,
        extra={
            "frame_slots": header.slots,
            "cropped_frames": len(header.cropped),
            "blank_frames": len(header.blank),
            "frame_header_footer": header.has_frame_header_footer,
            "producer": producer.get("name") if isinstance(producer, dict) else None,
        },
    )
    return RawRecording(metadata, {(0, 0): [IsxdSegment(header)]})


def _ratio(value: dict) -> float:
    """isxcore's rational ``{"num": n, "den": d}`` as a float."""
    den = float(value["den"])
    if den == 0:
        raise ValueError("a ratio with denominator 0")
    return float(value["num"]) / den


def _index_range(entry: object) -> range:
    """isxcore's IndexRange string (``"7"`` or ``"2 - 5"``, inclusive) or a bare index."""
    if isinstance(entry, int):
        return range(entry, entry + 1)
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(entry))
    if not match:
        raise ValueError(f"cropped range {entry!r}")
    first = int(match[1])
    last = int(match[2]) if match[2] else first
    return range(first, last + 1)
