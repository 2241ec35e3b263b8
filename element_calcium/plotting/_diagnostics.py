"""Diagnostic figures of source extraction, after minian's ``visualize_seeds``, ``visualize_gmm_fit`` and
``visualize_preprocess``: the candidate seeds and the tests they passed, the distribution of their peak-to-noise
with a mixture fit and the seeding's threshold, and a frame after each step that prepares the movie for seeding.

The quantities come from `element_calcium.compute.cnmf` (`seed_candidates`, `fit_mixture`, `preprocessing_steps`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure

from element_calcium.compute.cnmf import GaussianMixture1D, SeedCandidates
from element_calcium.plotting._common import axes_for, check_array, robust_limits

# (label, colour, marker) of each seed category, in the order they are drawn and listed
SEED_CATEGORIES = {
    "in_border": ("in the border band", "0.6", "x"),
    "failed_pnr": ("below min_pnr", "tab:red", "x"),
    "failed_correlation": ("below min_corr", "tab:orange", "+"),
    "not_a_cell": ("passed, merged or dropped", "gold", "o"),
    "cell": ("became a cell", "limegreen", "o"),
}


def seed_categories(seeds: SeedCandidates) -> dict[str, np.ndarray]:
    """(N,) bool mask of each category of `SEED_CATEGORIES`; every candidate is in exactly one (in the border
    band, else the first test it failed, else whether it became a cell)."""
    inside = ~seeds.in_border
    failed_pnr = inside & ~seeds.passed_pnr
    failed_corr = inside & seeds.passed_pnr & ~seeds.passed_correlation
    passed = inside & seeds.passed_pnr & seeds.passed_correlation
    return {"in_border": seeds.in_border, "failed_pnr": failed_pnr, "failed_correlation": failed_corr,
            "not_a_cell": passed & ~seeds.became_cell, "cell": passed & seeds.became_cell}


def plot_seeds(max_projection, seeds: SeedCandidates, *, ax=None) -> Figure:
    """The candidate seeds over the max projection, each marked as in the border band (never seeded), by the
    first seeding test it failed or, when it passed both, by whether it became a cell (minian's ``visualize_seeds``, all refinements in one view).

    Args:
        max_projection: (H, W) image under the seeds (``MotionCorrection.Summary.max_proj_image``).
        seeds: `compute.cnmf.seed_candidates` of the segmentation's seed images.
        ax: an Axes to draw into; None makes a new figure.

    Returns:
        The Figure. One marker per candidate; the legend gives each category's count.
    """
    image = check_array("max_projection", max_projection, "(H, W)", ndim=2)
    figure, (axes,) = axes_for(ax, 1, name="ax", figsize=(8, 5.5))
    low, high = robust_limits(image)
    axes.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    for name, inside in seed_categories(seeds).items():
        label, colour, marker = SEED_CATEGORIES[name]
        hollow = marker == "o"
        axes.scatter(seeds.x[inside], seeds.y[inside], s=24, marker=marker, linewidths=1.2, label=f"{label} ({inside.sum()})",
                     facecolors="none" if hollow else colour, edgecolors=colour if hollow else None)
    axes.set_title(f"{len(seeds.y)} seed candidates (min_pnr {seeds.min_pnr:g}, min_corr {seeds.min_corr:g})")
    axes.set_xlim(-0.5, image.shape[1] - 0.5)
    axes.set_ylim(image.shape[0] - 0.5, -0.5)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return figure


def plot_seed_mixture(seeds: SeedCandidates, mixture: GaussianMixture1D, *, bins: int = 40, ax=None) -> Figure:
    """The peak-to-noise ratios of the candidate seeds, a Gaussian mixture fitted to them, and the threshold
    the seeding used (minian's ``visualize_gmm_fit``).

    minian keeps the seeds of the mixture's upper component; this pipeline keeps those at or above ``min_pnr``
    (solid line). The mixture's boundary (dashed line) shows where minian's rule would cut.

    Args:
        seeds: `compute.cnmf.seed_candidates`.
        mixture: `compute.cnmf.fit_mixture` of ``seeds.pnr``.
        bins: histogram bins.
        ax: an Axes to draw into; None makes a new figure.

    Returns:
        The Figure: a histogram of counts, each component's density and their sum scaled to counts.
    """
    values = check_array("seeds.pnr", seeds.pnr, "(N,)", ndim=1)
    if not (isinstance(bins, int) and bins >= 1):
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    figure, (axes,) = axes_for(ax, 1, name="ax", figsize=(7, 3.5))
    counts, edges, _ = axes.hist(values, bins=bins, color="0.75", label=f"candidates ({values.size})")
    grid = np.linspace(min(edges[0], seeds.min_pnr), max(edges[-1], seeds.min_pnr), 400)
    scale = values.size * (edges[1] - edges[0])
    densities = mixture.densities(grid) * scale
    for k, density in enumerate(densities):
        axes.plot(grid, density, linewidth=1.2, label=f"component {k + 1} (mean {mixture.means[k]:.3g})")
    axes.plot(grid, densities.sum(axis=0), color="black", linewidth=1.0, label="mixture")
    axes.axvline(seeds.min_pnr, color="tab:red", linewidth=1.5, label=f"min_pnr = {seeds.min_pnr:g} (seeding)")
    axes.axvline(mixture.boundary, color="tab:purple", linestyle="--", linewidth=1.2,
                 label=f"mixture boundary = {mixture.boundary:.3g}")
    axes.set_xlabel("peak-to-noise ratio of the seed-filtered movie")
    axes.set_ylabel("candidates")
    axes.legend(loc="upper right", fontsize="small")
    return figure


def plot_preprocessing(steps: Mapping[str, np.ndarray], *, axes=None) -> Figure:
    """One frame after each preprocessing step, side by side (minian's ``visualize_preprocess``).

    Args:
        steps: step name -> (h, w) frame, in order (`compute.cnmf.preprocessing_steps`, optionally with the raw
            frame first).
        axes: one Axes per step; None makes a new figure.

    Returns:
        The Figure, one panel per step titled with its name, each with its own robust colour limits.
    """
    if not isinstance(steps, Mapping) or not steps:
        raise ValueError("steps must be a non-empty mapping of step name -> (h, w) frame")
    frames = {name: check_array(f"steps[{name!r}]", frame, "(h, w)", ndim=2) for name, frame in steps.items()}
    figure, panels = axes_for(axes, len(frames), name="axes", figsize=(3.2 * len(frames), 3.4))
    for ax, (name, frame) in zip(panels, frames.items()):
        low, high = robust_limits(frame)
        shown = ax.imshow(frame, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        figure.colorbar(shown, ax=ax, shrink=0.8)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    return figure
