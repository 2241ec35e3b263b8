"""OASIS deconvolution of one trace and of many, and the noise and AR estimates it needs (module docstring of
`element_calcium.compute.deconvolution`; the OASIS solvers are in `_oasis`)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from element_calcium.compute import _checks
from element_calcium.compute.deconvolution import _oasis
from element_calcium.compute.deconvolution._oasis import MAX_ROOT

NOISE_METHODS = ("mean", "median", "logmexp")
_MIN_FRAMES = 4
_AR_LAGS = 5  # autocovariance lags beyond p used to estimate g (fewer for very short traces)
_WELCH_SEGMENT = 256  # frames per Welch segment (fewer for shorter traces)
_GAUSS_15TH = 1.0364  # the 15th percentile of Gaussian noise lies this many sn below its mean


@dataclass(frozen=True)
class Deconvolved:
    """Result for one trace.

    Attributes:
        calcium: (T,) float32 denoised calcium c, baseline removed, >= 0.
        spikes: (T,) float32 spike signal s >= 0, s[t] = c[t] - g1 c[t-1] - g2 c[t-2].
        baseline: b, the fitted constant baseline of the trace, in the trace's units.
        g: AR coefficients (length p; () when p == 0).
        noise: sn, the noise standard deviation used, in the trace's units.
    """

    calcium: np.ndarray
    spikes: np.ndarray
    baseline: float
    g: tuple[float, ...]
    noise: float


@dataclass(frozen=True)
class DeconvolvedTraces:
    """Result for many traces.

    Attributes:
        calcium: (N, T) float32 denoised calcium, baselines removed.
        spikes: (N, T) float32 spike signals.
        baselines: (N,) float32 fitted baselines.
        g: (N, p) float32 AR coefficients.
        noise: (N,) float32 noise standard deviations used.
    """

    calcium: np.ndarray
    spikes: np.ndarray
    baselines: np.ndarray
    g: np.ndarray
    noise: np.ndarray


def _order(p) -> int:
    if isinstance(p, bool) or not isinstance(p, Integral) or p not in (0, 1, 2):
        raise ValueError(f"p must be 0, 1 or 2, got {p!r}")
    return int(p)


def _finite(value, name: str, *, non_negative: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if non_negative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def _noise_range(noise_range) -> tuple[float, float]:
    try:
        low, high = (float(x) for x in noise_range)
    except (TypeError, ValueError):
        raise ValueError(f"noise_range must be two frequencies (low, high), got {noise_range!r}") from None
    if not 0.0 <= low < high <= 0.5:
        raise ValueError(
            f"noise_range must satisfy 0 <= low < high <= 0.5 (fractions of the sampling rate), got {noise_range!r}"
        )
    return low, high


def _coefficients(g, p: int) -> tuple[float, ...]:
    """User AR coefficients: p finite numbers whose AR roots are real, >= 0 and < 1."""
    try:
        values = tuple(float(x) for x in np.atleast_1d(np.asarray(g, dtype=np.float64)))
    except (TypeError, ValueError):
        raise ValueError(f"g must be {p} AR coefficient(s), got {g!r}") from None
    if len(values) != p or not np.isfinite(values).all():
        raise ValueError(f"g must be {p} finite AR coefficient(s) for p={p}, got {g!r}")
    if p:
        roots = np.roots([1.0, *(-x for x in values)])
        if np.abs(roots.imag).max() > 1e-12 or roots.real.min() < 0.0 or roots.real.max() >= 1.0:
            raise ValueError(f"g={g!r} must describe a non-negative decay: AR roots real, >= 0 and < 1")
    return values


def estimate_noise(traces, *, noise_range=(0.25, 0.5), method: str = "logmexp") -> np.ndarray | float:
    """Noise standard deviation of each trace from its power spectral density.

    The PSD (Welch, Hann windows of up to 256 frames, half overlapping) of white noise of
    variance sn^2 is 2 sn^2 per unit of normalised frequency; it is averaged over the frequency
    bins strictly inside ``noise_range`` and away from 0 and Nyquist (the bins closest to the
    middle of the band when none is).

    Args:
        traces: (T,) or (N, T) traces, T >= 4, in any units.
        noise_range: (low, high) band in fractions of the sampling rate (0.5 = Nyquist).
        method: how the band is averaged: "mean", "median" or "logmexp" (exponential of the
            mean log PSD, robust to a few strong bins).

    Returns:
        sn in the traces' units: a float for one trace, (N,) float32 for (N, T).
    """
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    array = _checks.traces(traces, "traces", _MIN_FRAMES, (1, 2))
    low, high = _noise_range(noise_range)
    if method not in NOISE_METHODS:
        raise ValueError(f"method must be one of {NOISE_METHODS}, got {method!r}")
    if array.size == 0:
        return np.zeros(0, dtype=np.float32)
    n_frames = array.shape[-1]
    frequencies, power = signal.welch(array, nperseg=min(_WELCH_SEGMENT, n_frames), axis=-1)
    inner = (frequencies > 0.0) & (frequencies < 0.5)
    band = inner & (frequencies > low) & (frequencies < high)
    if not band.any():
        distance = np.abs(frequencies - 0.5 * (low + high))
        band = inner & (distance == distance[inner].min())
    density = power[..., band] / 2.0
    if method == "mean":
        variance = density.mean(axis=-1)
    elif method == "median":
        variance = np.median(density, axis=-1)
    else:
        with np.errstate(divide="ignore"):
            variance = np.exp(np.log(density).mean(axis=-1))
    sn = np.sqrt(variance)
    return float(sn) if array.ndim == 1 else sn.astype(np.float32)


def estimate_ar_coefficients(trace, *, p: int, noise: float, lags: int = _AR_LAGS) -> tuple[float, ...]:
    """AR(p) coefficients of a trace's calcium from its autocovariance.

    Yule-Walker in least squares over lags 1 .. lags + p, with the noise variance removed from
    the lag-0 autocovariance (as CaImAn's ``estimate_time_constant``). The AR roots are then made
    real (complex pairs keep their real part) and clipped to [0, MAX_ROOT]: the kernel is a
    non-oscillating, non-negative decay.

    Args:
        trace: (T,) fluorescence, T >= 4.
        p: 0, 1 or 2; 0 returns ().
        noise: sn >= 0, the noise standard deviation in the trace's units.
        lags: extra autocovariance lags used beyond p, >= 1; lags + p < T.

    Returns:
        (g1,) or (g1, g2).
    """
    y = _checks.traces(trace, "trace", _MIN_FRAMES, (1,))
    p = _order(p)
    sn = _finite(noise, "noise")
    if isinstance(lags, bool) or not isinstance(lags, Integral) or lags < 1 or lags + p >= y.size:
        raise ValueError(f"lags must be an integer >= 1 with lags + p < T = {y.size}, got {lags!r}")
    if p == 0:
        return ()
    n_lags = int(lags) + p
    centred = y - y.mean()
    spectrum = np.fft.rfft(centred, 2 * y.size)
    autocovariance = np.fft.irfft(np.abs(spectrum) ** 2)[: n_lags + 1] / y.size
    rows = np.arange(n_lags)[:, None] - np.arange(p)[None, :]
    system = autocovariance[np.abs(rows)] - sn * sn * (rows == 0)
    g = np.linalg.lstsq(system, autocovariance[1:], rcond=None)[0]
    roots = np.clip(np.roots(np.concatenate(([1.0], -g))).real, 0.0, MAX_ROOT)
    coefficients = -np.poly(roots)[1:]
    return tuple(float(x) + 0.0 for x in coefficients)


def deconvolve(
    trace,
    *,
    p: int = 1,
    g=None,
    noise: float | None = None,
    baseline: float | None = None,
    s_min: float = 0.0,
    noise_range=(0.25, 0.5),
    optimize_g: bool = False,
) -> Deconvolved:
    """Denoised calcium and spikes of one fluorescence trace (OASIS, noise-constrained).

    Args:
        trace: (T,) fluorescence, T >= 4, any units (grey levels, dF/F).
        p: order of the AR model: 0 (no deconvolution: calcium = max(y - b, 0) = spikes), 1 or 2.
        g: AR coefficients (p values, roots real in [0, 1)); None estimates them.
        noise: sn >= 0 in the trace's units; None estimates it (`estimate_noise`).
        baseline: b in the trace's units; None fits it with the calcium (for p == 0: the 15th
            percentile plus 1.036 sn, at most the median).
        s_min: smallest spike kept, in multiples of sn; 0 keeps all.
        noise_range: band of `estimate_noise` when ``noise`` is None.
        optimize_g: refine g while fitting (starting from ``g`` or its estimate).

    Returns:
        `Deconvolved` with float32 arrays.
    """
    y = _checks.traces(trace, "trace", _MIN_FRAMES, (1,))
    p = _order(p)
    s_min = _finite(s_min, "s_min")
    noise_range = _noise_range(noise_range)
    sn = estimate_noise(y, noise_range=noise_range) if noise is None else _finite(noise, "noise")
    if baseline is not None:
        baseline = _finite(baseline, "baseline", non_negative=False)
    if g is not None:
        g = _coefficients(g, p)
    if p == 0:
        if baseline is None:
            baseline = min(float(np.percentile(y, 15)) + _GAUSS_15TH * sn, float(np.median(y)))
        calcium = np.maximum(y - baseline, 0.0).astype(np.float32)
        return Deconvolved(calcium=calcium, spikes=calcium.copy(), baseline=baseline, g=(), noise=sn)
    if g is None:
        g = estimate_ar_coefficients(y, p=p, noise=sn, lags=min(_AR_LAGS, y.size - p - 1))
    fit = _oasis.solve(y, g, sn, baseline=baseline, s_min=s_min * sn, optimize_g=bool(optimize_g))
    return Deconvolved(
        calcium=fit.calcium.astype(np.float32),
        spikes=fit.spikes.astype(np.float32),
        baseline=float(fit.baseline),
        g=tuple(float(x) for x in fit.g),
        noise=sn,
    )


def deconvolve_traces(
    traces,
    *,
    p: int = 1,
    s_min: float = 0.0,
    noise_range=(0.25, 0.5),
    optimize_g: bool = False,
    noises=None,
) -> DeconvolvedTraces:
    """`deconvolve` each row of ``traces`` with its own noise, AR coefficients and baseline.

    Args:
        traces: (N, T) fluorescence, T >= 4.
        p, s_min, noise_range, optimize_g: as in `deconvolve`.
        noises: (N,) sn of each trace, >= 0; None estimates each.

    Returns:
        `DeconvolvedTraces` with float32 arrays; ``g`` is (N, p).
    """
    array = _checks.traces(traces, "traces", _MIN_FRAMES, (2,))
    order = _order(p)
    _finite(s_min, "s_min")
    _noise_range(noise_range)
    if noises is not None:
        message = f"noises must be {array.shape[0]} finite values >= 0, one per trace, got {noises!r}"
        try:
            noises = np.asarray(noises, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(message) from None
        if noises.shape != (array.shape[0],) or not np.isfinite(noises).all() or (noises < 0).any():
            raise ValueError(message)
    results = [
        deconvolve(
            row,
            p=p,
            noise=None if noises is None else float(noises[i]),
            s_min=s_min,
            noise_range=noise_range,
            optimize_g=optimize_g,
        )
        for i, row in enumerate(array)
    ]
    n_traces, n_frames = array.shape
    return DeconvolvedTraces(
        calcium=np.array([r.calcium for r in results], dtype=np.float32).reshape(n_traces, n_frames),
        spikes=np.array([r.spikes for r in results], dtype=np.float32).reshape(n_traces, n_frames),
        baselines=np.array([r.baseline for r in results], dtype=np.float32),
        g=np.array([r.g for r in results], dtype=np.float32).reshape(n_traces, order),
        noise=np.array([r.noise for r in results], dtype=np.float32),
    )
