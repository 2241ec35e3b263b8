"""The extraction results file: round trip, selection, atomic writing never replacing a file, owners, a full
disk and damaged files."""

import errno
import re

import h5py
import numpy as np
import pytest
from scipy import sparse

from element_calcium import results_file
from element_calcium.extraction_file import ExtractedSources, read_sources, write_sources

H, W, N, T = 12, 9, 4, 30


def make_sources(with_optional=True):
    rng = np.random.default_rng(0)
    dense = rng.random((H * W, N)) * (rng.random((H * W, N)) > 0.7)
    traces = rng.random((N, T)).astype(np.float32)
    return ExtractedSources(
        height=H,
        width=W,
        footprints=sparse.csc_array(dense.astype(np.float32)),
        mask_ids=np.array([3, 0, 7, 5]),
        fluorescence=traces,
        background=traces * 2 if with_optional else None,
        denoised=traces * 3 if with_optional else None,
        spikes=None,
        dff=None,
        fps=15.0,
    )


def test_round_trip_keeps_every_array(tmp_path):
    sources = make_sources()
    path = write_sources(tmp_path / "out" / "segmentation.h5", sources)
    back = read_sources(path)
    assert (back.height, back.width, back.fps) == (H, W, 15.0)
    np.testing.assert_array_equal(back.mask_ids, sources.mask_ids)
    np.testing.assert_array_equal(back.footprints.toarray(), sources.footprints.toarray())
    np.testing.assert_array_equal(back.denoised, sources.denoised)
    assert back.spikes is None and back.dff is None
    assert [p.name for p in path.parent.iterdir()] == ["segmentation.h5"]


def test_select_reorders_masks_and_traces():
    sources = make_sources()
    picked = sources.select(np.array([7, 3]))
    np.testing.assert_array_equal(picked.mask_ids, [7, 3])
    np.testing.assert_array_equal(picked.fluorescence, sources.fluorescence[[2, 0]])
    np.testing.assert_array_equal(picked.footprints.toarray(), sources.footprints.toarray()[:, [2, 0]])
    with pytest.raises(KeyError):
        sources.select(np.array([99]))


def test_inconsistent_arrays_are_refused():
    sources = make_sources(with_optional=False)
    with pytest.raises(ValueError, match="denoised has shape"):
        ExtractedSources(**{**sources.__dict__, "denoised": np.zeros((N, T + 1), np.float32)})
    with pytest.raises(ValueError, match="not unique"):
        ExtractedSources(**{**sources.__dict__, "mask_ids": np.array([1, 1, 2, 3])})
    with pytest.raises(ValueError, match="rows"):
        ExtractedSources(**{**sources.__dict__, "height": H + 1})


def test_failed_write_leaves_the_old_file(tmp_path):
    path = write_sources(tmp_path / "segmentation.h5", make_sources())
    broken = make_sources()
    object.__setattr__(broken, "fluorescence", "not an array")
    with pytest.raises(Exception):
        write_sources(path, broken)
    assert read_sources(path).fluorescence.shape == (N, T)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segmentation.h5"]


def test_missing_and_foreign_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        read_sources(tmp_path / "nothing.h5")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = 1
    with pytest.raises(ValueError, match="foreign.h5.*not an element_calcium extraction file"):
        read_sources(foreign)
    damaged = write_sources(tmp_path / "damaged.h5", make_sources())
    with h5py.File(damaged, "a") as h5:
        del h5["fluorescence"]
    with pytest.raises(ValueError, match="damaged.h5.*damaged"):
        read_sources(damaged)


def test_a_second_write_gets_a_fresh_name_and_the_first_file_stays(tmp_path):
    first = write_sources(tmp_path / "segmentation.h5", make_sources())
    stamp = first.stat()
    changed = make_sources()
    object.__setattr__(changed, "fluorescence", changed.fluorescence + 1)
    second = write_sources(tmp_path / "segmentation.h5", changed)
    assert first == tmp_path / "segmentation.h5" and re.fullmatch(r"segmentation-[0-9a-f]{8}\.h5", second.name)
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    np.testing.assert_array_equal(read_sources(first).fluorescence, make_sources().fluorescence)
    np.testing.assert_array_equal(read_sources(second).fluorescence, changed.fluorescence)


def test_results_of_another_key_are_refused(tmp_path):
    mine = results_file.owner_text(schema="lab_imaging", table="Segmentation",
                                   key={"subject": "m 1", "recording_id": 0})
    other = results_file.owner_text(schema="lab_imaging", table="Segmentation",
                                    key={"subject": "m-1", "recording_id": 0})
    path = write_sources(tmp_path / "segmentation.h5", make_sources(), owner=mine)
    assert read_sources(path, owner=mine).mask_ids.tolist() == [3, 0, 7, 5]
    with pytest.raises(ValueError, match='segmentation.h5: these are the results of Segmentation .*"m 1".*, not of '
                                         'Segmentation .*"m-1"'):
        read_sources(path, owner=other)
    with pytest.raises(ValueError, match="two keys share this folder"):
        results_file.refuse_foreign_results(tmp_path / "segmentation.h5", other)


class _DiskFullAfter:
    """A file whose writes fail with ENOSPC once ``budget`` bytes are written."""

    def __init__(self, file, budget):
        self._file, self._budget = file, budget

    def write(self, data):
        if len(data) > self._budget:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._budget -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


def test_full_disk_raises_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    old = write_sources(tmp_path / "segmentation.h5", make_sources())
    guarded = results_file._GuardedFile

    class FillingUp(guarded):
        def __init__(self, path):
            super().__init__(path)
            self._file = _DiskFullAfter(self._file, budget=4000)

    monkeypatch.setattr(results_file, "_GuardedFile", FillingUp)
    with pytest.raises(OSError, match=r"segmentation.h5: writing failed \(No space left on device\); nothing"):
        write_sources(tmp_path / "segmentation.h5", make_sources())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["segmentation.h5"]
    assert read_sources(old).fluorescence.shape == (N, T)
