"""dF/F, running percentiles and standardized noise against traces with a known answer."""

import warnings

import numpy as np
import pytest

from scipy import sparse

from element_calcium.compute.dff import (
    detrend_dff,
    movie_under_footprints,
    project_on_footprints,
    running_percentile,
    standardized_noise,
)

FPS = 30.0


def brute_force_percentile(trace, window, percentile):
    """The exact running percentile: every centred window, cut at the trace's ends."""
    left, right = (window - 1) // 2, window // 2
    return np.array(
        [np.percentile(trace[max(0, t - left) : t + right + 1], percentile) for t in range(trace.size)]
    )


def transients(n_frames, rng, rate=0.003, tau_frames=30.0, amplitude=(0.3, 1.0)):
    """(n_frames,) sparse non-negative fractional changes x(t): exponential transients."""
    onsets = rng.random(n_frames) < rate
    kicks = onsets * rng.uniform(*amplitude, n_frames)
    decay = np.exp(-np.arange(int(8 * tau_frames)) / tau_frames)
    return np.convolve(kicks, decay)[:n_frames]


@pytest.mark.parametrize("window, percentile", [(1, 8), (2, 50), (3, 8), (10, 20), (301, 8), (300, 90), (5000, 8)])
def test_running_percentile_against_brute_force(window, percentile):
    rng = np.random.default_rng(0)
    n_frames, sigma = 3000, 3.0
    t = np.arange(n_frames)
    traces = 100 + 20 * np.sin(2 * np.pi * t / 2500) + sigma * rng.normal(size=(2, n_frames))
    estimate = running_percentile(traces, window=window, percentile=percentile)
    assert estimate.dtype == np.float32 and estimate.shape == traces.shape
    error = np.abs(estimate - np.stack([brute_force_percentile(x, window, percentile) for x in traces]))
    if window // 8 <= 1:  # every position is computed exactly
        assert error.max() < 1e-4
    else:  # linear between exact grid points: within the percentile's own jitter
        assert error.mean() < 0.05 * sigma and error.max() < 0.4 * sigma


@pytest.mark.parametrize("knots", [2, 4])
def test_fewer_knots_per_window_stay_close_to_the_running_median(knots):
    """Seeding's trend removal takes 2 exact medians per window: a slow drift is still followed within the
    median's own jitter, and the knots themselves are exact."""
    rng = np.random.default_rng(5)
    n_frames, sigma, window = 3000, 3.0, 300
    t = np.arange(n_frames)
    trace = 100 + 20 * np.sin(2 * np.pi * t / 2500) + sigma * rng.normal(size=n_frames)
    estimate = running_percentile(trace, window=window, percentile=50, knots_per_window=knots)
    exact = brute_force_percentile(trace, window, 50)
    step = window // knots
    knot_frames = np.arange(0, n_frames, step)
    np.testing.assert_allclose(estimate[knot_frames], exact[knot_frames], atol=1e-4)
    error = np.abs(estimate - exact)
    assert error.mean() < 0.1 * sigma and error.max() < 0.5 * sigma


def test_running_percentile_of_one_trace_keeps_its_shape():
    trace = np.random.default_rng(1).normal(size=500)
    one = running_percentile(trace, window=51, percentile=8)
    assert one.shape == (500,)
    np.testing.assert_array_equal(one, running_percentile(trace[None], window=51, percentile=8)[0])


def test_dff_recovers_fractional_change_under_drift():
    rng = np.random.default_rng(3)
    n_frames = 20000
    t = np.arange(n_frames)
    f0 = 200.0 * (1 + 0.3 * t / n_frames + 0.1 * np.sin(2 * np.pi * t / 12000))
    x = np.stack([transients(n_frames, rng) for _ in range(3)])
    fluorescence = f0 * (1 + x) + 0.5 * rng.normal(size=(3, n_frames))
    dff = detrend_dff(fluorescence, fps=FPS)
    assert dff.dtype == np.float32 and dff.shape == x.shape
    error = np.abs(dff - x)
    assert np.median(error) < 0.015 and np.percentile(error, 99) < 0.04
    assert np.abs(dff.mean(axis=1) - x.mean(axis=1)).max() < 0.015


def test_background_enters_the_denominator():
    rng = np.random.default_rng(4)
    n_frames = 9000
    t = np.arange(n_frames)
    background = 300.0 + 40.0 * np.sin(2 * np.pi * t / 7000)  # neuropil / out-of-focus light
    own = 60.0  # the component's own resting fluorescence
    x = transients(n_frames, rng)
    component = own + (own + background) * x  # e.g. C + YrA of a CNMF component
    dff = detrend_dff(component[None], fps=FPS, background=background[None])[0]
    assert np.abs(dff - x).max() < 0.05 * x.max()  # the background's drift within a 30 s window
    without = detrend_dff(component[None], fps=FPS)[0]
    assert without.max() > 4 * x.max()


def test_baseline_is_that_of_the_whole_light_when_the_trace_and_background_move_apart():
    # Another tool's modelled calcium C against the movie under its footprint: the movie shows the cell at half
    # the model's amplitude, so movie - C (the background) dips while the cell is active. The cell is active
    # half of the time: the 8th percentiles of C and of movie - C are both ~0 and do not add up to the light
    # under the footprint at rest, 5 (the old F0, clipped at the noise, gave dF/F ~ 10 / noise).
    rng = np.random.default_rng(11)
    n_frames = 3000
    active = (np.arange(n_frames) // 150) % 2 == 1
    calcium = 10.0 * active
    movie = 5.0 + 0.5 * calcium + 0.05 * rng.normal(size=n_frames)
    dff = detrend_dff(calcium[None], fps=FPS, background=(movie - calcium)[None])[0]
    assert np.percentile(dff[active], 50) == pytest.approx(10.0 / 5.0, rel=0.05)
    assert np.abs(dff[~active]).max() < 0.05


def test_baseline_at_zero_is_clipped_at_the_noise():
    rng = np.random.default_rng(5)
    x = transients(6000, rng)
    sigma = 0.05
    traces = np.stack([x + sigma * rng.normal(size=x.size), np.zeros(x.size), np.full(x.size, 5.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dff = detrend_dff(traces, fps=FPS)
    assert np.isfinite(dff).all()
    noise_units = dff[0].max() / (x.max() / sigma)  # dF/F of the first row is ~F / sigma
    assert 0.7 < noise_units < 1.5
    assert not dff[1].any() and not dff[2].any()


@pytest.mark.parametrize("window_s, n_frames", [(30.0, 100), (0.01, 100), (30.0, 3), (30.0, 4)])
def test_window_is_odd_at_least_three_and_at_most_the_trace(window_s, n_frames):
    trace = 100 + np.random.default_rng(6).normal(size=(1, n_frames))
    window = min(max(3, round(window_s * FPS)) | 1, n_frames if n_frames % 2 else n_frames - 1)
    baseline = running_percentile(trace, window=window, percentile=8).astype(np.float64)
    np.testing.assert_allclose(detrend_dff(trace, fps=FPS, window_s=window_s), (trace - baseline) / baseline, atol=1e-6)


def test_standardized_noise_of_white_noise_matches_theory():
    rng = np.random.default_rng(7)
    sigmas = np.array([0.01, 0.03, 0.1])
    dff = sigmas[:, None] * rng.normal(size=(3, 50000))
    for fps in (7.5, 30.0):
        nu = standardized_noise(dff, fps=fps)
        assert nu.dtype == np.float32 and nu.shape == (3,)
        theory = 100 * sigmas * np.sqrt(2) * 0.6745 / np.sqrt(fps)
        np.testing.assert_allclose(nu, theory, rtol=0.02)
    one = standardized_noise(dff[0], fps=30.0)
    assert isinstance(one, float) and one == pytest.approx(float(standardized_noise(dff, fps=30.0)[0]), rel=1e-6)


def test_standardized_noise_ignores_slow_signal_and_sparse_events():
    rng = np.random.default_rng(8)
    n_frames = 30000
    noise = 0.02 * rng.normal(size=n_frames)
    signal = 0.5 * np.sin(2 * np.pi * np.arange(n_frames) / 3000) + transients(n_frames, rng)
    nu_noise = standardized_noise(noise, fps=FPS)
    assert standardized_noise(noise + signal, fps=FPS) == pytest.approx(nu_noise, rel=0.05)


def footprint_movie(rng, n_frames=23, height=12, width=15):
    """Two overlapping footprints with known traces on a uniform background: (footprints, traces, frames)."""
    yy, xx = np.mgrid[:height, :width]
    images = np.stack([np.exp(-((yy - 4) ** 2 + (xx - 5) ** 2) / 6.0), np.exp(-((yy - 7) ** 2 + (xx - 9) ** 2) / 4.0)])
    images[images < 0.05] = 0
    traces = rng.random((2, n_frames))
    frames = np.einsum("nyx,nt->tyx", images, traces) + 3.0
    return sparse.csc_array(images.reshape(2, -1).T), traces, frames


def test_movie_under_footprints_in_the_units_of_the_traces():
    footprints, traces, frames = footprint_movie(np.random.default_rng(12))
    dense = footprints.toarray()
    norms = (dense**2).sum(axis=0)
    overlap = (dense.T @ dense) / norms[:, None]  # share of each footprint's light under the other
    background = 3.0 * dense.sum(axis=0) / norms
    expected = overlap @ traces + background[:, None]
    for chunk in (None, 1, 7):
        under = movie_under_footprints(lambda a, b: frames[a:b], len(frames), footprints=footprints,
                                       chunk_frames=chunk)
        assert under.dtype == np.float32 and under.shape == traces.shape
        np.testing.assert_allclose(under, expected, rtol=1e-5)
    np.testing.assert_allclose(project_on_footprints(footprints, dense[:, :1] * 2.5)[:, 0], [2.5, overlap[1, 0] * 2.5],
                               rtol=1e-6)
    empty = sparse.csc_array((footprints.shape[0], 1), dtype=np.float32)
    assert not project_on_footprints(empty, frames.reshape(len(frames), -1).T).any()  # no weight, no light


def test_movie_under_footprints_checks_what_it_reads():
    footprints, _, frames = footprint_movie(np.random.default_rng(13))
    with pytest.raises(ValueError, match="read\\(0, 5\\) returned shape \\(5, 12, 14\\); expected \\(5, H, W\\)"):
        movie_under_footprints(lambda a, b: frames[a:b, :, :-1], len(frames), footprints=footprints, chunk_frames=5)
    with pytest.raises(ValueError, match="chunk_frames must be an integer >= 1"):
        movie_under_footprints(lambda a, b: frames[a:b], len(frames), footprints=footprints, chunk_frames=0)
    with pytest.raises(ValueError, match="pixels must be \\(180, K\\)"):
        project_on_footprints(footprints, np.ones((10, 2)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f: detrend_dff(np.where(f > f.max() - 1e-9, np.nan, f), fps=FPS), "fluorescence contains NaN"),
        (lambda f: detrend_dff(f[0], fps=FPS), "fluorescence must be a 2-D"),
        (lambda f: detrend_dff(f[:, :2], fps=FPS), "fluorescence must have at least 3 frames"),
        (lambda f: detrend_dff(f, fps=0), "fps must be a finite number > 0"),
        (lambda f: detrend_dff(f, fps=-30.0), "fps must be"),
        (lambda f: detrend_dff(f, fps=np.inf), "fps must be"),
        (lambda f: detrend_dff(f, fps=FPS, window_s=0), "window_s must be"),
        (lambda f: detrend_dff(f, fps=FPS, percentile=101), "percentile must be"),
        (lambda f: detrend_dff(f, fps=FPS, percentile=-1), "percentile must be"),
        (lambda f: detrend_dff(f, fps=FPS, background=f[:, :-1]), "background must have the shape"),
        (lambda f: detrend_dff(f, fps=FPS, background=f * np.inf), "background contains NaN or infinite"),
        (lambda f: running_percentile(f, window=0, percentile=8), "window must be an integer >= 1"),
        (lambda f: running_percentile(f, window=2.5, percentile=8), "window must be an integer"),
        (lambda f: running_percentile(f, window=5, percentile=200), "percentile must be"),
        (lambda f: running_percentile(f, window=5, percentile=8, knots_per_window=0), "knots_per_window must be"),
        (lambda f: running_percentile(f[None], window=5, percentile=8), "traces must be a 1-D"),
        (lambda f: running_percentile(np.array([[np.nan]]), window=1, percentile=8), "traces contains NaN"),
        (lambda f: standardized_noise(f, fps=0.0), "fps must be"),
        (lambda f: standardized_noise(f[:, :1], fps=FPS), "dff must have at least 2 frames"),
        (lambda f: standardized_noise(f + np.nan, fps=FPS), "dff contains NaN"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    fluorescence = 100 + np.random.default_rng(9).normal(size=(2, 50))
    with pytest.raises(ValueError, match=message):
        call(fluorescence)
