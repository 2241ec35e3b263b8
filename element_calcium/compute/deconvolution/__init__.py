"""Spike deconvolution of fluorescence traces with OASIS, and the noise and AR estimates it needs.

Model (Friedrich, Zhou & Paninski 2017): a trace is y_t = b + c_t + noise, with the calcium an
autoregressive process of order p driven by non-negative spikes,
c_t = g1 c_{t-1} + g2 c_{t-2} + s_t, s_t >= 0, and c_{-1} = c_{-2} = 0 (so s_0 = c_0).

- Noise: sn from the power spectral density (Welch) averaged over high frequencies, where the
  calcium holds little power (`estimate_noise`).
- AR coefficients: Yule-Walker equations on the autocovariance with the noise variance removed
  from lag 0 (`estimate_ar_coefficients`), the roots kept real, non-negative and below
  ``MAX_ROOT`` so that the kernel is a non-negative decay.
- Fit: the noise-constrained problem min |s|_1 subject to s >= 0 and |y - b - c|^2 <= sn^2 T.
  Its Lagrangian 1/2 |y - b - c|^2 + lam |s|_1 is solved by OASIS (pool-adjacent violators) for
  a given lam; lam is found by safeguarded Newton steps on the noise constraint, re-using the
  pools between steps (CaImAn's ``constrained_oasisAR1`` idea). A free baseline b is fitted with
  c: it leaves the residual with zero mean, the optimality condition in b; the search starts
  from lam = 0 at the trace's 15th percentile. If even lam = 0 misses the constraint (noise
  underestimated, or an AR model too simple for the trace) that least-squares fit is returned.
  AR(1) OASIS is exact. AR(2) OASIS is greedy, so AR(2) fits go on from its solution with exact
  block principal pivoting on the dual problem (banded solves), the same search included.
- ``s_min``: after the search, OASIS's hard threshold refits c with every spike either zero or
  at least ``s_min * sn`` (greedy, L0-like; for AR(2) the greedy sweep, without pivoting).
- ``optimize_g``: alternately refit the AR roots with the pools' boundaries fixed (least squares
  over all pools, roots in [0, MAX_ROOT]) and the penalty and baseline, at most three rounds.
- A trace that a constant baseline already explains within the noise (for instance a constant
  trace) has no activity: calcium and spikes are zeros.
- AR model helpers (minian's): `construct_G` (G c = s), `convolve_ar` (c = G^-1 s) and `ar_pulse_response`.
"""

from __future__ import annotations

from element_calcium.compute.deconvolution._ar_model import ar_pulse_response, construct_G, convolve_ar
from element_calcium.compute.deconvolution._deconvolve import (
    NOISE_METHODS,
    Deconvolved,
    DeconvolvedTraces,
    deconvolve,
    deconvolve_traces,
    estimate_ar_coefficients,
    estimate_noise,
)
from element_calcium.compute.deconvolution._oasis import MAX_ROOT

__all__ = [
    "MAX_ROOT",
    "NOISE_METHODS",
    "Deconvolved",
    "DeconvolvedTraces",
    "ar_pulse_response",
    "construct_G",
    "convolve_ar",
    "deconvolve",
    "deconvolve_traces",
    "estimate_ar_coefficients",
    "estimate_noise",
]
