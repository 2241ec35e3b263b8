"""Manual transient corrections: transients measured at marked peaks, rejections, and the three merge modes."""

import numpy as np
import pandas as pd
import pytest

from element_calcium.compute.events import (
    TRANSIENT_COLUMNS,
    curate_transients,
    detect_transients,
    measure_transients,
)
from element_calcium.simulate import simulate_traces

FPS = 20.0


@pytest.fixture(scope="module")
def cell():
    """One cell at SNR 8, its spike frames, and the transients detected with the defaults."""
    sim = simulate_traces(n_cells=1, n_frames=6000, fps=FPS, rate_hz=0.1, snr=8.0, seed=4)
    detected = detect_transients(sim.dff, FPS)
    return sim.dff[0], sim.spike_frames(0), detected


def test_marked_peaks_are_measured_like_detected_ones(cell):
    dff, _, detected = cell
    chosen = detected.iloc[[2, 5, 9]]
    measured = measure_transients(dff, FPS, chosen["peak"].to_numpy() + np.array([2, -2, 1]))
    assert list(measured.columns) == list(TRANSIENT_COLUMNS)
    np.testing.assert_array_equal(measured["peak"], chosen["peak"])  # moved to the smoothed maximum
    np.testing.assert_allclose(measured["peak_dff"], chosen["peak_dff"], rtol=1e-6)
    assert (np.abs(measured["onset"].to_numpy() - chosen["onset"].to_numpy()) <= 2).all()
    assert (measured["start"] <= measured["onset"]).all() and (measured["onset"] <= measured["peak"]).all()
    assert (measured["peak"] <= measured["end"]).all() and (measured["amplitude"] > 0).all()


def test_a_missed_transient_marked_by_hand_lands_on_its_spike(cell):
    dff, spikes, _ = cell
    strict = detect_transients(dff[None, :], FPS, min_snr=30.0)  # a detector that misses most transients
    missed = [frame for frame in spikes if not ((strict["start"] <= frame) & (frame <= strict["end"])).any()]
    target = missed[len(missed) // 2]
    measured = measure_transients(dff, FPS, [target + 4])  # the curator clicks near the peak
    assert abs(int(measured["onset"].iloc[0]) - target) <= 2
    curated = curate_transients(strict, marked=measured)
    assert len(curated) == len(strict) + 1 and curated["added"].sum() == 1


def test_rejected_transients_are_removed(cell):
    _, _, detected = cell
    curated = curate_transients(detected, rejected=[0, 3])
    assert len(curated) == len(detected) - 2
    assert not curated["peak"].isin(detected.loc[[0, 3], "peak"]).any()
    assert not curated["added"].any()
    with pytest.raises(ValueError, match=r"rejected transient id\(s\) \[999\]"):
        curate_transients(detected, rejected=[999])


def test_merge_modes_differ_only_where_marked_and_detected_overlap():
    detected = pd.DataFrame({"start": [10, 50], "onset": [11, 51], "peak": [14, 54], "end": [30, 70]})
    marked = pd.DataFrame({"start": [25, 100], "onset": [26, 101], "peak": [28, 104], "end": [40, 120]})
    peaks = {mode: curate_transients(detected, marked=marked, mode=mode)["peak"].tolist()
             for mode in ("incoming_only", "overlapping", "all")}
    assert peaks == {"incoming_only": [14, 54, 104], "overlapping": [28, 54, 104], "all": [14, 28, 54, 104]}
    same_peak = pd.DataFrame({"start": [12], "onset": [13], "peak": [14], "end": [28]})
    assert curate_transients(detected, marked=same_peak, mode="all")["peak"].tolist() == [14, 54]
    with pytest.raises(ValueError, match="mode must be one of"):
        curate_transients(detected, marked=marked, mode="accept")


def test_marked_peak_outside_the_trace_is_refused(cell):
    dff, _, _ = cell
    with pytest.raises(ValueError, match=r"peaks must be frames in \[0, 6000\)"):
        measure_transients(dff, FPS, [6000])
