"""Activity starts from the stored Fluorescence traces instead of replaying the curation chain.

Its traces must be those of the former way, `stages.activity.activity_traces` of the curation's replayed sources
(`stages.fluorescence.curated_sources`), exactly: for the built-in method with curations that reject and merge
cells, and for loaded suite2p results, whose spikes are the tool's.
"""

import numpy as np
import pytest
from helpers import SESSION_TIME
from test_extraction_tables import _write_suite2p

from element_calcium import curation, extraction_file
from element_calcium.stages import activity, fluorescence
from element_calcium.simulate import simulate, write_tiff
from workflow.ingest import ingest_recording

METHODS = ("dff", "deconvolved", "denoised")


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


@pytest.fixture
def counted(monkeypatch):
    """Counts of curation-chain replays (`stages.fluorescence.curated_sources`) and of results files read whole
    through ``extraction_file.read_sources`` (how Activity reads a tool's stored traces), from when the fixture is
    used."""
    counts = {"replays": 0, "file_reads": 0}
    replay, read = fluorescence.curated_sources, extraction_file.read_sources

    def counted_replay(inputs):
        counts["replays"] += 1
        return replay(inputs)

    def counted_read(path, *, owner=None):
        counts["file_reads"] += 1
        return read(path, owner=owner)

    monkeypatch.setattr(fluorescence, "curated_sources", counted_replay)
    monkeypatch.setattr(activity, "curated_sources", counted_replay, raising=False)  # counted if Activity imports it
    monkeypatch.setattr(extraction_file, "read_sources", counted_read)
    return counts


def _stored_activity(imaging, key, method):
    """(mask ids (N,), traces (N, T), standardized noise (N,)) of the Activity ``key`` by ``method``, by mask id."""
    mask_ids, traces, noise = (imaging.Activity.Trace & key & {"extraction_method": method}).to_arrays(
        "mask_id", "activity_trace", "standardized_noise", order_by="mask_id")
    return mask_ids, np.stack(traces), noise


def _assert_as_replayed(imaging, key):
    """Each method's Activity of curation ``key`` equals `activity_traces` of the replayed curation, exactly."""
    sources = imaging.curated_sources(key)
    order = np.argsort(sources.mask_ids)
    params = (imaging.ProcessingParamSet & key).fetch1("params")
    for method in METHODS:
        replayed = activity.activity_traces(method, sources, params=params)[order]
        mask_ids, traces, noise = _stored_activity(imaging, key, method)
        np.testing.assert_array_equal(mask_ids, sources.mask_ids[order])
        assert traces.dtype == replayed.dtype == np.float32
        assert np.array_equal(traces, replayed), (key, method)
        if method == "dff":
            expected = activity.activity_noise(method, replayed, fps=sources.fps)
            np.testing.assert_allclose(noise, expected, rtol=1e-5)  # the server returns floats to 6 digits


def test_built_in_activity_reads_stored_fluorescence_of_rejecting_and_merging_curations(
        pipeline, new_folder, subject_name, counted):
    imaging = pipeline.imaging
    movie = simulate(n_frames=400, height=96, width=96, n_cells=12, mode="2p", max_shift=0.0, seed=3)
    written = write_tiff(new_folder(), movie)
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=written.fps).task_key
    assert _populate(imaging) == {}
    curation0 = (imaging.Curation & task_key).fetch1("KEY")
    ids0 = curation.cell_ids(curation0)
    assert len(ids0) >= 5
    merged = curation.merge(curation0, ids0[1:3], note="two cells as one")
    rejected = curation.reject(merged, [int(ids0[0]), int(ids0[4])])

    counted.update(replays=0, file_reads=0)  # merging replayed curation 0 to estimate the merged cell
    assert _populate(imaging) == {}
    assert counted == {"replays": 2, "file_reads": 4}  # Fluorescence of 2 curations; CNMF's stored C and S for 2

    merged_id = int(ids0.max()) + 1
    assert merged_id in curation.cell_ids(rejected) and int(ids0[0]) not in curation.cell_ids(rejected)
    for key in (curation0, merged, rejected):
        _assert_as_replayed(imaging, key)


def test_loaded_suite2p_activity_keeps_the_tools_spikes(pipeline, subject_name, new_folder, counted):
    imaging = pipeline.imaging
    n_frames, height, width = 60, 32, 36
    written = write_tiff(new_folder(), simulate(n_frames=n_frames, height=height, width=width, n_cells=3, mode="2p"))
    imaging.ProcessingParamSet.insert_new_params("suite2p", 210, "suite2p results",
                                                 {"modality": "2p", "cell_diameter": 9.0})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     fps=written.fps, create_task=False).recording_key
    output_dir = f"suite2p_{subject_name}"
    plane = pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0"
    tool = _write_suite2p(plane, n_frames=n_frames, height=height, width=width, rng=np.random.default_rng(2))
    task_key = {**recording_key, "paramset_id": 210}
    imaging.ProcessingTask.insert1({**task_key, "processing_output_dir": output_dir, "task_mode": "load"})
    assert _populate(imaging) == {}
    curation0 = (imaging.Curation & task_key).fetch1("KEY")
    rejected = curation.reject(curation0, [int(curation.cell_ids(curation0)[1])])
    assert _populate(imaging) == {}
    assert counted == {"replays": 2, "file_reads": 2}  # Fluorescence of 2 curations; suite2p's spks for 2

    _, spikes, _ = _stored_activity(imaging, curation0, "deconvolved")
    np.testing.assert_array_equal(spikes, tool["spks"])
    _, spikes, _ = _stored_activity(imaging, rejected, "deconvolved")
    np.testing.assert_array_equal(spikes, tool["spks"][[0, 2]])
    for key in (curation0, rejected):
        _assert_as_replayed(imaging, key)
