"""Benchmark: calcium transients of many cells, and behaviour-response statistics, scored against the truth.

Simulated dF/F traces (GCaMP6f-like kinetics, every transient at least ``--snr`` noise standard
deviations) go through `detect_transients` and `transient_statistics`; then `response_statistics`
(with ``--shuffles`` circular shifts) runs against ``--events`` lever presses. Printed as JSON: wall
time of each step, recall and precision of the transients (spikes closer than 0.5 s are one true
transient; an onset within 0.2 s of it matches) and the error of the pooled rate and mean
inter-event interval.

    python bench/transients.py [--cells 1000] [--frames 36000] [--fps 20] [--snr 3] [--events 100]
                               [--shuffles 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from element_calcium.compute.events import detect_transients, response_statistics, transient_statistics
from element_calcium.compute.params import PeriEventParams
from element_calcium.simulate import score_transients, simulate_traces, true_transients

RESOLVE_S = 0.5
TOLERANCE_S = 0.2


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, round(time.perf_counter() - start, 3)


def rate_errors(sim, stats) -> dict:
    """Relative error of the mean rate and mean inter-event interval over cells."""
    groups = [true_transients(sim.spike_frames(c), fps=sim.fps, resolve_s=RESOLVE_S)[0] for c in range(len(stats))]
    true_rate = np.mean([g.size for g in groups]) / (sim.dff.shape[1] / sim.fps)
    true_iei = np.nanmean([np.diff(g).mean() / sim.fps if g.size > 1 else np.nan for g in groups])
    return {
        "rate_error": round(float(stats["rate_hz"].mean() / true_rate - 1), 4),
        "iei_error": round(float(stats["mean_iei_s"].mean() / true_iei - 1), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=36000)
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--snr", type=float, default=3.0)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--shuffles", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    duration = args.frames / args.fps
    events = np.sort(np.random.default_rng(args.seed).uniform(5.0, duration - 10.0, args.events))
    sim, simulate_s = timed(simulate_traces, n_cells=args.cells, n_frames=args.frames, fps=args.fps, rate_hz=0.2,
                            snr=args.snr, event_times=events, locked_cells=range(0, args.cells, 10), seed=args.seed)
    table, detect_s = timed(detect_transients, sim.dff, fps=args.fps)
    stats, statistics_s = timed(transient_statistics, sim.dff, table, fps=args.fps)
    responses, response_s = timed(response_statistics, sim.dff, events, sim.timestamps,
                                  params=PeriEventParams(n_shuffles=args.shuffles, response_end_s=1.5))
    score = score_transients(sim, table, resolve_s=RESOLVE_S, tolerance_s=TOLERANCE_S)
    locked = np.zeros(args.cells, bool)
    locked[::10] = True
    p = responses["p_value"].to_numpy()
    print(json.dumps({
        "cells": args.cells, "frames": args.frames, "fps": args.fps, "snr": args.snr, "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "seconds": {"simulate": simulate_s, "detect_transients": detect_s, "transient_statistics": statistics_s,
                    "response_statistics": response_s},
        "transients": {k: round(v, 4) if isinstance(v, float) else v for k, v in score.items()},
        **rate_errors(sim, stats),
        "responses": {"events": args.events, "shuffles": args.shuffles,
                      "locked_detected_p<0.01": round(float(np.mean(p[locked] < 0.01)), 4),
                      "unrelated_p<0.05": round(float(np.mean(p[~locked] < 0.05)), 4)},
    }, indent=2))


if __name__ == "__main__":
    main()
