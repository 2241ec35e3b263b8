from pathlib import Path

import pytest

from element_calcium.paths import find_full_path, find_root_directory, relative_to_root


def test_relative_path_found_under_second_root(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    (second / "mouse1" / "rec").mkdir(parents=True)
    first.mkdir()
    assert find_full_path([first, second], "mouse1/rec") == (second / "mouse1" / "rec").resolve()


def test_path_leaving_its_root_is_refused(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(ValueError, match="leaves its root"):
        find_full_path([tmp_path / "root"], "../outside")


def test_absolute_stored_path_is_refused(tmp_path):
    with pytest.raises(ValueError, match="must be relative"):
        find_full_path([tmp_path], str(tmp_path))


def test_missing_path_names_roots(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        find_full_path([tmp_path], "nope")


def test_relative_to_root_round_trip(tmp_path):
    folder = tmp_path / "root" / "m" / "s"
    folder.mkdir(parents=True)
    relative = relative_to_root([tmp_path / "other", tmp_path / "root"], folder)
    assert relative == "m/s"
    assert find_root_directory([tmp_path / "root"], folder) == (tmp_path / "root").resolve()
    assert find_full_path([tmp_path / "root"], relative) == folder.resolve()


def test_path_outside_every_root(tmp_path):
    (tmp_path / "root").mkdir()
    with pytest.raises(ValueError, match="not under any root"):
        relative_to_root([tmp_path / "root"], tmp_path)


def test_symlink_escaping_root_is_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    Path(root / "link").symlink_to(outside)
    with pytest.raises(FileNotFoundError):
        find_full_path([root], "link")


def test_output_path_may_not_exist_but_must_stay_under_root(tmp_path):
    from element_calcium.paths import path_under_root

    assert path_under_root(tmp_path, "a/b") == tmp_path.resolve() / "a" / "b"
    with pytest.raises(ValueError, match="leaves its root"):
        path_under_root(tmp_path, "a/../../b")
