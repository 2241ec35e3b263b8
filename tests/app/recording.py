"""The recording the app tests look at: a simulated one-photon Miniscope V4 recording with lever presses,
ingested and populated through every table (cells, traces, transients, peri-event windows, clusters,
spatial events)."""

import datetime

import numpy as np
import pandas as pd

SESSION_TIME = datetime.datetime(2026, 3, 2, 9, 0)
N_FRAMES, SIZE, N_CELLS, FPS = 600, 64, 12, 20.0
SPATIAL_PARAMSET = 60  # spatial (astrocyte-style) events are detected where such a parameter set exists


def populated_recording(pipeline, folder, subject: str) -> dict:
    """Simulate, write, ingest and populate the recording in ``folder``; returns its processing task key."""
    from element_calcium import behavior
    from element_calcium.simulate import simulate, write_miniscope_v4
    from workflow.ingest import ingest_recording

    movie = simulate(n_frames=N_FRAMES, height=SIZE, width=SIZE, n_cells=N_CELLS, mode="1p", fps=FPS, seed=3)
    write_miniscope_v4(folder, movie, frames_per_file=300, seed=3)
    result = ingest_recording(folder, subject=subject, session_datetime=SESSION_TIME)
    presses = 2.0 + 3.0 * np.arange(int((N_FRAMES / FPS - 6.0) / 3.0))
    behavior.insert_events(result.recording_key, pd.DataFrame({"time": presses, "event_type": "lever"}))
    if not pipeline.events.EventParamSet & {"event_paramset_id": SPATIAL_PARAMSET}:
        pipeline.events.EventParamSet.insert_new_params("spatial", SPATIAL_PARAMSET, "app tests: spatial events", {})
    outcome = pipeline.imaging.populate_all(display_progress=False, suppress_errors=True)
    failed = {table: found["error_list"] for table, found in outcome.items() if found["error_list"]}
    if failed:
        raise RuntimeError(f"the app tests' recording did not populate: {failed}")
    return result.task_key
