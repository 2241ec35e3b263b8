"""minian's AR model helpers: construct_G, the pulse response and convolve_ar, checked against the AR recursion,
minian's own construction and the OASIS deconvolution."""

import numpy as np
import pytest
from scipy import linalg

from element_calcium.compute.deconvolution import ar_pulse_response, construct_G, convolve_ar, deconvolve


def recursion(spikes, g):
    """c_t = g1 c_{t-1} + ... + gp c_{t-p} + s_t, c_{-k} = 0, written out frame by frame."""
    calcium = np.zeros(len(spikes))
    for t in range(len(spikes)):
        calcium[t] = spikes[t] + sum(g[k] * calcium[t - 1 - k] for k in range(len(g)) if t - 1 - k >= 0)
    return calcium


def sparse_spikes(n_frames, *, seed, rate=0.02):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n_frames) < rate, rng.uniform(0.5, 2.0, n_frames), 0.0)


@pytest.mark.parametrize("g", [(0.9,), (1.6, -0.63)])
def test_construct_g_times_calcium_is_the_spike_signal(g):
    spikes = sparse_spikes(300, seed=1)
    calcium = recursion(spikes, g)
    np.testing.assert_allclose(construct_G(g, 300) @ calcium, spikes, atol=1e-10)


def test_construct_g_is_minians_toeplitz_matrix():
    g = np.array([1.2, -0.3])
    column = np.zeros(6)
    column[0], column[1:3] = 1.0, -g
    row = np.zeros(6)
    row[0] = 1.0
    np.testing.assert_array_equal(construct_G(g, 6), linalg.toeplitz(column, row))
    assert construct_G(0.5, 1).tolist() == [[1.0]]
    np.testing.assert_array_equal(construct_G([0.5, 0.2, 0.1], 2), [[1.0, 0.0], [-0.5, 1.0]])


@pytest.mark.parametrize("g", [(0.95,), (1.7, -0.72)])
def test_convolve_ar_equals_the_recursion_and_minians_inverse(g):
    spikes = sparse_spikes(200, seed=2)
    calcium = convolve_ar(spikes, g)
    assert calcium.dtype == np.float32 and calcium.shape == spikes.shape
    np.testing.assert_allclose(calcium, recursion(spikes, g), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(calcium, np.linalg.inv(construct_G(g, 200)) @ spikes, rtol=1e-5, atol=1e-5)


def test_convolve_ar_takes_one_row_of_coefficients_per_trace():
    spikes = np.stack([sparse_spikes(100, seed=3), sparse_spikes(100, seed=4)])
    g = np.array([[0.9, 0.0], [1.5, -0.56]])
    calcium = convolve_ar(spikes, g)
    for row in range(2):
        np.testing.assert_allclose(calcium[row], recursion(spikes[row], g[row]), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(convolve_ar(spikes, (0.9,))[1], recursion(spikes[1], (0.9,)), rtol=1e-5, atol=1e-5)


def test_pulse_response_is_the_impulse_response():
    spikes, calcium = ar_pulse_response((0.8,), length=50)
    assert spikes[0] == 1 and spikes[1:].sum() == 0
    np.testing.assert_allclose(calcium, 0.8 ** np.arange(50), rtol=1e-5)
    decay, rise = 0.9, 0.5  # AR(2) with roots d, r: h_t = (d^(t+1) - r^(t+1)) / (d - r)
    _, calcium = ar_pulse_response((decay + rise, -decay * rise))
    assert calcium.shape == (500,)
    t = np.arange(500)
    np.testing.assert_allclose(calcium, (decay ** (t + 1) - rise ** (t + 1)) / (decay - rise), atol=1e-6)


@pytest.mark.parametrize("g", [(0.93,), (1.55, -0.6)])
def test_oasis_recovers_a_trace_made_with_the_ar_model(g):
    n_frames = 3000
    spikes = sparse_spikes(n_frames, seed=5, rate=0.008)
    calcium = convolve_ar(spikes, g)
    trace = 2.0 + calcium + 0.02 * np.random.default_rng(6).standard_normal(n_frames)
    result = deconvolve(trace, p=len(g), optimize_g=True)
    np.testing.assert_allclose(result.g, g, atol=0.01)
    assert np.corrcoef(result.calcium, calcium)[0, 1] > 0.99
    assert np.corrcoef(result.spikes, spikes)[0, 1] > 0.99
    assert abs(result.baseline - 2.0) < 0.05
    np.testing.assert_allclose(convolve_ar(result.spikes, result.g), result.calcium, atol=1e-3)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: construct_G([], 5), "g"),
        (lambda: construct_G([0.5, np.nan], 5), "g"),
        (lambda: construct_G(0.5, 0), "n_frames"),
        (lambda: construct_G(0.5, 2.5), "n_frames"),
        (lambda: convolve_ar(np.zeros((2, 3, 4)), 0.5), "spikes"),
        (lambda: convolve_ar([0.0, np.inf], 0.5), "spikes"),
        (lambda: convolve_ar(np.zeros((2, 5)), np.zeros((3, 1))), "g"),
        (lambda: ar_pulse_response(0.5, length=0), "length"),
    ],
)
def test_bad_input_raises_one_line_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument) as error:
        call()
    assert "\n" not in str(error.value)
