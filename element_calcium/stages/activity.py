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
        tool_ar_coefficients: per cell of ``tool_trace_ids`` (same order), the (p,) AR coefficients of the
            deconvolution that made its stored trace (Segmentation.Mask ``ar_coefficients``), or None where the
            tool recorded none; None: none for any cell.
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
    tool_ar_coefficients: list | None = None


def run(inputs: ActivityInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The ``Trace`` rows of Activity: each cell's trace and, for OASIS traces, the AR coefficients of its
    deconvolution (`curation_activity_and_g`); for dF/F, its standardized noise (`activity_noise`)."""
    method = inputs.extraction_method
    traces, coefficients = curation_activity_and_g(inputs)
    noise = activity_noise(method, traces, fps=inputs.fps)
    return Rows(parts={"Trace": [
        {
            "mask_id": int(mask_id),
            "fluorescence_channel": 0,
            "activity_trace": traces[n],
            "standardized_noise": None if noise is None else float(noise[n]),
            "ar_coefficients": coefficients[n],
        }
        for n, mask_id in enumerate(inputs.mask_ids)
    ]})


def curation_activity(inputs: ActivityInputs) -> np.ndarray:
    """(N, T) float32 activity of each cell of ``inputs``, in the order of ``inputs.mask_ids``: the tool's stored
    trace for the cells of ``tool_trace_ids``, computed from the fluorescence (`computed_activity`) for the others.
    """
    return curation_activity_and_g(inputs)[0]


def curation_activity_and_g(inputs: ActivityInputs) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """`curation_activity`, and per cell the (p,) float32 AR coefficients g1..gp of the deconvolution that made
    its trace: the OASIS fit's for computed deconvolved or denoised traces, ``tool_ar_coefficients`` for the tool's
    stored ones; None for dF/F, for p = 0 and where the tool recorded none."""
    method = inputs.extraction_method
    if method not in ACTIVITY_METHODS:
        raise ValueError(f"unknown activity extraction method {method!r}; known: {sorted(ACTIVITY_METHODS)}")
    from_tool = np.isin(inputs.mask_ids, inputs.tool_trace_ids)
    traces = np.empty(inputs.fluorescence.shape, np.float32)
    coefficients: list[np.ndarray | None] = [None] * len(inputs.mask_ids)
    if (~from_tool).any():
        computed = np.flatnonzero(~from_tool)
        traces[computed], fitted = _computed_activity_and_g(
            method, inputs.fluorescence[computed],
            background=None if inputs.background is None else inputs.background[computed],
            fps=inputs.fps, params=inputs.params)
        for row, g in zip(computed, fitted):
            coefficients[row] = g
    if from_tool.any():
        stored = extraction_file.read_sources(inputs.results_file, owner=inputs.owner)
        traces[from_tool] = getattr(stored.select(inputs.mask_ids[from_tool]), TOOL_TRACE[method])
        if method != "dff" and inputs.tool_ar_coefficients is not None:
            tool_g = dict(zip((int(mask_id) for mask_id in inputs.tool_trace_ids), inputs.tool_ar_coefficients))
            for row in np.flatnonzero(from_tool):
                g = tool_g.get(int(inputs.mask_ids[row]))
                coefficients[row] = None if g is None or not np.size(g) else np.asarray(g, np.float32)
    return traces, coefficients


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
    return _computed_activity_and_g(method, fluorescence, background=background, fps=fps, params=params)[0]


def _computed_activity_and_g(method: str, fluorescence: np.ndarray, *, background: np.ndarray | None, fps: float,
                             params: dict[str, Any]) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """`computed_activity` and each row's (p,) float32 AR coefficients: None for dF/F, for p = 0 and where OASIS
    fitted no AR model (a trace a constant baseline explains: all coefficients 0)."""
    settings = ProcessingParams.from_dict(params)
    if method == "dff":
        traces = dff.detrend_dff(fluorescence, fps=fps, window_s=settings.dff.window_s,
                                 percentile=settings.dff.percentile, background=background)
        return traces, [None] * len(fluorescence)
    if not len(fluorescence):
        return np.zeros_like(fluorescence), []
    fit = settings.deconvolution
    result = deconvolution.deconvolve_traces(
        fluorescence, p=fit.p, s_min=fit.s_min, noise_range=fit.noise_range, optimize_g=fit.optimize_g
    )
    coefficients = [np.asarray(g, np.float32) if np.any(g) else None for g in result.g]
    return (result.spikes if method == "deconvolved" else result.calcium), coefficients


def activity_noise(method: str, traces: np.ndarray, *, fps: float) -> np.ndarray | None:
    """(N,) standardized noise of dF/F traces in % per sqrt(Hz) (CalSciPy / Rupprecht et al. 2021); None for
    the other activity methods, whose traces are not in dF/F units."""
    if method != "dff" or traces.shape[1] < 2:
        return None
    return dff.standardized_noise(traces, fps=fps) if len(traces) else np.zeros(0, np.float32)
