"""Source extraction against simulated ground truth (motion-free movies), patches, and bad input."""

import dataclasses

import numpy as np
import extraction_scoring
import pytest
from scipy import sparse

from element_calcium.compute.cnmf import ExtractionResult, extract_sources
from element_calcium.compute.params import DeconvolutionParams, ExtractionParams, ProcessingParams, default_params
from element_calcium.simulate import simulate


def defaults(modality):
    return ProcessingParams.from_dict(default_params(modality))


def run(frames, modality, *, extraction=None, device="cpu", cell_diameter=None, border_pix=0, **changes):
    params = defaults(modality)
    extraction = dataclasses.replace(extraction or params.extraction, **changes)
    return extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[s:e, y0:y1, x0:x1], frames.shape, modality=modality, params=extraction,
        deconvolution=params.deconvolution, cell_diameter=cell_diameter or params.cell_diameter, device=device,
        border_pix=border_pix,
    )


def extracted(modality, seed):
    movie = simulate(mode=modality, n_frames=2000, height=256, width=256, n_cells=80, max_shift=0.0, seed=seed)
    frames = movie.render(0, len(movie))
    result = run(frames, modality)
    truth = movie.truth
    match = extraction_scoring.score(truth.footprints, truth.calcium, result.footprints, result.calcium)
    return movie.truth, result, match


@pytest.fixture(scope="module")
def one_photon():
    return extracted("1p", seed=11)


@pytest.fixture(scope="module")
def two_photon():
    return extracted("2p", seed=12)


@pytest.mark.parametrize("case", ["one_photon", "two_photon"])
def test_result_layout(case, request):
    truth, result, _ = request.getfixturevalue(case)
    n = result.footprints.shape[1]
    n_frames = truth.calcium.shape[1]
    assert isinstance(result.footprints, sparse.csc_array)
    assert result.footprints.shape == (256 * 256, n) and result.footprints.dtype == np.float32
    assert result.footprints.min() >= 0
    np.testing.assert_allclose(sparse.linalg.norm(result.footprints, axis=0), 1.0, rtol=1e-4)
    for name in ("calcium", "spikes", "residual", "background"):
        array = getattr(result, name)
        assert array.shape == (n, n_frames) and array.dtype == np.float32, name
    assert result.calcium.min() >= 0
    for name in ("baselines", "noise", "spatial_corr", "snr"):
        assert getattr(result, name).shape == (n,), name
    assert result.g.shape == (n, 1)
    for name in ("correlation_image", "pnr_image", "background_constant"):
        assert getattr(result, name).shape == (256, 256), name
    # local support: each footprint fits in a box of 2 gSiz + 1 pixels
    for column in range(n):
        rows = result.footprints[:, [column]].tocoo().coords[0]
        yy, xx = np.divmod(rows, 256)
        assert np.ptp(yy) <= 51 and np.ptp(xx) <= 51


def test_one_photon_finds_the_cells(one_photon):
    _, _, match = one_photon
    assert match.f1 >= 0.9, (match.n_true, match.n_estimated, match.n_matched)
    assert match.median_r >= 0.9
    assert match.median_iou >= 0.7


def test_two_photon_finds_the_cells(two_photon):
    _, _, match = two_photon
    assert match.f1 >= 0.93, (match.n_true, match.n_estimated, match.n_matched)
    assert match.median_r >= 0.95
    assert match.median_iou >= 0.7


@pytest.mark.parametrize("case", ["one_photon", "two_photon"])
def test_spike_times(case, request):
    truth, result, match = request.getfixturevalue(case)
    scale = extraction_scoring.calcium_scale(truth.calcium, result.calcium, match)
    recall = extraction_scoring.spike_recall(truth.spikes, truth.calcium, result.spikes, result.noise, match,
                                             scale=scale)
    assert recall >= 0.8


@pytest.mark.parametrize("case", ["one_photon", "two_photon"])
def test_quality_measures_rank_matched_components(case, request):
    _, result, match = request.getfixturevalue(case)
    matched = result.spatial_corr[match.estimated_index]
    assert np.median(matched) > 0.7
    assert np.median(result.snr[match.estimated_index]) > 3.0
    raw = result.calcium + result.residual
    assert np.all(np.isfinite(raw))


@pytest.fixture(scope="module")
def small_2p():
    movie = simulate(mode="2p", n_frames=600, height=128, width=128, n_cells=24, max_shift=0.0, seed=5)
    return movie, movie.render(0, len(movie))


def test_patches_find_the_same_cells(small_2p):
    movie, frames = small_2p
    whole = run(frames, "2p", patch_size=128)
    patched = run(frames, "2p", extraction=dataclasses.replace(defaults("2p").extraction, patch_size=56,
                                                               patch_overlap=24), device="cpu")
    truth = movie.truth
    for result in (whole, patched):
        match = extraction_scoring.score(truth.footprints, truth.calcium, result.footprints, result.calcium)
        assert match.f1 >= 0.9
    same = extraction_scoring.iou_matrix(extraction_scoring.binary_masks(whole.footprints),
                                         extraction_scoring.binary_masks(patched.footprints))
    assert abs(whole.footprints.shape[1] - patched.footprints.shape[1]) <= 1
    assert (same.max(axis=1) >= 0.5).mean() >= 0.95
    # no duplicates across patch borders
    self_iou = extraction_scoring.iou_matrix(*(extraction_scoring.binary_masks(patched.footprints),) * 2)
    np.fill_diagonal(self_iou, 0.0)
    assert self_iou.max() < 0.5


def test_no_component_is_seeded_in_the_border_band(small_2p):
    movie, frames = small_2p
    border = 20
    truth = movie.truth
    found = {}
    for width in (0, border):
        result = run(frames, "2p", patch_size=128, border_pix=width)
        match = extraction_scoring.score(truth.footprints, truth.calcium, result.footprints, result.calcium)
        found[width] = np.isin(np.arange(len(truth.centers)), match.true_index)
    deep = np.all((truth.centers >= border + 6) & (truth.centers < 128 - border - 6), axis=1)
    on_edge = np.any((truth.centers < border - 6) | (truth.centers >= 128 - border + 6), axis=1)
    assert found[0][deep].sum() >= 5 and found[0][on_edge].sum() >= 5
    np.testing.assert_array_equal(found[border][deep], found[0][deep])
    assert not found[border][on_edge].any()
    with pytest.raises(ValueError, match="border_pix"):
        run(frames, "2p", border_pix=64)


def test_progress_reports_every_patch(small_2p):
    _, frames = small_2p
    calls = []
    params = defaults("2p")
    extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[:200, y0:y1, x0:x1][s:e], (200, 128, 128), modality="2p",
        params=dataclasses.replace(params.extraction, patch_size=80, patch_overlap=24),
        deconvolution=params.deconvolution, cell_diameter=12.0, device="cpu",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_each_backend_finds_the_cells_and_the_backends_agree(small_2p, device, backends_agree):
    movie, frames = small_2p
    result = run(frames[:300], "2p", device=device)
    assert result.device == device
    truth = movie.truth
    match = extraction_scoring.score(truth.footprints, truth.calcium[:, :300], result.footprints, result.calcium)
    assert match.n_matched == match.n_estimated >= 0.7 * match.n_true  # 300 frames: most cells, nothing else
    assert match.median_iou >= 0.7

    def compare(on_device, on_cpu):
        assert on_device.footprints.shape == on_cpu.footprints.shape
        np.testing.assert_allclose(on_device.calcium, on_cpu.calcium, rtol=1e-2, atol=1e-2 * on_cpu.calcium.max())

    backends_agree(result, lambda: run(frames[:300], "2p", device="cpu"), compare)


def assert_empty(result: ExtractionResult, shape):
    n_frames, height, width = shape
    assert result.footprints.shape == (height * width, 0)
    for name in ("calcium", "spikes", "residual", "background"):
        assert getattr(result, name).shape == (0, n_frames)
    assert result.g.shape[0] == 0 and result.snr.shape == (0,)
    assert result.correlation_image.shape == (height, width)


def test_all_zero_movie_gives_an_empty_result():
    frames = np.zeros((200, 64, 64), dtype=np.uint8)
    result = run(frames, "1p")
    assert_empty(result, frames.shape)
    assert np.all(result.background_constant == 0)


@pytest.mark.parametrize("modality", ["1p", "2p"])
def test_movie_without_cells_gives_an_empty_result(modality):
    frames = simulate(mode=modality, n_frames=400, height=64, width=64, n_cells=0, max_shift=0.0, seed=3).render(0, 400)
    assert_empty(run(frames, modality), frames.shape)


def test_non_finite_values_are_refused():
    frames = np.random.default_rng(0).normal(50, 5, (100, 64, 64)).astype(np.float32)
    frames[37, 10, 10] = np.nan
    with pytest.raises(ValueError, match=r"frames \[37\].*region y 0:64, x 0:64"):
        run(frames, "1p")
    frames[37, 10, 10] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        run(frames, "2p")


def test_inconsistent_shape_and_params_are_refused():
    frames = np.zeros((50, 20, 20), dtype=np.uint8)
    with pytest.raises(ValueError, match="gSiz"):
        run(frames, "1p")  # gSiz 25 px > 20 px field of view
    with pytest.raises(ValueError, match="patch_overlap"):
        ExtractionParams(patch_size=64, patch_overlap=32)
    with pytest.raises(ValueError, match="gSiz"):
        ExtractionParams(gSiz=24)
    frames = np.zeros((50, 64, 64), dtype=np.uint8)
    with pytest.raises(ValueError, match="sparse_nmf"):
        run(frames, "1p", init="sparse_nmf")
    with pytest.raises(ValueError, match="patch_size"):
        run(frames, "1p", patch_size=32, patch_overlap=8, gSiz=33, cell_diameter=16.0)
    with pytest.raises(ValueError, match="shape"):
        extract_sources(lambda *a: frames, (50, 64), modality="1p", params=ExtractionParams(),
                        deconvolution=DeconvolutionParams(), cell_diameter=12.0)
    with pytest.raises(ValueError, match="modality"):
        extract_sources(lambda s, e, *r: frames[s:e], frames.shape, modality="3p", params=ExtractionParams(),
                        deconvolution=DeconvolutionParams(), cell_diameter=12.0)
    with pytest.raises(ValueError, match="cell_diameter"):
        extract_sources(lambda s, e, *r: frames[s:e], frames.shape, modality="1p", params=ExtractionParams(),
                        deconvolution=DeconvolutionParams(), cell_diameter=0.0)


def test_read_errors_propagate():
    def broken(*_):
        raise OSError("disk gone")

    params = defaults("2p")
    with pytest.raises(OSError, match="disk gone"):
        extract_sources(broken, (100, 64, 64), modality="2p", params=params.extraction,
                        deconvolution=params.deconvolution, cell_diameter=12.0, device="cpu")


def test_sparse_nmf_initialisation_finds_the_cells(small_2p):
    movie, frames = small_2p
    result = run(frames, "2p", init="sparse_nmf", patch_size=128)
    match = extraction_scoring.score(movie.truth.footprints, movie.truth.calcium, result.footprints, result.calcium)
    assert match.f1 >= 0.9
    assert match.median_r >= 0.95


def test_trend_removal_keeps_transients_and_drops_slow_drift():
    from element_calcium.compute.cnmf._images import remove_trend

    n_frames = 1000
    drift = np.linspace(0, 50, n_frames, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    transients = np.zeros_like(drift)
    transients[500:505] = 10.0
    frames = drift + transients
    remove_trend(frames, 31)
    assert np.abs(frames[:400]).max() < 0.5
    assert frames[502].min() > 9.0
    whole = drift + transients
    remove_trend(whole, None)
    assert np.abs(whole[:400]).max() > 10
