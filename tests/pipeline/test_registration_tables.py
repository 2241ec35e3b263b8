"""Registration schema on the database: a group of three sessions' curations registered, the matches scored
against the simulated identities, a cell's traces fetched across sessions, and bad groups and parameters refused.

Each session is a still TIFF recording with suite2p results whose footprints and summary images are those of a
simulated multi-session set (`simulate_sessions`), loaded through the usual load mode.
"""

import datetime

import numpy as np
import pytest
from helpers import SESSION_TIME

from element_calcium.simulate import score_registration, simulate, simulate_sessions, write_tiff
from workflow.ingest import ingest_recording

FPS = 20.0
N_FRAMES = 40
SIZE = 128


def _write_suite2p_plane(plane, session, n_frames: int):
    """A suite2p ``plane0`` folder whose ROIs are ``session``'s footprints (mask id = row) and whose images are its
    summary images."""
    plane.mkdir(parents=True)
    footprints = session.footprints.tocsr()
    stat = []
    for row in range(footprints.shape[0]):
        pixels = footprints.indices[footprints.indptr[row]:footprints.indptr[row + 1]]
        weights = footprints.data[footprints.indptr[row]:footprints.indptr[row + 1]]
        ypix, xpix = np.divmod(pixels, SIZE)
        stat.append({"ypix": ypix, "xpix": xpix, "lam": weights.astype(np.float32),
                     "overlap": np.zeros(len(pixels), bool), "med": [int(np.median(ypix)), int(np.median(xpix))]})
    n_cells = len(stat)
    rng = np.random.default_rng(0)
    fluorescence = (100 + 10 * rng.random((n_cells, n_frames))).astype(np.float32)
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    for name, values in (("F", fluorescence), ("Fneu", np.zeros_like(fluorescence)),
                         ("spks", np.zeros_like(fluorescence)), ("iscell", np.ones((n_cells, 2)))):
        np.save(plane / f"{name}.npy", values)
    ops = {"yoff": np.zeros(n_frames), "xoff": np.zeros(n_frames), "nonrigid": False, "Ly": SIZE, "Lx": SIZE,
           "nframes": n_frames, "fs": FPS, "yrange": [0, SIZE], "xrange": [0, SIZE],
           "refImg": session.mean_image, "meanImg": session.mean_image, "Vcorr": session.correlation_image,
           "max_proj": session.mean_image}
    np.save(plane / "ops.npy", ops, allow_pickle=True)


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


@pytest.fixture
def three_sessions(pipeline, new_folder, subject_name):
    """Curation keys of three loaded sessions of one simulated field of view, and the simulated set."""
    imaging = pipeline.imaging
    sessions = simulate_sessions(n_sessions=3, height=SIZE, width=SIZE, n_cells=30, max_shift=12.0,
                                deformation=0.5, seed=21)
    imaging.ProcessingParamSet.insert_new_params("suite2p", 260, "suite2p results, registration test",
                                                 {"modality": "2p", "cell_diameter": 12.5})
    movie = simulate(n_frames=N_FRAMES, height=SIZE, width=SIZE, n_cells=0, mode="2p", fps=FPS, max_shift=0.0)
    keys = []
    for index, session in enumerate(sessions.sessions):
        written = write_tiff(new_folder(), movie)
        recording_key = ingest_recording(written.path, subject=subject_name,
                                         session_datetime=SESSION_TIME + datetime.timedelta(days=index),
                                         fps=written.fps, create_task=False).recording_key
        output_dir = f"suite2p_{subject_name}_{index}"
        _write_suite2p_plane(pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0", session,
                             N_FRAMES)
        imaging.ProcessingTask.insert1({**recording_key, "paramset_id": 260, "processing_output_dir": output_dir,
                                        "task_mode": "load"})
        keys.append({**recording_key, "paramset_id": 260, "curation_id": 0})
    assert _populate(imaging) == {}
    yield keys, sessions
    (pipeline.registration.RegistrationGroup & {"registration_group_id": 7}).delete(prompt=False)


def test_a_group_is_registered_and_a_cell_followed_across_sessions(pipeline, three_sessions):
    registration = pipeline.registration
    keys, sessions = three_sessions
    registration.RegistrationGroup.create(7, keys, "simulated field of view")
    registration.Registration.populate({"registration_group_id": 7}, display_progress=False)
    key = {"registration_group_id": 7, "registration_paramset_id": 0}
    master = (registration.Registration & key).fetch1()
    assert master["n_sessions"] == 3

    alignments = (registration.Registration.Alignment & key).to_dicts(order_by="session_datetime")
    assert [row["is_reference"] for row in alignments] == [True, False, False]
    corners = np.array([[0.0, 0.0, 1.0], [0.0, SIZE - 1, 1.0], [SIZE - 1, 0.0, 1.0], [SIZE - 1, SIZE - 1, 1.0]])
    for row, truth in zip(alignments, sessions.sessions):  # the truth's deformation is at most 0.5 px
        error = np.abs(corners @ np.asarray(row["transform"]).T - corners @ truth.transform.T).max()
        assert error < 1.0, (row, truth.rotation_deg, truth.scale, truth.shift)

    predicted = []
    for curation_key in keys:
        ids, masks = (registration.Registration.Match & key & curation_key).to_arrays(
            "global_cell_id", "mask_id", order_by="mask_id")
        np.testing.assert_array_equal(masks, np.arange(len(masks)))
        predicted.append(ids)
    score = score_registration(sessions.cell_ids, predicted)
    assert score["precision"] >= 0.95 and score["recall"] >= 0.95, score
    assert master["n_matched"] > 10

    seen_everywhere = (registration.Registration.Match & key & "n_sessions_seen = 3").to_arrays("global_cell_id")
    traces = registration.cell_traces(key, int(seen_everywhere[0]), extraction_method=None)
    assert len(traces) == 3 and list(traces["session_datetime"]) == sorted(traces["session_datetime"])
    assert all(len(trace) == N_FRAMES for trace in traces["trace"])
    assert traces["time"][0][1] == pytest.approx(1 / FPS)
    dff = registration.cell_traces(key, int(seen_everywhere[0]), extraction_method="dff")
    assert list(dff["mask_id"]) == list(traces["mask_id"]) and all(len(trace) == N_FRAMES for trace in dff["trace"])
    with pytest.raises(ValueError, match="not a cell of this registration"):
        registration.cell_traces(key, master["n_cells"] + 5)


def test_bad_groups_and_parameters_are_refused(pipeline, three_sessions):
    registration = pipeline.registration
    keys, _ = three_sessions
    with pytest.raises(ValueError, match="at least two curations"):
        registration.RegistrationGroup.create(8, keys[:1])
    with pytest.raises(ValueError, match="one curation per recording"):
        registration.RegistrationGroup.create(8, [keys[0], keys[0]])
    with pytest.raises(ValueError, match="no curation"):
        registration.RegistrationGroup.create(8, [keys[0], {**keys[1], "curation_id": 99}])
    assert not registration.RegistrationGroup & {"registration_group_id": 8}
    with pytest.raises(ValueError, match="unknown registration parameter"):
        registration.RegistrationParamSet.insert_new_params(40, "typo", {"min_scor": 0.4})
    registration.RegistrationParamSet.insert_new_params(41, "piecewise", {"piecewise": True})
    registration.RegistrationParamSet.insert_new_params(41, "piecewise", {"piecewise": True})
    assert (registration.RegistrationParamSet & {"registration_paramset_id": 41}).fetch1("params")["piecewise"]
