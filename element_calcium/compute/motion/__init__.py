"""Motion correction: rigid and piecewise-rigid registration, and summary images, streamed over chunks.

Shift convention: a shift (dy, dx) in pixels is the motion of the tissue in a frame relative to
the template: a template feature at (y, x) appears at (y + dy, x + dx) in the frame (the sign of
``element_calcium.simulate``'s ``truth.shifts``). Correction applies the inverse: the corrected
frame at p is the raw frame at p + shift(p). The template itself sits at an arbitrary offset from
any other reference, so shifts agree with other estimates up to a constant.

Method (NoRMCorre-style):

- Rigid: cross-correlation of each frame with the template by FFT, the integer peak within
  +-max_shift, refined to 1/upsample_factor px by an upsampled DFT around it.
- Piecewise-rigid: the rigidly corrected frame is cut into overlapping patches (strides +
  overlaps, the last ones flush with the frame edge); each patch's shift is searched within
  +-max_deviation_rigid of the rigid shift. The patch shifts are interpolated smoothly to every
  pixel (cubic spline on a grid upsample_factor_grid times finer, then linear) and the frame is
  resampled once.
- One-photon data (``highpass``): frames are registered on a difference-of-Gaussians copy that
  removes the smooth background, squashed (``compress``) so that a few flashing cells cannot
  outweigh the lasting structure of the tissue (borders tapered before correlating); the shifts
  are applied to the raw frames. The filter's scale follows the size of the cells, measured on the
  template frames (`estimate_cell_diameter`) unless ``gSig_filt`` or a diameter is given: too fine
  a filter registers the sensor's fixed pattern (real Miniscope frames: the motion comes out 4-5
  times too small), too coarse a one blurs the cells together.
- `correct_motion` reads frames from a source in chunks: a template pass over ``template_frames``
  frames spread over the recording, then one pass that registers, corrects, writes and
  accumulates the summary images. Memory depends on the chunk and template sizes, not on the
  recording length.
"""

from __future__ import annotations

from element_calcium.compute.motion._correct import correct_motion
from element_calcium.compute.motion._diameter import PROVISIONAL_SIGMA, estimate_cell_diameter, highpass_sigma
from element_calcium.compute.motion._grid import PatchGrid, patch_grid
from element_calcium.compute.motion._register import (
    apply_shifts,
    correction_quality,
    estimate_template,
    flag_outliers,
    highpass_filter,
    register_piecewise,
    register_rigid,
)
from element_calcium.compute.motion._results import (
    QUALITY_MIN_GAIN,
    QUALITY_MIN_MOTION,
    CorrectionQuality,
    MotionResult,
)
from element_calcium.compute.motion._summary import SummaryAccumulator, SummaryImages

__all__ = [
    "PROVISIONAL_SIGMA",
    "QUALITY_MIN_GAIN",
    "QUALITY_MIN_MOTION",
    "CorrectionQuality",
    "MotionResult",
    "PatchGrid",
    "SummaryAccumulator",
    "SummaryImages",
    "apply_shifts",
    "correct_motion",
    "correction_quality",
    "estimate_cell_diameter",
    "estimate_template",
    "flag_outliers",
    "highpass_filter",
    "highpass_sigma",
    "patch_grid",
    "register_piecewise",
    "register_rigid",
]
