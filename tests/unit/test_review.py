"""compute.review: model and residual frames of known sources, and min/max decimation that keeps every extreme."""

import numpy as np
import pytest
from scipy import sparse

from element_calcium.compute.review import minmax_decimate, model_frames, residual_background


def test_model_frames_put_each_footprint_at_its_pixels_times_its_calcium():
    footprints = np.zeros((4 * 5, 2), np.float32)
    footprints[1 * 5 + 2, 0] = 2.0  # cell 0 at (y=1, x=2)
    footprints[3 * 5 + 4, 1] = 0.5  # cell 1 at (y=3, x=4)
    calcium = np.array([[1.0, 3.0], [10.0, 0.0]])
    frames = model_frames(sparse.csc_array(footprints), calcium, (4, 5))
    assert frames.shape == (2, 4, 5) and frames.dtype == np.float32
    assert frames[0, 1, 2] == 2.0 and frames[1, 1, 2] == 6.0
    assert frames[0, 3, 4] == 5.0 and frames[1, 3, 4] == 0.0
    assert frames.sum() == 2.0 + 6.0 + 5.0


def test_model_frames_refuse_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match="do not fit"):
        model_frames(np.zeros((20, 2)), np.zeros((3, 4)), (4, 5))


def test_residual_background_is_the_light_the_model_leaves_out():
    rng = np.random.default_rng(0)
    background = rng.uniform(10, 20, (6, 7)).astype(np.float32)
    model = rng.uniform(0, 5, (9, 6, 7)).astype(np.float32)
    found = residual_background(model + background, model)
    np.testing.assert_allclose(found, background, rtol=1e-5)
    with pytest.raises(ValueError, match="must both be"):
        residual_background(model, model[:3])


def test_minmax_decimate_keeps_every_extreme_of_a_long_trace():
    rng = np.random.default_rng(1)
    trace = rng.normal(size=36_000).astype(np.float32)
    trace[12_345], trace[30_001] = 50.0, -40.0
    frames, values = minmax_decimate(trace, n_bins=1000)
    assert len(frames) <= 2000 and np.all(np.diff(frames) > 0)
    np.testing.assert_array_equal(values, trace[frames])
    assert 12_345 in frames and 30_001 in frames
    edges = np.linspace(0, len(trace), 1001).astype(int)
    for start, stop in zip(edges[:-1:97], edges[1::97]):
        inside = values[(frames >= start) & (frames < stop)]
        assert inside.max() == trace[start:stop].max() and inside.min() == trace[start:stop].min()


def test_minmax_decimate_returns_a_short_trace_whole_and_refuses_bad_bins():
    frames, values = minmax_decimate([3.0, 1.0, 2.0], n_bins=2)
    assert frames.tolist() == [0, 1, 2] and values.tolist() == [3.0, 1.0, 2.0]
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_bins"):
            minmax_decimate([1.0, 2.0], n_bins=bad)
