"""Motion correction against simulated ground truth, on every available backend.

Shifts are compared with ``simulate``'s truth after removing their mean difference: the template
sits at an unknown offset from the unshifted tissue, so estimates agree with the truth up to a
constant (per patch for piecewise-rigid shifts, whose template also holds the average warp).
"""

import dataclasses
import tracemalloc

import numpy as np
import pytest
from scipy import ndimage
from scipy.interpolate import CubicSpline

from element_calcium.compute import motion
from element_calcium.compute.params import MotionParams, ProcessingParams, default_params
from element_calcium.simulate import simulate


def rmse_up_to_offset(estimate, truth):
    """Root-mean-square length of (estimate - truth) after removing its mean, pixels."""
    error = np.asarray(estimate, dtype=np.float64) - truth
    error -= error.mean(axis=0)
    return float(np.sqrt((error**2).sum(axis=-1).mean()))


def default_motion(modality, **changes):
    params = ProcessingParams.from_dict(default_params(modality))
    return dataclasses.replace(params.motion, **changes), params.cell_diameter


def run(frames, params, device="cpu", **options):
    return motion.correct_motion(
        lambda start, stop: frames[start:stop], len(frames), params=params, cell_diameter=12.0, device=device, **options
    )


@pytest.fixture(scope="module")
def movie_2p():
    movie = simulate(n_frames=400, height=128, width=128, n_cells=30, mode="2p", max_shift=5.0, spike_rate=1.0, seed=1)
    return movie, movie.render(0, len(movie))


@pytest.fixture(scope="module")
def movie_1p():
    movie = simulate(n_frames=400, height=128, width=128, n_cells=30, mode="1p", max_shift=5.0, seed=2)
    return movie, movie.render(0, len(movie))


@pytest.fixture(scope="module")
def rigid_2p_cpu(movie_2p):
    params, _ = default_motion("2p", pw_rigid=False)
    return run(movie_2p[1], params)


def test_register_rigid_recovers_a_known_subpixel_shift(device, movie_2p):
    template = movie_2p[1][:20].astype(np.float32).mean(axis=0)
    truth = np.array([[0.0, 0.0], [1.25, -0.5], [-3.4, 2.15], [0.05, 4.95]], dtype=np.float32)
    # A feature at p in the template appears at p + shift in the frame (Fourier shift: exact, periodic).
    frames = np.stack([np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(template), s)).real for s in truth])
    shifts, correlation = motion.register_rigid(frames, template=template, max_shift=8, device=device)
    assert shifts.dtype == np.float32 and shifts.shape == (4, 2)
    np.testing.assert_allclose(shifts, truth, atol=0.05)
    assert correlation.min() > 0.95


def test_rigid_two_photon_shifts_within_a_tenth_of_a_pixel(device, backends_agree, movie_2p, rigid_2p_cpu):
    movie, frames = movie_2p
    params, _ = default_motion("2p", pw_rigid=False)
    result = rigid_2p_cpu if device == "cpu" else run(frames, params, device=device)
    assert result.device == device
    assert result.rigid_shifts.shape == (len(frames), 2) and result.rigid_shifts.dtype == np.float32
    assert result.block_shifts is None and result.block_origins is None and result.block_size is None
    assert rmse_up_to_offset(result.rigid_shifts, movie.truth.shifts) < 0.1

    def compare(on_device, on_cpu):
        np.testing.assert_allclose(on_device.rigid_shifts, on_cpu.rigid_shifts, atol=0.06)
        np.testing.assert_allclose(on_device.mean_image, on_cpu.mean_image, rtol=0.02, atol=1.0)
        np.testing.assert_allclose(on_device.correlation_image, on_cpu.correlation_image, atol=0.03)

    backends_agree(result, lambda: rigid_2p_cpu, compare)


def test_rigid_one_photon_with_default_parameters(device, backends_agree, movie_1p):
    movie, frames = movie_1p
    params, _ = default_motion("1p")
    assert params.highpass and params.gSig_filt is None and params.compress is not None and not params.pw_rigid

    def correct(device):
        return motion.correct_motion(lambda start, stop: frames[start:stop], len(frames), params=params, device=device)

    result = correct(device)
    assert rmse_up_to_offset(result.rigid_shifts, movie.truth.shifts) < 0.1
    # the filter follows the cells' size, measured on the frames (simulated somata: 10-16 px across)
    assert 9.0 < result.cell_diameter < 18.0
    assert result.highpass_sigma == pytest.approx(motion.highpass_sigma(result.cell_diameter))
    assert result.quality.corrected_correlation > result.quality.raw_correlation
    assert result.quality.improved_fraction > 0.8 and result.quality.warning() is None

    def compare(on_device, on_cpu):
        np.testing.assert_allclose(on_device.cell_diameter, on_cpu.cell_diameter, rtol=0.05)
        np.testing.assert_allclose(on_device.rigid_shifts, on_cpu.rigid_shifts, atol=0.06)
        np.testing.assert_allclose(on_device.pnr_image, on_cpu.pnr_image, rtol=0.05, atol=0.2)

    backends_agree(result, lambda: correct("cpu"), compare)


def test_a_given_cell_diameter_or_filter_skips_the_measurement(movie_1p):
    movie, frames = movie_1p
    params, _ = default_motion("1p")
    given = run(frames, params)  # cell_diameter=12
    assert given.cell_diameter is None and given.highpass_sigma == pytest.approx(motion.highpass_sigma(12.0))
    fixed = motion.correct_motion(lambda a, b: frames[a:b], len(frames), params=dataclasses.replace(params, gSig_filt=1.5),
                                  device="cpu")
    assert fixed.cell_diameter is None and fixed.highpass_sigma == 1.5
    assert rmse_up_to_offset(fixed.rigid_shifts, movie.truth.shifts) < 0.1


def block_truth(movie, centers):
    """Truth shift + warp at each patch centre (T, ny, nx, 2): natural cubic spline through the warp nodes."""
    _, height, width = movie.shape
    warps = movie.truth.warps.astype(np.float64)
    nodes_y, nodes_x = np.linspace(0, height - 1, warps.shape[1]), np.linspace(0, width - 1, warps.shape[2])
    along_y = CubicSpline(nodes_y, warps, axis=1, bc_type="natural")(centers[:, 0, 0])
    warp = CubicSpline(nodes_x, along_y, axis=2, bc_type="natural")(centers[0, :, 1])
    return movie.truth.shifts[:, None, None, :] + warp


def test_piecewise_rigid_recovers_each_block_within_three_tenths_of_a_pixel(device, backends_agree):
    movie = simulate(n_frames=300, height=256, width=256, n_cells=100, mode="2p", max_shift=6.0, nonrigid=True, seed=3)
    frames = movie.render(0, len(movie))
    params, _ = default_motion("2p")
    result = run(frames, params, device=device)
    grid = motion.patch_grid((256, 256), strides=params.strides, overlaps=params.overlaps)
    assert result.block_shifts.shape == (len(frames), *grid.shape, 2) and result.block_size == grid.size
    np.testing.assert_array_equal(result.block_origins, grid.origins)
    assert result.block_origins[-1, -1].tolist() == [256 - grid.size[0], 256 - grid.size[1]]  # flush with the edge
    error = result.block_shifts - block_truth(movie, grid.centers)
    error -= error.mean(axis=0)
    per_block = np.sqrt((error**2).sum(axis=-1).mean(axis=0))
    assert per_block.max() < 0.3
    backends_agree(result, lambda: run(frames, params),
                   lambda on_device, on_cpu: np.testing.assert_allclose(on_device.block_shifts, on_cpu.block_shifts,
                                                                        atol=0.1))


def test_correction_sharpens_the_correlation_image_at_the_cells(movie_2p, rigid_2p_cpu):
    movie, frames = movie_2p
    raw = motion.SummaryAccumulator(frames.shape[1:], device="cpu")
    raw.add(frames)
    # Cells sit at their tissue position moved by the template's offset in the corrected movie, and by the
    # mean motion in the raw one; take the best pixel within 1 px of there.
    offset = (rigid_2p_cpu.rigid_shifts - movie.truth.shifts).mean(axis=0)

    def at_cells(image, positions):
        padded = ndimage.maximum_filter(image, size=3)
        rows, cols = np.round(positions).astype(int).T
        return padded[np.clip(rows, 0, image.shape[0] - 1), np.clip(cols, 0, image.shape[1] - 1)].mean()

    corrected = at_cells(rigid_2p_cpu.correlation_image, movie.truth.centers - offset)
    moving = at_cells(raw.result().correlation, movie.truth.centers + movie.truth.shifts.mean(axis=0))
    assert corrected > moving + 0.03


def test_chunk_size_does_not_change_the_result(movie_1p):
    _, frames = movie_1p
    params, _ = default_motion("1p", pw_rigid=True, strides=(32, 32), overlaps=(16, 16))
    small, large = (run(frames, params, chunk_frames=chunk) for chunk in (50, 200))
    np.testing.assert_array_equal(small.rigid_shifts, large.rigid_shifts)
    np.testing.assert_array_equal(small.block_shifts, large.block_shifts)
    np.testing.assert_array_equal(small.template, large.template)
    for name in ("mean_image", "max_image", "correlation_image", "pnr_image"):
        np.testing.assert_allclose(getattr(small, name), getattr(large, name), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_written_chunks_keep_order_and_dtype(movie_2p, dtype):
    frames = movie_2p[1][:120]
    frames = frames.astype(dtype) if np.dtype(dtype).kind == "f" else np.clip(frames // 8, 0, 255).astype(dtype)
    written, calls = [], []
    params = MotionParams(pw_rigid=False, max_shift=8.0, template_frames=60)
    result = run(frames, params, chunk_frames=50, write_corrected=written.append, progress=lambda *a: calls.append(a))
    assert [len(chunk) for chunk in written] == [50, 50, 20]
    assert calls == [(50, 120), (100, 120), (120, 120)]
    out_dtype = np.float32 if np.dtype(dtype).kind == "f" else dtype
    assert all(chunk.dtype == out_dtype for chunk in written)
    corrected = np.concatenate(written)
    expected = motion.apply_shifts(frames, shifts=result.rigid_shifts, device="cpu")
    if out_dtype == np.float32:
        np.testing.assert_allclose(corrected, expected, rtol=1e-6, atol=1e-3)
    else:
        info = np.iinfo(dtype)
        np.testing.assert_array_equal(corrected, np.clip(np.rint(expected), info.min, info.max).astype(dtype))
    np.testing.assert_allclose(result.mean_image, expected.mean(axis=0), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(result.max_image, expected.max(axis=0), rtol=1e-6)


def test_apply_shifts_undoes_a_known_shift(device, movie_2p):
    template = ndimage.gaussian_filter(movie_2p[1][:50].mean(axis=0), 1.5).astype(np.float32)
    moved = ndimage.shift(template, (2.5, -1.25), order=3, mode="nearest")  # feature at p appears at p + (2.5, -1.25)
    corrected = motion.apply_shifts(moved[None], shifts=[[2.5, -1.25]], device=device)[0]
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(corrected[inner] - template[inner]).mean() < 0.02 * template[inner].std()


def test_apply_shifts_with_uniform_patch_shifts_equals_the_rigid_shift(device, movie_2p):
    frames = movie_2p[1][:3].astype(np.float32)
    grid = motion.patch_grid((128, 128), strides=(32, 32), overlaps=(16, 16))
    rigid = np.array([[1.5, -2.0], [0.0, 0.5], [-3.25, 1.0]], dtype=np.float32)
    blocks = np.broadcast_to(rigid[:, None, None, :], (3, *grid.shape, 2))
    by_patch = motion.apply_shifts(frames, shifts=blocks, grid=grid, device=device)
    by_frame = motion.apply_shifts(frames, shifts=rigid, device=device)
    np.testing.assert_allclose(by_patch, by_frame, atol=0.05 * frames.std())


def test_highpass_removes_the_smooth_background(device):
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    background = 50 + 0.5 * yy + 0.3 * xx
    spot = 20 * np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / (2 * 2.0**2))
    filtered = motion.highpass_filter(np.stack([background, background + spot]), sigma=1.0, device=device)
    inner = (slice(16, -16), slice(16, -16))
    assert np.abs(filtered[0][inner]).max() < 1e-3
    assert filtered[1][32, 30] > 5
    assert motion.highpass_sigma(11.0) == pytest.approx(1.0)
    assert motion.highpass_sigma(100.0) == pytest.approx(4.0)


def reference_summary(frames, detail):
    """Mean, max, 8-neighbour correlation and PNR computed directly, in float64."""
    frames, detail = frames.astype(np.float64), detail.astype(np.float64)
    centred = detail - detail.mean(axis=0)
    std = centred.std(axis=0)
    height, width = detail.shape[1:]
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == dx == 0:
                continue
            for y in range(height):
                for x in range(width):
                    if 0 <= y + dy < height and 0 <= x + dx < width:
                        a, b = centred[:, y, x], centred[:, y + dy, x + dx]
                        scale = std[y, x] * std[y + dy, x + dx]
                        total[y, x] += (a * b).mean() / scale if scale > 0 else 0.0
                        count[y, x] += 1
    noise = np.diff(detail, axis=0).std(axis=0) / np.sqrt(2)
    pnr = (detail.max(axis=0) - detail.mean(axis=0)) / noise
    return frames.mean(axis=0), frames.max(axis=0), total / count, pnr


def test_streamed_summary_images_equal_the_direct_computation(device):
    rng = np.random.default_rng(5)
    frames = (100 + rng.normal(size=(37, 9, 11)).cumsum(axis=0)).astype(np.float32)
    detail = (frames - frames.mean(axis=(1, 2), keepdims=True) + rng.normal(size=frames.shape)).astype(np.float32)
    accumulator = motion.SummaryAccumulator((9, 11), device=device)
    for start in (0, 5, 6, 20):  # uneven chunks, one of a single frame
        stop = {0: 5, 5: 6, 6: 20, 20: 37}[start]
        accumulator.add(frames[start:stop], detail=detail[start:stop])
    images = accumulator.result()
    for got, expected in zip((images.mean, images.max, images.correlation, images.pnr), reference_summary(frames, detail)):
        assert got.dtype == np.float32 and got.shape == (9, 11)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_flag_outliers_finds_jumps_and_poor_correlation():
    shifts = np.zeros((50, 2))
    shifts[:, 0] = np.linspace(0, 4, 50)  # steady drift is not an outlier
    shifts[10] += (4.0, 0.0)
    correlation = 0.9 + 0.01 * np.sin(np.arange(50))
    correlation[30] = 0.5
    flags = motion.flag_outliers(shifts, correlation, max_jump=3.0, corr_z=5.0)
    assert flags.dtype == bool and np.flatnonzero(flags).tolist() == [10, 30]


def test_result_flags_frames_that_do_not_match_the_template(movie_2p):
    frames = movie_2p[1][:200].copy()
    frames[77] = np.random.default_rng(0).permutation(frames[77].ravel()).reshape(frames.shape[1:])
    result = run(frames, MotionParams(pw_rigid=False, max_shift=8.0))
    assert result.outlier_frames.dtype == bool and result.outlier_frames[77]
    assert result.template_correlation[77] < 0.5 < np.median(result.template_correlation)


def test_memory_stays_bounded_by_the_chunk_not_the_recording():
    movie = simulate(n_frames=8000, height=48, width=48, n_cells=8, mode="2p", max_shift=2.0, seed=6)
    params = MotionParams(pw_rigid=False, max_shift=6.0, template_frames=60)
    as_float32 = len(movie) * 48 * 48 * 4
    tracemalloc.start()
    try:
        motion.correct_motion(movie.render, len(movie), params=params, cell_diameter=12.0, device="cpu", chunk_frames=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < as_float32 / 8


# Bad input


def test_frames_smaller_than_a_patch_are_refused(movie_2p):
    frames = movie_2p[1][:20, :60, :60]
    with pytest.raises(ValueError, match="smaller than one piecewise-rigid patch"):
        run(frames, MotionParams(pw_rigid=True, max_shift=5.0))


def test_max_shift_of_half_the_frame_is_refused(movie_2p):
    frames = movie_2p[1][:20, :40, :64]
    with pytest.raises(ValueError, match="max_shift=20.0 px must be less than half"):
        run(frames, MotionParams(pw_rigid=False, max_shift=20.0))
    with pytest.raises(ValueError, match="max_shift"):
        motion.register_rigid(frames, template=frames[0], max_shift=32, device="cpu")


def test_nan_frame_is_named(movie_2p):
    frames = movie_2p[1][:300].astype(np.float32)
    frames[250, 3, 4] = np.nan
    with pytest.raises(ValueError, match="frame 250 contains NaN"):
        run(frames, MotionParams(pw_rigid=False, max_shift=5.0, template_frames=50))
    frames[250, 3, 4] = np.inf
    with pytest.raises(ValueError, match="frame 250 contains NaN or infinite"):
        motion.register_rigid(frames, template=frames[0], max_shift=5, device="cpu")


def test_zero_frames_are_refused():
    with pytest.raises(ValueError, match="n_frames must be an integer >= 1"):
        motion.correct_motion(lambda a, b: None, 0, params=MotionParams(pw_rigid=False, max_shift=5.0), cell_diameter=12)
    with pytest.raises(ValueError, match="zero frames"):
        motion.register_rigid(np.zeros((0, 32, 32)), template=np.zeros((32, 32)), max_shift=3, device="cpu")


def test_template_of_the_wrong_shape_is_refused(movie_2p):
    frames = movie_2p[1][:5]
    with pytest.raises(ValueError, match=r"template must be one frame of shape \(128, 128\)"):
        motion.register_rigid(frames, template=frames[0, :64], max_shift=5, device="cpu")


def test_chunk_of_the_wrong_shape_is_refused(movie_2p):
    frames = movie_2p[1][:100]
    with pytest.raises(ValueError, match=r"read_frames\(50, 100\) returned shape \(50, 128, 127\)"):
        motion.correct_motion(
            lambda a, b: frames[a:b] if a < 50 else frames[a:b, :, :127],
            100,
            params=MotionParams(pw_rigid=False, max_shift=5.0, template_frames=10),
            cell_diameter=12.0,
            chunk_frames=50,
        )


def test_errors_of_the_frame_source_propagate_unchanged(movie_2p):
    frames = movie_2p[1][:300]

    class CorruptChunk(Exception):
        pass

    def read_frames(start, stop):
        if start >= 200:
            raise CorruptChunk(f"frames {start}-{stop} are corrupt")
        return frames[start:stop]

    params = MotionParams(pw_rigid=False, max_shift=5.0, template_frames=30)  # one run, at the start
    with pytest.raises(CorruptChunk, match="frames 200-300 are corrupt"):
        motion.correct_motion(read_frames, 300, params=params, cell_diameter=12.0, chunk_frames=100)
