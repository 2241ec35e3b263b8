"""The stage of Activity: dF/F, deconvolved spikes or denoised calcium of each cell of a curation.

Activity starts from the curation's stored fluorescence (the ``Trace`` rows of Fluorescence), so the curation
chain is not replayed again. Only where the segmentation's results file holds the producing tool's own trace
for the method (`TOOL_TRACE`: e.g. suite2p's spikes, CaImAn's dF/F, the built-in CNMF's denoised calcium and
spikes) are the cells that come from the segmentation given that trace, read from the file, as
`stages.fluorescence.curated_sources` gives them; cells a curation merged or drew get the computed trace, as
`stages.fluorescence.apply_edits` computes it for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from element_calcium import extraction_file
from element_calcium.compute import deconvolution, dff
from element_calcium.compute.params import ProcessingParams
from element_calcium.stages.rows import Rows, RunSettings

ACTIVITY_METHODS = {
    "dff": "dF/F over a running-percentile baseline",
    "deconvolved": "deconvolved spikes (OASIS)",
    "denoised": "denoised calcium (OASIS)",
}
TOOL_TRACE = {"dff": "dff", "deconvolved": "spikes", "denoised": "denoised"}  # method -> trace a tool may store


@dataclass(frozen=True)
class ActivityInputs:
    """What the stage needs: the curation's stored fluorescence and, where the tool stored the method's trace,
    where to read it.

    Attributes:
        extraction_method: one of `ACTIVITY_METHODS`.
        mask_ids: (N,) int64 ids of the curation's cells.
        fluorescence: (N, T) float32 each cell's fluorescence, background removed (grey levels).
        background: (N, T) float32 background under each cell, same units; None when the sources have none.
        fps: frame rate recorded in the segmentation's results file (Hz).
        params: the processing parameter set (`ProcessingParams` as a dict).
        tool_trace_ids: (n,) int64 ids of the cells whose trace is the one the tool stored in ``results_file``
            (the segmentation's cells the curation kept, when the file holds the method's trace; else empty).
        results_file: the segmentation's results file; None when ``tool_trace_ids`` is empty.
        owner: `results_file.owner_text` the file must record; None: not checked.
        file_stamp: (size in bytes, modification time in ns) of ``results_file``, so that a changed file changes
            the inputs' hash; None without a file.
    """

    extraction_method: str
    mask_ids: np.ndarray
    fluorescence: np.ndarray
    background: np.ndarray | None
    fps: float
    params: dict[str, Any]
    tool_trace_ids: np.ndarray
    results_file: str | None = None
    owner: str | None = None
    file_stamp: tuple[int, int] | None = None


def run(inputs: ActivityInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The ``Trace`` rows of Activity: each cell's trace (`curation_activity`) and, for dF/F, its standardized
    noise (`activity_noise`)."""
    method = inputs.extraction_method
    traces = curation_activity(inputs)
    noise = activity_noise(method, traces, fps=inputs.fps)
    return Rows(parts={"Trace": [
        {
            "mask_id": int(mask_id),
            "fluorescence_channel": 0,
            "activity_trace": traces[n],
            "standardized_noise": None if noise is None else float(noise[n]),
        }
        for n, mask_id in enumerate(inputs.mask_ids)
    ]})


def curation_activity(inputs: ActivityInputs) -> np.ndarray:
    """(N, T) float32 activity of each cell of ``inputs``, in the order of ``inputs.mask_ids``: the tool's stored
    trace for the cells of ``tool_trace_ids``, computed from the fluorescence (`computed_activity`) for the others.
    """
    method = inputs.extraction_method
    if method not in ACTIVITY_METHODS:
        raise ValueError(f"unknown activity extraction method {method!r}; known: {sorted(ACTIVITY_METHODS)}")
    from_tool = np.isin(inputs.mask_ids, inputs.tool_trace_ids)
    traces = np.empty(inputs.fluorescence.shape, np.float32)
    if (~from_tool).any():
        traces[~from_tool] = computed_activity(
            method, inputs.fluorescence[~from_tool],
            background=None if inputs.background is None else inputs.background[~from_tool],
            fps=inputs.fps, params=inputs.params)
    if from_tool.any():
        stored = extraction_file.read_sources(inputs.results_file, owner=inputs.owner)
        traces[from_tool] = getattr(stored.select(inputs.mask_ids[from_tool]), TOOL_TRACE[method])
    return traces


def activity_traces(
    method: str,
    sources: extraction_file.ExtractedSources,
    *,
    params: dict[str, Any],
) -> np.ndarray:
    """(N, T) float32 activity of each source by one of `ACTIVITY_METHODS`.

    Traces the producing tool stored (denoised calcium, spikes, dF/F) are used as stored; the
    others are computed from the fluorescence and background (`computed_activity`).
    """
    if method not in ACTIVITY_METHODS:
        raise ValueError(f"unknown activity extraction method {method!r}; known: {sorted(ACTIVITY_METHODS)}")
    stored = getattr(sources, TOOL_TRACE[method])
    if stored is not None:
        return stored
    return computed_activity(method, sources.fluorescence, background=sources.background, fps=sources.fps,
                             params=params)


def computed_activity(
    method: str,
    fluorescence: np.ndarray,
    *,
    background: np.ndarray | None,
    fps: float,
    params: dict[str, Any],
) -> np.ndarray:
    """(N, T) float32 activity computed from (N, T) fluorescence and background (same units, or None) at ``fps``
    (Hz) with the parameter set's settings: dF/F over a running-percentile baseline, or OASIS spikes or calcium.
    Each row depends on its own cell's traces only."""
    settings = ProcessingParams.from_dict(params)
    if method == "dff":
        return dff.detrend_dff(fluorescence, fps=fps, window_s=settings.dff.window_s,
                               percentile=settings.dff.percentile, background=background)
    if not len(fluorescence):
        return np.zeros_like(fluorescence)
    fit = settings.deconvolution
    result = deconvolution.deconvolve_traces(
        fluorescence, p=fit.p, s_min=fit.s_min, noise_range=fit.noise_range, optimize_g=fit.optimize_g
    )
    return result.spikes if method == "deconvolved" else result.calcium


def activity_noise(method: str, traces: np.ndarray, *, fps: float) -> np.ndarray | None:
    """(N,) standardized noise of dF/F traces in % per sqrt(Hz) (CalSciPy / Rupprecht et al. 2021); None for
    the other activity methods, whose traces are not in dF/F units."""
    if method != "dff" or traces.shape[1] < 2:
        return None
    return dff.standardized_noise(traces, fps=fps) if len(traces) else np.zeros(0, np.float32)
