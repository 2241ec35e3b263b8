"""Events schema on the database: behaviour events, transients, their curation, and peri-event windows.

The cells' traces are known exactly: a suite2p result (loaded, not computed) whose fluorescence is built from
simulated dF/F traces with known spikes, one cell firing 0.5 s after every lever press.
"""

import numpy as np
import pandas as pd
import pytest
from helpers import suite2p_load_task

from element_calcium import behavior, transient_curation
from element_calcium.simulate import simulate_traces, write_voltage_recording

FPS = 20.0
N_FRAMES = 2400
LEVER_TIMES = 5.0 + np.cumsum(np.random.default_rng(7).uniform(2.0, 5.0, 30))  # irregular, as presses are
REWARD_TIMES = np.arange(7.0, 110.0, 10.0)
LOCKED, UNRELATED, QUIET = 0, 1, 2


def _suite2p_recording(pipeline, new_folder, subject_name, dff):
    """A recording whose Activity is loaded from a suite2p result with F = 100 (1 + dff) of 3 cells;
    returns (recording key, dF/F activity key)."""
    recording_key = suite2p_load_task(pipeline, new_folder(), subject_name, dff, fps=FPS, paramset_id=220,
                                      description="suite2p results, 11 px cells", cell_diameter=11.0,
                                      output_dir=f"suite2p_{subject_name}", movie_cells=3,
                                      centers=[(6, 8), (20, 25), (10, 27)])
    return recording_key, {**recording_key, "paramset_id": 220, "curation_id": 0, "extraction_method": "dff"}


@pytest.fixture
def recording(pipeline, new_folder, subject_name, tmp_path):
    """A recording whose Activity is loaded from suite2p; returns (recording key, activity key, truth)."""
    truth = simulate_traces(n_cells=3, n_frames=N_FRAMES, fps=FPS, rate_hz=0.05, snr=8.0, event_times=LEVER_TIMES,
                            locked_cells=[LOCKED], lag_s=0.5, jitter_s=0.02, seed=3)
    truth.dff[QUIET] = truth.dff[QUIET] - truth.calcium[QUIET]  # noise only
    return (*_suite2p_recording(pipeline, new_folder, subject_name, truth.dff), truth)


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


def test_transients_and_peri_event_windows_from_behaviour_files(pipeline, recording, tmp_path):
    imaging, events = pipeline.imaging, pipeline.events
    recording_key, activity_key, truth = recording
    csv = tmp_path / "behaviour.csv"
    pd.DataFrame({"time": LEVER_TIMES[::-1], "event_type": "lever"}).to_csv(csv, index=False)  # unsorted on purpose
    voltage = np.zeros(int(120 * 1000))
    for time in REWARD_TIMES:
        voltage[int(time * 1000) : int(time * 1000) + 50] = 5.0
    bruker = write_voltage_recording(tmp_path / "TSeries_Cycle00001_VoltageRecording_001.csv",
                                     {"Input 0": np.zeros_like(voltage), "Input 1": voltage}, rate=1000.0)

    assert _populate(imaging) == {}
    assert behavior.import_event_csv(recording_key, csv) == len(LEVER_TIMES)
    assert behavior.import_voltage_events(recording_key, bruker, channel="Input 1", event_type="reward",
                                        threshold=2.5) == len(REWARD_TIMES)
    stored = (events.BehaviorEvent & recording_key & {"event_type": "reward"}).to_arrays("event_time",
                                                                                        order_by="event_id")
    np.testing.assert_allclose(stored, REWARD_TIMES, atol=1e-3)
    assert _populate(imaging) == {}

    # transients of the dF/F and of the denoised calcium, with the default parameter set
    assert len(events.Transients & recording_key) == 2
    transients = events.Transients & activity_key
    onsets = (events.Transients.Transient & transients & {"mask_id": LOCKED}).to_arrays("onset_frame")
    spikes = truth.spike_frames(LOCKED)
    found = np.abs(onsets[:, None] - spikes[None, :]).min(axis=0) <= 3
    assert found.mean() >= 0.9
    stats = (events.Transients.CellStats & transients).to_dicts(order_by="mask_id")
    assert [row["n_transients"] for row in stats] == [
        len(events.Transients.Transient & transients & {"mask_id": m}) for m in range(3)]
    assert stats[QUIET]["n_transients"] <= 3  # noise only
    onset_time, onset_frame = (events.Transients.Transient & transients & {"mask_id": LOCKED}).to_arrays(
        "onset_time", "onset_frame", order_by="transient_id")
    np.testing.assert_allclose(onset_time, onset_frame / FPS, atol=1e-6)

    # peri-event windows of every activity trace, for both event types
    assert len(events.PeriEventWindow & recording_key) == 2 * 3
    window = (events.PeriEventWindow & activity_key & {"event_type": "lever"}).fetch1()
    tensor = np.asarray(window["windows"])
    assert tensor.shape == (len(LEVER_TIMES), 3, len(window["sample_times"]))
    average = np.nanmean(tensor[:, LOCKED], axis=0)
    assert 0.5 <= window["sample_times"][np.argmax(average)] <= 0.9
    responses = (events.PeriEventWindow.CellResponse & activity_key & {"event_type": "lever"}).to_dicts(
        order_by="mask_id")
    assert responses[LOCKED]["p_value"] < 0.01 and responses[LOCKED]["z_score"] > 3
    assert responses[UNRELATED]["p_value"] > 0.05 and responses[QUIET]["p_value"] > 0.05


def test_noise_free_zero_stretches_are_stored_with_finite_snr(pipeline, new_folder, subject_name):
    """Sparse noise-free calcium (flat zero stretches, as minian's C): its SNR was beyond float32 and the insert
    failed; now every value is finite and the whole key is stored."""
    imaging, events = pipeline.imaging, pipeline.events
    sparse = np.zeros((3, N_FRAMES), np.float32)
    for frame, amplitude in ((1000, 10.0), (1800, 4.0)):
        sparse[0, frame:] += amplitude * np.exp(-np.arange(N_FRAMES - frame) / 10.0)
    sparse[1, 600:] = 2.0 * np.exp(-np.arange(N_FRAMES - 600) / 10.0)  # one transient, then 90 s of zeros
    _, activity_key = _suite2p_recording(pipeline, new_folder, subject_name, sparse)  # cell 2: all zero
    errors = _populate(imaging)
    assert "Transients" not in errors, errors.get("Transients")
    transients = (events.Transients.Transient & activity_key).to_dicts(order_by=("mask_id", "transient_id"))
    assert [(row["mask_id"], row["peak_frame"] // 100) for row in transients] == [(0, 10), (0, 18), (1, 6)]
    assert all(1e6 < row["snr"] < 4e7 for row in transients)  # noise-free: the float32 resolution of the trace
    stats = (events.Transients.CellStats & activity_key).to_dicts(order_by="mask_id")
    assert [row["snr"] for row in stats][2] == 0 and all(np.isfinite(row["snr"]) for row in stats)


def test_transient_curation_leaves_the_automatic_result_alone(pipeline, recording):
    imaging, events = pipeline.imaging, pipeline.events
    recording_key, activity_key, truth = recording
    assert _populate(imaging) == {}
    transients_key = (events.Transients & activity_key).fetch1("KEY")
    automatic = (events.Transients.Transient & transients_key).to_dicts(order_by=("mask_id", "transient_id"))
    cell = [row for row in automatic if row["mask_id"] == UNRELATED]
    covered = np.zeros(N_FRAMES, bool)
    for row in cell:
        covered[row["start_frame"] : row["end_frame"] + 1] = True
    quiet_frames = np.flatnonzero(~covered[200:-200]) + 200

    first = transient_curation.curate_transients(transients_key, UNRELATED, reject=[0], note="noise")
    second = transient_curation.curate_transients(transients_key, UNRELATED, mark=[int(quiet_frames[len(quiet_frames) // 2])],
                                      mode="all", curator="me")
    assert (first["transient_curation_id"], second["transient_curation_id"]) == (0, 1)
    edit = (events.TransientCuration.Cell & second).fetch1()
    assert list(edit["rejected_ids"]) == [0] and len(edit["marked_peaks"]) == 1  # the parent's rejection carried on
    assert _populate(imaging) == {}

    counts = {key["transient_curation_id"]: len(events.CuratedTransients.Transient & key & {"mask_id": UNRELATED})
              for key in (first, second)}
    assert counts == {0: len(cell) - 1, 1: len(cell)}
    added = (events.CuratedTransients.Transient & second & {"added": 1}).to_dicts()
    assert len(added) == 1 and added[0]["mask_id"] == UNRELATED
    stats = (events.CuratedTransients.CellStats & second & {"mask_id": UNRELATED}).fetch1()
    assert stats["n_transients"] == len(cell)
    others = len(events.CuratedTransients.Transient & second & {"mask_id": LOCKED})
    assert others == len(events.Transients.Transient & transients_key & {"mask_id": LOCKED})
    assert (events.Transients.Transient & transients_key).to_dicts(order_by=("mask_id", "transient_id")) == automatic

    with pytest.raises(ValueError, match=r"transient id\(s\) \[999\]"):
        transient_curation.curate_transients(transients_key, UNRELATED, reject=[999])
    with pytest.raises(ValueError, match="mask_id 77"):
        transient_curation.curate_transients(transients_key, 77, reject=[0])
    with pytest.raises(ValueError, match="marked frames must lie in"):
        transient_curation.curate_transients(transients_key, UNRELATED, mark=[N_FRAMES])
    with pytest.raises(ValueError, match="mode must be one of"):
        transient_curation.curate_transients(transients_key, UNRELATED, mode="replace")
    assert len(events.TransientCuration & transients_key) == 2


def test_bad_behaviour_input_inserts_nothing(pipeline, recording, tmp_path):
    imaging, events = pipeline.imaging, pipeline.events
    recording_key, _, _ = recording
    assert _populate(imaging) == {}
    late = tmp_path / "late.csv"
    late.write_text("time,event_type\n3.0,lever\n500.0,lever\n")
    with pytest.raises(ValueError, match=r"1 event time\(s\) outside the recording"):
        behavior.import_event_csv(recording_key, late)
    missing = tmp_path / "missing.csv"
    missing.write_text("t,kind\n3.0,lever\n")
    with pytest.raises(ValueError, match=r"missing column\(s\)"):
        behavior.import_event_csv(recording_key, missing)
    good = tmp_path / "good.csv"
    good.write_text("time,event_type\n3.0,lever\n4.0,lever\n")
    assert behavior.import_event_csv(recording_key, good) == 2
    with pytest.raises(ValueError, match=r"lever events at \[3.0, 4.0\] s are already stored"):
        behavior.import_event_csv(recording_key, good)
    bruker = write_voltage_recording(tmp_path / "rec_VoltageRecording_001.csv", {"Input 0": np.zeros(100)},
                                     rate=1000.0)
    with pytest.raises(ValueError, match=r"no input 'Lick'; inputs: \['Input 0'\]"):
        behavior.import_voltage_events(recording_key, bruker, channel="Lick", event_type="lick", threshold=1.0)
    assert len(events.BehaviorEvent & recording_key) == 2

    events.EventParamSet.insert_new_params("peri_event", 30, "too long a window", {"pre_s": 100.0, "post_s": 100.0})
    try:
        errors = _populate(imaging)
        assert list(errors) == ["PeriEventWindow"]
        assert all("shorter than the recording" in message for _, message in errors["PeriEventWindow"])
        assert not events.PeriEventWindow & {"event_paramset_id": 30}
        assert len(events.PeriEventWindow & recording_key & {"event_paramset_id": 1}) == 3
    finally:
        (events.EventParamSet & {"event_paramset_id": 30}).delete(prompt=False)
