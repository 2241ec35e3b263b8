"""Cell size measured on the frames, squashed registration images and the correction-quality measure."""

import numpy as np
import pytest

from element_calcium.compute import motion
from element_calcium.compute.motion._image import compress
from element_calcium.compute.motion._scale import blob_diameter
from element_calcium.simulate import simulate


def blobs(diameter: float, *, noise: float, seed: int = 0, n: int = 25, size: int = 300) -> np.ndarray:
    """Gaussian blobs of sigma diameter / 4 (the simulator's convention) at random places, plus white noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size]
    image = noise * rng.standard_normal((size, size))
    for cy, cx in rng.uniform(30, size - 30, (n, 2)):
        image += rng.uniform(0.5, 1.5) * np.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * (diameter / 4) ** 2))
    return image


@pytest.mark.parametrize("diameter", [8, 12, 20, 32])
def test_blob_diameter_of_known_blobs(diameter):
    assert blob_diameter(blobs(diameter, noise=0.2)) == pytest.approx(diameter, rel=0.1)


def test_blob_diameter_of_noise_alone_is_none():
    assert blob_diameter(np.random.default_rng(1).standard_normal((200, 200))) is None


def test_measured_cell_diameter_follows_the_simulated_cells(device):
    """On moving one-photon simulations the measure reads 10.7, 15.9 and 21.9 px for 8, 20 and 32 px cells:
    it follows the size, compressed (the simulator's fine texture and vessels sit among the cells)."""
    measured = {}
    for diameter in (8.0, 20.0, 32.0):
        movie = simulate(n_frames=200, height=256, width=256, n_cells=15, mode="1p", max_shift=4.0, seed=5,
                         cell_diameter=diameter)
        measured[diameter] = motion.estimate_cell_diameter(movie.render(0, 200), max_shift=10, device=device)
    assert measured[8.0] < measured[20.0] - 4 < measured[32.0] - 8
    for diameter, value in measured.items():
        assert value == pytest.approx(diameter, rel=0.35)


def test_compress_squashes_a_flash_to_the_level_of_lasting_structure():
    structure = np.random.default_rng(2).standard_normal((1, 64, 64)).astype(np.float32)
    frame = structure.copy()
    frame[0, 28:36, 28:36] += 50.0
    squashed = compress(frame, 1.0, np)
    assert squashed.dtype == np.float32 and np.abs(squashed).max() <= 1.0
    assert squashed[0, 31, 31] > 0.99 and abs(float(np.median(squashed))) < 0.15  # centred on a sample of the pixels
    assert np.corrcoef(frame.ravel(), structure.ravel())[0, 1] < 0.3  # the flash dominates the raw frame
    assert np.corrcoef(squashed.ravel(), structure.ravel())[0, 1] > 0.85


def test_correction_quality_rises_when_the_true_motion_is_undone(device):
    movie = simulate(n_frames=120, height=96, width=96, n_cells=15, mode="1p", max_shift=4.0, seed=6)
    frames = movie.render(0, 120)
    undone = motion.correction_quality(frames, movie.truth.shifts, sigma=1.2, device=device)
    assert undone.corrected_correlation > undone.raw_correlation + 0.02
    assert undone.improved_fraction > 0.7 and undone.motion > 1.0 and undone.warning() is None
    ignored = motion.correction_quality(frames, np.zeros_like(movie.truth.shifts), sigma=1.2, device=device)
    assert ignored.corrected_correlation == pytest.approx(ignored.raw_correlation)
    assert ignored.motion == 0.0 and ignored.warning() is None  # no motion found, nothing to warn about


def test_a_correction_that_did_not_help_is_warned_about(device):
    movie = simulate(n_frames=120, height=96, width=96, n_cells=15, mode="1p", max_shift=4.0, seed=6)
    frames = movie.render(0, 120)
    wrong = np.random.default_rng(3).uniform(-3, 3, (120, 2)).astype(np.float32)  # shifts unrelated to the motion
    quality = motion.correction_quality(frames, wrong, sigma=1.2, device=device)
    assert quality.corrected_correlation < quality.raw_correlation
    assert "did not make the frames agree better" in quality.warning()
