"""Movie over file segments: indexing, chunking, bounds, file switching and bounded memory."""

import pathlib
import tracemalloc

import numpy as np
import pytest

from element_calcium.readers.movie import Movie, RawRecording, RecordingMetadata, count_dropped_frames


class FakeSegment:
    """A segment whose frame t has every pixel equal to offset + t (frames made on demand)."""

    def __init__(self, name, nframes, *, offset=0, height=6, width=5, dtype=np.uint16):
        self.path = pathlib.Path(name)
        self.nframes = nframes
        self.height = height
        self.width = width
        self.dtype = np.dtype(dtype)
        self.offset = offset
        self.reads = []
        self.closed = 0

    def read(self, start, stop):
        assert 0 <= start <= stop <= self.nframes
        self.reads.append((start, stop))
        values = np.arange(self.offset + start, self.offset + stop, dtype=self.dtype)
        return np.broadcast_to(values[:, None, None], (stop - start, self.height, self.width)).copy()

    def close(self):
        self.closed += 1


def make_movie(sizes=(4, 3, 5), fps=10.0):
    offsets = np.cumsum((0, *sizes[:-1]))
    segments = [FakeSegment(f"{i}.dat", n, offset=int(o)) for i, (n, o) in enumerate(zip(sizes, offsets, strict=True))]
    return Movie(segments, fps=fps, timestamps=np.arange(sum(sizes)) / fps), segments


def frame_values(block):
    return block[:, 0, 0].tolist()


def test_shape_dtype_fps_timestamps():
    movie, _ = make_movie()
    assert movie.shape == (12, 6, 5)
    assert len(movie) == 12
    assert movie.dtype == np.uint16
    assert movie.fps == 10.0
    assert movie.timestamps.shape == (12,)
    assert not movie.timestamps.flags.writeable


@pytest.mark.parametrize(("start", "stop"), [(0, 12), (2, 9), (4, 7), (3, 4), (11, 12), (5, 5), (0, 0)])
def test_read_spans_segments(start, stop):
    movie, _ = make_movie()
    block = movie.read(start, stop)
    assert block.shape == (stop - start, 6, 5)
    assert frame_values(block) == list(range(start, stop))


def test_read_touches_only_needed_segments():
    movie, segments = make_movie()
    movie.read(5, 6)
    assert segments[0].reads == [] and segments[2].reads == []
    assert segments[1].reads == [(1, 2)]


@pytest.mark.parametrize(("start", "stop"), [(-1, 3), (3, 2), (0, 13), (13, 13)])
def test_read_out_of_bounds(start, stop):
    movie, _ = make_movie()
    with pytest.raises(ValueError, match="12-frame movie"):
        movie.read(start, stop)


def test_getitem():
    movie, _ = make_movie()
    assert movie[5].shape == (6, 5)
    assert movie[5][0, 0] == 5
    assert movie[-1][0, 0] == 11
    assert movie[np.int64(2)][0, 0] == 2
    assert frame_values(movie[3:8]) == [3, 4, 5, 6, 7]
    assert frame_values(movie[10:]) == [10, 11]
    assert frame_values(movie[:2]) == [0, 1]
    assert frame_values(movie[-3:]) == [9, 10, 11]
    assert len(movie[8:3]) == 0
    with pytest.raises(IndexError):
        movie[12]
    with pytest.raises(IndexError):
        movie[-13]
    with pytest.raises(ValueError, match="step 1"):
        movie[::2]
    with pytest.raises(TypeError):
        movie[1.5]


def test_chunks_cover_range_in_order():
    movie, _ = make_movie()
    blocks = list(movie.chunks(5))
    assert [len(b) for b in blocks] == [5, 5, 2]
    assert frame_values(np.concatenate(blocks)) == list(range(12))
    blocks = list(movie.chunks(4, start=3, stop=10))
    assert [len(b) for b in blocks] == [4, 3]
    assert frame_values(np.concatenate(blocks)) == list(range(3, 10))
    assert list(movie.chunks(4, start=6, stop=6)) == []


def test_chunks_bad_arguments():
    movie, _ = make_movie()
    with pytest.raises(ValueError, match="n_frames"):
        list(movie.chunks(0))
    with pytest.raises(ValueError, match="12-frame movie"):
        list(movie.chunks(4, start=5, stop=20))


def test_sequential_reads_continue_and_switching_closes_previous_file():
    movie, segments = make_movie()
    list(movie.chunks(2))
    assert segments[0].reads == [(0, 2), (2, 4)]
    assert segments[1].reads == [(0, 2), (2, 3)]
    assert segments[0].closed == 1 and segments[1].closed == 1 and segments[2].closed == 0
    movie.close()
    assert segments[2].closed == 1


def test_context_manager_closes():
    movie, segments = make_movie()
    with movie as m:
        m.read(0, 1)
    assert segments[0].closed == 1
    assert frame_values(movie.read(0, 2)) == [0, 1]


def test_mixed_frame_sizes_name_the_file():
    segments = [FakeSegment("a.avi", 2), FakeSegment("b.avi", 2, height=7)]
    with pytest.raises(ValueError, match=r"b\.avi.*7x5.*a\.avi"):
        Movie(segments, fps=1.0, timestamps=np.arange(4.0))


def test_mixed_dtypes_name_the_file():
    segments = [FakeSegment("a.tif", 2), FakeSegment("b.tif", 2, dtype=np.uint8)]
    with pytest.raises(ValueError, match=r"b\.tif.*uint8"):
        Movie(segments, fps=1.0, timestamps=np.arange(4.0))


def test_timestamp_count_must_match():
    with pytest.raises(ValueError, match="5 frames"):
        Movie([FakeSegment("a", 5)], fps=1.0, timestamps=np.arange(4.0))
    with pytest.raises(ValueError, match="at least one"):
        Movie([], fps=1.0, timestamps=np.arange(0.0))


@pytest.mark.parametrize(
    ("timestamps", "dropped"),
    [
        (np.arange(10) * 0.05, 0),
        (np.delete(np.arange(20) * 0.05, [5]), 1),
        (np.delete(np.arange(20) * 0.05, [5, 6, 7]), 3),
        (np.delete(np.arange(30) * 0.05, [3, 12, 13]), 3),
        (np.arange(10) * 0.05 + np.r_[0, 0.01, -0.01, 0.01, 0, 0, 0.005, 0, 0, 0], 0),
        (np.array([0.0]), 0),
    ],
)
def test_count_dropped_frames(timestamps, dropped):
    assert count_dropped_frames(timestamps) == dropped


def make_recording(nchannels=2, nplanes=3):
    segments = {
        (c, p): [FakeSegment(f"c{c}p{p}", 4, offset=100 * c + 10 * p)] for c in range(nchannels) for p in range(nplanes)
    }
    metadata = RecordingMetadata(
        software="TIFF",
        nchannels=nchannels,
        nplanes=nplanes,
        nframes=4,
        height=6,
        width=5,
        fps=2.0,
        timestamps=np.arange(4) / 2.0,
        dropped_frames=0,
        files=(pathlib.Path("x"),),
    )
    return RawRecording(metadata, segments)


def test_raw_recording_movie_per_channel_and_plane():
    recording = make_recording()
    assert recording.movie(channel=1, plane=2)[0][0, 0] == 120
    assert recording.movie()[3][0, 0] == 3
    with pytest.raises(ValueError, match="channel=2"):
        recording.movie(channel=2)
    with pytest.raises(ValueError, match="plane=-1"):
        recording.movie(plane=-1)
    assert "2 channel(s)" in repr(recording)


def test_chunks_use_bounded_memory():
    nframes, height, width = 2000, 64, 64
    segments = [FakeSegment(f"{i}.avi", 250, offset=250 * i, height=height, width=width) for i in range(8)]
    movie = Movie(segments, fps=20.0, timestamps=np.arange(nframes) / 20.0)
    movie_bytes = nframes * height * width * 2
    chunk_bytes = 50 * height * width * 2
    tracemalloc.start()
    try:
        total = 0
        for block in movie.chunks(50):
            total += int(block[:, 0, 0].sum(dtype=np.int64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == sum(range(nframes))
    assert peak < 4 * chunk_bytes < movie_bytes / 8
