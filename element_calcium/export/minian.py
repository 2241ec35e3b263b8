"""A curation's cells and traces as a minian output folder, for minian's loaders and CalTrig's GUI.

    from workflow.pipeline import imaging
    from element_calcium.export import export_minian
    export_minian(imaging, curation_key, "m1_day1/minian")

minian's ``save_minian`` writes each variable with xarray's ``to_zarr`` as a zarr v2 group ``<name>.zarr`` in the
output folder; CalTrig opens such a folder (``open_minian``) and writes its own arrays beside them. The writer
here lays the folder out the same way: the group holds the variable as the array ``<name>`` (attribute
``_ARRAY_DIMENSIONS``: its dimension names; ``coordinates``: its non-dimension coordinates), one array per
dimension coordinate (``unit_id``, ``frame``, ``height``, ``width``, int64; ``shift_dim``, text) and one per
non-dimension coordinate, each with its own ``_ARRAY_DIMENSIONS``. Values are float64 with NaN as fill value,
blosc-lz4 compressed, as minian saves them.

Variables written (names, dimensions and dtypes as in minian's own output):

- ``A`` (unit_id, height, width): the footprints; ``unit_id`` = the curation's mask ids.
- ``C`` (unit_id, frame): the denoised calcium (Activity ``denoised``; the fluorescence where there is none).
- ``S`` (unit_id, frame): the deconvolved spikes (Activity ``deconvolved``), when computed.
- ``YrA`` (unit_id, frame): the residual, fluorescence - C, so that C + YrA is the curation's fluorescence
  (background removed), which is what minian's loaders read as the raw trace.
- ``b`` (height, width) and ``f`` (frame): a rank-1 background b f. b is the average image of the corrected movie
  less the cells' mean light (sum of A times the mean of C + YrA), clipped at 0; f is the cells' mean background
  trace over its mean (1 on average; 1 everywhere when the cells have no background trace). Without an average
  image (results loaded from another tool) b and f are 0: no background model, as after minian's own background
  removal.
- ``max_proj`` (height, width): the maximum projection of the corrected movie, when stored.
- ``motion`` (frame, shift_dim) with ``shift_dim`` = ["height", "width"]: minian's rigid motion, the shift that
  moves a frame's content into place, i.e. minus this package's tissue motion (dy, dx).
- ``DFF`` (unit_id, frame): the dF/F (Activity ``dff``), CalTrig's own array, when computed.

The folder is written under a temporary name beside ``path`` and renamed into place when complete.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse

from element_calcium.output_dirs import key_of

MINIAN_FLOAT = np.float64  # minian stores its results as float64
_SHIFT_DIMS = np.array(["height", "width"])
_BLOCK_UNITS = 64  # footprints converted to dense images this many units at a time


@dataclass(frozen=True, eq=False)
class MinianContent:
    """What a minian output folder holds, in this package's conventions.

    Attributes:
        footprints: (H * W, N) float32 sparse footprints, pixel row ``y * width + x``.
        height, width: the field of view (pixels).
        unit_ids: (N,) int64 ids of the cells (minian's ``unit_id``).
        fluorescence: (N, T) float32 each cell's fluorescence, background removed.
        denoised: (N, T) float32 denoised calcium (minian's ``C``), or None (C is then the fluorescence).
        spikes: (N, T) float32 deconvolved spikes (``S``), or None (not written).
        dff: (N, T) float32 dF/F (CalTrig's ``DFF``), or None (not written).
        background_image: (H, W) float32 spatial background ``b``, or None (zeros).
        background_trace: (T,) float32 temporal background ``f``, or None (zeros when b is None, else ones).
        max_proj: (H, W) float32 maximum projection, or None (not written).
        motion: (T, 2) float32 tissue motion (dy, dx) pixels, or None (not written).
    """

    footprints: scipy.sparse.csc_array
    height: int
    width: int
    unit_ids: np.ndarray
    fluorescence: np.ndarray
    denoised: np.ndarray | None = None
    spikes: np.ndarray | None = None
    dff: np.ndarray | None = None
    background_image: np.ndarray | None = None
    background_trace: np.ndarray | None = None
    max_proj: np.ndarray | None = None
    motion: np.ndarray | None = None


def write_minian_variable(
    folder: str | os.PathLike,
    name: str,
    values: np.ndarray,
    *,
    dims: tuple[str, ...],
    coords: dict[str, np.ndarray] | None = None,
    dtype: Any = None,
) -> pathlib.Path:
    """Write one variable as minian's ``save_minian`` (xarray's ``to_zarr``) does: the store ``<name>.zarr``.

    Args:
        folder: the output folder (created if needed).
        name: the variable's name.
        values: the array; its axes are ``dims``.
        dims: the dimension names, one per axis.
        coords: coordinate name -> values: a dimension's coordinates ((size,) array named after it) or a
            non-dimension coordinate as ``(dims, values)`` (listed in the variable's ``coordinates`` attribute).
        dtype: the stored dtype (default: that of ``values``).

    Returns the store's path. An existing store of that name is replaced (written under a temporary name first).

    Raises:
        ImportError: without the zarr package; ValueError: dims that do not match the axes or coordinates that do
            not match their dimension's size.
    """
    zarr = _zarr()
    import numcodecs

    values = np.asarray(values, dtype=dtype)
    if len(dims) != values.ndim:
        raise ValueError(f"'{name}' has {values.ndim} axes but {len(dims)} dimension names {dims}")
    sizes = dict(zip(dims, values.shape))
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / f"{name}.zarr"
    compressor = numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)
    others = []
    with _replaced_folder(store) as temporary:
        group = zarr.open_group(str(temporary), mode="w", zarr_format=2)
        for coord, given in (coords or {}).items():
            coord_dims, coord_values = given if isinstance(given, tuple) else ((coord,), given)
            coord_values = np.asarray(coord_values)
            expected = tuple(sizes.get(dim, -1) for dim in coord_dims)
            if coord_values.shape != expected:
                raise ValueError(f"coordinate '{coord}' of '{name}' has shape {coord_values.shape}, expected "
                                 f"{expected} for dimensions {coord_dims}")
            if coord not in dims:
                others.append(coord)
            group.create_array(coord, data=coord_values, attributes={"_ARRAY_DIMENSIONS": list(coord_dims)},
                               compressors=compressor if coord_values.ndim else None,
                               fill_value=np.nan if coord_values.dtype.kind == "f" else None)
        attributes: dict[str, Any] = {"_ARRAY_DIMENSIONS": list(dims)}
        if others:
            attributes["coordinates"] = " ".join(others)
        group.create_array(name, data=values, attributes=attributes, compressors=compressor,
                           fill_value=np.nan if values.dtype.kind == "f" else None, chunks=_chunks(values.shape))
    return store


def write_minian(path: str | os.PathLike, content: MinianContent, *, overwrite: bool = False) -> pathlib.Path:
    """Write ``content`` as a minian output folder at ``path`` (layout in the module notes); returns the folder.

    The folder is built under a temporary name beside ``path`` and renamed when complete.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False. ValueError: arrays of disagreeing shapes.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; give another folder or overwrite=True")
    unit_ids = np.asarray(content.unit_ids, dtype=np.int64)
    fluorescence = np.asarray(content.fluorescence, dtype=np.float32)
    n_units, n_frames = fluorescence.shape
    height, width = int(content.height), int(content.width)
    if content.footprints.shape != (height * width, n_units) or unit_ids.shape != (n_units,):
        raise ValueError(f"footprints {content.footprints.shape} and unit_ids {unit_ids.shape} must fit "
                         f"{n_units} cells of {height}x{width} pixels")
    coords = {"unit_id": unit_ids, "frame": np.arange(n_frames, dtype=np.int64),
              "height": np.arange(height, dtype=np.int64), "width": np.arange(width, dtype=np.int64)}
    calcium = fluorescence if content.denoised is None else np.asarray(content.denoised, np.float32)
    traces = {"C": calcium, "YrA": fluorescence.astype(MINIAN_FLOAT) - calcium.astype(MINIAN_FLOAT),
              "S": content.spikes, "DFF": content.dff}
    background_image, background_trace = _background(content, n_frames)
    images = {"b": background_image, "max_proj": content.max_proj}
    with _replaced_folder(path) as temporary:
        write_minian_variable(temporary, "A", _dense_footprints(content.footprints, height, width),
                              dims=("unit_id", "height", "width"), coords=_pick(coords, "unit_id", "height", "width"))
        for name, values in traces.items():
            if values is not None:
                _check_shape(name, values, (n_units, n_frames))
                write_minian_variable(temporary, name, values, dims=("unit_id", "frame"),
                                      coords=_pick(coords, "unit_id", "frame"), dtype=MINIAN_FLOAT)
        for name, values in images.items():
            if values is not None:
                _check_shape(name, values, (height, width))
                write_minian_variable(temporary, name, values, dims=("height", "width"),
                                      coords=_pick(coords, "height", "width"), dtype=MINIAN_FLOAT)
        write_minian_variable(temporary, "f", background_trace, dims=("frame",), coords=_pick(coords, "frame"),
                              dtype=MINIAN_FLOAT)
        if content.motion is not None:
            _check_shape("motion", content.motion, (n_frames, 2))
            write_minian_variable(temporary, "motion", -np.asarray(content.motion, MINIAN_FLOAT),
                                  dims=("frame", "shift_dim"),
                                  coords={"frame": coords["frame"], "shift_dim": _SHIFT_DIMS})
    return path


@contextlib.contextmanager
def _replaced_folder(final: pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary folder beside ``final``, to be filled in the block; when the block ends without error it
    replaces ``final`` (an existing folder of that name is removed first), and it is removed otherwise."""
    temporary = final.parent / f".{final.name}.{uuid.uuid4().hex}.partial"
    try:
        yield temporary
        if final.exists():
            shutil.rmtree(final)
        os.replace(temporary, final)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary)


def export_minian(imaging: ModuleType, curation_key: dict[str, Any], path: str | os.PathLike, *,
                  overwrite: bool = False) -> pathlib.Path:
    """Write the cells and traces of curation ``curation_key`` as a minian output folder at ``path``.

    Args:
        imaging: the activated imaging schema module.
        curation_key: names one `imaging.Curation`; its Fluorescence must be populated (Activity traces are
            used where computed, else the segmentation's own).
        path: the folder to write (see `write_minian`).
        overwrite: replace an existing folder.

    Raises:
        ValueError: an unknown curation, or one whose Fluorescence is not populated.
    """
    key = (imaging.Curation & curation_key).fetch1("KEY")
    if not imaging.Fluorescence & key:
        raise ValueError(f"curation {key} has no Fluorescence yet; populate it before exporting")
    return write_minian(path, minian_content(imaging, key), overwrite=overwrite)


def minian_content(imaging: ModuleType, curation_key: dict[str, Any]) -> MinianContent:
    """The `MinianContent` of curation ``curation_key`` (populated Fluorescence), read from the tables."""
    sources = imaging.curated_sources(curation_key)
    ids, fluorescence, background = (imaging.Fluorescence.Trace & curation_key).to_arrays(
        "mask_id", "fluorescence", "background_fluorescence", order_by="mask_id")
    order = np.argsort(sources.mask_ids)
    if not np.array_equal(np.asarray(ids, np.int64), sources.mask_ids[order]):
        raise ValueError(f"curation {curation_key}: the Fluorescence cells differ from the curation's; populate it")
    activity = {method: _activity(imaging, curation_key, method, len(ids)) for method in
                ("denoised", "deconvolved", "dff")}
    fallback = {"denoised": sources.denoised, "deconvolved": sources.spikes, "dff": sources.dff}
    traces = {method: activity[method] if activity[method] is not None else
              (None if fallback[method] is None else fallback[method][order]) for method in activity}
    task = key_of(imaging.MotionCorrection.primary_key, curation_key)
    motion = imaging.MotionCorrection.RigidMotionCorrection & task
    summary = (imaging.MotionCorrection.Summary & task).fetch1() if imaging.MotionCorrection.Summary & task else {}
    footprints = scipy.sparse.csc_array(sources.footprints[:, order])
    fluorescence = np.stack(fluorescence).astype(np.float32)
    average = summary.get("average_image")
    background_image = background_trace = None
    if average is not None:
        calcium = traces["denoised"] if traces["denoised"] is not None else fluorescence
        residual = fluorescence - calcium
        mean_light = footprints @ (calcium + residual).mean(axis=1)
        background_image = np.clip(np.asarray(average, np.float32).ravel() - mean_light, 0, None)
        background_image = background_image.reshape(sources.height, sources.width)
        background_trace = _relative_background(background, fluorescence.shape[1])
    return MinianContent(
        footprints=footprints, height=sources.height, width=sources.width, unit_ids=np.asarray(ids, np.int64),
        fluorescence=fluorescence, denoised=traces["denoised"], spikes=traces["deconvolved"], dff=traces["dff"],
        background_image=background_image, background_trace=background_trace,
        max_proj=summary.get("max_proj_image"),
        motion=np.stack(motion.fetch1("y_shifts", "x_shifts"), axis=1).astype(np.float32) if motion else None,
    )


def _activity(imaging: ModuleType, key: dict[str, Any], method: str, n_cells: int) -> np.ndarray | None:
    """(N, T) float32 Activity traces of ``method`` for the curation's cells (by mask id), or None if not computed."""
    traces = (imaging.Activity.Trace & key & {"extraction_method": method}).to_arrays("activity_trace",
                                                                                     order_by="mask_id")
    return np.stack(traces).astype(np.float32) if len(traces) == n_cells and n_cells else None


def _relative_background(background: Any, n_frames: int) -> np.ndarray:
    """(T,) the cells' mean background trace over its mean; ones when a cell has none or the mean is not > 0."""
    if any(trace is None for trace in background) or not len(background):
        return np.ones(n_frames, np.float32)
    course = np.stack(background).astype(np.float64).mean(axis=0)
    level = course.mean()
    return (course / level).astype(np.float32) if level > 0 else np.ones(n_frames, np.float32)


def _background(content: MinianContent, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    height, width = int(content.height), int(content.width)
    if content.background_image is None:
        return np.zeros((height, width), MINIAN_FLOAT), np.zeros(n_frames, MINIAN_FLOAT)
    trace = np.ones(n_frames) if content.background_trace is None else np.asarray(content.background_trace)
    _check_shape("f", trace, (n_frames,))
    return np.asarray(content.background_image, MINIAN_FLOAT), trace.astype(MINIAN_FLOAT)


def _dense_footprints(footprints: scipy.sparse.csc_array, height: int, width: int) -> np.ndarray:
    """(N, H, W) float64 images of (H * W, N) sparse footprints, converted a block of units at a time."""
    n_units = footprints.shape[1]
    images = np.zeros((n_units, height, width), MINIAN_FLOAT)
    for start in range(0, n_units, _BLOCK_UNITS):
        block = footprints[:, start:start + _BLOCK_UNITS].toarray().T
        images[start:start + len(block)] = block.reshape(-1, height, width)
    return images


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Chunks of about 32 MB at most, split along the first axis (readers take any chunking)."""
    if not shape:
        return ()
    per_row = int(np.prod(shape[1:], dtype=np.int64)) * 8 or 1
    rows = max(1, min(shape[0], (32 << 20) // per_row))
    return (rows, *shape[1:])


def _pick(coords: dict[str, np.ndarray], *names: str) -> dict[str, np.ndarray]:
    return {name: coords[name] for name in names}


def _check_shape(name: str, values: Any, shape: tuple[int, ...]) -> None:
    if np.shape(values) != shape:
        raise ValueError(f"'{name}' has shape {np.shape(values)}, expected {shape}")


def _zarr() -> ModuleType:
    try:
        import zarr
    except ImportError as error:
        raise ImportError("writing a minian folder needs the zarr package: pip install element-calcium[minian]") \
            from error
    return zarr
