"""Benchmark: our whole chain and suite2p's whole run, side by side on the same held-out simulated recordings.

For each modality a recording is simulated and written in its acquisition format (one-photon: Miniscope V4
AVI files; two-photon: a ScanImage BigTIFF stack), as ``bench/chain.py`` writes it. Then, back to back:

1. ours: ``bench/chain.py``'s stages (motion correction, source extraction, dF/F, exactly as the pipeline's
   ``make()`` calls them) in a fresh process on the raw files, into a fresh output folder, with the default
   parameters of the modality;
2. suite2p: ``suite2p.run_s2p`` with its default settings (only ``fs``, the recording's frame rate, and
   ``torch_device="cpu"`` set) in a fresh process of a separate environment (``bench/suite2p_env.sh``), on a
   TIFF stack into a fresh output folder. suite2p reads the 2p TIFF as written; for 1p the AVI frames are
   first copied into a TIFF stack, and that conversion is NOT counted in suite2p's time (ours decodes the AVI
   files inside its time).

Each process is timed from its start to its exit (wall, imports included); peak memory is the largest summed
resident memory of the process and its children, sampled every 0.1 s. Both results are scored the same way
against the truth (``tests/extraction_scoring.py``: footprints binarised at 0.2 of their maximum, matched
one-to-one by IoU >= 0.3 with the Hungarian algorithm; the true footprints first moved into each tool's
template frame by the mean difference between the true and the estimated rigid shifts): F1, the median
correlation of each matched cell's trace with its true calcium (ours: the denoised calcium; suite2p: its cells'
``F - 0.7 * Fneu``), and the RMSE of the rigid shifts after removing the median offset
(``bench/motion_realdata.rmse``; suite2p: ``yoff``/``xoff``, which share the truth's sign: a feature at y
appears at y + yoff; they are whole pixels, so the JSON also holds the RMSE of ``yoff`` plus the mean of
its sub-pixel block shifts ``yoff1``). suite2p is scored on the ROIs its classifier keeps (``iscell``); the
table and the JSON also hold its score over all its ROIs. The load averages before and after each run are
recorded: on a busy machine the seconds are upper bounds.

    bash bench/suite2p_env.sh                 # once: the suite2p environment; prints its python
    python bench/versus_suite2p.py [--modes 1p 2p] [--repeats 1] [--first-repeat 1] [--seed 100] [--suite2p-python PATH]
                                   [--frames 2000] [--size 256] [--cells 80] [--workers N] [--workdir DIR]
                                   [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from scipy import ndimage, sparse

from element_calcium import extraction_file, readers
from element_calcium.stages import segmentation

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests"))
import chain  # noqa: E402
import extraction_scoring  # noqa: E402
from motion_realdata import rmse  # noqa: E402

DEFAULT_SUITE2P_PYTHON = (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                          / "element-calcium-bench" / "suite2p-venv" / "bin" / "python")

# Runs in the suite2p environment: argv = tiff folder, output folder, frame rate.
SUITE2P_DRIVER = textwrap.dedent("""
    import sys, json
    import numpy as np
    import suite2p
    from suite2p.parameters import default_db, default_settings
    tiffs, output, fs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    db = default_db()
    db.update(data_path=[tiffs], save_path0=output, fast_disk=output)
    settings = default_settings()
    settings.update(fs=fs, torch_device="cpu")
    suite2p.run_s2p(db=db, settings=settings)
    import importlib.metadata, torch
    print(json.dumps({"suite2p": importlib.metadata.version("suite2p"), "torch": torch.__version__}))
""")


def load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def run_monitored(command: list[str], *, log: Path) -> dict:
    """Run ``command``; wall seconds, peak summed RSS (MB) of its process tree, and its stdout."""
    started = time.perf_counter()
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        watched = psutil.Process(process.pid)
        peak = 0
        stdout_chunks = []
        reader = threading.Thread(target=lambda: stdout_chunks.append(process.stdout.read()), daemon=True)
        reader.start()
        while process.poll() is None:
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)
        reader.join()
    wall = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"{command[:3]} exited {process.returncode}; see {log}")
    return {"wall_s": round(wall, 1), "peak_rss_mb": round(peak / 2**20), "stdout": "".join(stdout_chunks)}


def score(truth, footprints, calcium, shifts: np.ndarray) -> dict:
    """The same scoring for both tools; ``shifts`` (T, 2) in the truth's sign convention."""
    offset = (truth.shifts - shifts).mean(axis=0)
    moved = ndimage.shift(truth.footprints, (*offset, 0), order=1)
    match = extraction_scoring.score(moved, truth.calcium, footprints, calcium)
    return {"f1": round(match.f1, 3), "n_matched": match.n_matched, "n_estimated": match.n_estimated,
            "n_true": match.n_true, "median_iou": round(match.median_iou, 3),
            "median_trace_r": round(match.median_r, 3), "rigid_rmse_px": round(rmse(shifts, truth.shifts), 3)}


def run_ours(args, raw: Path, output: Path, truth) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    command = [sys.executable, str(BENCH / "chain.py"), "--mode", args.mode, "--frames", str(args.frames),
               "--size", str(args.size), "--cells", str(args.cells), "--seed", str(args.seed),
               *(["--workers", str(args.workers)] if args.workers else []), "--stages-only", str(raw), str(output)]
    before = load()
    run = run_monitored(command, log=output.parent / f"{output.name}.log")
    after = load()
    stages = json.loads(run.pop("stdout").strip().splitlines()[-1])
    shifts = np.stack([stages.pop("y_shifts"), stages.pop("x_shifts")], axis=1)
    sources = extraction_file.read_sources(output / segmentation.RESULTS_FILE)
    result = {**run, "load_before": before, "load_after": after,
              "stages_s": {k: stages[k] for k in ("motion_s", "extraction_s", "dff_s", "total_s")},
              "workers": args.workers or os.cpu_count()}
    result.update(score(truth, sources.footprints, sources.denoised, shifts))
    return result


def suite2p_tiffs(args, raw: Path, workdir: Path) -> Path:
    """The folder of the TIFF stack suite2p reads (1p: the AVI frames copied into one; not timed)."""
    if args.mode == "2p":
        return raw
    tiffs = workdir / f"{raw.name}_tiff"
    if not (tiffs / "movie.tif").exists():
        import tifffile

        tiffs.mkdir(exist_ok=True)
        movie = np.asarray(readers.read_recording(raw, software=readers.detect_software(raw)).movie()[:])
        tifffile.imwrite(tiffs / "movie.tif", movie)
    return tiffs


def suite2p_footprints(stat, height: int, width: int) -> sparse.csc_array:
    rows, cols, values = [], [], []
    for n, roi in enumerate(stat):
        rows.append(np.asarray(roi["ypix"]) * width + np.asarray(roi["xpix"]))
        cols.append(np.full(len(roi["ypix"]), n))
        values.append(np.asarray(roi["lam"], np.float32))
    if not rows:
        return sparse.csc_array((height * width, 0), dtype=np.float32)
    return sparse.csc_array((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(height * width, len(stat)))


def run_suite2p(args, tiffs: Path, output: Path, fps: float, truth) -> dict:
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    driver = output.parent / "suite2p_driver.py"
    driver.write_text(SUITE2P_DRIVER)
    before = load()
    run = run_monitored([str(args.suite2p_python), str(driver), str(tiffs), str(output), str(fps)],
                        log=output.parent / f"{output.name}.log")
    after = load()
    versions = json.loads(run.pop("stdout").strip().splitlines()[-1])
    plane = output / "suite2p" / "plane0"
    stat = np.load(plane / "stat.npy", allow_pickle=True)
    iscell = np.load(plane / "iscell.npy", allow_pickle=True)[:, 0].astype(bool)
    traces = np.load(plane / "F.npy") - 0.7 * np.load(plane / "Fneu.npy")
    shifts = blocks = None
    for name in ("ops.npy", "reg_outputs.npy", "db.npy"):
        if (plane / name).exists():
            found = np.load(plane / name, allow_pickle=True).item()
            if "yoff" in found:
                shifts = np.stack([found["yoff"], found["xoff"]], axis=1).astype(np.float64)
                # suite2p's rigid step is whole-pixel; its sub-pixel part is in the block shifts that follow
                blocks = (np.stack([np.mean(found["yoff1"], axis=1), np.mean(found["xoff1"], axis=1)], axis=1)
                          if "yoff1" in found else None)
                break
    if shifts is None:
        raise RuntimeError(f"no yoff/xoff in {plane}")
    height, width = truth.footprints.shape[:2]
    footprints = suite2p_footprints(stat, height, width)
    result = {**run, "load_before": before, "load_after": after, **versions,
              "shift_sign_check_r": [round(float(np.corrcoef(shifts[:, a], truth.shifts[:, a])[0, 1]), 3)
                                     for a in (0, 1)]}
    result.update(score(truth, footprints[:, iscell], traces[iscell], shifts))
    if blocks is not None:
        result["rigid_plus_mean_block_rmse_px"] = round(rmse(shifts + blocks, truth.shifts), 3)
    result["all_rois"] = score(truth, footprints, traces, shifts)
    return result


def machine() -> dict:
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30)}


def all_rois(result: dict) -> str:
    if "all_rois" not in result:
        return ""
    r = result["all_rois"]
    return f"{r['n_matched']} of {r['n_estimated']}, {r['f1']:.3f}"


def table(results: list[dict]) -> str:
    lines = ["| modality | run | tool | wall (s) | peak RSS (MB) | load before / after | matched of found / true | "
             "F1 | trace r | rigid RMSE (px) | suite2p, all ROIs: matched of found, F1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in results:
        for tool in ("ours", "suite2p"):
            r = entry[tool]
            lines.append(f"| {entry['mode']} | {entry['repeat']} | {tool} | {r['wall_s']:.1f} | {r['peak_rss_mb']:,} | "
                         f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} | {r['n_matched']} of "
                         f"{r['n_estimated']} / {r['n_true']} | {r['f1']:.3f} | {r['median_trace_r']:.3f} | "
                         f"{r['rigid_rmse_px']:.3f} | {all_rois(r)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["1p", "2p"], choices=["1p", "2p"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--first-repeat", type=int, default=1, help="number of the first run (labels only)")
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--cells", type=int, default=80)
    parser.add_argument("--seed", type=int, default=100, help="held out: the chain benchmark uses seeds 0-2")
    parser.add_argument("--workers", type=int, default=None, help="our run setting (default: the cores available)")
    parser.add_argument("--suite2p-python", type=Path, default=DEFAULT_SUITE2P_PYTHON)
    parser.add_argument("--workdir", type=Path, default=None, help="keeps the raw recordings between runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    if not args.suite2p_python.exists():
        sys.exit(f"no suite2p python at {args.suite2p_python}: run bench/suite2p_env.sh first")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="element-calcium-vs-suite2p-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for mode in args.modes:
        args.mode = mode
        raw = workdir / f"{mode}_{args.size}px_{args.frames}f_{args.cells}c_seed{args.seed}"
        if not raw.exists():
            chain.write_recording(args, raw)
        movie = chain.make_movie(args)
        truth, fps = movie.truth, float(movie.truth.fps)
        tiffs = suite2p_tiffs(args, raw, workdir)
        for repeat in range(args.first_repeat, args.first_repeat + args.repeats):
            ours = run_ours(args, raw, workdir / f"{raw.name}_ours_{repeat}", truth)
            print(f"{mode} run {repeat} ours: {json.dumps(ours)}", file=sys.stderr, flush=True)
            theirs = run_suite2p(args, tiffs, workdir / f"{raw.name}_suite2p_{repeat}", fps, truth)
            print(f"{mode} run {repeat} suite2p: {json.dumps(theirs)}", file=sys.stderr, flush=True)
            results.append({"mode": mode, "repeat": repeat, "frames": args.frames, "size": args.size,
                            "cells": args.cells, "seed": args.seed, "ours": ours, "suite2p": theirs,
                            "speedup": round(theirs["wall_s"] / ours["wall_s"], 2)})
    report = {"machine": machine(), "results": results}
    print(table(results))
    for entry in results:
        print(f"{entry['mode']} run {entry['repeat']}: suite2p / ours wall = {entry['speedup']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
