"""Diagnostic figures of source extraction (minian's seeds, mixture fit and preprocessing views), built on a
simulated recording: each figure shows what it claims."""

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from element_calcium.compute.cnmf import extract_sources, fit_mixture, preprocessing_steps, resolve_sizes
from element_calcium.compute.cnmf import seed_candidates
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.plotting import plot_preprocessing, plot_seed_mixture, plot_seeds
from element_calcium.simulate import simulate


@pytest.fixture(scope="module")
def recording():
    movie = simulate(mode="1p", n_frames=400, height=80, width=80, n_cells=10, max_shift=0.0, seed=5)
    frames = movie.render(0, len(movie))
    params = ProcessingParams.from_dict(default_params("1p"))
    result = extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[s:e, y0:y1, x0:x1], frames.shape, modality="1p",
        params=params.extraction, deconvolution=params.deconvolution, cell_diameter=params.cell_diameter,
        device="cpu")
    gSig, gSiz = resolve_sizes(params.extraction, params.cell_diameter)
    footprints = result.footprints.toarray().reshape(80, 80, -1)
    yy, xx = np.mgrid[:80, :80]
    weight = footprints.sum(axis=(0, 1))
    centres = np.stack([(footprints * yy[..., None]).sum(axis=(0, 1)) / weight,
                        (footprints * xx[..., None]).sum(axis=(0, 1)) / weight], axis=1)
    return frames, params, result, gSig, gSiz, centres


@pytest.fixture(scope="module")
def seeds(recording):
    _, params, result, gSig, _, centres = recording
    return seed_candidates(result.correlation_image, result.pnr_image, min_corr=params.extraction.min_corr,
                           min_pnr=params.extraction.min_pnr, gSig=gSig, cell_centres=centres)


def test_seed_candidates_apply_the_seeding_thresholds_and_find_the_cells(recording, seeds):
    _, params, result, _, _, centres = recording
    assert len(seeds.y) > len(centres) > 0
    np.testing.assert_array_equal(seeds.pnr, result.pnr_image[seeds.y, seeds.x])
    np.testing.assert_array_equal(seeds.passed_pnr, seeds.pnr >= params.extraction.min_pnr)
    np.testing.assert_array_equal(seeds.passed_correlation, seeds.correlation >= params.extraction.min_corr)
    assert not (seeds.became_cell & ~(seeds.passed_pnr & seeds.passed_correlation)).any()
    # every found cell lies near a candidate that passed both tests
    assert seeds.became_cell.sum() == len(centres)
    assert (~seeds.passed_pnr).any()  # the noise gives candidates that the threshold rejects


def test_candidates_in_the_border_band_are_never_seeds(recording):
    _, params, result, gSig, _, centres = recording
    border = seed_candidates(result.correlation_image, result.pnr_image, min_corr=params.extraction.min_corr,
                             min_pnr=params.extraction.min_pnr, gSig=gSig, cell_centres=centres, border_pix=20)
    inside = (border.y >= 20) & (border.y < 60) & (border.x >= 20) & (border.x < 60)
    np.testing.assert_array_equal(border.in_border, ~inside)
    assert border.in_border.any() and not (border.became_cell & border.in_border).any()
    labels = [text.get_text() for text in plot_seeds(result.pnr_image, border).axes[0].get_legend().get_texts()]
    assert f"in the border band ({border.in_border.sum()})" in labels


def test_seed_figure_draws_one_marker_per_candidate_in_its_category(recording, seeds):
    frames = recording[0]
    figure = plot_seeds(frames.max(axis=0), seeds)
    ax = figure.axes[0]
    collections = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in collections) == len(seeds.y)
    by_label = {text.get_text().rsplit(" (", 1)[0]: int(text.get_text().rsplit("(", 1)[1].rstrip(")"))
                for text in ax.get_legend().get_texts()}
    assert by_label["became a cell"] == seeds.became_cell.sum()
    assert by_label["below min_pnr"] == (~seeds.passed_pnr).sum()
    cells = next(c for c in collections if c.get_label().startswith("became a cell"))
    np.testing.assert_array_equal(cells.get_offsets(), np.stack([seeds.x, seeds.y], axis=1)[seeds.became_cell])


def test_mixture_fit_recovers_two_known_gaussians():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(2.0, 0.5, 3000), rng.normal(9.0, 1.5, 1000)])
    mixture = fit_mixture(values)
    np.testing.assert_allclose(mixture.means, [2.0, 9.0], atol=0.1)
    np.testing.assert_allclose(mixture.sds, [0.5, 1.5], atol=0.1)
    np.testing.assert_allclose(mixture.weights, [0.75, 0.25], atol=0.02)
    assert 3.0 < mixture.boundary < 5.0
    densities = mixture.densities(np.array([mixture.boundary - 0.01, mixture.boundary + 0.01]))
    assert densities[0, 0] > densities[1, 0] and densities[1, 1] >= densities[0, 1]


def test_mixture_figure_marks_the_threshold_the_seeding_used(seeds):
    mixture = fit_mixture(seeds.pnr)
    figure = plot_seed_mixture(seeds, mixture, bins=20)
    ax = figure.axes[0]
    threshold = next(line for line in ax.get_lines() if line.get_label().startswith("min_pnr"))
    np.testing.assert_allclose(threshold.get_xdata(), [seeds.min_pnr] * 2)
    boundary = next(line for line in ax.get_lines() if line.get_label().startswith("mixture boundary"))
    np.testing.assert_allclose(boundary.get_xdata(), [mixture.boundary] * 2)
    assert sum(patch.get_height() for patch in ax.patches) == len(seeds.pnr)  # every candidate in the histogram
    components = [line for line in ax.get_lines() if line.get_label().startswith("component")]
    assert len(components) == 2


def test_preprocessing_figure_shows_each_step_of_the_seeding(recording):
    frames, _, _, gSig, gSiz, _ = recording
    steps = preprocessing_steps(frames, frame=100, gSig=gSig, gSiz=gSiz)
    assert list(steps) == ["motion-corrected", "seed filter", "median removed", "over noise"]
    # 400 frames are within the ring model's trend window: both models remove each pixel's median over them
    low_rank = preprocessing_steps(frames, frame=100, gSig=gSig, gSiz=gSiz, background="low_rank")
    np.testing.assert_allclose(low_rank["median removed"], steps["median removed"], atol=1e-4)
    np.testing.assert_array_equal(steps["motion-corrected"], frames[100])
    # the seed filter sums to zero: a flat background is removed, the filtered frame's mean is near 0
    assert abs(steps["seed filter"].mean()) < 0.05 * abs(frames[100].mean())
    figure = plot_preprocessing({"raw": frames[100], **steps})
    images = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in images] == ["raw", *steps]
    np.testing.assert_array_equal(images[2].images[0].get_array(), steps["seed filter"])


def test_bad_input_is_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="correlation_image"):
        seed_candidates(np.zeros((4, 4)), np.zeros((4, 5)), min_corr=0.8, min_pnr=6, gSig=2)
    with pytest.raises(ValueError, match="frame"):
        preprocessing_steps(np.zeros((3, 8, 8)), frame=3, gSig=1.0, gSiz=5)
    with pytest.raises(ValueError, match="background"):
        preprocessing_steps(np.zeros((3, 8, 8)), frame=0, gSig=1.0, gSiz=5, background="none")
    with pytest.raises(ValueError, match="values"):
        fit_mixture([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="steps"):
        plot_preprocessing({})
