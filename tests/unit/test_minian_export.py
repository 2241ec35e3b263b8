"""A minian output folder written by `export.write_minian`: read back by this package's minian and CalTrig loaders
to the same numbers, laid out as minian's own real output (``realdata``) is."""

import json
import shutil

import numpy as np
import pytest
import scipy.sparse

from element_calcium.export import MinianContent, write_minian
from element_calcium.loaders import load_caltrig_extraction
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion

zarr = pytest.importorskip("zarr")

MINIAN = "minian_pr65_output"
H, W, T = 24, 36, 60
RNG = np.random.default_rng(3)


def _content(**changes):
    images = np.zeros((5, H, W), np.float32)
    for n in range(5):
        images[n, 2 + 4 * n:8 + 4 * n, 3 + 6 * n:9 + 6 * n] = RNG.random((6, 6)) + 0.05
    calcium = RNG.gamma(1.0, 2.0, (5, T)).astype(np.float32)
    values = dict(
        footprints=scipy.sparse.csc_array(images.reshape(5, -1).T), height=H, width=W,
        unit_ids=np.array([4, 8, 15, 16, 23]),
        fluorescence=calcium + RNG.normal(0, 0.3, (5, T)).astype(np.float32), denoised=calcium,
        spikes=np.maximum(np.diff(calcium, prepend=0, axis=1), 0).astype(np.float32),
        dff=RNG.normal(0, 1, (5, T)).astype(np.float32), max_proj=RNG.random((H, W)).astype(np.float32),
        motion=RNG.normal(0, 2, (T, 2)).astype(np.float32), background_image=RNG.random((H, W)).astype(np.float32),
        background_trace=RNG.random(T).astype(np.float32) + 0.5)
    return MinianContent(**{**values, **changes})


def _stores(folder):
    """name -> {array name: (dims, dtype, shape, coordinates attribute)} of every store in a minian folder."""
    found = {}
    for store in sorted(folder.glob("*.zarr")):
        group = zarr.open_group(str(store), mode="r")
        found[store.stem] = {name: (tuple(array.attrs["_ARRAY_DIMENSIONS"]), array.dtype.str, array.shape,
                                    array.attrs.get("coordinates")) for name, array in group.arrays()}
    return found


def test_minian_loaders_read_the_folder_back_to_the_same_numbers(tmp_path):
    content = _content()
    folder = write_minian(tmp_path / "minian", content)
    loaded, motion = load_minian_extraction(folder), load_minian_motion(folder)
    np.testing.assert_array_equal(loaded.mask_ids, content.unit_ids)
    assert (loaded.footprints != content.footprints).nnz == 0
    np.testing.assert_array_equal(loaded.denoised, content.denoised)
    np.testing.assert_array_equal(loaded.spikes, content.spikes)
    np.testing.assert_allclose(loaded.fluorescence, content.fluorescence, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.background_footprints.ravel(), content.background_image.ravel())
    np.testing.assert_array_equal(loaded.background_traces.ravel(), content.background_trace)
    np.testing.assert_array_equal(motion.rigid_shifts, content.motion)
    np.testing.assert_array_equal(motion.max_image, content.max_proj)
    np.testing.assert_array_equal(load_caltrig_extraction(folder).dff, content.dff)
    # minian's own sign: its motion moves the frame's content into place, minus the tissue motion
    stored = zarr.open_group(str(folder / "motion.zarr"), mode="r")
    np.testing.assert_array_equal(stored["motion"][...], -content.motion.astype(np.float64))
    assert stored["shift_dim"][...].tolist() == ["height", "width"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minian"]


def test_the_folder_is_laid_out_as_minians_real_output(tmp_path, realdata):
    real = realdata / MINIAN
    loaded, motion = load_minian_extraction(real), load_minian_motion(real)
    content = MinianContent(
        footprints=loaded.footprints, height=loaded.height, width=loaded.width, unit_ids=loaded.mask_ids,
        fluorescence=loaded.fluorescence, denoised=loaded.denoised, spikes=loaded.spikes,
        background_image=loaded.background_footprints.reshape(loaded.height, loaded.width),
        background_trace=loaded.background_traces[0], max_proj=motion.max_image, motion=motion.rigid_shifts)
    folder = write_minian(tmp_path / "exported", content)
    ours, theirs = _stores(folder), _stores(real)
    assert set(ours) == {"A", "C", "S", "YrA", "b", "f", "max_proj", "motion"}
    for name in ("A", "C", "S", "b", "f", "max_proj"):
        for array, (dims, dtype, shape, _) in ours[name].items():
            assert theirs[name][array][:3] == (dims, dtype, shape), (name, array)
    # pre-1.0 minian saved the motion as 'shifts' (frame, variable); 1.0 as 'motion' (frame, shift_dim)
    assert ours["motion"]["motion"][1:3] == theirs["shifts"]["shifts"][1:3]
    assert ours["motion"]["shift_dim"][1:3] == theirs["shifts"]["variable"][1:3]
    assert ours["YrA"]["YrA"][:3] == ours["C"]["C"][:3]
    # and the numbers come back: minian's real results through this writer and the loaders again
    again = load_minian_extraction(folder)
    assert (again.footprints != loaded.footprints).nnz == 0
    np.testing.assert_array_equal(again.denoised, loaded.denoised)
    np.testing.assert_array_equal(again.spikes, loaded.spikes)
    np.testing.assert_array_equal(load_minian_motion(folder).rigid_shifts, motion.rigid_shifts)


def test_non_dimension_coordinates_are_listed_as_xarray_lists_them(tmp_path):
    from element_calcium.export import write_minian_variable

    store = write_minian_variable(tmp_path, "E", np.zeros((3, 5)), dims=("unit_id", "frame"),
                                  coords={"unit_id": np.array([1, 2, 5]), "good_cells": (("unit_id",), np.ones(3))})
    attributes = json.loads((store / "E" / ".zattrs").read_text())
    assert attributes == {"_ARRAY_DIMENSIONS": ["unit_id", "frame"], "coordinates": "good_cells"}
    assert json.loads((store / "good_cells" / ".zattrs").read_text()) == {"_ARRAY_DIMENSIONS": ["unit_id"]}


def test_an_existing_folder_is_kept_and_a_failed_write_leaves_nothing(tmp_path):
    folder = write_minian(tmp_path / "minian", _content())
    with pytest.raises(FileExistsError, match="minian: exists"):
        write_minian(folder, _content())
    with pytest.raises(ValueError, match=r"'S' has shape \(5, 59\), expected \(5, 60\)"):
        write_minian(tmp_path / "other", _content(spikes=np.zeros((5, T - 1), np.float32)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minian"]
    shutil.rmtree(folder)
