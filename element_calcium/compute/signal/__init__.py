"""Signal and movie helpers with the meanings CalSciPy and astroCAST users know.

- Smoothing: `savgol_smooth` (Savitzky-Golay smoothed trace or derivative, ``scipy.signal.savgol_filter`` with
  CalTrig's defaults, `CALTRIG_SAVGOL`; the smoothing of transient detection and the per-frame SNR).
- Traces: `detrend_polynomial` (least-squares polynomial of the frame index removed, order 4 by default),
  `perona_malik_diffusion` (edge-preserving smoothing over time; CPU or GPU).
- Movies, blockwise over frames on the CPU or a GPU with bounded memory: `median_filter`, `gaussian_filter`
  (equal to scipy.ndimage on the whole movie), and astroCAST's `delta_bleach_correction`.
- Kinetics: `convert_tau` (AR coefficients to time constants in seconds) and its inverse
  `ar_coefficients_from_tau`.
- Reorganisation: `bin_data` (any reduction over bins of samples), `merge_factorized_matrices` (a component
  of chunked factorisations joined over time), `collect_waveforms` (each cell's trace around its own events).
"""

from __future__ import annotations

from element_calcium.compute.signal._bleach import METHODS as DELTA_METHODS
from element_calcium.compute.signal._bleach import delta_bleach_correction, delta_bleach_correction_chunks
from element_calcium.compute.signal._filters import gaussian_filter, median_filter
from element_calcium.compute.signal._kinetics import ar_coefficients_from_tau, convert_tau
from element_calcium.compute.signal._reorganize import (
    REDUCTIONS,
    bin_data,
    collect_waveforms,
    merge_factorized_matrices,
)
from element_calcium.compute.signal._savgol import CALTRIG_SAVGOL, SAVGOL_MODES, savgol_smooth
from element_calcium.compute.signal._traces import detrend_polynomial, perona_malik_diffusion

__all__ = [
    "CALTRIG_SAVGOL",
    "DELTA_METHODS",
    "REDUCTIONS",
    "SAVGOL_MODES",
    "ar_coefficients_from_tau",
    "bin_data",
    "collect_waveforms",
    "convert_tau",
    "delta_bleach_correction",
    "delta_bleach_correction_chunks",
    "detrend_polynomial",
    "gaussian_filter",
    "median_filter",
    "merge_factorized_matrices",
    "perona_malik_diffusion",
    "savgol_smooth",
]
