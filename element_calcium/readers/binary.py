"""Raw binary movies in CalSciPy's layout: frames in a ``.bin`` file, their shape and dtype in a ``.json``.

CalSciPy's ``save_binary`` writes ``<name>.bin`` (the (frames, y, x) array's bytes in C order, native byte
order, no header) and, beside it, ``<name>.json`` holding one object with the keys ``frames``, ``y``, ``x``
and ``dtype`` (a NumPy dtype name such as ``"uint16"``), e.g. ``{"frames": 100, "y": 512, "x": 512,
"dtype": "uint16"}``. The default name is ``binary_video``, so a folder stands for
``<folder>/binary_video.bin``. CalSciPy's ``load_binary`` accepts metadata that lacks one of the three
shape keys and infers it from the file size; so does `read_binary`.

`read_binary` returns a lazy :class:`~element_calcium.readers.movie.Movie` that reads only the frames asked
for; `write_binary` streams any (T, H, W) array or movie to disk chunk by chunk, under temporary names
renamed when complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Callable, Mapping

import numpy as np

from element_calcium.readers.movie import Movie, check_fps

__all__ = ["DEFAULT_BINARY_NAME", "BinaryFiles", "BinarySegment", "binary_files", "read_binary", "write_binary"]

DEFAULT_BINARY_NAME = "binary_video"
SHAPE_KEYS = ("frames", "y", "x")
_WRITE_CHUNK_BYTES = 64 * 2**20  # bytes per chunk written (frames are whole; at least one frame per chunk)


@dataclasses.dataclass(frozen=True)
class BinaryFiles:
    """The two files of one binary movie.

    Attributes:
        data: the ``.bin`` file of raw frames.
        metadata: the ``.json`` file with ``frames``, ``y``, ``x`` and ``dtype``.
    """

    data: pathlib.Path
    metadata: pathlib.Path


def binary_files(path: str | os.PathLike) -> BinaryFiles:
    """The ``.bin`` and ``.json`` a path stands for, as CalSciPy resolves it.

    path: a folder (its ``binary_video.bin``), a ``.bin`` or ``.json`` file, or a path without extension
    (its stem names both files). Nothing is checked on disk.
    """
    path = pathlib.Path(path).expanduser()
    if path.is_dir():
        path = path / DEFAULT_BINARY_NAME
    elif path.suffix.lower() not in (".bin", ".json"):
        path = path.with_name(path.name + ".bin")
    return BinaryFiles(data=path.with_suffix(".bin"), metadata=path.with_suffix(".json"))


class BinarySegment:
    """One ``.bin`` file read frame range by frame range (the segment protocol of `readers.movie`)."""

    def __init__(self, path: pathlib.Path, *, nframes: int, height: int, width: int, dtype: np.dtype):
        self.path = path
        self.nframes = nframes
        self.height = height
        self.width = width
        self.dtype = np.dtype(dtype)
        self._frame_bytes = height * width * self.dtype.itemsize
        self._handle = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of the file, ``(stop - start, height, width)``."""
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(f"{self.path}: cannot read frames {start}:{stop} of {self.nframes}")
        if self._handle is None:
            self._handle = self.path.open("rb")
        self._handle.seek(start * self._frame_bytes)
        count = (stop - start) * self.height * self.width
        frames = np.fromfile(self._handle, dtype=self.dtype, count=count)
        if frames.size != count:
            raise ValueError(f"{self.path}: the file ends before frame {stop} (it was truncated after opening)")
        return frames.reshape(stop - start, self.height, self.width)

    def close(self) -> None:
        """Close the file; a later ``read`` reopens it."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def read_binary(path: str | os.PathLike, *, fps: float, metadata: Mapping | None = None) -> Movie:
    """Open a binary movie lazily (nothing but the metadata and the file size is read).

    Args:
        path: a folder, a ``.bin``/``.json`` file or a stem (`binary_files`).
        fps: frame rate in Hz (the files carry none); the timestamps are ``arange(frames) / fps`` seconds.
        metadata: ``{"frames", "y", "x", "dtype"}`` given by hand (CalSciPy's ``missing_metadata``) in place of
            the ``.json``, e.g. when it was lost; one of the shape keys may be left out.

    Returns:
        A (frames, y, x) :class:`Movie` of the metadata's dtype.

    Raises:
        FileNotFoundError: the ``.bin`` file, or the ``.json`` when no ``metadata`` is given, is missing.
        ValueError: unreadable metadata, a missing dtype or more than one missing shape key, a size that is
            not a positive integer, or a ``.bin`` whose size is not the frames' (a truncated or longer file).
    """
    files = binary_files(path)
    for file in (files.data,) if metadata is not None else (files.data, files.metadata):
        if not file.is_file():
            raise FileNotFoundError(f"{file}: file not found (a binary movie needs both its .bin and .json)")
    fps = check_fps(fps, source=f"{files.data}: fps")
    if metadata is None:
        source = files.metadata.name
        dtype, shape = _metadata(files.metadata, _json_object(files.metadata))
    else:
        source = "the metadata given"
        dtype, shape = _metadata(f"{files.data}: metadata", dict(metadata))
    size = files.data.stat().st_size
    frame_count, height, width = _complete_shape(shape, dtype, size, files.data, source)
    expected = frame_count * height * width * dtype.itemsize
    if size != expected:
        what = "truncated" if size < expected else "longer than its metadata says"
        raise ValueError(
            f"{files.data}: {size} bytes, but {source} describes {frame_count} frames of "
            f"{height}x{width} {dtype} ({expected} bytes); the file is {what}"
        )
    segment = BinarySegment(files.data, nframes=frame_count, height=height, width=width, dtype=dtype)
    return Movie([segment], fps=fps, timestamps=np.arange(frame_count) / fps)


def write_binary(
    path: str | os.PathLike,
    movie,
    *,
    chunk_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BinaryFiles:
    """Write a movie as CalSciPy's ``.bin`` + ``.json``, streaming it chunk by chunk.

    Args:
        path: a ``.bin`` (or ``.json``) file name, or else a folder (created if absent) to hold
            ``binary_video.bin`` and ``.json``, as CalSciPy's ``save_binary`` decides. Existing files of that name
            are replaced only once the new ones are complete.
        movie: a (T, H, W) NumPy array, or an object with ``shape``, ``dtype`` and ``read(start, stop)``
            (a :class:`Movie`); only one chunk is in memory at a time.
        chunk_frames: frames per chunk; None keeps a chunk near 64 MiB.
        progress: called with (frames written, total frames) after each chunk.

    Returns:
        The two files written. The ``.bin`` holds the frames in native byte order; the ``.json`` the keys
        ``frames``, ``y``, ``x``, ``dtype`` in CalSciPy's order.
    """
    shape = tuple(int(n) for n in movie.shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"movie must be a non-empty (T, H, W) stack, got shape {shape}")
    dtype = np.dtype(movie.dtype).newbyteorder("=")
    frame_bytes = shape[1] * shape[2] * dtype.itemsize
    if chunk_frames is None:
        chunk_frames = max(1, _WRITE_CHUNK_BYTES // frame_bytes)
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
    path = pathlib.Path(path).expanduser()
    if path.suffix.lower() not in (".bin", ".json"):
        path = path / DEFAULT_BINARY_NAME
    files = binary_files(path)
    files.data.parent.mkdir(parents=True, exist_ok=True)
    read = movie.read if hasattr(movie, "read") else (lambda start, stop: movie[start:stop])
    partial = files.data.with_name(files.data.name + ".partial")
    try:
        with partial.open("wb") as handle:
            for start in range(0, shape[0], chunk_frames):
                stop = min(start + chunk_frames, shape[0])
                np.ascontiguousarray(read(start, stop), dtype=dtype).tofile(handle)
                if progress is not None:
                    progress(stop, shape[0])
        metadata = {"frames": shape[0], "y": shape[1], "x": shape[2], "dtype": dtype.name}
        meta_partial = files.metadata.with_name(files.metadata.name + ".partial")
        meta_partial.write_text(json.dumps(metadata))
        os.replace(partial, files.data)
        os.replace(meta_partial, files.metadata)
    finally:
        for leftover in (partial, files.metadata.with_name(files.metadata.name + ".partial")):
            leftover.unlink(missing_ok=True)
    return files


def _json_object(path: pathlib.Path) -> dict:
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a JSON object with frames, y, x and dtype")
    return content


def _metadata(path: pathlib.Path | str, content: dict) -> tuple[np.dtype, dict[str, int | None]]:
    """The dtype and the shape keys (None where absent) of CalSciPy metadata read from ``path``."""
    if not content.get("dtype"):
        raise ValueError(f"{path}: no 'dtype' (give the pixel type, e.g. \"uint16\")")
    try:
        dtype = np.dtype(content["dtype"])
    except TypeError as error:
        raise ValueError(f"{path}: dtype {content['dtype']!r} is not a NumPy dtype") from error
    if dtype.kind not in "uif":
        raise ValueError(f"{path}: dtype {content['dtype']!r} is not an integer or float pixel type")
    shape: dict[str, int | None] = {}
    for key in SHAPE_KEYS:
        value = content.get(key)
        if value in (None, -1):
            shape[key] = None
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path}: {key!r} is {value!r}, not a positive integer")
        else:
            shape[key] = value
    missing = [key for key in SHAPE_KEYS if shape[key] is None]
    if len(missing) > 1:
        raise ValueError(f"{path}: {', '.join(missing)} missing; at least two of frames, y, x are needed")
    return dtype, shape


def _complete_shape(shape: dict, dtype: np.dtype, size: int, data: pathlib.Path, source: str) -> tuple[int, int, int]:
    """(frames, y, x), the one missing key (if any) inferred from the file size."""
    missing = [key for key in SHAPE_KEYS if shape[key] is None]
    if missing:
        known = int(np.prod([shape[key] for key in SHAPE_KEYS if shape[key] is not None])) * dtype.itemsize
        if size == 0 or size % known:
            raise ValueError(
                f"{data}: {size} bytes is not a whole number of {known}-byte units, so "
                f"{missing[0]!r} (absent from {source}) cannot be inferred"
            )
        shape = {**shape, missing[0]: size // known}
    return shape["frames"], shape["y"], shape["x"]
