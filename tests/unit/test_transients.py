"""Transient detection against simulated dF/F traces with known spikes.

Ground truth and matching rule:

- SNR is the peak dF/F of one spike's transient over the standard deviation of the added white noise
  (`simulate_traces` draws peaks uniformly in [1, 1.5] and noise sd 1 / snr, so every transient has at
  least that SNR).
- Spikes closer than RESOLVE_S (0.5 s, about one decay time constant and the smoothing window) to the
  previous spike cannot be told apart: they form one true transient spanning first..last spike.
- A detected transient matches a true one when its onset lies within TOLERANCE_S (0.2 s, 4 frames at
  20 fps) of the span [first - tol, last + tol]; a true transient matches at most one detection.
  recall = matched true / all true; precision = matched detections / all detections
  (`element_calcium.simulate.score_transients`).
"""

import numpy as np
import pandas as pd
import pytest

from element_calcium.compute.dff import standardized_noise
from element_calcium.compute.events import (
    STATISTICS_COLUMNS,
    TRANSIENT_COLUMNS,
    detect_transients,
    transient_statistics,
)
from element_calcium.compute.params import TransientParams
from element_calcium.simulate import score_transients, simulate_traces, true_transients

FPS = 20.0
RESOLVE_S = 0.5
TOLERANCE_S = 0.2
DURATION_S = 1200.0


@pytest.fixture(scope="module", params=[3.0, 5.0, 10.0], ids=lambda snr: f"snr{snr:g}")
def detected(request):
    sim = simulate_traces(n_cells=40, n_frames=int(DURATION_S * FPS), fps=FPS, rate_hz=0.2, snr=request.param, seed=11)
    return sim, detect_transients(sim.dff, fps=FPS)


def test_recall_and_precision_at_snr_3_and_above(detected):
    sim, table = detected
    counts = score_transients(sim, table, resolve_s=RESOLVE_S, tolerance_s=TOLERANCE_S)
    assert counts["true"] > 8000
    assert counts["recall"] >= 0.90, counts
    assert counts["precision"] >= 0.90, counts


def test_onsets_sit_on_the_spikes(detected):
    sim, table = detected
    errors = []
    for cell in range(sim.dff.shape[0]):
        spikes = sim.spike_frames(cell)
        onsets = table.loc[table["cell"] == cell, "onset"].to_numpy()
        nearest = np.clip(np.searchsorted(spikes, onsets), 1, spikes.size - 1)
        errors.append(np.minimum(np.abs(onsets - spikes[nearest - 1]), np.abs(onsets - spikes[nearest])))
    errors = np.concatenate(errors)
    assert np.median(errors) <= 1
    assert np.mean(errors <= 2) > 0.85


def test_rates_and_intervals_match_the_truth(detected):
    sim, table = detected
    stats = transient_statistics(sim.dff, table, fps=FPS)
    true_counts, true_gaps = [], []
    for cell in range(sim.dff.shape[0]):
        firsts, _ = true_transients(sim.spike_frames(cell), fps=FPS, resolve_s=RESOLVE_S)
        true_counts.append(firsts.size)
        true_gaps.append(np.diff(firsts).mean() / FPS)
    true_rate = np.asarray(true_counts) / DURATION_S
    assert stats["rate_hz"].mean() == pytest.approx(true_rate.mean(), rel=0.05)
    assert stats["mean_iei_s"].mean() == pytest.approx(np.mean(true_gaps), rel=0.05)
    assert np.median(np.abs(stats["rate_hz"] / true_rate - 1)) < 0.05


def test_amplitudes_of_isolated_transients(detected):
    sim, table = detected
    ratios = []  # (amplitude, peak_dff) over the true peak
    for cell in range(sim.dff.shape[0]):
        spikes = sim.spike_frames(cell)
        gaps = np.diff(np.concatenate(([-10**6], spikes, [10**9])))
        isolated = spikes[(gaps[:-1] > 3 * FPS) & (gaps[1:] > 3 * FPS)]
        rows = table[table["cell"] == cell]
        onsets = rows["onset"].to_numpy()
        for spike in isolated:
            hit = np.flatnonzero(np.abs(onsets - spike) <= 2)
            if hit.size:
                ratios.append(rows[["amplitude", "peak_dff"]].to_numpy()[hit[0]] / sim.spikes[cell, spike])
    assert len(ratios) > 1000
    amplitude, peak = np.median(ratios, axis=0)
    assert 0.95 < amplitude < 1.15  # at low SNR, detected transients lean towards noise that helped them
    assert 1.0 < peak < 1.0 + 3 * float(np.mean(sim.noise))  # the raw maximum (CalTrig) rides on the noise
    largest = [sim.dff[row.cell, row.start : row.end + 1].max() for row in table.itertuples()]
    np.testing.assert_allclose(table["peak_dff"], largest, rtol=1e-6)


def test_columns_order_and_types(detected):
    sim, table = detected
    assert tuple(table.columns) == TRANSIENT_COLUMNS
    for column in ("cell", "start", "onset", "peak", "end"):
        assert table[column].dtype == np.int64
    assert (table["start"] <= table["onset"]).all() and (table["onset"] <= table["peak"]).all()
    assert (table["peak"] <= table["end"]).all() and (table["end"] < sim.dff.shape[1]).all()
    assert table[["cell", "onset"]].apply(tuple, axis=1).is_monotonic_increasing
    assert np.allclose(table["rise_s"], (table["peak"] - table["start"]) / FPS)
    assert np.allclose(table["decay_s"], (table["end"] - table["peak"]) / FPS)
    assert (table["snr"] >= TransientParams().min_snr).all() and (table["area"] > 0).all()


@pytest.mark.parametrize("statistic", ["median", "mean"])
def test_noise_estimate_is_the_noise_standard_deviation(statistic):
    sim = simulate_traces(n_cells=20, n_frames=12000, fps=FPS, rate_hz=0.2, snr=5.0, seed=3)
    table = detect_transients(sim.dff, fps=FPS, params=TransientParams(noise_statistic=statistic))
    stats = transient_statistics(sim.dff, table, fps=FPS, params=TransientParams(noise_statistic=statistic))
    assert np.allclose(stats["noise"], sim.noise, rtol=0.08)


def test_max_noise_is_an_envelope_and_detects_fewer():
    sim = simulate_traces(n_cells=10, n_frames=6000, fps=FPS, rate_hz=0.2, snr=5.0, seed=4)
    median = detect_transients(sim.dff, fps=FPS)
    envelope = detect_transients(sim.dff, fps=FPS, params=TransientParams(noise_statistic="max"))
    stats = transient_statistics(sim.dff, envelope, fps=FPS, params=TransientParams(noise_statistic="max"))
    assert (stats["noise"] > 2 * sim.noise).all()
    assert len(envelope) < len(median)


def test_statistics_include_silent_cells_and_reuse_standardized_noise():
    sim = simulate_traces(n_cells=3, n_frames=6000, fps=FPS, rate_hz=0.3, snr=8.0, seed=5)
    dff = np.vstack([sim.dff, np.zeros((1, 6000), np.float32)])
    table = detect_transients(dff, fps=FPS)
    stats = transient_statistics(dff, table, fps=FPS)
    assert tuple(stats.columns) == STATISTICS_COLUMNS and list(stats["cell"]) == [0, 1, 2, 3]
    silent = stats.iloc[3]
    assert silent["n_transients"] == 0 and silent["rate_hz"] == 0
    assert np.isnan(silent["mean_iei_s"]) and np.isnan(silent["mean_peak_dff"])
    assert silent["snr"] == 0 and (stats["snr"][:3] > 8).all()  # finite (CalTrig): no signal over the floor
    np.testing.assert_allclose(stats["standardized_noise"], standardized_noise(dff, fps=FPS), rtol=1e-6)
    mad = np.median(np.abs(dff - np.median(dff, axis=1, keepdims=True)), axis=1) / 0.6745  # CalTrig's get_mad
    np.testing.assert_allclose(stats["mad"], mad, rtol=1e-6)
    counts = table.groupby("cell").size()
    assert list(stats["n_transients"][:3]) == list(counts)


def test_pure_noise_gives_few_transients():
    rng = np.random.default_rng(6)
    noise = 0.1 * rng.standard_normal((20, 12000)).astype(np.float32)
    table = detect_transients(noise, fps=FPS)
    assert len(table) / (20 * 12000 / FPS) < 0.02  # false transients per cell-second


def test_constant_and_empty_inputs():
    assert detect_transients(np.ones((2, 100)), fps=FPS).empty
    empty = detect_transients(np.zeros((0, 100)), fps=FPS)
    assert empty.empty and tuple(empty.columns) == TRANSIENT_COLUMNS
    assert transient_statistics(np.zeros((0, 100)), empty, fps=FPS).empty


def test_noise_free_transient_is_measured():
    trace = np.zeros(400)
    trace[100:] = np.exp(-np.arange(300) / 10.0)  # instant rise at frame 100, decay 10 frames
    table = detect_transients(trace[None], fps=FPS)
    assert len(table) == 1
    row = table.iloc[0]
    assert abs(row["onset"] - 100) <= 2 and 100 <= row["peak"] <= 104
    assert 0.8 < row["peak_dff"] <= 1.0 and 0.8 < row["amplitude"] <= 1.0
    assert 110 <= row["end"] <= 130  # back to 20 % of the amplitude: 10 ln 5 = 16 frames after the rise
    assert row["area"] == pytest.approx(np.exp(-np.arange(300) / 10.0).sum() / FPS, rel=0.25)


def sparse_calcium(n_frames=2400, transients=((1000, 10.0), (1800, 0.5))):
    """Noise-free calcium, exactly 0 outside decays of 10 frames: the flat zero stretches of minian's C."""
    trace = np.zeros(n_frames)
    for frame, amplitude in transients:
        trace[frame:] += amplitude * np.exp(-np.arange(n_frames - frame) / 10.0)
    return trace.astype(np.float32)


def test_zero_stretches_give_finite_snr_independent_of_the_units():
    trace = sparse_calcium()
    table = detect_transients(trace[None], fps=FPS)
    assert list(table["peak"] // 100) == [10, 18]
    bound = 4e7  # the module notes: at most 2 c / eps, c <= 2
    assert np.isfinite(table["snr"]).all() and (table["snr"] <= bound).all()
    assert table["snr"].iloc[0] > 1e6  # noise-free: measured against the float32 resolution of the trace
    for scale in (1e-3, 1e4):  # the floor follows the trace's scale, so the SNR does not depend on units
        scaled = detect_transients(scale * trace[None], fps=FPS)
        np.testing.assert_allclose(scaled["snr"], table["snr"], rtol=1e-3)
        np.testing.assert_array_equal(scaled["peak"], table["peak"])
    stats = transient_statistics(trace[None], table, fps=FPS)
    assert np.isfinite(stats["snr"]).all() and 1e6 < stats["snr"][0] <= bound
    assert stats["noise"][0] == pytest.approx(10.0 * np.finfo(np.float32).eps, rel=1e-3)


def test_transients_of_bursting_noise_free_calcium():
    """The simulator's bursting cells: calcium exactly 0 for many seconds between bursts (minian's C)."""
    sim = simulate_traces(n_cells=8, n_frames=12000, fps=FPS, rate_hz=0.2, burst_fraction=1.0, seed=26)
    table = detect_transients(sim.calcium, fps=FPS)
    stats = transient_statistics(sim.calcium, table, fps=FPS)
    bound = 4e7  # the module notes
    assert np.isfinite(table["snr"]).all() and table["snr"].max() <= bound
    assert np.isfinite(stats["snr"]).all() and stats["snr"].max() <= bound
    counts = score_transients(sim, table, resolve_s=RESOLVE_S, tolerance_s=TOLERANCE_S)
    assert counts["recall"] >= 0.9 and counts["precision"] >= 0.9, counts


@pytest.mark.parametrize(
    "dff, fps, params, message",
    [
        (np.zeros(100), FPS, {}, "dff must be a 2-D"),
        (np.full((1, 100), np.nan), FPS, {}, "dff contains NaN"),
        (np.zeros((1, 5)), FPS, {}, "dff must have at least 11 frames"),
        (np.zeros((1, 100)), 0.0, {}, "fps must be"),
        (np.zeros((1, 100)), FPS, {"min_snr": -1}, "params transients.min_snr"),
        (np.zeros((1, 100)), FPS, {"noise_statistic": "std"}, "params transients.noise_statistic"),
    ],
)
def test_bad_input(dff, fps, params, message):
    with pytest.raises(ValueError, match=message):
        detect_transients(dff, fps=fps, params=TransientParams(**params))


def test_statistics_reject_foreign_tables():
    with pytest.raises(ValueError, match="transients.cell must be in"):
        transient_statistics(np.zeros((2, 100)), pd.DataFrame({"cell": [2], "onset": [1], "peak": [1],
                                                                 "peak_dff": [1.0], "amplitude": [1.0]}), fps=FPS)
    with pytest.raises(ValueError, match="lacks column"):
        transient_statistics(np.zeros((2, 100)), pd.DataFrame({"cell": [0]}), fps=FPS)
