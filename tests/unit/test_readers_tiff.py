"""TIFF and ScanImage readers against stacks written by element_calcium.simulate (and by hand)."""


import numpy as np
import pytest
import tifffile

from element_calcium.readers import detect_software, read_recording
from element_calcium.simulate import simulate, write_tiff
from memory_checks import chunked_sum_and_peak

FPS = 12.5
T, H, W = 23, 32, 40


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(3).integers(0, 60000, (T, H, W), dtype=np.uint16)


def check_movie(movie, expected):
    assert movie.shape == expected.shape and movie.dtype == expected.dtype
    assert np.array_equal(movie.read(0, len(expected)), expected)
    assert np.array_equal(np.concatenate(list(movie.chunks(4))), expected)
    assert np.array_equal(movie.read(5, 17), expected[5:17])
    assert np.array_equal(movie.read(1, 3), expected[1:3])
    assert np.array_equal(movie[-1], expected[-1])


def check_metadata(meta, written, *, software):
    assert meta.software == software
    assert meta.nframes == written.nframes
    assert (meta.height, meta.width) == (written.height, written.width)
    assert meta.nchannels == written.nchannels and meta.nplanes == 1
    assert meta.fps == pytest.approx(written.fps)
    assert np.allclose(meta.timestamps, written.timestamps, rtol=0, atol=1e-3)
    assert meta.dropped_frames == written.dropped_frames == 0
    assert meta.files == tuple(p.resolve() for p in written.files)


# ----------------------------------------------------------------------------- plain TIFF


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16])
def test_plain_single_file(tmp_path, frames, dtype):
    data = (frames // 4).astype(dtype) if dtype != np.uint8 else (frames >> 8).astype(np.uint8)
    written = write_tiff(tmp_path / "t", data, fps=FPS)
    assert detect_software(written.path) == "TIFF"
    recording = read_recording(written.path, fps=FPS)
    check_metadata(recording.metadata, written, software="TIFF")
    assert np.array_equal(recording.metadata.timestamps, np.arange(T) / FPS)
    check_movie(recording.movie(), data)


def test_plain_multi_file_natural_order(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS, n_files=12)
    renamed = []
    for index, path in enumerate(written.files, start=1):
        renamed.append(path.rename(path.with_name(f"movie_{index}.tif")).resolve())
    recording = read_recording(written.path, software="TIFF", fps=FPS)
    assert recording.metadata.files == tuple(renamed)
    assert [p.name for p in recording.metadata.files][:3] == ["movie_1.tif", "movie_2.tif", "movie_3.tif"]
    check_movie(recording.movie(), frames)


def test_plain_bigtiff(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS, bigtiff=True, n_files=2)
    recording = read_recording(written.path, fps=FPS)
    check_metadata(recording.metadata, written, software="TIFF")
    check_movie(recording.movie(), frames)


def test_simulated_two_photon_movie(tmp_path):
    movie = simulate(n_frames=20, height=H, width=W, n_cells=4, mode="2p", fps=15.0, seed=2)
    written = write_tiff(tmp_path / "t", movie, n_files=3)
    recording = read_recording(written.path, fps=15.0)
    check_movie(recording.movie(), movie.render(0, 20))


def test_plain_tiff_needs_fps(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS)
    with pytest.raises(ValueError, match=f"{written.path.name}: plain TIFF files carry no frame rate; pass fps="):
        read_recording(written.path)
    for bad in (0.0, -5.0, float("inf"), 1e9, True, "20"):
        with pytest.raises(ValueError, match=r"t: fps .* is not a frame rate: give a finite number of Hz"):
            read_recording(written.path, fps=bad)


def test_tiff_chunks_use_bounded_memory(tmp_path):
    data = np.random.default_rng(0).integers(0, 4000, (400, 64, 64), dtype=np.uint16)
    written = write_tiff(tmp_path / "t", data, fps=FPS, n_files=2)
    movie = read_recording(written.path, fps=FPS).movie()
    checksum, peak = chunked_sum_and_peak(movie, 20)
    assert checksum == int(data.sum(dtype=np.int64))
    assert peak < data.nbytes / 4


# ----------------------------------------------------------------------------- ScanImage


def test_scanimage_single_channel(tmp_path, frames):
    written = write_tiff(tmp_path / "si", frames, fps=30.0, scanimage=True, seed=4)
    assert detect_software(written.path) == "ScanImage"
    recording = read_recording(written.path)
    check_metadata(recording.metadata, written, software="ScanImage")
    assert recording.metadata.extra["timestamps_source"] == "frameTimestamps_sec"
    assert not np.allclose(recording.metadata.timestamps, np.arange(T) / 30.0, rtol=0, atol=1e-6)
    check_movie(recording.movie(), frames)


def test_scanimage_two_channels_over_files(tmp_path, frames):
    written = write_tiff(tmp_path / "si", frames, fps=30.0, scanimage=True, nchannels=2, n_files=3)
    recording = read_recording(written.path)
    check_metadata(recording.metadata, written, software="ScanImage")
    check_movie(recording.movie(channel=0), frames)
    check_movie(recording.movie(channel=1), frames >> 1)
    with pytest.raises(ValueError, match="channel=2"):
        recording.movie(channel=2)


def test_scanimage_refuses_fps(tmp_path, frames):
    written = write_tiff(tmp_path / "si", frames[:4], fps=30.0, scanimage=True)
    with pytest.raises(ValueError, match="ScanImage recordings carry their own frame rate"):
        read_recording(written.path, fps=30.0)


def write_scanimage_volumes(folder, data, *, timestamps=None, split=None, bigtiff=True):
    """Hand-written ScanImage BigTIFF files: data (T, planes, channels, H, W), frame data in the Software tag."""
    folder.mkdir()
    _, nplanes, nchannels = data.shape[:3]
    software = (
        "SI.VERSION_MAJOR = '2019b'\n"
        "SI.hRoiManager.scanFrameRate = 30\n"
        f"SI.hRoiManager.scanVolumeRate = {30 / nplanes}\n"
        f"SI.hChannels.channelSave = [{';'.join(str(c + 1) for c in range(nchannels))}]\n"
        "SI.hStackManager.enable = true\n"
        f"SI.hStackManager.numSlices = {nplanes}\n"
        "SI.hRoiManager.imagingFovUm = [-60 -40;60 -40;60 40;-60 40]\n"
    )
    pages = data.reshape(-1, *data.shape[-2:])
    split = [len(pages)] if split is None else split
    start = 0
    for index, size in enumerate(split):
        with tifffile.TiffWriter(folder / f"file_{index + 1}.tif", bigtiff=bigtiff) as tif:
            for page in range(start, start + size):
                t = page // (nplanes * nchannels)
                description = "" if timestamps is None else f"frameTimestamps_sec = {timestamps[t]:.6f}\n"
                tif.write(
                    pages[page], photometric="minisblack", software=software, description=description, metadata=None
                )
        start += size
    return folder


def test_scanimage_planes_and_channels_interleaved(tmp_path):
    data = np.random.default_rng(5).integers(0, 4000, (6, 3, 2, 16, 20), dtype=np.int16)
    folder = write_scanimage_volumes(tmp_path / "z", data, split=[18, 18])
    assert detect_software(folder) == "ScanImage"
    recording = read_recording(folder)
    meta = recording.metadata
    assert (meta.nframes, meta.nplanes, meta.nchannels, meta.height, meta.width) == (6, 3, 2, 16, 20)
    assert meta.fps == pytest.approx(10.0)
    assert np.allclose(meta.timestamps, np.arange(6) / 10.0)
    assert meta.extra["timestamps_source"] == "frame rate"
    assert (meta.um_height, meta.um_width) == (80.0, 120.0)
    for plane in range(3):
        for channel in range(2):
            check_movie_small(recording.movie(channel=channel, plane=plane), data[:, plane, channel])


def check_movie_small(movie, expected):
    assert np.array_equal(movie.read(0, len(expected)), expected)
    assert np.array_equal(np.concatenate(list(movie.chunks(4))), expected)


def test_scanimage_dropped_frames_from_descriptions(tmp_path):
    data = np.zeros((10, 1, 1, 8, 8), dtype=np.uint16)
    stamps = np.delete(np.arange(12) / 30.0, [4, 5]) + 2.5
    folder = write_scanimage_volumes(tmp_path / "d", data, timestamps=stamps)
    meta = read_recording(folder).metadata
    assert meta.dropped_frames == 2
    assert np.allclose(meta.timestamps, stamps - 2.5)


def test_scanimage_classic_tiff_pages_all_counted(tmp_path):
    data = np.arange(40 * 8 * 8, dtype=np.uint16).reshape(40, 1, 1, 8, 8)
    folder = write_scanimage_volumes(tmp_path / "c", data, timestamps=np.arange(40) / 10.0, bigtiff=False)
    recording = read_recording(folder)
    assert recording.metadata.nframes == 40
    assert np.allclose(recording.metadata.timestamps, np.arange(40) / 10.0)
    assert np.array_equal(recording.movie().read(0, 40), data[:, 0, 0])


def test_scanimage_incomplete_volume(tmp_path):
    data = np.zeros((4, 2, 1, 8, 8), dtype=np.uint16)
    folder = write_scanimage_volumes(tmp_path / "a", data, split=[3, 5])
    with pytest.raises(ValueError, match=r"file_1\.tif: 3 pages is not a whole number of 1 channel\(s\) x 2 plane"):
        read_recording(folder)
    folder = write_scanimage_volumes(tmp_path / "b", data, split=[4, 3])
    with pytest.warns(UserWarning, match=r"file_2\.tif: the last 1 page"):
        assert read_recording(folder).metadata.nframes == 3


def test_scanimage_metadata_required_when_asked(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames[:3], fps=FPS)
    with pytest.raises(ValueError, match=r"movie\.tif: no ScanImage metadata"):
        read_recording(written.path, software="ScanImage")


# ----------------------------------------------------------------------------- bad input


def test_no_tiff_files(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"no \.tif or \.tiff files"):
        read_recording(tmp_path, software="TIFF", fps=FPS)


@pytest.mark.parametrize("scanimage", [False, True])
def test_truncated_tiff(tmp_path, frames, scanimage):
    written = write_tiff(tmp_path / "t", frames, fps=FPS, n_files=2, scanimage=scanimage)
    path = written.files[1]
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    kwargs = {} if scanimage else {"fps": FPS}
    with pytest.raises(ValueError, match=rf"{path.name}: .*(truncated|corrupt|not a readable)"):
        read_recording(written.path, **kwargs)


def test_tiff_cut_inside_header(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS)
    with open(written.files[0], "r+b") as handle:
        handle.truncate(6)
    with pytest.raises(ValueError, match=r"movie\.tif: not a readable TIFF file"):
        read_recording(written.path, software="TIFF", fps=FPS)


def test_not_a_tiff(tmp_path):
    (tmp_path / "stack.tif").write_bytes(b"this is not a tiff file" * 20)
    with pytest.raises(ValueError, match=r"stack\.tif: not a readable TIFF file"):
        read_recording(tmp_path)


def test_mixed_frame_sizes(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS, n_files=3)
    tifffile.imwrite(written.files[1], frames[:5, :, :-2])
    with pytest.raises(ValueError, match=rf"movie_00002\.tif: frames are {H}x{W - 2} pixels"):
        read_recording(written.path, fps=FPS)


def test_mixed_pixel_types(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames, fps=FPS, n_files=2)
    tifffile.imwrite(written.files[1], frames[:5].astype(np.float32))
    with pytest.raises(ValueError, match=r"movie_00002\.tif: pixel type float32"):
        read_recording(written.path, fps=FPS)


def test_colour_pages_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((3, 16, 16, 3), np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match=r"rgb\.tif: pages are \(16, 16, 3\), not 2-D grey frames"):
        read_recording(tmp_path, fps=FPS)


def test_upper_case_suffix(tmp_path, frames):
    tifffile.imwrite(tmp_path / "A.TIFF", frames[:4], photometric="minisblack")
    assert detect_software(tmp_path) == "TIFF"
    assert read_recording(tmp_path, fps=FPS).metadata.nframes == 4


def test_nan_fps_means_not_given(tmp_path, frames):
    written = write_tiff(tmp_path / "t", frames[:3], fps=FPS)
    with pytest.raises(ValueError, match="pass fps="):
        read_recording(written.path, fps=float("nan"))


# ----------------------------------------------------------------------------- pixel types and planes


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_other_float_pixels_are_read_as_float32(tmp_path, frames, dtype):
    data = (frames[:6] / 7.0).astype(dtype)
    tifffile.imwrite(tmp_path / "f.tif", data, photometric="minisblack")
    movie = read_recording(tmp_path, fps=FPS).movie()
    assert movie.dtype == np.float32
    assert np.array_equal(movie.read(0, 6), data.astype(np.float32))


def test_integer_and_float32_pixels_are_read_as_stored(tmp_path, frames):
    for dtype in (np.int8, np.int32, np.uint32, np.float32):
        folder = tmp_path / np.dtype(dtype).name
        folder.mkdir()
        tifffile.imwrite(folder / "m.tif", (frames[:4] % 100).astype(dtype), photometric="minisblack")
        assert read_recording(folder, fps=FPS).movie().dtype == dtype


@pytest.mark.parametrize(("data", "named"), [
    (np.zeros((4, 8, 8), bool), r"1-bit black-and-white \(a mask\)"),
    (np.zeros((4, 8, 8), np.complex64), "of type complex64"),
])
def test_pixels_that_are_not_intensities_are_refused(tmp_path, data, named):
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="minisblack")
    with pytest.raises(ValueError, match=rf"m\.tif: pixels are {named}, not intensities; save the movie with"):
        read_recording(tmp_path, fps=FPS)


def test_stack_with_named_planes_is_read_as_planes(tmp_path):
    data = np.random.default_rng(1).integers(0, 4000, (5, 7, 16, 20), dtype=np.uint16)  # (T, Z, H, W)
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="minisblack", metadata={"axes": "TZYX"})
    recording = read_recording(tmp_path, fps=FPS)
    meta = recording.metadata
    assert (meta.nframes, meta.nplanes, meta.nchannels) == (5, 7, 1)
    assert np.allclose(meta.timestamps, np.arange(5) / FPS)
    for plane in range(7):
        check_movie_small(recording.movie(plane=plane), data[:, plane])


def test_imagej_hyperstack_planes_and_channels(tmp_path):
    data = np.random.default_rng(2).integers(0, 250, (6, 3, 2, 16, 20), dtype=np.uint8)  # (T, Z, C, H, W)
    files = [tmp_path / "a_1.tif", tmp_path / "a_2.tif"]
    tifffile.imwrite(files[0], data[:4], imagej=True, metadata={"axes": "TZCYX"})
    tifffile.imwrite(files[1], data[4:], imagej=True, metadata={"axes": "TZCYX"})
    recording = read_recording(tmp_path, fps=FPS)
    assert (recording.metadata.nframes, recording.metadata.nplanes, recording.metadata.nchannels) == (6, 3, 2)
    for plane in range(3):
        for channel in range(2):
            check_movie_small(recording.movie(channel=channel, plane=plane), data[:, plane, channel])


def test_stack_of_unnamed_axes_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "m.tif", np.zeros((5, 7, 16, 20), np.uint16), photometric="minisblack")  # axes unnamed
    with pytest.raises(ValueError, match=r"m\.tif: a 4-D stack of shape \(5, 7, 16, 20\) with axes 'QQYX'; "
                                         r"name its axes time first"):
        read_recording(tmp_path, fps=FPS)


def test_files_with_different_planes_are_refused(tmp_path):
    for name, shape in (("a_1.tif", (2, 3, 8, 8)), ("a_2.tif", (3, 2, 8, 8))):
        tifffile.imwrite(tmp_path / name, np.zeros(shape, np.uint16), photometric="minisblack",
                         metadata={"axes": "TZYX"})
    with pytest.raises(ValueError, match=r"a_2\.tif: 2 plane\(s\) x 1 channel\(s\) per time point, but .*a_1\.tif "
                                         r"holds 3 plane\(s\)"):
        read_recording(tmp_path, fps=FPS)


def test_scanimage_times_going_backwards_are_refused(tmp_path):
    data = np.zeros((6, 1, 1, 8, 8), dtype=np.uint16)
    stamps = np.array([0.0, 0.1, 0.2, 0.05, 0.4, 0.5])
    folder = write_scanimage_volumes(tmp_path / "d", data, timestamps=stamps)
    with pytest.raises(ValueError, match=r"file_1\.tif \(frameTimestamps_sec of the pages\): frame times do not "
                                         r"increase in frame\(s\) 3 "):
        read_recording(folder)


def test_simulated_scanimage_planes_and_channels_read_back(tmp_path):
    from element_calcium.simulate import write_scanimage_planes

    rng = np.random.default_rng(7)
    data = rng.integers(0, 60000, (3, 2, T, 16, 20), dtype=np.uint16)  # (planes, channels, T, H, W)
    written = write_scanimage_planes(tmp_path / "zc", [list(channels) for channels in data], fps=7.5, n_files=2,
                                     seed=2)
    assert detect_software(written.path) == "ScanImage"
    recording = read_recording(written.path)
    meta = recording.metadata
    assert (meta.nplanes, meta.nchannels, meta.nframes, meta.height, meta.width) == (3, 2, T, 16, 20)
    assert meta.fps == pytest.approx(7.5)
    assert meta.extra["timestamps_source"] == "frameTimestamps_sec"
    assert np.allclose(meta.timestamps, written.timestamps, rtol=0, atol=1e-6)
    assert meta.files == tuple(p.resolve() for p in written.files) and len(meta.files) == 2
    for plane in range(3):
        for channel in range(2):
            check_movie(recording.movie(channel=channel, plane=plane), data[plane, channel])


def test_simulated_scanimage_planes_refuse_movies_that_differ(tmp_path):
    from element_calcium.simulate import write_scanimage_planes

    movie = np.zeros((5, 16, 16), np.uint16)
    with pytest.raises(ValueError, match="every plane needs 2 channel movie"):
        write_scanimage_planes(tmp_path / "a", [[movie, movie], [movie]], fps=5.0)
    with pytest.raises(ValueError, match="same shape and dtype"):
        write_scanimage_planes(tmp_path / "b", [[movie, movie[:4]]], fps=5.0)
