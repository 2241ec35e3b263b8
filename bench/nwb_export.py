"""Benchmark: NWB export of a long recording, time and peak memory, with the movie linked and written.

A simulated one-photon recording of ``--frames`` frames is written as Miniscope V4 AVI files (1,000 frames per
file) and ingested into schemas of the benchmark's own (prefix ``ecbench_nwb_<random>_``, dropped at the end).
Its results are loaded from a suite2p plane written for it (``--cells`` cells with simulated dF/F traces), so
every table the export reads holds rows of the full length: motion, cells, fluorescence, dF/F, deconvolved and
denoised traces, transients and behaviour events. Then a fresh process exports it per movie mode (``link``:
external files; ``data``: the frames, gzip-compressed, written chunk by chunk) and reports the export's wall time,
the process's peak resident memory (and its resident memory before the export, after the imports) and the file
size. Printed as JSON.

    python bench/nwb_export.py [--frames 20000] [--size 256] [--cells 60] [--seed 0] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from _schemas import drop_schemas

SESSION = datetime.datetime(2026, 3, 1, 9, 0)
PARAMSET = 900


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def prepare(args, workdir: Path) -> dict:
    """Write, ingest and load the recording; returns its task key (JSON-ready) and the preparation times (s)."""
    from element_calcium import behavior
    from element_calcium.simulate import simulate, simulate_traces, write_miniscope_v4

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pipeline"))
    from helpers import write_suite2p_plane

    times = {}
    started = time.perf_counter()
    movie = simulate(n_frames=args.frames, height=args.size, width=args.size, n_cells=args.cells, mode="1p",
                     fps=20.0, seed=args.seed)
    written = write_miniscope_v4(workdir / "raw" / "session", movie, frames_per_file=1000, seed=args.seed)
    times["write_recording_s"] = round(time.perf_counter() - started, 1)

    from workflow import pipeline
    from workflow.ingest import ingest_recording

    started = time.perf_counter()
    recording = ingest_recording(written.path, subject="bench", session_datetime=SESSION,
                                 create_task=False).recording_key
    traces = simulate_traces(n_cells=args.cells, n_frames=args.frames, fps=written.fps, rate_hz=0.1, snr=6.0,
                             seed=args.seed)
    output = "suite2p_bench"
    write_suite2p_plane(workdir / "processed" / output / "suite2p" / "plane0", 100.0 * (1.0 + traces.dff),
                        height=args.size, width=args.size, fps=written.fps)
    imaging = pipeline.imaging
    imaging.ProcessingParamSet.insert_new_params("suite2p", PARAMSET, "suite2p results", {"modality": "1p"})
    imaging.ProcessingTask.insert1({**recording, "paramset_id": PARAMSET, "processing_output_dir": output,
                                    "task_mode": "load"})
    duration = args.frames / written.fps
    presses = np.sort(np.random.default_rng(args.seed).uniform(1.0, duration - 1.0, 200))
    import pandas as pd

    behavior.insert_events(recording, pd.DataFrame({"time": presses, "event_type": "lever"}))
    results = imaging.populate_all(display_progress=False, suppress_errors=True)
    errors = {table: result["error_list"] for table, result in results.items() if result["error_list"]}
    if errors:
        raise RuntimeError(f"populating the benchmark recording failed: {errors}")
    times["ingest_and_populate_s"] = round(time.perf_counter() - started, 1)
    key = {**recording, "paramset_id": PARAMSET, "session_datetime": recording["session_datetime"].isoformat()}
    return {"key": key, "times": times}


def export_child(key_json: str, out: str, movie: str) -> None:
    """In a fresh process: export once and print the measurements as JSON."""
    from element_calcium.export import export_nwb
    from workflow import pipeline

    key = json.loads(key_json)
    key["session_datetime"] = datetime.datetime.fromisoformat(key["session_datetime"])
    before = _current_rss_mb()
    started = time.perf_counter()
    export_nwb(pipeline.imaging, pipeline.events, key, out, movie=movie, species="Mus musculus", age="P90D")
    seconds = time.perf_counter() - started
    print(json.dumps({"movie": movie, "export_s": round(seconds, 2), "rss_before_mb": round(before, 1),
                      "peak_rss_mb": round(_peak_rss_mb(), 1), "file_mb": round(os.path.getsize(out) / 1e6, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--size", type=int, default=256, help="frame height and width (pixels)")
    parser.add_argument("--cells", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="folder for the recording and the NWB files (default: a temporary one)")
    parser.add_argument("--export-child", nargs=3, metavar=("KEY_JSON", "OUT", "MOVIE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child:
        export_child(*args.export_child)
        return
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="nwb-export-bench-"))
    prefix = f"ecbench_nwb_{uuid.uuid4().hex[:8]}_"
    os.environ.update({"EC_DB_PREFIX": prefix, "EC_RAW_ROOT": str(workdir / "raw"),
                       "EC_PROCESSED_ROOT": str(workdir / "processed")})
    for name in ("raw", "processed"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    try:
        prepared = prepare(args, workdir)
        exports = []
        for movie in ("link", "data"):
            out = workdir / f"export_{movie}.nwb"
            child = subprocess.run([sys.executable, __file__, "--export-child", json.dumps(prepared["key"]),
                                    str(out), movie], capture_output=True, text=True, check=True)
            exports.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps({"frames": args.frames, "size": args.size, "cells": args.cells,
                          "cpu_count": os.cpu_count(), **prepared["times"], "exports": exports}, indent=2))
    finally:
        drop_schemas(prefix)
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
