"""CalSciPy's ``convert_tau``: discrete AR decay parameters to continuous time constants, and back.

An AR process c_t = g1 c_{t-1} + ... + gp c_{t-p} + s_t has the characteristic roots r_k of
z^p - g1 z^(p-1) - ... - gp. Each root in (0, 1) is a per-frame decay factor whose continuous time constant is
tau_k = -dt / ln(r_k): the impulse response is a sum of exp(-t / tau_k). For AR(1) the root is g1 itself
(CalSciPy's "discrete tau"); for AR(2) the two roots are the decay (the larger) and the rise (the smaller).
"""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _checks

_IMAGINARY_TOLERANCE = 1e-6


def _real_vector(values, name: str) -> tuple[np.ndarray, bool]:
    """``values`` as a (p,) float64 array of finite numbers, p >= 1, and whether it was a single number."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf" or array.ndim > 1 or array.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence of numbers, got {values!r}")
    array = np.atleast_1d(array).astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array, np.ndim(values) == 0


def convert_tau(tau, *, dt: float) -> float | np.ndarray:
    """Continuous time constants (s) of discrete AR coefficients (CalSciPy's ``convert_tau``).

    Args:
        tau: the discrete decay constant g of an AR(1) process (a number), or the coefficients (g1, .., gp)
            of an AR(p) process.
        dt: time between frames (s), 1 / frame rate.

    Returns:
        For a number: its time constant -dt / ln(g) in seconds (0.0 when g <= 0, a process that forgets at
        once, as in CalSciPy). For coefficients: (p,) float64 time constants of the characteristic roots,
        longest (decay) first, then the rise.

    Raises:
        ValueError: a root is complex (the process oscillates) or >= 1 (it does not decay).
    """
    coefficients, single = _real_vector(tau, "tau")
    dt = _checks.positive_number(dt, "dt")
    roots = np.roots(np.concatenate(([1.0], -coefficients)))
    # A double root (critically damped AR(2)) comes out of np.roots with an imaginary part of ~sqrt(eps).
    if np.any(np.abs(roots.imag) > _IMAGINARY_TOLERANCE):
        raise ValueError(f"tau {tau!r} has complex characteristic roots: the process oscillates, no time constant")
    roots = np.sort(roots.real)[::-1]
    if roots[0] >= 1.0:
        raise ValueError(f"tau {tau!r} has a characteristic root {roots[0]:.6g} >= 1: the process does not decay")
    time_constants = np.zeros(roots.size)
    decaying = roots > 0
    time_constants[decaying] = -dt / np.log(roots[decaying])
    return float(time_constants[0]) if single else time_constants


def ar_coefficients_from_tau(time_constants, *, dt: float) -> float | np.ndarray:
    """AR coefficients of continuous time constants: the inverse of `convert_tau`.

    Args:
        time_constants: a time constant in seconds (an AR(1) process), or p of them (decay and rise for AR(2));
            each >= 0, where 0 is a process that forgets at once.
        dt: time between frames (s), 1 / frame rate.

    Returns:
        For a number: g = exp(-dt / tau). For p time constants: (p,) float64 coefficients (g1, .., gp) of the
        process whose characteristic roots are exp(-dt / tau_k).
    """
    taus, single = _real_vector(time_constants, "time_constants")
    dt = _checks.positive_number(dt, "dt")
    if np.any(taus < 0):
        raise ValueError(f"time_constants must be >= 0 seconds, got {time_constants!r}")
    roots = np.zeros(taus.size)
    positive = taus > 0
    roots[positive] = np.exp(-dt / taus[positive])
    coefficients = -np.poly(roots)[1:]
    return float(coefficients[0]) if single else coefficients.astype(np.float64)

