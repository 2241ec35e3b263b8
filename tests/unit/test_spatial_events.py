"""Spatiotemporal event detection against simulated astrocyte movies with known events.

A true event is the set of voxels where its profile is >= 5% of its peak (`element_calcium.simulate.EXTENT_FRACTION`);
a detection matches it at IoU >= 0.5 of the 3-D masks.
"""

import dataclasses
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from element_calcium.compute.events import EventShapes, _spatial, _spatial_props, detect_spatial_events
from element_calcium.compute.params import SpatialEventParams
from element_calcium.simulate import EXTENT_FRACTION, simulate_astro
from element_calcium.stages.spatial_events import event_rows

DEFAULTS = SpatialEventParams()


def detect(frames, params=DEFAULTS, chunks=None, **options):
    """Run on in-memory frames; returns the result and the (T, H, W) final labels.

    ``chunks``: a dict that receives the provisional labels handed to ``write_labels``, by first frame.
    """
    chunks = {} if chunks is None else chunks
    result = detect_spatial_events(
        lambda start, stop: frames[start:stop],
        len(frames),
        fps=10.0,
        params=params,
        write_labels=lambda start, labels: chunks.__setitem__(start, labels.copy()),
        **{"device": "cpu", **options},
    )
    starts = sorted(chunks)
    assert [start + len(chunks[start]) for start in starts[:-1]] == starts[1:]
    labels = result.label_lookup[np.concatenate([chunks[start] for start in starts])]
    assert labels.shape == frames.shape
    return result, labels


def best_iou(truth_mask, labels):
    ids = np.unique(labels[truth_mask])
    ids = ids[ids > 0]
    return max((np.sum(truth_mask & (labels == i)) / np.sum(truth_mask | (labels == i)) for i in ids), default=0.0)


@pytest.fixture(scope="module")
def movie():
    movie = simulate_astro(n_frames=400, height=128, width=128, n_waves=2, n_blobs=4, seed=1)
    return movie, movie.render(0, len(movie)), movie.labels(0, len(movie))


@pytest.fixture(scope="module")
def provisional():
    return {}


@pytest.fixture(scope="module")
def detected(movie, provisional):
    return detect(movie[1], chunks=provisional, chunk_frames=128)


def test_waves_and_blobs_are_found_with_their_extent(movie, detected):
    sim, _, truth = movie
    result, labels = detected
    ious = [best_iou(truth == i + 1, labels) for i in range(len(sim.truth))]
    assert set(sim.truth.kind) == {"wave", "blob"}
    assert min(ious) >= 0.6, ious
    assert len(result.events) == len(sim.truth)  # one detection per event, no false ones
    onsets = np.array([np.flatnonzero((truth == i + 1).any(axis=(1, 2)))[0] for i in range(len(sim.truth))])
    assert np.abs(result.events["z0"].to_numpy() - onsets).max() <= 3  # both in order of onset


def test_noise_only_movie_has_no_events():
    sim = simulate_astro(n_frames=500, height=128, width=128, n_waves=0, n_blobs=0, seed=3)
    calls = []
    result, labels = detect(sim.render(0, len(sim)), progress=lambda done, total: calls.append((done, total)))
    assert len(result.events) == 0 and not labels.any()
    assert calls[-1] == (1000, 1000) and [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert result.events.columns.tolist() == list(_spatial_props.COLUMNS)
    assert result.noise.shape == (128, 128) and abs(np.median(result.noise) - 15.0) < 1.0


def test_chunked_result_equals_whole_movie_and_joins_across_boundaries(movie, detected, provisional):
    _, frames, _ = movie
    whole, whole_labels = detect(frames, chunk_frames=len(frames))
    for chunk_frames in (7, 128):  # 7 is shorter than any filter's reach
        result, labels = detected if chunk_frames == 128 else detect(frames, chunk_frames=chunk_frames)
        np.testing.assert_array_equal(labels, whole_labels)
        pd.testing.assert_frame_equal(result.events, whole.events)
        assert all(np.array_equal(a, b) for a, b in zip(result.traces, whole.traces))
    first, second = (provisional[start] for start in sorted(provisional)[:2])
    assert len(first) == 128 - _spatial.Filters(DEFAULTS, np, len(frames)).reach()
    crossing = whole.events[(whole.events.z0 < len(first)) & (whole.events.z1 > len(first))]
    assert len(crossing)  # an event spans the boundary of the first two chunks, and is one event
    for event_id in crossing.event_id:
        ids = np.flatnonzero(detected[0].label_lookup == event_id)
        assert np.isin(ids, first).any() and np.isin(ids, second).any()


def test_properties_match_labels_and_movie(movie, detected):
    _, frames, _ = movie
    result, labels = detected
    delta = _spatial.Filters(DEFAULTS, np, len(frames)).delta(frames, 0)
    for row, (ys, xs), trace in zip(result.events.itertuples(), result.footprints, result.traces):
        voxels = np.argwhere(labels == row.event_id)
        assert (row.z0, row.z1 - 1) == (voxels[:, 0].min(), voxels[:, 0].max())
        assert (row.y0, row.y1, row.x0, row.x1) == (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
        assert row.volume == len(voxels) and row.area == len(ys) == len(np.unique(voxels[:, 1:], axis=0))
        assert row.duration_s == pytest.approx((row.z1 - row.z0) / 10.0)
        assert (row.centroid_y, row.centroid_x) == pytest.approx((ys.mean(), xs.mean()))
        expected = delta[row.z0 : row.z1][:, ys, xs].mean(axis=1)
        np.testing.assert_allclose(trace, expected, rtol=1e-5, atol=1e-3)
        assert row.max_height == pytest.approx(trace.max() - trace.min())
        assert row.max_gradient == pytest.approx(np.diff(trace).max())
        assert row.snr == pytest.approx((trace.max() - row.noise_mean) / row.noise_std)
        assert row.snr > 5  # the ring around an event is quiet
    assert result.events.event_id.tolist() == list(range(1, len(result.events) + 1))
    assert result.label_lookup.dtype == np.int32 and result.label_lookup[0] == 0
    assert all(trace.dtype == np.float32 for trace in result.traces)


def flash_movie(n_frames=300, size=40, seed=0):
    """Noise around 100 grey levels and a whole-field flash (Gaussian in time, peak 300 at frame 150): a
    one-photon brightness change whose event covers every pixel, so no ring surrounds it."""
    frames = np.random.default_rng(seed).normal(100, 5, (n_frames, size, size)).astype(np.float32)
    return frames + (300 * np.exp(-0.5 * ((np.arange(n_frames) - 150) / 6) ** 2))[:, None, None].astype(np.float32)


def test_an_event_filling_the_frame_takes_its_noise_from_the_frames_around_it():
    frames = flash_movie()
    result, labels = detect(frames, chunk_frames=64)
    assert len(result.events) == 1
    row = next(result.events.itertuples())
    assert row.area == 40 * 40 and (labels[row.z0 : row.z1] == 1).any(axis=0).all()
    delta = _spatial.Filters(DEFAULTS, np, len(frames)).delta(frames, 0).mean(axis=(1, 2))
    duration = row.z1 - row.z0
    outside = np.concatenate([delta[max(row.z0 - duration, 0) : row.z0], delta[row.z1 : row.z1 + duration]])
    assert row.noise_mean == pytest.approx(outside.mean(), rel=1e-4)
    assert row.noise_std == pytest.approx(outside.std(), rel=1e-3)
    assert np.isfinite(row.snr) and row.snr > 5
    whole, _ = detect(frames, chunk_frames=len(frames))
    pd.testing.assert_frame_equal(result.events, whole.events)


def test_an_event_filling_the_whole_recording_takes_its_noise_from_its_trace():
    frames = flash_movie(n_frames=120)
    result, labels = detect(frames, SpatialEventParams(threshold=0.0))  # every voxel is active (delta >= 0)
    assert len(result.events) == 1 and labels.all()
    row, trace = next(result.events.itertuples()), result.traces[0]
    assert (row.z0, row.z1) == (0, 120)
    assert row.noise_mean == pytest.approx(np.median(trace))
    assert row.noise_std == pytest.approx(np.median(np.abs(np.diff(trace))) / (0.6745 * np.sqrt(2)))
    assert np.isfinite(row.snr)


def test_a_one_frame_event_has_no_gradient_and_is_stored_with_null():
    frames = np.random.default_rng(1).normal(100, 5, (60, 32, 32)).astype(np.float32)
    frames[30, 10:22, 10:22] += 200  # one frame, 144 pixels
    result, labels = detect(frames, SpatialEventParams(use_smoothing=False, threshold=100.0))
    assert len(result.events) == 1 and (result.events.z1 - result.events.z0).tolist() == [1]
    assert np.isnan(result.events.max_gradient[0]) and np.isfinite(result.events.noise_std[0])
    shapes = EventShapes(result.events[["z0", "z1", "y0", "y1", "x0", "x1"]].to_numpy())
    shapes.add(0, labels)
    (row,) = event_rows(result, np.arange(60) / 10.0, shapes.table())
    assert row["max_gradient"] is None and row["noise_mean"] == pytest.approx(result.events.noise_mean[0])
    assert row["mask_solidity"] is None and row["fp_solidity"] == 1.0  # astroCAST measures no 3-D shape of one frame


def test_small_objects_and_border_band_are_removed(movie, detected):
    _, frames, _ = movie
    volumes = detected[0].events.volume
    params = dataclasses.replace(DEFAULTS, min_size=int(volumes.min()) + 1, exclude_border=40)
    result, labels = detect(frames, params)
    assert len(result.events) < len(volumes)
    assert result.events.volume.min() >= params.min_size
    assert not labels[:, :40].any() and not labels[:, :, -40:].any()


def test_combinations_find_the_events(movie):
    sim, frames, truth = movie
    for params in (
        SpatialEventParams(comb_type="|"),
        SpatialEventParams(use_spatial=False),
        SpatialEventParams(method="dFF", temporal_width=5, connectivity=3),
    ):
        _, labels = detect(frames, params, chunk_frames=200)
        ious = [best_iou(truth == i + 1, labels) for i in range(len(sim.truth))]
        assert min(ious) >= 0.5, (params, ious)


def test_absolute_threshold_finds_the_cores_of_the_events(movie):
    sim, frames, truth = movie
    # dF grey levels; the moving-minimum background sits about 25 below a pixel's mean (noise 15)
    result, labels = detect(frames, SpatialEventParams(threshold=40.0), chunk_frames=200)
    for i in range(len(sim.truth)):
        inside = labels[truth == i + 1]
        assert np.mean(inside > 0) > 0.3 and len(np.unique(inside[inside > 0])) == 1
    assert len(result.events) == len(sim.truth)
    assert np.sum(labels[truth == 0] > 0) < 0.15 * np.sum(labels > 0)  # spread by the smoothing


def test_each_backend_finds_the_events_and_the_backends_agree(movie, detected, device, backends_agree):
    result, labels = detected if device == "cpu" else detect(movie[1], chunk_frames=128, device=device)
    assert result.device == device
    assert len(result.events) == len(movie[0].truth)

    def compare(on_device, on_cpu):
        (result, labels), (reference, reference_labels) = on_device, on_cpu
        assert len(result.events) == len(reference.events)
        assert np.mean(labels == reference_labels) > 0.999
        np.testing.assert_allclose(result.events.volume, reference.events.volume, rtol=0.02)

    backends_agree((result, labels), lambda: detected, compare)


def test_memory_is_bounded_by_the_chunk_not_the_length():
    peaks = []
    for n_frames in (300, 900):
        sim = simulate_astro(n_frames=n_frames, height=64, width=64, n_waves=0, n_blobs=2 * n_frames // 300, seed=5)
        tracemalloc.start()
        try:
            detect_spatial_events(sim.render, n_frames, fps=10.0, params=DEFAULTS, device="cpu", chunk_frames=100)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert peaks[1] < 1.25 * peaks[0], peaks


@pytest.mark.parametrize(
    ("before", "after"), [(0, 0), (3, 0), (0, 3), (2, 5), (7, 7), (30, 1)]
)
def test_running_extremes_match_brute_force(before, after):
    x = np.random.default_rng(before * 10 + after).standard_normal((23, 3, 4)).astype(np.float32)
    for n in (1, 2, 5, 23):
        part = x[:n]
        for op, reduce in ((np.minimum, np.min), (np.maximum, np.max)):
            expected = np.stack([reduce(part[max(0, t - before) : t + after + 1], axis=0) for t in range(n)])
            np.testing.assert_array_equal(_spatial.running_extreme(part, before, after, op, np), expected)
        expected = np.stack([np.maximum(part[max(0, t - after) : t + 1].min(0), part[t : t + after + 1].min(0))
                             for t in range(n)])
        np.testing.assert_array_equal(_spatial.side_minimum(part, after, np), expected)


def test_temporal_gaussian_and_hysteresis():
    x = np.random.default_rng(0).standard_normal((30, 2, 3)).astype(np.float32)
    expected = ndimage.gaussian_filter1d(x, 2.0, axis=0, mode="nearest", truncate=2.0)
    np.testing.assert_allclose(_spatial.temporal_gaussian(x, 2.0, 4, np), expected, atol=1e-6)
    core, low = np.zeros((20, 1, 1), bool), np.zeros((20, 1, 1), bool)
    low[3:12], core[8], low[14:16] = True, True, True
    joined = _spatial.joined_to_core(core, low, 3, np)[:, 0, 0]
    assert np.flatnonzero(joined).tolist() == [5, 6, 7, 8, 9, 10, 11]
    white = np.random.default_rng(1).standard_normal((20000, 12))
    smoothed = ndimage.gaussian_filter1d(white, 2.0, axis=1, mode="nearest", truncate=2.0)
    np.testing.assert_allclose(_spatial.folded_norms(np.arange(12), 12, 2.0, 4), smoothed.std(axis=0),
                               rtol=0.03)


def test_simulator_renders_reproducible_chunks_and_true_extents():
    sim = simulate_astro(n_frames=200, height=96, width=96, n_waves=1, n_blobs=1, seed=7)
    whole = sim.render(0, 200)
    assert whole.dtype == np.uint16 and whole.shape == (200, 96, 96)
    np.testing.assert_array_equal(np.concatenate(list(sim.chunks(17))), whole)
    np.testing.assert_array_equal(simulate_astro(n_frames=200, height=96, width=96, n_waves=1, n_blobs=1,
                                                 seed=7).render(30, 50), whole[30:50])
    labels = sim.labels(0, 200)
    assert sorted(np.unique(labels)) == [0, 1, 2]
    for event, (t0, t1, y0, y1, x0, x1) in enumerate(sim.truth.support):
        t, y, x = np.nonzero(labels == event + 1)
        assert t0 <= t.min() and t.max() < t1 and y0 <= y.min() and y.max() < y1 and x0 <= x.min() and x.max() < x1
        inside = whole[t, y, x].astype(float).mean()
        assert inside > whole[:, y, x].astype(float).mean() + 10  # the event is brighter than its pixels' mean
    empty = simulate_astro(n_frames=50, height=64, width=64, n_waves=0, n_blobs=0, noise=0.0, bleaching=0.0)
    assert len(empty.truth) == 0 and not empty.labels(0, 50).any()
    frames = empty.render(0, 50)
    np.testing.assert_array_equal(frames, frames[:1].repeat(50, axis=0))
    assert EXTENT_FRACTION == 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(height=32), "height must be >= 64"),
        (dict(n_blobs=-1), "n_blobs must be >= 0"),
        (dict(fps=0), "fps must be > 0"),
        (dict(bleaching=1.0), "bleaching must be in"),
        (dict(n_frames=60, n_waves=3), "does not fit|could not place"),
    ],
)
def test_simulator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate_astro(**kwargs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(min_size=0), r"spatial_events\.min_size must be an integer >= 1"),
        (dict(window=1), r"spatial_events\.window must be an integer >= 2"),
        (dict(method="dff"), r"spatial_events\.method must be one of"),
        (dict(smooth_sigma=0), r"spatial_events\.smooth_sigma must be > 0"),
        (dict(spatial_min_ratio=1.5), r"spatial_events\.spatial_min_ratio must be in \(0, 1\]"),
        (dict(temporal_rel_height=1.0), r"spatial_events\.temporal_rel_height must be in \[0, 1\)"),
        (dict(temporal_prominence=-1), r"spatial_events\.temporal_prominence must be > 0"),
        (dict(comb_type="and"), r"spatial_events\.comb_type must be one of"),
        (dict(connectivity=4), r"spatial_events\.connectivity must be 1, 2 or 3"),
        (dict(threshold=float("nan")), r"spatial_events\.threshold must be a finite number or null"),
        (dict(use_spatial=False, use_temporal=False), r"needs use_spatial or use_temporal"),
        (dict(fill_holes=1), r"spatial_events\.fill_holes must be true or false"),
    ],
)
def test_parameters_are_range_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        SpatialEventParams(**changes)


def bad_call(frames, **changes):
    options = dict(fps=10.0, params=DEFAULTS, device="cpu")
    options.update(changes)
    n_frames = options.pop("n_frames", len(frames))
    reader = options.pop("read_frames", lambda start, stop: frames[start:stop])
    return detect_spatial_events(reader, n_frames, **options)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(n_frames=1), "n_frames must be >= 2"),
        (dict(n_frames=0), "n_frames must be an integer >= 1"),
        (dict(fps=0.0), "fps must be a finite number > 0"),
        (dict(fps=float("inf")), "fps must be a finite number > 0"),
        (dict(chunk_frames=0), "chunk_frames must be an integer >= 1"),
        (dict(params={"window": 10}), "params must be a SpatialEventParams"),
        (dict(device="gpu"), "device must be one of"),
        (dict(progress="bar"), "progress must be callable"),
        (dict(read_frames=lambda start, stop: np.zeros((stop - start, 8))), r"read_frames\(0, 60\) returned shape"),
        (dict(read_frames=lambda start, stop: np.zeros((1, 8, 8))), "returned shape"),
        (dict(params=SpatialEventParams(method="dFF")), "method 'dFF' needs a background > 0"),
    ],
)
def test_bad_input_raises_clear_errors(changes, message):
    frames = np.zeros((60, 16, 16), dtype=np.float32)
    with pytest.raises(ValueError, match=message):
        bad_call(frames, **changes)


def test_frames_with_nan_are_named():
    frames = np.random.default_rng(0).normal(100, 5, (60, 16, 16)).astype(np.float32)
    frames[37, 3, 4] = np.nan
    with pytest.raises(ValueError, match="frame 37 contains NaN"):
        bad_call(frames)
