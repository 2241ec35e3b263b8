"""Cross-session cell registration: align each session's field of view to a reference, match cells jointly.

Conventions: a transform is a (2, 3) affine matrix mapping reference pixels (y, x, 1) to session pixels; a
similarity is a rotation (degrees), a scale and a (y, x) shift (pixels) about the frame centre
(`similarity_matrix`, `decompose`). Footprints are (N, H, W) arrays or (N, H * W) sparse matrices.

- Alignment (`align_similarity`): a grid search over rotation and scale with FFT cross-correlation for the shift,
  refined by maximising the correlation of the band-passed summary images; optionally piecewise-rigid patches on
  top (`add_piecewise`, using `element_calcium.compute.motion`).
- Matching (`register_sessions`): footprints are resampled into the reference frame and every pair of cells of
  two sessions is scored from footprint overlap and centroid distance; the cells of all sessions are grouped at
  once by average linkage under a one-cell-per-session rule, each assignment with a confidence, cells seen in
  one session kept as such. The transforms are then refitted to the matched cells' centroids and the cells
  matched again.
- Anchors (`match_minian`, `match_caiman`, `match_cellreg`): the published rules of minian's cross-registration,
  CaImAn's ``register_multisession`` and CellReg's probabilistic model, for comparison on the same aligned
  footprints, and minian's own translation-only alignment (`align_translation`).
"""

from __future__ import annotations

from element_calcium.compute.registration._align import Alignment, add_piecewise, align_similarity, bandpass
from element_calcium.compute.registration._anchors import align_translation, match_caiman, match_cellreg, match_minian
from element_calcium.compute.registration._footprints import centroids, diameters
from element_calcium.compute.registration._params import SUMMARY_IMAGES, RegistrationParams
from element_calcium.compute.registration._register import Registration, register_sessions
from element_calcium.compute.registration._transform import apply, decompose, invert, similarity_matrix

__all__ = [
    "SUMMARY_IMAGES",
    "Alignment",
    "Registration",
    "RegistrationParams",
    "add_piecewise",
    "align_similarity",
    "align_translation",
    "apply",
    "bandpass",
    "centroids",
    "decompose",
    "diameters",
    "invert",
    "match_caiman",
    "match_cellreg",
    "match_minian",
    "register_sessions",
    "similarity_matrix",
]
