"""Benchmark: the whole processing chain of one recording, from raw files to activity, scored against the truth.

A simulated recording (with motion) is written in its acquisition format (one-photon: Miniscope V4 AVI files;
two-photon: a ScanImage BigTIFF stack), then a fresh process runs the stages exactly as the pipeline's ``make()`` calls
them, without the database: motion correction (corrected movie written to HDF5), source extraction
(CNMF-E / CNMF with deconvolution, results file written), and dF/F. Printed as JSON: wall time of each stage,
peak resident memory of that process, and the accuracy against the truth (footprints moved into the template's
frame by the measured offset of the motion estimate; see tests/extraction_scoring.py).

    python bench/chain.py [--mode 1p|2p] [--frames 2000] [--size 256] [--cells 80] [--device auto] [--seed 0]
                          [--workers N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from element_calcium import extraction_file, readers
from element_calcium.stages import RunSettings, activity, motion, segmentation
from element_calcium.compute.params import default_params
from element_calcium.simulate import simulate, write_miniscope_v4, write_tiff

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import extraction_scoring  # noqa: E402


def make_movie(args):
    return simulate(n_frames=args.frames, height=args.size, width=args.size, n_cells=args.cells, mode=args.mode,
                    max_shift=3.0, seed=args.seed)


def write_recording(args, folder: Path) -> float:
    """Write the raw recording (once); returns its frame rate."""
    movie = make_movie(args)
    if args.mode == "1p":
        written = write_miniscope_v4(folder, movie, frames_per_file=1000, seed=args.seed)
    else:
        written = write_tiff(folder, movie, bigtiff=True, scanimage=True)
    return written.fps


def run_settings(args) -> RunSettings:
    """The run settings of ``args``: its device, and its workers (default: the cores available)."""
    return RunSettings(device=args.device, **({"workers": args.workers} if args.workers else {}))


def motion_border(rows) -> int:
    """Largest rigid or block shift (pixels), rounded up, as the pipeline derives it."""
    (rigid,) = rows.parts["RigidMotionCorrection"]
    shifts = [rigid["y_shifts"], rigid["x_shifts"]]
    shifts += [block[name] for block in rows.parts.get("Block", []) for name in ("y_shifts", "x_shifts")]
    return int(np.ceil(max(float(np.nanmax(np.abs(values))) for values in shifts)))


def run_stages(args, folder: Path, output: Path) -> dict:
    """Motion correction, extraction and dF/F as the pipeline runs them; times (s) and peak RSS (MB)."""
    params = default_params(args.mode)
    software = readers.detect_software(folder)
    recording = readers.read_recording(folder, software=software)
    n_frames, height, width = recording.movie().shape
    fps = recording.metadata.fps
    times = {}
    started = time.perf_counter()
    motion_rows = motion.run(
        motion.MotionInputs(task_mode="trigger", method="element_calcium", params=params,
                                  recording_folder=folder, software=software, frame_rate=None,
                                  output_dir=output, output_dir_relative=".", n_frames=n_frames,
                                  frame_shape=(height, width)),
        settings=run_settings(args),
    )
    times["motion_s"] = time.perf_counter() - started
    started = time.perf_counter()
    rows = segmentation.run(
        segmentation.SegmentationInputs(task_mode="trigger", method="element_calcium", params=params,
                                            corrected_movie=output / "motion_corrected.h5", fps=fps,
                                            frame_shape=(height, width), n_frames=n_frames, output_dir=output,
                                            motion_border=motion_border(motion_rows),
                                            output_dir_relative="."),
        settings=run_settings(args),
    )
    times["extraction_s"] = time.perf_counter() - started
    started = time.perf_counter()
    sources = extraction_file.read_sources(output / segmentation.RESULTS_FILE)
    dff = activity.activity_traces("dff", sources, params=params)
    times["dff_s"] = time.perf_counter() - started
    times["total_s"] = sum(times.values())
    return {
        **{name: round(value, 1) for name, value in times.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": rows.master["device"],
        "n_masks": rows.master["mask_count"],
        "dff_finite": bool(np.isfinite(dff).all()),
        "y_shifts": motion_rows.parts["RigidMotionCorrection"][0]["y_shifts"].tolist(),
        "x_shifts": motion_rows.parts["RigidMotionCorrection"][0]["x_shifts"].tolist(),
    }


def score(args, output: Path, estimated_shifts: np.ndarray) -> dict:
    """Accuracy of the extraction; ``estimated_shifts`` (T, 2) moves the truth into the template's frame."""
    truth = make_movie(args).truth
    estimated = estimated_shifts
    offset = (truth.shifts - estimated).mean(axis=0)
    footprints = ndimage.shift(truth.footprints, (*offset, 0), order=1)
    sources = extraction_file.read_sources(output / segmentation.RESULTS_FILE)
    match = extraction_scoring.score(footprints, truth.calcium, sources.footprints, sources.denoised)
    return {"f1": round(match.f1, 3), "median_iou": round(match.median_iou, 3),
            "median_trace_r": round(match.median_r, 3), "n_true": match.n_true, "n_estimated": match.n_estimated}


def add_recording_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the simulated recording and of the run that bench/profile_chain.py shares."""
    parser.add_argument("--mode", default="1p", choices=["1p", "2p"])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--cells", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="run setting (default: the cores available)")
    parser.add_argument("--workdir", type=Path, default=None, help="keeps the raw recording between runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_recording_arguments(parser)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--stages-only", nargs=2, type=Path, metavar=("RAW", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.stages_only:
        print(json.dumps(run_stages(args, *args.stages_only)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="element-calcium-chain-"))
    raw = workdir / f"{args.mode}_{args.size}px_{args.frames}f_{args.cells}c_seed{args.seed}"
    if not raw.exists():
        started = time.perf_counter()
        write_recording(args, raw)
        print(f"wrote {raw} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    output = workdir / f"{raw.name}_processed"
    if output.exists():  # the stages never overwrite: a kept folder would be scored instead of this run
        shutil.rmtree(output)
    child = subprocess.run(
        [sys.executable, __file__, "--mode", args.mode, "--frames", str(args.frames), "--size", str(args.size),
         "--cells", str(args.cells), "--device", args.device, "--seed", str(args.seed),
         *(["--workers", str(args.workers)] if args.workers else []), "--stages-only", str(raw), str(output)],
        check=True, capture_output=True, text=True,
    )
    stages = json.loads(child.stdout.strip().splitlines()[-1])
    shifts = np.stack([stages.pop("y_shifts"), stages.pop("x_shifts")], axis=1)
    result = {"mode": args.mode, "frames": args.frames, "size": args.size, "cells": args.cells, **stages}
    result.update(score(args, output, shifts))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
