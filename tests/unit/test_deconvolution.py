"""OASIS deconvolution against simulated ground truth: Poisson spikes through AR(1)/AR(2) kernels,
Gaussian noise and a baseline offset, all made here with a seeded generator."""


import numpy as np
import pytest
from scipy.optimize import nnls
from scipy.signal import lfilter

from element_calcium.compute.deconvolution import _oasis
from element_calcium.compute.deconvolution import (
    NOISE_METHODS,
    Deconvolved,
    DeconvolvedTraces,
    deconvolve,
    deconvolve_traces,
    estimate_ar_coefficients,
    estimate_noise,
)

AR1 = (0.95,)
D, R = 0.95, 0.6  # decay and rise roots of the AR(2) kernel
AR2 = (D + R, -D * R)


def simulate(n_frames, g, *, seed, noise=0.2, rate=0.01, amplitude=(0.2, 2.0), baseline=3.0):
    """(trace, calcium, spikes): Poisson spikes of uniform amplitude through the AR(g) kernel."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random(n_frames) < rate) * rng.uniform(*amplitude, n_frames)
    calcium = lfilter([1.0], [1.0, *(-x for x in g)], spikes)
    return baseline + calcium + noise * rng.normal(size=n_frames), calcium, spikes


def correlation(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def spike_recall(estimate, spikes, noise, tolerance=2):
    """Fraction of true spikes > 2 noise with a detected spike within ``tolerance`` frames, and
    fraction of detections with no true spike that close. A detection is a frame whose spike
    exceeds half the smallest true spike counted."""
    large = np.flatnonzero(spikes > 2 * noise)
    detected = np.flatnonzero(estimate > 0.5 * spikes[large].min())
    every = np.flatnonzero(spikes > 0)
    found = np.array([detected.size > 0 and np.abs(detected - t).min() <= tolerance for t in large])
    false = np.array([np.abs(every - t).min() > tolerance for t in detected])
    return float(found.mean()), float(false.mean()) if false.size else 0.0


@pytest.mark.parametrize("method", NOISE_METHODS)
@pytest.mark.parametrize("g", [AR1, AR2], ids=["ar1", "ar2"])
def test_estimate_noise_within_ten_percent(g, method):
    for seed in range(3):
        trace, _, _ = simulate(5000, g, seed=seed, noise=0.3, amplitude=(0.5, 1.5))
        assert abs(estimate_noise(trace, method=method) / 0.3 - 1) < 0.10


def test_estimate_noise_of_many_traces_matches_each_trace():
    noises = [0.3, 0.4, 0.5]
    traces = np.stack([simulate(2000, AR1, seed=s, noise=sn, amplitude=(0.5, 1.5))[0] for s, sn in enumerate(noises)])
    many = estimate_noise(traces)
    assert many.dtype == np.float32 and many.shape == (3,)
    single = [estimate_noise(t) for t in traces]
    assert all(isinstance(x, float) for x in single)
    np.testing.assert_allclose(many, single, rtol=1e-6)
    np.testing.assert_allclose(many, noises, rtol=0.10)


def test_estimate_noise_of_a_constant_trace_is_zero():
    assert estimate_noise(np.full(100, 7.0)) == 0.0
    assert estimate_noise(np.zeros(4)) == 0.0


@pytest.mark.parametrize("g", [0.9, 0.95, 0.98])
def test_estimate_ar1_coefficient_within_005(g):
    for seed in range(3):
        trace, _, _ = simulate(5000, (g,), seed=seed)
        (estimate,) = estimate_ar_coefficients(trace, p=1, noise=estimate_noise(trace))
        assert abs(estimate - g) < 0.05


def test_estimate_ar2_roots():
    trace, _, _ = simulate(5000, AR2, seed=1)
    g = estimate_ar_coefficients(trace, p=2, noise=estimate_noise(trace))
    rise, decay = np.sort(np.roots([1.0, -g[0], -g[1]]).real)
    assert abs(decay - D) < 0.03 and abs(rise - R) < 0.1


def test_estimated_ar_roots_are_a_non_negative_decay():
    rng = np.random.default_rng(0)
    oscillating = np.sin(np.arange(500) * 2.5) + 0.1 * rng.normal(size=500)
    drifting = np.cumsum(rng.normal(size=500))
    for trace in (oscillating, drifting):
        for p in (1, 2):
            roots = np.roots([1.0, *(-x for x in estimate_ar_coefficients(trace, p=p, noise=0.1))])
            assert np.isreal(roots).all() and (roots.real >= 0).all() and (roots.real < 1).all()
    assert estimate_ar_coefficients(oscillating, p=0, noise=0.1) == ()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deconvolve_ar1_recovers_calcium_spikes_and_baseline(seed):
    trace, calcium, spikes = simulate(5000, AR1, seed=seed)
    result = deconvolve(trace, p=1)
    assert isinstance(result, Deconvolved)
    assert result.calcium.dtype == np.float32 and result.spikes.dtype == np.float32
    assert result.calcium.min() >= 0 and result.spikes.min() >= 0
    assert correlation(result.calcium, calcium) >= 0.98
    recall, false = spike_recall(result.spikes, spikes, 0.2)
    assert recall >= 0.8 and false <= 0.1
    assert abs(result.baseline - 3.0) < 0.5 * 0.2
    assert abs(result.g[0] - AR1[0]) < 0.02
    residual = trace - result.baseline - result.calcium
    assert residual @ residual == pytest.approx(result.noise**2 * trace.size, rel=0.01)


def test_spike_signal_follows_the_ar_model():
    trace, _, _ = simulate(3000, AR2, seed=4)
    result = deconvolve(trace, p=2)
    c = result.calcium.astype(np.float64)
    g1, g2 = result.g
    model = c - g1 * np.concatenate(([0.0], c[:-1])) - g2 * np.concatenate(([0.0, 0.0], c[:-2]))
    np.testing.assert_allclose(result.spikes, model, atol=1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_ar2_model_on_ar2_data_beats_ar1(seed):
    trace, calcium, spikes = simulate(5000, AR2, seed=seed)
    ar2 = deconvolve(trace, p=2)
    ar1 = deconvolve(trace, p=1)
    assert correlation(ar2.calcium, calcium) >= correlation(ar1.calcium, calcium)
    assert correlation(ar2.calcium, calcium) >= 0.98
    recall, false = spike_recall(ar2.spikes, spikes, 0.2)
    assert recall >= 0.8 and false <= 0.1
    assert abs(ar2.baseline - 3.0) < 0.5 * 0.2


def test_lower_snr_still_recovers_most_spikes():
    trace, calcium, spikes = simulate(5000, AR1, seed=5, noise=0.4, amplitude=(0.5, 2.5))
    result = deconvolve(trace)
    assert correlation(result.calcium, calcium) >= 0.9
    recall, _ = spike_recall(result.spikes, spikes, 0.4)
    assert recall >= 0.8


def test_s_min_removes_small_spikes():
    trace, calcium, spikes = simulate(5000, AR1, seed=3)
    free = deconvolve(trace)
    thresholded = deconvolve(trace, s_min=2.0)
    kept = thresholded.spikes[thresholded.spikes > 0]
    assert kept.min() >= 2.0 * thresholded.noise * (1 - 1e-5)
    assert (free.spikes[free.spikes > 0] < 2.0 * free.noise).any()
    assert kept.size < (free.spikes > 0).sum() / 2
    recall, _ = spike_recall(thresholded.spikes, spikes, 0.2)
    assert recall >= 0.8
    assert correlation(thresholded.calcium, calcium) >= 0.95


def test_given_noise_g_and_baseline_are_used():
    trace, calcium, _ = simulate(3000, AR1, seed=6)
    result = deconvolve(trace, g=(0.95,), noise=0.2, baseline=3.0)
    assert result.g == (0.95,) and result.noise == 0.2 and result.baseline == 3.0
    assert correlation(result.calcium, calcium) >= 0.98
    residual = trace - 3.0 - result.calcium
    assert residual @ residual == pytest.approx(0.04 * trace.size, rel=0.01)


@pytest.mark.parametrize("g, start", [(AR1, (0.85,)), (AR1, (0.99,)), (AR2, (1.3, -0.4))])
def test_optimize_g_corrects_a_wrong_start(g, start):
    trace, calcium, _ = simulate(5000, g, seed=7)
    fixed = deconvolve(trace, p=len(g), g=start)
    refined = deconvolve(trace, p=len(g), g=start, optimize_g=True)
    assert np.abs(np.array(refined.g) - g).max() < np.abs(np.array(start) - g).max() / 2
    assert correlation(refined.calcium, calcium) > correlation(fixed.calcium, calcium)


def test_p0_removes_the_baseline_only():
    trace, calcium, _ = simulate(3000, AR1, seed=8)
    result = deconvolve(trace, p=0)
    assert result.g == () and abs(result.baseline - 3.0) < 0.1
    np.testing.assert_allclose(result.calcium, np.maximum(trace - result.baseline, 0), atol=1e-5)
    np.testing.assert_array_equal(result.calcium, result.spikes)
    given = deconvolve(trace, p=0, baseline=2.0)
    np.testing.assert_allclose(given.calcium, np.maximum(trace - 2.0, 0), atol=1e-5)


@pytest.mark.parametrize("p", [0, 1, 2])
@pytest.mark.parametrize("value", [0.0, 5.0, -2.0])
def test_constant_trace_gives_zeros(p, value):
    for n_frames in (4, 500):
        result = deconvolve(np.full(n_frames, value), p=p)
        assert not result.calcium.any() and not result.spikes.any()
        assert result.baseline == value and result.noise == 0.0
        assert len(result.g) == p and np.isfinite(result.g).all()


@pytest.mark.parametrize("p", [1, 2])
def test_short_traces_do_not_fail(p):
    rng = np.random.default_rng(9)
    for n_frames in (4, 5, 9):
        result = deconvolve(rng.normal(size=n_frames), p=p)
        assert result.calcium.shape == (n_frames,) and np.isfinite(result.calcium).all()


def test_deconvolve_traces_equals_each_trace():
    traces = np.stack([simulate(1500, AR1, seed=s)[0] for s in range(3)] + [np.full(1500, 2.0)])
    for noises in (None, np.array([0.2, 0.25, 0.2, 0.0])):
        many = deconvolve_traces(traces.astype(np.float32), p=2, s_min=0.5, noises=noises)
        assert isinstance(many, DeconvolvedTraces)
        assert many.calcium.shape == (4, 1500) and many.g.shape == (4, 2)
        for field in ("calcium", "spikes", "baselines", "g", "noise"):
            assert getattr(many, field).dtype == np.float32
        for i, trace in enumerate(traces.astype(np.float32)):
            one = deconvolve(trace, p=2, s_min=0.5, noise=None if noises is None else float(noises[i]))
            np.testing.assert_array_equal(many.calcium[i], one.calcium)
            np.testing.assert_array_equal(many.spikes[i], one.spikes)
            assert many.baselines[i] == np.float32(one.baseline)
            np.testing.assert_array_equal(many.g[i], np.float32(one.g))
            assert many.noise[i] == np.float32(one.noise)
    assert deconvolve_traces(traces, p=0).g.shape == (4, 0)


def test_oasis_matches_non_negative_least_squares():
    """The AR(1) sweep and the AR(2) pivoting (from OASIS or from no spikes) are exact: the NNLS optimum of c = K s."""
    rng = np.random.default_rng(10)
    n_frames = 150
    for g in (AR1, AR2):
        kernel = _oasis._Kernel(g, n_frames)
        y = simulate(n_frames, g, seed=11, rate=0.05)[0] - 3.0 + 0.3 * rng.normal(size=n_frames)
        response = kernel.shifted[1 : n_frames + 1]
        matrix = np.array([np.concatenate((np.zeros(t), response[: n_frames - t])) for t in range(n_frames)]).T
        s, _ = nnls(matrix, y, maxiter=10 * n_frames)
        pools = _oasis._full_sweep(kernel, y)
        calcium = _oasis._calcium(kernel, pools)
        if len(g) == 1:
            np.testing.assert_allclose(calcium, matrix @ s, atol=1e-8)
            continue
        greedy = _oasis._spikes(kernel, pools, calcium) > 0
        for start in (greedy, np.zeros(n_frames, dtype=bool)):
            pivoting = _oasis._Pivoting(kernel, start)
            np.testing.assert_allclose(pivoting.fit(y, 0.0), matrix @ s, atol=1e-8)
            np.testing.assert_allclose(pivoting.spikes(None), s, atol=1e-8)


@pytest.mark.parametrize("p", [1, 2])
def test_twenty_thousand_frames_are_deconvolved_accurately(p):
    g = AR1 if p == 1 else AR2
    trace, calcium, _ = simulate(20000, g, seed=12)
    result = deconvolve(trace, p=p)
    assert correlation(result.calcium, calcium) >= 0.98


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda t: deconvolve(np.r_[t[:10], np.nan]), "trace contains NaN"),
        (lambda t: deconvolve(np.r_[t[:10], np.inf]), "trace contains NaN or infinite"),
        (lambda t: deconvolve(t[None, :]), "trace must be a 1-D"),
        (lambda t: deconvolve(t[:3]), "trace must have at least 4 frames"),
        (lambda t: deconvolve(t, p=3), "p must be 0, 1 or 2"),
        (lambda t: deconvolve(t, p=1.0), "p must be 0, 1 or 2"),
        (lambda t: deconvolve(t, s_min=-1.0), "s_min must be >= 0"),
        (lambda t: deconvolve(t, noise=-0.1), "noise must be >= 0"),
        (lambda t: deconvolve(t, noise=np.nan), "noise must be a finite number"),
        (lambda t: deconvolve(t, baseline=np.inf), "baseline must be a finite number"),
        (lambda t: deconvolve(t, g=(0.9, 0.01)), "g must be 1 finite"),
        (lambda t: deconvolve(t, g=(1.2,)), "non-negative decay"),
        (lambda t: deconvolve(t, p=0, g=(0.9,)), "g must be 0 finite"),
        (lambda t: deconvolve(t, p=2, g=(1.0, -0.9)), "non-negative decay"),
        (lambda t: deconvolve(t, noise_range=(0.4, 0.3)), "noise_range must satisfy"),
        (lambda t: deconvolve(t, noise_range=0.3), "noise_range must be two"),
        (lambda t: estimate_noise(t, method="max"), "method must be one of"),
        (lambda t: estimate_noise(np.zeros((2, 2, 10))), "traces must be a 1-D"),
        (lambda t: estimate_ar_coefficients(t, p=1, noise=0.1, lags=0), "lags must be"),
        (lambda t: estimate_ar_coefficients(t[:5], p=1, noise=0.1), "lags must be"),
        (lambda t: deconvolve_traces(t), "traces must be a 2-D"),
        (lambda t: deconvolve_traces(np.stack([t, t]), noises=[0.1]), "noises must be 2"),
        (lambda t: deconvolve_traces(np.stack([t, t]), p=5), "p must be 0, 1 or 2"),
        (lambda t: deconvolve(t.astype(complex)), "trace must hold real numbers"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    trace, _, _ = simulate(200, AR1, seed=13)
    with pytest.raises(ValueError, match=message):
        call(trace)
