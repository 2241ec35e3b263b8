"""What the format writers share: the movie as a stream of frames, the `WrittenRecording` they return, the device
clock of the timestamps, and files written under a temporary name and renamed when complete."""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from element_calcium.simulate._checks import check_number

_CHUNK = 64  # frames read from the movie at a time
START = datetime(2024, 5, 17, 13, 47, 3, 117000, tzinfo=timezone.utc)  # recording start written in metadata


@dataclass(frozen=True)
class WrittenRecording:
    """What a correct reader of the written files must report.

    Attributes:
        path: the folder a user would ingest (V4: the session folder; V3: the folder; TIFF: the folder holding
            the stack).
        files: movie files in acquisition order.
        nframes: frames in the files (per channel).
        height, width: frame size in pixels.
        fps: nominal frame rate, frames per second.
        timestamps: (nframes,) float64 seconds of each frame in the files, the first at 0.0.
        dropped_frames: frames the device dropped (absent from the files; gaps in the timestamps).
        nchannels: channels per frame.
    """

    path: pathlib.Path
    files: tuple[pathlib.Path, ...]
    nframes: int
    height: int
    width: int
    fps: float
    timestamps: np.ndarray
    dropped_frames: int
    nchannels: int = 1

    def __repr__(self) -> str:
        """One line: the folder and the numbers, not every timestamp and file."""
        return (
            f"WrittenRecording(path={str(self.path)!r}, files={len(self.files)}, nframes={self.nframes}, "
            f"size={self.height}x{self.width}, fps={self.fps:g}, dropped_frames={self.dropped_frames}, "
            f"nchannels={self.nchannels})"
        )


@dataclass(frozen=True)
class Source:
    n_frames: int
    height: int
    width: int
    dtype: np.dtype
    fps: float
    chunks: Callable[[int], Iterable[np.ndarray]]

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, (H, W) C-contiguous."""
        count = 0
        for chunk in self.chunks(_CHUNK):
            for frame in chunk:
                count += 1
                yield np.ascontiguousarray(frame)
        if count != self.n_frames:
            raise ValueError(f"movie gave {count} frames, but its shape says {self.n_frames}")


def source_of(movie, fps) -> Source:
    if isinstance(movie, np.ndarray):
        if movie.ndim != 3 or 0 in movie.shape:
            raise ValueError(f"movie must be a non-empty (T, H, W) array, got shape {movie.shape}")
        if fps is None:
            raise ValueError("fps is required when movie is an array")
        n_frames, height, width = movie.shape
        dtype = movie.dtype

        def chunks(n):
            return (movie[i : i + n] for i in range(0, n_frames, n))

    elif all(hasattr(movie, name) for name in ("shape", "dtype", "fps", "chunks")):
        if len(movie.shape) != 3:
            raise ValueError(f"movie must have shape (T, H, W), got {movie.shape}")
        n_frames, height, width = movie.shape
        dtype, chunks = movie.dtype, movie.chunks
        fps = movie.fps if fps is None else fps
    else:
        raise ValueError(f"movie must be a SimulatedMovie or a (T, H, W) array, got {type(movie).__name__}")
    fps = check_number("fps", fps, 0.0, strict=True)
    return Source(int(n_frames), int(height), int(width), np.dtype(dtype), fps, chunks)


def recording(folder, files, source: Source, timestamps, keep) -> WrittenRecording:
    return WrittenRecording(
        path=folder,
        files=tuple(files),
        nframes=int(keep.sum()),
        height=source.height,
        width=source.width,
        fps=source.fps,
        timestamps=np.asarray(timestamps, dtype=np.float64),
        dropped_frames=int((~keep).sum()),
    )


def device_clock(rng, fps: float, keep: np.ndarray, *, resolution_ms: float) -> np.ndarray:
    """Device clock of the kept frames in ms, float64: nominal grid plus up to 1 ms jitter, first kept frame at 0,
    rounded to `resolution_ms`."""
    n = len(keep)
    jitter = min(1.0, 200.0 / fps)  # ms; at most a fifth of a frame interval
    times = np.arange(n) * 1000.0 / fps + rng.uniform(-jitter, jitter, n)
    times = times[keep] - times[keep][0]
    clock = np.round(times / resolution_ms) * resolution_ms
    if np.any(np.diff(clock) <= 0):
        raise ValueError(f"fps={fps} is too high for timestamps at {resolution_ms:g} ms resolution")
    return clock


@contextlib.contextmanager
def atomic(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary name beside `path` (same extension), renamed to `path` on success, removed on failure."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: pathlib.Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def empty_folder(folder) -> pathlib.Path:
    folder = pathlib.Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"folder must be empty or absent: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def json_number(value) -> int | float:
    """A number as JSON writes it: an int when whole."""
    return int(value) if float(value).is_integer() else float(value)
