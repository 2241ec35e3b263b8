"""Other tools' real results through the loaders and load mode (the ``realdata`` fixture; skipped where absent).

- suite2p: a complete real plane folder (rochefort-lab's fissa example);
- minian: its own pre-1.0 output on its test movie (no YrA, motion saved as ``shifts``), and the same numbers in
  the >= 1.0 motion layout;
- CaImAn: its stored results on the demo movie, written by the test as the HDF5 file ``CNMF.save()`` makes
  (footprints in Fortran pixel order on a 60x80 field of view, so a wrong order scrambles them), with and without
  a residual; a movie built from them gives the background and noise load mode measures.
"""

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from element_calcium import extraction_file
from element_calcium.compute.params import default_params
from element_calcium import stages
from element_calcium.stages.activity import activity_traces
from element_calcium.stages.classification import classify_masks
from element_calcium.stages.segmentation import SegmentationInputs
from element_calcium.loaders.caiman import load_caiman_extraction
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.loaders.suite2p import load_suite2p_extraction
from element_calcium.simulate import write_tiff

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.filterwarnings("ignore:Please import `coo_matrix`:DeprecationWarning")  # CaImAn's pickle

SUITE2P = "suite2p_fissa_plane0"
MINIAN = "minian_pr65_output"
CAIMAN = "caiman_groundtruth_demoMovie.npz"
CAIMAN_SHAPE = (60, 80)  # rows, columns of CaImAn's demo movie


def inputs(output_dir: Path, method: str, *, frame_shape, n_frames, fps=10.0, modality="1p", **recording):
    """The load-mode inputs of the extraction stage for results in ``output_dir``."""
    return SegmentationInputs(
        task_mode="load", method=method, params=default_params(modality), corrected_movie=None, fps=fps,
        frame_shape=frame_shape, n_frames=n_frames, motion_border=0, output_dir=output_dir,
        output_dir_relative=".", **recording,
    )


def minian_array(realdata: Path, store: str, name: str | None = None) -> np.ndarray:
    """The array ``name`` (default: the store's own variable) of the real minian store ``<store>.zarr``."""
    return zarr.open_group(str(realdata / MINIAN / f"{store}.zarr"), mode="r")[name or store][...]


# ---- suite2p ------------------------------------------------------------------------------------


def test_suite2p_real_plane_loads_as_saved(realdata):
    plane = realdata / SUITE2P
    loaded = load_suite2p_extraction(plane)
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    assert (loaded.nmasks, loaded.nframes, loaded.height, loaded.width) == (23, 864, 176, 156)
    assert loaded.accepted.sum() == 21 and loaded.fps == 1.0
    np.testing.assert_array_equal(loaded.fluorescence, np.load(plane / "F.npy").astype(np.float32))
    np.testing.assert_array_equal(loaded.neuropil, np.load(plane / "Fneu.npy").astype(np.float32))
    np.testing.assert_array_equal(loaded.accepted, np.load(plane / "iscell.npy")[:, 0].astype(bool))
    images = loaded.footprint_images()
    for n, roi in enumerate(stat):
        np.testing.assert_allclose(images[n, roi["ypix"], roi["xpix"]], roi["lam"], rtol=1e-6)
        assert np.count_nonzero(images[n]) == np.count_nonzero(roi["lam"])


def test_suite2p_real_plane_through_load_mode(realdata, tmp_path):
    plane = realdata / SUITE2P
    output = tmp_path / "output"
    (output / "suite2p").mkdir(parents=True)
    os.symlink(plane, output / "suite2p" / "plane0")
    rows = stages.run("Segmentation", inputs(output, "suite2p", frame_shape=(176, 156), n_frames=864, fps=1.0, modality="2p"))
    sources = extraction_file.read_sources(output / "segmentation.h5")
    f, fneu = np.load(plane / "F.npy"), np.load(plane / "Fneu.npy")
    np.testing.assert_allclose(sources.fluorescence, f - 0.7 * fneu, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(sources.background, 0.7 * fneu, rtol=1e-5)
    assert rows.master["mask_count"] == 23
    assert sum(mask["accepted"] for mask in rows.parts["Mask"]) == 21
    assert all(mask["snr"] > 0 for mask in rows.parts["Mask"])


# ---- minian -------------------------------------------------------------------------------------


def test_minian_real_output_before_1_0(realdata):
    loaded = load_minian_extraction(realdata / MINIAN)
    assert (loaded.nmasks, loaded.nframes, loaded.height, loaded.width) == (223, 800, 480, 752)
    np.testing.assert_array_equal(loaded.mask_ids, minian_array(realdata, "A", "unit_id"))
    stored = zarr.open_group(str(realdata / MINIAN / "A.zarr"), mode="r")["A"]
    for start in range(0, 223, 32):  # a block of units at a time: the dense footprints take 640 MB
        block = loaded.footprints[:, start : start + 32].toarray().T.reshape(-1, 480, 752)
        np.testing.assert_allclose(block, stored[start : start + 32], rtol=1e-6, atol=1e-12)
    calcium = minian_array(realdata, "C").astype(np.float32)
    np.testing.assert_array_equal(loaded.denoised, calcium)
    np.testing.assert_array_equal(loaded.fluorescence, calcium)  # no YrA in the folder
    np.testing.assert_array_equal(loaded.spikes, minian_array(realdata, "S").astype(np.float32))
    np.testing.assert_allclose(loaded.background_footprints[:, 0], minian_array(realdata, "b").ravel(), rtol=1e-6)
    np.testing.assert_allclose(loaded.background_traces[0], minian_array(realdata, "f"), rtol=1e-6)
    assert loaded.accepted is None and loaded.neuropil is None


def test_minian_real_motion_in_both_layouts(realdata, tmp_path):
    # Before 1.0: 'shifts' (frame, variable); from 1.0: 'motion' (frame, shift_dim). Both move the frame's
    # content by +value to correct it, so the tissue moved by -value.
    group = zarr.open_group(str(realdata / MINIAN / "shifts.zarr"), mode="r")
    shifts, labels = group["shifts"][...], group["variable"][...].tolist()
    assert labels == ["height", "width"]
    before = load_minian_motion(realdata / MINIAN)
    np.testing.assert_array_equal(before.rigid_shifts, -shifts.astype(np.float32))
    np.testing.assert_allclose(before.max_image, minian_array(realdata, "max_proj"), rtol=1e-6)

    newer = tmp_path / "minian"
    newer.mkdir()
    for store in (realdata / MINIAN).iterdir():
        if store.name != "shifts.zarr":
            os.symlink(store, newer / store.name)
    motion = zarr.open_group(str(newer / "motion.zarr"), mode="w", zarr_format=2)
    motion.create_array("motion", data=shifts, attributes={"_ARRAY_DIMENSIONS": ["frame", "shift_dim"]})
    motion.create_array("frame", data=np.arange(len(shifts)), attributes={"_ARRAY_DIMENSIONS": ["frame"]})
    motion.create_array("shift_dim", data=np.array(labels), attributes={"_ARRAY_DIMENSIONS": ["shift_dim"]})
    np.testing.assert_array_equal(load_minian_motion(newer).rigid_shifts, before.rigid_shifts)


# ---- CaImAn -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(realdata):
    """CaImAn's demo-movie results: (pixels x 16) footprints in Fortran pixel order and (16, 2000) traces."""
    stored = np.load(realdata / CAIMAN, allow_pickle=True, encoding="latin1")
    return stored["A_full"].item().tocsc(), stored["C_full"]


def write_cnmf_save(path: Path, demo, *, residual="absent", background=None) -> Path:
    """An HDF5 file laid out as CaImAn's ``CNMF.save()`` writes one: ``/estimates/A`` as CSC parts,
    ``/estimates/C``, ``dims``, the residual ``YrA`` (left out when "absent"), ``b`` / ``f`` when given."""
    footprints, calcium = demo
    with h5py.File(path, "w") as h5:
        for part in ("data", "indices", "indptr"):
            h5[f"estimates/A/{part}"] = getattr(footprints, part)
        h5["estimates/A/shape"] = np.array(footprints.shape)
        h5["estimates/C"] = calcium
        h5["estimates/S"] = "NoneType"
        h5["estimates/dims"] = np.array(CAIMAN_SHAPE)
        h5["params/data/fr"] = 10.0
        if not (isinstance(residual, str) and residual == "absent"):
            h5["estimates/YrA"] = residual
        for name, value in (background or {}).items():
            h5[f"estimates/{name}"] = value
    return path


def test_caiman_real_footprints_land_where_the_results_say(realdata, demo, tmp_path):
    footprints, calcium = demo
    loaded = load_caiman_extraction(write_cnmf_save(tmp_path / "cnmf.hdf5", demo))
    assert (loaded.height, loaded.width, loaded.nmasks, loaded.nframes) == (*CAIMAN_SHAPE, 16, 2000)
    images = loaded.footprint_images()
    dense = footprints.toarray()
    for n in range(16):
        np.testing.assert_allclose(images[n], dense[:, n].reshape(CAIMAN_SHAPE, order="F"), rtol=1e-6)
    ys, xs = np.nonzero(images[0])
    assert abs(ys.mean() - 8.5) < 1 and abs(xs.mean() - 8.7) < 1  # the first cell sits in the top-left corner
    np.testing.assert_array_equal(loaded.fluorescence, calcium.astype(np.float32))


@pytest.mark.parametrize("residual", ["absent", np.zeros(0), np.zeros((16, 0)), "with"])
def test_caiman_real_results_with_and_without_residual(realdata, demo, tmp_path, residual):
    calcium = demo[1].astype(np.float32)
    expected = calcium
    if isinstance(residual, str) and residual == "with":
        residual = np.random.default_rng(0).normal(0, 0.01, calcium.shape).astype(np.float32)
        expected = calcium + residual
    loaded = load_caiman_extraction(write_cnmf_save(tmp_path / "cnmf.hdf5", demo, residual=residual))
    np.testing.assert_allclose(loaded.fluorescence, expected, rtol=1e-6)
    np.testing.assert_array_equal(loaded.denoised, calcium)


def test_caiman_real_results_must_fit_the_recording(realdata, demo, tmp_path):
    write_cnmf_save(tmp_path / "cnmf.hdf5", demo)
    message = "cnmf.hdf5: the results have 2000 frames but the recording has 100; load the results of this recording"
    with pytest.raises(ValueError, match=message):
        stages.run("Segmentation", inputs(tmp_path, "caiman", frame_shape=CAIMAN_SHAPE, n_frames=100))
    with pytest.raises(ValueError, match="cnmf.hdf5: the footprints are 60x80 pixels but the recording's frames are "
                                         "80x60"):
        stages.run("Segmentation", inputs(tmp_path, "caiman", frame_shape=(80, 60), n_frames=2000))
    assert not (tmp_path / "segmentation.h5").exists()


BACKGROUND = 2000.0  # grey levels of the movie built from CaImAn's results
NOISE = 300.0  # grey levels, per pixel and frame


def demo_movie(demo, folder: Path, rng) -> tuple[np.ndarray, float]:
    """A TIFF recording of CaImAn's model of the demo movie: A C plus a uniform background and white noise."""
    footprints, calcium = demo
    model = (footprints @ calcium).T.reshape(-1, *CAIMAN_SHAPE[::-1]).transpose(0, 2, 1)  # Fortran pixel order
    movie = model + BACKGROUND + rng.normal(0, NOISE, model.shape)
    write_tiff(folder, np.clip(np.round(movie), 0, 65535).astype(np.uint16), fps=10.0)
    return model


def expected_peaks(demo):
    """Each component's peak dF/F and SNR in the movie of `demo_movie` (C units: a . y / (a . a))."""
    footprints, calcium = demo
    weight = np.asarray(footprints.sum(axis=0)).ravel()
    norm2 = np.asarray(footprints.multiply(footprints).sum(axis=0)).ravel()
    baseline = BACKGROUND * weight / norm2
    rise = calcium.max(axis=1) - np.percentile(calcium, 8, axis=1)
    return rise / baseline, (calcium.max(axis=1) - np.median(calcium, axis=1)) / (NOISE / np.sqrt(norm2))


def test_caiman_real_results_without_residual_take_background_and_noise_from_the_movie(realdata, demo, tmp_path):
    (tmp_path / "out").mkdir()
    write_cnmf_save(tmp_path / "out" / "cnmf.hdf5", demo, residual=np.zeros(0))
    demo_movie(demo, tmp_path / "movie", np.random.default_rng(1))
    params = inputs(tmp_path / "out", "caiman", frame_shape=CAIMAN_SHAPE, n_frames=2000,
                    recording_folder=tmp_path / "movie", software="TIFF", frame_rate=10.0,
                    motion_shifts=np.zeros((2000, 2), np.float32))
    rows = stages.run("Segmentation", params)
    sources = extraction_file.read_sources(tmp_path / "out" / "segmentation.h5")
    peak_dff, snr = expected_peaks(demo)

    snrs = np.array([mask["snr"] for mask in rows.parts["Mask"]])
    np.testing.assert_allclose(snrs, snr, rtol=0.2)
    method, calls = classify_masks(rows.parts["Mask"], params=params.params, frame_shape=CAIMAN_SHAPE)
    assert method == "quality" and sum(call["mask_type"] != "artefact" for call in calls) >= 14

    dff = activity_traces("dff", sources, params=params.params)
    np.testing.assert_allclose(dff.max(axis=1), peak_dff, rtol=0.1)


def test_caiman_real_results_without_a_movie_use_the_tool_background(realdata, demo, tmp_path):
    # No recording given: the background is CaImAn's b f under each footprint, and with no residual nothing
    # measures the noise, so the SNR is unknown and the masks are classified by size and shape alone.
    model = {"b": np.full((CAIMAN_SHAPE[0] * CAIMAN_SHAPE[1], 1), BACKGROUND), "f": np.ones((1, 2000))}
    write_cnmf_save(tmp_path / "cnmf.hdf5", demo, residual=np.zeros(0), background=model)
    params = inputs(tmp_path, "caiman", frame_shape=CAIMAN_SHAPE, n_frames=2000)
    rows = stages.run("Segmentation", params)
    assert all(mask["snr"] is None for mask in rows.parts["Mask"])
    _, calls = classify_masks(rows.parts["Mask"], params=params.params, frame_shape=CAIMAN_SHAPE)
    assert sum(call["mask_type"] != "artefact" for call in calls) >= 14
    sources = extraction_file.read_sources(tmp_path / "segmentation.h5")
    dff = activity_traces("dff", sources, params=params.params)
    np.testing.assert_allclose(dff.max(axis=1), expected_peaks(demo)[0], rtol=0.1)
