"""Bruker PrairieView reader against small T-series and Z-series folders written here."""

import datetime
import tracemalloc

import numpy as np
import pytest
import tifffile

from element_calcium.readers import detect_software, read_recording, repackage_bruker_tiffs

HEIGHT, WIDTH = 16, 20
FRAME_PERIOD = 0.05


def write_prairieview(folder, movies, *, nplanes=1, times=None, name="TSeries-001"):
    """Write ``movies`` {channel: (T * nplanes, H, W) uint16} as per-frame OME-TIFFs plus the XML."""
    folder.mkdir(parents=True, exist_ok=True)
    channels = sorted(movies)
    nframes = len(movies[channels[0]])
    times = np.arange(nframes) * FRAME_PERIOD if times is None else times
    kind = "TSeries ZSeries Element" if nplanes > 1 else "TSeries Timed Element"
    sequences = []
    for cycle in range(nframes // nplanes):
        frames = []
        for plane in range(nplanes):
            t = cycle * nplanes + plane
            files = []
            for channel in channels:
                filename = f"{name}_Cycle{cycle + 1:05d}_Ch{channel}_{plane + 1:06d}.ome.tif"
                tifffile.imwrite(folder / filename, movies[channel][t], ome=True)
                files.append(f'<File channel="{channel}" channelName="Ch{channel}" page="1" filename="{filename}" />')
            frames.append(
                f'<Frame relativeTime="{times[t] - times[cycle * nplanes]:.6f}" absoluteTime="{times[t] + 3.25:.6f}" '
                f'index="{plane + 1}" parameterSet="CurrentSettings">{"".join(files)}'
                '<PVStateShard><PVStateValue key="framePeriod" value="9.9" /></PVStateShard></Frame>'
            )
        sequences.append(f'<Sequence type="{kind}" cycle="{cycle + 1}">{"".join(frames)}</Sequence>')
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<PVScan version="5.5.64.100" date="3/12/2020 2:34:56 PM" notes="">'
        "<PVStateShard>"
        f'<PVStateValue key="framePeriod" value="{FRAME_PERIOD}" />'
        f'<PVStateValue key="linesPerFrame" value="{HEIGHT}" />'
        '<PVStateValue key="micronsPerPixel"><IndexedValue index="XAxis" value="1.5" />'
        '<IndexedValue index="YAxis" value="2.0" /><IndexedValue index="ZAxis" value="5" /></PVStateValue>'
        "</PVStateShard>" + "".join(sequences) + "</PVScan>"
    )
    (folder / f"{name}.xml").write_text(xml)
    (folder / f"{name}.env").write_text("<Environment />")
    return folder


def frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 4096, (n, HEIGHT, WIDTH), dtype=np.uint16)


def test_t_series_two_channels(tmp_path):
    movies = {1: frames(12, seed=1), 2: frames(12, seed=2)}
    folder = write_prairieview(tmp_path / "bruker", movies)
    assert detect_software(folder) == "Bruker-PrairieView"
    recording = read_recording(folder)
    meta = recording.metadata
    assert (meta.software, meta.nchannels, meta.nplanes, meta.nframes) == ("Bruker-PrairieView", 2, 1, 12)
    assert (meta.height, meta.width) == (HEIGHT, WIDTH)
    assert meta.fps == pytest.approx(1 / FRAME_PERIOD)
    assert np.allclose(meta.timestamps, np.arange(12) * FRAME_PERIOD, atol=1e-6)
    assert meta.dropped_frames == 0
    assert meta.um_height == pytest.approx(2.0 * HEIGHT) and meta.um_width == pytest.approx(1.5 * WIDTH)
    assert meta.recording_datetime == datetime.datetime(2020, 3, 12, 14, 34, 56)
    assert len(meta.files) == 24 and all(p.is_absolute() and p.exists() for p in meta.files)
    for index, channel in enumerate((1, 2)):
        movie = recording.movie(channel=index)
        assert np.array_equal(movie.read(0, 12), movies[channel])
        assert np.array_equal(np.concatenate(list(movie.chunks(5))), movies[channel])
        assert np.array_equal(movie[7], movies[channel][7])


def test_z_series_planes_and_dropped_frames(tmp_path):
    nplanes, nvolumes = 3, 8
    movie = frames(nplanes * nvolumes)
    times = np.arange(nplanes * nvolumes) * FRAME_PERIOD
    times[nplanes * 5 :] += nplanes * FRAME_PERIOD  # one volume missing before volume 5
    folder = write_prairieview(tmp_path / "z", {2: movie}, nplanes=nplanes, times=times)
    recording = read_recording(folder, software="Bruker-PrairieView")
    meta = recording.metadata
    assert (meta.nchannels, meta.nplanes, meta.nframes) == (1, 3, nvolumes)
    assert meta.fps == pytest.approx(1 / (nplanes * FRAME_PERIOD))
    assert meta.dropped_frames == 1
    for plane in range(nplanes):
        assert np.array_equal(recording.movie(plane=plane).read(0, nvolumes), movie[plane::nplanes])


def test_missing_tiff_is_named(tmp_path):
    folder = write_prairieview(tmp_path / "b", {1: frames(5)})
    victim = sorted(folder.glob("*.ome.tif"))[2]
    victim.unlink()
    with pytest.raises(FileNotFoundError, match=victim.name):
        read_recording(folder)


def test_malformed_xml_is_named(tmp_path):
    folder = write_prairieview(tmp_path / "b", {1: frames(5)})
    xml = folder / "TSeries-001.xml"
    xml.write_text(xml.read_text()[:-40])
    with pytest.raises(ValueError, match=r"TSeries-001\.xml.*malformed"):
        read_recording(folder)


def test_xml_without_frames_is_named(tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    (folder / "run.xml").write_text('<?xml version="1.0"?><PVScan version="5"><PVStateShard /></PVScan>')
    with pytest.raises(ValueError, match=r"run\.xml.*no Frame"):
        read_recording(folder)


def test_frame_of_another_size_is_named(tmp_path):
    folder = write_prairieview(tmp_path / "b", {1: frames(5)})
    last = sorted(folder.glob("*.ome.tif"))[-1]
    tifffile.imwrite(last, np.zeros((HEIGHT + 2, WIDTH), np.uint16))
    with pytest.raises(ValueError, match=last.name):
        read_recording(folder)


def test_repackage_splits_one_channel_and_plane_into_stacks_in_xml_order(tmp_path):
    nplanes, nvolumes = 2, 9
    movies = {1: frames(nplanes * nvolumes, seed=3), 2: frames(nplanes * nvolumes, seed=4)}
    folder = write_prairieview(tmp_path / "z", movies, nplanes=nplanes)
    frame_bytes = HEIGHT * WIDTH * 2
    written = []
    result = repackage_bruker_tiffs(folder, tmp_path / "stacks", channel=1, plane=1, size_cap=4 * frame_bytes,
                                    chunk_frames=3, progress=lambda done, total: written.append((done, total)))
    assert [p.name for p in result.files] == ["images_00.tif", "images_01.tif", "images_02.tif"]
    assert result.frames_per_file == (4, 4, 1)
    assert written[-1] == (nvolumes, nvolumes)
    assert result.fps == pytest.approx(1 / (nplanes * FRAME_PERIOD))
    assert np.allclose(result.timestamps, np.arange(nvolumes) * nplanes * FRAME_PERIOD, atol=1e-6)
    assert not list((tmp_path / "stacks").glob("*.partial"))
    expected = movies[2][1::nplanes]  # channel index 1 is Ch2; plane index 1 is every second frame of a cycle
    for path, start, count in zip(result.files, (0, 4, 8), result.frames_per_file):
        assert np.array_equal(tifffile.imread(path), expected[start:start + count].squeeze())
    stacks = read_recording(tmp_path / "stacks", software="TIFF", fps=result.fps)
    assert np.array_equal(stacks.movie().read(0, nvolumes), expected)


def test_repackage_writes_one_stack_when_it_fits_and_streams_in_chunks(tmp_path):
    movie = np.random.default_rng(5).integers(0, 4096, (300, 96, 96), dtype=np.uint16)
    folder = write_prairieview(tmp_path / "t", {2: movie})
    tracemalloc.start()
    try:
        result = repackage_bruker_tiffs(folder, tmp_path / "out", chunk_frames=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.name for p in result.files] == ["images.tif"] and result.frames_per_file == (300,)
    assert np.array_equal(tifffile.imread(result.files[0]), movie)
    assert peak < movie.nbytes / 3, f"peak {peak} bytes for a {movie.nbytes}-byte movie read 10 frames at a time"


def test_repackage_refuses_a_used_output_folder_and_a_missing_channel(tmp_path):
    folder = write_prairieview(tmp_path / "b", {1: frames(4)})
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.tif").write_bytes(b"")
    with pytest.raises(ValueError, match=r"used: the output folder must be empty"):
        repackage_bruker_tiffs(folder, used)
    with pytest.raises(ValueError, match="channel=1 is out of range"):
        repackage_bruker_tiffs(folder, tmp_path / "new", channel=1)
