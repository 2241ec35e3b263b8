"""Run records of the stages a processing method computes or loads, and the Processing rows made from them."""

import socket
from datetime import datetime, timedelta, timezone
from importlib import metadata

import numpy as np
import pytest
from scipy import sparse

from element_calcium import stages
from element_calcium.compute.params import default_params
from element_calcium.loaders.types import LoadedExtraction
from element_calcium.loaders.versions import results_version
from element_calcium.stages.processing import ProcessingInputs
from element_calcium.stages.run_record import parse_time
from element_calcium.stages.segmentation import SegmentationInputs


def loaded_inputs(output_dir, method):
    return SegmentationInputs(task_mode="load", method=method, params=default_params("2p"), corrected_movie=None,
                              fps=10.0, frame_shape=(8, 8), n_frames=30, motion_border=0, output_dir=output_dir,
                              output_dir_relative=".")


def write_suite2p_plane(plane, *, version=None):
    """A suite2p plane of two 3x3 ROIs over 30 frames of an 8x8 field; ``ops.npy`` names ``version`` if given."""
    plane.mkdir(parents=True)
    stat = [{"ypix": np.repeat(np.arange(y, y + 3), 3), "xpix": np.tile(np.arange(x, x + 3), 3),
             "lam": np.ones(9, np.float32), "overlap": np.zeros(9, bool), "med": [y + 1, x + 1]}
            for y, x in ((0, 0), (4, 4))]
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    rng = np.random.default_rng(0)
    for name, offset in (("F", 100.0), ("Fneu", 50.0), ("spks", 0.0)):
        np.save(plane / f"{name}.npy", (rng.random((2, 30)) + offset).astype(np.float32))
    np.save(plane / "iscell.npy", np.array([[1, 0.9], [1, 0.8]]))
    ops = {"yoff": np.zeros(30), "xoff": np.zeros(30), "nonrigid": False, "Ly": 8, "Lx": 8, "nframes": 30,
           "fs": 10.0, "yrange": [0, 8], "xrange": [0, 8], "refImg": np.ones((8, 8)), "meanImg": np.ones((8, 8))}
    if version is not None:
        ops["suite2p_version"] = version
    np.save(plane / "ops.npy", ops, allow_pickle=True)


def test_a_loaded_stage_records_the_tool_its_version_and_when_and_where_it_ran(tmp_path):
    write_suite2p_plane(tmp_path / "out" / "suite2p" / "plane0", version="0.14.3")
    before = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = stages.run("Segmentation", loaded_inputs(tmp_path / "out", "suite2p"))
    after = datetime.now(timezone.utc).replace(tzinfo=None)
    record = rows.master["run_record"]
    assert (record["software"], record["version"], record["host"]) == ("suite2p", "0.14.3", socket.gethostname())
    assert record["element_calcium_version"] == metadata.version("element_calcium")
    assert before <= parse_time(record["started"]) <= parse_time(record["finished"]) <= after


def test_results_without_a_version_record_none(tmp_path):
    write_suite2p_plane(tmp_path / "old" / "suite2p" / "plane0")
    assert results_version("suite2p", tmp_path / "old") is None
    assert results_version("minian", tmp_path / "old") is None
    footprints = sparse.csc_array(np.eye(64, 2, dtype=np.float32))

    def loader(folder):
        return LoadedExtraction(source=folder, height=8, width=8, footprints=footprints, mask_ids=np.arange(2),
                                fluorescence=np.ones((2, 30), np.float32), neuropil=np.zeros((2, 30), np.float32),
                                denoised=None, spikes=None, dff=None, accepted=None, confidence=None, fps=10.0)

    stages.METHODS["minian_like_for_test"] = stages.Method("test", {"Segmentation": loader})
    try:
        rows = stages.run("Segmentation", loaded_inputs(tmp_path / "old", "minian_like_for_test"))
    finally:
        del stages.METHODS["minian_like_for_test"]
    assert rows.master["run_record"]["software"] == "minian_like_for_test"
    assert rows.master["run_record"]["version"] is None


def record(started, seconds, host, software="element_calcium", version="0.1.0"):
    return {"started": started.isoformat(), "finished": (started + timedelta(seconds=seconds)).isoformat(),
            "host": host, "software": software, "version": version, "element_calcium_version": "0.1.0"}


def test_processing_spans_its_stages_and_names_each_host():
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    runs = {"MotionCorrection": record(start, 30.0, "gpu-node"),
            "Segmentation": record(start + timedelta(minutes=5), 90.5, "cpu-node", "minian", None)}
    rows = stages.run("Processing", ProcessingInputs(runs=runs))
    assert rows.master == {"processing_start": datetime(2026, 5, 1, 12, 0),
                           "processing_time": datetime(2026, 5, 1, 12, 6, 30, 500000),
                           "software": "minian", "package_version": None, "host": "gpu-node, cpu-node"}
    assert [row["stage"] for row in rows.parts["Stage"]] == ["MotionCorrection", "Segmentation"]
    assert rows.parts["Stage"][0]["stage_end"] == datetime(2026, 5, 1, 12, 0, 30)
    same_host = {name: {**value, "host": "node"} for name, value in runs.items()}
    assert stages.run("Processing", ProcessingInputs(runs=same_host)).master["host"] == "node"


def test_processing_refuses_missing_or_backward_records():
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError, match="MotionCorrection row has no run record"):
        stages.run("Processing", ProcessingInputs(runs={"MotionCorrection": None,
                                                        "Segmentation": record(start, 1.0, "a")}))
    with pytest.raises(ValueError, match="ends"):
        stages.run("Processing", ProcessingInputs(runs={"MotionCorrection": record(start, -1.0, "a"),
                                                        "Segmentation": record(start, 1.0, "a")}))
