"""Profile of the processing chain (bench/chain.py's stages): where the time goes, per stage and per step.

Writes the chain benchmark's simulated recording (once, under ``--workdir``), then runs motion correction,
source extraction and dF/F in this process under cProfile, exactly as bench/chain.py runs them, and prints
JSON: each step's cumulative time (s) and its share of the total, the wall time and CPU time of the run (CPU
time over wall time above 1 means more than one core worked), and the peak resident memory. cProfile sees
the main thread only: the work of the worker threads (motion's batches, the read-ahead of frames, the CNMF
patches with ``--workers`` above 1) shows up as waiting for them. ``--top N`` also prints the N functions of
largest own time to standard error.

``--pipeline`` profiles the fixed cost instead: the recording goes through the command line as a user runs it,
with a schema prefix and folders of its own (dropped afterwards): the import time of the command's modules,
``element-calcium ingest`` (timed, another process), then ``element-calcium populate`` in this process under
cProfile, split into imports and activation, each table's make (fetch, compute, insert), the database round
trips and the rest (populate's own queries), then ``populate`` again with nothing left to make (its cost over
every table). Use a short recording (``--frames 300 --size 128``).

    python bench/profile_chain.py [--mode 1p|2p] [--frames 2000] [--size 256] [--cells 80] [--workers N]
                                  [--workdir DIR] [--top 25] [--pipeline]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import chain  # bench/chain.py: the recording and the stages
from _schemas import drop_schemas

# step -> (module path fragment, function name): the step's time is that function's cumulative time
STEPS = {
    "motion: reading and decoding frames": ("element_calcium/readers/", "read"),
    "motion: whole stage": ("element_calcium/stages/motion.py", "run"),
    "extraction: reading patches": ("compute/cnmf/_extract.py", "_read_patch"),
    "extraction: seeding (greedy init)": ("compute/cnmf/_init.py", "greedy"),
    "extraction: seeding (sparse NMF init)": ("compute/cnmf/_init.py", "sparse_nmf"),
    "extraction: seed images": ("compute/cnmf/_init.py", "_seed_images"),
    "extraction: background (ring)": ("compute/cnmf/_updates.py", "fit_ring"),
    "extraction: background (low rank)": ("compute/cnmf/_updates.py", "fit_low_rank"),
    "extraction: spatial update": ("compute/cnmf/_updates.py", "update_spatial"),
    "extraction: search masks and cleaning": ("compute/cnmf/_updates.py", "search_masks"),
    "extraction: clean footprints": ("compute/cnmf/_updates.py", "clean_footprints"),
    "extraction: projection A^T (Y - B)": ("compute/cnmf/_updates.py", "project"),
    "extraction: temporal update": ("compute/cnmf/_updates.py", "update_temporal"),
    "extraction: deconvolution (in temporal update)": ("compute/deconvolution/_deconvolve.py", "deconvolve_traces"),
    "extraction: merge": ("compute/cnmf/_updates.py", "merge"),
    "extraction: spatial correlation": ("compute/cnmf/_updates.py", "spatial_corr"),
    "extraction: duplicates across patches": ("compute/cnmf/_patches.py", "duplicates"),
    "waiting for worker threads (motion and extraction)": ("concurrent/futures/_base.py", "result"),
    "extraction: writing the results file": ("element_calcium/extraction_file.py", "write_sources"),
    "extraction: whole stage": ("element_calcium/stages/segmentation.py", "run"),
    "dF/F": ("element_calcium/stages/activity.py", "activity_traces"),
}


def step_times(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each step of `STEPS` (0 where the function did not run)."""
    times = dict.fromkeys(STEPS, 0.0)
    for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():
        for step, (fragment, name) in STEPS.items():
            if function == name and fragment in filename.replace("\\", "/"):
                times[step] += cumulative
    return times


# pipeline mode: function -> what it is; cumulative seconds summed over the functions of each entry
PIPELINE_STEPS = {
    "database round trips (pymysql queries)": ("pymysql/cursors.py", "execute"),
    "inserts (datajoint insert)": ("datajoint/table.py", "insert"),
    "make_fetch (all tables)": ("element_calcium/", "make_fetch"),
    "make_insert (all tables)": ("element_calcium/_schema_runtime.py", "make_insert"),
    "stage compute (all tables)": ("element_calcium/stages/__init__.py", "run"),
    "fill_automatic_entries (Curation 0 rows)": ("element_calcium/_schema_runtime.py", "fill_automatic_entries"),
    "populate, all tables": ("element_calcium/_schema_runtime.py", "populate_all"),
}


def _self_timed(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return round(time.perf_counter() - started, 2)


def profile_pipeline(args, raw: Path, workdir: Path) -> dict:
    """The command line's fixed cost on ``raw``: import times, ingest, and a profiled populate (module docstring)."""
    place = Path(tempfile.mkdtemp(prefix="pipeline_", dir=workdir))
    (place / "processed").mkdir()
    os.environ.update(EC_DB_PREFIX=f"ecbench_{uuid.uuid4().hex[:8]}_", EC_RAW_ROOT=str(raw.parent),
                      EC_PROCESSED_ROOT=str(place / "processed"), EC_DEVICE="cpu")
    if args.workers:
        os.environ["EC_WORKERS"] = str(args.workers)
    env = dict(os.environ)
    python = [sys.executable, "-c"]
    imports = {name: _self_timed(python + [f"import {name}"], env)
               for name in ("workflow.cli", "workflow.worker", "element_calcium.imaging", "workflow.pipeline")}
    try:
        ingest_s = _self_timed([sys.executable, "-m", "workflow.cli", "ingest", str(raw), "--subject", "bench",
                                "--session-datetime", "2026-01-01T10:00:00"], env)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        import workflow.pipeline  # noqa: F401  (connects and activates the schemas; the package is imported already)
        from workflow import cli

        imported_s = time.perf_counter() - started
        cli.main(["populate"])
        profiler.disable()
        wall = time.perf_counter() - started
        idle = time.perf_counter()
        cli.main(["populate"])  # nothing left to make: populate's own cost over every table
        idle = time.perf_counter() - idle
        stats = pstats.Stats(profiler)
        steps = dict.fromkeys(PIPELINE_STEPS, 0.0)
        per_table: dict[str, float] = {}
        for (filename, _, function), (_, _, _, cumulative, _) in stats.stats.items():
            path = filename.replace("\\", "/")
            for step, (fragment, name) in PIPELINE_STEPS.items():
                if function == name and fragment in path:
                    steps[step] += cumulative
            if function == "run" and "element_calcium/stages/" in path and not path.endswith("__init__.py"):
                per_table[Path(path).stem] = round(per_table.get(Path(path).stem, 0.0) + cumulative, 2)
        return {"imports_s (fresh process each)": imports, "ingest_command_s": ingest_s,
                "populate_wall_s": round(wall, 1), "connect_and_activate_s": round(imported_s, 2),
                "populate_again_nothing_to_make_s": round(idle, 2),
                "steps_s": {name: round(value, 2) for name, value in steps.items()},
                "stage_run_s": per_table}
    finally:
        drop_schemas(os.environ["EC_DB_PREFIX"])
        shutil.rmtree(place, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    chain.add_recording_arguments(parser)
    parser.add_argument("--top", type=int, default=0, help="also print the N functions of largest own time")
    parser.add_argument("--pipeline", action="store_true", help="profile the command line's fixed cost instead")
    args = parser.parse_args()
    args.device = "cpu"

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="element-calcium-profile-"))
    raw = workdir / f"{args.mode}_{args.size}px_{args.frames}f_{args.cells}c_seed{args.seed}"
    if not raw.exists():
        chain.write_recording(args, raw)
    if args.pipeline:
        print(json.dumps(profile_pipeline(args, raw, workdir), indent=1))
        return
    output = Path(tempfile.mkdtemp(prefix=f"{raw.name}_profiled_", dir=workdir))

    profiler = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    profiler.enable()
    chain.run_stages(args, raw, output)
    profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)

    stats = pstats.Stats(profiler)
    total = stats.total_tt
    steps = {name: {"s": round(value, 2), "share": round(value / total, 3)}
             for name, value in step_times(stats).items() if value > 0}
    print(json.dumps({
        "mode": args.mode, "frames": args.frames, "size": args.size, "workers": args.workers,
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cores_used": round(cpu / wall, 2),
        "profiled_s": round(total, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_worker_mb": round(after.ru_maxrss / 1024, 1),
        "steps": steps,
    }, indent=1))
    if args.top:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.top)
        print(text.getvalue(), file=sys.stderr)


if __name__ == "__main__":
    main()
