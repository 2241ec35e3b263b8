"""minian results: the zarr stores or the netCDF file of a minian output folder.

minian's ``save_minian`` writes each variable with xarray's ``to_zarr`` as a zarr v2 group
``<name>.zarr`` in the output folder: the variable is the array ``<name>`` of that group, its
dimension names are the ``_ARRAY_DIMENSIONS`` attribute of the array, and each dimension
with coordinates has an array of its own name in the group (``unit_id``, ``frame``,
``shift_dim``, ...). Older minian versions append every variable to one netCDF4 file
(``minian.nc``): an HDF5 file with one dataset per variable whose dimensions are HDF5
dimension scales named after them (holding the coordinates of dimensions that have some).
The zarr stores are read with the ``zarr`` package (the ``minian`` extra), the netCDF file
with h5py. Dimensions are found by name, never by position.

Variables read: ``A`` (unit_id, height, width) footprints; ``C`` (denoised calcium), ``S``
(deconvolved spikes) and ``YrA`` (residual; minian's pipeline keeps it with its intermediate
results, so an output folder often lacks it), each (unit_id, frame); ``b`` (height, width) and
``f`` (frame), the background of the CNMF model (small: minian removes the background before
CNMF); ``motion`` (frame, shift_dim) with ``shift_dim`` coordinates ``["height", "width"]``, or
before minian 1.0 ``shifts`` (frame, variable) with ``variable`` coordinates ``["height",
"width"]``, same meaning; ``max_proj`` (height, width), the maximum projection of the
motion-corrected movie. Other coordinates (``unit_labels``, ``session``, ``animal``, ...) are
ignored. A missing zarr chunk reads as the array's fill value, NaN for minian's floats, so NaN
in any of them is refused.

Motion convention, checked against minian's ``motion_correction.py``:
``est_motion_perframe(frame, template)`` returns ``-phase_cross_correlation(frame, template)``
and ``transform_perframe`` resamples a frame at ``p - motion``, moving its content by
``motion`` to correct it (pre-1.0 ``shifts`` have the same meaning and sign). A tissue motion
d (a template feature at p appears at p + d in the frame) therefore gives ``motion = -d``: this
package's (dy, dx) is ``-motion`` at ``shift_dim`` "height" and "width".
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import scipy.sparse

from element_calcium._hdf5 import open_hdf5
from element_calcium.loaders._convert import (
    as_image,
    as_traces,
    check_same_shape,
    footprints_from_images,
    stack_footprints,
)
from element_calcium.loaders.types import LoadedExtraction, LoadedMotion

ZARR_HELP = "reading minian's zarr output needs the zarr package: pip install element-calcium[minian]"
NETCDF_SUFFIXES = (".nc", ".nc4")
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable"
_MOTION = (("motion", "shift_dim"), ("shifts", "variable"))  # (variable, dimension of its two axes), newest first
_BLOCK_VALUES = 1 << 22
_READ_ERRORS = (OSError, ValueError, KeyError, RuntimeError)


def load_minian_extraction(path: str | os.PathLike) -> LoadedExtraction:
    """Footprints and traces of a minian run.

    path: the minian output folder (holding ``A.zarr``, ``C.zarr``, ...), one store in it, or
    a minian netCDF file (or a folder holding one). ``A`` and ``C`` are required, ``S``,
    ``YrA``, ``b`` and ``f`` optional. ``mask_ids`` are the ``unit_id`` coordinates of ``A``
    (0..N-1 when it has none); the traces are matched to them by ``unit_id``. Traces:
    ``fluorescence`` = ``C + YrA`` with YrA, else ``C``; ``denoised`` = ``C``; ``spikes`` =
    ``S``. ``background_footprints`` / ``background_traces`` are ``b`` (one component) and
    ``f`` when both were saved. ``neuropil``, ``dff``, ``accepted``, ``confidence`` and ``fps``
    are None (minian stores none of them). ``A`` is read a block of units at a time.

    Raises FileNotFoundError if nothing is found, ImportError without the zarr package for
    zarr stores, ValueError naming the store or file when a variable is missing or malformed
    or the variables disagree.
    """
    with _open_output(path) as output:
        footprints, height, width, ids = _footprints(output.require("A"))
        traces = {"C": _traces(output.require("C"), ids, output.where)}
        for name in ("S", "YrA"):
            variable = output.variable(name)
            traces[name] = None if variable is None else _traces(variable, ids, output.where)
        background = _background(output, height, width, traces["C"].shape[1])
    check_same_shape(traces, output.where)
    fluorescence = traces["C"] if traces["YrA"] is None else traces["C"] + traces["YrA"]
    try:
        return LoadedExtraction(
            source=output.where,
            height=height,
            width=width,
            footprints=footprints,
            mask_ids=ids,
            fluorescence=fluorescence,
            neuropil=None,
            denoised=traces["C"],
            spikes=traces["S"],
            dff=None,
            accepted=None,
            confidence=None,
            fps=None,
            background_footprints=background[0],
            background_traces=background[1],
        )
    except ValueError as error:
        raise ValueError(f"{output.where}: {error}") from error


def load_minian_motion(path: str | os.PathLike) -> LoadedMotion:
    """Rigid shifts of a minian run as tissue motion (dy, dx) in pixels, and its max projection.

    path: as for :func:`load_minian_extraction`; ``motion`` (minian >= 1.0) or ``shifts``
    (before 1.0) is required, ``max_proj`` becomes ``max_image`` when present. minian saves no
    template, mean or correlation image and flags no outlier frames (all None). Non-rigid
    (BSpline mesh) motion is not supported.

    Raises FileNotFoundError if nothing is found, ValueError naming the store or file when
    both ``motion`` and ``shifts`` are missing or the one found is malformed.
    """
    with _open_output(path) as output:
        motion, axis_dim = _motion_variable(output)
        if {"grid0", "grid1"} & set(motion.dims):
            raise ValueError(f"{motion.where}: non-rigid (BSpline mesh) minian motion is not supported")
        shifts = motion.read_as(("frame", axis_dim))
        labels = motion.coords.get(axis_dim)
        if labels is None or not {"height", "width"} <= set(labels.tolist()):
            raise ValueError(
                f"{motion.where}: '{motion.name}' needs '{axis_dim}' coordinates naming 'height' and 'width', "
                f"found {labels!r}"
            )
        columns = [labels.tolist().index(axis) for axis in ("height", "width")]
        shifts = _finite(shifts[:, columns].astype(np.float32), motion)
        max_proj = output.variable("max_proj")
        max_image = None if max_proj is None else as_image(_finite(max_proj.read_as(("height", "width")), max_proj))
    try:
        return LoadedMotion(
            rigid_shifts=-shifts,
            block_shifts=None,
            block_y=None,
            block_x=None,
            ref_image=None,
            average_image=None,
            correlation_image=None,
            max_image=max_image,
            outlier_frames=None,
            source="minian",
        )
    except ValueError as error:
        raise ValueError(f"{output.where}: {error}") from error


@dataclass(frozen=True)
class _Variable:
    """One stored variable: its array (zarr array or h5py dataset), dimension names and coordinates."""

    name: str
    where: pathlib.Path
    data: Any
    dims: tuple[str, ...]
    coords: dict[str, np.ndarray]

    def size(self, dim: str) -> int:
        return self.data.shape[self.dims.index(dim)]

    def check_dims(self, dims: tuple[str, ...]) -> None:
        if sorted(self.dims) != sorted(dims):
            raise ValueError(f"{self.where}: '{self.name}' has dimensions {self.dims}, expected {dims} in any order")

    def read_as(self, dims: tuple[str, ...], **blocks: slice) -> np.ndarray:
        """The values with axes in the order ``dims``; ``blocks`` slices some dimensions."""
        self.check_dims(dims)
        index = tuple(blocks.get(dim, slice(None)) for dim in self.dims)
        values = _read(self.data, self.where, self.name, index)
        if values.dtype.kind not in "iuf":
            raise ValueError(f"{self.where}: '{self.name}' must hold numbers, found dtype {values.dtype}")
        return np.transpose(values, [self.dims.index(dim) for dim in dims])


class _Reader:
    """The variables of a minian output, with errors naming where they are."""

    where: pathlib.Path
    layout: str

    def variable(self, name: str) -> _Variable | None:
        """The variable ``name``, or None when the output lacks it."""
        raise NotImplementedError

    def require(self, name: str) -> _Variable:
        variable = self.variable(name)
        if variable is None:
            raise ValueError(f"{self.where}: the minian {self.layout.format(name)} is missing")
        return variable

    def close(self) -> None:
        """Release open files."""


class _ZarrOutput(_Reader):
    """A minian output folder of ``<name>.zarr`` stores."""

    layout = "store '{}.zarr'"

    def __init__(self, folder: pathlib.Path):
        try:
            import zarr
        except ImportError as error:
            raise ImportError(f"{folder}: {ZARR_HELP}") from error
        self._zarr = zarr
        self.where = folder

    def variable(self, name: str) -> _Variable | None:
        store = self.where / f"{name}.zarr"
        if not store.exists():
            return None
        try:
            group = self._zarr.open_group(str(store), mode="r")
            array = group[name] if name in group else None
            attrs = {} if array is None else dict(array.attrs)
        except _READ_ERRORS as error:
            raise ValueError(f"{store}: cannot be read as a zarr store ({error})") from error
        if not isinstance(array, self._zarr.Array):
            raise ValueError(f"{store}: no array '{name}' in the store")
        dims = attrs.get("_ARRAY_DIMENSIONS")
        if not isinstance(dims, list) or len(dims) != array.ndim or not all(isinstance(d, str) for d in dims):
            raise ValueError(f"{store}: '{name}' has no valid '_ARRAY_DIMENSIONS' attribute (found {dims!r})")
        coords = {}
        for axis, dim in enumerate(dims):
            coord = group[dim] if dim != name and dim in group else None
            if isinstance(coord, self._zarr.Array) and coord.shape == (array.shape[axis],):
                coords[dim] = _decode(_read(coord, store, dim, ...))
        return _Variable(name, store, array, tuple(dims), coords)


class _NetcdfOutput(_Reader):
    """A minian netCDF4 file, read as HDF5."""

    layout = "variable '{}'"

    def __init__(self, file: pathlib.Path):
        self.where = file
        self._h5 = open_hdf5(file)

    def variable(self, name: str) -> _Variable | None:
        dataset = self._h5.get(name)
        if dataset is None:
            return None
        if not isinstance(dataset, h5py.Dataset):
            raise ValueError(f"{self.where}: '{name}' is a group, not a netCDF variable")
        dims, coords = [], {}
        for axis, scales in enumerate(dataset.dims):
            if len(scales) == 0:
                raise ValueError(
                    f"{self.where}: '{name}' has no dimension scale on axis {axis} (not a netCDF4 variable)"
                )
            scale = scales[0]
            dim = scale.name.rsplit("/", 1)[-1]
            dims.append(dim)
            label = scale.attrs.get("NAME", b"")
            pure_dimension = isinstance(label, bytes) and label.startswith(_NOT_A_VARIABLE)
            if not pure_dimension and scale.shape == (dataset.shape[axis],):
                coords[dim] = _decode(_read(scale, self.where, dim, ...))
        return _Variable(name, self.where, dataset, tuple(dims), coords)

    def close(self) -> None:
        self._h5.close()


@contextlib.contextmanager
def _open_output(path: str | os.PathLike) -> Iterator[_Reader]:
    """The minian output at ``path``: a folder of ``*.zarr`` stores, one such store, or a netCDF file."""
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: minian output folder or file not found")
    if path.is_dir() and path.suffix == ".zarr":
        path = path.parent
    if path.is_dir():
        if any(p.is_dir() and p.suffix == ".zarr" for p in path.iterdir()):
            reader = _ZarrOutput(path)
        else:
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in NETCDF_SUFFIXES)
            if not files:
                raise FileNotFoundError(f"{path}: no minian output in the folder (no *.zarr store, no *.nc file)")
            if len(files) > 1:
                names = ", ".join(p.name for p in files)
                raise ValueError(f"{path}: several minian netCDF files ({names}); give the file itself")
            reader = _NetcdfOutput(files[0])
    else:
        reader = _NetcdfOutput(path)
    try:
        yield reader
    finally:
        reader.close()


def _motion_variable(output: _Reader) -> tuple[_Variable, str]:
    """The rigid motion of the output and the name of its (height, width) dimension."""
    for name, axis_dim in _MOTION:
        variable = output.variable(name)
        if variable is not None:
            return variable, axis_dim
    newest, older = (output.layout.format(name) for name, _ in _MOTION)
    raise ValueError(f"{output.where}: the minian {newest} is missing (and so is the pre-1.0 {older})")


def _background(output: _Reader, height: int, width: int, nframes: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(height * width, 1) ``b`` and (1, T) ``f`` as float32, or (None, None) unless both were saved."""
    b, f = output.variable("b"), output.variable("f")
    if b is None or f is None:
        return None, None
    image = _finite(b.read_as(("height", "width")), b)
    trace = _finite(f.read_as(("frame",)), f)
    if image.shape != (height, width):
        raise ValueError(f"{b.where}: 'b' is {image.shape[0]}x{image.shape[1]} pixels but 'A' is {height}x{width}")
    if trace.shape != (nframes,):
        raise ValueError(f"{f.where}: 'f' has {trace.shape[0]} frames but 'C' has {nframes}")
    return image.reshape(-1, 1).astype(np.float32), trace.reshape(1, -1).astype(np.float32)


def _footprints(a: _Variable) -> tuple[scipy.sparse.csc_array, int, int, np.ndarray]:
    """(height * width, N) footprints, height, width and the (N,) unit ids of ``A``."""
    dims = ("unit_id", "height", "width")
    a.check_dims(dims)
    nunits, height, width = (a.size(dim) for dim in dims)
    ids = _unit_ids(a, nunits)
    step = max(1, _BLOCK_VALUES // (height * width))
    blocks = []
    for start in range(0, nunits, step):
        images = a.read_as(dims, unit_id=slice(start, start + step))
        blocks.append(footprints_from_images(_finite(images, a)))
    return stack_footprints(blocks, height * width), height, width, ids


def _traces(variable: _Variable, ids: np.ndarray, where: pathlib.Path) -> np.ndarray:
    """(N, T) float32 values of a (unit_id, frame) variable, rows in the order of ``ids``."""
    values = as_traces(variable.read_as(("unit_id", "frame")), variable.name, variable.where)
    own = _unit_ids(variable, values.shape[0])
    if own.size != ids.size:
        raise ValueError(f"{where}: '{variable.name}' has {own.size} units but 'A' has {ids.size}")
    if not np.array_equal(own, ids):
        order = np.argsort(own)
        rows = order[np.searchsorted(own, ids, sorter=order).clip(max=own.size - 1)]
        if not np.array_equal(own[rows], ids):
            raise ValueError(f"{where}: the 'unit_id' of '{variable.name}' are not those of 'A'")
        values = values[rows]
    return _finite(values, variable)


def _unit_ids(variable: _Variable, nunits: int) -> np.ndarray:
    ids = variable.coords.get("unit_id")
    if ids is None:
        return np.arange(nunits, dtype=np.int64)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{variable.where}: 'unit_id' of '{variable.name}' must be integers, found {ids.dtype}")
    return ids.astype(np.int64)


def _finite(values: np.ndarray, variable: _Variable) -> np.ndarray:
    if np.isnan(values).any():
        raise ValueError(f"{variable.where}: '{variable.name}' holds NaN (missing or unreadable chunks?)")
    return values


def _read(array: Any, where: pathlib.Path, name: str, index: Any) -> np.ndarray:
    """``array[index]`` of a zarr array or h5py dataset; ValueError naming ``where`` if it cannot be read."""
    try:
        return np.asarray(array[index])
    except _READ_ERRORS as error:
        raise ValueError(f"{where}: cannot read '{name}' ({error})") from error


def _decode(values: np.ndarray) -> np.ndarray:
    """Byte strings (netCDF text) as str; other values unchanged."""
    if values.dtype.kind in "OS":
        return np.array([v.decode() if isinstance(v, bytes) else v for v in values.ravel()]).reshape(values.shape)
    return values
