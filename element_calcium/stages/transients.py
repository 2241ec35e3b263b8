"""The stage of Transients: calcium transients of each cell's activity trace, and each cell's statistics.

`transient_rows`, `stats_rows` and the float checks also serve the CuratedTransients stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from element_calcium.compute import events as event_compute
from element_calcium.compute.params import TransientParams
from element_calcium.stages.rows import Rows, RunSettings


@dataclass(frozen=True)
class TraceInputs:
    """The activity traces of one Activity key, what the event stages start from.

    Attributes:
        mask_ids: (N,) int64 cell ids.
        traces: (N, T) float32 activity traces (dF/F or denoised calcium).
        fps: frame rate (Hz).
        frame_times: (T,) float64 seconds of each frame (recording clock).
        params: the complete parameters of the step (``EventParamSet.params``).
    """

    mask_ids: np.ndarray
    traces: np.ndarray
    fps: float
    frame_times: np.ndarray
    params: dict[str, Any]


def run(inputs: TraceInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Detect each cell's transients (`compute.events.detect_transients`) and their statistics: the Transients
    row (``transient_count``) and its ``Transient`` and ``CellStats`` parts."""
    params = TransientParams(**inputs.params)
    transients = event_compute.detect_transients(inputs.traces, fps=inputs.fps, params=params)
    stats = event_compute.transient_statistics(inputs.traces, transients, fps=inputs.fps, params=params)
    return Rows(master={"transient_count": len(transients)}, parts={
        "Transient": list(transient_rows(transients, inputs.mask_ids, inputs.frame_times)),
        "CellStats": list(stats_rows(stats, inputs.mask_ids)),
    })


def trace_key(mask_id: int) -> dict[str, Any]:
    """The Activity.Trace attributes of a cell beyond its Activity key."""
    return {"mask_id": int(mask_id), "fluorescence_channel": 0}


def transient_rows(transients: pd.DataFrame, mask_ids: np.ndarray, frame_times: np.ndarray):
    """Rows of a Transient part: one per transient, numbered per cell in time order."""
    ordered = transients.sort_values(["cell", "onset"], kind="stable")
    numbers = ordered.groupby("cell").cumcount().to_numpy()
    for number, row in zip(numbers, ordered.itertuples(index=False)):
        yield {
            **trace_key(mask_ids[row.cell]), "transient_id": int(number),
            "start_frame": int(row.start), "onset_frame": int(row.onset), "peak_frame": int(row.peak),
            "end_frame": int(row.end), "onset_time": float(frame_times[row.onset]),
            "peak_time": float(frame_times[row.peak]), "end_time": float(frame_times[row.end]),
            **{name: float32_value(getattr(row, name), name) for name in _TRANSIENT_FLOATS},
        }


def stats_rows(stats: pd.DataFrame, mask_ids: np.ndarray):
    """Rows of a CellStats part: one per cell."""
    for row in stats.itertuples(index=False):
        yield {
            **trace_key(mask_ids[row.cell]), "n_transients": int(row.n_transients),
            **{name: nullable_value(getattr(row, name), name) for name in _STATS_NULLABLE},
            **{name: float32_value(getattr(row, name), name) for name in _STATS_FLOATS},
        }


_TRANSIENT_FLOATS = ("peak_dff", "amplitude", "snr", "rise_s", "decay_s", "area")
_STATS_NULLABLE = ("mean_iei_s", "mean_peak_dff", "mean_peak_smoothed_dff", "mean_amplitude", "snr")
_STATS_FLOATS = ("rate_hz", "noise", "mad", "standardized_noise")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def float32_value(value, column: str) -> float:
    """``value`` for a NOT NULL float32 column; ValueError naming the column where it is not a finite float32."""
    number = float(value)
    if not (np.isfinite(number) and abs(number) <= _FLOAT32_MAX):
        raise ValueError(f"{column} = {number} cannot be stored (not a finite float32); nothing was inserted")
    return number


def nullable_value(value, column: str) -> float | None:
    """``value`` for a nullable float32 column: NULL where it is undefined (None, NaN or infinite), else
    `float32_value`."""
    return None if value is None or not np.isfinite(value) else float32_value(value, column)
