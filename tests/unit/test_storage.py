"""Movie files: exact round trips, chunked writes, never replaced, owners, full disks, no stray files, clear errors."""

import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tracemalloc

import h5py
import numpy as np
import pytest

from element_calcium.paths import is_stale_temporary, is_temporary, remove_stale_temporaries, versions
from element_calcium.readers.movie import Movie
from element_calcium.storage import (
    FORMAT,
    MovieRegions,
    MovieWriter,
    movie_path,
    open_movie,
    read_movie_attrs,
)
from element_calcium.results_file import owner_text, read_owner, refuse_foreign_results
from memory_checks import chunked_sum_and_peak


def random_movie(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def write_movie(path, movie, *, blocks=None, fps=20.0, **options):
    blocks = blocks or [len(movie)]
    with MovieWriter(path, shape=movie.shape, dtype=movie.dtype, fps=fps, **options) as writer:
        start = 0
        for size in blocks:
            writer.write(movie[start : start + size])
            start += size
    return path


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def test_movie_path(tmp_path):
    assert movie_path(tmp_path) == tmp_path / "motion_corrected.h5"
    assert movie_path(tmp_path, "raw") == tmp_path / "raw.h5"
    for bad in ("", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="plain file name"):
            movie_path(tmp_path, bad)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_round_trip_is_exact(tmp_path, dtype):
    frames = random_movie((23, 7, 9), dtype)
    timestamps = np.cumsum(np.full(23, 0.05)) + 1.25
    path = write_movie(tmp_path / "m.h5", frames, fps=20.0, timestamps=timestamps)
    movie = open_movie(path)
    assert isinstance(movie, Movie)
    assert movie.shape == (23, 7, 9)
    assert movie.dtype == np.dtype(dtype)
    assert movie.fps == 20.0
    np.testing.assert_array_equal(movie.timestamps, timestamps)
    np.testing.assert_array_equal(movie.read(0, 23), frames)
    movie.close()


def test_default_timestamps_follow_fps(tmp_path):
    path = write_movie(tmp_path / "m.h5", random_movie((5, 3, 4), np.uint16), fps=4.0)
    np.testing.assert_allclose(open_movie(path).timestamps, [0.0, 0.25, 0.5, 0.75, 1.0])


def test_uneven_blocks_and_chunks(tmp_path):
    frames = random_movie((250, 6, 5), np.uint16, seed=1)
    path = write_movie(tmp_path / "m.h5", frames, blocks=[1, 37, 0, 100, 99, 13], chunk_frames=64)
    with h5py.File(path, "r") as h5:
        assert h5["movie"].chunks == (64, 6, 5)
        assert h5["movie"].compression is None
        assert h5.attrs["format"] == FORMAT
    np.testing.assert_array_equal(open_movie(path)[:], frames)


def test_large_frames_are_chunked_in_tiles_and_regions_read_back(tmp_path):
    frames = random_movie((30, 150, 70), np.uint8, seed=3)
    path = write_movie(tmp_path / "m.h5", frames, chunk_frames=16)
    with h5py.File(path, "r") as h5:
        assert h5["movie"].chunks == (16, 64, 64)
    with MovieRegions(path) as regions:
        assert regions.shape == (30, 150, 70) and regions.dtype == np.uint8
        np.testing.assert_array_equal(regions.read(5, 30, 60, 140, 10, 70), frames[5:30, 60:140, 10:70])


def test_region_read_outside_the_context_is_refused(tmp_path):
    path = write_movie(tmp_path / "m.h5", random_movie((3, 4, 4), np.uint8))
    with pytest.raises(RuntimeError, match="MovieRegions"):
        MovieRegions(path).read(0, 1, 0, 1, 0, 1)


def test_chunk_never_longer_than_the_movie(tmp_path):
    path = write_movie(tmp_path / "m.h5", random_movie((3, 4, 4), np.uint8))
    with h5py.File(path, "r") as h5:
        assert h5["movie"].chunks == (3, 4, 4)


@pytest.mark.parametrize("compression", ["lzf", "gzip"])
def test_compression_round_trip(tmp_path, compression):
    frames = random_movie((40, 8, 8), np.uint16, seed=2)
    path = write_movie(tmp_path / "m.h5", frames, blocks=[7, 33], chunk_frames=16, compression=compression)
    with h5py.File(path, "r") as h5:
        assert h5["movie"].compression == compression
    np.testing.assert_array_equal(open_movie(path)[:], frames)


def test_movie_reads_and_chunks_cover_the_file(tmp_path):
    frames = random_movie((101, 5, 6), np.float32, seed=3)
    movie = open_movie(write_movie(tmp_path / "m.h5", frames, chunk_frames=10))
    np.testing.assert_array_equal(np.concatenate(list(movie.chunks(17))), frames)
    np.testing.assert_array_equal(movie[-1], frames[-1])
    np.testing.assert_array_equal(movie[33:71], frames[33:71])
    np.testing.assert_array_equal(movie.read(50, 50), frames[50:50])
    with pytest.raises(ValueError, match="cannot read frames"):
        movie.read(90, 102)
    movie.close()
    np.testing.assert_array_equal(movie[5], frames[5])  # reopens after close
    movie.close()


def test_attributes_are_stored(tmp_path):
    frames = random_movie((4, 3, 3), np.uint8)
    path = write_movie(tmp_path / "m.h5", frames, attrs={"method": "rigid", "max_shift": 12, "scale": [1.0, 2.0]})
    attrs = read_movie_attrs(path)
    assert attrs["fps"] == 20.0
    assert attrs["method"] == "rigid"
    assert attrs["max_shift"] == 12
    np.testing.assert_array_equal(attrs["scale"], [1.0, 2.0])


def test_exception_inside_block_leaves_no_file(tmp_path):
    frames = random_movie((30, 4, 4), np.uint16)
    path = tmp_path / "out" / "m.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with MovieWriter(path, shape=frames.shape, dtype=frames.dtype, fps=10.0) as writer:
            writer.write(frames[:10])
            assert len(files_in(path.parent)) == 1  # the hidden temporary file only
            assert not path.exists()
            raise RuntimeError("boom")
    assert files_in(path.parent) == []


def test_incomplete_write_raises_and_leaves_no_file(tmp_path):
    frames = random_movie((30, 4, 4), np.uint16)
    with pytest.raises(ValueError, match="only 29 of 30 frames were written"):
        with MovieWriter(tmp_path / "m.h5", shape=frames.shape, dtype=frames.dtype, fps=10.0) as writer:
            writer.write(frames[:29])
    assert files_in(tmp_path) == []


def test_bad_frames_raise_and_leave_no_file(tmp_path):
    path = tmp_path / "m.h5"
    frames = random_movie((10, 4, 4), np.uint16)
    cases = [
        (frames[:, :3], "must be \\(n, 4, 4\\)"),
        (frames[0], "must be \\(n, 4, 4\\)"),
        (frames.astype(np.float32), "frames are float32, the movie is uint16"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            with MovieWriter(path, shape=frames.shape, dtype=np.uint16, fps=10.0) as writer:
                writer.write(bad)
        assert files_in(tmp_path) == []


def test_too_many_frames(tmp_path):
    frames = random_movie((10, 4, 4), np.uint16)
    with pytest.raises(ValueError, match="would exceed the movie's 10"):
        with MovieWriter(tmp_path / "m.h5", shape=frames.shape, dtype=frames.dtype, fps=10.0) as writer:
            writer.write(frames[:6])
            try:
                writer.write(frames[:6])
            finally:
                assert writer.frames_written == 6
    assert files_in(tmp_path) == []


def test_a_second_write_never_replaces_the_file(tmp_path):
    path = tmp_path / "m.h5"
    first = random_movie((12, 4, 4), np.uint16, seed=4)
    second = random_movie((7, 5, 3), np.uint8, seed=5)
    write_movie(path, first)
    stamp = path.stat()
    with MovieWriter(path, shape=second.shape, dtype=second.dtype, fps=5.0) as writer:
        writer.write(second)
    assert writer.path != path and writer.path.parent == tmp_path
    assert re.fullmatch(r"m-[0-9a-f]{8}\.h5", writer.path.name)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    np.testing.assert_array_equal(open_movie(path)[:], first)
    np.testing.assert_array_equal(open_movie(writer.path)[:], second)
    assert files_in(tmp_path) == sorted(["m.h5", writer.path.name])
    assert versions(path) == [path, writer.path]


def test_owner_is_recorded_and_a_movie_of_another_key_is_refused(tmp_path):
    mine = owner_text(schema="lab_imaging", table="MotionCorrection",
                      key={"subject": "m 1", "session_datetime": datetime.datetime(2026, 3, 1, 9, 0, 0, 123000)})
    other = owner_text(schema="lab_imaging", table="MotionCorrection",
                       key={"subject": "m 1", "session_datetime": datetime.datetime(2026, 3, 1, 9, 0, 0, 124000)})
    path = write_movie(tmp_path / "m.h5", random_movie((3, 4, 4), np.uint8), owner=mine)
    assert read_owner(path) == (FORMAT, mine)
    assert open_movie(path, owner=mine).shape == (3, 4, 4)
    with pytest.raises(ValueError, match="m.h5: these are the results of MotionCorrection .*09:00:00.123.*, not of "
                                         "MotionCorrection .*09:00:00.124.*; two keys share this folder"):
        open_movie(path, owner=other)
    with pytest.raises(ValueError, match="not of"):
        MovieRegions(path, owner=other)
    with pytest.raises(ValueError, match="not of"):
        refuse_foreign_results(path, other)
    refuse_foreign_results(path, mine)
    legacy = write_movie(tmp_path / "legacy.h5", random_movie((3, 4, 4), np.uint8))
    assert open_movie(legacy, owner=other).shape == (3, 4, 4)  # written before owners were recorded


_FULL_DISK_WRITER = """
import os, sys
import numpy as np
from element_calcium.storage import MovieWriter, open_movie
folder = sys.argv[1]
frames = np.random.default_rng(0).integers(0, 255, (400, 64, 64), dtype=np.uint8)
for name in ("big", "big_again"):
    try:
        with MovieWriter(os.path.join(folder, name + ".h5"), shape=frames.shape, dtype=frames.dtype, fps=10.0,
                         chunk_frames=16) as writer:
            for start in range(0, 400, 7):
                writer.write(frames[start:start + 7])
    except OSError as error:
        print("failed:", error)
    print("left:", sorted(os.listdir(folder)))
with MovieWriter(os.path.join(folder, "small.h5"), shape=(20, 64, 64), dtype=np.uint8, fps=10.0) as writer:
    writer.write(frames[:20])
print("small:", bool((open_movie(writer.path)[:] == frames[:20]).all()), sorted(os.listdir(folder)))
"""


def run_on_small_disk(script, folder, *, size_kb):
    """Run ``python -c script folder`` where ``folder`` holds at most ``size_kb`` KiB: a tmpfs mounted in a
    private mount namespace (as root), else a folder whose files may not grow beyond that size."""
    folder.mkdir()
    mount = f"mount -t tmpfs -o size={size_kb}k tmpfs \"$1\""
    if os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", folder],
                               capture_output=True)
        if probe.returncode == 0:
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f'{mount} && exec "$2" -c "$3" "$1"', "sh", folder, sys.executable, script]
            return subprocess.run(command, capture_output=True, text=True, timeout=300)
    limit = ("import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size_kb * 1024}, {size_kb * 1024}))\n")
    return subprocess.run([sys.executable, "-c", limit + script, folder], capture_output=True, text=True, timeout=300)


def test_full_disk_fails_the_write_cleanly_and_the_process_goes_on(tmp_path):
    done = run_on_small_disk(_FULL_DISK_WRITER, tmp_path / "small_disk", size_kb=512)
    assert done.returncode == 0, done.stdout + done.stderr  # was a segmentation fault (-11 / 139)
    lines = done.stdout.splitlines()
    assert len([line for line in lines if line.startswith("failed:")]) == 2, done.stdout
    assert re.search(r"failed: .*big.h5: writing failed \((No space left on device|File too large)\)", done.stdout)
    assert lines.count("left: []") == 2, done.stdout
    assert lines[-1] == "small: True ['small.h5']", done.stdout


_KILLED_WRITER = """
import os, signal, sys
import numpy as np
from element_calcium.storage import MovieWriter
with MovieWriter(os.path.join(sys.argv[1], "m.h5"), shape=(50, 8, 8), dtype=np.uint8, fps=10.0) as writer:
    writer.write(np.zeros((10, 8, 8), np.uint8))
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_temporary_of_a_killed_writer_is_stale_and_a_live_one_is_not(tmp_path):
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    [left] = tmp_path.iterdir()
    assert is_temporary(left) and left.name.startswith(".m.h5.partial-")
    with MovieWriter(tmp_path / "live.h5", shape=(2, 8, 8), dtype=np.uint8, fps=10.0) as writer:
        writer.write(np.zeros((1, 8, 8), np.uint8))
        [live] = [path for path in tmp_path.iterdir() if path.name.startswith(".live.h5")]
        assert is_stale_temporary(left) and not is_stale_temporary(live)
        assert remove_stale_temporaries(tmp_path) == [left]
        assert live.exists()
        writer.write(np.zeros((1, 8, 8), np.uint8))
    assert files_in(tmp_path) == ["live.h5"]


def test_failed_rewrite_keeps_old_file(tmp_path):
    path = tmp_path / "m.h5"
    first = random_movie((12, 4, 4), np.uint16, seed=6)
    write_movie(path, first)
    with pytest.raises(KeyboardInterrupt):
        with MovieWriter(path, shape=first.shape, dtype=first.dtype, fps=5.0) as writer:
            writer.write(first[:3])
            raise KeyboardInterrupt
    np.testing.assert_array_equal(open_movie(path)[:], first)
    assert files_in(tmp_path) == ["m.h5"]


def test_file_permissions_follow_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_movie(tmp_path / "m.h5", random_movie((2, 3, 3), np.uint8))
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644


def test_write_outside_with_block(tmp_path):
    writer = MovieWriter(tmp_path / "m.h5", shape=(2, 2, 2), dtype=np.uint8, fps=1.0)
    with pytest.raises(RuntimeError, match="inside a `with MovieWriter"):
        writer.write(np.zeros((1, 2, 2), np.uint8))
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"shape": (0, 4, 4)}, "positive integers"),
        ({"shape": (4, 4)}, "positive integers"),
        ({"dtype": np.complex64}, "boolean, integer or float"),
        ({"fps": 0.0}, "fps must be"),
        ({"fps": float("nan")}, "fps must be"),
        ({"timestamps": np.zeros(3)}, "timestamps have shape"),
        ({"timestamps": np.array([0, np.nan, 2, 3])}, "NaN"),
        ({"attrs": {"fps": 3}}, "attribute names"),
        ({"chunk_frames": 0}, "chunk_frames"),
        ({"compression": "zstd"}, "compression must be"),
    ],
)
def test_bad_options(tmp_path, options, message):
    arguments = {"shape": (4, 4, 4), "dtype": np.uint16, "fps": 10.0, **options}
    with pytest.raises(ValueError, match=message):
        MovieWriter(tmp_path / "m.h5", **arguments)


def test_unstorable_attribute_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="attribute 'bad' cannot be stored"):
        with MovieWriter(tmp_path / "m.h5", shape=(2, 2, 2), dtype=np.uint8, fps=1.0, attrs={"bad": {"a": 1}}):
            pass
    assert files_in(tmp_path) == []


def test_open_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="m.h5: movie file not found"):
        open_movie(tmp_path / "m.h5")


def test_open_garbage_file(tmp_path):
    path = tmp_path / "m.h5"
    path.write_bytes(b"this is not HDF5" * 10)
    with pytest.raises(ValueError, match="m.h5: not an HDF5 file"):
        open_movie(path)
    with pytest.raises(ValueError, match="not an HDF5 file"):
        open_movie(tmp_path)


def test_open_foreign_hdf5_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["mov"] = np.zeros((3, 4, 4))
    with pytest.raises(ValueError, match="other.h5: not an element_calcium movie file"):
        open_movie(path)


def test_open_incomplete_file(tmp_path):
    path = write_movie(tmp_path / "m.h5", random_movie((3, 4, 4), np.uint8))
    with h5py.File(path, "a") as h5:
        h5.attrs["complete"] = False
    with pytest.raises(ValueError, match="m.h5: the movie file is incomplete"):
        open_movie(path)


def test_open_file_missing_timestamps(tmp_path):
    path = write_movie(tmp_path / "m.h5", random_movie((3, 4, 4), np.uint8))
    with h5py.File(path, "a") as h5:
        del h5["timestamps"]
    with pytest.raises(ValueError, match="m.h5: '/timestamps' is missing"):
        open_movie(path)


def test_reading_chunks_keeps_memory_bounded(tmp_path):
    frames = random_movie((400, 64, 64), np.uint16, seed=7)  # 3.3 MB
    path = write_movie(tmp_path / "m.h5", frames, blocks=[100] * 4, chunk_frames=20)
    expected = int(frames.sum(dtype=np.int64))
    del frames
    movie = open_movie(path)
    chunk_bytes = 20 * 64 * 64 * 2
    total, peak = chunked_sum_and_peak(movie, 20)
    movie.close()
    assert total == expected
    assert peak < 4 * chunk_bytes, f"peak {peak} bytes while reading {chunk_bytes}-byte chunks"


def test_writing_keeps_memory_bounded(tmp_path):
    block = random_movie((20, 64, 64), np.uint16, seed=8)
    tracemalloc.start()
    with MovieWriter(tmp_path / "m.h5", shape=(400, 64, 64), dtype=np.uint16, fps=30.0, chunk_frames=20) as writer:
        for _ in range(20):
            writer.write(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * block.nbytes
