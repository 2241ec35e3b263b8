"""The Recording page's diagnostics of source extraction (minian's seed, mixture and preprocessing views):
the candidate seeds over the max projection, their peak-to-noise with a mixture fit and the seeding's
threshold, and one frame after each step that prepares the movie for seeding.

Shown for segmentations this pipeline computed (they store the seed images); built when the button is pressed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from matplotlib.figure import Figure

from element_calcium.app.data import AppData
from element_calcium.app.frames import RecordingFrames
from element_calcium.compute import cnmf
from element_calcium.compute.params import ProcessingParams
from element_calcium.plotting import plot_preprocessing, plot_seed_mixture, plot_seeds
from element_calcium.stages.segmentation import border_pix

PREPROCESSING_FRAMES = 300  # frames around the middle of the recording on which the preprocessing is shown


def extraction_figures(data: AppData, task_key: dict[str, Any]) -> dict[str, Figure]:
    """The diagnostic figures of the task's segmentation, by name; empty where the segmentation was loaded
    from another tool or has not run (no seed images or parameters to show)."""
    imaging = data.imaging
    if not imaging.Segmentation & task_key:
        return {}
    correlation, pnr = (imaging.Segmentation & task_key).fetch1("correlation_image", "pnr_image")
    images = data.summary_images(task_key)
    if correlation is None or pnr is None or "max_proj_image" not in images:
        return {}
    try:
        params = ProcessingParams.from_dict((imaging.ProcessingParamSet & task_key).fetch1("params"))
    except (TypeError, ValueError, KeyError):
        return {}
    gSig, gSiz = cnmf.resolve_sizes(params.extraction, params.cell_diameter)
    centre_y, centre_x = (imaging.Segmentation.Mask & task_key).to_arrays("mask_center_y", "mask_center_x")
    seeds = cnmf.seed_candidates(correlation, pnr, min_corr=params.extraction.min_corr,
                                 min_pnr=params.extraction.min_pnr, gSig=gSig,
                                 cell_centres=np.stack([centre_y, centre_x], axis=1),
                                 border_pix=border_pix(params.extraction.border_pix, _largest_shift(data, task_key),
                                                       np.shape(correlation)))
    figures = {"seeds": plot_seeds(images["max_proj_image"], seeds)}
    if len(seeds.pnr) >= 4:
        figures["seed peak-to-noise"] = plot_seed_mixture(seeds, cnmf.fit_mixture(seeds.pnr))
    figures["preprocessing"] = _preprocessing_figure(RecordingFrames(data, task_key), params, gSig, gSiz)
    return figures


def _largest_shift(data: AppData, task_key: dict[str, Any]) -> int:
    """(pixels) the motion correction's largest rigid or block shift, rounded up: the band the seeding skipped."""
    motion = data.imaging.MotionCorrection
    shifts = [*(motion.RigidMotionCorrection & task_key).to_arrays("y_shifts", "x_shifts"),
              *(motion.Block & task_key).to_arrays("y_shifts", "x_shifts")]
    values = [np.abs(np.asarray(v, np.float64)) for group in shifts for v in group if np.size(v)]
    return int(np.ceil(max((float(np.nanmax(v)) for v in values), default=0.0)))


def _preprocessing_figure(frames: RecordingFrames, params: ProcessingParams, gSig: float, gSiz: int) -> Figure:
    start = max(0, frames.n_frames // 2 - PREPROCESSING_FRAMES // 2)
    stop = min(frames.n_frames, start + PREPROCESSING_FRAMES)
    middle = (stop - start) // 2
    movie = frames.raw if frames.corrected is None else frames.corrected
    block = np.asarray(movie.read(start, stop), np.float32)
    steps = cnmf.preprocessing_steps(block, frame=middle, gSig=gSig, gSiz=gSiz,
                                     background=params.extraction.background)
    raw = np.asarray(frames.raw.read(start + middle, start + middle + 1), np.float32)[0]
    return plot_preprocessing({"raw": raw, **steps})


def diagnostics_panel(data: AppData, task_key: dict[str, Any]) -> pn.Column:
    """A closed panel: its button draws the figures of `extraction_figures` (or says there are none)."""
    button = pn.widgets.Button(label="Show extraction diagnostics", width=240)
    holder = pn.Column(pn.pane.Markdown("### Source extraction diagnostics"), button)

    def show(_event) -> None:
        figures = extraction_figures(data, task_key)
        if not figures:
            holder[1] = pn.pane.Markdown("No extraction diagnostics: the segmentation has not run here, or its "
                                         "results were loaded from another tool.")
            return
        holder[1] = pn.Column(*(pn.pane.Matplotlib(figure, dpi=90, tight=True, name=name, interactive=False)
                                for name, figure in figures.items()))

    button.on_click(show)
    return holder
