"""Lazy movies over ordered file segments, and the recording types every reader returns.

A reader describes a recording as :class:`RecordingMetadata` plus, per channel and plane, an
ordered list of *segments*: objects with ``path``, ``nframes``, ``height``, ``width``,
``dtype``, ``read(start, stop) -> (stop - start, H, W)`` and ``close()``. :class:`Movie`
stitches the segments into one ``(T, H, W)`` movie that reads only the frames asked for.
"""

from __future__ import annotations

import datetime
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

DROP_GAP_FACTOR = 1.5
MAX_FPS = 10_000.0  # (Hz) no camera or scanner of calcium imaging runs faster; a larger rate is a typo or a bad file


class Segment(Protocol):
    """One movie file, or one channel/plane of one file, read frame range by frame range."""

    path: pathlib.Path
    nframes: int
    height: int
    width: int
    dtype: np.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of this segment, ``(stop - start, height, width)``."""

    def close(self) -> None:
        """Release any open file handle; a later ``read`` reopens it."""


def count_dropped_frames(timestamps: np.ndarray) -> int:
    """Number of frames missing from a timestamp series.

    timestamps: (T,) seconds, increasing. Each interval longer than 1.5 x the median interval
    counts as ``round(gap / median) - 1`` missing frames.
    """
    intervals = np.diff(np.asarray(timestamps, dtype=np.float64))
    if intervals.size == 0:
        return 0
    median = float(np.median(intervals))
    if median <= 0:
        return 0
    gaps = intervals[intervals > DROP_GAP_FACTOR * median]
    return int(np.sum(np.maximum(np.rint(gaps / median) - 1, 0)))


def check_frame_times(timestamps: np.ndarray, *, source: object, rows: np.ndarray | None = None) -> None:
    """Refuse frame times that are not finite numbers or do not increase from frame to frame.

    timestamps: (T,) seconds. source: the file (or setting) they were read from, named in the message.
    rows: (T,) the 1-based data row of ``source`` that holds each frame's time, named in the message;
    None names the 0-based frames instead.

    Raises:
        ValueError: naming ``source`` and the rows (or frames) of the first few bad times.
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if rows is None:
        label, numbers = "frame(s)", np.arange(times.size)
    else:
        label, numbers = "data row(s)", np.asarray(rows)
    not_numbers = ~np.isfinite(times)
    if not_numbers.any():
        raise ValueError(f"{source}: frame times are not finite numbers in {label} {_listed(numbers[not_numbers])}")
    backwards = np.flatnonzero(np.diff(times) <= 0) + 1
    if backwards.size:
        first = backwards[0]
        raise ValueError(
            f"{source}: frame times do not increase in {label} {_listed(numbers[backwards])} (the first is "
            f"{times[first]:.6g} s after {times[first - 1]:.6g} s); the file is damaged or was edited"
        )


def check_fps(fps: object, *, source: object) -> float:
    """``fps`` as a float when it is a frame rate: a finite number of Hz in (0, ``MAX_FPS``].

    Raises:
        ValueError: naming ``source`` (where the rate came from, e.g. ``"<file>: frameRate"``) and the value.
    """
    is_number = isinstance(fps, (int, float, np.number)) and not isinstance(fps, (bool, np.bool_))
    if not (is_number and np.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ValueError(f"{source} {fps!r} is not a frame rate: give a finite number of Hz in (0, {MAX_FPS:g}]")
    return float(fps)


def timestamp_fps(timestamps: np.ndarray, *, source: pathlib.Path) -> float:
    """Frame rate in Hz measured from ``timestamps`` (T,) seconds.

    1 / the mean of the intervals up to 1.5 x the median interval: gaps left by dropped frames
    are excluded, and averaging undoes the rounding of millisecond clocks. Raises ValueError
    naming ``source`` when there are fewer than two timestamps, or they are not finite or do not
    increase (`check_frame_times`).
    """
    if len(timestamps) < 2:
        raise ValueError(f"{source}: need at least 2 timestamps to measure the frame rate, found {len(timestamps)}")
    check_frame_times(timestamps, source=source)
    intervals = np.diff(np.asarray(timestamps, dtype=np.float64))
    median = float(np.median(intervals))
    regular = intervals[intervals <= DROP_GAP_FACTOR * median]
    return check_fps(1.0 / float(np.mean(regular)), source=f"{source}: the frame rate of the timestamps")


def _listed(numbers: np.ndarray) -> str:
    """The first few of ``numbers``, comma-separated."""
    return ", ".join(str(int(n)) for n in numbers[:10]) + (", ..." if len(numbers) > 10 else "")


@dataclass(frozen=True, eq=False)
class RecordingMetadata:
    """What a reader learns about a recording without decoding its frames.

    nframes counts frames per channel and plane; timestamps is (nframes,) float64 seconds from
    the first frame; fps is in Hz; height/width in pixels; um_height/um_width the field of view
    in micrometres when known; files are absolute paths in acquisition order; extra holds other
    JSON-serialisable facts (device name, optional files present, ...). Instances compare by
    identity (they hold arrays).
    """

    software: str
    nchannels: int
    nplanes: int
    nframes: int
    height: int
    width: int
    fps: float
    timestamps: np.ndarray
    dropped_frames: int
    files: tuple[pathlib.Path, ...]
    um_height: float | None = None
    um_width: float | None = None
    gain: float | None = None
    spatial_downsample: int = 1
    led_power: float | None = None
    recording_datetime: datetime.datetime | None = None
    extra: dict = field(default_factory=dict)


class RawRecording:
    """A recording's metadata and a lazy :class:`Movie` per channel and plane.

    segments maps (channel, plane) to that channel's and plane's ordered segments. Every
    movie is checked here (frame sizes, dtypes, frame count against the timestamps).
    """

    def __init__(self, metadata: RecordingMetadata, segments: Mapping[tuple[int, int], Sequence[Segment]]):
        self.metadata = metadata
        self._segments = dict(segments)
        for channel in range(metadata.nchannels):
            for plane in range(metadata.nplanes):
                self.movie(channel=channel, plane=plane)

    def movie(self, *, channel: int = 0, plane: int = 0) -> Movie:
        """The (T, H, W) movie of one channel and plane; nothing is read until asked."""
        meta = self.metadata
        if not 0 <= channel < meta.nchannels:
            raise ValueError(f"channel={channel} is out of range: the recording has {meta.nchannels} channel(s)")
        if not 0 <= plane < meta.nplanes:
            raise ValueError(f"plane={plane} is out of range: the recording has {meta.nplanes} plane(s)")
        return Movie(self._segments[channel, plane], fps=meta.fps, timestamps=meta.timestamps)

    def __repr__(self) -> str:
        meta = self.metadata
        return (
            f"RawRecording({meta.software}, {meta.nframes} frames x {meta.nchannels} channel(s) x "
            f"{meta.nplanes} plane(s), {meta.height}x{meta.width} px, {meta.fps:.3f} Hz)"
        )


class Movie:
    """A lazy (T, H, W) movie read from consecutive file segments.

    Only the frames asked for are read. The file being read stays open, so sequential reads
    continue where the last one stopped; moving on to another file closes the previous one.

    segments: the files in acquisition order, all of the same frame size and dtype.
    fps: frame rate in Hz. timestamps: (T,) seconds.
    """

    def __init__(self, segments: Sequence[Segment], *, fps: float, timestamps: np.ndarray):
        self._open: int | None = None
        if not segments:
            raise ValueError("a movie needs at least one file segment")
        first = segments[0]
        for segment in segments[1:]:
            if (segment.height, segment.width) != (first.height, first.width):
                raise ValueError(
                    f"{segment.path}: frames are {segment.height}x{segment.width} pixels, "
                    f"but {first.path} has {first.height}x{first.width}"
                )
            if segment.dtype != first.dtype:
                raise ValueError(
                    f"{segment.path}: pixel type {segment.dtype} differs from {first.dtype} in {first.path}"
                )
        self._segments = tuple(segments)
        self._bounds = np.cumsum([0] + [s.nframes for s in segments])
        nframes = int(self._bounds[-1])
        timestamps = np.array(timestamps, dtype=np.float64)
        if timestamps.shape != (nframes,):
            raise ValueError(f"timestamps have shape {timestamps.shape}, but the files hold {nframes} frames")
        timestamps.setflags(write=False)
        self.shape = (nframes, int(first.height), int(first.width))
        self.dtype = np.dtype(first.dtype)
        self.fps = float(fps)
        self.timestamps = timestamps

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Movie(shape={self.shape}, dtype={self.dtype}, fps={self.fps:.3f}, files={len(self._segments)})"

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` as a new (stop - start, H, W) array; 0 <= start <= stop <= T."""
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"cannot read frames {start}:{stop} of a {len(self)}-frame movie")
        out = np.empty((stop - start, *self.shape[1:]), dtype=self.dtype)
        first = int(np.searchsorted(self._bounds, start, side="right")) - 1
        position = start
        for index in range(first, len(self._segments)):
            if position >= stop:
                break
            offset = int(self._bounds[index])
            take = min(stop, int(self._bounds[index + 1])) - position
            if take <= 0:
                continue
            self._switch_to(index)
            out[position - start : position - start + take] = self._segments[index].read(
                position - offset, position - offset + take
            )
            position += take
        return out

    def __getitem__(self, index: int | slice) -> np.ndarray:
        """``movie[i]`` is one (H, W) frame; ``movie[a:b]`` is ``read(a, b)`` after clipping."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError(f"movie slices must have step 1, got step {index.step}")
            return self.read(start, max(start, stop))
        if isinstance(index, (int, np.integer)):
            frame = int(index) + len(self) if index < 0 else int(index)
            if not 0 <= frame < len(self):
                raise IndexError(f"frame {index} is out of range for a {len(self)}-frame movie")
            return self.read(frame, frame + 1)[0]
        raise TypeError(f"movie indices must be integers or slices, not {type(index).__name__}")

    def chunks(self, n_frames: int, *, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Consecutive (<= n_frames, H, W) blocks covering frames ``start:stop`` (stop None = T)."""
        stop = len(self) if stop is None else stop
        if n_frames < 1:
            raise ValueError(f"n_frames must be at least 1, got {n_frames}")
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"cannot read frames {start}:{stop} of a {len(self)}-frame movie")
        for begin in range(start, stop, n_frames):
            yield self.read(begin, min(begin + n_frames, stop))

    def close(self) -> None:
        """Close the open file, if any; the movie stays usable and reopens files on demand."""
        if self._open is not None:
            self._segments[self._open].close()
            self._open = None

    def __enter__(self) -> Movie:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _switch_to(self, index: int) -> None:
        if self._open != index:
            self.close()
            self._open = index
