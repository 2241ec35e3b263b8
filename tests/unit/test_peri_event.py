"""Behaviour alignment, peri-event windows and response statistics against simulated, event-locked cells."""

import numpy as np
import pytest

from element_calcium.compute.events import (
    analog_to_frames,
    detect_transients,
    event_raster,
    nearest_frames,
    peri_event_windows,
    peri_event_zscore,
    response_statistics,
    samples_to_frames,
    threshold_crossings,
    transient_frames,
)
from element_calcium.compute.params import PeriEventParams
from element_calcium.simulate import simulate_traces

FPS = 20.0
N_FRAMES = 12000  # 10 minutes
LAG_S = 0.5
N_UNRELATED = 200


@pytest.fixture(scope="module")
def lever():
    """60 lever presses at least 4 s apart; cell 0 fires LAG_S after each, cells 1.. fire at random."""
    rng = np.random.default_rng(21)
    times = np.cumsum(rng.uniform(4.0, 14.0, 60)) + 5.0
    sim = simulate_traces(n_cells=1 + N_UNRELATED, n_frames=N_FRAMES, fps=FPS, rate_hz=0.2, snr=3.0,
                          event_times=times, locked_cells=[0], lag_s=LAG_S, jitter_s=0.05, seed=22)
    assert times[-1] + 6.0 < N_FRAMES / FPS
    return sim, times


@pytest.fixture(scope="module")
def responses(lever):
    sim, times = lever
    return response_statistics(sim.dff, times, sim.timestamps,
                               params=PeriEventParams(pre_s=2.0, post_s=3.0, response_end_s=1.5))


def test_locked_cell_responds_at_the_right_lag(lever, responses):
    sim, times = lever
    locked = responses.iloc[0]
    assert locked["p_value"] < 0.01 and locked["z_score"] > 3 and locked["delta"] > 0.2
    assert locked["n_trials"] == 60
    windows = peri_event_windows(sim.dff, times, sim.timestamps, params=PeriEventParams(pre_s=2.0, post_s=3.0))
    assert windows.windows.shape == (60, 1 + N_UNRELATED, 101)
    average = windows.windows[:, 0].mean(axis=0)
    peak_time = windows.times[np.argmax(average)]
    assert LAG_S <= peak_time <= LAG_S + 0.35  # calcium peaks a rise time after the spike
    z = peri_event_zscore(windows)
    assert z[0, windows.times < LAG_S - 0.2].max() < 3 < z[0].max()


def test_transient_raster_peaks_at_the_lag(lever):
    sim, times = lever
    table = detect_transients(sim.dff[:1], fps=FPS)
    raster = event_raster(transient_frames(table, n_cells=1), n_frames=N_FRAMES)
    windows = peri_event_windows(raster, times, sim.timestamps, raster=True,
                                 params=PeriEventParams(pre_s=2.0, post_s=3.0, resample_ms=100.0))
    counts = windows.windows[:, 0].sum(axis=0)
    assert windows.times[np.argmax(counts)] == pytest.approx(LAG_S, abs=0.1)
    near = np.abs(windows.times - LAG_S) < 0.25
    assert counts[near].sum() > 0.85 * len(times)  # nearly every lever press, within jitter and onset error
    assert counts[~near].mean() < 2 * len(times) * 0.2 * 0.1  # elsewhere: twice the 0.2 Hz background at most


def test_unrelated_cells_are_not_significant(responses):
    p = responses["p_value"].to_numpy()[1:]
    assert responses["p_value"].iloc[1] > 0.05
    assert 0.01 <= np.mean(p < 0.05) <= 0.10  # false-positive rate near the nominal 5 %
    assert 0.12 <= np.mean(p < 0.2) <= 0.28
    assert np.abs(responses["z_score"].iloc[1:]).median() < 1.5


def test_p_value_alternatives_and_reproducibility(lever):
    sim, times = lever
    rows = sim.dff[:2]
    greater = response_statistics(rows, times, sim.timestamps,
                                  params=PeriEventParams(response_end_s=1.5, alternative="greater"))
    less = response_statistics(rows, times, sim.timestamps,
                               params=PeriEventParams(response_end_s=1.5, alternative="less"))
    assert greater["p_value"].iloc[0] < 0.01 and less["p_value"].iloc[0] > 0.99
    again = response_statistics(rows, times, sim.timestamps,
                                params=PeriEventParams(response_end_s=1.5, alternative="greater"))
    np.testing.assert_array_equal(greater["p_value"], again["p_value"])
    few = response_statistics(rows, times, sim.timestamps, params=PeriEventParams(response_end_s=1.5, n_shuffles=99))
    assert few["p_value"].iloc[0] == pytest.approx(0.01)  # the smallest p with 99 shuffles


def test_mean_response_matches_the_windows(lever):
    sim, times = lever
    stats = response_statistics(sim.dff[:3], times, sim.timestamps,
                                params=PeriEventParams(pre_s=1.0, response_start_s=0.5, response_end_s=1.0))
    frames = nearest_frames(times, sim.timestamps)
    response = np.stack([sim.dff[:3, f + 10 : f + 20].mean(axis=1) for f in frames]).mean(axis=0)
    baseline = np.stack([sim.dff[:3, f - 20 : f].mean(axis=1) for f in frames]).mean(axis=0)
    np.testing.assert_allclose(stats["mean_response"], response, rtol=1e-5)
    np.testing.assert_allclose(stats["baseline"], baseline, rtol=1e-5)


def test_events_near_the_edges_are_left_out_of_statistics_and_padded_with_nan():
    traces = np.random.default_rng(0).normal(size=(2, 1000))
    stamps = np.arange(1000) / FPS
    events = np.array([0.5, 20.0, 49.5])
    stats = response_statistics(traces, events, stamps, params=PeriEventParams(pre_s=1.0, post_s=2.0, n_shuffles=50))
    assert (stats["n_trials"] == 1).all()
    windows = peri_event_windows(traces, events, stamps, params=PeriEventParams(pre_s=1.0, post_s=2.0))
    assert np.isnan(windows.windows[0, :, :10]).all() and not np.isnan(windows.windows[0, :, 10:]).any()
    assert not np.isnan(windows.windows[1]).any()
    assert np.isnan(windows.windows[2, :, 31:]).all()
    with pytest.raises(ValueError, match="no event has its baseline and response windows"):
        response_statistics(traces, events[[0]], stamps, params=PeriEventParams(pre_s=1.0, post_s=2.0))


def test_resampled_windows_interpolate_between_frames():
    stamps = np.arange(2000) / FPS
    traces = np.vstack([stamps * 2.0, np.sin(stamps)])  # a line and a smooth curve
    events = np.array([10.0, 33.3, 70.025])
    windows = peri_event_windows(traces, events, stamps,
                                 params=PeriEventParams(pre_s=1.0, post_s=2.0, resample_ms=10.0))
    np.testing.assert_allclose(windows.times[[0, 100, -1]], [-1.0, 0.0, 2.0], atol=1e-9)
    expected = 2.0 * (events[:, None] + windows.times[None, :])
    np.testing.assert_allclose(windows.windows[:, 0], expected, rtol=1e-5)
    curve = np.sin(events[:, None] + windows.times[None, :])
    np.testing.assert_allclose(windows.windows[:, 1], curve, atol=2e-3)
    on_frames = np.array([10.0, 20.0])  # events on frame times: resampling at the frame interval changes nothing
    native = peri_event_windows(traces, on_frames, stamps, params=PeriEventParams(pre_s=1.0, post_s=2.0))
    resampled = peri_event_windows(traces, on_frames, stamps,
                                   params=PeriEventParams(pre_s=1.0, post_s=2.0, resample_ms=50.0))
    np.testing.assert_allclose(resampled.windows, native.windows, rtol=1e-5, atol=1e-5)


def test_resampled_raster_counts_every_onset_once():
    stamps = np.arange(600) / FPS
    raster = np.zeros((1, 600), np.uint8)
    raster[0, [205, 206, 230, 238, 280]] = 1  # 280 (14 s) lies after the window
    windows = peri_event_windows(raster, [10.0], stamps, raster=True,
                                 params=PeriEventParams(pre_s=1.0, post_s=2.0, resample_ms=250.0))
    assert windows.windows.sum() == 4
    assert windows.windows[0, 0, list(windows.times).index(0.25)] == 2  # frames 205, 206 at 10.25, 10.30 s


def test_nearest_frames_with_irregular_timestamps():
    rng = np.random.default_rng(1)
    stamps = np.cumsum(rng.uniform(0.04, 0.06, 500))
    frames = np.sort(rng.choice(500, 50, replace=False))
    times = stamps[frames] + rng.uniform(-0.015, 0.015, 50)
    np.testing.assert_array_equal(nearest_frames(times, stamps), frames)


@pytest.mark.parametrize(
    "times, message",
    [
        ([1.0, 0.5], "event_times must be strictly increasing; unsorted at index 1"),
        ([1.0, 1.0], "event_times must be strictly increasing; duplicate at index 1"),
        ([1.0, 60.0], "event_times: 1 event"),
        ([-1.0], "event_times: 1 event"),
        ([[1.0]], "event_times must be a 1-D array"),
        ([np.nan], "event_times contains NaN"),
    ],
)
def test_bad_event_times(times, message):
    with pytest.raises(ValueError, match=message):
        nearest_frames(times, np.arange(1000) / FPS)


def test_bad_windows_and_traces():
    stamps = np.arange(100) / FPS
    traces = np.zeros((2, 100))
    with pytest.raises(ValueError, match="pre_s \\+ post_s = 6.0 s must be shorter than the recording"):
        peri_event_windows(traces, [2.0], stamps, params=PeriEventParams(pre_s=1.0, post_s=5.0))
    with pytest.raises(ValueError, match="traces has 99 frames but timestamps has 100"):
        peri_event_windows(traces[:, :99], [2.0], stamps, params=PeriEventParams(pre_s=1.0, post_s=1.0))
    with pytest.raises(ValueError, match="timestamps must be strictly increasing"):
        peri_event_windows(traces, [2.0], stamps[::-1], params=PeriEventParams(pre_s=1.0, post_s=1.0))
    with pytest.raises(ValueError, match="params peri_event.response_start_s and response_end_s"):
        response_statistics(traces, [2.0], stamps, params=PeriEventParams(pre_s=1.0, post_s=1.0, response_end_s=1.5))


def test_threshold_crossings_of_a_ttl_channel():
    rate = 1000.0
    sample_times = 3.0 + np.arange(int(20 * rate)) / rate  # the DAQ starts 3 s into the recording's clock
    edges = np.array([4.2003, 9.0007, 15.5])
    ttl = np.zeros_like(sample_times)
    for edge in edges:
        ttl[(sample_times >= edge) & (sample_times < edge + 0.1)] = 5.0
    rising = threshold_crossings(ttl, sample_times, threshold=2.5)
    np.testing.assert_allclose(rising, edges, atol=1.0 / rate)
    falling = threshold_crossings(ttl, sample_times, threshold=2.5, direction="falling")
    np.testing.assert_allclose(falling, edges + 0.1, atol=1.0 / rate)
    assert threshold_crossings(ttl, sample_times, threshold=2.5, direction="both").size == 6
    bouncy = ttl.copy()
    bouncy[(sample_times > edges[0] + 0.003) & (sample_times < edges[0] + 0.005)] = 0.0  # contact bounce
    assert threshold_crossings(bouncy, sample_times, threshold=2.5).size == 4
    np.testing.assert_allclose(threshold_crossings(bouncy, sample_times, threshold=2.5, min_interval_s=0.05),
                               edges, atol=1.0 / rate)


def test_analog_crossing_is_interpolated():
    times = np.arange(5) * 0.1
    values = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    assert threshold_crossings(values, times, threshold=0.25)[0] == pytest.approx(0.125)


def test_samples_and_analog_values_map_to_frames():
    stamps = 1.0 + np.arange(100) / FPS  # frames from 1.0 s to 5.95 s
    sample_times = np.arange(0, 8, 0.01)
    frames = samples_to_frames(sample_times, stamps)
    inside = (sample_times >= 1.0 - 0.025) & (sample_times <= 5.95 + 0.025)
    assert (frames[~inside] == -1).all()
    np.testing.assert_array_equal(frames[inside], np.rint((sample_times[inside] - 1.0) * FPS).clip(0, 99))
    per_frame = analog_to_frames(sample_times * 10.0, sample_times, stamps)
    np.testing.assert_allclose(per_frame, stamps * 10.0, atol=0.06)
    with pytest.raises(ValueError, match="values must have the shape of sample_times"):
        analog_to_frames(np.zeros(3), sample_times, stamps)
