"""CalSciPy's signal and movie helpers and astroCAST's Delta bleach correction, checked on inputs whose right
answer follows from the tool's rule."""

import numpy as np
import pytest
import scipy.ndimage

from element_calcium.compute import signal


def calscipy_perona_malik(trace, *, iterations=25, kappa=0.15, gamma=0.25, sigma=0.0):
    """CalSciPy's loop for one trace, written out: flux d exp(-(d/K)^2), x_t += gamma (f_t - f_{t-1})."""
    smoothed = np.asarray(trace, dtype=np.float64).copy()
    edge = kappa * (smoothed.max() - smoothed.min())
    for _ in range(iterations):
        derivative = np.zeros_like(smoothed)
        derivative[:-1] = np.diff(smoothed)
        if sigma > 0:
            derivative = scipy.ndimage.gaussian_filter1d(derivative, sigma)
        flux = derivative * np.exp(-((derivative / edge) ** 2))
        diffusion = flux.copy()
        diffusion[1:] -= flux[:-1]
        smoothed += gamma * diffusion
    return smoothed


def astrocast_delta_background(trace, window):
    """astroCAST's background of one pixel: max(min of the window ending at t, min of the window after t)."""
    padded = np.pad(trace, window, mode="edge")
    return np.array([max(padded[t + 1 : t + window + 1].min(), padded[t + window + 1 : t + 2 * window + 1].min())
                     for t in range(len(trace))])


# Polynomial detrend


def test_detrend_leaves_the_noise_of_a_fourth_order_polynomial():
    rng = np.random.default_rng(0)
    time = np.arange(2000)
    noise = 0.1 * rng.standard_normal((3, 2000))
    drift = np.stack([np.polyval(coefficients, time / 2000) for coefficients in rng.uniform(-5, 5, (3, 5))])
    detrended = signal.detrend_polynomial(100 + drift + noise)
    assert detrended.dtype == np.float32 and detrended.shape == (3, 2000)
    # The fit is linear: the polynomial goes whole, the noise less its own (small) quartic fit stays.
    noise_fit = np.stack([np.polyval(np.polyfit(time, row, deg=4), time) for row in noise])
    np.testing.assert_allclose(detrended, noise - noise_fit, atol=1e-3)
    assert np.sqrt(np.mean((detrended - noise) ** 2)) < 0.01


def test_detrend_equals_calscipys_polyfit_rule():
    rng = np.random.default_rng(1)
    trace = rng.standard_normal(300).cumsum()
    time = np.arange(300)
    expected = trace - np.polyval(np.polyfit(time, trace, deg=4), time)
    np.testing.assert_allclose(signal.detrend_polynomial(trace), expected, atol=1e-4)
    np.testing.assert_allclose(signal.detrend_polynomial(trace, order=0), trace - trace.mean(), atol=1e-4)


# Perona-Malik diffusion


def test_perona_malik_keeps_a_step_and_smooths_the_noise(device):
    rng = np.random.default_rng(2)
    step = np.r_[np.zeros(200), np.ones(200)]
    noisy = step + 0.03 * rng.standard_normal(400)
    smoothed = signal.perona_malik_diffusion(noisy, device=device)
    assert smoothed.dtype == np.float32
    assert smoothed[195:200].max() < 0.1 and smoothed[200:205].min() > 0.9  # the edge stays one frame wide
    flat = np.r_[20:190, 210:390]
    assert np.std(smoothed[flat] - step[flat]) < 0.5 * np.std(noisy[flat] - step[flat])
    assert smoothed.sum() == pytest.approx(noisy.sum(), rel=1e-5)


def test_perona_malik_equals_calscipys_rule_per_trace_and_per_pixel(device):
    rng = np.random.default_rng(3)
    traces = rng.standard_normal((4, 150)).cumsum(axis=1)
    expected = np.stack([calscipy_perona_malik(trace, iterations=10, kappa=0.2) for trace in traces])
    smoothed = signal.perona_malik_diffusion(traces, iterations=10, kappa=0.2, device=device)
    np.testing.assert_allclose(smoothed, expected, atol=1e-3)
    movie = traces.T.reshape(150, 2, 2)
    per_pixel = signal.perona_malik_diffusion(movie, iterations=10, kappa=0.2, axis=0, device=device)
    np.testing.assert_allclose(per_pixel.reshape(150, 4).T, expected, atol=1e-3)
    constant = np.full((2, 50), 3.0)
    np.testing.assert_array_equal(signal.perona_malik_diffusion(constant, device=device), constant)


def test_perona_malik_sigma_smooths_the_differences_first(device):
    rng = np.random.default_rng(4)
    noisy = np.r_[np.zeros(100), np.ones(100)] + 0.05 * rng.standard_normal(200)
    with_sigma = signal.perona_malik_diffusion(noisy, sigma=2.0, device=device)
    np.testing.assert_allclose(with_sigma, calscipy_perona_malik(noisy, sigma=2.0), atol=1e-4)
    assert not np.allclose(with_sigma, signal.perona_malik_diffusion(noisy, device=device))


# Blockwise median and Gaussian filters


@pytest.mark.parametrize("block_frames", [1, 4, 7, 64])
def test_blockwise_filters_equal_scipy_on_the_whole_movie(device, block_frames):
    movie = np.random.default_rng(5).random((23, 12, 10)).astype(np.float32)
    median = signal.median_filter(movie, window=(4, 3, 5), block_frames=block_frames, device=device)
    np.testing.assert_allclose(median, scipy.ndimage.median_filter(movie, size=(4, 3, 5)), atol=1e-6)
    gaussian = signal.gaussian_filter(movie, sigma=(1.5, 1.0, 0.0), block_frames=block_frames, device=device)
    np.testing.assert_allclose(gaussian, scipy.ndimage.gaussian_filter(movie, sigma=(1.5, 1.0, 0.0)), atol=1e-5)
    assert median.dtype == gaussian.dtype == np.float32


def test_blockwise_filters_write_into_out_and_read_integer_pixels():
    movie = np.random.default_rng(6).integers(0, 4000, (30, 8, 8)).astype(np.uint16)
    out = np.zeros(movie.shape, dtype=np.float32)
    returned = signal.gaussian_filter(movie, sigma=2.0, block_frames=5, device="cpu", out=out)
    assert returned is out
    expected = scipy.ndimage.gaussian_filter(movie.astype(np.float32), sigma=2.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-2)
    median = signal.median_filter(movie, window=3, block_frames=4, device="cpu")
    np.testing.assert_array_equal(median, scipy.ndimage.median_filter(movie, size=3).astype(np.float32))


# convert_tau


def test_convert_tau_is_calscipys_continuous_time_constant():
    assert signal.convert_tau(0.9, dt=0.1) == pytest.approx(-0.1 / np.log(0.9))
    assert signal.convert_tau(np.exp(-1 / 30), dt=1 / 30) == pytest.approx(1.0)
    assert signal.convert_tau(-0.2, dt=0.1) == 0.0  # a non-positive root forgets at once, as in CalSciPy
    assert signal.convert_tau(0.0, dt=0.1) == 0.0


def test_convert_tau_round_trips_ar1_and_ar2():
    assert signal.ar_coefficients_from_tau(signal.convert_tau(0.95, dt=0.05), dt=0.05) == pytest.approx(0.95)
    decay, rise = 0.9, 0.5
    g = (decay + rise, -decay * rise)
    time_constants = signal.convert_tau(g, dt=0.1)
    np.testing.assert_allclose(time_constants, [-0.1 / np.log(decay), -0.1 / np.log(rise)])
    np.testing.assert_allclose(signal.ar_coefficients_from_tau(time_constants, dt=0.1), g)
    np.testing.assert_allclose(signal.convert_tau(signal.ar_coefficients_from_tau([2.0, 0.1], dt=0.05), dt=0.05),
                               [2.0, 0.1])
    assert signal.ar_coefficients_from_tau(0.0, dt=0.1) == 0.0
    np.testing.assert_allclose(signal.convert_tau((1.6, -0.64), dt=0.1), [-0.1 / np.log(0.8)] * 2, rtol=1e-6)


# bin_data


def test_bin_data_sums_and_means_consecutive_samples_with_a_remainder_bin():
    data = np.arange(10, dtype=float)
    np.testing.assert_array_equal(signal.bin_data(data, bin_length=3, reduction="sum"), [3, 12, 21, 9])
    np.testing.assert_array_equal(signal.bin_data(data, bin_length=5, reduction="mean"), [2, 7])
    cells = np.stack([data, 10 * data], axis=1)  # CalSciPy's layout: rows are samples, columns cells
    np.testing.assert_array_equal(signal.bin_data(cells, bin_length=4, reduction="max"), [[3, 30], [7, 70], [9, 90]])
    np.testing.assert_array_equal(signal.bin_data(cells.T, bin_length=4, reduction="min", axis=1),
                                  [[0, 4, 8], [0, 40, 80]])
    np.testing.assert_allclose(signal.bin_data(data, bin_length=4, reduction="std"),
                               [np.std([0, 1, 2, 3], ddof=1), np.std([4, 5, 6, 7], ddof=1), np.std([8, 9], ddof=1)])


def test_bin_data_takes_any_reduction_function():
    data = np.arange(12, dtype=float).reshape(6, 2) ** 2
    binned = signal.bin_data(data, bin_length=2, reduction=np.ptp)
    np.testing.assert_array_equal(binned, [[4, 8], [20, 24], [36, 40]])
    with pytest.raises(ValueError, match="reduction"):
        signal.bin_data(data, bin_length=2, reduction=lambda block, axis: block.ravel())


# merge_factorized_matrices


def test_merge_factorized_matrices_joins_each_cells_chunks_of_a_component():
    rng = np.random.default_rng(7)
    lengths = (5, 3, 4)
    full = rng.random((3, 2, sum(lengths)))  # (components, cells, frames)
    bounds = np.cumsum((0, *lengths))
    factorized = [[full[:, cell, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])] for cell in range(2)]
    np.testing.assert_allclose(signal.merge_factorized_matrices(factorized), full[0], rtol=1e-6)
    np.testing.assert_allclose(signal.merge_factorized_matrices(factorized, components=2), full[2], rtol=1e-6)
    both = signal.merge_factorized_matrices(factorized, components=[2, 0])
    assert both.shape == (2, 2, 12) and both.dtype == np.float32
    np.testing.assert_allclose(both, full[[2, 0]], rtol=1e-6)
    as_object_array = np.empty((2, 3), dtype=object)
    for cell in range(2):
        for chunk in range(3):
            as_object_array[cell, chunk] = factorized[cell][chunk]
    np.testing.assert_allclose(signal.merge_factorized_matrices(as_object_array, components=1), full[1], rtol=1e-6)


# collect_waveforms


def test_collect_waveforms_cuts_each_cells_trace_around_its_own_events():
    traces = np.stack([np.arange(20.0), 100 + np.arange(20.0)])
    first, second = signal.collect_waveforms(traces, [[5, 10], [1, 18]], frames_before=2, frames_after=3)
    np.testing.assert_array_equal(first, [[3, 4, 5, 6, 7, 8], [8, 9, 10, 11, 12, 13]])
    np.testing.assert_array_equal(second, [[np.nan, 100, 101, 102, 103, 104], [116, 117, 118, 119, np.nan, np.nan]])
    (none,) = signal.collect_waveforms(traces[:1], [[]], frames_before=1, frames_after=1)
    assert none.shape == (0, 3)


# Delta bleach correction


def test_delta_removes_bleaching_and_keeps_the_events(device):
    n_frames = 400
    time = np.arange(n_frames)
    bleaching = 100 * np.exp(-time / 2000)  # 0.05 per frame at most: the background lags it within an event
    events = np.zeros(n_frames)
    for start in (50, 180, 300):
        events[start : start + 10] = 20 * np.exp(-np.arange(10) / 3)
    movie = np.tile((bleaching + events)[:, None, None], (1, 3, 2)).astype(np.float32)
    corrected = signal.delta_bleach_correction(movie, window=20, device=device)
    assert corrected.shape == movie.shape and corrected.dtype == np.float32
    np.testing.assert_allclose(corrected[events == 0, 1, 1], 0.0, atol=1e-3)
    np.testing.assert_allclose(corrected[:, 1, 1], events, atol=0.6)
    relative = signal.delta_bleach_correction(movie, window=20, method="dFF", device=device)
    np.testing.assert_allclose(relative[:, 0, 0], events / bleaching, atol=0.01)


def test_delta_background_follows_astrocasts_rule(device):
    rng = np.random.default_rng(8)
    movie = (rng.random((60, 4, 3)) * 10 + 5).astype(np.float32)
    for window in (1, 4, 7):
        background = signal.delta_bleach_correction(movie, window=window, method="background",
                                                    overwrite_first_frame=False, device=device)
        expected = np.stack([astrocast_delta_background(movie[:, y, x], window)
                             for y in range(4) for x in range(3)], axis=1).reshape(60, 4, 3)
        np.testing.assert_array_equal(background, expected)
    corrected = signal.delta_bleach_correction(movie, window=4, device=device)
    np.testing.assert_array_equal(corrected[0], corrected[1])
    assert not np.array_equal(corrected[0], signal.delta_bleach_correction(
        movie, window=4, overwrite_first_frame=False, device=device)[0])


def test_delta_of_a_constant_movie_is_zero_and_a_zero_background_gives_nan():
    movie = np.full((10, 2, 2), 7.0)
    np.testing.assert_array_equal(signal.delta_bleach_correction(movie, window=3, device="cpu"), 0.0)
    zeros = signal.delta_bleach_correction(np.zeros((10, 2, 2)), window=3, method="dFF", device="cpu")
    assert np.isnan(zeros).all()


# Bad input


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: signal.detrend_polynomial(np.zeros((2, 3)), order=3), "order"),
        (lambda: signal.detrend_polynomial(np.zeros((2, 3, 4))), "traces"),
        (lambda: signal.perona_malik_diffusion(np.zeros(10), kappa=0), "kappa"),
        (lambda: signal.perona_malik_diffusion(np.zeros(10), gamma=1.5), "gamma"),
        (lambda: signal.perona_malik_diffusion(np.zeros(10), iterations=0), "iterations"),
        (lambda: signal.perona_malik_diffusion(np.zeros(10), sigma=-1), "sigma"),
        (lambda: signal.perona_malik_diffusion(np.zeros(10), axis=1), "axis"),
        (lambda: signal.perona_malik_diffusion([np.nan, 1.0]), "traces"),
        (lambda: signal.median_filter(np.zeros((4, 4)), device="cpu"), "movie"),
        (lambda: signal.median_filter(np.zeros((4, 4, 4)), window=(3, 3), device="cpu"), "window"),
        (lambda: signal.median_filter(np.zeros((4, 4, 4)), block_frames=0, device="cpu"), "block_frames"),
        (lambda: signal.gaussian_filter(np.zeros((4, 4, 4)), sigma=-1.0, device="cpu"), "sigma"),
        (lambda: signal.gaussian_filter(np.zeros((4, 4, 4)), truncate=0, device="cpu"), "truncate"),
        (lambda: signal.gaussian_filter(np.zeros((4, 4, 4)), out=np.zeros((4, 4)), device="cpu"), "out"),
        (lambda: signal.gaussian_filter(np.full((4, 4, 4), np.nan), device="cpu"), "movie"),
        (lambda: signal.median_filter(np.zeros((4, 4, 4)), device="gpu"), "device"),
        (lambda: signal.convert_tau(0.9, dt=0), "dt"),
        (lambda: signal.convert_tau(1.0, dt=0.1), "tau"),
        (lambda: signal.convert_tau((0.5, -0.5), dt=0.1), "tau"),
        (lambda: signal.convert_tau([], dt=0.1), "tau"),
        (lambda: signal.ar_coefficients_from_tau(-1.0, dt=0.1), "time_constants"),
        (lambda: signal.bin_data(np.zeros(5), bin_length=0), "bin_length"),
        (lambda: signal.bin_data(np.zeros(5), bin_length=2, reduction="mode"), "reduction"),
        (lambda: signal.bin_data(np.zeros(5), bin_length=2, axis=1), "axis"),
        (lambda: signal.bin_data(np.array(["a"]), bin_length=2), "data"),
        (lambda: signal.bin_data(np.zeros(5), bin_length=2, reduction=lambda block: block), "reduction"),
        (lambda: signal.merge_factorized_matrices([]), "factorized_traces"),
        (lambda: signal.merge_factorized_matrices([[np.zeros((2, 3))], [np.zeros((2, 4))]]), "factorized_traces"),
        (lambda: signal.merge_factorized_matrices([[np.zeros((2, 3))]], components=2), "components"),
        (lambda: signal.collect_waveforms(np.zeros((2, 5)), [[1]]), "event_frames"),
        (lambda: signal.collect_waveforms(np.zeros((1, 5)), [[5]]), "event_frames"),
        (lambda: signal.collect_waveforms(np.zeros((1, 5)), [[1]], frames_before=-1), "frames_before"),
        (lambda: signal.collect_waveforms(np.zeros(5), [[1]]), "traces"),
        (lambda: signal.delta_bleach_correction(np.zeros((5, 2, 2)), window=0), "window"),
        (lambda: signal.delta_bleach_correction(np.zeros((5, 2, 2)), window=2, method="dff"), "method"),
        (lambda: signal.delta_bleach_correction(np.zeros((1, 2, 2)), window=2), "movie"),
        (lambda: signal.delta_bleach_correction(np.zeros((5, 2)), window=2), "movie"),
    ],
)
def test_bad_input_raises_one_line_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument) as error:
        call()
    assert "\n" not in str(error.value)
