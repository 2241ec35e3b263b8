"""NWB files (Neurodata Without Borders, read with pynwb): the cells and traces of one ``PlaneSegmentation``, as
DANDI holds them, and the motion correction `element_calcium.export.export_nwb` writes.

Layout read (NWB 2.x core types only; extension types in a file are loaded from its cached namespaces):

- Cells: a ``PlaneSegmentation`` (inside an ``ImageSegmentation`` of a processing module) with ``image_mask``
  ``(N, x, y)`` or ``pixel_mask`` (per cell, ``(x, y, weight)`` rows). NWB's x is the column (second image axis)
  and y the row, as the NWB schema says and as neuroconv (which wrote most DANDI ophys files) writes them; a
  file written with rows in x appears transposed and is refused by load mode's frame-size check unless its
  frames are square. The table's ids are the mask ids.
- Traces: the ``RoiResponseSeries`` whose ``rois`` point to that table, ``(T, n)``, in ``Fluorescence`` and
  ``DfOverF`` containers. Each is named for what it holds (series name first, then its container's name):
  ``DfOverF`` containers and names with ``dff``/``dfoverf`` are dF/F; ``neuropil``; ``deconv`` or ``spike``
  (deconvolved); ``denoised``; ``background`` series are left out (a background already removed); any other
  series of a ``Fluorescence`` container is the raw fluorescence (``RoiResponseSeries`` in neuroconv's files,
  ``Fluorescence`` in suite2p's).
- Classification: a column ``accepted`` / ``Accepted`` (1 or 0 per cell), or suite2p's ``iscell`` (N, 2): 1/0
  and the probability.
- Motion (`load_nwb_motion`): the TimeSeries ``motion_rigid_shifts`` (T, 2) of this package's exports, with
  ``motion_block_shifts``, the ``motion_blocks`` table, ``motion_outlier_frames`` and the ``summary_images``
  Images; otherwise the ``xy_translation`` of a core ``MotionCorrection`` (the shift that aligns each frame,
  i.e. minus the tissue motion).

Images in NWB are (x, y): every image and mask is transposed to this package's (row, column) on reading.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import warnings
from collections.abc import Iterator

import numpy as np
import scipy.sparse

from element_calcium.loaders._convert import as_traces, footprints_from_pixels, stack_footprints
from element_calcium.loaders.types import LoadedExtraction, LoadedMotion

__all__ = [
    "BLOCKS_TABLE",
    "BLOCK_SHIFTS",
    "OUTLIER_FRAMES",
    "RIGID_SHIFTS",
    "SUMMARY_IMAGES",
    "find_nwb_file",
    "load_nwb_extraction",
    "load_nwb_motion",
]

RIGID_SHIFTS = "motion_rigid_shifts"  # TimeSeries (T, 2): tissue motion (dy, dx) in pixels
BLOCK_SHIFTS = "motion_block_shifts"  # TimeSeries (T, n_blocks, 2): motion of each block (rigid part included)
BLOCKS_TABLE = "motion_blocks"  # DynamicTable: y_start, y_end, x_start, x_end of each block (pixels, end excluded)
OUTLIER_FRAMES = "motion_outlier_frames"  # TimeSeries (T,) uint8: 1 for frames flagged as outliers
SUMMARY_IMAGES = "summary_images"  # Images: ref_image, average_image, correlation_image, max_proj_image, ...
MOTION_IMAGES = {"ref_image": "ref_image", "average_image": "average_image",
                 "correlation_image": "correlation_image", "max_proj_image": "max_image"}
_KINDS = ("fluorescence", "neuropil", "denoised", "spikes", "dff")


def find_nwb_file(path: str | os.PathLike) -> pathlib.Path:
    """The NWB file ``path`` names: the file itself, or the one ``.nwb`` file in the folder ``path``.

    Raises FileNotFoundError when there is none, ValueError when a folder holds several.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: NWB file or folder not found")
    if path.is_file():
        return path
    files = sorted(p for p in path.glob("*.nwb") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{path}: no .nwb file in this folder; put the NWB file to load there")
    if len(files) > 1:
        names = ", ".join(p.name for p in files)
        raise ValueError(f"{path}: {len(files)} .nwb files ({names}); keep the one to load in the folder")
    return files[0]


@contextlib.contextmanager
def _open_nwb(file: pathlib.Path) -> Iterator[object]:
    """The NWBFile read from ``file`` (lazily: datasets are read when sliced), open for the block."""
    try:
        from pynwb import NWBHDF5IO
    except ImportError as error:
        raise ImportError("reading NWB files needs pynwb: pip install 'element_calcium[nwb]'") from error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pynwb's notes on cached namespaces and ignored extensions
            io = NWBHDF5IO(str(file), mode="r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as error:  # h5py, hdmf and pynwb raise many kinds of error on files that are not NWB
        raise ValueError(f"{file}: cannot be read as an NWB file ({' '.join(str(error).split())[:200]})") from error
    try:
        yield nwbfile
    finally:
        io.close()


def load_nwb_extraction(path: str | os.PathLike, *, plane_segmentation: str | None = None) -> LoadedExtraction:
    """Cells and traces of one PlaneSegmentation of an NWB file (see the module's description of the layout).

    path: an ``.nwb`` file, or a folder holding one (`find_nwb_file`).
    plane_segmentation: the name of the PlaneSegmentation to read; None reads the file's only one.
    Returns footprints in the (height, width) frame of the masks, traces (N, T) float32 in the table's row
    order, ``mask_ids`` = the table's ids, ``fps`` from the raw fluorescence series (its rate, or its median
    timestamp interval).

    Raises FileNotFoundError when there is no file, ValueError naming the file and object when it is not NWB,
    has no (or several, with no name given) PlaneSegmentation, masks of another kind (voxel masks) or outside
    the frame, no raw fluorescence series, two series of one kind, or series that disagree in shape.
    """
    file = find_nwb_file(path)
    with _open_nwb(file) as nwbfile:
        table = _plane_segmentation(nwbfile, plane_segmentation, file)
        where = f"{file}: PlaneSegmentation '{table.name}'"
        nmasks = len(table.id)
        mask_ids = np.asarray(table.id.data[:], dtype=np.int64)
        height, width, footprints = _footprints(nwbfile, table, where)
        traces, fps = _traces(nwbfile, table, nmasks, where)
        accepted, confidence = _classification(table, nmasks, where)
    try:
        return LoadedExtraction(
            source=file,
            height=height,
            width=width,
            footprints=footprints,
            mask_ids=mask_ids,
            fluorescence=traces["fluorescence"],
            neuropil=traces["neuropil"],
            denoised=traces["denoised"],
            spikes=traces["spikes"],
            dff=traces["dff"],
            accepted=accepted,
            confidence=confidence,
            fps=fps,
        )
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


def _plane_segmentation(nwbfile, name: str | None, file: pathlib.Path):
    from pynwb.ophys import PlaneSegmentation

    tables = [obj for obj in nwbfile.objects.values() if isinstance(obj, PlaneSegmentation)]
    names = sorted(table.name for table in tables)
    if name is not None:
        chosen = [table for table in tables if table.name == name]
        if len(chosen) != 1:
            found = "none" if not chosen else f"{len(chosen)} of that name"
            raise ValueError(f"{file}: PlaneSegmentation '{name}' not found ({found}); the file has {names}")
        return chosen[0]
    if not tables:
        raise ValueError(f"{file}: no PlaneSegmentation (cells) in this NWB file; load a file with a segmentation")
    if len(tables) > 1:
        raise ValueError(f"{file}: {len(tables)} PlaneSegmentations {names}; name the one to load")
    return tables[0]


def _footprints(nwbfile, table, where: str) -> tuple[int, int, scipy.sparse.csc_array]:
    """(height, width, (height * width, N) footprints) from the image or pixel masks of ``table``."""
    nmasks = len(table.id)
    if "image_mask" in table.colnames:
        masks = table["image_mask"].data
        shape = tuple(int(n) for n in masks.shape)
        if len(shape) != 3:
            raise ValueError(f"{where}: image_mask must be (N, x, y) 2-D masks, got shape {shape}")
        width, height = shape[1], shape[2]
        blocks = []
        for start in range(0, nmasks, 256):  # a few masks at a time: a mask is a whole frame
            images = np.asarray(masks[start:start + 256], dtype=np.float32).transpose(0, 2, 1)
            if not np.isfinite(images).all():
                raise ValueError(f"{where}: image_mask holds NaN or infinite weights")
            blocks.append(scipy.sparse.csc_array(images.reshape(len(images), -1).T))
        return height, width, stack_footprints(blocks, height * width)
    if "pixel_mask" in table.colnames:
        height, width = _frame_size(nwbfile, table, where)
        column = table["pixel_mask"]
        pixels = np.asarray(column.target.data[:])
        ends = np.asarray(column.data[:], dtype=np.int64)
        if pixels.dtype.names is None or len(pixels.dtype.names) < 3:
            raise ValueError(f"{where}: pixel_mask must hold (x, y, weight) rows, got dtype {pixels.dtype}")
        x, y, weight = (pixels[name] for name in pixels.dtype.names[:3])
        if x.size and (min(x.min(), y.min()) < 0 or x.max() >= width or y.max() >= height):
            raise ValueError(f"{where}: pixel_mask has pixels outside the {height} x {width} (rows x columns) frame")
        if not np.isfinite(weight).all():
            raise ValueError(f"{where}: pixel_mask holds NaN or infinite weights")
        counts = np.diff(np.concatenate([[0], ends]))
        cell = np.repeat(np.arange(nmasks), counts)
        footprints = footprints_from_pixels(cell, y, x, weight.astype(np.float32), height=height, width=width,
                                            nmasks=nmasks)
        return height, width, footprints
    kinds = [name for name in ("voxel_mask",) if name in table.colnames]
    found = f"only {kinds[0]} (3-D masks, not supported)" if kinds else "no masks"
    raise ValueError(f"{where}: {found}; load a table with image_mask or pixel_mask")


def _frame_size(nwbfile, table, where: str) -> tuple[int, int]:
    """(height, width) of the frames of ``table``'s imaging plane: from an imaging series of that plane (its data
    (T, x, y) or its ``dimension`` [x, y]) or from the table's reference images."""
    from pynwb.image import ImageSeries

    series = list(table.reference_images or ())
    series += [obj for obj in nwbfile.objects.values()
               if isinstance(obj, ImageSeries) and getattr(obj, "imaging_plane", None) is table.imaging_plane]
    for candidate in series:
        shape = getattr(candidate.data, "shape", ())
        if len(shape) == 3 and shape[0] > 0:
            return int(shape[2]), int(shape[1])
        dimension = candidate.dimension
        if dimension is not None and len(dimension) >= 2:
            return int(dimension[1]), int(dimension[0])
    raise ValueError(
        f"{where}: has pixel masks but the file records no frame size (no imaging series of its imaging plane "
        "with data or a 'dimension'); load a file whose masks are image masks or whose imaging series is present"
    )


def _kind(series) -> str | None:
    """What the RoiResponseSeries ``series`` holds (one of ``_KINDS``), or None for a background series."""
    from pynwb.ophys import DfOverF

    if isinstance(series.parent, DfOverF):
        return "dff"
    for name in (series.name.lower(), series.parent.name.lower()):
        for token, kind in (("dff", "dff"), ("dfoverf", "dff"), ("neuropil", "neuropil"), ("deconv", "spikes"),
                            ("spike", "spikes"), ("denoised", "denoised"), ("background", None)):
            if token in name:
                return kind
    return "fluorescence"


def _traces(nwbfile, table, nmasks: int, where: str) -> tuple[dict[str, np.ndarray | None], float | None]:
    """Each kind of trace (N, T) float32 in ``table``'s row order (None when absent), and the frame rate (Hz)."""
    from pynwb.ophys import RoiResponseSeries

    found: dict[str, object] = {}
    for series in nwbfile.objects.values():
        if not isinstance(series, RoiResponseSeries) or series.rois.table is not table:
            continue
        kind = _kind(series)
        if kind is None:
            continue
        if kind in found:
            raise ValueError(f"{where}: two {kind} series ('{found[kind].name}' and '{series.name}'); keep one")
        found[kind] = series
    if "fluorescence" not in found:
        raise ValueError(f"{where}: no raw fluorescence RoiResponseSeries points to this table (found "
                         f"{sorted(found) or 'no series'}); load a file with the cells' fluorescence")
    traces: dict[str, np.ndarray | None] = dict.fromkeys(_KINDS)
    for kind, series in found.items():
        rows = np.asarray(series.rois.data[:], dtype=np.int64)
        if np.sort(rows).tolist() != list(range(nmasks)):
            raise ValueError(f"{where}: '{series.name}' covers rows {rows[:10].tolist()}..., not each of the "
                             f"{nmasks} cells once; load a file whose series cover every cell")
        data = as_traces(series.data[:], series.name, where)
        if data.shape[1] != nmasks:
            raise ValueError(f"{where}: '{series.name}' is {data.shape}, expected (T, {nmasks}): time first")
        ordered = np.empty((nmasks, data.shape[0]), dtype=np.float32)
        ordered[rows] = data.T
        traces[kind] = ordered
    shapes = {kind: trace.shape for kind, trace in traces.items() if trace is not None}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"{where}: the series have different numbers of frames: {shapes}")
    return traces, _rate(found["fluorescence"], where)


def _rate(series, where: str) -> float | None:
    """Frame rate (Hz) of ``series``: its ``rate``, or 1 / the median interval of its timestamps."""
    if series.rate is not None:
        rate = float(series.rate)
    else:
        timestamps = np.asarray(series.timestamps[:], dtype=np.float64)
        if timestamps.size < 2:
            return None
        rate = 1.0 / float(np.median(np.diff(timestamps)))
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"{where}: '{series.name}' has no positive frame rate (rate or timestamps), found {rate}")
    return rate


def _classification(table, nmasks: int, where: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(accepted (N,) bool, confidence (N,) float32) from an ``accepted``/``Accepted`` or ``iscell`` column."""
    for name in ("accepted", "Accepted"):
        if name in table.colnames:
            values = np.asarray(table[name].data[:])
            if values.shape != (nmasks,) or not np.isin(values, (0, 1)).all():
                raise ValueError(f"{where}: column '{name}' must be 1 (cell) or 0 per cell, got {values[:5]}...")
            return values.astype(bool), None
    if "iscell" in table.colnames:
        values = np.asarray(table["iscell"].data[:], dtype=np.float64)
        if values.shape != (nmasks, 2) or not np.isin(values[:, 0], (0, 1)).all():
            raise ValueError(f"{where}: column 'iscell' must be (N, 2): 1/0 and a probability, got {values.shape}")
        return values[:, 0].astype(bool), values[:, 1].astype(np.float32)
    return None, None


def load_nwb_motion(path: str | os.PathLike) -> LoadedMotion:
    """The motion correction stored in an NWB file, as tissue motion (dy, dx) in pixels.

    path: an ``.nwb`` file, or a folder holding one (`find_nwb_file`). Reads the ``motion_rigid_shifts``
    series this package's exports write (with blocks, outlier frames and summary images when present), else
    the ``xy_translation`` of a core ``MotionCorrection`` (negated: it aligns the frame).

    Raises FileNotFoundError when there is no file, ValueError naming the file when it holds no motion
    correction or a malformed one.
    """
    file = find_nwb_file(path)
    with _open_nwb(file) as nwbfile:
        objects = {obj.name: obj for obj in nwbfile.objects.values() if hasattr(obj, "name")}
        if RIGID_SHIFTS in objects:
            rigid = np.asarray(objects[RIGID_SHIFTS].data[:], dtype=np.float32)
            blocks = _blocks(objects, file)
            outliers = objects.get(OUTLIER_FRAMES)
            outliers = None if outliers is None else np.asarray(outliers.data[:]).astype(bool)
            images = _motion_images(objects.get(SUMMARY_IMAGES))
        else:
            rigid, blocks, outliers, images = _core_motion(nwbfile, file), (None, None, None), None, {}
    try:
        return LoadedMotion(rigid_shifts=rigid, block_shifts=blocks[0], block_y=blocks[1], block_x=blocks[2],
                            ref_image=images.get("ref_image"), average_image=images.get("average_image"),
                            correlation_image=images.get("correlation_image"), max_image=images.get("max_image"),
                            outlier_frames=outliers, source="nwb")
    except ValueError as error:
        raise ValueError(f"{file}: {error}") from error


def _blocks(objects: dict, file: pathlib.Path) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """(block shifts (T, n, 2), block_y (n, 2), block_x (n, 2)) of an export, or three None without blocks."""
    if BLOCK_SHIFTS not in objects:
        return None, None, None
    if BLOCKS_TABLE not in objects:
        raise ValueError(f"{file}: '{BLOCK_SHIFTS}' without the '{BLOCKS_TABLE}' table of block ranges")
    table = objects[BLOCKS_TABLE]
    spans = [np.asarray(table[name].data[:], dtype=np.int64) for name in ("y_start", "y_end", "x_start", "x_end")]
    shifts = np.asarray(objects[BLOCK_SHIFTS].data[:], dtype=np.float32)
    return shifts, np.stack(spans[:2], axis=1), np.stack(spans[2:], axis=1)


def _motion_images(images) -> dict[str, np.ndarray]:
    """The motion summary images of an export's Images container, (H, W) float32, by LoadedMotion field."""
    if images is None:
        return {}
    stored = images.images
    return {field: np.asarray(stored[name].data[:], dtype=np.float32).T
            for name, field in MOTION_IMAGES.items() if name in stored}


def _core_motion(nwbfile, file: pathlib.Path) -> np.ndarray:
    """(T, 2) tissue motion (dy, dx) from the one CorrectedImageStack of a core MotionCorrection."""
    from pynwb.ophys import CorrectedImageStack

    stacks = [obj for obj in nwbfile.objects.values() if isinstance(obj, CorrectedImageStack)]
    if len(stacks) != 1:
        found = "none" if not stacks else f"{len(stacks)} corrected image stacks"
        raise ValueError(
            f"{file}: no motion correction to load ('{RIGID_SHIFTS}' or one MotionCorrection xy_translation; found "
            f"{found}); load mode needs the motion the cells were found after"
        )
    translation = np.asarray(stacks[0].xy_translation.data[:], dtype=np.float32)
    if translation.ndim != 2 or translation.shape[1] != 2:
        raise ValueError(f"{file}: xy_translation must be (T, 2), got {translation.shape}")
    return -translation[:, ::-1].copy()
