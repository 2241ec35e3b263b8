"""Binning, rasters, inter-event intervals and firing rates against hand-computed answers."""

import numpy as np
import pandas as pd
import pytest

from element_calcium.compute.events import (
    bin_data,
    event_raster,
    firing_rates,
    inter_event_intervals,
    normalize_firing_rates,
    transient_frames,
    trial_tensor,
)


def test_bin_data_statistics_and_trailing_frames():
    data = np.arange(14, dtype=float).reshape(2, 7)
    np.testing.assert_array_equal(bin_data(data, bin_frames=3), [[1, 4], [8, 11]])
    np.testing.assert_array_equal(bin_data(data, bin_frames=3, statistic="sum"), [[3, 12], [24, 33]])
    np.testing.assert_array_equal(bin_data(data, bin_frames=3, statistic="max"), [[2, 5], [9, 12]])
    assert bin_data(data, bin_frames=8).shape == (2, 0)
    with pytest.raises(ValueError, match="bin_frames must be an integer >= 1"):
        bin_data(data, bin_frames=0)
    with pytest.raises(ValueError, match="statistic must be one of"):
        bin_data(data, bin_frames=2, statistic="median")


def test_transient_frames_and_raster():
    table = pd.DataFrame({"cell": [2, 0, 0], "onset": [7, 5, 1], "peak": [8, 6, 2]})
    frames = transient_frames(table, n_cells=4)
    assert [list(f) for f in frames] == [[1, 5], [], [7], []]
    assert [list(f) for f in transient_frames(table, n_cells=4, column="peak")][0] == [2, 6]
    raster = event_raster(frames, n_frames=10)
    assert raster.shape == (4, 10) and raster.dtype == np.uint8
    assert list(np.flatnonzero(raster[0])) == [1, 5] and raster.sum() == 3
    with pytest.raises(ValueError, match=r"event_frames\[0\] must lie in \[0, 4\)"):
        event_raster(frames, n_frames=4)
    with pytest.raises(ValueError, match="transients.cell must be in"):
        transient_frames(table, n_cells=2)


def test_inter_event_intervals():
    intervals = inter_event_intervals([[10, 30, 70], [5], []], fps=20.0)
    np.testing.assert_allclose(intervals[0], [1.0, 2.0])
    assert intervals[1].size == 0 and intervals[2].size == 0


def test_firing_rates_from_probabilities():
    probability = np.zeros((2, 200))
    probability[0, 100] = 1.0
    probability[1] = 0.05
    rates = firing_rates(probability, fps=20.0)
    assert rates[0, 100] == pytest.approx(20.0) and np.allclose(rates[1], 1.0)
    smooth = firing_rates(probability, fps=20.0, smooth_s=0.25)
    assert smooth[0].sum() == pytest.approx(20.0, rel=1e-4)  # one spike: the rate integrates to 1 spike
    assert smooth[0].argmax() == 100 and smooth[0, 100] < 20.0
    with pytest.raises(ValueError, match="spike_probability must be finite and >= 0"):
        firing_rates(-probability, fps=20.0)


def test_normalize_firing_rates():
    rates = np.array([[0.0, 2.0, 4.0], [-1.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalize_firing_rates(rates), [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0]])


def test_trial_tensor():
    traces = np.arange(20).reshape(2, 10)
    tensor = trial_tensor(traces, trial_frames=4)
    assert tensor.shape == (2, 2, 4)
    np.testing.assert_array_equal(tensor[1, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(tensor[0, 1], [10, 11, 12, 13])
