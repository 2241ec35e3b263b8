"""Motion-correction results of another tool, in this package's conventions.

Shifts are the motion of the tissue in pixels, (dy, dx): a feature at (y, x) of the reference
image appears at (y + dy, x + dx) in the frame. y is the first image axis (rows), x the second
(columns). Correcting a frame moves its content by (-dy, -dx).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def as_image(image: np.ndarray | None) -> np.ndarray | None:
    """A summary image as (H, W) float32 (None stays None)."""
    return None if image is None else np.asarray(image, dtype=np.float32)
