"""Results files under the processed root: each records the key it belongs to, and is written to a hidden
temporary and published only when complete.

- Owners: a results file of a table's row records `owner_text` (the schema, table and key) as its root
  attribute ``owner`` (`OWNER`); readers given an owner refuse a file that records another (`check_owner`),
  and a stage refuses to compute into a folder that holds another key's results (`refuse_foreign_results`).
- Writing: `write_hdf5` (and `NewHDF5File` under it) writes to a hidden temporary sibling of the final name
  (`paths.temporary_path`) and publishes it only when complete (`paths.publish`), never over an existing file.
  A write that fails (disk full) raises OSError naming the file, and the process goes on: HDF5 never sees the
  failure (see `_GuardedFile`).

Movie files, written and read frame by frame, are `storage`'s.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import json
import os
import pathlib
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import h5py
import numpy as np

from element_calcium import paths
from element_calcium._hdf5 import open_hdf5

OWNER = "owner"  # root attribute of a results file: `owner_text` of the key it belongs to


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
