"""Results files under the processed root: written chunk by chunk, published when complete, each naming its key.

A movie file is one HDF5 file holding

- ``/movie``: (T, H, W) frames, chunked in tiles of ``(min(chunk_frames, T), 64, 64)`` pixels so
  that both reads of frame ranges and reads of a spatial region over the whole recording (source
  extraction works patch by patch) touch few chunks; attribute ``fps`` (Hz) plus any attributes
  the writer was given;
- ``/timestamps``: (T,) float64 seconds;
- root attributes ``format`` (``FORMAT``), ``complete`` (True once every frame is written) and,
  for a table's results, ``owner`` (`owner_text`: the schema, table and key the file belongs to).

:class:`MovieWriter` (and `write_hdf5` for other results files) writes to a hidden temporary
sibling of the final name (`paths.temporary_path`) and publishes it only after the last frame is
written (`paths.publish`), never over an existing file: a file that a stored row names is never
replaced, a second computation of the same key appears under a fresh name. A reader never sees a
partial file, and a failed or interrupted write leaves nothing behind (a killed writer's
temporary is found by `paths.is_stale_temporary`). A write that fails (disk full) raises OSError
naming the file, and the process goes on: HDF5 never sees the failure (see `_GuardedFile`).
Readers given an ``owner`` refuse a file that records another one. :func:`open_movie` returns
the lazy :class:`~element_calcium.readers.movie.Movie` every reader returns.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
import math
import os
import pathlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np
from numpy.typing import DTypeLike

from element_calcium import paths
from element_calcium._hdf5 import open_hdf5
from element_calcium.readers.movie import Movie

FORMAT = "element_calcium.movie/1"
OWNER = "owner"  # root attribute of a results file: `owner_text` of the key it belongs to
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


# ---------------------------------------------------------------------------- owners


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    raise TypeError(f"a key value of type {type(value).__name__} cannot be recorded")


def canonical_key(key: Mapping[str, Any]) -> str:
    """``key`` as canonical JSON: sorted names, times in ISO 8601 (milliseconds kept), no spaces."""
    return json.dumps(dict(key), sort_keys=True, default=_json_value, separators=(",", ":"))


def key_digest(key: Mapping[str, Any], *, length: int = 10) -> str:
    """``length`` hex digits of the SHA-256 of `canonical_key`: different keys, different digests."""
    return hashlib.sha256(canonical_key(key).encode()).hexdigest()[:length]


def owner_text(*, table: str, key: Mapping[str, Any], schema: str | None = None) -> str:
    """What a results file records as its owner: canonical JSON of the table (class name), its primary ``key``
    and the database ``schema`` (informational: readers compare table and key)."""
    return json.dumps({"schema": schema, "table": table, "key": json.loads(canonical_key(key))}, sort_keys=True,
                      separators=(",", ":"))


def _owner_of(text: str) -> tuple[str, dict]:
    record = json.loads(text)
    return record["table"], record["key"]


def owner_schema(text: str) -> str | None:
    """The database schema recorded in an owner record (`owner_text`)."""
    return json.loads(text).get("schema")


def describe_owner(text: str) -> str:
    """``"<table> <key as JSON>"`` for messages."""
    table, key = _owner_of(text)
    return f"{table} {json.dumps(key, sort_keys=True)}"


def check_owner(path: str | os.PathLike, found: str | bytes | None, expected: str | None) -> None:
    """ValueError naming ``path`` when the owner ``found`` in it is another table or key than ``expected``.

    ``expected`` None checks nothing; ``found`` None (a file written before owners were recorded) passes.
    """
    if expected is None or found is None:
        return
    found = found.decode() if isinstance(found, bytes) else str(found)
    if _owner_of(found) != _owner_of(expected):
        raise ValueError(
            f"{path}: these are the results of {describe_owner(found)}, not of {describe_owner(expected)}; "
            "two keys share this folder: give each processing task its own processing_output_dir"
        )


def read_owner(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """``(format, owner)`` root attributes of the HDF5 results file ``path`` (None where absent).

    Raises ValueError naming the file when it is not a readable HDF5 file.
    """
    with open_hdf5(pathlib.Path(path)) as h5:
        values = [h5.attrs.get(name) for name in ("format", OWNER)]
    return tuple(value.decode() if isinstance(value, bytes) else (None if value is None else str(value))
                 for value in values)


def refuse_foreign_results(final: str | os.PathLike, owner: str | None) -> None:
    """ValueError when ``final`` or one of its fresh-named versions (`paths.versions`) records another owner.

    A stage calls this before it computes: such a file means another key writes to the same folder.
    Files that are not readable HDF5 results files are not anyone's results and are passed over.
    """
    if owner is None:
        return
    for path in paths.versions(final):
        try:
            _, found = read_owner(path)
        except ValueError:
            continue
        check_owner(path, found, owner)


# ---------------------------------------------------------------------------- writing


class _GuardedFile:
    """The temporary file as HDF5 writes it (h5py's file-object driver), with write errors kept from HDF5.

    HDF5 (2.0) cannot close a file whose cached data it fails to write (disk full when it flushes, at close
    at the latest): the close raises and leaves the file half-closed, and the process crashes with a
    segmentation fault when h5py releases that file later. So the first failed write is kept in ``error``
    and it and every later write are dropped while HDF5 carries on as if they succeeded; HDF5 then closes
    normally and the writer raises ``error`` and deletes the file. The file is opened unbuffered, created
    exclusively (permissions from the umask).
    """

    def __init__(self, path: pathlib.Path):
        self.error: OSError | None = None
        self._file = open(path, "xb+", buffering=0)

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        start = self._file.tell()
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    done += self._file.write(view[done:])
                return len(view)
            except OSError as error:
                self.error = error
        self._file.seek(start + len(view))
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self._file.truncate(size)
            except OSError as error:
                self.error = error
        return self._file.tell() if size is None else size

    def flush(self) -> None:
        """Nothing to do: writes go straight to the file (see `sync`)."""

    def sync(self) -> None:
        """Flush the file's data to disk (fsync), keeping a failure in ``error``."""
        if self.error is None:
            try:
                os.fsync(self._file.fileno())
            except OSError as error:
                self.error = error

    def close(self) -> None:
        self._file.close()


class NewHDF5File:
    """A results file being written: ``h5`` is open on a hidden temporary beside ``path``.

    `finish` publishes it under ``path`` (or a fresh name when ``path`` exists, see `paths.publish`) and
    returns the name; `discard` deletes it. ``owner`` (`owner_text`) is stored as a root attribute.
    ``file_options``: further h5py.File options (e.g. ``rdcc_nbytes``).
    """

    def __init__(self, path: str | os.PathLike, *, owner: str | None = None, **file_options):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temp = paths.temporary_path(self.path)
        self.h5: h5py.File | None = None
        self._raw = _GuardedFile(self.temp)
        try:
            self.h5 = h5py.File(self._raw, "w", **file_options)
            if owner is not None:
                self.h5.attrs[OWNER] = owner
        except BaseException:
            self.discard()
            raise

    def check(self) -> None:
        """Raise the first failed write (OSError naming the file), if any."""
        error = self._raw.error
        if error is not None:
            raise OSError(error.errno, f"{self.path}: writing failed ({error.strerror}); nothing was saved, "
                                       "free space there and run it again")

    @property
    def failed(self) -> bool:
        """Whether a write failed: HDF5 errors that follow come from the data it could not write."""
        return self._raw.error is not None

    def finish(self) -> pathlib.Path:
        """Close, flush to disk and publish the file; returns its name (``path`` or a fresh one)."""
        try:
            h5, self.h5 = self.h5, None
            h5.close()
            self._raw.sync()
            self.check()
            self._raw.close()
            self.path = paths.publish(self.temp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        """Close and delete the temporary file; the final name is left as it was."""
        if self.h5 is not None:
            with contextlib.suppress(Exception):
                self.h5.close()
            self.h5 = None
        self._raw.close()
        self.temp.unlink(missing_ok=True)


@contextlib.contextmanager
def write_hdf5(path: str | os.PathLike, *, owner: str | None = None) -> Iterator[NewHDF5File]:
    """A new results file: write into ``.h5`` of the yielded `NewHDF5File` inside the block; on a clean exit it
    is published (its name is then ``.path``), on an exception deleted."""
    output = NewHDF5File(path, owner=owner)
    try:
        yield output
        output.check()
    except BaseException as error:
        output.discard()
        if isinstance(error, Exception) and output.failed:
            output.check()  # the failed write, not what HDF5 made of it
        raise
    output.finish()


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
    owner: `owner_text` of the key the movie belongs to, recorded in the file; None records none.
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
    ``shape`` is (T, H, W) and ``dtype`` the pixel type of the file's movie. ``owner`` (`owner_text`):
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
    `owner_text`) the results of another key.
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
