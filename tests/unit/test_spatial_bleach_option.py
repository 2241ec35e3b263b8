"""astroCAST's Delta bleach correction as an option of spatial-event detection: streamed over chunks, stored as a
movie beside the event map, and the events detected in it.

Ground truth: `simulate_astro` movies (known events on a bleaching baseline) and the whole-movie
`delta_bleach_correction`.
"""

import numpy as np
import pytest

from element_calcium import paramsets, storage
from element_calcium.compute.params import SpatialEventParams, default_step_params
from element_calcium.compute.signal import delta_bleach_correction, delta_bleach_correction_chunks
from element_calcium.simulate import simulate_astro
from element_calcium.stages.spatial_events import SpatialEventInputs, run

BASELINE = 200.0  # grey levels, simulate_astro's mean resting brightness


@pytest.mark.parametrize("method", ["dF", "dFF", "background"])
@pytest.mark.parametrize("chunk_frames", [1, 7, 64, 500])
@pytest.mark.parametrize("overwrite_first_frame", [True, False])
def test_chunked_correction_equals_the_whole_movie(method, chunk_frames, overwrite_first_frame):
    movie = simulate_astro(n_frames=150, height=64, width=64, n_waves=1, n_blobs=1, bleaching=0.5, seed=2)
    frames = movie.render(0, 150)
    whole = delta_bleach_correction(frames, window=12, method=method, overwrite_first_frame=overwrite_first_frame,
                                    device="cpu")
    reads = []

    def read(start, stop):
        reads.append(stop - start)
        return frames[start:stop]

    chunks = list(delta_bleach_correction_chunks(read, 150, window=12, method=method, chunk_frames=chunk_frames,
                                                 overwrite_first_frame=overwrite_first_frame, device="cpu"))
    assert [start for start, _ in chunks] == list(range(0, 150, chunk_frames))
    np.testing.assert_array_equal(np.concatenate([chunk for _, chunk in chunks]), whole)
    assert max(reads) <= max(chunk_frames, 2) + 2 * 12  # memory: the chunk and its two halos


def test_new_fields_at_their_defaults_keep_the_hash_of_sets_stored_before_them():
    complete, param_hash = paramsets.prepare({"step": "spatial"}, {"min_size": 50})
    before = {name: value for name, value in complete.items() if name not in SpatialEventParams.ADDED_LATER}
    assert set(SpatialEventParams.ADDED_LATER) <= set(complete) and complete["bleach_correction"] is False
    assert param_hash == paramsets.dict_to_uuid({"step": "spatial", "params": before})
    _, with_option = paramsets.prepare({"step": "spatial"}, {"min_size": 50, "bleach_correction": True})
    assert with_option != param_hash
    assert set(default_step_params("spatial")) >= set(SpatialEventParams.ADDED_LATER)


@pytest.mark.parametrize(("changes", "message"), [
    ({"bleach_window": 0}, "bleach_window must be an integer >= 1"),
    ({"bleach_method": "background"}, "bleach_method must be one of"),
    ({"bleach_correction": 1}, "bleach_correction"),
    ({"bleach_correction": True, "method": "dFF"}, "method must be 'dF' with bleach_correction"),
])
def test_option_parameters_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        SpatialEventParams(**changes)


def _write_movie(folder, movie, n_frames):
    frames = movie.render(0, n_frames)
    path = storage.movie_path(folder, "motion_corrected")
    with storage.MovieWriter(path, shape=frames.shape, dtype=frames.dtype, fps=movie.fps) as writer:
        writer.write(frames)
    return writer.path, frames


def _run(tmp_path, movie_file, params, n_frames, fps, paramset_id):
    inputs = SpatialEventInputs(movie_file=movie_file, output_dir=tmp_path / "out", output_dir_relative="task/out",
                                event_paramset_id=paramset_id, params=params,
                                frame_times=np.arange(n_frames) / fps)
    return run(inputs)


def _best_iou(truth, labels):
    ious = []
    for event in range(1, truth.max() + 1):
        mask = truth == event
        ids = np.unique(labels[mask])
        ious.append(max(((mask & (labels == i)).sum() / (mask | (labels == i)).sum() for i in ids[ids > 0]),
                        default=0.0))
    return np.array(ious)


def test_stage_stores_the_corrected_movie_and_detects_in_it(tmp_path):
    """The option's movie is the whole-movie correction, and the events are those detected in that movie."""
    movie = simulate_astro(n_frames=240, height=64, width=64, n_waves=1, n_blobs=2, bleaching=0.6, seed=5)
    movie_file, frames = _write_movie(tmp_path, movie, 240)
    params = {"bleach_correction": True, "bleach_window": 30, "min_size": 50}
    rows = _run(tmp_path, movie_file, params, 240, movie.fps, 7)
    corrected_path = tmp_path / "out" / rows.master["corrected_movie"].removeprefix("task/out/")
    assert rows.master["corrected_movie"] == "task/out/spatial_events_7_delta.h5" and corrected_path.exists()
    corrected = storage.open_movie(corrected_path).read(0, 240)
    np.testing.assert_array_equal(corrected, delta_bleach_correction(frames, window=30, device="cpu"))
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries left
    # detecting in the stored movie gives the same events
    again = _run(tmp_path / "again", corrected_path, {"min_size": 50}, 240, movie.fps, 7)
    assert again.master["corrected_movie"] is None and rows.master["event_count"] == again.master["event_count"]
    assert [row["volume"] for row in rows.parts["Event"]] == [row["volume"] for row in again.parts["Event"]]


def test_bleach_normalised_movie_recovers_the_late_events_an_absolute_threshold_misses(tmp_path):
    """astroCAST's reason for Delta: with 90% bleaching, one absolute threshold (a rise of 25% of the resting
    brightness at the start) misses the events late in the recording; on the dF/F-corrected movie the same
    threshold, relative to the current brightness, finds every simulated event, and no event that is not."""
    n_frames, fps = 1200, 5.0
    movie = simulate_astro(n_frames=n_frames, height=64, width=64, n_waves=0, n_blobs=8, fps=fps, noise=5.0,
                           bleaching=0.9, seed=3)
    movie_file, _ = _write_movie(tmp_path, movie, n_frames)
    truth = movie.labels(0, n_frames)
    results = {}
    for paramset_id, params in ((1, {"threshold": 0.25 * BASELINE}),
                                (2, {"threshold": 0.25, "bleach_correction": True, "bleach_method": "dFF"})):
        rows = _run(tmp_path, movie_file, params, n_frames, fps, paramset_id)
        labels = storage.open_movie(tmp_path / "out" / rows.master["event_map"].removeprefix("task/out/"))
        labels = labels.read(0, n_frames)
        false = [event for event in range(1, rows.master["event_count"] + 1) if not truth[labels == event].any()]
        results[paramset_id] = (_best_iou(truth, labels) >= 0.15, false)
    without, with_option = results[1][0], results[2][0]
    assert with_option.all() and not results[2][1]
    assert without.sum() < with_option.sum() and not without[-3:].any()  # the three latest are missed
