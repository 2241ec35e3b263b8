"""Disk faults: a full disk fails one key cleanly and the worker goes on; a killed writer leaves nothing behind;
``element-calcium cleanup`` removes what no row needs and keeps what rows name and what is young."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
from helpers import SESSION_TIME, small_movie

from element_calcium import behavior, paths
from element_calcium.stages import motion as motion_stage
from element_calcium.simulate import write_miniscope_v4
from workflow.ingest import ingest_recording

DAY = 24 * 3600.0


def _task(new_folder, subject, *, n_frames, seed=0):
    folder = write_miniscope_v4(new_folder(), small_movie(n_frames=n_frames, seed=seed), frames_per_file=50).path
    return ingest_recording(folder, subject=subject, session_datetime=SESSION_TIME).task_key


def _run_on_small_disk(script, folder, *args, size_kb):
    """Run ``python -c script folder *args`` where ``folder`` holds at most ``size_kb`` KiB: a tmpfs mounted in a
    private mount namespace (as root), else a folder whose files may not grow beyond that size."""
    folder.mkdir()
    mount = f'mount -t tmpfs -o size={size_kb}k tmpfs "$1"'
    if os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", folder],
                               capture_output=True)
        if probe.returncode == 0:
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       f'{mount} && shift && exec "$@"', "sh", folder, sys.executable, "-c", script, folder, *args]
            return subprocess.run(command, capture_output=True, text=True, timeout=300)
    limit = ("import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size_kb * 1024}, {size_kb * 1024}))\n")
    return subprocess.run([sys.executable, "-c", limit + script, folder, *args], capture_output=True, text=True,
                          timeout=300)


_POPULATE_ON = """
import json, os, sys
os.environ["EC_PROCESSED_ROOT"] = sys.argv[1]
from workflow.pipeline import imaging
result = imaging.MotionCorrection.populate({"subject": sys.argv[2]}, display_progress=False, reserve_jobs=True,
                                           suppress_errors=True)
files = sorted(os.path.relpath(os.path.join(folder, name), sys.argv[1])
               for folder, _, names in os.walk(sys.argv[1]) for name in names)
print(json.dumps({"made": result["success_count"], "failed": len(result["error_list"]), "files": files}))
"""


def test_full_disk_fails_the_key_with_its_error_and_the_next_key_is_computed(pipeline, new_folder, subject_name,
                                                                              tmp_path):
    imaging = pipeline.imaging
    big = _task(new_folder, subject_name, n_frames=600)  # a 1.6 MB corrected movie
    small = _task(new_folder, subject_name, n_frames=40, seed=1)  # 0.1 MB

    done = _run_on_small_disk(_POPULATE_ON, tmp_path / "processed", subject_name, size_kb=512)

    assert done.returncode == 0, done.stderr[-3000:]  # was a segmentation fault (139) after the error was recorded
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert (outcome["made"], outcome["failed"]) == (1, 1)
    assert imaging.MotionCorrection & small and not imaging.MotionCorrection & big
    message = (imaging.MotionCorrection.jobs.errors & big).fetch1("error_message")
    assert "motion_corrected.h5: writing failed (" in message
    assert "No space left on device" in message or "File too large" in message
    small_dir = (imaging.ProcessingTask & small).fetch1("processing_output_dir")
    assert [name for name in outcome["files"] if not name.startswith("datajoint_store")] == [
        f"{small_dir}/motion_corrected.h5"]


_KILLED_DURING_WRITE = """
import os, signal, sys
from element_calcium import storage
from workflow.pipeline import imaging
write = storage.MovieWriter.write
def write_then_die(self, frames):
    write(self, frames)
    os.kill(os.getpid(), signal.SIGKILL)
storage.MovieWriter.write = write_then_die
imaging.MotionCorrection.populate({"subject": sys.argv[1]}, display_progress=False)
"""


def test_a_worker_killed_mid_write_leaves_no_stray_file_after_the_next_cycle(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    key = _task(new_folder, subject_name, n_frames=400)
    folder = pipeline.get_processed_root_dir() / (imaging.ProcessingTask & key).fetch1("processing_output_dir")

    killed = subprocess.run([sys.executable, "-c", _KILLED_DURING_WRITE, subject_name], capture_output=True, text=True)

    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    [left] = folder.iterdir()
    assert paths.is_temporary(left) and left.name.startswith(".motion_corrected.h5.partial-")
    assert imaging.MotionCorrection.populate(key, display_progress=False)["success_count"] == 1
    assert sorted(path.name for path in folder.iterdir()) == ["motion_corrected.h5"]


def _aged(path, age_s=2 * DAY):
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _cleanup(*args):
    done = subprocess.run([sys.executable, "-m", "workflow.cli", "cleanup", *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {line.split("\t")[2] for line in done.stdout.splitlines() if line.count("\t") == 2}, done.stdout


def test_cleanup_removes_unreferenced_old_files_and_keeps_named_and_young_ones(pipeline, new_folder, subject_name):
    imaging, events = pipeline.imaging, pipeline.events
    root = pipeline.get_processed_root_dir()
    key = _task(new_folder, subject_name, n_frames=200)  # 10 s: longer than the default peri-event window
    for table in (imaging.MotionCorrection, imaging.Segmentation):
        assert table.populate(key, display_progress=False)["success_count"] == 1
    imaging.Curation.create1_from_segmentation(key)
    imaging.Fluorescence.populate(key, display_progress=False)
    activity = {**key, "curation_id": 0, "extraction_method": "dff"}
    imaging.Activity.populate(activity, display_progress=False)
    behavior.insert_events(key, pd.DataFrame({"time": [4.0, 6.0], "event_type": "lever"}))
    assert events.PeriEventWindow.populate(activity, display_progress=False)["success_count"] == 1
    window_key = (events.PeriEventWindow & activity).fetch1("KEY")
    row = (events.PeriEventWindow & window_key).fetch1()
    store = events.dj.config.get_store_spec(events.ARRAY_STORE)["location"]
    named_npy = _aged(os.path.join(store, row["windows"].path))
    try:  # an insert that is rolled back (its parent is missing) after the codec wrote its .npy
        with events.PeriEventWindow.connection.transaction:
            events.PeriEventWindow.insert1({**row, "event_type": "no such type", "windows": np.zeros((1, 1, 1))},
                                           allow_direct_insert=True)
    except Exception:
        pass
    [rolled_back] = [os.path.join(folder, name) for folder, _, names in os.walk(store) for name in names
                     if subject_name in folder and "no such type" in folder]
    _aged(rolled_back)
    movie = _aged(root / (imaging.MotionCorrection & key).fetch1("corrected_movie"))
    results = _aged(root / (imaging.Segmentation & key).fetch1("results_file"))
    [inputs] = imaging.MotionCorrection().make_fetch(key)
    repeated = _aged(root / motion_stage.run(inputs).master["corrected_movie"])  # a computation that lost the insert
    young = root / motion_stage.run(inputs).master["corrected_movie"]

    listed, output = _cleanup("--grace-hours", "24")

    mine = {path for path in listed if subject_name in path or path.startswith(store)}
    assert mine == {str(repeated), rolled_back}, output
    assert "dry run" in output and all(os.path.exists(path) for path in mine)
    removed, output = _cleanup("--grace-hours", "24", "--delete")
    assert {str(repeated), rolled_back} <= removed and "removed" in output
    assert not os.path.exists(repeated) and not os.path.exists(rolled_back)
    for kept in (movie, results, young, named_npy):
        assert os.path.exists(kept), kept
    np.testing.assert_array_equal(np.asarray((events.PeriEventWindow & window_key).fetch1("windows")),
                                  np.asarray(row["windows"]))
