"""HDF5 files opened read-only with errors that name the file (written by `element_calcium.storage`)."""

from __future__ import annotations

import pathlib

import h5py


def open_hdf5(path: pathlib.Path) -> h5py.File:
    """``path`` opened read-only; ValueError naming it when it is not a readable HDF5 file."""
    if not path.is_file() or not h5py.is_hdf5(path):
        raise ValueError(f"{path}: not an HDF5 file")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path}: cannot open the HDF5 file ({error})") from error
