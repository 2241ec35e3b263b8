"""Results of other tools as the loaders return them, in this package's conventions.

- `LoadedMotion`: a motion correction. Shifts are the motion of the tissue in pixels, (dy, dx): a feature at
  (y, x) of the reference image appears at (y + dy, x + dx) in the frame. y is the first image axis (rows), x
  the second (columns). Correcting a frame moves its content by (-dy, -dx).
- `LoadedExtraction`: a source extraction (footprints and traces). Footprints are the columns of a sparse
  (height * width, N) matrix whose row index is the pixel ``y * width + x`` (C order: y the first image axis,
  rows; x the second, columns). Traces are (N, T) float32 with one row per footprint column, in the same
  order. A tool's background model, when it saved one, is K spatial components (height * width, K) with pixel
  rows in the same order and K temporal components (K, T): the background movie is their product.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np
import scipy.sparse

__all__ = ["LoadedExtraction", "LoadedMotion"]

_TRACES = ("fluorescence", "neuropil", "denoised", "spikes", "dff")


@dataclass(frozen=True, eq=False)
class LoadedMotion:
    """Rigid and piecewise-rigid shifts with the summary images of one motion correction.

    rigid_shifts: (T, 2) float32 (dy, dx) pixels per frame.
    block_shifts: (T, n_blocks, 2) float32 (dy, dx) pixels per frame and block, the whole motion
    of each block (rigid part included); None for a rigid-only correction.
    block_y, block_x: (n_blocks, 2) int64 (start, end) pixel rows / columns of each block, end
    exclusive; None with block_shifts.
    ref_image, average_image, correlation_image, max_image: (H, W) float32 or None when the tool
    did not save them; pixels outside the region a tool computed them on are NaN.
    outlier_frames: (T,) bool, True for frames the tool flagged, or None.
    source: the tool, e.g. "caiman" or "suite2p".
    Instances compare by identity (they hold arrays).
    """

    rigid_shifts: np.ndarray
    block_shifts: np.ndarray | None
    block_y: np.ndarray | None
    block_x: np.ndarray | None
    ref_image: np.ndarray | None
    average_image: np.ndarray | None
    correlation_image: np.ndarray | None
    max_image: np.ndarray | None
    outlier_frames: np.ndarray | None
    source: str

    def __post_init__(self) -> None:
        rigid = self.rigid_shifts
        if rigid.ndim != 2 or rigid.shape[1] != 2:
            raise ValueError(f"rigid_shifts must be (T, 2), got shape {rigid.shape}")
        nframes = rigid.shape[0]
        blocks = (self.block_shifts, self.block_y, self.block_x)
        if any(b is None for b in blocks) and not all(b is None for b in blocks):
            raise ValueError("block_shifts, block_y and block_x must all be given or all be None")
        if self.block_shifts is not None:
            nblocks = self.block_y.shape[0]
            if self.block_shifts.shape != (nframes, nblocks, 2):
                raise ValueError(
                    f"block_shifts must be (T, n_blocks, 2) = ({nframes}, {nblocks}, 2), got {self.block_shifts.shape}"
                )
            for name, span in (("block_y", self.block_y), ("block_x", self.block_x)):
                if span.shape != (nblocks, 2) or np.any(span[:, 1] <= span[:, 0]) or np.any(span < 0):
                    raise ValueError(f"{name} must be (n_blocks, 2) pixel ranges with 0 <= start < end")
        images = (self.ref_image, self.average_image, self.correlation_image, self.max_image)
        images = [image for image in images if image is not None]
        if any(image.ndim != 2 or image.shape != images[0].shape for image in images):
            raise ValueError(f"summary images must all be (H, W) of one size, got {[i.shape for i in images]}")
        if self.outlier_frames is not None and self.outlier_frames.shape != (nframes,):
            raise ValueError(f"outlier_frames must be ({nframes},), got {self.outlier_frames.shape}")

    @property
    def nframes(self) -> int:
        """Number of frames T."""
        return self.rigid_shifts.shape[0]


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
