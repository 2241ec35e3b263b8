"""The stage of PeriEventWindow: each cell's activity around every event of one type, and its response."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from element_calcium.compute import events as event_compute
from element_calcium.compute.params import PeriEventParams
from element_calcium.stages.rows import Rows, RunSettings
from element_calcium.stages.transients import TraceInputs, nullable_value, trace_key


@dataclass(frozen=True)
class PeriEventInputs:
    """The Activity traces and peri-event parameters (`TraceInputs`), and ``event_times``: (E,) float64 seconds
    of the events (recording clock), in time order."""

    traces: TraceInputs
    event_times: np.ndarray


def run(inputs: PeriEventInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The PeriEventWindow row (``n_events``, ``mask_ids``, ``sample_times``, ``event_frames``, ``windows``
    (E, N, S)) and one ``CellResponse`` row per cell (`compute.events.response_statistics`)."""
    traces, params = inputs.traces, PeriEventParams(**inputs.traces.params)
    windows = event_compute.peri_event_windows(traces.traces, inputs.event_times, traces.frame_times, params=params)
    responses = event_compute.response_statistics(traces.traces, inputs.event_times, traces.frame_times,
                                                  params=params)
    master = {"n_events": len(windows.event_frames), "mask_ids": traces.mask_ids, "sample_times": windows.times,
              "event_frames": windows.event_frames, "windows": windows.windows}
    return Rows(master=master, parts={"CellResponse": [
        {**trace_key(traces.mask_ids[row.cell]), "n_trials": int(row.n_trials), "baseline": float(row.baseline),
         "mean_response": float(row.mean_response), "delta": float(row.delta),
         "z_score": nullable_value(row.z_score, "z_score"), "p_value": float(row.p_value)}
        for row in responses.itertuples(index=False)
    ]})
