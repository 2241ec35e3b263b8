"""How fast the browser app opens a large recording and a cell's traces.

The stored rows and files of a 500-cell x 36,000-frame recording (30 minutes at 20 Hz, 600 x 600 pixels) are
written straight into the tables of a schema prefix of the benchmark's own (no CNMF is run): motion shifts and
summary images, 500 masks with their classes, curation 0, a results file with the 500 traces, and the
fluorescence and three activity traces of every cell. Then, with nothing cached:

- open: `app.recording_view` builds the recording's first page (motion, summary image with the 500 outlines)
  and its Bokeh models, then the cells and curation page;
- a cell's traces: `AppData.cell_traces` plus the min/max decimation the page draws, for 20 cells.

Targets: open < 2 s, a cell's traces < 0.3 s. The schemas and files are removed at the end.

    python bench/app.py [--cells 500] [--frames 36000] [--size 600]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
from _schemas import drop_schemas

FPS = 20.0
SESSION = {"subject": "bench-mouse", "session_datetime": datetime(2026, 1, 1, 9, 0)}


def _place() -> Path:
    """Point this process at a prefix and folders of its own, before the pipeline is imported."""
    folder = Path(tempfile.mkdtemp(prefix="element-calcium-bench-app-"))
    os.environ["EC_DB_PREFIX"] = f"ecbench_{uuid.uuid4().hex[:8]}_"
    os.environ["EC_RAW_ROOT"] = str(folder / "raw")
    os.environ["EC_PROCESSED_ROOT"] = str(folder / "processed")
    (folder / "raw" / "rec").mkdir(parents=True)
    (folder / "processed").mkdir()
    return folder


def _disc_masks(n_cells: int, size: int, rng) -> list[dict]:
    """``n_cells`` discs of radius 6 px at random places, as mask rows."""
    yy, xx = np.mgrid[-6:7, -6:7]
    inside = yy ** 2 + xx ** 2 <= 36
    weights = np.exp(-(yy[inside] ** 2 + xx[inside] ** 2) / 18.0).astype(np.float32)
    masks = []
    for mask_id in range(n_cells):
        cy, cx = rng.integers(8, size - 8, 2)
        masks.append({"mask_id": mask_id, "mask_ypix": (yy[inside] + cy).astype(np.int32),
                      "mask_xpix": (xx[inside] + cx).astype(np.int32),
                      "mask_weights": weights / np.linalg.norm(weights),
                      "mask_npix": int(inside.sum()), "mask_center_x": float(cx), "mask_center_y": float(cy)})
    return masks


def _insert(pipeline, *, n_cells: int, n_frames: int, size: int) -> dict:
    """The recording's rows and results file; returns its curation 0 key."""
    from element_calcium import extraction_file
    from element_calcium.stages.segmentation import masks_to_footprints

    imaging = pipeline.imaging
    rng = np.random.default_rng(0)
    pipeline.Subject.insert1({"subject": SESSION["subject"]})
    pipeline.Session.insert1(SESSION)
    recording = {**SESSION, "recording_id": 0}
    imaging.Recording.insert1({**recording, "equipment": "Miniscope-V4", "acquisition_software": "Miniscope-DAQ-V4",
                               "recording_directory": "rec"})
    frame_times = np.arange(n_frames) / FPS
    imaging.RecordingInfo.insert1({**recording, "nchannels": 1, "nframes": n_frames, "px_height": size,
                                   "px_width": size, "fps": FPS, "recording_duration": n_frames / FPS, "extra": {}},
                                  allow_direct_insert=True)
    imaging.RecordingInfo.Timestamps.insert1({**recording, "frame_times": frame_times, "dropped_frames": 0},
                                             allow_direct_insert=True)
    task = {**recording, "paramset_id": 0}
    imaging.ProcessingTask.insert1({**task, "processing_output_dir": "bench", "task_mode": "trigger"})
    shifts = np.cumsum(rng.normal(0, 0.05, (2, n_frames)), axis=1).astype(np.float32)
    image = rng.normal(100, 10, (size, size)).astype(np.float32)
    imaging.MotionCorrection.insert1({**task, "motion_correct_channel": 0, "device": "cpu", "wall_time": 1.0},
                                     allow_direct_insert=True)
    imaging.MotionCorrection.RigidMotionCorrection.insert1(
        {**task, "y_shifts": shifts[0], "x_shifts": shifts[1], "y_std": float(shifts[0].std()),
         "x_std": float(shifts[1].std()), "outlier_frames": np.zeros(n_frames, bool),
         "template_correlation": np.ones(n_frames, np.float32)}, allow_direct_insert=True)
    imaging.MotionCorrection.Summary.insert1({**task, "ref_image": image, "average_image": image,
                                              "correlation_image": image, "max_proj_image": image},
                                             allow_direct_insert=True)
    masks = _disc_masks(n_cells, size, rng)
    traces = rng.gamma(1.0, 1.0, (n_cells, n_frames)).astype(np.float32)
    sources = extraction_file.ExtractedSources(
        height=size, width=size, footprints=masks_to_footprints(masks, size, size),
        mask_ids=np.arange(n_cells, dtype=np.int64), fluorescence=traces, background=None, denoised=None,
        spikes=None, dff=None, fps=FPS)
    owner = imaging.results_owner(imaging.Segmentation, task)
    written = extraction_file.write_sources(imaging.get_processed_root_dir() / "bench" / "segmentation.h5", sources,
                                            owner=owner)
    imaging.Segmentation.insert1({**task, "results_file": "bench/" + written.name, "mask_count": n_cells,
                                  "device": "cpu", "wall_time": 1.0}, allow_direct_insert=True)
    imaging.Segmentation.Mask.insert(({**task, **mask, "segmentation_channel": 0, "snr": 5.0} for mask in masks),
                                     allow_direct_insert=True)
    imaging.MaskClassification.insert1({**task, "classification_method": "quality"}, allow_direct_insert=True)
    imaging.MaskClassification.MaskType.insert(({**task, "mask_id": m["mask_id"], "mask_type": "soma",
                                                 "confidence": 0.9} for m in masks), allow_direct_insert=True)
    curation = imaging.Curation.create1_from_segmentation(task)
    imaging.Fluorescence.insert1(curation, allow_direct_insert=True)
    for start in range(0, n_cells, 25):
        imaging.Fluorescence.Trace.insert(({**curation, "mask_id": n, "fluorescence_channel": 0,
                                            "fluorescence": traces[n]} for n in range(start, min(start + 25, n_cells))),
                                          allow_direct_insert=True)
    for method in ("dff", "denoised", "deconvolved"):
        activity = {**curation, "extraction_method": method}
        imaging.Activity.insert1(activity, allow_direct_insert=True)
        for start in range(0, n_cells, 25):
            imaging.Activity.Trace.insert(({**activity, "mask_id": n, "fluorescence_channel": 0,
                                            "activity_trace": traces[n]} for n in range(start, min(start + 25,
                                                                                                  n_cells))),
                                          allow_direct_insert=True)
    return curation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=500)
    parser.add_argument("--frames", type=int, default=36_000)
    parser.add_argument("--size", type=int, default=600)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    folder = _place()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import datajoint as dj

    dj.config["safemode"] = False
    from workflow import pipeline

    try:
        start = time.perf_counter()
        curation = _insert(pipeline, n_cells=args.cells, n_frames=args.frames, size=args.size)
        print(f"stored {args.cells} cells x {args.frames} frames in {time.perf_counter() - start:.0f} s")
        _measure(pipeline, curation, args.cells)
    finally:
        drop_schemas(os.environ["EC_DB_PREFIX"])
        shutil.rmtree(folder, ignore_errors=True)


def _measure(pipeline, curation: dict, n_cells: int) -> None:
    from element_calcium import app
    from element_calcium.app.figures import decimated

    data = app.AppData(pipeline)
    start = time.perf_counter()
    view = app.recording_view(curation, pipeline=data)
    view.get_root()
    opened = time.perf_counter() - start
    start = time.perf_counter()
    view.active = 1
    cells_page = time.perf_counter() - start
    times = data.frame_times(curation)
    durations = []
    for mask_id in np.random.default_rng(1).choice(n_cells, 20, replace=False):
        start = time.perf_counter()
        traces, _ = data.cell_traces(curation, int(mask_id))
        drawn = {name: decimated(times, trace) for name, trace in traces.items()}
        durations.append(time.perf_counter() - start)
        assert len(drawn) == 4 and all(len(line["t"]) <= 2000 for line in drawn.values())
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}")
    print(f"open the recording (first page and its Bokeh models): {opened:.2f} s (target < 2 s)")
    print(f"open the cells and curation page: {cells_page:.2f} s")
    print(f"a cell's four traces, fetched and decimated: median {statistics.median(durations) * 1000:.0f} ms, "
          f"max {max(durations) * 1000:.0f} ms over 20 cells (target < 300 ms)")


if __name__ == "__main__":
    main()
