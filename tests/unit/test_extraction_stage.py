"""The extraction stage's pure steps: mask classification rows, activity traces, the seed-free border."""

import numpy as np
import pytest
from scipy import sparse

from element_calcium.compute.params import default_params
from element_calcium.extraction_file import ExtractedSources
from element_calcium.extraction_stage import activity_traces, border_pix, classify_masks, masks_to_footprints

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
