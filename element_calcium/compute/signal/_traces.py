"""CalSciPy's trace smoothing and detrending: polynomial detrend and Perona-Malik diffusion."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from element_calcium.compute import _backend, _checks


def detrend_polynomial(traces, *, order: int = 4) -> np.ndarray:
    """Traces less their least-squares polynomial over time (CalSciPy's ``detrend_polynomial``, order 4).

    A drifting baseline (bleaching, slow focus change) is fitted by one polynomial of the frame index per
    trace and subtracted; what is left has zero mean.

    Args:
        traces: (T,) or (N, T) traces, any units.
        order: degree of the polynomial, 0 .. T - 1 (0 removes the mean only).

    Returns:
        float32 array of the shape of ``traces``: the residual of each trace about its polynomial.
    """
    values = _checks.traces(traces, "traces", 1)
    order = _checks.integer(order, "order", minimum=0)
    n_frames = values.shape[-1]
    if order >= n_frames:
        raise ValueError(f"order must be below the number of frames ({n_frames}), got {order}")
    # Frame index scaled to [-1, 1] keeps the Vandermonde matrix well conditioned for long recordings.
    time = np.linspace(-1.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    vandermonde = np.polynomial.polynomial.polyvander(time, order)
    columns = values.reshape(-1, n_frames).T
    coefficients = np.linalg.lstsq(vandermonde, columns, rcond=None)[0]
    residual = columns - vandermonde @ coefficients
    return residual.T.reshape(values.shape).astype(np.float32)


def _fraction(value, name: str) -> float:
    """``value`` as a float in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def perona_malik_diffusion(
    traces,
    *,
    iterations: int = 25,
    kappa: float = 0.15,
    gamma: float = 0.25,
    sigma: float = 0.0,
    axis: int = -1,
    device: str = "auto",
) -> np.ndarray:
    """Edge-preserving smoothing of each series over time by Perona-Malik diffusion (CalSciPy's rule).

    Each iteration takes the forward difference d_t = x_{t+1} - x_t (0 at the last frame), optionally smoothed
    by a Gaussian of ``sigma`` frames, the flux f_t = d_t exp(-(d_t / K)^2) with K = ``kappa`` x (max - min) of
    the input series, and moves x_t by ``gamma`` (f_t - f_{t-1}) (f_{-1} = 0). Small steps (noise) diffuse away;
    steps much larger than K (a transient's rise) carry almost no flux and stay sharp. With ``sigma`` 0 the sum
    of each series is kept. A constant series is returned unchanged. The array is held on the device whole, with
    about four float32 copies of it while it is smoothed.

    Args:
        traces: real array whose ``axis`` is time: (N, T) traces, (T,) one trace, or a (T, H, W) movie with
            ``axis=0`` (each pixel's time course, with its own K). Any units.
        iterations: number of diffusion steps.
        kappa: edge threshold as a fraction of each series' dynamic range, in (0, 1].
        gamma: rate of diffusion per step, in (0, 1].
        sigma: standard deviation (frames) of the Gaussian applied to the differences; 0 applies none.
        axis: the time axis of ``traces``.
        device: "auto", "cpu" or "cuda".

    Returns:
        float32 NumPy array of the shape of ``traces``: the smoothed series.
    """
    values = np.asarray(traces)
    if values.ndim == 0 or values.dtype.kind not in "biuf":
        raise ValueError(f"traces must be a real array of at least one dimension, got {values.dtype} {values.shape}")
    if isinstance(axis, bool) or not isinstance(axis, Integral) or not -values.ndim <= axis < values.ndim:
        raise ValueError(f"axis must name one of the {values.ndim} axes of traces, got {axis!r}")
    if not np.isfinite(values).all():
        raise ValueError("traces contains NaN or infinite values")
    iterations = _checks.integer(iterations, "iterations")
    kappa = _fraction(kappa, "kappa")
    gamma = _fraction(gamma, "gamma")
    if isinstance(sigma, bool) or not isinstance(sigma, Real) or not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite number >= 0 frames, got {sigma!r}")
    xp = _backend.get_xp(device)
    ndimage = _backend.ndimage_namespace(xp)
    series = xp.moveaxis(xp.asarray(_backend.to_device(values, device), dtype=xp.float32), axis, -1).copy()
    edge = kappa * (series.max(axis=-1, keepdims=True) - series.min(axis=-1, keepdims=True))
    flat = edge == 0
    edge = xp.where(flat, xp.float32(1.0), edge)
    difference = xp.zeros_like(series)
    for _ in range(iterations):
        difference[..., :-1] = series[..., 1:] - series[..., :-1]  # the last frame's difference stays 0
        smoothed = ndimage.gaussian_filter1d(difference, float(sigma), axis=-1) if sigma > 0 else difference
        flux = smoothed * xp.exp(-((smoothed / edge) ** 2))
        flux = xp.where(flat, xp.float32(0.0), flux)
        series[..., 0] += gamma * flux[..., 0]
        series[..., 1:] += gamma * (flux[..., 1:] - flux[..., :-1])
    return _backend.to_numpy(xp.moveaxis(series, -1, axis)).astype(np.float32, copy=False)
