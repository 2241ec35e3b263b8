"""Benchmark: spatiotemporal event detection throughput, peak memory and accuracy on a streamed astrocyte movie.

A simulated movie (`element_calcium._simulate_astro.simulate_astro`: expanding waves and blobs on a bleaching,
noisy baseline, uint16) is rendered chunk by chunk straight into `detect_spatial_events` with the default
`SpatialEventParams`, so it is never in memory whole. Rates are frames / seconds, once end to end (the
simulator's rendering of every frame read included) and once with the rendering taken out. Peak RSS is this
process's maximum resident memory (``ru_maxrss``), the simulator and the accuracy bookkeeping included.

Accuracy: each chunk of labels handed to ``write_labels`` is compared with the simulator's true extents of the
same frames (voxels where an event's profile is >= 5% of its peak); the time this takes is not counted. An
event is found when a detected event overlaps it with IoU >= 0.5 (3-D masks); a false event overlaps no true
event.

With ``--shapes``, the provisional labels also go to a temporary memory-mapped file, and after the detection
the final labels are streamed through `EventShapes` (astroCAST's 3-D mask properties) and every footprint through
`footprint_properties`, as the SpatialEvents stage does; ``shapes_seconds`` is that time. With ``--bleach-window
N``, astroCAST's Delta correction (`delta_bleach_correction_chunks`, dF) is timed over the rendered movie on its
own, ``bleach_frames_per_s`` (rendering taken out).

    python bench/spatial_events.py [--frames 10000] [--size 512] [--device auto] [--chunk 250]
                                   [--waves N] [--blobs N] [--seed 0] [--shapes] [--bleach-window N]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from element_calcium.compute.events import EventShapes, detect_spatial_events, footprint_properties
from element_calcium.compute.params import SpatialEventParams
from element_calcium.compute.signal import delta_bleach_correction_chunks
from element_calcium.simulate import simulate_astro


class Overlaps:
    """Voxel counts of detected (provisional ids) and true events and of their overlaps, chunk by chunk."""

    def __init__(self, movie):
        self.movie = movie
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"pairs": [], "detected": [], "true": []}
        self.seconds = 0.0

    def __call__(self, start: int, labels: np.ndarray) -> None:
        began = time.perf_counter()
        truth = self.movie.labels(start, start + len(labels))
        both = (labels > 0) & (truth > 0)
        keys = labels[both].astype(np.int64) * (len(self.movie.truth) + 1) + truth[both]
        self.parts["pairs"].append(np.unique(keys, return_counts=True))
        self.parts["detected"].append(np.unique(labels[labels > 0], return_counts=True))
        self.parts["true"].append(np.unique(truth[truth > 0], return_counts=True))
        self.seconds += time.perf_counter() - began

    def scores(self, lookup: np.ndarray) -> dict:
        """IoU of each true event with its best detection, and the number of false events."""
        n_true = len(self.movie.truth)

        def totals(name, size, mapping=None):
            ids = np.concatenate([part[0] for part in self.parts[name]] or [np.zeros(0, np.int64)])
            counts = np.concatenate([part[1] for part in self.parts[name]] or [np.zeros(0, np.int64)])
            return np.bincount(ids if mapping is None else mapping(ids), weights=counts, minlength=size)

        n_found = int(lookup.max(initial=0))
        true_volume = totals("true", n_true + 1)
        detected_volume = totals("detected", n_found + 1, lambda ids: lookup[ids])
        keys = totals("pairs", (n_found + 1) * (n_true + 1),
                      lambda keys: lookup[keys // (n_true + 1)].astype(np.int64) * (n_true + 1) + keys % (n_true + 1))
        overlap = keys.reshape(n_found + 1, n_true + 1)[1:, 1:]
        union = detected_volume[1:, None] + true_volume[None, 1:] - overlap
        iou = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
        best = iou.max(axis=0) if n_found else np.zeros(n_true)
        return {
            "events_true": n_true,
            "events_detected": n_found,
            "found_iou_0.5": int(np.sum(best >= 0.5)),
            "iou_median": round(float(np.median(best)), 3) if n_true else None,
            "iou_min": round(float(best.min()), 3) if n_true else None,
            "false_events": int(np.sum(overlap.sum(axis=1) == 0)) if n_found else 0,
        }


def shape_seconds(result, labels: np.ndarray, chunk_frames: int) -> float:
    """Seconds to measure the events' mask properties over the final labels and their footprints' properties."""
    began = time.perf_counter()
    shapes = EventShapes(result.events[["z0", "z1", "y0", "y1", "x0", "x1"]].to_numpy())
    for start in range(0, len(labels), chunk_frames):
        shapes.add(start, result.label_lookup[labels[start : start + chunk_frames]])
    shapes.table()
    for ypix, xpix in result.footprints:
        footprint_properties(ypix, xpix)
    return time.perf_counter() - began


def bleach_frames_per_s(movie, n_frames: int, window: int, chunk_frames: int, device: str) -> float:
    """Frames per second of the streamed Delta correction, the simulator's rendering taken out."""
    frames = movie.render(0, min(n_frames, 2000))
    began = time.perf_counter()
    for _ in delta_bleach_correction_chunks(lambda a, b: frames[a:b], len(frames), window=window,
                                            chunk_frames=chunk_frames, device=device):
        pass
    return len(frames) / (time.perf_counter() - began)


def describe_machine() -> str:
    """CPU model, logical cores and Python version of this machine."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10000, help="frames of the movie")
    parser.add_argument("--size", type=int, default=512, help="frame side in pixels")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--chunk", type=int, default=250, help="chunk_frames of the detection")
    parser.add_argument("--waves", type=int, default=None, help="waves (default: 60 per 10,000 frames of 512x512)")
    parser.add_argument("--blobs", type=int, default=None, help="blobs (default: 3 per wave)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shapes", action="store_true", help="also time the shape properties of the events")
    parser.add_argument("--bleach-window", type=int, default=None, help="also time Delta bleach correction")
    args = parser.parse_args()
    scale = args.frames / 10000 * (args.size / 512) ** 2
    waves = round(60 * scale) if args.waves is None else args.waves
    blobs = 3 * waves if args.blobs is None else args.blobs
    movie = simulate_astro(n_frames=args.frames, height=args.size, width=args.size, n_waves=waves, n_blobs=blobs,
                           seed=args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reading = [0.0]

    def read_frames(start: int, stop: int) -> np.ndarray:
        began = time.perf_counter()
        frames = movie.render(start, stop)
        reading[0] += time.perf_counter() - began
        return frames

    overlaps = Overlaps(movie)
    scratch = tempfile.TemporaryDirectory() if args.shapes else None
    labels = (np.lib.format.open_memmap(Path(scratch.name) / "labels.npy", mode="w+", dtype=np.int32,
                                        shape=(args.frames, args.size, args.size)) if scratch else None)

    def write_labels(start: int, chunk: np.ndarray) -> None:
        overlaps(start, chunk)
        if labels is not None:
            labels[start : start + len(chunk)] = chunk

    began = time.perf_counter()
    result = detect_spatial_events(read_frames, args.frames, fps=movie.fps, params=SpatialEventParams(),
                                   device=args.device, chunk_frames=args.chunk, write_labels=write_labels)
    seconds = time.perf_counter() - began - overlaps.seconds
    extra = {}
    if labels is not None:
        extra["shapes_seconds"] = round(shape_seconds(result, labels, args.chunk), 1)
        del labels
        scratch.cleanup()
    if args.bleach_window is not None:
        extra["bleach_frames_per_s"] = round(bleach_frames_per_s(movie, args.frames, args.bleach_window, args.chunk,
                                                                 args.device), 1)
    print(json.dumps({
        "frames": args.frames,
        "size": args.size,
        "device": result.device,
        "chunk_frames": args.chunk,
        "seconds": round(seconds, 1),
        "seconds_rendering": round(reading[0], 1),
        "frames_per_s": round(args.frames / seconds, 1),
        "frames_per_s_without_rendering": round(args.frames / (seconds - reading[0]), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_mb": round(rss_before, 1),
        "movie_mb": round(args.frames * args.size**2 * movie.dtype.itemsize / 2**20, 1),
        **overlaps.scores(result.label_lookup),
        **extra,
        "machine": describe_machine(),
    }))


if __name__ == "__main__":
    main()
