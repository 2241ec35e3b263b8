"""Footprint geometry and mask classification on footprints of known shape."""

import numpy as np
import pytest
from scipy import sparse

from element_calcium.compute.params import ClassificationParams
from element_calcium.compute.quality import classify_components, footprint_geometry, median_diameter, trace_snr

H, W = 40, 50


def as_footprints(*images):
    return sparse.csc_array(np.stack([image.ravel() for image in images], axis=1).astype(np.float32))


def disc(cy, cx, radius):
    yy, xx = np.mgrid[:H, :W]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (radius / 2) ** 2)) * ((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2)


def bar(y, x0, x1):
    image = np.zeros((H, W))
    image[y : y + 2, x0:x1] = 1.0
    return image


def test_geometry_of_a_disc_and_a_bar():
    geometry = footprint_geometry(as_footprints(disc(20.0, 30.0, 6), bar(5, 5, 45)), height=H, width=W)
    assert geometry.center_y[0] == pytest.approx(20.0, abs=0.01)
    assert geometry.center_x[0] == pytest.approx(30.0, abs=0.01)
    assert geometry.compactness[0] > 0.8
    assert geometry.compactness[1] < 0.2
    assert geometry.area[1] == 80
    assert geometry.npix[1] == 80
    assert geometry.center_y[1] == pytest.approx(5.5)


def test_empty_footprint_has_zero_geometry():
    geometry = footprint_geometry(as_footprints(np.zeros((H, W))), height=H, width=W)
    assert geometry.npix[0] == 0 and geometry.area[0] == 0 and geometry.compactness[0] == 0


def test_wrong_number_of_rows_is_refused():
    with pytest.raises(ValueError, match="rows"):
        footprint_geometry(sparse.csc_array(np.ones((10, 2))), height=H, width=W)


def test_classes_follow_signal_size_and_shape():
    params = ClassificationParams()
    labels, confidence = classify_components(
        snr=np.array([10.0, 10.0, 1.0, 10.0, 10.0]),
        spatial_corr=np.array([0.9, 0.9, 0.9, 0.9, 0.9]),
        area=np.array([100, 100, 100, 3, 2000]),
        compactness=np.array([0.9, 0.1, 0.9, 0.9, 0.9]),
        cell_diameter=12.0,
        params=params,
    )
    assert labels == ["soma", "dendrite", "artefact", "artefact", "artefact"]
    assert np.all((confidence >= 0.5) & (confidence <= 1.0))


def test_confidence_grows_with_the_margin():
    labels, confidence = classify_components(
        snr=np.array([3.5, 30.0]),
        spatial_corr=np.array([0.95, 0.95]),
        area=np.array([110, 110]),
        compactness=np.array([0.9, 0.9]),
        cell_diameter=12.0,
        params=ClassificationParams(),
    )
    assert labels == ["soma", "soma"]
    assert confidence[1] > confidence[0]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="one length"):
        classify_components(
            snr=np.ones(2), spatial_corr=np.ones(3), area=np.ones(2), compactness=np.ones(2),
            cell_diameter=12.0, params=ClassificationParams(),
        )


def test_trace_snr_measures_peak_over_noise():
    rng = np.random.default_rng(0)
    clean = np.zeros((2, 2000))
    clean[:, 1000] = [20.0, 5.0]
    kernel = np.exp(-np.arange(50) / 10.0)
    clean = np.stack([np.convolve(row, kernel)[:2000] for row in clean])
    noisy = clean + rng.normal(0, 1.0, clean.shape)
    with_denoised = trace_snr(noisy, denoised=clean)
    assert with_denoised == pytest.approx([20.0, 5.0], rel=0.05)
    robust = trace_snr(noisy)
    assert robust[0] > robust[1] > 3


def test_trace_snr_with_noise_measured_elsewhere():
    # A denoised trace saved without its residual (minian without YrA): the noise comes from the movie.
    clean = np.zeros((2, 500))
    clean[:, 200:260] = [[8.0], [2.0]]
    np.testing.assert_allclose(trace_snr(clean, denoised=clean, noise=np.array([0.5, 2.0])), [16.0, 1.0])
    assert trace_snr(clean, denoised=clean).tolist() == [0.0, 0.0]  # nothing measures the noise
    with pytest.raises(ValueError, match="noise must be \\(2,\\), one value per trace"):
        trace_snr(clean, noise=np.ones(3))


def test_median_diameter_of_discs():
    areas = np.pi * np.array([8.0, 10.0, 10.0, 11.0, 30.0]) ** 2
    assert median_diameter(areas) == pytest.approx(20.0)
    assert median_diameter(np.array([0, 0])) is None


def test_trace_snr_of_a_flat_trace_is_zero():
    assert trace_snr(np.ones((3, 100))).tolist() == [0.0, 0.0, 0.0]
