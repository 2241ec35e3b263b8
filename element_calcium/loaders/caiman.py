"""CaImAn results: the HDF5 file saved after a CaImAn run, read with h5py.

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

from element_calcium._hdf5 import open_hdf5
from element_calcium.loaders._motion import LoadedMotion, as_image

RESULT_SUFFIXES = (".hdf5", ".h5")
MOTION_GROUP = "motion_correction"
_IMAGES = ("reference_image", "average_image", "correlation_image", "max_image")


def find_caiman_file(path: str | os.PathLike) -> pathlib.Path:
    """The CaImAn results file at ``path``: the file itself, or the one results file in a folder.

    In a folder, the candidates are its ``*.hdf5`` / ``*.h5`` files; when there are several,
    those holding a ``/motion_correction`` group (input movies saved as HDF5 have none).
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
        candidates = [p for p in candidates if _has_motion_group(p)] or candidates
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


def _has_motion_group(path: pathlib.Path) -> bool:
    if not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r") as h5:
            return isinstance(h5.get(MOTION_GROUP), h5py.Group)
    except OSError:
        return False
