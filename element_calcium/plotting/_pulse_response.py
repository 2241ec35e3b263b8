"""Each cell's AR pulse response: the calcium one spike makes under the cell's fitted AR model (minian's figure
of ``construct_pulse_response`` after its temporal update), from stored AR coefficients (``ar_coefficients`` of
``Activity.Trace`` or ``Segmentation.Mask``)."""

from __future__ import annotations

from numbers import Real

import numpy as np
from matplotlib.figure import Figure

from element_calcium.compute.deconvolution import ar_pulse_response
from element_calcium.plotting._common import axes_for, check_fps, check_ids, colors_of, legend

__all__ = ["plot_pulse_responses", "pulse_responses"]

_MAX_LEGEND_CELLS = 10


def pulse_responses(ar_coefficients, *, length: int) -> np.ndarray:
    """(N, length) float32 response of each cell's AR model to one spike at frame 0 (1 at frame 0).

    Args:
        ar_coefficients: N sequences of (p,) AR coefficients g1..gp (e.g. the stored ``ar_coefficients`` of a
            curation's cells); a cell with None (no model stored) gets a NaN row.
        length: frames of each response, >= 1.
    """
    rows = list(ar_coefficients)
    responses = np.full((len(rows), int(length)), np.nan, dtype=np.float32)
    for n, g in enumerate(rows):
        if g is not None and np.size(g):
            responses[n] = ar_pulse_response(g, length=length)[1]
    return responses


def plot_pulse_responses(ar_coefficients, *, fps, duration_s: float = 5.0, cell_ids=None, ax=None) -> Figure:
    """Each cell's AR pulse response over time, one line per cell (minian's pulse-response view).

    Args:
        ar_coefficients: N sequences of (p,) AR coefficients g1..gp, None for cells without a stored model
            (left out of the figure).
        fps: frame rate of the traces the coefficients were fitted on, frames per second; x is in seconds.
        duration_s: seconds after the spike shown, > 0.
        cell_ids: (N,) legend labels; None labels the cells 0..N-1 (shown for at most ten cells).
        ax: axes to draw into; None makes a new figure.

    Returns:
        The Figure; one line per cell with a model, calcium per unit spike (1 at the spike's frame).
    """
    fps = check_fps(fps)
    if isinstance(duration_s, bool) or not isinstance(duration_s, Real) or not np.isfinite(duration_s) \
            or duration_s <= 0:
        raise ValueError(f"duration_s must be a finite number > 0 seconds, got {duration_s!r}")
    rows = list(ar_coefficients)
    ids = check_ids("cell_ids", cell_ids, len(rows))
    length = max(2, int(round(duration_s * fps)) + 1)
    responses = pulse_responses(rows, length=length)
    modelled = np.flatnonzero(np.isfinite(responses[:, 0]))
    colors = colors_of([ids[n].item() for n in modelled])
    figure, (ax,) = axes_for(ax, 1, name="ax", figsize=(7, 4))
    times = np.arange(length) / fps
    for n in modelled:
        ax.plot(times, responses[n], color=colors[ids[n].item()], linewidth=1.2)
    if 0 < len(modelled) <= _MAX_LEGEND_CELLS:
        legend(ax, colors, {})
    ax.set_xlabel("time after the spike (s)")
    ax.set_ylabel("calcium per unit spike")
    ax.set_title(f"AR pulse response ({len(modelled)} of {len(rows)} cells with a model)")
    return figure
