"""Ground-truth movies and the acquisition-format writers of element_calcium.simulate.

Written files are opened with cv2, tifffile, json and pandas directly, never with element_calcium.readers.
"""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage
from scipy.interpolate import CubicSpline
from skimage.registration import phase_cross_correlation

from element_calcium.simulate import (
    GroundTruth,
    SimulatedMovie,
    WrittenRecording,
    simulate,
    simulate_traces,
    write_miniscope_v3,
    write_miniscope_v4,
    write_tiff,
)


def read_avi(path):
    """All frames of an AVI as (n, H, W) uint8, and the frame rate in its header."""
    capture = cv2.VideoCapture(str(path))
    header_fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame[:, :, 0] if frame.ndim == 3 else frame)
    capture.release()
    return np.stack(frames), header_fps


@pytest.fixture(scope="module")
def small_1p():
    return simulate(n_frames=60, height=32, width=40, n_cells=6, seed=3)


@pytest.fixture(scope="module")
def small_2p():
    return simulate(n_frames=30, height=24, width=32, n_cells=5, mode="2p", seed=4)


# --- simulated movies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode, dtype", [("1p", np.uint8), ("2p", np.uint16)])
def test_movie_has_the_requested_shape_dtype_and_rate(mode, dtype):
    movie = simulate(n_frames=12, height=20, width=28, n_cells=4, mode=mode, fps=15.0)
    frames = movie.render(0, 12)
    assert isinstance(movie, SimulatedMovie) and isinstance(movie.truth, GroundTruth)
    assert movie.shape == (12, 20, 28) and len(movie) == 12
    assert movie.dtype == np.dtype(dtype) and frames.dtype == np.dtype(dtype)
    assert frames.shape == (12, 20, 28)
    assert movie.fps == movie.truth.fps == 15.0 and movie.truth.mode == mode
    assert frames.std() > 0


@pytest.mark.parametrize("mode", ["1p", "2p"])
def test_same_seed_gives_the_same_movie_and_another_seed_does_not(mode):
    kwargs = dict(n_frames=10, height=24, width=24, n_cells=5, mode=mode)
    a, b, c = simulate(seed=7, **kwargs), simulate(seed=7, **kwargs), simulate(seed=8, **kwargs)
    np.testing.assert_array_equal(a.render(0, 10), b.render(0, 10))
    np.testing.assert_array_equal(a.truth.footprints, b.truth.footprints)
    np.testing.assert_array_equal(a.truth.calcium, b.truth.calcium)
    assert not np.array_equal(a.render(0, 10), c.render(0, 10))
    assert not np.array_equal(a.truth.centers, c.truth.centers)


@pytest.mark.parametrize("mode, nonrigid", [("1p", False), ("2p", False), ("1p", True)])
def test_frames_do_not_depend_on_how_the_movie_is_chunked(mode, nonrigid):
    movie = simulate(n_frames=23, height=32, width=32, n_cells=6, mode=mode, nonrigid=nonrigid, seed=1)
    whole = movie.render(0, 23)
    chunked = list(movie.chunks(5))
    assert [len(chunk) for chunk in chunked] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(chunked), whole)
    np.testing.assert_array_equal(movie.render(7, 16), whole[7:16])
    np.testing.assert_array_equal(movie.render(22, 23)[0], whole[22])
    assert movie.render(4, 4).shape == (0, 32, 32)


def test_truth_has_the_documented_shapes_dtypes_and_ranges():
    movie = simulate(n_frames=50, height=40, width=48, n_cells=7, seed=2)
    truth = movie.truth
    assert truth.footprints.shape == (40, 48, 7) and truth.footprints.dtype == np.float32
    assert truth.calcium.shape == (7, 50) and truth.calcium.dtype == np.float32
    assert truth.spikes.shape == (7, 50) and truth.spikes.dtype == np.float32
    assert truth.shifts.shape == (50, 2) and truth.shifts.dtype == np.float32
    assert truth.centers.shape == (7, 2) and truth.centers.dtype == np.float32
    assert truth.warps is None
    np.testing.assert_allclose(truth.footprints.max(axis=(0, 1)), 1.0)
    assert truth.footprints.min() >= 0
    assert (truth.calcium >= 0).all()
    assert (truth.spikes >= 0).all() and np.array_equal(truth.spikes, np.round(truth.spikes))
    assert ((truth.centers >= 0) & (truth.centers < [40, 48])).all()
    with pytest.raises(ValueError):
        truth.calcium[0, 0] = 1.0  # read-only: the frames are drawn from these arrays


def test_footprints_are_local_and_centred_on_their_centres():
    truth = simulate(n_frames=5, height=64, width=64, n_cells=8, seed=5).truth
    yy, xx = np.mgrid[0:64, 0:64]
    for n, (cy, cx) in enumerate(truth.centers):
        footprint = truth.footprints[:, :, n]
        distance = np.hypot(yy - cy, xx - cx)
        assert footprint[distance > 16].max() == 0  # local support
        assert distance[footprint > 0].size < 64 * 64 / 4
        centroid = np.array([(footprint * yy).sum(), (footprint * xx).sum()]) / footprint.sum()
        np.testing.assert_allclose(centroid, [cy, cx], atol=0.75)


def test_shifts_are_bounded_smooth_and_on_the_warp_grid():
    truth = simulate(n_frames=400, height=48, width=48, n_cells=3, max_shift=2.5, seed=6).truth
    shifts = truth.shifts
    assert np.abs(shifts).max() <= 2.5
    assert np.ptp(shifts, axis=0).min() > 0.5  # it does move
    assert np.abs(np.diff(shifts, axis=0)).max() < 0.5  # smoothly
    np.testing.assert_array_equal(shifts * 32, np.round(shifts * 32))
    still = simulate(n_frames=20, height=24, width=24, n_cells=2, max_shift=0.0).truth
    assert not still.shifts.any()


def test_frames_move_by_the_true_rigid_shift():
    movie = simulate(
        n_frames=120, height=96, width=96, n_cells=30, mode="2p", max_shift=4.0, spike_rate=0.0, noise=0, seed=2
    )
    frames = movie.render(0, 120).astype(np.float32)
    window = np.outer(np.hanning(96), np.hanning(96))
    reference = (frames[0] - frames[0].mean()) * window
    for t in range(10, 120, 10):
        moving = (frames[t] - frames[t].mean()) * window
        estimate, _, _ = phase_cross_correlation(reference, moving, upsample_factor=50, normalization=None)
        expected = movie.truth.shifts[t] - movie.truth.shifts[0]
        np.testing.assert_allclose(-estimate, expected, atol=0.1)


def test_nonrigid_warps_are_stored_bounded_and_follow_the_documented_field():
    kwargs = dict(n_frames=30, height=96, width=112, n_cells=30, mode="2p", max_shift=6.0, spike_rate=0.0, noise=0)
    rigid, warped = simulate(seed=21, **kwargs), simulate(nonrigid=True, seed=21, **kwargs)
    warps = warped.truth.warps
    assert warps.dtype == np.float32 and warps.shape[0] == 30 and warps.shape[3] == 2
    assert warps.shape[1] >= 3 and warps.shape[2] >= 3
    np.testing.assert_allclose(warps.mean(axis=(1, 2)), 0.0, atol=1e-5)
    assert 0.3 < np.abs(warps).max() <= 3.0
    np.testing.assert_array_equal(rigid.truth.shifts, warped.truth.shifts)
    # The 2p background is flat here, so a warped frame is the rigid frame sampled at p - warp(p), with warp(p)
    # the natural cubic spline through the grid nodes (see GroundTruth.warps).
    flat, bent = rigid.render(0, 30).astype(np.float32), warped.render(0, 30).astype(np.float32)
    yy, xx = np.mgrid[0:96, 0:112].astype(np.float32)
    inner = (slice(8, -8), slice(8, -8))
    for t in (0, 15, 29):
        grid = warps[t]
        field = CubicSpline(np.linspace(0, 95, grid.shape[0]), grid, axis=0, bc_type="natural")(np.arange(96))
        field = CubicSpline(np.linspace(0, 111, grid.shape[1]), field, axis=1, bc_type="natural")(np.arange(112))
        field = field.astype(np.float32)
        expected = cv2.remap(flat[t], xx - field[..., 1], yy - field[..., 0], cv2.INTER_LINEAR)
        error = np.abs(expected - bent[t])[inner].mean()
        assert error < 0.3 * np.abs(flat[t] - bent[t])[inner].mean()
    with pytest.raises(ValueError, match="nonrigid"):
        simulate(nonrigid=True, max_shift=0.0)


def test_spikes_drive_calcium_causally():
    truth = simulate(n_frames=600, height=32, width=32, n_cells=12, spike_rate=0.3, fps=20.0, seed=11).truth
    fired = 0
    for spikes, calcium in zip(truth.spikes, truth.calcium):
        if not spikes.any():
            assert not calcium.any()
            continue
        fired += 1
        first = int(np.argmax(spikes > 0))
        assert not calcium[:first].any()  # nothing before the first spike
        assert calcium[first] > 0  # the response starts in the spike's frame
        peak = calcium[first : first + 10].max()
        assert 0.4 * spikes[first] < peak < 3.0 * spikes[first] + 1.5
    assert fired >= 8
    silent = simulate(n_frames=50, height=24, width=24, n_cells=4, spike_rate=0.0).truth
    assert not silent.spikes.any() and not silent.calcium.any()


def footprint_diameters(footprints):
    """(N,) 4 x the sigma of each footprint, from its second moments: (det covariance)^(1/4) is the sigma of a
    round Gaussian and the geometric mean of an elongated one's."""
    height, width, _ = footprints.shape
    yy, xx = np.mgrid[0:height, 0:width]
    diameters = []
    for footprint in np.moveaxis(footprints, 2, 0):
        weights = footprint / footprint.sum()
        dy, dx = yy - (weights * yy).sum(), xx - (weights * xx).sum()
        covariance = [[(weights * dy * dy).sum(), (weights * dy * dx).sum()],
                      [(weights * dy * dx).sum(), (weights * dx * dx).sum()]]
        diameters.append(4 * np.linalg.det(covariance) ** 0.25)
    return np.array(diameters)


def touches_the_edge(footprints):
    return (footprints[[0, -1]].any(axis=(0, 1))) | (footprints[:, [0, -1]].any(axis=(0, 1)))


@pytest.mark.parametrize("mode", ["1p", "2p"])
@pytest.mark.parametrize("diameter", [20.0, 40.0])
def test_cells_have_the_requested_diameter_in_a_large_field(mode, diameter):
    truth = simulate(n_frames=5, height=256, width=256, n_cells=12, cell_diameter=diameter, mode=mode, seed=21).truth
    inner = ~touches_the_edge(truth.footprints)
    assert inner.sum() >= 6
    # a Gaussian cut at 1 % of its peak keeps 98 % of its sigma; 2p's dimmer nucleus widens it a little
    np.testing.assert_allclose(footprint_diameters(truth.footprints)[inner], diameter, rtol=0.05)
    yy, xx = np.mgrid[0:256, 0:256]
    for n, (cy, cx) in enumerate(truth.centers):
        distance = np.hypot(yy - cy, xx - cx)
        assert truth.footprints[:, :, n][distance > diameter].max() == 0  # support scales: about 3 sigma
        assert truth.footprints[:, :, n][distance < diameter / 4].min() > 0.3
    sigma = diameter / 4
    assert ((truth.centers >= 1.5 * sigma) & (truth.centers <= 255 - 1.5 * sigma)).all()  # margins scale
    spacing = np.linalg.norm(truth.centers[:, None] - truth.centers[None], axis=2) + 1e3 * np.eye(12)
    assert spacing.min() >= diameter  # 12 cells of 40 px fit side by side


def test_cell_diameters_drawn_from_a_range_and_the_default():
    truth = simulate(n_frames=5, height=256, width=256, n_cells=30, cell_diameter=(10.0, 40.0), seed=22).truth
    measured = footprint_diameters(truth.footprints)[~touches_the_edge(truth.footprints)]
    assert 0.95 * 10 <= measured.min() < 18 and 32 < measured.max() <= 40 * 1.02
    for mode, (low, high) in (("1p", (10, 16)), ("2p", (10, 14))):  # None: 4 x the mode's sigma range
        truth = simulate(n_frames=5, height=128, width=128, n_cells=20, mode=mode, seed=23).truth
        measured = footprint_diameters(truth.footprints)[~touches_the_edge(truth.footprints)]
        assert 0.95 * low <= measured.min() and measured.max() <= 1.03 * high


def test_bursting_cells_have_exact_zero_stretches_and_leave_the_others_alone():
    options = dict(n_frames=20 * 240, height=64, width=64, n_cells=16, fps=20.0, seed=24)
    plain, bursty = simulate(**options).truth, simulate(**options, burst_fraction=0.5).truth
    assert plain.bursting.sum() == 0 and bursty.bursting.sum() == 8
    others = ~bursty.bursting
    np.testing.assert_array_equal(bursty.calcium[others], plain.calcium[others])  # same draws for the others
    np.testing.assert_array_equal(bursty.footprints, plain.footprints)
    for spikes, calcium in zip(bursty.spikes[bursty.bursting], bursty.calcium[bursty.bursting]):
        fired = np.flatnonzero(spikes)
        gaps = np.diff(fired) / 20.0
        assert ((gaps <= 4.0) | (gaps >= 10.0)).all() and (gaps >= 10.0).any()  # bursts, then silence
        zero = np.concatenate(([0], (calcium == 0).astype(np.int8), [0]))
        runs = np.diff(np.flatnonzero(np.diff(zero)))[::2]
        assert runs.max() >= 20 * 5  # flat zeros for many seconds after a burst has decayed
        starts = np.flatnonzero((calcium[1:] > 0) & (calcium[:-1] == 0)) + 1
        assert np.isin(starts, fired).all()  # every rise out of silence is a spike's frame
    for spikes, calcium in zip(bursty.spikes[others], bursty.calcium[others]):
        if spikes.any():
            assert (calcium[np.argmax(spikes > 0) :] > 0).all()  # AR decays never reach 0 in the others
    rate = bursty.spikes.sum(axis=1) / 240.0
    assert 0.5 < rate[bursty.bursting].mean() / rate[others].mean() < 2.0  # the mean rate is kept


def test_bursting_traces_for_transient_tests():
    plain = simulate_traces(n_cells=6, n_frames=6000, seed=25)
    bursty = simulate_traces(n_cells=6, n_frames=6000, burst_fraction=1.0, seed=25)
    assert bursty.bursting.all() and not plain.bursting.any()
    assert (bursty.calcium == 0).mean() > 0.5 and (plain.calcium == 0).mean() < 0.1
    np.testing.assert_allclose(bursty.dff - bursty.calcium, plain.dff - plain.calcium, atol=1e-6)  # same noise


def test_cell_brightness_follows_its_calcium():
    movie = simulate(n_frames=300, height=48, width=48, n_cells=6, mode="2p", max_shift=0.0, noise=0, seed=12)
    frames = movie.render(0, 300).astype(np.float32)
    n = int(np.argmax(movie.truth.calcium.std(axis=1)))
    cy, cx = np.round(movie.truth.centers[n]).astype(int)
    assert np.corrcoef(frames[:, cy, cx], movie.truth.calcium[n])[0, 1] > 0.95


def test_one_photon_has_a_large_smooth_background_and_two_photon_does_not():
    def background_share(mode):
        movie = simulate(n_frames=100, height=96, width=96, n_cells=15, mode=mode, seed=13)
        mean = movie.render(0, 100).astype(np.float32).mean(axis=0)
        smooth = ndimage.gaussian_filter(mean, 12)
        return np.median(smooth) / np.percentile(mean, 99.9)

    assert background_share("1p") > 0.5
    assert background_share("2p") < 0.3


def test_one_photon_background_drifts_over_time():
    movie = simulate(n_frames=400, height=64, width=64, n_cells=5, spike_rate=0.0, max_shift=0.0, noise=0, seed=14)
    first, last = (ndimage.gaussian_filter(movie.render(t, t + 1)[0].astype(np.float32), 8) for t in (0, 399))
    assert np.abs(last - first).max() > 2.0  # grey levels, with the cells silent and the field still


@pytest.mark.parametrize("noise", [2.0, 6.0])
def test_one_photon_noise_has_the_requested_level(noise):
    movie = simulate(
        n_frames=2, height=128, width=128, n_cells=0, max_shift=0.0, spike_rate=0.0, noise=noise, seed=15
    )
    frames = movie.render(0, 2).astype(np.float32)
    assert np.std(frames[1] - frames[0]) / np.sqrt(2) == pytest.approx(noise, rel=0.1)


def test_two_photon_noise_grows_with_brightness():
    kwargs = dict(n_frames=20, height=64, width=64, n_cells=12, mode="2p", max_shift=0.0, seed=16)
    clean = simulate(noise=0, **kwargs).render(0, 20).astype(np.float32)
    noisy = simulate(noise=25.0, **kwargs).render(0, 20).astype(np.float32)
    error = noisy - clean
    dark, bright = clean < np.percentile(clean, 30), clean > np.percentile(clean, 99)
    assert error[bright].std() > 2 * error[dark].std()
    assert abs(error.mean()) < 1.0


def test_no_cells_is_allowed():
    movie = simulate(n_frames=5, height=16, width=16, n_cells=0)
    assert movie.truth.footprints.shape == (16, 16, 0) and movie.truth.calcium.shape == (0, 5)
    assert movie.render(0, 5).shape == (5, 16, 16)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_frames=0), "n_frames"),
        (dict(n_frames=2.5), "n_frames"),
        (dict(height=8), "height"),
        (dict(width=True), "width"),
        (dict(n_cells=-1), "n_cells"),
        (dict(mode="3p"), "mode"),
        (dict(fps=0.0), "fps"),
        (dict(fps=float("nan")), "fps"),
        (dict(max_shift=-1.0), "max_shift"),
        (dict(max_shift=40.0), "max_shift"),
        (dict(nonrigid="yes"), "nonrigid"),
        (dict(nonrigid=True, max_shift=0.0), "nonrigid"),
        (dict(spike_rate=-0.1), "spike_rate"),
        (dict(noise=-1.0), "noise"),
        (dict(seed=-3), "seed"),
        (dict(cell_diameter=0.0), "cell_diameter"),
        (dict(cell_diameter=-4.0), "cell_diameter"),
        (dict(cell_diameter=200.0), "cell_diameter"),
        (dict(cell_diameter=(30.0, 10.0)), "cell_diameter"),
        (dict(cell_diameter=(10.0, 20.0, 30.0)), "cell_diameter"),
        (dict(cell_diameter="large"), "cell_diameter"),
        (dict(burst_fraction=-0.1), "burst_fraction"),
        (dict(burst_fraction=1.5), "burst_fraction"),
    ],
)
def test_bad_simulate_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        simulate(**kwargs)


def test_bad_render_ranges_raise_value_error(small_1p):
    with pytest.raises(ValueError, match="start"):
        small_1p.render(-1, 3)
    with pytest.raises(ValueError, match="stop"):
        small_1p.render(5, 3)
    with pytest.raises(ValueError, match="stop"):
        small_1p.render(0, 61)
    with pytest.raises(ValueError, match="n_frames"):
        next(small_1p.chunks(0))


# --- Miniscope DAQ V4 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["FFV1", "GREY"])
def test_v4_writes_numbered_avis_metadata_and_timestamps(tmp_path, small_1p, codec):
    rec = write_miniscope_v4(tmp_path / "session", small_1p, frames_per_file=5, codec=codec, led_power=42, seed=1)
    device = tmp_path / "session" / "My_V4_Miniscope"
    assert isinstance(rec, WrittenRecording)
    assert rec.path == tmp_path / "session"
    assert [f.name for f in rec.files] == [f"{i}.avi" for i in range(12)]  # 10.avi, 11.avi after 9.avi
    assert all(f.parent == device and f.exists() for f in rec.files)
    assert (rec.nframes, rec.height, rec.width, rec.fps, rec.dropped_frames, rec.nchannels) == (60, 32, 40, 20.0, 0, 1)
    assert not list(tmp_path.rglob(".*"))  # no temporary files left
    assert repr(rec) == (f"WrittenRecording(path={str(rec.path)!r}, files=12, nframes=60, size=32x40, fps=20, "
                         "dropped_frames=0, nchannels=1)")  # one line, not every timestamp

    decoded = [read_avi(f) for f in rec.files]
    assert [len(frames) for frames, _ in decoded] == [5] * 12
    assert {header_fps for _, header_fps in decoded} == {60.0}  # a nominal header rate, not the real one
    np.testing.assert_array_equal(np.concatenate([frames for frames, _ in decoded]), small_1p.render(0, 60))

    meta = json.loads((device / "metaData.json").read_text())
    assert meta == {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "frameRate": "20FPS",
        "gain": "Low",
        "led0": 42,
        "ewl": 0,
        "compression": codec,
        "framesPerFile": 5,
        "ROI": {"height": 32, "width": 40, "leftEdge": 0, "topEdge": 0},
    }
    stamps = pd.read_csv(device / "timeStamps.csv")
    assert list(stamps.columns) == ["Frame Number", "Time Stamp (ms)", "Buffer Index"]
    assert stamps["Frame Number"].tolist() == list(range(60))
    assert (stamps["Buffer Index"] == 0).all()
    np.testing.assert_array_equal(stamps["Time Stamp (ms)"].to_numpy() / 1000.0, rec.timestamps)
    assert rec.timestamps[0] == 0.0 and rec.timestamps.dtype == np.float64
    np.testing.assert_allclose(rec.timestamps, np.arange(60) / 20.0, atol=0.0021)  # jitter <= 1 ms, ms rounding
    assert np.diff(rec.timestamps).std() > 0  # jittered

    session = json.loads((tmp_path / "session" / "metaData.json").read_text())
    assert {"researcherName", "experimentName", "animalName", "baseDirectory"} <= set(session)
    start = session["recordingStartTime"]
    assert set(start) == {"year", "month", "day", "hour", "minute", "second", "msec", "msecSinceEpoch"}
    assert start["msecSinceEpoch"] % 1000 == start["msec"]
    assert not (device / "headOrientation.csv").exists()


def test_v4_dropped_frames_leave_gaps_in_the_timestamps(tmp_path, small_1p):
    rec = write_miniscope_v4(tmp_path / "s", small_1p, frames_per_file=7, drop_frames=[4, 30, 31])
    assert (rec.nframes, rec.dropped_frames) == (57, 3)
    assert len(rec.timestamps) == 57 and len(rec.files) == 9
    intervals = np.diff(rec.timestamps)
    gaps = np.flatnonzero(intervals > 0.075)
    np.testing.assert_array_equal(gaps, [3, 28])
    assert intervals[3] == pytest.approx(0.1, abs=0.003) and intervals[28] == pytest.approx(0.15, abs=0.003)
    kept = np.delete(small_1p.render(0, 60), [4, 30, 31], axis=0)
    np.testing.assert_array_equal(np.concatenate([read_avi(f)[0] for f in rec.files]), kept)
    stamps = pd.read_csv(tmp_path / "s" / "My_V4_Miniscope" / "timeStamps.csv")
    assert len(stamps) == 57


def test_v4_optional_parts(tmp_path, small_1p):
    rec = write_miniscope_v4(
        tmp_path / "s",
        small_1p,
        device_folder="Scope",
        gain=2.5,
        include_roi=False,
        session_metadata=False,
        head_orientation=True,
    )
    device = tmp_path / "s" / "Scope"
    assert [f.name for f in rec.files] == ["0.avi"]
    meta = json.loads((device / "metaData.json").read_text())
    assert "ROI" not in meta and meta["gain"] == 2.5 and meta["framesPerFile"] == 1000
    assert not (tmp_path / "s" / "metaData.json").exists()
    head = pd.read_csv(device / "headOrientation.csv")
    assert list(head.columns) == ["Time Stamp (ms)", "qw", "qx", "qy", "qz"]
    assert len(head) == rec.nframes
    np.testing.assert_array_equal(head["Time Stamp (ms)"].to_numpy() / 1000.0, rec.timestamps)
    np.testing.assert_allclose(np.linalg.norm(head[["qw", "qx", "qy", "qz"]].to_numpy(), axis=1), 1.0, atol=1e-5)


def test_v4_accepts_an_array_with_an_explicit_rate(tmp_path):
    movie = np.random.default_rng(0).integers(0, 256, size=(9, 16, 24), dtype=np.uint8)
    rec = write_miniscope_v4(tmp_path / "s", movie, fps=30.0, frames_per_file=4)
    assert rec.fps == 30.0 and rec.nframes == 9
    assert json.loads((tmp_path / "s" / "My_V4_Miniscope" / "metaData.json").read_text())["frameRate"] == "30FPS"
    np.testing.assert_array_equal(np.concatenate([read_avi(f)[0] for f in rec.files]), movie)


@pytest.mark.parametrize(
    "movie, kwargs, name",
    [
        (np.zeros((4, 16, 16), np.uint16), dict(fps=20.0), "movie"),
        (np.zeros((4, 15, 16), np.uint8), dict(fps=20.0), "movie"),
        (np.zeros((16, 16), np.uint8), dict(fps=20.0), "movie"),
        (np.zeros((4, 16, 16), np.uint8), {}, "fps"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, codec="MJPG"), "codec"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, frames_per_file=0), "frames_per_file"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, drop_frames=[4]), "drop_frames"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, drop_frames=[1, 1]), "drop_frames"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, drop_frames=[0, 1, 2, 3]), "drop_frames"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, gain="Huge"), "gain"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, led_power=101), "led_power"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, device_folder="a/b"), "device_folder"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=20.0, head_orientation=1), "head_orientation"),
        (np.zeros((4, 16, 16), np.uint8), dict(fps=2000.0), "fps"),
    ],
)
def test_v4_bad_arguments_raise_value_error_naming_them(tmp_path, movie, kwargs, name):
    with pytest.raises(ValueError, match=name):
        write_miniscope_v4(tmp_path / "s", movie, **kwargs)
    assert not (tmp_path / "s").exists()  # refused before anything is written


def test_writers_refuse_a_folder_that_is_not_empty(tmp_path, small_1p):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "old.avi").write_bytes(b"")
    with pytest.raises(ValueError, match="folder"):
        write_miniscope_v4(tmp_path / "s", small_1p)
    with pytest.raises(ValueError, match="folder"):
        write_tiff(tmp_path / "s", small_1p)


def test_a_failed_write_leaves_no_partial_file(tmp_path, small_1p):
    class Failing:
        shape, dtype, fps = (60, 32, 40), np.dtype(np.uint8), 20.0

        def chunks(self, n):
            yield small_1p.render(0, 8)
            raise RuntimeError("camera unplugged")

    with pytest.raises(RuntimeError, match="unplugged"):
        write_miniscope_v4(tmp_path / "s", Failing(), frames_per_file=5)
    written = sorted(p.name for p in (tmp_path / "s" / "My_V4_Miniscope").iterdir())
    assert written == ["0.avi"]  # the complete first file; the second was never renamed into place


def test_a_movie_shorter_than_its_shape_is_refused(tmp_path, small_1p):
    class Short:
        shape, dtype, fps = (60, 32, 40), np.dtype(np.uint8), 20.0

        def chunks(self, n):
            yield small_1p.render(0, 50)

    with pytest.raises(ValueError, match="movie gave 50 frames"):
        write_tiff(tmp_path / "t", Short())


# --- Miniscope DAQ V3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, scope_cam", [(0, 1), (1, 0)])
def test_v3_writes_mscam_files_and_a_timestamp_table_with_two_cameras(tmp_path, small_1p, seed, scope_cam):
    rec = write_miniscope_v3(tmp_path / "v3", small_1p, frames_per_file=5, drop_frames=[10], seed=seed)
    assert [f.name for f in rec.files] == [f"msCam{i}.avi" for i in range(1, 13)]  # msCam10 after msCam9
    assert (rec.nframes, rec.dropped_frames, rec.path) == (59, 1, tmp_path / "v3")
    frames = np.concatenate([read_avi(f)[0] for f in rec.files])
    np.testing.assert_array_equal(frames, np.delete(small_1p.render(0, 60), 10, axis=0))

    table = pd.read_csv(tmp_path / "v3" / "timestamp.dat", sep="\t")
    assert list(table.columns) == ["camNum", "frameNum", "sysClock", "buffer"]
    counts = table.groupby("camNum").size().to_dict()
    assert counts[scope_cam] == 59 and counts[1 - scope_cam] != 59
    scope = table[table["camNum"] == scope_cam]
    assert scope["frameNum"].tolist() == list(range(1, 60))
    clock = scope["sysClock"].to_numpy()
    assert clock[0] > 2**31  # junk, as the DAQ writes it
    np.testing.assert_array_equal(clock[1:] / 1000.0, rec.timestamps[1:])
    assert rec.timestamps[0] == 0.0
    assert np.diff(rec.timestamps)[9] == pytest.approx(0.1, abs=0.003)  # the dropped frame
    assert (np.diff(table.loc[table["sysClock"] < 2**31, "sysClock"]) >= 0).all()  # rows in time order

    other = table[table["camNum"] == 1 - scope_cam]
    assert other["sysClock"].iloc[0] > 2**31
    behaviour = sorted((tmp_path / "v3").glob("behavCam*.avi"), key=lambda p: int(p.stem[8:]))
    assert sum(len(read_avi(f)[0]) for f in behaviour) == len(other)


def test_v3_without_another_camera(tmp_path, small_1p):
    rec = write_miniscope_v3(tmp_path / "v3", small_1p, other_camera=False)
    table = pd.read_csv(tmp_path / "v3" / "timestamp.dat", sep="\t")
    assert table["camNum"].unique().tolist() == [0] and len(table) == 60
    assert not list((tmp_path / "v3").glob("behavCam*"))
    assert [f.name for f in rec.files] == ["msCam1.avi"]


def test_v3_refuses_sixteen_bit_movies(tmp_path, small_2p):
    with pytest.raises(ValueError, match="movie"):
        write_miniscope_v3(tmp_path / "v3", small_2p)


# --- TIFF ---------------------------------------------------------------------------------------------------


def test_plain_tiff_holds_one_page_per_frame_and_no_rate(tmp_path, small_2p):
    rec = write_tiff(tmp_path / "t", small_2p)
    assert [f.name for f in rec.files] == ["movie.tif"] and rec.path == tmp_path / "t"
    with tifffile.TiffFile(rec.files[0]) as tif:
        assert len(tif.pages) == 30 and not tif.is_bigtiff and not tif.is_scanimage
        assert tif.pages[0].description == ""
        data = np.stack([page.asarray() for page in tif.pages])
    np.testing.assert_array_equal(data, small_2p.render(0, 30))
    assert data.dtype == np.uint16
    np.testing.assert_array_equal(rec.timestamps, np.arange(30) / small_2p.fps)
    assert (rec.nframes, rec.nchannels, rec.dropped_frames) == (30, 1, 0)


def test_tiff_split_over_files_with_interleaved_channels(tmp_path, small_2p):
    rec = write_tiff(tmp_path / "t", small_2p, n_files=4, nchannels=2, bigtiff=True)
    assert [f.name for f in rec.files] == [f"movie_{i:05d}.tif" for i in range(1, 5)]
    pages = []
    for path in rec.files:
        with tifffile.TiffFile(path) as tif:
            assert tif.is_bigtiff
            pages += [page.asarray() for page in tif.pages]
    assert len(pages) == 60 and rec.nchannels == 2 and rec.nframes == 30
    frames = small_2p.render(0, 30)
    np.testing.assert_array_equal(np.stack(pages[0::2]), frames)  # channels fastest
    np.testing.assert_array_equal(np.stack(pages[1::2]), frames >> 1)


def test_scanimage_tiff_metadata_is_read_back_by_tifffile(tmp_path, small_2p):
    rec = write_tiff(tmp_path / "si", small_2p, scanimage=True, nchannels=2, seed=3)
    with tifffile.TiffFile(rec.files[0]) as tif:
        assert tif.is_scanimage and tif.is_bigtiff
        frame_data = tif.scanimage_metadata["FrameData"]
        assert frame_data["SI.hRoiManager.scanFrameRate"] == small_2p.fps
        assert frame_data["SI.hChannels.channelSave"] == [1, 2]
        assert frame_data["SI.hStackManager.numSlices"] == 1
        assert tif.series[0].shape == (30, 2, 24, 32)
        np.testing.assert_array_equal(tif.asarray()[:, 0], small_2p.render(0, 30))
        described = [tifffile.matlabstr2py(page.description) for page in tif.pages[::2]]
    assert [d["frameNumbers"] for d in described] == list(range(1, 31))
    stamps = np.array([d["frameTimestamps_sec"] for d in described])
    np.testing.assert_array_equal(stamps, rec.timestamps)
    assert stamps[0] == 0.0
    np.testing.assert_allclose(stamps, np.arange(30) / small_2p.fps, atol=0.002)  # 1 ms jitter, from frame 0


def test_scanimage_tiff_split_over_files_keeps_frame_numbers(tmp_path, small_2p):
    rec = write_tiff(tmp_path / "si", small_2p, scanimage=True, n_files=3)
    numbers = []
    for path in rec.files:
        with tifffile.TiffFile(path) as tif:
            assert tif.scanimage_metadata["FrameData"]["SI.hChannels.channelSave"] == [1]
            assert tif.series[0].shape[0] == len(tif.pages)
            numbers += [tifffile.matlabstr2py(page.description)["frameNumbers"] for page in tif.pages]
    assert numbers == list(range(1, 31))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_files=0), "n_files"),
        (dict(n_files=31), "n_files"),
        (dict(nchannels=0), "nchannels"),
        (dict(bigtiff="no"), "bigtiff"),
        (dict(scanimage=None), "scanimage"),
        (dict(fps=-1.0), "fps"),
    ],
)
def test_tiff_bad_arguments_raise_value_error_naming_them(tmp_path, small_2p, kwargs, name):
    with pytest.raises(ValueError, match=name):
        write_tiff(tmp_path / "t", small_2p, **kwargs)


def test_tiff_refuses_float_movies(tmp_path):
    with pytest.raises(ValueError, match="movie"):
        write_tiff(tmp_path / "t", np.zeros((3, 8, 8), np.float32), fps=10.0)

