"""Manual transient corrections: transients measured at marked peaks, rejections, and the three merge modes."""

import numpy as np
import pandas as pd
import pytest

from element_calcium.compute.events import (
    TRANSIENT_COLUMNS,
    curate_transients,
    detect_transients,
    measure_transients,
    merge_event_masks,
)
from element_calcium.compute.params import TransientParams
from element_calcium.simulate import simulate_traces

FPS = 20.0


@pytest.fixture(scope="module")
def cell():
    """One cell at SNR 8, its spike frames, and the transients detected with the defaults."""
    sim = simulate_traces(n_cells=1, n_frames=6000, fps=FPS, rate_hz=0.1, snr=8.0, seed=4)
    detected = detect_transients(sim.dff, fps=FPS)
    return sim.dff[0], sim.spike_frames(0), detected


def test_marked_peaks_are_measured_like_detected_ones(cell):
    dff, _, detected = cell
    chosen = detected.iloc[[2, 5, 9]]
    measured = measure_transients(dff, chosen["peak"].to_numpy() + np.array([2, -2, 1]), fps=FPS)
    assert list(measured.columns) == list(TRANSIENT_COLUMNS)
    np.testing.assert_array_equal(measured["peak"], chosen["peak"])  # moved to the smoothed maximum
    np.testing.assert_allclose(measured["peak_dff"], chosen["peak_dff"], rtol=1e-6)
    assert (np.abs(measured["onset"].to_numpy() - chosen["onset"].to_numpy()) <= 2).all()
    assert (measured["start"] <= measured["onset"]).all() and (measured["onset"] <= measured["peak"]).all()
    assert (measured["peak"] <= measured["end"]).all() and (measured["amplitude"] > 0).all()


def test_a_missed_transient_marked_by_hand_lands_on_its_spike(cell):
    dff, spikes, _ = cell
    # a detector that misses most transients
    strict = detect_transients(dff[None, :], fps=FPS, params=TransientParams(min_snr=30.0))
    missed = [frame for frame in spikes if not ((strict["start"] <= frame) & (frame <= strict["end"])).any()]
    target = missed[len(missed) // 2]
    measured = measure_transients(dff, [target + 4], fps=FPS)  # the curator clicks near the peak
    assert abs(int(measured["onset"].iloc[0]) - target) <= 2
    curated = curate_transients(strict, marked=measured, mode="all")
    assert len(curated) == len(strict) + 1 and curated["added"].sum() == 1


def test_rejected_transients_are_removed(cell):
    _, _, detected = cell
    curated = curate_transients(detected, rejected=[0, 3])
    assert len(curated) == len(detected) - 2
    assert not curated["peak"].isin(detected.loc[[0, 3], "peak"]).any()
    assert not curated["added"].any()
    with pytest.raises(ValueError, match=r"rejected transient id\(s\) \[999\]"):
        curate_transients(detected, rejected=[999])


def test_merge_modes_follow_caltrig_confirmation():
    """CalTrig's update_and_save_E: Incoming Only sets E to the picks, Overlapping Only to picks AND E, All to
    picks OR E. Detected [10..30], [50..70]; picks [25..40] (overlaps the first), [100..120] (overlaps none)."""
    detected = pd.DataFrame({"start": [10, 50], "onset": [11, 51], "peak": [14, 54], "end": [30, 70]})
    marked = pd.DataFrame({"start": [25, 100], "onset": [26, 101], "peak": [28, 104], "end": [40, 120]})
    peaks = {mode: curate_transients(detected, marked=marked, mode=mode)["peak"].tolist()
             for mode in ("incoming_only", "overlapping", "all")}
    assert peaks == {"incoming_only": [28, 104], "overlapping": [28], "all": [14, 54, 104]}
    added = curate_transients(detected, marked=marked, mode="all")["added"].tolist()
    assert added == [False, False, True]
    after_rejection = curate_transients(detected, rejected=[0], marked=marked, mode="overlapping")
    assert after_rejection.empty  # the pick overlapped only the rejected transient
    assert curate_transients(detected, rejected=[1], marked=marked.iloc[:0])["peak"].tolist() == [14]
    with pytest.raises(ValueError, match="mode must be one of"):
        curate_transients(detected, marked=marked, mode="accept")


def test_event_masks_merge_frame_by_frame_as_caltrig():
    existing = np.zeros(12, np.uint8)
    existing[2:5] = 1
    existing[8:10] = 1
    incoming = np.zeros(12, np.uint8)
    incoming[4:7] = 1
    assert np.flatnonzero(merge_event_masks(existing, incoming, "incoming_only")).tolist() == [4, 5, 6]
    assert np.flatnonzero(merge_event_masks(existing, incoming, "overlapping")).tolist() == [4]
    assert np.flatnonzero(merge_event_masks(existing, incoming, "all")).tolist() == [2, 3, 4, 5, 6, 8, 9]
    with pytest.raises(ValueError, match=r"existing has shape \(12,\) but incoming has shape \(3,\)"):
        merge_event_masks(existing, incoming[:3])


def test_marked_peak_outside_the_trace_is_refused(cell):
    dff, _, _ = cell
    with pytest.raises(ValueError, match=r"peaks must be frames in \[0, 6000\)"):
        measure_transients(dff, [6000], fps=FPS)
