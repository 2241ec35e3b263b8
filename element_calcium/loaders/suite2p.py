"""suite2p results: the files of a plane folder, read with NumPy.

``ops.npy`` (a dict) and ``stat.npy`` (an object array of dicts, one per ROI) are pickled;
loading them runs pickle, so they must come from a trusted source. The traces ``F.npy``,
``Fneu.npy`` and ``spks.npy`` are (N, T) float32 and ``iscell.npy`` is (N, 2): 1/0 for cell /
not a cell, then the classifier's probability. Each ROI of ``stat.npy`` lists its pixels in
``ypix`` (rows) and ``xpix`` (columns) of the full (Ly, Lx) frame with weights ``lam``;
``overlap`` flags pixels shared with other ROIs, which suite2p leaves out of the fluorescence
but which still belong to the ROI.

Motion correction keys: ``yoff``, ``xoff`` (T,) rigid offsets; with ``nonrigid`` True,
``yoff1``, ``xoff1`` (T, n_blocks) and the block layout ``yblock``, ``xblock`` (lists of
[start, end) pixel ranges); ``refImg``, ``meanImg`` (Ly, Lx); ``Vcorr`` and ``max_proj``
computed on the crop ``yrange``, ``xrange``; ``badframes`` (T,) bool.

Conventions, checked against suite2p's ``registration/rigid.py``, ``nonrigid.py`` and
``register.py``: ``phasecorr`` returns the shift "from the reference to the data", i.e. the
tissue motion, and ``shift_frame`` rolls each frame by ``(-yoff, -xoff)`` to correct it. So
``(yoff, xoff)`` already is this package's ``(dy, dx)``. The non-rigid offsets are measured
on the rigidly corrected frames, so the motion of block b is ``yoff + yoff1[:, b]``.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import re

import numpy as np
import scipy.sparse

from element_calcium.loaders._convert import as_image, as_traces, check_same_shape, footprints_from_pixels
from element_calcium.loaders.types import LoadedExtraction, LoadedMotion

_PLANE_FOLDER = re.compile(r"plane(\d+)")


def find_ops_file(path: str | os.PathLike, *, plane: int = 0) -> pathlib.Path:
    """The ``ops.npy`` of ``plane`` under ``path``.

    path: a plane folder (``.../suite2p/plane0``), the ``suite2p`` folder above it, or the
    folder holding ``suite2p``. A plane folder given directly must be ``plane{plane}`` when
    its name says which plane it is.
    """
    if isinstance(plane, bool) or not isinstance(plane, (int, np.integer)) or plane < 0:
        raise ValueError(f"plane must be a non-negative integer, got {plane!r}")
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: suite2p output folder not found")
    if not path.is_dir():
        raise ValueError(f"{path}: not a folder (give the suite2p output folder)")
    if (path / "ops.npy").is_file():
        named = _PLANE_FOLDER.fullmatch(path.name)
        if named and int(named.group(1)) != plane:
            raise ValueError(f"{path}: this is the folder of plane {named.group(1)}, but plane={plane} was asked for")
        return path / "ops.npy"
    looked = [path / f"plane{plane}", path / "suite2p" / f"plane{plane}"]
    for folder in looked:
        if (folder / "ops.npy").is_file():
            return folder / "ops.npy"
    tried = ", ".join(str(f / "ops.npy") for f in [path, *looked])
    raise FileNotFoundError(f"{path}: no suite2p ops.npy for plane {plane} (looked for {tried})")


def load_suite2p_motion(path: str | os.PathLike, *, plane: int = 0) -> LoadedMotion:
    """Shifts and summary images of one suite2p plane, as tissue motion (dy, dx) in pixels.

    path: see :func:`find_ops_file`. ops.npy is unpickled: load only files from a trusted source.
    ``Vcorr`` and ``max_proj``, which suite2p computes on the crop ``yrange`` x ``xrange``, are
    placed back into the full (Ly, Lx) frame with NaN outside the crop. ``outlier_frames`` is
    ``badframes`` when present.

    Raises FileNotFoundError if there is no ops.npy, ValueError naming the file and key when a
    key is missing or the shapes disagree.
    """
    file = find_ops_file(path, plane=plane)
    ops = _load_ops(file)
    yoff, xoff = _vector(ops, "yoff", file), _vector(ops, "xoff", file)
    if yoff.shape != xoff.shape:
        raise ValueError(f"{file}: 'yoff' has {yoff.size} frames but 'xoff' has {xoff.size}")
    rigid = np.stack([yoff, xoff], axis=1)
    block_shifts = block_y = block_x = None
    if bool(ops.get("nonrigid", False)):
        block_shifts, block_y, block_x = _blocks(ops, rigid, file)
    frame = (_integer(ops, "Ly", file), _integer(ops, "Lx", file))
    outliers = None
    if ops.get("badframes") is not None:
        outliers = np.asarray(ops["badframes"]).astype(bool)
        if outliers.shape != yoff.shape:
            raise ValueError(f"{file}: 'badframes' has shape {outliers.shape}, expected ({yoff.size},)")
    images = {key: _full_image(ops, key, frame, file) for key in ("refImg", "meanImg", "Vcorr", "max_proj")}
    try:
        return LoadedMotion(
            rigid_shifts=rigid.astype(np.float32),
            block_shifts=block_shifts,
            block_y=block_y,
            block_x=block_x,
            ref_image=images["refImg"],
            average_image=images["meanImg"],
            correlation_image=images["Vcorr"],
            max_image=images["max_proj"],
            outlier_frames=outliers,
            source="suite2p",
        )
    except ValueError as error:
        raise ValueError(f"{file}: {error}") from error


def load_suite2p_extraction(folder: str | os.PathLike, *, plane: int = 0) -> LoadedExtraction:
    """ROIs and traces of one suite2p plane.

    folder: see :func:`find_ops_file`; the other files are read from the folder of that ops.npy.
    ops.npy and stat.npy are unpickled: load only files from a trusted source.
    Footprints are each ROI's ``lam`` at its (``ypix``, ``xpix``) pixels, overlapping pixels
    included, in the (``Ly``, ``Lx``) frame. ``mask_ids`` are the ROI indices. Traces:
    ``fluorescence`` = ``F``, ``neuropil`` = ``Fneu``, ``spikes`` = ``spks`` (None without
    spks.npy); ``denoised`` and ``dff`` are None. ``accepted`` = ``iscell[:, 0]`` and
    ``confidence`` = ``iscell[:, 1]`` (None without iscell.npy). ``fps`` is ops ``fs``.

    Raises FileNotFoundError when ops.npy, stat.npy, F.npy or Fneu.npy is missing, ValueError
    naming the file when one is unreadable or malformed or the files disagree.
    """
    ops_file = find_ops_file(folder, plane=plane)
    plane_folder = ops_file.parent
    ops = _load_ops(ops_file)
    height, width = _integer(ops, "Ly", ops_file), _integer(ops, "Lx", ops_file)
    fps = _frame_rate(ops, ops_file)
    traces = {
        name: _load_traces(plane_folder / name, required=name != "spks.npy")
        for name in ("F.npy", "Fneu.npy", "spks.npy")
    }
    check_same_shape(traces, plane_folder)
    nmasks = traces["F.npy"].shape[0]
    stat = _load_stat(plane_folder / "stat.npy")
    if stat.shape != (nmasks,):
        raise ValueError(f"{plane_folder}: 'stat.npy' has {stat.size} ROIs but 'F.npy' has {nmasks}")
    footprints = _stat_footprints(stat, height, width, plane_folder / "stat.npy")
    accepted, confidence = _iscell(plane_folder / "iscell.npy", nmasks)
    try:
        return LoadedExtraction(
            source=plane_folder,
            height=height,
            width=width,
            footprints=footprints,
            mask_ids=np.arange(nmasks, dtype=np.int64),
            fluorescence=traces["F.npy"],
            neuropil=traces["Fneu.npy"],
            denoised=None,
            spikes=traces["spks.npy"],
            dff=None,
            accepted=accepted,
            confidence=confidence,
            fps=fps,
        )
    except ValueError as error:
        raise ValueError(f"{plane_folder}: {error}") from error


def _load_npy(file: pathlib.Path, *, allow_pickle: bool = False) -> np.ndarray:
    if not file.is_file():
        raise FileNotFoundError(f"{file}: suite2p output file not found")
    try:
        return np.load(file, allow_pickle=allow_pickle)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(f"{file}: cannot be read as a .npy file ({error})") from error


def _load_traces(file: pathlib.Path, *, required: bool) -> np.ndarray | None:
    if not required and not file.exists():
        return None
    return as_traces(_load_npy(file), file.name, file)


def _load_stat(file: pathlib.Path) -> np.ndarray:
    stat = _load_npy(file, allow_pickle=True)
    if stat.ndim != 1 or stat.dtype != object:
        raise ValueError(f"{file}: expected a 1-D object array of ROI dicts, got {stat.shape} {stat.dtype}")
    return stat


def _stat_footprints(stat: np.ndarray, height: int, width: int, file: pathlib.Path) -> scipy.sparse.csc_array:
    """(Ly * Lx, N) footprints: ``lam`` at (``ypix``, ``xpix``) of each ROI."""
    masks, rows, columns, weights = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], []
    for index, roi in enumerate(stat):
        if not isinstance(roi, dict):
            raise ValueError(f"{file}: ROI {index} is a {type(roi).__name__}, not a dict")
        missing = [key for key in ("ypix", "xpix", "lam") if roi.get(key) is None]
        if missing:
            raise ValueError(f"{file}: ROI {index} has no {', '.join(repr(key) for key in missing)}")
        ypix, xpix, lam = (np.asarray(roi[key]).ravel() for key in ("ypix", "xpix", "lam"))
        if not ypix.shape == xpix.shape == lam.shape:
            raise ValueError(
                f"{file}: ROI {index} has {ypix.size} 'ypix', {xpix.size} 'xpix' and {lam.size} 'lam': "
                "one of each per pixel expected"
            )
        if ypix.dtype.kind not in "iu" or xpix.dtype.kind not in "iu" or lam.dtype.kind not in "iuf":
            raise ValueError(f"{file}: ROI {index} must have integer 'ypix', 'xpix' and numeric 'lam'")
        if ypix.size and (min(ypix.min(), xpix.min()) < 0 or ypix.max() >= height or xpix.max() >= width):
            raise ValueError(f"{file}: ROI {index} has pixels outside the {height} x {width} frame ('Ly' x 'Lx')")
        if not np.isfinite(lam).all():
            raise ValueError(f"{file}: ROI {index} has NaN or infinite 'lam'")
        masks.append(np.full(ypix.size, index, dtype=np.int64))
        rows.append(ypix)
        columns.append(xpix)
        weights.append(lam.astype(np.float32))
    return footprints_from_pixels(
        np.concatenate(masks),
        np.concatenate(rows),
        np.concatenate(columns),
        np.concatenate([np.zeros(0, np.float32), *weights]),
        height=height,
        width=width,
        nmasks=stat.size,
    )


def _iscell(file: pathlib.Path, nmasks: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(accepted, confidence) from iscell.npy, or (None, None) without it."""
    if not file.exists():
        return None, None
    iscell = _load_npy(file)
    if iscell.shape != (nmasks, 2) or iscell.dtype.kind not in "biuf":
        raise ValueError(
            f"{file}: expected ({nmasks}, 2) numbers (is a cell, probability), got {iscell.shape} {iscell.dtype}"
        )
    if not np.isin(iscell[:, 0], (0, 1)).all():
        raise ValueError(f"{file}: the first column must be 1 (cell) or 0 (not a cell)")
    return iscell[:, 0].astype(bool), iscell[:, 1].astype(np.float32)


def _frame_rate(ops: dict, file: pathlib.Path) -> float | None:
    fs = ops.get("fs")
    if fs is None:
        return None
    number = not isinstance(fs, bool) and isinstance(fs, (int, float, np.integer, np.floating))
    if not number or not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"{file}: 'fs' must be a positive frame rate, found {fs!r}")
    return float(fs)


def _load_ops(file: pathlib.Path) -> dict:
    try:
        ops = np.load(file, allow_pickle=True)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ValueError(f"{file}: cannot be read as a suite2p ops.npy ({error})") from error
    ops = ops.item() if isinstance(ops, np.ndarray) and ops.shape == () else ops
    if not isinstance(ops, dict):
        raise ValueError(f"{file}: expected a pickled dict of suite2p options, found {type(ops).__name__}")
    return ops


def _blocks(ops: dict, rigid: np.ndarray, file: pathlib.Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, n_blocks, 2) motion per block (rigid + non-rigid) and (n_blocks, 2) row and column ranges."""
    yoff1, xoff1 = _required(ops, "yoff1", file), _required(ops, "xoff1", file)
    yoff1, xoff1 = np.asarray(yoff1, dtype=np.float64), np.asarray(xoff1, dtype=np.float64)
    if yoff1.ndim != 2 or yoff1.shape != xoff1.shape:
        raise ValueError(f"{file}: 'yoff1' {yoff1.shape} and 'xoff1' {xoff1.shape} must both be (T, n_blocks)")
    if yoff1.shape[0] != rigid.shape[0]:
        raise ValueError(f"{file}: 'yoff1' has {yoff1.shape[0]} frames but 'yoff' has {rigid.shape[0]}")
    nblocks = yoff1.shape[1]
    spans = []
    for key in ("yblock", "xblock"):
        span = np.asarray(_required(ops, key, file))
        if span.shape != (nblocks, 2):
            raise ValueError(
                f"{file}: '{key}' has shape {span.shape}, expected ({nblocks}, 2): "
                "one [start, end] per block of 'yoff1'"
            )
        spans.append(span.astype(np.int64))
    shifts = np.stack([yoff1 + rigid[:, :1], xoff1 + rigid[:, 1:]], axis=-1)
    return shifts.astype(np.float32), spans[0], spans[1]


def _full_image(ops: dict, key: str, frame: tuple[int, int], file: pathlib.Path) -> np.ndarray | None:
    """ops[key] as an (Ly, Lx) float32 image; a crop to yrange x xrange is padded with NaN."""
    if ops.get(key) is None:
        return None
    image = as_image(ops[key])
    if image.shape == frame:
        return image
    yrange, xrange = ops.get("yrange"), ops.get("xrange")
    crop = [np.asarray(r).ravel() for r in (yrange, xrange) if r is not None]
    if len(crop) == 2 and all(r.size == 2 and r.dtype.kind in "iuf" for r in crop):
        (y0, y1), (x0, x1) = (int(v) for v in crop[0]), (int(v) for v in crop[1])
        if image.shape == (y1 - y0, x1 - x0) and 0 <= y0 < y1 <= frame[0] and 0 <= x0 < x1 <= frame[1]:
            full = np.full(frame, np.nan, dtype=np.float32)
            full[y0:y1, x0:x1] = image
            return full
    raise ValueError(
        f"{file}: '{key}' has shape {image.shape}; expected the frame {frame} or the crop 'yrange' x 'xrange' "
        f"({yrange}, {xrange})"
    )


def _required(ops: dict, key: str, file: pathlib.Path) -> object:
    if ops.get(key) is None:
        raise ValueError(f"{file}: key '{key}' is missing")
    return ops[key]


def _vector(ops: dict, key: str, file: pathlib.Path) -> np.ndarray:
    value = np.asarray(_required(ops, key, file), dtype=np.float64)
    if value.ndim != 1:
        raise ValueError(f"{file}: '{key}' must be one value per frame, got shape {value.shape}")
    return value


def _integer(ops: dict, key: str, file: pathlib.Path) -> int:
    value = _required(ops, key, file)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{file}: '{key}' must be a positive integer, found {value!r}")
    return int(value)
