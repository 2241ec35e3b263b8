"""CalTrig's session folder: a minian output folder with CalTrig's own arrays written beside minian's.

CalTrig (``caltrig.core.backend.DataInstance``) opens a minian output folder of ``<name>.zarr`` stores and saves
its work there, each array as minian's ``save_minian`` does (xarray's ``to_zarr``, zarr v2; dimension names in
the ``_ARRAY_DIMENSIONS`` attribute, non-dimension coordinates listed in the ``coordinates`` attribute):

- ``E`` (unit_id, frame): the event array, 1 on the frames of each confirmed transient and 0 elsewhere (float64;
  CalTrig reads NaN as 0 and any other non-zero value as 1). Its non-dimension coordinates are ``good_cells``
  (unit_id; 0 for a cell the user rejected, 1 otherwise), ``verified`` (unit_id; 1 for a cell the user verified)
  and ``timestamp(ms)`` (frame). A cell CalTrig has never touched has an all-zero row.
- ``DFF`` (unit_id, frame): dF/F of each cell (CaImAn's ``detrend_df_f`` on minian's arrays).
- ``M`` (missed_id, height, width): the masks of cells the user drew where minian found none (1 inside, 0
  outside; ``missed_id`` from 1). CalTrig keeps no trace for them.
- ``session_group_ids.json`` in the folder above the minian folder: ``{group name: [unit ids]}``, names as
  ``"Group 1"``.

A merge in CalTrig rewrites ``A``, ``C``, ``S``, ``YrA``, ``DFF`` and ``E`` in place (the merged cell keeps the
lowest id of its group; footprints and traces are the averages), so the cells are read as minian's are.
`load_caltrig_extraction` and `load_caltrig_motion` read them for load mode (processing method ``caltrig``);
`load_caltrig_curation` reads CalTrig's own work.
"""

from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass
import numpy as np

from element_calcium.loaders._convert import as_traces
from element_calcium.loaders.minian import ZARR_HELP, load_minian_extraction, load_minian_motion
from element_calcium.loaders.types import LoadedExtraction, LoadedMotion

GROUPS_FILE = "session_group_ids.json"
_READ_ERRORS = (OSError, ValueError, KeyError, RuntimeError, TypeError)


@dataclass(frozen=True, eq=False)
class CalTrigCuration:
    """What a CalTrig user decided about the cells of one minian output folder.

    Attributes:
        source: the minian output folder.
        unit_ids: (N,) int64 cells of ``E`` (empty without an ``E`` store).
        good: (N,) bool, False for cells the user rejected (``good_cells`` 0).
        verified: (N,) bool, True for cells the user verified.
        events: (N, T) bool, CalTrig's event array E (True on the frames of confirmed transients), or None.
        missed_ids: (K,) int64 ids of the cells the user drew (``missed_id``).
        missed_masks: (K, H, W) bool masks of those cells.
        groups: group name -> ids of its cells, from ``session_group_ids.json`` (empty without that file).
    Instances compare by identity (they hold arrays).
    """

    source: pathlib.Path
    unit_ids: np.ndarray
    good: np.ndarray
    verified: np.ndarray
    events: np.ndarray | None
    missed_ids: np.ndarray
    missed_masks: np.ndarray
    groups: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class _Stored:
    """One store's array, its dimension names and its coordinates (name -> (dims, values))."""

    where: pathlib.Path
    name: str
    values: np.ndarray
    dims: tuple[str, ...]
    coords: dict[str, tuple[tuple[str, ...], np.ndarray]]

    def coordinate(self, dim: str) -> np.ndarray | None:
        found = self.coords.get(dim)
        return None if found is None else found[1]


def load_caltrig_extraction(path: str | os.PathLike) -> LoadedExtraction:
    """Footprints and traces of a CalTrig session: minian's (`load_minian_extraction`) with CalTrig's ``DFF`` as
    ``dff`` (matched by ``unit_id``) when it was saved.

    Raises:
        FileNotFoundError: no minian output at ``path``. ValueError: naming the store, when ``DFF`` is malformed
            or lacks a cell of ``A``.
    """
    folder = _folder(path)
    loaded = load_minian_extraction(folder)
    stored = _read_store(folder, "DFF")
    if stored is None:
        return loaded
    dff = _rows_for(stored, ("unit_id", "frame"), loaded.mask_ids)
    if dff.shape[1] != loaded.nframes:
        raise ValueError(f"{stored.where}: 'DFF' has {dff.shape[1]} frames but 'C' has {loaded.nframes}")
    values = {name: getattr(loaded, name) for name in loaded.__dataclass_fields__}
    return LoadedExtraction(**{**values, "dff": dff})


def load_caltrig_motion(path: str | os.PathLike) -> LoadedMotion:
    """The rigid motion and max projection of a CalTrig session folder (minian's, `load_minian_motion`)."""
    return load_minian_motion(_folder(path))


def load_caltrig_curation(path: str | os.PathLike) -> CalTrigCuration:
    """CalTrig's work in the minian output folder ``path``: rejected and verified cells and the event array
    (``E``), the cells drawn by hand (``M``) and the cell groups (``session_group_ids.json`` one folder up).

    Each is optional: without ``E`` no cell is rejected or verified and ``events`` is None; without ``M`` no cell
    was drawn; without the JSON file there are no groups.

    Raises:
        FileNotFoundError: ``path`` is not a folder. ValueError: naming the store or file, when one is malformed.
    """
    folder = _folder(path)
    events = _read_store(folder, "E")
    if events is None:
        unit_ids, good, verified, event_array = np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, bool), None
    else:
        if sorted(events.dims) != ["frame", "unit_id"]:
            _bad_dims(events, ("unit_id", "frame"))
        unit_ids = _ids(events, "unit_id")
        values = np.transpose(events.values, [events.dims.index(d) for d in ("unit_id", "frame")])
        event_array = np.nan_to_num(as_traces(values, "E", events.where).astype(np.float64)) != 0
        good = _flag(events, "good_cells", default=True)
        verified = _flag(events, "verified", default=False)
    missed = _read_store(folder, "M")
    if missed is None:
        missed_ids, masks = np.zeros(0, np.int64), np.zeros((0, 0, 0), bool)
    else:
        order = ("missed_id", "height", "width")
        if sorted(missed.dims) != sorted(order):
            _bad_dims(missed, order)
        missed_ids = _ids(missed, "missed_id")
        masks = np.transpose(missed.values, [missed.dims.index(d) for d in order])
        if masks.dtype.kind not in "biuf":
            raise ValueError(f"{missed.where}: 'M' must hold numbers, found dtype {masks.dtype}")
        masks = np.nan_to_num(masks.astype(np.float64)) > 0
    return CalTrigCuration(source=folder, unit_ids=unit_ids, good=good, verified=verified, events=event_array,
                           missed_ids=missed_ids, missed_masks=masks, groups=_groups(folder.parent / GROUPS_FILE))


def _folder(path: str | os.PathLike) -> pathlib.Path:
    folder = pathlib.Path(path)
    if folder.is_dir() and folder.suffix == ".zarr":
        folder = folder.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: CalTrig session folder (a minian output folder) not found")
    return folder


def _read_store(folder: pathlib.Path, name: str) -> _Stored | None:
    """The variable ``name`` of the store ``<name>.zarr`` in ``folder``, or None when there is no such store."""
    store = folder / f"{name}.zarr"
    if not store.exists():
        return None
    try:
        import zarr
    except ImportError as error:
        raise ImportError(f"{store}: {ZARR_HELP}") from error
    try:
        group = zarr.open_group(str(store), mode="r")
        array = group[name]
        values = np.asarray(array[...])
        dims = array.attrs.get("_ARRAY_DIMENSIONS")
        listed = str(array.attrs.get("coordinates", "")).split()
        coords = {}
        for coord in [*(dims or []), *listed]:
            if coord != name and coord in group and coord not in coords:
                coord_dims = group[coord].attrs.get("_ARRAY_DIMENSIONS", [coord])
                coords[coord] = (tuple(coord_dims), np.asarray(group[coord][...]))
    except _READ_ERRORS as error:
        raise ValueError(f"{store}: cannot be read as CalTrig's '{name}' store ({error})") from error
    if not isinstance(dims, list) or len(dims) != values.ndim:
        raise ValueError(f"{store}: '{name}' has no valid '_ARRAY_DIMENSIONS' attribute (found {dims!r})")
    return _Stored(store, name, values, tuple(dims), coords)


def _bad_dims(stored: _Stored, expected: tuple[str, ...]) -> None:
    raise ValueError(f"{stored.where}: '{stored.name}' has dimensions {stored.dims}, expected {expected} in any order")


def _ids(stored: _Stored, dim: str) -> np.ndarray:
    ids = stored.coordinate(dim)
    if ids is None or ids.dtype.kind not in "iu" or ids.shape != (stored.values.shape[stored.dims.index(dim)],):
        raise ValueError(f"{stored.where}: '{stored.name}' needs integer '{dim}' coordinates, found {ids!r}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{stored.where}: the '{dim}' of '{stored.name}' are not unique")
    return ids.astype(np.int64)


def _flag(stored: _Stored, name: str, *, default: bool) -> np.ndarray:
    """(N,) bool of a 0/1 coordinate over unit_id (``default`` everywhere when the store lacks it, as CalTrig
    assumes for files written before it existed)."""
    n_units = stored.values.shape[stored.dims.index("unit_id")]
    found = stored.coords.get(name)
    if found is None:
        return np.full(n_units, default)
    dims, values = found
    if dims != ("unit_id",) or values.shape != (n_units,) or values.dtype.kind not in "biuf":
        raise ValueError(f"{stored.where}: '{name}' must be a number per unit_id, found dims {dims} "
                         f"shape {values.shape} dtype {values.dtype}")
    return np.nan_to_num(values.astype(np.float64)).astype(np.int64) == 1


def _rows_for(stored: _Stored, dims: tuple[str, ...], ids: np.ndarray) -> np.ndarray:
    """(len(ids), T) float32 rows of a (unit_id, frame) variable in the order of ``ids``."""
    if sorted(stored.dims) != sorted(dims):
        _bad_dims(stored, dims)
    values = as_traces(np.transpose(stored.values, [stored.dims.index(d) for d in dims]), stored.name, stored.where)
    own = _ids(stored, "unit_id")
    missing = sorted(set(ids.tolist()) - set(own.tolist()))
    if missing:
        raise ValueError(f"{stored.where}: '{stored.name}' lacks unit(s) {missing[:10]} of 'A'")
    position = {int(unit): row for row, unit in enumerate(own)}
    rows = values[[position[int(unit)] for unit in ids]]
    if np.isnan(rows).any():
        raise ValueError(f"{stored.where}: '{stored.name}' holds NaN for units of 'A'")
    return rows


def _groups(file: pathlib.Path) -> dict[str, tuple[int, ...]]:
    """CalTrig's ``{group name: [unit ids]}`` as name -> sorted distinct ids; empty when there is no file."""
    if not file.exists():
        return {}
    try:
        content = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: cannot be read as CalTrig's cell groups ({error})") from error
    good = isinstance(content, dict) and all(
        isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
        for ids in content.values())
    if not good:
        raise ValueError(f"{file}: CalTrig's cell groups must be {{group name: [unit ids]}}")
    return {str(name): tuple(sorted(set(ids))) for name, ids in content.items()}
