"""Source-extraction results under the processed root: one HDF5 file per segmentation.

Whatever produced them (the built-in CNMF / CNMF-E, or another tool's results read by a loader),
the footprints and traces of a segmentation are kept in one file of this layout, written to a
temporary name and renamed into place:

- ``/footprints/data``, ``/footprints/indices``, ``/footprints/indptr``: sparse CSC
  (H * W, N) float32, pixel row index ``y * W + x``;
- ``/mask_ids``: (N,) int64, the masks' ids in the Segmentation table;
- ``/fluorescence``: (N, T) float32, each component's own fluorescence with the background (or
  neuropil) removed, in grey levels;
- ``/background``: (N, T) float32, the background (or neuropil) that was removed, in the same
  units; optional. For another tool's CNMF results (traces without a baseline) it is the light of
  the recording's movie under the footprint besides the component's own trace;
- ``/denoised``, ``/spikes``, ``/dff``: (N, T) float32, optional;
- root attributes ``format``, ``height``, ``width``, ``fps`` (Hz) and, for a table's results,
  ``owner`` (`results_file.owner_text`: the key the file belongs to).

The file is published only when complete and never over an existing file (`results_file.write_hdf5`):
a second computation of the same key gets a fresh name. The database holds the sparse masks and,
per curation, the traces; this file is where a curation's traces start from.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import numpy as np
from scipy import sparse

from element_calcium import results_file
from element_calcium._hdf5 import open_hdf5

FORMAT = "element_calcium.extraction/1"
_TRACES = ("fluorescence", "background", "denoised", "spikes", "dff")


@dataclass(frozen=True)
class ExtractedSources:
    """Footprints and traces of N components over T frames.

    Attributes:
        height, width: field of view (pixels).
        footprints: (H * W, N) float32 sparse CSC, pixel row index ``y * W + x``.
        mask_ids: (N,) int64 ids of the components.
        fluorescence: (N, T) float32 background-removed fluorescence (grey levels).
        background: (N, T) float32 background under each component, or None.
        denoised: (N, T) float32 denoised calcium, or None.
        spikes: (N, T) float32 deconvolved spikes, or None.
        dff: (N, T) float32 dF/F computed by the producing tool, or None.
        fps: frame rate (Hz).
    """

    height: int
    width: int
    footprints: sparse.csc_array
    mask_ids: np.ndarray
    fluorescence: np.ndarray
    background: np.ndarray | None
    denoised: np.ndarray | None
    spikes: np.ndarray | None
    dff: np.ndarray | None
    fps: float

    def __post_init__(self) -> None:
        n_pixels, n_masks = self.footprints.shape
        if n_pixels != self.height * self.width:
            raise ValueError(f"footprints have {n_pixels} rows for a {self.height}x{self.width} field of view")
        if self.mask_ids.shape != (n_masks,):
            raise ValueError(f"mask_ids has shape {self.mask_ids.shape}, expected ({n_masks},)")
        if len(np.unique(self.mask_ids)) != n_masks:
            raise ValueError("mask_ids are not unique")
        shape = self.fluorescence.shape
        if len(shape) != 2 or shape[0] != n_masks:
            raise ValueError(f"fluorescence has shape {shape}, expected ({n_masks}, T)")
        for name in _TRACES[1:]:
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")

    @property
    def n_frames(self) -> int:
        return self.fluorescence.shape[1]

    def select(self, mask_ids: np.ndarray) -> ExtractedSources:
        """The components with the given ids, in that order (KeyError for an unknown id)."""
        position = {int(mask_id): index for index, mask_id in enumerate(self.mask_ids)}
        rows = np.array([position[int(mask_id)] for mask_id in mask_ids], dtype=np.int64)
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        for name in _TRACES:
            if values[name] is not None:
                values[name] = values[name][rows]
        values["footprints"] = sparse.csc_array(self.footprints[:, rows])
        values["mask_ids"] = self.mask_ids[rows]
        return ExtractedSources(**values)


def write_sources(path: str | os.PathLike, sources: ExtractedSources, *, owner: str | None = None) -> pathlib.Path:
    """Write ``sources`` to ``path``, or to a fresh name beside it when ``path`` exists; returns the file written.

    owner: `results_file.owner_text` of the key the results belong to, recorded in the file. A failed write
    (OSError naming the file, e.g. disk full) leaves nothing behind.
    """
    footprints = sparse.csc_array(sources.footprints, dtype=np.float32)
    with results_file.write_hdf5(path, owner=owner) as output:
        h5 = output.h5
        h5.attrs.update({"format": FORMAT, "height": sources.height, "width": sources.width, "fps": sources.fps})
        group = h5.create_group("footprints")
        group.create_dataset("data", data=footprints.data)
        group.create_dataset("indices", data=footprints.indices.astype(np.int64))
        group.create_dataset("indptr", data=footprints.indptr.astype(np.int64))
        h5.create_dataset("mask_ids", data=np.asarray(sources.mask_ids, dtype=np.int64))
        for name in _TRACES:
            value = getattr(sources, name)
            if value is not None:
                h5.create_dataset(name, data=np.asarray(value, dtype=np.float32))
    return output.path


def read_sources(path: str | os.PathLike, *, owner: str | None = None) -> ExtractedSources:
    """The sources in a file written by `write_sources`.

    owner: `results_file.owner_text` of the key whose results are expected; a file recording another is refused.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: naming the file, when it is not such a file, its arrays disagree, or it holds the results
            of another key.
    """
    path = pathlib.Path(path)
    with _opened(path, owner) as h5:
        try:
            height, width = int(h5.attrs["height"]), int(h5.attrs["width"])
            mask_ids = h5["mask_ids"][()]
            group = h5["footprints"]
            footprints = sparse.csc_array(
                (group["data"][()], group["indices"][()], group["indptr"][()]),
                shape=(height * width, len(mask_ids)),
            )
            traces = {name: (h5[name][()] if name in h5 else None) for name in _TRACES}
            if traces["fluorescence"] is None:
                raise KeyError("no 'fluorescence' dataset")
            return ExtractedSources(
                height=height,
                width=width,
                footprints=footprints,
                mask_ids=mask_ids,
                fps=float(h5.attrs["fps"]),
                **traces,
            )
        except (KeyError, ValueError, TypeError, OSError) as error:
            raise ValueError(f"{path}: extraction results file is damaged ({error})") from error


@dataclass(frozen=True)
class StoredTraces:
    """Which traces an extraction file holds, read from its metadata without reading them.

    Attributes:
        fps: frame rate recorded in the file (Hz).
        names: the trace datasets present, among ``fluorescence``, ``background``, ``denoised``, ``spikes``
            and ``dff``.
    """

    fps: float
    names: frozenset[str]


def read_stored_traces(path: str | os.PathLike, *, owner: str | None = None) -> StoredTraces:
    """The frame rate and trace names of the file written by `write_sources` at ``path``; reads no trace.

    owner: as in `read_sources`. Raises as `read_sources` does for a missing file, another format or another owner.
    """
    path = pathlib.Path(path)
    with _opened(path, owner) as h5:
        try:
            return StoredTraces(fps=float(h5.attrs["fps"]), names=frozenset(name for name in _TRACES if name in h5))
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path}: extraction results file is damaged ({error})") from error


@contextmanager
def _opened(path: pathlib.Path, owner: str | None) -> Iterator:
    """The open HDF5 file at ``path``, once its format and, when ``owner`` is given, its owner are checked."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: extraction results file not found")
    with open_hdf5(path) as h5:
        found = h5.attrs.get("format")
        found = found.decode() if isinstance(found, bytes) else found
        if found != FORMAT:
            raise ValueError(f"{path}: not an element_calcium extraction file (format {found!r})")
        results_file.check_owner(path, h5.attrs.get(results_file.OWNER), owner)
        yield h5
