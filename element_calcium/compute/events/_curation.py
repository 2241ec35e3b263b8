"""Manual corrections of a cell's transients (CalTrig ``update_and_save_E``): rejected and hand-marked peaks.

A curator rejects detected transients and marks peaks the detector missed. Each marked frame is moved
to the highest smoothed frame within half a smoothing window, then measured like a detected transient
(definitions in ``_transients``): start is the lowest smoothed frame in the ``max_rise_s`` before
the peak, onset the steepest rise between them, end where the trace falls back to start + end_fraction
of the amplitude. Marked transients join the remaining detected ones by one of three modes, which
differ only where a marked transient overlaps a detected one (their start..end ranges intersect):

- ``"incoming_only"``: the marked transient is ignored there; the detected one stays.
- ``"overlapping"``: the marked transient replaces the detected ones it overlaps.
- ``"all"``: both are kept (a marked peak on the frame of a detected peak counts once).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from element_calcium.compute import _checks
from element_calcium.compute.events._transients import (
    TRANSIENT_COLUMNS,
    _first_below,
    _steepest,
    _window_frames,
    smooth_and_noise,
    transient_params,
)

__all__ = ["CURATION_MODES", "curate_transients", "measure_transients"]

CURATION_MODES = ("incoming_only", "overlapping", "all")


def measure_transients(dff, fps, peaks, **params) -> pd.DataFrame:
    """Transients of one trace at given peak frames, e.g. marked by hand.

    Args:
        dff: (T,) dF/F of one cell.
        fps: frames per second, > 0.
        peaks: frames (0-based) at or near the transients' peaks; duplicates after refinement count once.
        **params: `TransientParams` fields (the smoothing, noise, max_rise_s and end_fraction are used).

    Returns:
        Rows with the columns of `detect_transients` (``cell`` is 0), ordered by peak.

    Raises:
        ValueError: a peak outside the trace, or a trace shorter than the smoothing window.
    """
    row = _checks.matrix(np.asarray(dff)[None, :], "dff", finite=True)
    fps = _checks.fps(fps)
    settings = transient_params(params)
    n_frames = row.shape[1]
    marked = np.asarray(peaks, dtype=np.int64).ravel()
    if marked.size and (marked.min() < 0 or marked.max() >= n_frames):
        raise ValueError(f"peaks must be frames in [0, {n_frames}), got {marked.min()}..{marked.max()}")
    smoothed, derivative, noise = (values[0] for values in smooth_and_noise(row, fps, settings))
    half = _window_frames(settings, fps, n_frames) // 2
    refined = np.unique([lo + int(np.argmax(smoothed[lo:hi])) for lo, hi in _ranges(marked, half, n_frames)])
    refined = refined.astype(np.int64)
    max_rise = max(1, int(round(settings.max_rise_s * fps)))
    starts = np.array([p - int(np.argmin(smoothed[max(p - max_rise, 0) : p + 1][::-1])) for p in refined], np.int64)
    base = smoothed[starts].astype(np.float64)
    amplitude = smoothed[refined] - base
    level = base + settings.end_fraction * amplitude
    ends = np.maximum(_first_below(smoothed, refined + 1, np.full(refined.size, n_frames), level), refined)
    cumulative = np.concatenate(([0.0], np.cumsum(smoothed, dtype=np.float64)))
    area = (cumulative[ends + 1] - cumulative[starts] - (ends - starts + 1) * base) / fps
    table = pd.DataFrame({
        "cell": np.zeros(refined.size, np.int64), "start": starts, "onset": _steepest(derivative, starts, refined),
        "peak": refined, "end": ends, "peak_dff": smoothed[refined].astype(np.float64), "amplitude": amplitude,
        "snr": amplitude / noise[refined], "rise_s": (refined - starts) / fps, "decay_s": (ends - refined) / fps,
        "area": area,
    })
    return table[list(TRANSIENT_COLUMNS)]


def _ranges(frames: np.ndarray, half: int, n_frames: int):
    return [(max(f - half, 0), min(f + half + 1, n_frames)) for f in frames]


def curate_transients(detected: pd.DataFrame, *, rejected=(), marked: pd.DataFrame | None = None,
                      mode: str = "incoming_only") -> pd.DataFrame:
    """One cell's transients after a curator's corrections (see the module notes for the modes).

    Args:
        detected: that cell's detected transients (columns of `detect_transients`), indexed by their ids.
        rejected: ids (index values of ``detected``) the curator rejected.
        marked: transients measured at the curator's peaks (`measure_transients`); None for none.
        mode: ``"incoming_only"``, ``"overlapping"`` or ``"all"``.

    Returns:
        The curated transients ordered by peak, with a boolean column ``added`` (True for marked ones).

    Raises:
        ValueError: an unknown mode, or a rejected id that is not among ``detected``.
    """
    if mode not in CURATION_MODES:
        raise ValueError(f"mode must be one of {CURATION_MODES}, got {mode!r}")
    unknown = sorted(set(np.asarray(rejected, dtype=np.int64).tolist()) - set(detected.index.tolist()))
    if unknown:
        raise ValueError(f"rejected transient id(s) {unknown} are not among the cell's transients")
    kept = detected.drop(index=list(rejected)).assign(added=False)
    incoming = (marked if marked is not None else detected.iloc[:0]).assign(added=True)
    overlap = ((incoming["start"].to_numpy()[:, None] <= kept["end"].to_numpy()[None, :])
               & (kept["start"].to_numpy()[None, :] <= incoming["end"].to_numpy()[:, None]))
    if mode == "incoming_only":
        incoming = incoming[~overlap.any(axis=1)]
    elif mode == "overlapping":
        kept = kept[~overlap.any(axis=0)]
    else:
        incoming = incoming[~incoming["peak"].isin(kept["peak"])]
    merged = pd.concat([kept, incoming], ignore_index=True) if len(incoming) else kept.reset_index(drop=True)
    return merged.sort_values("peak", kind="stable").reset_index(drop=True)
