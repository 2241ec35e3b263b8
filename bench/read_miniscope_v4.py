"""Benchmark: stream a long Miniscope V4 recording through the lazy Movie reader.

Writes (once) a simulated 20,000-frame 608x608 one-photon recording as FFV1 AVIs of 1,000
frames, then reads it in chunks in a fresh process and reports frames/s and the reading
process's peak resident memory, which must stay under 1 GB whatever the recording length.

    python bench/read_miniscope_v4.py [--frames 20000] [--size 608] [--chunk 500] [--folder DIR]
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


def write(folder: Path, n_frames: int, size: int) -> None:
    from element_calcium.simulate import simulate, write_miniscope_v4

    movie = simulate(n_frames=n_frames, height=size, width=size, n_cells=150, mode="1p", fps=30.0, seed=1)
    start = time.perf_counter()
    write_miniscope_v4(folder, movie, frames_per_file=1000, codec="FFV1")
    print(f"wrote {n_frames} frames in {time.perf_counter() - start:.0f} s", file=sys.stderr)


def read(folder: Path, chunk: int) -> dict:
    from element_calcium.readers import read_recording

    start = time.perf_counter()
    recording = read_recording(folder)
    opened = time.perf_counter() - start
    movie = recording.movie()
    frames, checksum = 0, 0.0
    start = time.perf_counter()
    for block in movie.chunks(chunk):
        frames += len(block)
        checksum += float(np.mean(block[:, ::64, ::64]))
    elapsed = time.perf_counter() - start
    return {
        "frames": frames,
        "shape": list(movie.shape),
        "open_s": round(opened, 2),
        "read_s": round(elapsed, 1),
        "frames_per_s": round(frames / elapsed, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "chunk": chunk,
    }


def describe_machine() -> str:
    """CPU model, logical cores and Python version of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--size", type=int, default=608)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--folder", type=Path, help="where the recording is written (default: a temporary folder)")
    parser.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_only:
        print(json.dumps(read(args.folder, args.chunk)))
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ec-bench-")) / "recording"
    if not folder.exists():
        write(folder, args.frames, args.size)
    result = subprocess.run(
        [sys.executable, __file__, "--read-only", "--folder", str(folder), "--chunk", str(args.chunk)],
        check=True, capture_output=True, text=True,
    )
    measured = json.loads(result.stdout)
    measured["machine"] = describe_machine()
    print(json.dumps(measured, indent=2))


if __name__ == "__main__":
    main()
