"""HDF5 files: opened read-only with errors that name the file, written atomically."""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
from collections.abc import Iterator

import h5py


def open_hdf5(path: pathlib.Path) -> h5py.File:
    """``path`` opened read-only; ValueError naming it when it is not a readable HDF5 file."""
    if not path.is_file() or not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: cannot open the HDF5 file ({error})") from error


@contextlib.contextmanager
def atomic_hdf5(path: pathlib.Path) -> Iterator[h5py.File]:
    """A new HDF5 file written under a hidden temporary name and renamed to ``path`` on success.

    On any exception the temporary file is deleted and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.partial-{secrets.token_hex(8)}")
    try:
        with h5py.File(temp, "x") as h5:
            yield h5
        fsync(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def fsync(path: pathlib.Path) -> None:
    """Flush ``path``'s data to disk before it is renamed into place."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
