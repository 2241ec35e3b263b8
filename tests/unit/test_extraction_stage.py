"""The extraction stage: mask classification rows, activity traces, the seed-free border, and load mode (results
that must fit the recording; background and noise of loaded traces from the movie under their footprints)."""

import h5py
import numpy as np
import pytest
from scipy import sparse

from element_calcium import extraction_file
from element_calcium.compute.params import default_params
from element_calcium.extraction_file import ExtractedSources
from element_calcium import stages
from element_calcium.stages.activity import activity_traces
from element_calcium.stages.classification import classify_masks
from element_calcium.stages.segmentation import SegmentationInputs, border_pix, masks_to_footprints
from element_calcium.simulate import write_tiff

H, W = 30, 40


def disc_mask(mask_id, cy, cx, radius=5, **extra):
    ys, xs = np.nonzero((np.mgrid[:H, :W][0] - cy) ** 2 + (np.mgrid[:H, :W][1] - cx) ** 2 <= radius**2)
    row = {"mask_id": mask_id, "mask_ypix": ys.astype(np.int32), "mask_xpix": xs.astype(np.int32),
           "mask_weights": np.ones(len(ys), np.float32), "snr": 10.0, "spatial_corr": 0.9,
           "accepted": None, "accepted_confidence": None}
    row.update(extra)
    return row


def test_masks_become_footprints_at_their_pixels():
    footprints = masks_to_footprints([disc_mask(3, 10, 12), disc_mask(7, 20, 30, radius=2)], H, W)
    dense = footprints.toarray()
    assert footprints.shape == (H * W, 2)
    assert dense[10 * W + 12, 0] == 1 and dense[20 * W + 30, 1] == 1 and dense[10 * W + 12, 1] == 0
    assert masks_to_footprints([], H, W).shape == (H * W, 0)


def test_quality_classification_of_computed_masks():
    params = default_params("1p")
    masks = [disc_mask(0, 10, 10, radius=6), disc_mask(1, 20, 30, radius=6, snr=0.5)]
    method, rows = classify_masks(masks, params=params, frame_shape=(H, W))
    assert method == "quality"
    assert [row["mask_type"] for row in rows] == ["soma", "artefact"]
    assert all(0.5 <= row["confidence"] <= 1 for row in rows)


def test_a_tools_calls_are_kept_with_its_probability():
    masks = [disc_mask(0, 10, 10, accepted=True, accepted_confidence=0.9),
             disc_mask(1, 20, 30, accepted=False, accepted_confidence=0.25),
             disc_mask(2, 15, 20, accepted=True)]
    method, rows = classify_masks(masks, params=default_params("2p"), frame_shape=(H, W))
    assert method == "tool"
    assert [(row["mask_type"], row["confidence"]) for row in rows] == [("soma", 0.9), ("artefact", 0.75),
                                                                       ("soma", None)]


def test_another_tools_masks_are_sized_against_their_own_median():
    # Cells 26 px across (area 5x the default 12 px disc): judged against the parameter set's diameter, masks
    # of the built-in extraction are too large; another tool's masks (no spatial correlation) set their own
    # scale. A mask a third of their size is still a cell; one a twentieth is not.
    shape = (80, 120)
    yy, xx = np.mgrid[: shape[0], : shape[1]]

    def mask(mask_id, cy, cx, radius, **extra):
        ys, xs = np.nonzero((yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2)
        return {"mask_id": mask_id, "mask_ypix": ys.astype(np.int32), "mask_xpix": xs.astype(np.int32),
                "mask_weights": np.ones(len(ys), np.float32), "snr": 10.0, "accepted": None,
                "accepted_confidence": None, **extra}

    centres = [(20, 20), (20, 60), (20, 100), (60, 20), (60, 60)]
    radii = [13, 13, 13, 7.5, 3]
    params = default_params("1p")
    loaded = [mask(n, *centre, radius, spatial_corr=None) for n, (centre, radius) in enumerate(zip(centres, radii))]
    computed = [{**row, "spatial_corr": 0.9} for row in loaded]
    labels = [row["mask_type"] for row in classify_masks(loaded, params=params, frame_shape=shape)[1]]
    assert labels == ["soma", "soma", "soma", "soma", "artefact"]
    labels = [row["mask_type"] for row in classify_masks(computed, params=params, frame_shape=shape)[1]]
    assert labels[:3] == ["artefact"] * 3


def test_an_unknown_snr_leaves_the_call_to_size_and_shape():
    params = default_params("1p")
    masks = [disc_mask(0, 10, 10, radius=6, snr=None, spatial_corr=None),
             disc_mask(1, 20, 30, radius=6, snr=0.5, spatial_corr=None)]
    assert [row["mask_type"] for row in classify_masks(masks, params=params, frame_shape=(H, W))[1]] == [
        "soma", "artefact"]


def write_caiman_results(folder, calcium, images):
    """A CaImAn results file (CNMF.save() layout) with the footprints ``images`` and traces ``calcium``, no
    residual."""
    folder.mkdir(parents=True, exist_ok=True)
    a = sparse.csc_array(images.reshape(len(images), -1, order="F").T)
    with h5py.File(folder / "cnmf.hdf5", "w") as h5:
        for part in ("data", "indices", "indptr", "shape"):
            h5[f"estimates/A/{part}"] = np.asarray(getattr(a, part))
        h5["estimates/C"] = calcium
        h5["estimates/dims"] = np.array(images.shape[1:])


def load_inputs(output_dir, *, n_frames, frame_shape=(H, W), **recording):
    return SegmentationInputs(task_mode="load", method="caiman", params=default_params("1p"), corrected_movie=None,
                              fps=20.0, frame_shape=frame_shape, n_frames=n_frames, motion_border=0,
                              output_dir=output_dir, output_dir_relative=".", **recording)


def cells_and_movie(rng, n_frames=1200, shift=(0, 0)):
    """Two disc cells with sparse calcium, and the movie they make on a background of 40 grey levels with
    noise 1, its content moved by ``shift`` (the tissue's motion, whole pixels)."""
    images = np.stack([np.pad(np.ones((7, 7)), ((5, H - 12), (6, W - 13))),
                       np.pad(np.ones((7, 7)), ((18, H - 25), (25, W - 32)))])
    spikes = (rng.random((2, n_frames)) < 0.02) * rng.uniform(5, 15, (2, n_frames))
    calcium = np.stack([np.convolve(row, 0.9 ** np.arange(60))[:n_frames] for row in spikes])
    frames = np.einsum("nyx,nt->tyx", images, calcium) + 40.0 + rng.normal(0, 1.0, (n_frames, H, W))
    frames = np.roll(frames, shift, axis=(1, 2))
    return images, calcium, np.clip(np.round(frames), 0, 255).astype(np.uint8)


def test_loaded_traces_without_baseline_take_background_and_noise_from_the_movie(tmp_path):
    rng = np.random.default_rng(3)
    images, calcium, frames = cells_and_movie(rng, shift=(2, -3))
    write_caiman_results(tmp_path / "out", calcium, images)
    write_tiff(tmp_path / "movie", frames, fps=20.0)
    recording = {"recording_folder": tmp_path / "movie", "software": "TIFF", "frame_rate": 20.0,
                 "motion_shifts": np.tile([2.0, -3.0], (1200, 1)).astype(np.float32)}
    rows = stages.run("Segmentation", load_inputs(tmp_path / "out", n_frames=1200, **recording))
    sources = extraction_file.read_sources(tmp_path / "out" / "segmentation.h5")
    np.testing.assert_allclose(np.median(sources.background, axis=1), 40.0, atol=0.5)  # per frame, in C units
    noise = 1.0 / 7.0  # per-pixel noise 1 (and rounding) averaged over 49 equal pixels
    snr = (calcium.max(axis=1) - np.median(calcium, axis=1)) / noise
    np.testing.assert_allclose([mask["snr"] for mask in rows.parts["Mask"]], snr, rtol=0.15)
    dff = activity_traces("dff", sources, params=default_params("1p"))
    np.testing.assert_allclose(dff.max(axis=1), (calcium.max(axis=1) - np.percentile(calcium, 8, axis=1)) / 40.0,
                               rtol=0.1)


def test_loaded_results_must_fit_the_recording(tmp_path):
    images, calcium, _ = cells_and_movie(np.random.default_rng(4))
    write_caiman_results(tmp_path, calcium, images)
    with pytest.raises(ValueError, match="cnmf.hdf5: the results have 1200 frames but the recording has 200; load "
                                         "the results of this recording"):
        stages.run("Segmentation", load_inputs(tmp_path, n_frames=200))
    with pytest.raises(ValueError, match=f"cnmf.hdf5: the footprints are {H}x{W} pixels but the recording's frames "
                                         f"are {W}x{H}"):
        stages.run("Segmentation", load_inputs(tmp_path, n_frames=1200, frame_shape=(W, H)))
    assert not (tmp_path / "segmentation.h5").exists()


def sources(**traces):
    rng = np.random.default_rng(0)
    n, t = 2, 400
    spikes = (rng.random((n, t)) < 0.03).astype(np.float32)
    calcium = np.stack([np.convolve(row, 0.9 ** np.arange(60))[:t] for row in spikes]).astype(np.float32)
    values = {"fluorescence": 10 * calcium + rng.normal(0, 0.3, (n, t)).astype(np.float32) + 5,
              "background": np.full((n, t), 50.0, np.float32), "denoised": None, "spikes": None, "dff": None}
    values.update(traces)
    return ExtractedSources(height=H, width=W, footprints=sparse.csc_array((H * W, n), dtype=np.float32),
                            mask_ids=np.array([4, 9]), fps=20.0, **values), spikes


def test_stored_traces_are_used_as_stored():
    stored = np.full((2, 400), 7.0, np.float32)
    data, _ = sources(spikes=stored, dff=stored + 1)
    params = default_params("1p")
    np.testing.assert_array_equal(activity_traces("deconvolved", data, params=params), stored)
    np.testing.assert_array_equal(activity_traces("dff", data, params=params), stored + 1)


def test_missing_traces_are_computed_from_the_fluorescence():
    data, true_spikes = sources()
    params = default_params("1p")
    denoised = activity_traces("denoised", data, params=params)
    spikes = activity_traces("deconvolved", data, params=params)
    dff = activity_traces("dff", data, params=params)
    assert denoised.shape == spikes.shape == dff.shape == (2, 400)
    assert (spikes >= 0).all() and np.isfinite(dff).all()
    for n in range(2):
        assert np.corrcoef(denoised[n], np.convolve(true_spikes[n], 0.9 ** np.arange(60))[:400])[0, 1] > 0.95
    assert dff.max() < 10 * data.fluorescence.max() / 50  # divided by F0 with the background in it
    with pytest.raises(ValueError, match="unknown activity"):
        activity_traces("smoothed", data, params=params)


def test_border_comes_from_the_parameters_or_the_motion():
    assert border_pix(None, 4, (100, 100)) == 4
    assert border_pix(0, 4, (100, 100)) == 0
    assert border_pix(None, 80, (100, 60)) == 29
