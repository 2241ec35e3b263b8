"""`savgol_smooth`: SciPy's Savitzky-Golay filter with CalTrig's options, and the one smoothing of transient
detection and of the per-frame SNR."""

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from element_calcium.compute import events
from element_calcium.compute.events import _transients
from element_calcium.compute.signal import CALTRIG_SAVGOL, SAVGOL_MODES, savgol_smooth
from element_calcium.simulate import simulate_traces


@pytest.fixture(scope="module")
def traces():
    return simulate_traces(n_cells=6, n_frames=600, fps=20.0, rate_hz=0.3, snr=4.0, seed=2).dff


@pytest.mark.parametrize("mode", SAVGOL_MODES)
@pytest.mark.parametrize("deriv", [0, 1, 2])
def test_savgol_smooth_is_scipys_filter_for_every_mode_and_derivative(traces, mode, deriv):
    expected = signal.savgol_filter(traces, 11, 3, deriv=deriv, delta=0.05, mode=mode, cval=0.2, axis=1)
    got = savgol_smooth(traces, window_length=11, polyorder=3, deriv=deriv, delta=0.05, mode=mode, cval=0.2, axis=1)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_caltrigs_defaults_and_the_half_sample_of_an_even_window():
    assert CALTRIG_SAVGOL == {"window_length": 10, "polyorder": 2, "deriv": 0, "delta": 1.0, "mode": "interp"}
    ramp = np.arange(40.0)
    smoothed = savgol_smooth(ramp)
    np.testing.assert_allclose(smoothed[5:-5], ramp[5:-5] + 0.5, atol=1e-9)  # even window: the fit at t + 0.5
    np.testing.assert_allclose(smoothed[[0, -1]], ramp[[0, -1]], atol=1e-9)  # "interp": the edge fit at the edge
    np.testing.assert_allclose(savgol_smooth(ramp, window_length=11), ramp, atol=1e-9)
    parabola = 0.5 * (0.1 * ramp) ** 2  # second derivative 1 per second^2 at 10 samples per second
    np.testing.assert_allclose(savgol_smooth(parabola, window_length=9, deriv=2, delta=0.1), 1.0, atol=1e-9)
    np.testing.assert_allclose(savgol_smooth(parabola, window_length=9, deriv=1, delta=0.1), 0.1 * ramp, atol=1e-9)


@pytest.mark.parametrize("options, message", [
    ({"window_length": 2}, "window_length"),
    ({"polyorder": -1}, "polyorder"),
    ({"deriv": 1.5}, "deriv"),
    ({"delta": 0.0}, "delta"),
    ({"mode": "reflect"}, "mode"),
    ({"window_length": 41}, "longer than the traces"),
])
def test_savgol_smooth_refuses_bad_options_naming_them(options, message):
    with pytest.raises(ValueError, match=message):
        savgol_smooth(np.arange(40.0), **options)
    with pytest.raises(ValueError, match="NaN"):
        savgol_smooth(np.array([1.0, np.nan, 2.0]), window_length=3, polyorder=1)


def _scipy_directly(rows, *, window_length, polyorder, deriv=0, mode, axis):
    """The call transient detection made before it went through `savgol_smooth`."""
    return signal.savgol_filter(rows, window_length, polyorder, deriv=deriv, axis=axis)


def test_detection_and_snr_smooth_through_savgol_smooth_with_unchanged_results(traces, monkeypatch):
    detected = events.detect_transients(traces, fps=20.0)
    snr = events.snr_per_frame(traces, fps=20.0)
    calls = []

    def spy(rows, **options):
        calls.append(options)
        return savgol_smooth(rows, **options)

    monkeypatch.setattr(_transients, "savgol_smooth", spy)
    assert len(events.detect_transients(traces, fps=20.0)) == len(detected)
    assert {call.get("deriv", 0) for call in calls} == {0, 1}
    monkeypatch.setattr(_transients, "savgol_smooth", _scipy_directly)
    pd.testing.assert_frame_equal(events.detect_transients(traces, fps=20.0), detected)
    np.testing.assert_array_equal(events.snr_per_frame(traces, fps=20.0), snr)
    assert len(detected) > 10
