"""Movie files under the processed root: written chunk by chunk, published when complete, each naming its key.

A movie file is one HDF5 file holding

- ``/movie``: (T, H, W) frames, chunked in tiles of ``(min(chunk_frames, T), 64, 64)`` pixels so
  that both reads of frame ranges and reads of a spatial region over the whole recording (source
  extraction works patch by patch) touch few chunks; attribute ``fps`` (Hz) plus any attributes
  the writer was given;
- ``/timestamps``: (T,) float64 seconds;
- root attributes ``format`` (``FORMAT``), ``complete`` (True once every frame is written) and,
  for a table's results, ``owner`` (`results_file.owner_text`: the schema, table and key the file belongs to).

:class:`MovieWriter` writes through `results_file.NewHDF5File`: to a hidden temporary sibling of the final
name, published only after the last frame is written and never over an existing file, so a file that a
stored row names is never replaced and a second computation of the same key appears under a fresh name. A
reader never sees a partial file, and a failed or interrupted write leaves nothing behind. Readers given an
``owner`` refuse a file that records another one. :func:`open_movie` returns the lazy
:class:`~element_calcium.readers.movie.Movie` every reader returns. `key_digest` names keys in folder names.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
from numpy.typing import DTypeLike

from element_calcium._hdf5 import open_hdf5
from element_calcium.readers.movie import Movie
from element_calcium.results_file import OWNER, NewHDF5File, canonical_key, check_owner

FORMAT = "element_calcium.movie/1"
COMPRESSIONS = (None, "lzf", "gzip")
_MOVIE = "movie"
_TIMESTAMPS = "timestamps"
_RESERVED_ATTRS = ("fps",)
_MAX_CHUNK_BYTES = 2**32 - 1  # HDF5 limit on the size of one chunk
_TILE = 64  # (pixels) side of the spatial tile of a chunk


def movie_path(output_dir: str | os.PathLike, name: str = "motion_corrected") -> pathlib.Path:
    """The movie file called ``name`` in ``output_dir``: ``output_dir / f"{name}.h5"``."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"movie name must be a plain file name without a leading dot, got {name!r}")
    return pathlib.Path(output_dir) / f"{name}.h5"


def key_digest(key: Mapping[str, Any], *, length: int = 10) -> str:
    """``length`` hex digits of the SHA-256 of `results_file.canonical_key`: different keys, different
    digests."""
    return hashlib.sha256(canonical_key(key).encode()).hexdigest()[:length]


class MovieWriter:
    """Write a (T, H, W) movie to an HDF5 file chunk by chunk; the file appears under its final name only when complete.

    Use as a context manager and call :meth:`write` with consecutive blocks of frames::

        with MovieWriter(path, shape=(T, H, W), dtype=np.float32, fps=20.0) as writer:
            for block in blocks:
                writer.write(block)
        written = writer.path

    Frames go to a hidden temporary file next to ``path`` (same folder, so publishing it is
    atomic); the folder is created if needed. On a clean exit all T frames must have been
    written, and the file is flushed, closed and published under ``path``, or under a fresh name
    beside it when ``path`` exists (an existing file is never replaced): ``writer.path`` is then
    the published file. If the block raises, a write fails (OSError naming the file, e.g. disk
    full) or fewer than T frames were written, the temporary file is deleted and nothing else changes.

    path: the final file. shape: (T, H, W) frames x pixels, each at least 1. dtype: pixel type.
    fps: frame rate in Hz. timestamps: (T,) seconds; None gives ``arange(T) / fps``.
    attrs: extra attributes stored on ``/movie`` (str keys; numbers, strings or small arrays).
    chunk_frames: frames per HDF5 chunk. compression: None (fastest reads), "lzf" or "gzip".
    owner: `results_file.owner_text` of the key the movie belongs to, recorded in the file; None records none.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        shape: tuple[int, int, int],
        dtype: DTypeLike,
        fps: float,
        timestamps: np.ndarray | None = None,
        attrs: Mapping[str, object] | None = None,
        chunk_frames: int = 100,
        compression: str | None = None,
        owner: str | None = None,
    ):
        self.path = pathlib.Path(path)
        if len(shape) != 3 or any(int(n) != n or n < 1 for n in shape):
            raise ValueError(f"{self.path}: shape must be (T, H, W) with positive integers, got {shape}")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "biuf":
            raise ValueError(f"{self.path}: pixel type must be boolean, integer or float, got {self.dtype}")
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"{self.path}: fps must be a positive number of frames per second, got {fps}")
        self.fps = float(fps)
        nframes = self.shape[0]
        if timestamps is None:
            timestamps = np.arange(nframes, dtype=np.float64) / self.fps
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if timestamps.shape != (nframes,):
            raise ValueError(f"{self.path}: timestamps have shape {timestamps.shape}, expected ({nframes},)")
        if not np.all(np.isfinite(timestamps)):
            raise ValueError(f"{self.path}: timestamps contain NaN or infinite values")
        self.timestamps = timestamps
        self.attrs = dict(attrs or {})
        for key in self.attrs:
            if not isinstance(key, str) or key in _RESERVED_ATTRS:
                raise ValueError(
                    f"{self.path}: attribute names must be strings other than {_RESERVED_ATTRS}, got {key!r}"
                )
        if int(chunk_frames) != chunk_frames or chunk_frames < 1:
            raise ValueError(f"{self.path}: chunk_frames must be a positive integer, got {chunk_frames}")
        self.tile = (min(self.shape[1], _TILE), min(self.shape[2], _TILE))
        tile_bytes = self.tile[0] * self.tile[1] * self.dtype.itemsize
        self.chunk_frames = min(int(chunk_frames), nframes, _MAX_CHUNK_BYTES // tile_bytes)
        if compression not in COMPRESSIONS:
            raise ValueError(f"{self.path}: compression must be one of {COMPRESSIONS}, got {compression!r}")
        self.compression = compression
        self.owner = owner
        self.frames_written = 0
        self._output: NewHDF5File | None = None
        self._dataset: h5py.Dataset | None = None

    def __repr__(self) -> str:
        return f"MovieWriter({self.path}, shape={self.shape}, dtype={self.dtype}, written={self.frames_written})"

    def __enter__(self) -> MovieWriter:
        if self._output is not None:
            raise RuntimeError(f"{self.path}: this writer is already open")
        row_bytes = self.chunk_frames * self.tile[0] * self.shape[2] * self.dtype.itemsize
        cache = {"rdcc_nbytes": max(row_bytes + 1, 1 << 20)} if self.compression else {}
        self._output = NewHDF5File(self.path, owner=self.owner, **cache)
        try:
            self._create(self._output.h5)
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, frames: np.ndarray) -> None:
        """Append frames (n, H, W) of the writer's dtype after those already written.

        Raises OSError naming the file when the data cannot be written (e.g. the disk is full).
        """
        if self._dataset is None:
            raise RuntimeError(f"{self.path}: write inside a `with MovieWriter(...)` block")
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != self.shape[1:]:
            raise ValueError(
                f"{self.path}: frames must be (n, {self.shape[1]}, {self.shape[2]}), got shape {frames.shape}"
            )
        if frames.dtype != self.dtype:
            raise ValueError(f"{self.path}: frames are {frames.dtype}, the movie is {self.dtype}")
        start, stop = self.frames_written, self.frames_written + frames.shape[0]
        if stop > self.shape[0]:
            raise ValueError(
                f"{self.path}: writing {frames.shape[0]} frames after {start} would exceed the movie's {self.shape[0]}"
            )
        if stop > start:
            try:
                self._dataset[start:stop] = frames
            except Exception:
                self._output.check()  # a failed write, rather than what HDF5 made of it
                raise
            self._output.check()
        self.frames_written = stop

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            self._discard()
            return
        if self.frames_written != self.shape[0]:
            self._discard()
            raise ValueError(
                f"{self.path}: only {self.frames_written} of {self.shape[0]} frames were written; nothing was saved"
            )
        output, self._output, self._dataset = self._output, None, None
        try:
            output.h5.attrs["complete"] = True
        except BaseException:
            output.discard()
            raise
        self.path = output.finish()

    def _create(self, h5: h5py.File) -> None:
        h5.attrs["format"] = FORMAT
        h5.attrs["complete"] = False
        self._dataset = h5.create_dataset(
            _MOVIE,
            shape=self.shape,
            dtype=self.dtype,
            chunks=(self.chunk_frames, *self.tile),
            compression=self.compression,
        )
        self._dataset.attrs["fps"] = self.fps
        for key, value in self.attrs.items():
            try:
                self._dataset.attrs[key] = value
            except (TypeError, ValueError) as error:
                raise ValueError(f"{self.path}: attribute {key!r} cannot be stored in HDF5 ({error})") from error
        h5.create_dataset(_TIMESTAMPS, data=self.timestamps)

    def _discard(self) -> None:
        self._dataset = None
        if self._output is not None:
            self._output.discard()
            self._output = None


class HDF5Segment:
    """The ``/movie`` dataset of one movie file as a movie segment, opened on first read.

    path: the file. nframes, height, width, dtype: the dataset's (T, H, W) shape and pixel type.
    """

    def __init__(self, path: pathlib.Path, *, nframes: int, height: int, width: int, dtype: np.dtype):
        self.path = path
        self.nframes = nframes
        self.height = height
        self.width = width
        self.dtype = np.dtype(dtype)
        self._file: h5py.File | None = None
        self._dataset: h5py.Dataset | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop``, (stop - start, height, width)."""
        if self._dataset is None:
            try:
                self._file = h5py.File(self.path, "r")
                self._dataset = self._file[_MOVIE]
            except (OSError, KeyError) as error:
                self.close()
                raise ValueError(f"{self.path}: cannot open the movie file ({error})") from error
        try:
            return self._dataset[start:stop]
        except OSError as error:
            raise ValueError(f"{self.path}: frames {start}:{stop} cannot be read ({error})") from error

    def close(self) -> None:
        """Close the file; the next read reopens it."""
        self._dataset = None
        if self._file is not None:
            self._file.close()
            self._file = None


class MovieRegions:
    """Spatial regions of a movie file over a range of frames, for patch-wise processing.

    Use as a context manager: ``with MovieRegions(path) as regions: regions.read(0, T, 0, 64, 0, 64)``.
    ``shape`` is (T, H, W) and ``dtype`` the pixel type of the file's movie. ``owner`` (`results_file.owner_text`):
    refuse a file that records another owner (ValueError naming it).
    """

    def __init__(self, path: str | os.PathLike, *, owner: str | None = None):
        self.path = pathlib.Path(path)
        with _open_checked(self.path, owner=owner) as h5:
            self.shape = tuple(int(n) for n in h5[_MOVIE].shape)
            self.dtype = h5[_MOVIE].dtype
        self._file: h5py.File | None = None

    def __enter__(self) -> MovieRegions:
        self._file = h5py.File(self.path, "r")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self, start: int, stop: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels ``[y0:y1, x0:x1]`` of frames ``start:stop``, (stop - start, y1 - y0, x1 - x0)."""
        if self._file is None:
            raise RuntimeError(f"{self.path}: read inside a `with MovieRegions(...)` block")
        try:
            return self._file[_MOVIE][start:stop, y0:y1, x0:x1]
        except OSError as error:
            raise ValueError(f"{self.path}: region [{y0}:{y1}, {x0}:{x1}] of frames {start}:{stop} "
                             f"cannot be read ({error})") from error


def open_movie(path: str | os.PathLike, *, owner: str | None = None) -> Movie:
    """The movie in the file written by :class:`MovieWriter` as a lazy (T, H, W) :class:`Movie`.

    Shape, dtype, fps (Hz) and timestamps (T,) seconds come from the file; frames are read only
    when asked. Raises FileNotFoundError if the file is missing, ValueError naming the file if
    it is not an HDF5 file, not a movie file of this package, incomplete, or (given ``owner``,
    `results_file.owner_text`) the results of another key.
    """
    path = pathlib.Path(path)
    with _open_checked(path, owner=owner) as h5:
        dataset = h5[_MOVIE]
        nframes, height, width = dataset.shape
        segment = HDF5Segment(path, nframes=nframes, height=height, width=width, dtype=dataset.dtype)
        fps = float(dataset.attrs["fps"])
        timestamps = h5[_TIMESTAMPS][()]
    return Movie([segment], fps=fps, timestamps=timestamps)


def read_movie_attrs(path: str | os.PathLike) -> dict:
    """The attributes stored on the movie (``fps`` in Hz and those given to :class:`MovieWriter`)."""
    path = pathlib.Path(path)
    with _open_checked(path) as h5:
        return {key: _plain(value) for key, value in h5[_MOVIE].attrs.items()}


@contextlib.contextmanager
def _open_checked(path: pathlib.Path, *, owner: str | None = None):
    if not path.exists():
        raise FileNotFoundError(f"{path}: movie file not found")
    with open_hdf5(path) as h5:
        found = h5.attrs.get("format")
        found = found.decode() if isinstance(found, bytes) else found
        if found != FORMAT:
            raise ValueError(
                f"{path}: not an element_calcium movie file (format attribute {found!r}, expected {FORMAT!r})"
            )
        if not bool(h5.attrs.get("complete", False)):
            raise ValueError(f"{path}: the movie file is incomplete (its writing did not finish)")
        check_owner(path, h5.attrs.get(OWNER), owner)
        movie = h5.get(_MOVIE)
        if not isinstance(movie, h5py.Dataset) or movie.ndim != 3:
            raise ValueError(f"{path}: no (T, H, W) dataset '/{_MOVIE}'")
        times = h5.get(_TIMESTAMPS)
        if not isinstance(times, h5py.Dataset) or times.shape != movie.shape[:1]:
            raise ValueError(f"{path}: '/{_TIMESTAMPS}' is missing or does not hold one time per frame")
        fps = movie.attrs.get("fps")
        if fps is None or not float(fps) > 0:
            raise ValueError(f"{path}: '/{_MOVIE}' has no positive 'fps' attribute")
        yield h5


def _plain(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value
