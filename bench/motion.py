"""Benchmark: motion correction throughput (rigid and piecewise-rigid) and peak memory of a long run.

Throughput: simulated one-photon (uint8) and two-photon (uint16) movies are rendered into memory
first, then `correct_motion` runs end to end on them (template pass, registration, correction,
summary images, corrected chunks handed to a sink). The reported rate is frames / total time.

Memory: a separate process streams a long simulated movie straight from the simulator through
`correct_motion` (the movie is never in memory whole) and reports its peak resident memory.

    python bench/motion.py [--frames 2000] [--rendered N] [--sizes 256 512 608] [--rss-frames 20000]
                           [--rss-size 608] [--skip-rss] [--device auto]

``--rendered N`` renders only N distinct frames and plays them in a loop to make up ``--frames``: the work per
frame is the same, and a fast device is not left waiting for the simulator.
    python bench/motion.py --from-folder RECORDING [--output DIR]   # end to end from file, default params
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from element_calcium.compute.motion import correct_motion
from element_calcium.compute.params import MotionParams
from element_calcium.simulate import simulate

MODES = ("1p", "2p")


def params_for(mode: str, pw_rigid: bool) -> MotionParams:
    """The built-in parameters of ``mode``, rigid or piecewise-rigid."""
    return MotionParams(pw_rigid=pw_rigid, max_shift=20.0 if mode == "1p" else 15.0, highpass=mode == "1p")


def render(mode: str, size: int, n_frames: int):
    n_cells = int(60 * (size / 256) ** 2)
    movie = simulate(n_frames=n_frames, height=size, width=size, n_cells=n_cells, mode=mode, max_shift=6.0, seed=3)
    return movie.render(0, n_frames)


def looped(frames: np.ndarray):
    """``read_frames(start, stop)`` over the rendered frames played in a loop."""
    return lambda start, stop: frames[np.arange(start, stop) % len(frames)]


def throughput(frames, n_frames: int, mode: str, pw_rigid: bool, device: str) -> tuple[float, str]:
    """Frames per second of an end-to-end run over ``n_frames`` frames, and the device it ran on."""
    start = time.perf_counter()
    result = correct_motion(
        looped(frames),
        n_frames,
        params=params_for(mode, pw_rigid),
        cell_diameter=12.0,
        device=device,
        write_corrected=lambda chunk: None,
    )
    return n_frames / (time.perf_counter() - start), result.device


def streamed_peak_rss(n_frames: int, size: int, mode: str, pw_rigid: bool, device: str) -> dict:
    """Run in this process: stream a simulated movie through correct_motion; peak RSS in MB."""
    movie = simulate(n_frames=n_frames, height=size, width=size, n_cells=150, mode=mode, max_shift=6.0, seed=4)
    start = time.perf_counter()
    result = correct_motion(
        movie.render,
        n_frames,
        params=params_for(mode, pw_rigid),
        cell_diameter=12.0,
        device=device,
        write_corrected=lambda chunk: None,
    )
    return {
        "frames": n_frames,
        "size": size,
        "mode": mode,
        "pw_rigid": pw_rigid,
        "device": result.device,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "movie_mb": round(n_frames * size * size * movie.dtype.itemsize / 2**20, 1),
    }


def describe_machine() -> str:
    """CPU model, logical cores and Python version of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().splitlines()
        names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def from_folder(folder: Path, output: Path, device: str) -> dict:
    """End to end from files, as MotionCorrection runs it: raw recording in, corrected HDF5 out."""
    from element_calcium.compute.params import default_params
    from element_calcium.stages import RunSettings
    from element_calcium.stages.motion import MotionInputs, run
    from element_calcium.readers import detect_software, read_recording

    software = detect_software(folder)
    modality = "1p" if software.startswith("Miniscope") else "2p"
    n_frames, height, width = read_recording(folder, software=software).movie().shape
    inputs = MotionInputs(
        task_mode="trigger", method="element_calcium", params=default_params(modality), recording_folder=folder,
        software=software, frame_rate=None, output_dir=output, output_dir_relative=output.name,
        n_frames=n_frames, frame_shape=(height, width),
    )
    start = time.perf_counter()
    rows = run(inputs, settings=RunSettings(device=device))
    seconds = time.perf_counter() - start
    n_frames = len(rows.parts["RigidMotionCorrection"][0]["y_shifts"])
    return {
        "frames": n_frames,
        "modality": modality,
        "device": rows.master["device"],
        "seconds": round(seconds, 1),
        "frames_per_s": round(n_frames / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames of each in-memory throughput movie")
    parser.add_argument("--rendered", type=int, default=None, help="distinct frames rendered (default: --frames)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 608], help="frame sides in pixels")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--rss-frames", type=int, default=20000, help="frames of the streamed memory run")
    parser.add_argument("--rss-size", type=int, default=608, help="frame side of the streamed memory run")
    parser.add_argument("--rss-mode", default="1p", choices=MODES)
    parser.add_argument("--skip-rss", action="store_true", help="skip the streamed memory run")
    parser.add_argument("--rss-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--from-folder", type=Path, help="instead: correct this raw recording end to end from file")
    parser.add_argument("--output", type=Path, help="with --from-folder: folder for the corrected movie")
    args = parser.parse_args()
    if args.from_folder:
        output = args.output or Path(tempfile.mkdtemp(prefix="ec-motion-"))
        print(json.dumps({**from_folder(args.from_folder, output, args.device), "machine": describe_machine()}))
        return
    if args.rss_only:
        print(json.dumps(streamed_peak_rss(args.rss_frames, args.rss_size, args.rss_mode, False, args.device)))
        return

    print(f"machine: {describe_machine()}")
    rows = []
    for size in args.sizes:
        for mode in MODES:
            frames = render(mode, size, min(args.rendered or args.frames, args.frames))
            rates = {}
            for pw_rigid in (False, True):
                rates[pw_rigid], device = throughput(frames, args.frames, mode, pw_rigid, args.device)
            rows.append((f"{size}x{size}", f"{mode} {frames.dtype}", device, rates[False], rates[True]))
            message = f"{size}x{size} {mode}: rigid {rates[False]:.0f} fps, pw-rigid {rates[True]:.0f} fps"
            print(message, file=sys.stderr)
            del frames
    print(f"\n{args.frames} frames per movie, end to end (template, registration, correction, summary images)\n")
    print("| frame | data | device | rigid (frames/s) | pw-rigid (frames/s) |")
    print("| --- | --- | --- | ---: | ---: |")
    for frame, data, device, rigid, piecewise in rows:
        print(f"| {frame} | {data} | {device} | {rigid:.0f} | {piecewise:.0f} |")

    if not args.skip_rss:
        command = [
            sys.executable, __file__, "--rss-only", "--rss-frames", str(args.rss_frames),
            "--rss-size", str(args.rss_size), "--rss-mode", args.rss_mode, "--device", args.device,
        ]
        measured = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(
            f"\nstreamed {measured['frames']} frames of {measured['size']}x{measured['size']} {measured['mode']} "
            f"(rigid, {measured['device']}; movie {measured['movie_mb']} MB): peak RSS {measured['peak_rss_mb']} MB "
            f"in {measured['seconds']} s (the simulator's ground truth included)"
        )


if __name__ == "__main__":
    main()
