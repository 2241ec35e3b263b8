"""Benchmark: source extraction (CNMF-E one-photon, CNMF two-photon) on a simulated movie with ground truth.

The movie is rendered into memory first (motion-free: motion correction is benchmarked separately), then
`extract_sources` runs with the modality's default parameters. Printed: wall time of the extraction, peak
resident memory of the process (the rendered movie and the ground truth included), and the accuracy against
the truth: F1 of footprint matching, median IoU, median correlation of the matched calcium traces, and the
recall of true spikes (see tests/extraction_scoring.py for the definitions).

    python bench/extraction.py [--mode 1p|2p] [--frames 2000] [--size 256] [--cells 80] [--device auto] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from element_calcium.compute.cnmf import extract_sources
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.simulate import simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import extraction_scoring  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="1p", choices=["1p", "2p"])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels")
    parser.add_argument("--cells", type=int, default=80)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    movie = simulate(n_frames=args.frames, height=args.size, width=args.size, n_cells=args.cells, mode=args.mode,
                     max_shift=0.0, seed=args.seed)
    frames = movie.render(0, args.frames)
    params = ProcessingParams.from_dict(default_params(args.mode))
    start = time.perf_counter()
    result = extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[s:e, y0:y1, x0:x1], frames.shape, modality=args.mode,
        params=params.extraction, deconvolution=params.deconvolution, cell_diameter=params.cell_diameter,
        device=args.device,
    )
    seconds = time.perf_counter() - start
    truth = movie.truth
    match = extraction_scoring.score(truth.footprints, truth.calcium, result.footprints, result.calcium)
    scale = extraction_scoring.calcium_scale(truth.calcium, result.calcium, match)
    recall = extraction_scoring.spike_recall(truth.spikes, truth.calcium, result.spikes, result.noise, match,
                                             scale=scale)
    print(json.dumps({
        "mode": args.mode, "frames": args.frames, "size": args.size, "cells": args.cells, "device": result.device,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_true": match.n_true, "n_estimated": match.n_estimated, "f1": round(match.f1, 3),
        "median_iou": round(match.median_iou, 3), "median_trace_r": round(match.median_r, 3),
        "spike_recall": round(recall, 3),
    }))


if __name__ == "__main__":
    main()
