"""Peri-event windows of the transient raster (CalTrig's E) as a PeriEventWindow source, on simulated cells that
fire a known lag after each behaviour event; and the parameter-set hash of the sets made before the option."""

import numpy as np
import pytest

from element_calcium import paramsets, stages
from element_calcium.compute.events import peri_event_windows, transient_raster
from element_calcium.compute.params import default_step_params
from element_calcium.simulate import simulate_traces
from element_calcium.stages.peri_event import PeriEventInputs
from element_calcium.stages.transients import TraceInputs

FPS = 20.0
LAG_S = 0.5
LOCKED = [0, 1]
COLUMNS = ("mask_id", "start_frame", "onset_frame", "peak_frame", "end_frame")


@pytest.fixture(scope="module")
def recording():
    """40 events 5-12 s apart; cells 0 and 1 fire LAG_S after each (jitter 0.05 s), cells 2..11 at random."""
    rng = np.random.default_rng(7)
    times = np.cumsum(rng.uniform(5.0, 12.0, 40)) + 5.0
    n_frames = int((times[-1] + 10.0) * FPS)
    sim = simulate_traces(n_cells=12, n_frames=n_frames, fps=FPS, rate_hz=0.1, snr=4.0, event_times=times,
                          locked_cells=LOCKED, lag_s=LAG_S, jitter_s=0.05, seed=8)
    mask_ids = np.arange(12, dtype=np.int64) * 3 + 5  # ids that are not row numbers
    detected = stages.run("Transients", TraceInputs(mask_ids=mask_ids, traces=sim.dff, fps=FPS,
                                                    frame_times=sim.timestamps,
                                                    params=default_step_params("transients")))
    stored = {name: np.array([row[name] for row in detected.parts["Transient"]], np.int64) for name in COLUMNS}
    return sim, times, mask_ids, stored


def peri_event(recording, **params):
    sim, times, mask_ids, stored = recording
    settings = {**default_step_params("peri_event"), "pre_s": 2.0, "post_s": 3.0, "alternative": "greater",
                "n_shuffles": 200, **params}
    traces = TraceInputs(mask_ids=mask_ids, traces=sim.dff, fps=FPS, frame_times=sim.timestamps, params=settings)
    return stages.run("PeriEventWindow", PeriEventInputs(traces=traces, event_times=times,
                                                         transients=None if params.get("source") is None
                                                         else stored))


def test_onset_raster_windows_show_the_events_at_their_lag(recording):
    rows = peri_event(recording, source="transients", raster_frames="onset")
    windows, lags = rows.master["windows"], rows.master["sample_times"]
    assert windows.shape == (40, 12, len(lags)) and set(np.unique(windows)) <= {0.0, 1.0}
    probability = windows.mean(axis=0)  # each cell's event probability per frame around the events
    around_lag = np.abs(lags - LAG_S) <= 0.2  # the smoothing moves an onset a frame or two
    for cell in LOCKED:
        assert probability[cell, around_lag].sum() >= 0.8  # an onset near the lag after most events
        assert abs(lags[probability[cell].argmax()] - LAG_S) <= 0.2
        assert probability[cell, lags < 0].max() <= 0.1
    assert probability[2:].max() <= 0.15  # the other cells: onsets at their background rate
    responses = {row["mask_id"]: row for row in rows.parts["CellResponse"]}
    mask_ids = recording[2]
    for cell in range(12):
        p_value = responses[int(mask_ids[cell])]["p_value"]
        assert (p_value <= 0.01) if cell in LOCKED else (p_value > 0.01)


def test_span_raster_is_one_over_each_transient_and_marks_the_lag(recording):
    sim, times, mask_ids, stored = recording
    rows = peri_event(recording, source="transients")  # raster_frames "span": CalTrig's E
    probability = rows.master["windows"].mean(axis=0)
    lags = rows.master["sample_times"]
    for cell in LOCKED:
        assert probability[cell, np.argmin(np.abs(lags - (LAG_S + 0.1)))] >= 0.8  # inside the locked transient
    raster = transient_raster(np.searchsorted(mask_ids, stored["mask_id"]), stored["start_frame"],
                              stored["end_frame"], n_cells=12, n_frames=sim.dff.shape[1])
    expected = peri_event_windows(raster, times, sim.timestamps, raster=True,
                                  params=stages.PARAMETERS["peri_event"](pre_s=2.0, post_s=3.0))
    np.testing.assert_array_equal(rows.master["windows"], expected.windows)
    covered = {(int(cell), frame) for cell, start, end in zip(stored["mask_id"], stored["start_frame"],
                                                               stored["end_frame"]) for frame in range(start, end + 1)}
    marked = {(int(mask_ids[cell]), int(frame)) for cell, frame in zip(*np.nonzero(raster))}
    assert marked == covered  # 1 exactly on the frames start..end of some transient


def test_resampled_raster_counts_the_onsets_per_bin(recording):
    sim, times, mask_ids, stored = recording
    rows = peri_event(recording, source="transients", raster_frames="onset", resample_ms=250.0)
    counts, lags = rows.master["windows"], rows.master["sample_times"]
    onset_times = sim.timestamps[stored["onset_frame"]]
    for cell in LOCKED:
        mine = onset_times[stored["mask_id"] == mask_ids[cell]]
        low = times[:, None] + lags[None, :] - 0.125  # each sample: the onsets in its 250 ms interval
        expected = ((mine[None, None, :] >= low[..., None]) & (mine[None, None, :] < low[..., None] + 0.25)).sum(-1)
        np.testing.assert_array_equal(counts[:, cell], expected)
    assert counts[:, LOCKED, np.argmin(np.abs(lags - LAG_S))].mean() >= 0.7  # most events: an onset in that bin


def test_the_trace_source_windows_the_trace_as_before(recording):
    sim, times, _, _ = recording
    rows = peri_event(recording)
    expected = peri_event_windows(sim.dff, times, sim.timestamps,
                                  params=stages.PARAMETERS["peri_event"](pre_s=2.0, post_s=3.0))
    np.testing.assert_array_equal(rows.master["windows"], expected.windows)


def test_sets_made_before_the_option_keep_their_hash():
    released = {"pre_s": 2.0, "post_s": 5.0, "resample_ms": None, "response_start_s": 0.0, "response_end_s": 1.0,
                "n_shuffles": 1000, "seed": 0, "alternative": "two-sided"}  # PeriEventParams before `source`
    complete, param_hash = paramsets.prepare({"step": "peri_event"}, {})
    assert param_hash == paramsets.dict_to_uuid({"step": "peri_event", "params": released})
    assert complete["source"] == "trace"
    _, raster_hash = paramsets.prepare({"step": "peri_event"}, {"source": "transients"})
    assert raster_hash != param_hash
    for bad in ({"source": "raster"}, {"raster_frames": "end"}, {"transient_paramset_id": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            paramsets.prepare({"step": "peri_event"}, bad)


def test_the_row_names_the_transients_its_raster_came_from(recording):
    rows = peri_event(recording)
    assert (rows.master["transient_paramset_id"], rows.master["transient_curation_id"]) == (None, None)
    rows = peri_event(recording, source="curated_transients", transient_paramset_id=3, transient_curation_id=2)
    assert (rows.master["transient_paramset_id"], rows.master["transient_curation_id"]) == (3, 2)
    rows = peri_event(recording, source="transients", transient_paramset_id=3, transient_curation_id=2)
    assert (rows.master["transient_paramset_id"], rows.master["transient_curation_id"]) == (3, None)
