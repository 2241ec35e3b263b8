"""Binary movies in CalSciPy's layout (``binary_video.bin`` + ``binary_video.json``)."""

import json

import numpy as np
import pytest

from element_calcium.readers import read_binary, write_binary
from element_calcium.readers.binary import binary_files


def movie(frames=9, height=5, width=7, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(0, 4000, (frames, height, width)).astype(dtype)


def test_round_trip_in_small_chunks_reads_lazily(tmp_path):
    frames = movie(11)
    reported = []
    files = write_binary(tmp_path / "out", frames, chunk_frames=3, progress=lambda done, total: reported.append(done))
    assert files.data == tmp_path / "out" / "binary_video.bin"
    assert reported == [3, 6, 9, 11]
    assert not list((tmp_path / "out").glob("*.partial"))
    loaded = read_binary(tmp_path / "out", fps=20.0)
    assert loaded.shape == frames.shape and loaded.dtype == frames.dtype
    assert np.array_equal(loaded.read(4, 9), frames[4:9])
    assert np.array_equal(loaded[10], frames[10])
    assert np.array_equal(np.concatenate(list(loaded.chunks(4))), frames)
    assert np.allclose(loaded.timestamps, np.arange(11) / 20.0)
    loaded.close()


def test_movie_source_is_streamed_and_float_kept(tmp_path):
    frames = movie(6, dtype=np.float32) / 7
    write_binary(tmp_path / "a.bin", frames)
    first = read_binary(tmp_path / "a.bin", fps=10)
    write_binary(tmp_path / "copy", first, chunk_frames=4)  # a Movie as the source
    assert np.array_equal(read_binary(tmp_path / "copy" / "binary_video.json", fps=10).read(0, 6), frames)


def test_metadata_is_calscipys_exact_format(tmp_path):
    frames = movie(4, 3, 2)
    write_binary(tmp_path / "stack.bin", frames)
    text = (tmp_path / "stack.json").read_text()
    # CalSciPy's _Metadata.encode dumps vars() in the order frames, y, x, dtype with json.dump's default separators
    assert text == '{"frames": 4, "y": 3, "x": 2, "dtype": "uint16"}'
    assert (tmp_path / "stack.bin").read_bytes() == frames.tobytes()


def test_reads_what_calscipy_save_binary_writes(tmp_path):
    """Files laid out as CalSciPy writes them: images.tofile(...) and json.dump(vars(metadata))."""
    frames = movie(5, 8, 6)
    folder = tmp_path / "calscipy"
    folder.mkdir()
    frames.tofile(folder / "binary_video.bin")
    with open(folder / "binary_video.json", "w+") as handle:
        json.dump({"frames": 5, "y": 8, "x": 6, "dtype": str(frames.dtype)}, handle)
    assert np.array_equal(read_binary(folder, fps=30).read(0, 5), frames)


def test_one_missing_shape_key_is_inferred_like_calscipy(tmp_path):
    frames = movie(6, 4, 5)
    frames.tofile(tmp_path / "m.bin")
    (tmp_path / "m.json").write_text(json.dumps({"y": 4, "x": 5, "dtype": "uint16"}))
    assert read_binary(tmp_path / "m", fps=1).shape == (6, 4, 5)
    (tmp_path / "m.json").write_text(json.dumps({"x": 5, "dtype": "uint16"}))
    with pytest.raises(ValueError, match=r"m\.json.*frames, y missing"):
        read_binary(tmp_path / "m", fps=1)


def test_lost_metadata_given_by_hand_like_calscipys_missing_metadata(tmp_path):
    frames = movie(4, 6, 3, dtype=np.float32)
    files = write_binary(tmp_path / "lost.bin", frames)
    files.metadata.unlink()
    loaded = read_binary(files.data, fps=5, metadata={"y": 6, "x": 3, "dtype": "float32"})
    assert loaded.shape == (4, 6, 3) and np.array_equal(loaded.read(0, 4), frames)
    with pytest.raises(ValueError, match=r"lost\.bin: 288 bytes, but the metadata given describes 5 frames"):
        read_binary(files.data, fps=5, metadata={"frames": 5, "y": 6, "x": 3, "dtype": "float32"})


def test_truncated_bin_is_refused_naming_the_file(tmp_path):
    files = write_binary(tmp_path / "cut", movie(10))
    data = files.data.read_bytes()
    files.data.write_bytes(data[:-7])
    with pytest.raises(ValueError) as error:
        read_binary(files.data, fps=10)
    message = str(error.value)
    assert "\n" not in message and str(files.data) in message and "truncated" in message


def test_missing_metadata_and_bad_fps_are_named(tmp_path):
    files = write_binary(tmp_path / "x", movie(2))
    with pytest.raises(ValueError, match=r"binary_video\.bin: fps"):
        read_binary(files.data, fps=0)
    files.metadata.unlink()
    with pytest.raises(FileNotFoundError, match=r"binary_video\.json"):
        read_binary(files.data, fps=10)


def test_paths_resolve_as_calscipy_does(tmp_path):
    assert binary_files(tmp_path) == binary_files(tmp_path / "binary_video.bin")
    assert binary_files(tmp_path / "run").data == tmp_path / "run.bin"
    assert binary_files(tmp_path / "run.json").data == tmp_path / "run.bin"
