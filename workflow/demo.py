"""The end-to-end demo: simulate a one-photon Miniscope V4 recording with lever presses, ingest it, populate it,
write its report, and compare what was found with the simulation's truth.

The demo keeps to a place of its own, so it can run again and again beside a lab's data: schemas named
``<EC_DB_PREFIX>demo_...`` and a folder ``element-calcium-demo`` beside the processed root (``raw/`` and
``processed/`` in it). `use_demo_place` points this process there before the pipeline is imported, and
`run_demo` computes the demo recording's keys only. The recording is simulated once per set of options.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DEMO_SUBJECT = "demo-mouse"
DEMO_SESSION = datetime.datetime(2026, 1, 5, 10, 30)  # where the files hold no start time
DEMO_FOLDER = "element-calcium-demo"
BEHAVIOR_FILE = "behavior_events.csv"
TRUTH_FILE = "ground_truth.npz"
FPS = 20.0


@dataclass(frozen=True)
class DemoPlace:
    """Where the demo keeps its data.

    Attributes:
        prefix: schema name prefix (the user's prefix followed by ``demo_``).
        folder: the demo's folder; ``raw`` and ``processed`` are its raw and processed roots.
    """

    prefix: str
    folder: Path

    @property
    def raw(self) -> Path:
        return self.folder / "raw"

    @property
    def processed(self) -> Path:
        return self.folder / "processed"


def demo_place() -> DemoPlace:
    """The demo's schemas and folder, from the user's settings (`workflow.paths`)."""
    from workflow.paths import get_db_prefix, get_processed_root_dir

    return DemoPlace(prefix=f"{get_db_prefix()}demo_", folder=get_processed_root_dir().parent / DEMO_FOLDER)


def use_demo_place() -> DemoPlace:
    """Point this process's pipeline at the demo's schemas and folders (``EC_DB_PREFIX``, ``EC_RAW_ROOT``,
    ``EC_PROCESSED_ROOT``); call it before ``workflow.pipeline`` is imported.

    Raises:
        RuntimeError: the pipeline was already activated under another prefix in this process.
    """
    place = demo_place()
    pipeline = sys.modules.get("workflow.pipeline")
    if pipeline is not None and pipeline.db_prefix != place.prefix:
        raise RuntimeError(
            f"this process activated the pipeline under {pipeline.db_prefix!r}; the demo runs under {place.prefix!r}, "
            "in a process of its own: run `element-calcium demo`"
        )
    place.raw.mkdir(parents=True, exist_ok=True)
    place.processed.mkdir(parents=True, exist_ok=True)
    os.environ.update(EC_DB_PREFIX=place.prefix, EC_RAW_ROOT=str(place.raw), EC_PROCESSED_ROOT=str(place.processed))
    return place


@dataclass(frozen=True)
class DemoResult:
    """What `run_demo` did.

    Attributes:
        recording_key: the demo recording's key.
        folder: its raw folder (holding the simulation's truth, `TRUTH_FILE`).
        n_cells: cells simulated.
        failed: ``"Table key: message"`` of each key that failed.
        report: the report's path, None when it was not written (a key failed).
    """

    recording_key: dict[str, Any]
    folder: Path
    n_cells: int
    failed: list[str]
    report: Path | None


def run_demo(*, n_frames: int = 1500, size: int = 160, n_cells: int = 30, seed: int = 0) -> DemoResult:
    """Simulate (once per set of options) and ingest the demo recording and its lever presses, compute its
    keys, and write its report. Call `use_demo_place` first.

    Args:
        n_frames: frames at 20 Hz.
        size: frame height and width (pixels).
        n_cells: cells simulated.
        seed: seed of the simulation.
    """
    from workflow.ingest import ingest_recording
    from workflow.paths import get_raw_root_dirs

    folder = get_raw_root_dirs()[0] / DEMO_SUBJECT / f"{n_frames}f_{size}px_{n_cells}cells_seed{seed}"
    if not (folder / TRUTH_FILE).is_file():
        _simulate(folder, n_frames=n_frames, size=size, n_cells=n_cells, seed=seed)
    print(f"demo recording: {folder}")
    result = ingest_recording(folder, subject=DEMO_SUBJECT, session_datetime=_session_time(folder))

    from element_calcium import behavior, progress
    from element_calcium.report import write_report
    from workflow.pipeline import events, imaging

    key = result.recording_key
    if not events.BehaviorEvent & key:
        count = behavior.import_event_csv(key, folder / BEHAVIOR_FILE)
        print(f"imported {count} lever presses from {BEHAVIOR_FILE}")
    failed = []
    with progress.showing_progress(bar=progress.can_draw_bars()):
        for table in imaging.automatic_tables():
            imaging.fill_automatic_entries()
            outcome = table.populate(key, display_progress=True, suppress_errors=True)
            failed += [f"{table.__name__} {progress.key_text(failed_key)}: {message}"
                       for failed_key, message in outcome["error_list"]]
    report = None if failed else write_report(key, progress=True)
    return DemoResult(recording_key=key, folder=folder, n_cells=n_cells, failed=failed, report=report)


def _session_time(folder: Path) -> datetime.datetime:
    """The start time the recording's files hold (to the second), as a rig's session would be entered."""
    from element_calcium.readers import read_recording

    started = read_recording(folder).metadata.recording_datetime
    return DEMO_SESSION if started is None else started.replace(microsecond=0)


def _simulate(folder: Path, *, n_frames: int, size: int, n_cells: int, seed: int) -> None:
    """Write the recording, its lever presses and the truth the demo is compared with (the file written last)."""
    from element_calcium.simulate import simulate, write_miniscope_v4

    print(f"simulating a {n_frames}-frame {size}x{size} one-photon recording with {n_cells} cells ...")
    movie = simulate(n_frames=n_frames, height=size, width=size, n_cells=n_cells, mode="1p", fps=FPS, seed=seed)
    if folder.exists():  # an interrupted simulation: start it again
        import shutil

        shutil.rmtree(folder)
    write_miniscope_v4(folder, movie, frames_per_file=500, seed=seed)
    _write_lever_presses(folder / BEHAVIOR_FILE, duration_s=n_frames / FPS, seed=seed)
    truth = movie.truth
    diameters = 2 * np.sqrt((truth.footprints > 0.5).sum(axis=(0, 1)) / np.pi)
    np.savez(folder / TRUTH_FILE, centers=truth.centers, shifts=truth.shifts, diameters=diameters)


def _write_lever_presses(path: Path, *, duration_s: float, seed: int) -> None:
    """A behaviour CSV (time, event_type) of lever presses 3-8 s apart, as a behaviour rig would log them."""
    rng = np.random.default_rng(seed)
    times = 2.0 + np.cumsum(rng.uniform(3.0, 8.0, int(duration_s / 3.0)))
    times = times[times < duration_s - 5.0]
    pd.DataFrame({"time": times.round(3), "event_type": "lever"}).to_csv(path, index=False)


def compare_with_truth(result: DemoResult) -> dict[str, Any]:
    """What the pipeline found against the simulation's truth.

    Returns:
        ``shift_rms_px``: RMS error of the rigid shifts after the template's offset (pixels);
        ``max_shift_px``: the largest simulated shift; ``found``: simulated cells with a cell found within
        half a cell diameter (one to one); ``extra``: cells found that match none; ``simulated``: cells
        simulated.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    from workflow.pipeline import imaging

    truth = np.load(result.folder / TRUTH_FILE)
    task = (imaging.ProcessingTask & result.recording_key).fetch1("KEY")
    y_shifts, x_shifts = (imaging.MotionCorrection.RigidMotionCorrection & task).fetch1("y_shifts", "x_shifts")
    residual = truth["shifts"] - np.stack([y_shifts, x_shifts], axis=1)
    offset = np.median(residual, axis=0)  # where the template lies in the tissue's frame
    shift_rms = float(np.sqrt(np.mean(np.sum((residual - offset) ** 2, axis=1))))
    centres = np.stack((imaging.Segmentation.Mask & task).to_arrays("mask_center_y", "mask_center_x"), axis=1)
    expected = truth["centers"] + offset
    radius = max(3.0, 0.5 * float(np.median(truth["diameters"])))
    found = 0
    if len(centres) and len(expected):
        distances = cdist(expected, centres)
        rows, cols = linear_sum_assignment(distances)
        found = int(np.sum(distances[rows, cols] <= radius))
    return {"shift_rms_px": shift_rms, "max_shift_px": float(np.abs(truth["shifts"]).max()), "found": found,
            "extra": len(centres) - found, "simulated": len(expected), "radius_px": radius}


def describe(result: DemoResult) -> str:
    """What the demo found, in plain words, against the simulation's truth, and what to do next."""
    from workflow.pipeline import clusters, events, imaging

    key = result.recording_key
    info = (imaging.RecordingInfo & key).fetch1()
    lines = [
        "",
        f"The demo recording: {info['nframes']} frames of {info['px_height']} x {info['px_width']} pixels at "
        f"{info['fps']:.0f} Hz ({info['recording_duration']:.0f} s), written as a Miniscope V4 folder, with "
        f"{result.n_cells} simulated cells and {len(events.BehaviorEvent & key)} lever presses.",
    ]
    if result.failed:
        lines += ["", "These steps failed:", *(f"  {line}" for line in result.failed)]
        return "\n".join(lines)
    truth = compare_with_truth(result)
    task = (imaging.ProcessingTask & key).fetch1("KEY")
    motion, segmentation = (imaging.MotionCorrection & task).fetch1(), (imaging.Segmentation & task).fetch1()
    kinds = pd.Series((imaging.MaskClassification.MaskType & task).to_arrays("mask_type")).value_counts()
    curation = {**task, "curation_id": 0}
    dff = {**curation, "extraction_method": "dff"}
    lines += [
        "",
        "What the pipeline found, against the simulation's truth:",
        f"  motion: the tissue moved up to {truth['max_shift_px']:.1f} px; the estimated shifts are off by "
        f"{truth['shift_rms_px']:.2f} px (root mean square)",
        f"  cells: {truth['found']} of {truth['simulated']} simulated cells found (within "
        f"{truth['radius_px']:.0f} px of where they were simulated), {truth['extra']} other cell(s) found; "
        + ", ".join(f"{count} called {kind}" for kind, count in kinds.items()),
    ]
    n_traces = len(imaging.Activity.Trace & dff)
    lines.append(f"  traces: fluorescence, dF/F, denoised calcium and spikes of {n_traces} cells")
    for row in (events.Transients & dff).to_dicts():
        rates = (events.Transients.CellStats & row).to_arrays("rate_hz")
        lines.append(f"  calcium transients: {row['transient_count']} (median {np.median(rates):.2f} per second and "
                     "cell)" if len(rates) else "  calcium transients: none")
    for window in (events.PeriEventWindow & dff & {"event_type": "lever"}).to_dicts():
        p_values = (events.PeriEventWindow.CellResponse & window).to_arrays("p_value")
        lines.append(f"  lever presses: {int(np.sum(p_values < 0.01))} of {len(p_values)} cells respond "
                     f"(p < 0.01 over {window['n_events']} presses)")
    for row in (clusters.CellClustering & curation).to_dicts():
        silhouette = "" if row["silhouette"] is None else f", silhouette {row['silhouette']:.2f}"
        trace = {"dff": "dF/F", "denoised": "denoised calcium", "deconvolved": "spikes"}[row["extraction_method"]]
        lines.append(f"  clusters: {row['n_clusters']} groups of cells by the power spectrum of their "
                     f"{trace}{silhouette}")
    for run in (imaging.Processing & task).to_dicts():
        lines.append(f"  processing record: {run['software']} {run['package_version'] or ''} on {run['host']}, "
                     f"{run['processing_start']:%H:%M:%S} to {run['processing_time']:%H:%M:%S} UTC")
    lines += [
        f"  time: motion correction {motion['wall_time']:.0f} s, finding cells {segmentation['wall_time']:.0f} s "
        f"(on {segmentation['device']})",
        "",
        "Report, with figures of every step (open it in a browser):",
        f"  {result.report}",
        "Next:",
        "  - the notebooks in notebooks/ (`jupyter lab notebooks`): ingest and populate; queries and figures; events "
        "and clusters",
        "  - your own recordings: `element-calcium ingest FOLDER --subject S --session-datetime T`, then "
        "`element-calcium worker --once` (README, \"Your own recordings\")",
        "  - look and curate in the browser: `" + " ".join(f"{name}={os.environ.get(name, '')}" for name in (
            "EC_DB_PREFIX", "EC_RAW_ROOT", "EC_PROCESSED_ROOT")) + " element-calcium app`, then http://127.0.0.1:5006",
        f"The demo keeps to its own schemas ({os.environ.get('EC_DB_PREFIX', '')}*) and folder "
        f"({result.folder.parents[2]}); run it again at any time.",
    ]
    return "\n".join(lines)
