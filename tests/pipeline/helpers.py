"""Small builders shared by the pipeline tests."""

import datetime

from element_calcium.simulate import simulate

SESSION_TIME = datetime.datetime(2026, 3, 1, 9, 0)


def small_movie(mode: str = "1p", *, n_frames: int = 120, seed: int = 0):
    """A short simulated movie of 48x56 pixels."""
    return simulate(n_frames=n_frames, height=48, width=56, n_cells=5, mode=mode, fps=20.0, seed=seed)


def table_sizes(pipeline) -> dict[str, int]:
    imaging = pipeline.imaging
    tables = (pipeline.Subject, pipeline.Session, imaging.Recording, imaging.RecordingInfo,
              imaging.RecordingInfo.File, imaging.RecordingInfo.Timestamps, imaging.ProcessingTask)
    return {table.__name__: len(table()) for table in tables}


def insert_recording(pipeline, folder, subject: str, recording_id: int = 0, software: str = "Miniscope-DAQ-V4"):
    """Enter a Recording by hand (as a technician would), without reading its files."""
    from element_calcium.paths import relative_to_root

    session_key = {"subject": subject, "session_datetime": SESSION_TIME}
    pipeline.Subject.insert1({"subject": subject}, skip_duplicates=True)
    pipeline.Session.insert1(session_key, skip_duplicates=True)
    key = {**session_key, "recording_id": recording_id}
    directory = folder if isinstance(folder, str) else relative_to_root(pipeline.get_raw_root_dirs(), folder)
    pipeline.imaging.Recording.insert1(
        {**key, "equipment": "Miniscope-V4", "acquisition_software": software, "recording_directory": directory}
    )
    return key
