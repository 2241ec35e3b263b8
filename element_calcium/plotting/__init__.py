"""Figures and movies to look at a recording's results, drawn from arrays (fetched table data); no database.

Every figure function returns a `matplotlib.figure.Figure` built with the object-oriented API (never
pyplot, never ``show()``), so it renders headless and in threads: save it with ``fig.savefig(path)`` or
display it in a notebook. Those that take ``ax`` / ``axes`` draw into the given axes instead of a new figure.
Images use pixel coordinates (x to the right, y down, pixel centres at integers); times are in seconds.

- Motion: `plot_motion`. Summary images: `plot_summary_images`.
- Cells: `plot_footprint_contours`, `plot_cell`, `plot_traces` (rows in `nn_walk_order`; `nn_sort` gives
  minian's ``NNsort`` rank), `plot_raster`, `plot_peri_event`.
- Clusters: `plot_dendrogram`, `plot_cluster_footprints`, `plot_cluster_psd`, `plot_cluster_counts`.
- Source extraction (minian's diagnostics): `plot_seeds`, `plot_seed_mixture`, `plot_preprocessing`.
- Deconvolution: `plot_pulse_responses` (each cell's AR pulse response from its stored AR coefficients, as
  minian shows them; `pulse_responses` gives the curves).
- Cross-session registration: `plot_registration` (three sessions' footprints as red, green and blue).
- Movies: `write_video` (streaming H.264 MP4), `four_panel_frames` (minian's 2 x 2: raw, corrected / residual,
  reconstruction).

Footprints (``masks``) come either as rows of ``Segmentation.Mask`` (a sequence of mappings, a pandas
DataFrame or a NumPy structured array, with ``mask_id``, ``mask_xpix``, ``mask_ypix``, ``mask_weights``) or
as an (H * W, N) matrix
(SciPy sparse or dense, pixel row ``y * W + x``) with ``mask_ids`` (N,) (None: 0..N-1).
"""

from __future__ import annotations

from element_calcium.plotting._clusters import (
    plot_cluster_counts,
    plot_cluster_psd,
    plot_count_clustermap,
    plot_dendrogram,
)
from element_calcium.plotting._common import GREY
from element_calcium.plotting._diagnostics import plot_preprocessing, plot_seed_mixture, plot_seeds
from element_calcium.plotting._footprints import plot_cluster_footprints, plot_footprint_contours
from element_calcium.plotting._motion import plot_motion, plot_summary_images
from element_calcium.plotting._movies import four_panel_frames, write_video
from element_calcium.plotting._pulse_response import plot_pulse_responses, pulse_responses
from element_calcium.plotting._registration import plot_registration
from element_calcium.plotting._traces import nn_sort, plot_cell, plot_peri_event, plot_raster, plot_traces
from element_calcium.plotting._traces import nn_walk_order

__all__ = [
    "GREY",
    "four_panel_frames",
    "nn_sort",
    "nn_walk_order",
    "plot_cell",
    "plot_cluster_counts",
    "plot_cluster_footprints",
    "plot_cluster_psd",
    "plot_count_clustermap",
    "plot_dendrogram",
    "plot_footprint_contours",
    "plot_motion",
    "plot_peri_event",
    "plot_preprocessing",
    "plot_pulse_responses",
    "plot_raster",
    "plot_registration",
    "plot_seed_mixture",
    "plot_seeds",
    "plot_summary_images",
    "plot_traces",
    "pulse_responses",
    "write_video",
]
