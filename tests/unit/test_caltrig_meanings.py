"""CalTrig's per-cell measures, on small traces whose right answer follows by hand from CalTrig's rules.

- Average peak dF/F (``get_average_peak_dff``): the mean over a cell's transients of the largest dF/F on
  each transient's frames.
- MAD (``get_mad``): median |dF/F - median(dF/F)| / 0.6745.
- SNR (``get_SNR``): an array, one value per frame, |smoothed dF/F| / noise; for display CalTrig rescales it
  so that its largest value is the largest smoothed dF/F.
"""

import numpy as np
import pytest
from scipy import signal

from element_calcium.compute.events import (
    detect_transients,
    median_absolute_deviation,
    snr_per_frame,
    transient_statistics,
)
from element_calcium.compute.params import TransientParams

FPS = 20.0


def two_decays(n_frames=600, events=((150, 2.0), (400, 1.0)), tau_frames=8.0):
    """Noise-free dF/F: instant rises of the given heights at the given frames, exponential decays."""
    trace = np.zeros(n_frames)
    for frame, height in events:
        trace[frame:] += height * np.exp(-np.arange(n_frames - frame) / tau_frames)
    return trace[None, :]


def test_average_peak_dff_is_the_mean_of_each_transients_raw_maximum():
    dff = two_decays()
    table = detect_transients(dff, fps=FPS)
    assert table["peak"].tolist() and len(table) == 2
    np.testing.assert_allclose(table["peak_dff"], [2.0, 1.0], rtol=1e-6)  # the dF/F at the rise frames
    stats = transient_statistics(dff, table, fps=FPS).iloc[0]
    assert stats["mean_peak_dff"] == pytest.approx(1.5, rel=1e-6)  # (2 + 1) / 2
    assert stats["mean_peak_smoothed_dff"] < 0.95 * stats["mean_peak_dff"]  # the smoothing blunts the rise


def test_mad_is_scaled_by_one_over_0_6745():
    values = np.array([[0.0, 1.0, 2.0, 3.0, 100.0]])  # median 2; deviations 2 1 0 1 98, their median 1
    assert median_absolute_deviation(values)[0] == pytest.approx(1 / 0.6745)
    rng = np.random.default_rng(0)
    noise = 0.2 * rng.standard_normal((1, 200_000))
    assert median_absolute_deviation(noise)[0] == pytest.approx(0.2, rel=0.01)  # estimates the sd
    dff = two_decays()
    stats = transient_statistics(dff, detect_transients(dff, fps=FPS), fps=FPS)
    deviation = np.median(np.abs(dff - np.median(dff)))
    assert stats["mad"].iloc[0] == pytest.approx(deviation / 0.6745, rel=1e-6)


def test_snr_per_frame_is_an_array_over_frames():
    rng = np.random.default_rng(1)
    trace = np.concatenate([np.zeros(2000), np.ones(2000), np.zeros(2000)]) + 0.1 * rng.standard_normal(6000)
    snr = snr_per_frame(trace, fps=FPS)
    assert snr.shape == (6000,) and snr.dtype == np.float32
    assert np.median(snr[2500:3500]) == pytest.approx(10.0, rel=0.1)  # plateau 1 over noise sd 0.1
    assert np.median(snr[500:1500]) < 1.5
    both = snr_per_frame(np.vstack([trace, 2 * trace]), fps=FPS)
    np.testing.assert_allclose(both, np.vstack([snr, snr]), rtol=1e-4)  # a ratio: free of the trace's units


def test_snr_scaled_as_caltrig_displays_it_peaks_at_the_smoothed_maximum():
    trace = two_decays()[0] + 0.01 * np.random.default_rng(2).standard_normal(600)
    ratio = snr_per_frame(trace, fps=FPS)
    scaled = snr_per_frame(trace, fps=FPS, scaled_to_trace=True)
    params = TransientParams()
    window = max(int(round(params.savgol_window_s * FPS)), params.savgol_order + 2)
    smoothed = signal.savgol_filter(trace.astype(np.float32), window + 1 - window % 2, params.savgol_order)
    np.testing.assert_allclose(scaled, ratio / ratio.max() * smoothed.max(), rtol=1e-5)


def test_noise_free_traces_get_finite_documented_snr():
    constant = np.full((1, 400), 0.5)
    np.testing.assert_allclose(snr_per_frame(constant, fps=FPS), 2.0**23, rtol=1e-6)  # 1 / float32 eps
    np.testing.assert_allclose(snr_per_frame(constant, fps=FPS, scaled_to_trace=True), 0.5, rtol=1e-6)
    zero = np.zeros((1, 400))
    assert not snr_per_frame(zero, fps=FPS).any() and not snr_per_frame(zero, fps=FPS, scaled_to_trace=True).any()


def test_snr_per_frame_rejects_bad_input():
    with pytest.raises(ValueError, match="dff must have at least"):
        snr_per_frame(np.zeros(3), fps=FPS)
