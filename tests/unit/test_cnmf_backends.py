"""Source extraction on each array backend: seed images, ring regressions and the whole extraction.

On NumPy these are the reference; where CuPy sees a GPU the same computations run on it and must agree.
"""

import dataclasses

import extraction_scoring
import numpy as np
import pytest
import scipy.ndimage
from scipy import sparse

from element_calcium.compute import _backend
from element_calcium.compute.cnmf import _background, _images, _init, extract_sources
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.simulate import simulate


@pytest.fixture(scope="module")
def small_1p():
    movie = simulate(mode="1p", n_frames=400, height=64, width=64, n_cells=8, max_shift=0.0, seed=21)
    return movie, movie.render(0, len(movie))


def test_seed_filter_through_ndimage_matches_opencv():
    """The filter that CuPy frames go through, run here with scipy.ndimage, equals OpenCV's up to rounding."""
    rng = np.random.default_rng(0)
    frames = rng.normal(100.0, 10.0, size=(12, 40, 37)).astype(np.float32)
    frames[:, 10:16, 20:26] += 50.0  # a cell-sized blob, so the filter output is not only noise
    kernel = _images.seed_kernel(3.0, 13)
    through_opencv = _images.filter_frames(frames, kernel)
    through_ndimage = _images.filter_with_ndimage(frames, kernel, ndimage=scipy.ndimage)
    assert through_ndimage.dtype == np.float32 and through_ndimage.shape == frames.shape
    np.testing.assert_allclose(through_ndimage, through_opencv, rtol=0, atol=1e-4 * np.abs(through_opencv).max())
    assert through_opencv[:, 13, 23].min() > 3 * np.abs(through_opencv[:, 30:, :10]).max()


@pytest.mark.parametrize("trend_window", [None, 51])
def test_seed_images_mark_the_cells_on_each_backend(small_1p, trend_window, device, backends_agree):
    movie, frames = small_1p
    kernel = _images.seed_kernel(2.0, 13)
    images = _init._seed_images(frames.astype(np.float32), kernel, trend_window, xp=_backend.get_xp(device))
    assert all(type(image) is np.ndarray and image.dtype == np.float32 for image in images)
    filtered, noise, corr, pnr = images
    assert filtered.shape == frames.shape and noise.shape == corr.shape == pnr.shape == frames.shape[1:]
    centres = np.round(movie.truth.centers).astype(int)
    assert np.median(pnr[centres[:, 0], centres[:, 1]]) > 1.5 * np.median(pnr)
    assert corr[centres[:, 0], centres[:, 1]].min() > 0.7 > 1.5 * np.median(corr)

    def compare(on_device, on_cpu):
        for got, expected in zip(on_device, on_cpu):
            np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())

    backends_agree(images, lambda: _init._seed_images(frames.astype(np.float32), kernel, trend_window, xp=np),
                   compare)


def test_ring_regression_predicts_a_smooth_background_on_each_backend(device, backends_agree):
    """Coarse frames made of two slowly drifting smooth fields: each pixel is predicted from its ring."""
    shape = (40, 40)
    small = _background.coarse_shape(shape)
    yy, xx = np.mgrid[: small[0], : small[1]] / 10.0
    fields = np.stack([np.sin(yy + xx).ravel(), np.cos(yy - 0.5 * xx).ravel()])
    rng = np.random.default_rng(1)
    amplitudes = rng.normal(size=(300, 2)).cumsum(axis=0)
    residual = (amplitudes @ fields + rng.normal(0, 0.01, size=(300, fields.shape[1]))).astype(np.float32)
    model = _background.fit(residual, shape, radius=8.0, xp=_backend.get_xp(device))
    assert isinstance(model.weights, sparse.csr_array) and model.weights.dtype == np.float32
    predicted = _background.predict(model, residual)
    explained = 1 - ((predicted - residual) ** 2).sum() / ((residual - residual.mean(axis=0)) ** 2).sum()
    assert explained > 0.95

    def compare(on_device, on_cpu):
        np.testing.assert_allclose(_background.predict(on_device, residual), _background.predict(on_cpu, residual),
                                   rtol=1e-3, atol=1e-3 * np.abs(residual).max())

    backends_agree(model, lambda: _background.fit(residual, shape, radius=8.0, xp=np), compare)


def _extract(frames, modality, device, **changes):
    params = ProcessingParams.from_dict(default_params(modality))
    return extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[s:e, y0:y1, x0:x1], frames.shape, modality=modality,
        params=dataclasses.replace(params.extraction, **changes), deconvolution=params.deconvolution,
        cell_diameter=params.cell_diameter, device=device,
    )


@pytest.mark.parametrize("modality, init", [("1p", "greedy"), ("2p", "sparse_nmf")])
def test_extraction_finds_the_cells_on_each_backend(modality, init, device, backends_agree):
    movie = simulate(mode=modality, n_frames=400, height=72, width=72, n_cells=10, max_shift=0.0, seed=31)
    frames = movie.render(0, len(movie))
    result = _extract(frames, modality, device, init=init)
    assert result.device == device
    arrays = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)
              if field.name not in ("height", "width", "device")}
    assert all(type(value) is np.ndarray or isinstance(value, sparse.csc_array) for value in arrays.values())
    match = extraction_scoring.score(movie.truth.footprints, movie.truth.calcium, result.footprints, result.calcium)
    assert match.n_matched == match.n_estimated >= 0.7 * match.n_true
    assert match.median_r >= 0.9

    def compare(on_device, on_cpu):
        assert on_device.footprints.shape == on_cpu.footprints.shape
        np.testing.assert_allclose(on_device.calcium, on_cpu.calcium, rtol=1e-2, atol=1e-2 * on_cpu.calcium.max())
        np.testing.assert_allclose(on_device.correlation_image, on_cpu.correlation_image, rtol=1e-3, atol=1e-3)

    backends_agree(result, lambda: _extract(frames, modality, "cpu", init=init), compare)
