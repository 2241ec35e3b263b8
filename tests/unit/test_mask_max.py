"""The stored position of each footprint's largest weight (CalTrig's ``centroid_max``), for computed-style and
loaded masks: it must be the (row, column) of ``argmax`` of the footprint's image."""

import os

import numpy as np
import pytest
from scipy import sparse

from element_calcium import stages
from element_calcium.compute.params import default_params
from element_calcium.loaders.types import LoadedExtraction
from element_calcium.simulate import simulate
from element_calcium.stages.segmentation import SegmentationInputs, load, max_pixel

MINIAN = "minian_pr65_output"


def load_inputs(output_dir, method, *, frame_shape, n_frames, fps=20.0):
    return SegmentationInputs(task_mode="load", method=method, params=default_params("1p"), corrected_movie=None,
                              fps=fps, frame_shape=frame_shape, n_frames=n_frames, motion_border=0,
                              output_dir=output_dir, output_dir_relative=".")


def stored_max(rows) -> np.ndarray:
    return np.array([(mask["mask_max_y"], mask["mask_max_x"]) for mask in rows.parts["Mask"]])


def image_argmax(images: np.ndarray) -> np.ndarray:
    """(N, 2) (row, column) of np.argmax of each (H, W) image of (N, H, W)."""
    flat = images.reshape(len(images), -1).argmax(axis=1)
    return np.stack(np.unravel_index(flat, images.shape[1:]), axis=1)


def test_mask_max_of_simulated_footprints_is_their_argmax(tmp_path):
    truth = simulate(n_frames=50, height=64, width=80, n_cells=12, seed=4).truth
    height, width, n_cells = truth.footprints.shape
    images = np.moveaxis(truth.footprints, 2, 0)
    noisy = images * np.random.default_rng(1).uniform(0.5, 1.0, images.shape).astype(np.float32)
    footprints = sparse.csc_array(noisy.reshape(n_cells, -1).T)

    def loader(folder):
        return LoadedExtraction(
            source=folder, height=height, width=width, footprints=footprints, mask_ids=np.arange(n_cells),
            fluorescence=truth.calcium.astype(np.float32), neuropil=np.zeros_like(truth.calcium), denoised=None,
            spikes=None, dff=None, accepted=None, confidence=None, fps=truth.fps)

    rows = load(load_inputs(tmp_path, "simulated", frame_shape=(height, width), n_frames=50), loader=loader)
    np.testing.assert_array_equal(stored_max(rows), image_argmax(noisy))
    peaks = np.rint(truth.centers).astype(int)  # the noise-free maxima sit at the centres' nearest pixels
    centre_pixels = image_argmax(images)
    assert np.abs(centre_pixels - peaks).max() <= 1


def test_equal_weights_take_the_first_pixel_in_row_major_order():
    width = 10
    pixels = np.array([57, 23, 41, 24])  # (5, 7), (2, 3), (4, 1), (2, 4)
    weights = np.array([1.0, 1.0, 0.5, 1.0], dtype=np.float32)
    assert max_pixel(pixels, weights, width=width) == (2, 3)
    image = np.zeros((6, width))
    image.flat[pixels] = weights
    assert np.unravel_index(image.argmax(), image.shape) == (2, 3)
    assert max_pixel(np.zeros(0, np.int64), np.zeros(0, np.float32), width=width) == (None, None)


def test_mask_max_of_real_minian_footprints_is_their_argmax(realdata, tmp_path):
    zarr = pytest.importorskip("zarr")
    source = realdata / MINIAN
    output = tmp_path / "output"
    output.mkdir()
    for entry in source.iterdir():
        os.symlink(entry, output / entry.name)
    group = zarr.open_group(str(source / "A.zarr"), mode="r")
    images, unit_ids = group["A"][...], group["unit_id"][...]
    n_frames = zarr.open_group(str(source / "C.zarr"), mode="r")["C"].shape[1]
    rows = stages.run("Segmentation", load_inputs(output, "minian", frame_shape=images.shape[1:], n_frames=n_frames))
    np.testing.assert_array_equal([mask["mask_id"] for mask in rows.parts["Mask"]], unit_ids)
    np.testing.assert_array_equal(stored_max(rows), image_argmax(images.astype(np.float32)))
