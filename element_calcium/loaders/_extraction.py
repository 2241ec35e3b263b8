"""Source-extraction results of another tool (footprints and traces), in this package's conventions.

Footprints are the columns of a sparse (height * width, N) matrix whose row index is the pixel
``y * width + x`` (C order: y the first image axis, rows; x the second, columns). Traces are
(N, T) float32 with one row per footprint column, in the same order. A tool's background model,
when it saved one, is K spatial components (height * width, K) with pixel rows in the same order
and K temporal components (K, T): the background movie is their product.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse

_TRACES = ("fluorescence", "neuropil", "denoised", "spikes", "dff")


@dataclass(frozen=True, eq=False)
class LoadedExtraction:
    """Footprints and traces of the N components one tool extracted from a T-frame recording.

    source: the file or folder read.
    height, width: the field of view (pixels) the footprints live in.
    footprints: (height * width, N) float32 ``scipy.sparse.csc_array``; row ``y * width + x``.
    mask_ids: (N,) int64, unique: the tool's own id of each component.
    fluorescence: (N, T) float32 raw fluorescence.
    neuropil, denoised, spikes, dff: (N, T) float32 or None when the tool has no such trace.
    accepted: (N,) bool, True for components the tool kept, or None when it did not classify.
    confidence: (N,) float32 classifier probability that a component is a cell, or None.
    fps: frame rate in Hz when the files hold it, else None.
    background_footprints: (height * width, K) float32 dense spatial background components
        (CNMF's ``b``), row ``y * width + x``, or None when the tool saved no background model.
    background_traces: (K, T) float32 temporal background components (CNMF's ``f``), or None
        (given with ``background_footprints``).
    Instances compare by identity (they hold arrays).
    """

    source: pathlib.Path
    height: int
    width: int
    footprints: scipy.sparse.csc_array
    mask_ids: np.ndarray
    fluorescence: np.ndarray
    neuropil: np.ndarray | None
    denoised: np.ndarray | None
    spikes: np.ndarray | None
    dff: np.ndarray | None
    accepted: np.ndarray | None
    confidence: np.ndarray | None
    fps: float | None
    background_footprints: np.ndarray | None = None
    background_traces: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        fluorescence = self.fluorescence
        if fluorescence.ndim != 2:
            raise ValueError(f"fluorescence must be (N, T), got shape {fluorescence.shape}")
        nmasks, nframes = fluorescence.shape
        if nframes < 1:
            raise ValueError("fluorescence has no frames (T = 0)")
        footprints = self.footprints
        if not isinstance(footprints, scipy.sparse.csc_array) or footprints.dtype != np.float32:
            raise ValueError(f"footprints must be a float32 scipy.sparse.csc_array, got {type(footprints).__name__}")
        if footprints.shape != (self.height * self.width, nmasks):
            raise ValueError(
                f"footprints must be (height * width, N) = ({self.height * self.width}, {nmasks}), "
                f"got {footprints.shape}"
            )
        for name in _TRACES:
            trace = getattr(self, name)
            if trace is not None and (trace.dtype != np.float32 or trace.shape != (nmasks, nframes)):
                raise ValueError(
                    f"{name} must be (N, T) = ({nmasks}, {nframes}) float32, got {trace.shape} {trace.dtype}"
                )
        ids = self.mask_ids
        if ids.dtype != np.int64 or ids.shape != (nmasks,) or np.unique(ids).size != nmasks:
            raise ValueError(f"mask_ids must be ({nmasks},) unique int64, got {ids.shape} {ids.dtype}")
        if self.accepted is not None and (self.accepted.dtype != bool or self.accepted.shape != (nmasks,)):
            raise ValueError(f"accepted must be ({nmasks},) bool, got {self.accepted.shape} {self.accepted.dtype}")
        confidence = self.confidence
        if confidence is not None and (confidence.dtype != np.float32 or confidence.shape != (nmasks,)):
            raise ValueError(f"confidence must be ({nmasks},) float32, got {confidence.shape} {confidence.dtype}")
        if self.fps is not None and not (isinstance(self.fps, float) and np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive float or None, got {self.fps!r}")
        self._check_background(nframes)

    def _check_background(self, nframes: int) -> None:
        spatial, temporal = self.background_footprints, self.background_traces
        if (spatial is None) != (temporal is None):
            raise ValueError("background_footprints and background_traces must both be given or both be None")
        if spatial is None:
            return
        npixels = self.height * self.width
        if spatial.dtype != np.float32 or spatial.ndim != 2 or spatial.shape[0] != npixels:
            raise ValueError(
                f"background_footprints must be (height * width, K) = ({npixels}, K) float32, "
                f"got {spatial.shape} {spatial.dtype}"
            )
        if temporal.dtype != np.float32 or temporal.shape != (spatial.shape[1], nframes):
            raise ValueError(
                f"background_traces must be (K, T) = ({spatial.shape[1]}, {nframes}) float32, "
                f"got {temporal.shape} {temporal.dtype}"
            )

    @property
    def nmasks(self) -> int:
        """Number of components N."""
        return self.fluorescence.shape[0]

    @property
    def nframes(self) -> int:
        """Number of frames T."""
        return self.fluorescence.shape[1]

    def footprint_images(self) -> np.ndarray:
        """The footprints as a dense (N, height, width) float32 array (for small fields of view)."""
        return self.footprints.T.toarray().reshape(self.nmasks, self.height, self.width)


def as_traces(value: object, name: str, where: object) -> np.ndarray:
    """``value`` as an (N, T) float32 array; ValueError naming ``where`` and ``name`` if it is not numeric 2-D data.

    An array holding only NaN is refused: it carries no trace.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: '{name}' must hold numbers, found dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{where}: '{name}' must be 2-D (components, frames), got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if array.size and np.isnan(array).all():
        raise ValueError(f"{where}: '{name}' holds only NaN")
    return array


def check_same_shape(arrays: dict[str, np.ndarray | None], where: object) -> None:
    """ValueError naming ``where`` unless all arrays given (None skipped) have one shape."""
    given = [(name, array) for name, array in arrays.items() if array is not None]
    first_name, first = given[0]
    for name, array in given[1:]:
        if array.shape != first.shape:
            raise ValueError(f"{where}: '{name}' has shape {array.shape} but '{first_name}' has {first.shape}")


def footprints_from_pixels(
    mask: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    *,
    height: int,
    width: int,
    nmasks: int,
) -> scipy.sparse.csc_array:
    """(height * width, nmasks) float32 footprints from pixel lists: mask index, row (y), column (x), weight."""
    pixels = rows.astype(np.int64) * width + columns.astype(np.int64)
    return as_footprints(scipy.sparse.coo_array((weights, (pixels, mask)), shape=(height * width, nmasks)))


def footprints_from_images(images: np.ndarray) -> scipy.sparse.csc_array:
    """(height * width, n) float32 footprints from dense (n, height, width) images."""
    nmasks = images.shape[0]
    return as_footprints(scipy.sparse.csc_array(images.reshape(nmasks, -1).T))


def stack_footprints(blocks: list[scipy.sparse.csc_array], npixels: int) -> scipy.sparse.csc_array:
    """Footprint blocks of consecutive components side by side, as one csc array."""
    if not blocks:
        return scipy.sparse.csc_array((npixels, 0), dtype=np.float32)
    return as_footprints(scipy.sparse.hstack(blocks, format="csc"))


def as_footprints(matrix: scipy.sparse.sparray) -> scipy.sparse.csc_array:
    """float32 csc array with sorted, summed row indices and no stored zeros."""
    matrix = scipy.sparse.csc_array(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix
