"""Manual corrections of a cell's transients (CalTrig ``update_and_save_E``): rejected and hand-marked peaks.

A curator rejects detected transients and marks peaks (picks). Each marked frame is moved to the highest
smoothed frame within half a smoothing window, then measured like a detected transient (definitions in
``_transients``): start is the lowest smoothed frame in the ``max_rise_s`` before the peak, onset the
steepest rise between them, end where the trace falls back to start + end_fraction of the amplitude.

The picks replace or join the cell's remaining detected transients by one of CalTrig's three confirmation
modes (a pick overlaps a transient where their start..end frame ranges intersect):

- ``"incoming_only"`` (CalTrig "Accept Incoming Only"): the picks replace the cell's transients.
- ``"overlapping"`` (CalTrig "Accept Overlapping Only"): only the picks that overlap a remaining
  transient are kept, and they replace the cell's transients.
- ``"all"`` (CalTrig "Accept All"): the remaining transients and the picks are both kept; a pick that
  overlaps a remaining transient is the same event and is counted once (the detected row stays).

With no picks the mode does not apply: the result is the detected transients less the rejected ones.
CalTrig applies the modes to its binary event array E (one row per cell, 1 on a transient's frames);
`merge_event_masks` does exactly that. On rows of transients the same rules keep each pick whole (its
start, peak and end are measured on the trace), where CalTrig's "Accept Overlapping Only" also trims a
pick to the frames it shares with existing transients.
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
    range_max,
    smooth_and_noise,
)
from element_calcium.compute.params import TransientParams

__all__ = ["CURATION_MODES", "curate_transients", "measure_transients", "merge_event_masks"]

CURATION_MODES = ("incoming_only", "overlapping", "all")


def measure_transients(dff, peaks, *, fps: float, params: TransientParams = TransientParams()) -> pd.DataFrame:
    """Transients of one trace at given peak frames, e.g. marked by hand.

    Args:
        dff: (T,) dF/F of one cell.
        peaks: frames (0-based) at or near the transients' peaks; duplicates after refinement count once.
        fps: frames per second, > 0.
        params: the transient parameters (the smoothing, noise, max_rise_s and end_fraction are used).

    Returns:
        Rows with the columns of `detect_transients` (``cell`` is 0), ordered by peak.

    Raises:
        ValueError: a peak outside the trace, or a trace shorter than the smoothing window.
    """
    row = _checks.matrix(np.asarray(dff)[None, :], "dff", finite=True)
    fps = _checks.fps(fps)
    n_frames = row.shape[1]
    marked = np.asarray(peaks, dtype=np.int64).ravel()
    if marked.size and (marked.min() < 0 or marked.max() >= n_frames):
        raise ValueError(f"peaks must be frames in [0, {n_frames}), got {marked.min()}..{marked.max()}")
    smoothed, derivative, noise = (values[0] for values in smooth_and_noise(row, fps, params))
    half = _window_frames(params, fps, n_frames) // 2
    refined = np.unique([lo + int(np.argmax(smoothed[lo:hi])) for lo, hi in _ranges(marked, half, n_frames)])
    refined = refined.astype(np.int64)
    max_rise = max(1, int(round(params.max_rise_s * fps)))
    starts = np.array([p - int(np.argmin(smoothed[max(p - max_rise, 0) : p + 1][::-1])) for p in refined], np.int64)
    base = smoothed[starts].astype(np.float64)
    amplitude = smoothed[refined] - base
    level = base + params.end_fraction * amplitude
    ends = np.maximum(_first_below(smoothed, refined + 1, np.full(refined.size, n_frames), level), refined)
    cumulative = np.concatenate(([0.0], np.cumsum(smoothed, dtype=np.float64)))
    area = (cumulative[ends + 1] - cumulative[starts] - (ends - starts + 1) * base) / fps
    table = pd.DataFrame({
        "cell": np.zeros(refined.size, np.int64), "start": starts, "onset": _steepest(derivative, starts, refined),
        "peak": refined, "end": ends, "peak_dff": range_max(row[0], starts, ends), "amplitude": amplitude,
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
        marked: transients measured at the curator's picks (`measure_transients`); None or no rows for none.
        mode: ``"incoming_only"``, ``"overlapping"`` or ``"all"`` (CalTrig's "Accept Incoming Only",
            "Accept Overlapping Only", "Accept All").

    Returns:
        The curated transients ordered by peak, with a boolean column ``added`` (True for picks).

    Raises:
        ValueError: an unknown mode, or a rejected id that is not among ``detected``.
    """
    if mode not in CURATION_MODES:
        raise ValueError(f"mode must be one of {CURATION_MODES}, got {mode!r}")
    unknown = sorted(set(np.asarray(rejected, dtype=np.int64).tolist()) - set(detected.index.tolist()))
    if unknown:
        raise ValueError(f"rejected transient id(s) {unknown} are not among the cell's transients")
    kept = detected.drop(index=list(rejected)).assign(added=False)
    if marked is None or marked.empty:
        return kept.sort_values("peak", kind="stable").reset_index(drop=True)
    incoming = marked.assign(added=True)
    overlaps_kept = ((incoming["start"].to_numpy()[:, None] <= kept["end"].to_numpy()[None, :])
                     & (kept["start"].to_numpy()[None, :] <= incoming["end"].to_numpy()[:, None])).any(axis=1)
    if mode == "incoming_only":
        merged = incoming
    elif mode == "overlapping":
        merged = incoming[overlaps_kept]
    else:
        extra = incoming[~overlaps_kept]
        merged = pd.concat([kept, extra], ignore_index=True) if len(extra) else kept
    return merged.sort_values("peak", kind="stable").reset_index(drop=True)


def merge_event_masks(existing, incoming, mode: str = "incoming_only") -> np.ndarray:
    """CalTrig's confirmation of picks on binary event arrays E (``update_and_save_E``), frame by frame.

    Args:
        existing: (T,) or (N, T) event array, nonzero on the frames of a transient.
        incoming: the picks as an event array of the same shape.
        mode: ``"incoming_only"`` (the picks replace E), ``"overlapping"`` (the frames where both are set)
            or ``"all"`` (the frames where either is set).

    Returns:
        The merged event array, same shape, uint8 (0 or 1).

    Raises:
        ValueError: an unknown mode, or arrays of different shapes.
    """
    if mode not in CURATION_MODES:
        raise ValueError(f"mode must be one of {CURATION_MODES}, got {mode!r}")
    old, new = np.asarray(existing) != 0, np.asarray(incoming) != 0
    if old.shape != new.shape:
        raise ValueError(f"existing has shape {old.shape} but incoming has shape {new.shape}; give equal shapes")
    merged = {"incoming_only": new, "overlapping": new & old, "all": new | old}[mode]
    return merged.astype(np.uint8)
