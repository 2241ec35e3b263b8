"""Finding and removing the files nothing needs: stale temporaries, unreferenced results and store files."""

import os
import subprocess
import sys
import time

import h5py

from element_calcium import cleanup, paths, storage
from element_calcium.results_file import OWNER, owner_text

DAY = 24 * 3600.0
OURS = "lab_imaging"


def results_file(path, *, schema=OURS, age_s=2 * DAY, owner=True):
    """An HDF5 results file of this package (movie format) recording an owner of ``schema``, ``age_s`` old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = storage.FORMAT
        if owner:
            h5.attrs[OWNER] = owner_text(schema=schema, table="MotionCorrection",
                                         key={"subject": path.parent.name, "recording_id": 0})
    return aged(path, age_s)


def aged(path, age_s):
    """``path`` (created empty when missing) last modified ``age_s`` seconds ago."""
    path.touch()
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def temporary_of_a_dead_writer(final):
    """The temporary a process that has exited left for ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    script = "import sys; from element_calcium import paths; p = paths.temporary_path(sys.argv[1]); p.touch(); print(p)"
    done = subprocess.run([sys.executable, "-c", script, str(final)], capture_output=True, text=True, check=True)
    return type(final)(done.stdout.strip())


def test_unreferenced_old_results_and_stale_temporaries_are_found_and_nothing_else(tmp_path):
    root = tmp_path / "processed"
    referenced = results_file(root / "a" / "motion_corrected.h5")
    repeated = results_file(root / "a" / "motion_corrected-0123abcd.h5")
    young = results_file(root / "b" / "motion_corrected.h5", age_s=60)
    other_pipeline = results_file(root / "c" / "motion_corrected.h5", schema="other_imaging")
    legacy = results_file(root / "d" / "motion_corrected.h5", owner=False)
    with h5py.File(root / "d" / "cnmf.h5", "w") as h5:
        h5["estimates/C"] = [1.0]
    aged(root / "d" / "cnmf.h5", 2 * DAY)
    (root / "d" / "notes.txt").write_text("kept")
    aged(root / "d" / "notes.txt", 2 * DAY)
    dead = temporary_of_a_dead_writer(root / "a" / "segmentation.h5")
    live = paths.temporary_path(root / "a" / "spatial_events_1.h5")
    (root / "b").mkdir(exist_ok=True)
    live.touch()
    elsewhere_old = aged(root / "b" / ".m.h5.partial-0123456789abcdef.42@elsewhere-1", 2 * DAY)
    elsewhere_young = root / "b" / ".m.h5.partial-fedcba9876543210.42@elsewhere-1"
    elsewhere_young.touch()
    calls = []

    def rows_name():
        calls.append(True)
        return ["a/./motion_corrected.h5", "x/never_written.h5"]

    found = cleanup.find_unreferenced(root, schemas=[OURS], referenced=rows_name, grace_s=DAY)

    assert calls == [True]
    assert {(file.path, file.kind) for file in found} == {
        (repeated, "results file"), (dead, "temporary"), (elsewhere_old, "temporary")}
    removed = cleanup.remove(found, grace_s=DAY)
    assert {file.path for file in removed} == {repeated, dead, elsewhere_old}
    for kept in (referenced, young, other_pipeline, legacy, root / "d" / "cnmf.h5", root / "d" / "notes.txt", live,
                 elsewhere_young):
        assert kept.exists(), kept


def test_a_file_modified_after_it_was_listed_is_not_removed(tmp_path):
    path = results_file(tmp_path / "a" / "motion_corrected.h5")
    [found] = cleanup.find_unreferenced(tmp_path, schemas=[OURS], referenced=list, grace_s=DAY)
    aged(path, 0)
    assert cleanup.remove([found], grace_s=DAY) == []
    assert path.exists()


def test_store_files_no_row_names_are_found_after_the_grace_period(tmp_path):
    section = "_schema/lab_events"
    folder = tmp_path / section / "__peri_event_window" / "subject=m1"
    folder.mkdir(parents=True)
    named = aged(folder / "windows_aaaa.npy", 2 * DAY)
    rolled_back = aged(folder / "windows_bbbb.npy", 2 * DAY)
    interrupted = aged(folder / "windows_cccc.npy.saving", 2 * DAY)
    young = folder / "windows_dddd.npy"
    young.touch()
    other = tmp_path / "_schema" / "other_events" / "t" / "windows_eeee.npy"
    other.parent.mkdir(parents=True)
    aged(other, 2 * DAY)

    found = cleanup.find_unreferenced_in_store(
        tmp_path, sections=[section], grace_s=DAY,
        referenced=lambda: [named.relative_to(tmp_path).as_posix()])

    assert {file.path for file in found} == {rolled_back, interrupted}
    assert all(file.kind == "array store" for file in found)


def test_worker_removes_stale_temporaries_below_the_root_without_following_links(tmp_path):
    root = tmp_path / "processed"
    dead = temporary_of_a_dead_writer(root / "s" / "recording0" / "paramset0" / "motion_corrected.h5")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = temporary_of_a_dead_writer(elsewhere / "m.h5")
    (root / "linked").symlink_to(elsewhere)
    in_zarr = temporary_of_a_dead_writer(root / "minian" / "A.zarr" / "m.h5")
    live = paths.temporary_path(root / "s" / "m.h5")
    live.touch()

    assert cleanup.remove_stale_temporaries(root) == [dead]
    assert not dead.exists() and outside.exists() and in_zarr.exists() and live.exists()
