"""The stage of PeriEventWindow: each cell's activity around every event of one type, and its response.

What is cut around the events is the parameter set's ``source``: the Activity trace itself, or the transient
raster of that trace (CalTrig's E: 0/1 per frame and cell, `compute.events.transient_raster`) built from the stored
transients (``transients``) or from a curation of them (``curated_transients``). For a raster the windows hold 0/1
per frame (counts of marked frames per sample with ``resample_ms``), so their trial average is each cell's event
probability per sample, and the response statistics test the change of that probability after the events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from element_calcium.compute import events as event_compute
from element_calcium.compute.params import PeriEventParams
from element_calcium.stages.rows import Rows, RunSettings
from element_calcium.stages.transients import TraceInputs, nullable_value, trace_key

RASTER_COLUMNS = {"span": ("start_frame", "end_frame"), "onset": ("onset_frame", "onset_frame"),
                  "peak": ("peak_frame", "peak_frame")}  # raster_frames -> (first, last) frame marked


@dataclass(frozen=True)
class PeriEventInputs:
    """The Activity traces and peri-event parameters (`TraceInputs`), ``event_times``: (E,) float64 seconds of the
    events (recording clock), in time order, and, for a raster source, ``transients``: the stored transients of
    the cells, column name (``mask_id``, ``start_frame``, ``onset_frame``, ``peak_frame``, ``end_frame``) -> (k,)
    int64 values; None for the trace source."""

    traces: TraceInputs
    event_times: np.ndarray
    transients: dict[str, np.ndarray] | None = None


def windowed_activity(inputs: PeriEventInputs) -> tuple[np.ndarray, bool]:
    """(N, T) what the windows are cut from, in the order of ``traces.mask_ids``, and whether it is a raster: the
    traces, or the transient raster of the parameter set's ``raster_frames`` (`RASTER_COLUMNS`)."""
    traces, params = inputs.traces, PeriEventParams(**inputs.traces.params)
    if params.source == "trace":
        return traces.traces, False
    if inputs.transients is None:
        raise ValueError(f"peri-event source {params.source!r} needs the stored transients of the cells")
    row_of = {int(mask_id): row for row, mask_id in enumerate(traces.mask_ids)}
    mask_ids = [int(mask_id) for mask_id in inputs.transients["mask_id"]]
    unknown = sorted({mask_id for mask_id in mask_ids if mask_id not in row_of})
    if unknown:
        raise ValueError(f"transients of cells {unknown} that the Activity traces lack")
    rows = np.array([row_of[mask_id] for mask_id in mask_ids], dtype=np.int64)
    first, last = RASTER_COLUMNS[params.raster_frames]
    raster = event_compute.transient_raster(rows, inputs.transients[first], inputs.transients[last],
                                            n_cells=len(traces.mask_ids), n_frames=traces.traces.shape[1])
    return raster, True


def run(inputs: PeriEventInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The PeriEventWindow row (``n_events``, ``mask_ids``, ``sample_times``, ``event_frames``, ``windows``
    (E, N, S), and the transient set and curation a raster came from) and one ``CellResponse`` row per cell
    (`compute.events.response_statistics`), of the parameter set's source (`windowed_activity`)."""
    traces, params = inputs.traces, PeriEventParams(**inputs.traces.params)
    activity, raster = windowed_activity(inputs)
    windows = event_compute.peri_event_windows(activity, inputs.event_times, traces.frame_times, raster=raster,
                                               params=params)
    responses = event_compute.response_statistics(activity, inputs.event_times, traces.frame_times, params=params)
    master = {"n_events": len(windows.event_frames), "mask_ids": traces.mask_ids, "sample_times": windows.times,
              "event_frames": windows.event_frames, "windows": windows.windows,
              "transient_paramset_id": None if params.source == "trace" else params.transient_paramset_id,
              "transient_curation_id": params.transient_curation_id if params.source == "curated_transients"
              else None}
    return Rows(master=master, parts={"CellResponse": [
        {**trace_key(traces.mask_ids[row.cell]), "n_trials": int(row.n_trials), "baseline": float(row.baseline),
         "mean_response": float(row.mean_response), "delta": float(row.delta),
         "z_score": nullable_value(row.z_score, "z_score"), "p_value": float(row.p_value)}
        for row in responses.itertuples(index=False)
    ]})
