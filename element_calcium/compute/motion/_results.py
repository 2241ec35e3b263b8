"""What `correct_motion` returns: the motion of a recording, its summary images and the quality of the correction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUALITY_MIN_MOTION = 0.5  # (pixels) below this much motion a correction is not expected to help
QUALITY_MIN_GAIN = 0.005  # smallest rise of the median correlation that counts as an improvement


@dataclass(frozen=True)
class CorrectionQuality:
    """Agreement of frames with their mean before and after correction (`correction_quality`).

    Attributes:
        raw_correlation: median over the frames of the correlation of each raw frame with the raw frames' mean.
        corrected_correlation: the same for the corrected frames and their mean.
        improved_fraction: fraction of the frames whose correlation rose.
        motion: (pixels) 95th percentile of the distance of the frames' shifts from their median.
    """

    raw_correlation: float
    corrected_correlation: float
    improved_fraction: float
    motion: float

    def warning(self) -> str | None:
        """A one-line warning when the frames moved but correction did not make them agree better, else None."""
        if self.motion < QUALITY_MIN_MOTION:
            return None
        gain = self.corrected_correlation - self.raw_correlation
        if gain >= QUALITY_MIN_GAIN and self.improved_fraction >= 0.5:
            return None
        return (
            f"motion correction did not make the frames agree better with their mean (median correlation "
            f"{self.raw_correlation:.3f} -> {self.corrected_correlation:.3f}, {self.improved_fraction:.0%} of frames "
            f"improved) although they moved up to {self.motion:.1f} px: check the corrected movie and the "
            f"registration filter (params motion.gSig_filt)"
        )


@dataclass(frozen=True)
class MotionResult:
    """Motion of a recording and the summary images of its corrected frames.

    Attributes:
        rigid_shifts: (T, 2) float32 (dy, dx) pixels, the motion of the tissue in each frame.
        block_shifts: (T, ny, nx, 2) float32 (dy, dx) pixels, total motion of each patch (rigid
            shift included); None when rigid only.
        block_origins: (ny, nx, 2) int (y0, x0) pixels of each patch; None when rigid only.
        block_size: (ph, pw) pixels of every patch; None when rigid only.
        outlier_frames: (T,) bool, frames whose shift jumps away from their neighbours' or whose
            correlation with the template is abnormally low (`flag_outliers`).
        template_correlation: (T,) float32 correlation coefficient of each frame's registration
            image with the template at the rigid shift.
        template: (H, W) float32 registration template (high-pass filtered when ``highpass``).
        mean_image, max_image: (H, W) float32 temporal mean and max of the corrected frames.
        correlation_image: (H, W) float32 mean correlation of each pixel with its 8 neighbours
            over the corrected frames (high-pass filtered when ``highpass``).
        pnr_image: (H, W) float32 peak-to-noise ratio of the same frames.
        device: "cpu" or "cuda", the device that ran the computation.
        highpass_sigma: (pixels) inner sigma of the high-pass filter the frames were registered on;
            None without high-pass.
        cell_diameter: (pixels) cell diameter measured on the recording (`estimate_cell_diameter`),
            or None when it was given or not needed.
        quality: how much the correction sharpened the template frames (`correction_quality`).
    """

    rigid_shifts: np.ndarray
    block_shifts: np.ndarray | None
    block_origins: np.ndarray | None
    block_size: tuple[int, int] | None
    outlier_frames: np.ndarray
    template_correlation: np.ndarray
    template: np.ndarray
    mean_image: np.ndarray
    max_image: np.ndarray
    correlation_image: np.ndarray
    pnr_image: np.ndarray
    device: str
    highpass_sigma: float | None = None
    cell_diameter: float | None = None
    quality: CorrectionQuality | None = None
