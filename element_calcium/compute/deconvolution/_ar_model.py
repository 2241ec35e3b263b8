"""minian's AR model helpers: the G matrix, the pulse response and the convolution of spikes into calcium.

The model is the one `deconvolve` fits: c_t = g1 c_{t-1} + ... + gp c_{t-p} + s_t with c_{-k} = 0. minian
writes it as G c = s, where G is the (T, T) lower-triangular Toeplitz matrix with 1 on the diagonal and -g_k
on the k-th subdiagonal (`construct_G`); calcium follows from spikes as c = G^-1 s (`convolve_ar`, minian's
``convolve_G``), computed here by the recursion itself rather than by inverting G.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from element_calcium.compute import _checks


def _ar_coefficients(g, name: str = "g") -> np.ndarray:
    """``g`` as a (p,) float64 array of finite AR coefficients, p >= 1."""
    coefficients = np.atleast_1d(np.asarray(g))
    if coefficients.ndim != 1 or coefficients.size == 0 or coefficients.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a non-empty 1-D sequence of AR coefficients, got {g!r}")
    coefficients = coefficients.astype(np.float64)
    if not np.isfinite(coefficients).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return coefficients


def construct_G(g, n_frames: int) -> np.ndarray:  # noqa: N802 - minian's name, kept for its users
    """minian's convolving matrix G of an AR process: ``G @ c`` is the spike signal of the calcium ``c``.

    Args:
        g: (p,) AR coefficients g1 .. gp (a single number for AR(1)).
        n_frames: T, the number of frames of the process.

    Returns:
        (T, T) float64 lower-triangular Toeplitz matrix: 1 on the diagonal, -g_k on the k-th subdiagonal
        (coefficients beyond T - 1 frames fall outside the matrix).
    """
    coefficients = _ar_coefficients(g)
    n_frames = _checks.integer(n_frames, "n_frames", unit="frames")
    first_column = np.zeros(n_frames)
    first_column[0] = 1.0
    n_kept = min(coefficients.size, n_frames - 1)
    first_column[1 : n_kept + 1] = -coefficients[:n_kept]
    first_row = np.zeros(n_frames)
    first_row[0] = 1.0
    return linalg.toeplitz(first_column, first_row)


def convolve_ar(spikes, g) -> np.ndarray:
    """Calcium of spike signals through an AR process (minian's ``convolve_G``): c = G^-1 s.

    Args:
        spikes: (T,) or (N, T) spike signals s, any units (the calcium has the same units).
        g: (p,) AR coefficients shared by every trace, or (N, p) one row per trace.

    Returns:
        float32 calcium of the shape of ``spikes``: c_t = g1 c_{t-1} + ... + gp c_{t-p} + s_t, c_{-k} = 0.
    """
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    s = _checks.traces(spikes, "spikes", 1)
    coefficients = np.asarray(g)
    if coefficients.ndim == 2:
        if s.ndim != 2 or coefficients.shape[0] != s.shape[0]:
            raise ValueError(f"g of shape {coefficients.shape} must have one row per trace of spikes {s.shape}")
        rows = [_ar_coefficients(row) for row in coefficients]
        calcium = np.stack([signal.lfilter([1.0], np.concatenate(([1.0], -row)), trace) for row, trace in zip(rows, s)])
        return calcium.astype(np.float32)
    denominator = np.concatenate(([1.0], -_ar_coefficients(g)))
    return signal.lfilter([1.0], denominator, s, axis=-1).astype(np.float32)


def ar_pulse_response(g, *, length: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """The model response of an AR process to one spike (minian's ``construct_pulse_response``).

    Args:
        g: (p,) AR coefficients.
        length: number of frames of the response.

    Returns:
        (spikes, calcium): two (length,) float32 arrays; spikes is 1 at frame 0 and 0 elsewhere, calcium its
        convolution through the AR process (the impulse response, 1 at frame 0).
    """
    length = _checks.integer(length, "length", unit="frames")
    spikes = np.zeros(length, dtype=np.float32)
    spikes[0] = 1.0
    return spikes, convolve_ar(spikes, g)
