"""CaImAn results: the HDF5 file saved after a CaImAn run, read with h5py.

Source extraction lives where ``CNMF.save()`` puts it (CaImAn's ``save_dict_to_hdf5``): the
group ``/estimates`` holds ``A`` as a group of the CSC parts ``data``, ``indices``, ``indptr``
and ``shape`` (pixels x components), and ``C``, ``S``, ``YrA``, ``F_dff`` (components x
frames), ``idx_components`` / ``idx_components_bad`` (component indices), ``b``, ``f``;
attributes that were None are stored as the string ``"NoneType"``. The field of view
``dims`` (rows, columns) is in ``/estimates/dims`` or ``/dims``, the frame rate in
``/params/data/fr``. The rows of ``A`` index pixels in Fortran order, as CaImAn reshapes with
``order='F'``: pixel ``x * height + y``.

Motion correction lives in the group ``/motion_correction`` as element-interface's
``caiman_loader`` writes it (and element-miniscope reads it): ``shifts_rig`` (T, 2) for rigid
runs; ``x_shifts_els`` / ``y_shifts_els`` (T, n_blocks) and ``coord_shifts_els`` (n_blocks, 4)
for piecewise-rigid runs; ``reference_image``, ``average_image``, ``correlation_image`` and
``max_image`` (H, W). ``/params/motion/pw_rigid`` says which of the two corrections was applied.

Conventions, checked against CaImAn's ``caiman/motion_correction.py`` (``tile_and_correct``,
``register_translation``, ``apply_shift_iteration``, ``sliding_window``):

- CaImAn calls the first image axis (rows) "x" and the second (columns) "y".
- Its shifts are those *applied* to a frame to align it with the template:
  ``tile_and_correct`` registers the frame against the template, which measures the tissue
  motion d, and returns ``-d``; ``apply_shift_iteration`` moves the frame's content by that
  amount along (rows, columns). So the tissue motion is the negative of the stored shifts:
  ``(dy, dx) = (-shifts_rig[:, 0], -shifts_rig[:, 1])`` and, per block,
  ``(dy, dx) = (-x_shifts_els, -y_shifts_els)``.
- Each row of ``coord_shifts_els`` is ``(row_start, row_end, col_start, col_end)`` of a patch
  from ``sliding_window`` (end exclusive), in the order of the columns of ``x_shifts_els``.
"""

from __future__ import annotations

import os
import pathlib

import h5py
import numpy as np
import scipy.sparse

from element_calcium._hdf5 import open_hdf5
from element_calcium.loaders._convert import as_footprints, as_image, as_traces, check_same_shape
from element_calcium.loaders.types import LoadedExtraction, LoadedMotion

RESULT_SUFFIXES = (".hdf5", ".h5")
MOTION_GROUP = "motion_correction"
ESTIMATES_GROUP = "estimates"
_IMAGES = ("reference_image", "average_image", "correlation_image", "max_image")
_NONE = "NoneType"
_DIMS = ("estimates/dims", "dims", "params/data/dims")


def find_caiman_file(path: str | os.PathLike, *, group: str = MOTION_GROUP) -> pathlib.Path:
    """The CaImAn results file at ``path``: the file itself, or the one results file in a folder.

    In a folder, the candidates are its ``*.hdf5`` / ``*.h5`` files; when there are several,
    those holding the group ``group`` (``/motion_correction`` for motion, ``/estimates`` for
    source extraction; input movies saved as HDF5 have neither).
    Raises FileNotFoundError if nothing is there, ValueError if the choice is ambiguous.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: CaImAn results file or folder not found")
    if path.is_file():
        return path
    candidates = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in RESULT_SUFFIXES)
    if not candidates:
        raise FileNotFoundError(f"{path}: no CaImAn results file (*.hdf5 or *.h5) in the folder")
    if len(candidates) > 1:
        candidates = [p for p in candidates if _has_group(p, group)] or candidates
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise ValueError(f"{path}: several candidate CaImAn results files ({names}); give the file itself")
    return candidates[0]


def load_caiman_motion(path: str | os.PathLike) -> LoadedMotion:
    """Shifts and summary images of a CaImAn run, as tissue motion (dy, dx) in pixels.

    path: a CaImAn results HDF5 file, or a folder holding it (see :func:`find_caiman_file`).
    Rigid runs give ``rigid_shifts`` only. Piecewise-rigid runs give ``block_shifts`` with the
    block ranges, and ``rigid_shifts`` from ``shifts_rig`` when the file has it, else the mean
    of the block shifts of each frame. Summary images the file lacks are None; CaImAn flags no
    outlier frames (``outlier_frames`` is None). Volumetric (3D) runs are not supported.

    Raises FileNotFoundError if nothing is found, ValueError naming the file and dataset when
    a dataset is missing or the shapes disagree.
    """
    file = find_caiman_file(path)
    with open_hdf5(file) as h5:
        if _flag(h5, "params/motion/is3D", file, default=False):
            raise ValueError(f"{file}: volumetric (is3D) CaImAn motion correction is not supported")
        pw_rigid = _flag(h5, "params/motion/pw_rigid", file)
        group = h5.get(MOTION_GROUP)
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{file}: no group '/{MOTION_GROUP}' (motion correction was not saved)")
        rigid = _array(group, "shifts_rig", file) if "shifts_rig" in group or not pw_rigid else None
        if rigid is not None and (rigid.ndim != 2 or rigid.shape[1] != 2):
            raise ValueError(f"{file}: '/{MOTION_GROUP}/shifts_rig' must be (T, 2), got {rigid.shape}")
        blocks = _blocks(group, file) if pw_rigid else None
        images = {name: _array(group, name, file) if name in group else None for name in _IMAGES}
    if blocks is not None:
        block_shifts, block_y, block_x = blocks
        if rigid is not None and rigid.shape[0] != block_shifts.shape[0]:
            raise ValueError(
                f"{file}: '/{MOTION_GROUP}/shifts_rig' has {rigid.shape[0]} frames, "
                f"'x_shifts_els' has {block_shifts.shape[0]}"
            )
        rigid_shifts = -rigid if rigid is not None else block_shifts.mean(axis=1)
    else:
        block_shifts = block_y = block_x = None
        rigid_shifts = -rigid
    try:
        return LoadedMotion(
            rigid_shifts=np.asarray(rigid_shifts, dtype=np.float32),
            block_shifts=block_shifts,
            block_y=block_y,
            block_x=block_x,
            ref_image=as_image(images["reference_image"]),
            average_image=as_image(images["average_image"]),
            correlation_image=as_image(images["correlation_image"]),
            max_image=as_image(images["max_image"]),
            outlier_frames=None,
            source="caiman",
        )
    except ValueError as error:
        raise ValueError(f"{file}: {error}") from error


def load_caiman_extraction(path: str | os.PathLike) -> LoadedExtraction:
    """Footprints and traces of a CaImAn CNMF / CNMF-E run saved with ``CNMF.save()``.

    path: a CaImAn results HDF5 file, or a folder holding it (see :func:`find_caiman_file`).
    Footprints come from ``A`` with the pixels reordered from CaImAn's Fortran order to
    ``y * width + x``; a dense ``A`` dataset (pixels x components) is read too. ``mask_ids``
    are the column indices of ``A``. Traces: ``fluorescence`` = ``C + YrA`` (the denoised trace
    plus its residual, CaImAn's raw trace; ``C`` alone when the residual was not kept),
    ``denoised`` = ``C``, ``spikes`` = ``S``, ``dff`` = ``F_dff``; ``neuropil`` and
    ``confidence`` are None. ``accepted`` marks the components of ``idx_components`` (else
    those not in ``idx_components_bad``; None when neither was saved). ``fps`` is
    ``/params/data/fr``. ``background_footprints`` / ``background_traces`` are the low-rank
    background ``b`` (pixels x nb, Fortran pixel order like ``A``, dense or sparse) and ``f``
    (nb x frames) when both hold components (the ring model of CNMF-E keeps none). ``YrA``,
    ``S``, ``F_dff`` and the rest may be missing, None or empty (``YrA`` of shape (0,) or
    (N, 0), as CaImAn leaves it when the residual was not computed); ``A``, ``C`` and the
    field of view may not. Volumetric (3-D) runs are not supported.

    Raises FileNotFoundError if nothing is found, ValueError naming the file and dataset when
    a dataset is missing or malformed or the shapes disagree.
    """
    file = find_caiman_file(path, group=ESTIMATES_GROUP)
    with open_hdf5(file) as h5:
        estimates = h5.get(ESTIMATES_GROUP)
        if not isinstance(estimates, h5py.Group):
            raise ValueError(f"{file}: no group '/{ESTIMATES_GROUP}' (the CNMF results were not saved)")
        height, width = _field_of_view(h5, file)
        footprints = _footprints(estimates, height, width, file)
        traces = {}
        for name in ("C", "YrA", "S", "F_dff"):
            value = _stored(estimates, name)
            if value is None and name == "C":
                raise ValueError(f"{file}: dataset '/{ESTIMATES_GROUP}/{name}' is missing")
            if name == "YrA" and value is not None and value.size == 0:
                value = None
            traces[name] = None if value is None else as_traces(value, f"/{ESTIMATES_GROUP}/{name}", file)
        accepted = _accepted(estimates, footprints.shape[1], file)
        fps = _frame_rate(h5, file)
        background = _background(estimates, height, width, traces["C"].shape[1], file)
    check_same_shape({f"/{ESTIMATES_GROUP}/{name}": trace for name, trace in traces.items()}, file)
    if traces["C"].shape[0] != footprints.shape[1]:
        raise ValueError(
            f"{file}: '/{ESTIMATES_GROUP}/A' has {footprints.shape[1]} components "
            f"but '/{ESTIMATES_GROUP}/C' has {traces['C'].shape[0]}"
        )
    fluorescence = traces["C"] if traces["YrA"] is None else traces["C"] + traces["YrA"]
    try:
        return LoadedExtraction(
            source=file,
            height=height,
            width=width,
            footprints=footprints,
            mask_ids=np.arange(footprints.shape[1], dtype=np.int64),
            fluorescence=fluorescence,
            neuropil=None,
            denoised=traces["C"],
            spikes=traces["S"],
            dff=traces["F_dff"],
            accepted=accepted,
            confidence=None,
            fps=fps,
            background_footprints=background[0],
            background_traces=background[1],
        )
    except ValueError as error:
        raise ValueError(f"{file}: {error}") from error


def _field_of_view(h5: h5py.File, file: pathlib.Path) -> tuple[int, int]:
    """(height, width) from the first of ``_DIMS`` that holds a value."""
    for name in _DIMS:
        dims = _stored(h5, name)
        if dims is None:
            continue
        dims = np.asarray(dims)
        if dims.ndim != 1 or dims.dtype.kind not in "iu" or np.any(dims < 1):
            raise ValueError(f"{file}: '/{name}' must be positive integer sizes (rows, columns), found {dims!r}")
        if dims.size != 2:
            raise ValueError(
                f"{file}: '/{name}' is {tuple(dims.tolist())}: only 2-D (rows, columns) results are supported"
            )
        return int(dims[0]), int(dims[1])
    looked = ", ".join(f"'/{name}'" for name in _DIMS)
    raise ValueError(f"{file}: the field of view is not stored (none of {looked})")


def _footprints(estimates: h5py.Group, height: int, width: int, file: pathlib.Path) -> scipy.sparse.csc_array:
    """``A`` as (height * width, N) footprints with rows ``y * width + x``."""
    matrix = _pixel_matrix(estimates, "A", file)
    if matrix is None:
        raise ValueError(f"{file}: dataset '/{ESTIMATES_GROUP}/A' is missing")
    return _c_order(matrix, height, width, f"/{ESTIMATES_GROUP}/A", file)


def _background(
    estimates: h5py.Group, height: int, width: int, nframes: int, file: pathlib.Path
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(height * width, nb) ``b`` with rows ``y * width + x`` and (nb, T) ``f``, float32; (None, None) when
    either is missing, None or empty."""
    spatial = _pixel_matrix(estimates, "b", file)
    temporal = _stored(estimates, "f")
    if spatial is None or temporal is None or spatial.shape[1] == 0 or temporal.size == 0:
        return None, None
    spatial = _c_order(spatial, height, width, f"/{ESTIMATES_GROUP}/b", file)
    temporal = as_traces(np.atleast_2d(temporal), f"/{ESTIMATES_GROUP}/f", file)
    if temporal.shape != (spatial.shape[1], nframes):
        raise ValueError(
            f"{file}: '/{ESTIMATES_GROUP}/f' has shape {temporal.shape}, expected ({spatial.shape[1]}, {nframes}): "
            "one trace per column of 'b', one value per frame of 'C'"
        )
    if not np.isfinite(temporal).all():
        raise ValueError(f"{file}: '/{ESTIMATES_GROUP}/f' holds NaN or infinite values")
    return spatial.toarray(), temporal


def _pixel_matrix(estimates: h5py.Group, name: str, file: pathlib.Path) -> scipy.sparse.csc_array | None:
    """The (pixels, components) matrix ``name``, saved as CSC parts or dense (a 1-D dense array is one
    component); None when it is missing or was saved as None."""
    where = f"/{ESTIMATES_GROUP}/{name}"
    item = estimates.get(name)
    if isinstance(item, h5py.Group):
        parts = {part: _array(item, part, file) for part in ("data", "indices", "indptr", "shape")}
        return _csc_parts(parts, where, file)
    dense = _stored(estimates, name)
    if dense is None:
        return None
    dense = dense[:, None] if dense.ndim == 1 else dense
    if dense.ndim != 2 or dense.dtype.kind not in "iuf":
        raise ValueError(
            f"{file}: '{where}' must be a numeric (pixels, components) matrix, got {dense.shape} {dense.dtype}"
        )
    return scipy.sparse.csc_array(dense)


def _c_order(
    matrix: scipy.sparse.csc_array, height: int, width: int, name: str, file: pathlib.Path
) -> scipy.sparse.csc_array:
    """A (pixels, components) matrix with pixel rows in CaImAn's Fortran order, rows moved to ``y * width + x``."""
    if matrix.shape[0] != height * width:
        raise ValueError(
            f"{file}: '{name}' has {matrix.shape[0]} pixel rows but the field of view is {height} x {width} "
            f"= {height * width} pixels"
        )
    if not np.isfinite(matrix.data).all():
        raise ValueError(f"{file}: '{name}' holds NaN or infinite values")
    fortran_rows = matrix.indices.astype(np.int64)
    rows = (fortran_rows % height) * width + fortran_rows // height
    return as_footprints(scipy.sparse.csc_array((matrix.data, rows, matrix.indptr), shape=matrix.shape))


def _csc_parts(parts: dict[str, np.ndarray], name: str, file: pathlib.Path) -> scipy.sparse.csc_array:
    """The CSC matrix saved as ``data``, ``indices``, ``indptr`` and ``shape``, checked."""
    data, indices, indptr, shape = (parts[key] for key in ("data", "indices", "indptr", "shape"))
    problem = None
    if shape.shape != (2,) or shape.dtype.kind not in "iu" or np.any(shape < 0):
        problem = f"'shape' must be two sizes, found {shape!r}"
    elif data.ndim != 1 or data.dtype.kind not in "iuf":
        problem = f"'data' must be a 1-D numeric array, got {data.shape} {data.dtype}"
    elif indices.shape != data.shape or indices.dtype.kind not in "iu":
        problem = f"'indices' must be integers, one per value of 'data', got {indices.shape} {indices.dtype}"
    elif indptr.shape != (shape[1] + 1,) or indptr.dtype.kind not in "iu":
        problem = f"'indptr' must be {shape[1] + 1} integers (columns + 1), got {indptr.shape} {indptr.dtype}"
    elif indptr[0] != 0 or indptr[-1] != data.size or np.any(np.diff(indptr) < 0):
        problem = f"'indptr' must rise from 0 to {data.size} (the number of values)"
    elif indices.size and (indices.min() < 0 or indices.max() >= shape[0]):
        problem = f"'indices' must lie in [0, {shape[0]})"
    if problem is not None:
        raise ValueError(f"{file}: '{name}' is not a valid CSC matrix: {problem}")
    return scipy.sparse.csc_array((data, indices, indptr), shape=(int(shape[0]), int(shape[1])))


def _accepted(estimates: h5py.Group, nmasks: int, file: pathlib.Path) -> np.ndarray | None:
    """(N,) bool from ``idx_components`` (accepted) or ``idx_components_bad`` (rejected), else None."""
    for name, good in (("idx_components", True), ("idx_components_bad", False)):
        indices = _stored(estimates, name)
        if indices is None:
            continue
        indices = np.asarray(indices).ravel()
        if indices.dtype.kind not in "iu" or (indices.size and (indices.min() < 0 or indices.max() >= nmasks)):
            raise ValueError(
                f"{file}: '/{ESTIMATES_GROUP}/{name}' must be component indices in [0, {nmasks}), found {indices!r}"
            )
        accepted = np.full(nmasks, not good)
        accepted[indices] = good
        return accepted
    return None


def _frame_rate(h5: h5py.File, file: pathlib.Path) -> float | None:
    value = _stored(h5, "params/data/fr")
    if value is None:
        return None
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "iuf" or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{file}: '/params/data/fr' must be a positive frame rate, found {value!r}")
    return float(value)


def _stored(group: h5py.Group, name: str) -> np.ndarray | None:
    """The dataset ``name`` under ``group``, or None when it is missing or was saved as None."""
    item = group.get(name)
    if not isinstance(item, h5py.Dataset):
        return None
    value = item[()]
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if isinstance(value, str) and value == _NONE:
        return None
    return np.asarray(value)


def _blocks(group: h5py.Group, file: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, n_blocks, 2) tissue motion per block and the (n_blocks, 2) row and column ranges."""
    x_shifts = _array(group, "x_shifts_els", file)
    y_shifts = _array(group, "y_shifts_els", file)
    coords = _array(group, "coord_shifts_els", file)
    if x_shifts.ndim != 2 or x_shifts.shape != y_shifts.shape:
        raise ValueError(
            f"{file}: '/{MOTION_GROUP}/x_shifts_els' {x_shifts.shape} and 'y_shifts_els' {y_shifts.shape} "
            "must both be (T, n_blocks)"
        )
    if coords.ndim != 2 or coords.shape != (x_shifts.shape[1], 4):
        raise ValueError(
            f"{file}: '/{MOTION_GROUP}/coord_shifts_els' has shape {coords.shape}, expected "
            f"({x_shifts.shape[1]}, 4): one (row_start, row_end, col_start, col_end) per block of 'x_shifts_els'"
        )
    block_shifts = np.stack([-x_shifts, -y_shifts], axis=-1).astype(np.float32)
    coords = coords.astype(np.int64)
    return block_shifts, coords[:, 0:2].copy(), coords[:, 2:4].copy()


def _array(group: h5py.Group, name: str, file: pathlib.Path) -> np.ndarray:
    item = group.get(name)
    if not isinstance(item, h5py.Dataset):
        raise ValueError(f"{file}: dataset '{group.name.rstrip('/')}/{name}' is missing")
    return np.asarray(item[()])


def _flag(h5: h5py.File, name: str, file: pathlib.Path, *, default: bool | None = None) -> bool:
    item = h5.get(name)
    if item is None and default is not None:
        return default
    if not isinstance(item, h5py.Dataset):
        raise ValueError(f"{file}: dataset '/{name}' is missing (CaImAn parameters were not saved)")
    value = item[()]
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{file}: '/{name}' must be true or false, found {value!r}")


def _has_group(path: pathlib.Path, group: str) -> bool:
    if not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as h5:
            return isinstance(h5.get(group), h5py.Group)
    except OSError:
        return False
