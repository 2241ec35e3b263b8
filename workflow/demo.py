"""The end-to-end demo: simulate a one-photon Miniscope V4 recording with lever presses, ingest it, populate."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np

import pandas as pd

from element_calcium.simulate import simulate, write_miniscope_v4
from workflow.ingest import ingest_recording
from workflow.paths import get_raw_root_dirs

DEMO_SUBJECT = "demo-mouse"
DEMO_SESSION = datetime.datetime(2026, 1, 5, 10, 30)


def demo_folder() -> Path:
    """Where the demo recording is written: ``<first raw root>/demo/<subject>/<session>``."""
    return get_raw_root_dirs()[0] / "demo" / DEMO_SUBJECT / DEMO_SESSION.strftime("%Y_%m_%d/%H_%M_%S")


BEHAVIOR_FILE = "behavior_events.csv"


def run_demo(*, n_frames: int = 1500, size: int = 160, n_cells: int = 30, seed: int = 0) -> dict:
    """Write (once) and ingest the demo recording and its lever presses, populate every table; returns its key."""
    folder = demo_folder()
    if not folder.exists():
        print(f"simulating a {n_frames}-frame {size}x{size} one-photon recording with {n_cells} cells")
        movie = simulate(n_frames=n_frames, height=size, width=size, n_cells=n_cells, mode="1p", fps=20.0, seed=seed)
        write_miniscope_v4(folder, movie, frames_per_file=500, seed=seed)
        _write_lever_presses(folder / BEHAVIOR_FILE, duration_s=n_frames / 20.0, seed=seed)
    print(f"recording folder: {folder}")
    result = ingest_recording(folder, subject=DEMO_SUBJECT, session_datetime=DEMO_SESSION)
    print("ingested" if result.created else "already ingested", result.recording_key)

    from workflow.pipeline import events, imaging

    if result.created:
        count = events.import_event_csv(result.recording_key, folder / BEHAVIOR_FILE)
        print(f"imported {count} behaviour events from {BEHAVIOR_FILE}")

    for table, outcome in imaging.populate_all(display_progress=True).items():
        print(f"populated {table}: {outcome['success_count']} made, {len(outcome['error_list'])} failed")
    return result.recording_key


def _write_lever_presses(path: Path, *, duration_s: float, seed: int) -> None:
    """A behaviour CSV (time, event_type) of lever presses 3-8 s apart, as a behaviour rig would log them."""
    rng = np.random.default_rng(seed)
    times = 2.0 + np.cumsum(rng.uniform(3.0, 8.0, int(duration_s / 3.0)))
    times = times[times < duration_s - 5.0]
    pd.DataFrame({"time": times.round(3), "event_type": "lever"}).to_csv(path, index=False)


def describe(recording_key: dict) -> str:
    """A printable summary of what the pipeline holds for the recording."""
    from workflow import status
    from workflow.pipeline import clusters, events, imaging

    lines = ["", "tables:"]
    lines += [f"  {row['table']:<26} {row['rows']:>6} rows" for row in status.table_counts()]
    info = (imaging.RecordingInfo & recording_key).to_dicts()[0]
    frame_times, dropped = (imaging.RecordingInfo.Timestamps & recording_key).fetch1("frame_times", "dropped_frames")
    lines += [
        "",
        "RecordingInfo:",
        f"  {info['nframes']} frames of {info['px_height']}x{info['px_width']} px at {info['fps']:.2f} fps, "
        f"{info['recording_duration']:.1f} s, gain {info['gain']}, LED {info['led_power']}",
        f"  {len(imaging.RecordingInfo.File & recording_key)} files, {dropped} dropped frames, "
        f"frame times {frame_times[0]:.3f} .. {frame_times[-1]:.3f} s",
        "",
        "ProcessingTask:",
    ]
    lines += [f"  {task}" for task in (imaging.ProcessingTask & recording_key).to_dicts()]
    for motion in (imaging.MotionCorrection & recording_key).to_dicts():
        rigid = (imaging.MotionCorrection.RigidMotionCorrection & motion).fetch1()
        blocks = len(imaging.MotionCorrection.Block & motion)
        lines += [
            "",
            f"MotionCorrection (paramset {motion['paramset_id']}):",
            f"  {motion['device']}, {motion['wall_time']:.1f} s, corrected movie {motion['corrected_movie']}",
            f"  rigid shifts y {rigid['y_shifts'].min():+.2f} .. {rigid['y_shifts'].max():+.2f} px, "
            f"x {rigid['x_shifts'].min():+.2f} .. {rigid['x_shifts'].max():+.2f} px, "
            f"{int(np.sum(rigid['outlier_frames']))} outlier frames, {blocks} non-rigid blocks",
        ]
    for segmentation in (imaging.Segmentation & recording_key).to_dicts():
        calls = (imaging.MaskClassification.MaskType & segmentation).to_arrays("mask_type")
        kinds = ", ".join(f"{np.sum(calls == kind)} {kind}" for kind in np.unique(calls))
        snr = (imaging.Segmentation.Mask & segmentation).to_arrays("snr")
        lines += [
            "",
            f"Segmentation (paramset {segmentation['paramset_id']}):",
            f"  {segmentation['mask_count']} masks ({kinds}) in {segmentation['wall_time']:.1f} s on "
            f"{segmentation['device']}, median SNR {np.median(snr) if len(snr) else float('nan'):.1f}",
        ]
    for activity in (imaging.Activity & recording_key).to_dicts():
        traces = (imaging.Activity.Trace & activity).to_arrays("activity_trace")
        lines.append(
            f"  Activity curation {activity['curation_id']} {activity['extraction_method']:<11}: "
            f"{len(traces)} traces of {len(traces[0]) if len(traces) else 0} frames"
        )
    lines += ["", "Events:"]
    for transients in (events.Transients & recording_key).to_dicts():
        rates = (events.Transients.CellStats & transients).to_arrays("rate_hz")
        lines.append(
            f"  Transients of {transients['extraction_method']:<8}: {transients['transient_count']} in "
            f"{len(rates)} cells, median rate {np.median(rates) if len(rates) else float('nan'):.2f} Hz"
        )
    for window in (events.PeriEventWindow & recording_key).to_dicts():
        p_values = (events.PeriEventWindow.CellResponse & window).to_arrays("p_value")
        lines.append(
            f"  PeriEventWindow {window['event_type']} x {window['extraction_method']:<11}: {window['n_events']} "
            f"events, {int(np.sum(p_values < 0.01))} of {len(p_values)} cells respond (p < 0.01)"
        )
    lines += ["", "Clusters:"]
    for clustering in (clusters.CellClustering & recording_key).to_dicts():
        silhouette = clustering["silhouette"]
        lines.append(
            f"  CellClustering of {clustering['extraction_method']}: {clustering['n_clusters']} clusters of "
            f"{len(clustering['clustered_ids'])} cells, silhouette "
            f"{'n/a' if silhouette is None else f'{silhouette:.2f}'}"
        )
    return "\n".join(lines)
