"""Savitzky-Golay smoothing and derivatives of traces, with the options CalTrig passes to SciPy.

CalTrig smooths each cell's dF/F with ``scipy.signal.savgol_filter`` before it estimates the noise, the SNR and
the transients (its ``get_savgol``: window 10 frames, polynomial order 2, ``deriv`` 0, ``delta`` 1.0, mode
``"interp"``). `savgol_smooth` is that call, with the same meanings:

- A polynomial of order ``polyorder`` is fitted by least squares to each ``window_length`` consecutive samples;
  the output is its value (``deriv`` = 0) or its ``deriv``-th derivative at the window's centre, in trace units
  per ``delta`` ** deriv (``delta`` = 1: per frame; ``delta`` = 1 / fps: per second).
- An odd window is centred on its sample. An even one (CalTrig's 10) has its centre half a sample after the
  sample it is written to: away from the edges the output at frame t is the fit at t + 0.5.
- Edges: ``"interp"`` fits one polynomial to the first (last) ``window_length`` samples and evaluates it at the
  edge samples; ``"mirror"``, ``"nearest"``, ``"constant"`` (``cval``) and ``"wrap"`` extend the trace instead.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from element_calcium.compute import _checks

__all__ = ["CALTRIG_SAVGOL", "SAVGOL_MODES", "savgol_smooth"]

SAVGOL_MODES = ("interp", "mirror", "nearest", "constant", "wrap")
CALTRIG_SAVGOL = {"window_length": 10, "polyorder": 2, "deriv": 0, "delta": 1.0, "mode": "interp"}


def savgol_smooth(
    traces,
    *,
    window_length: int = CALTRIG_SAVGOL["window_length"],
    polyorder: int = CALTRIG_SAVGOL["polyorder"],
    deriv: int = CALTRIG_SAVGOL["deriv"],
    delta: float = CALTRIG_SAVGOL["delta"],
    mode: str = CALTRIG_SAVGOL["mode"],
    cval: float = 0.0,
    axis: int = -1,
) -> np.ndarray:
    """Savitzky-Golay smoothed traces or their derivative (``scipy.signal.savgol_filter``; module notes).

    Args:
        traces: (T,) or (N, T) finite numbers (any shape; filtered along ``axis``).
        window_length: samples per fitted window, > ``polyorder``; with ``"interp"`` at most T.
        polyorder: order of the fitted polynomial, >= 0.
        deriv: order of the derivative, >= 0 (0: the smoothed trace itself).
        delta: spacing of the samples (e.g. 1 / fps seconds), > 0; derivatives are per delta ** deriv.
        mode: one of `SAVGOL_MODES`.
        cval: the value beyond the edges in ``"constant"`` mode.
        axis: the time axis.

    Returns:
        The filtered array, the shape of ``traces``; float32 for float32 input, else float64.
    """
    from scipy import signal  # scipy.signal imports scipy.stats: loaded when first needed

    array = np.asarray(traces)
    if array.ndim == 0 or array.dtype.kind not in "biuf":
        raise ValueError(f"traces must be an array of numbers, got {array.dtype} of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("traces contains NaN or infinite values")
    if not -array.ndim <= axis < array.ndim:
        raise ValueError(f"axis {axis} is out of range for traces of shape {array.shape}")
    polyorder = _checks.integer(polyorder, "polyorder", 0)
    window_length = _checks.integer(window_length, "window_length", polyorder + 1, "frames")
    deriv = _checks.integer(deriv, "deriv", 0)
    delta = _checks.positive_number(delta, "delta")
    if mode not in SAVGOL_MODES:
        raise ValueError(f"mode must be one of {SAVGOL_MODES}, got {mode!r}")
    if isinstance(cval, bool) or not isinstance(cval, Real) or not np.isfinite(cval):
        raise ValueError(f"cval must be a finite number, got {cval!r}")
    if mode == "interp" and window_length > array.shape[axis]:
        raise ValueError(f"window_length {window_length} is longer than the traces ({array.shape[axis]} samples); "
                         "use a shorter window or another mode")
    return signal.savgol_filter(array, window_length, polyorder, deriv=deriv, delta=delta, axis=axis, mode=mode,
                                cval=float(cval))
