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


def populate_tables(pipeline, key, tables) -> dict[str, list]:
    """Populate ``tables`` for ``key`` in order, filling Curation's automatic rows where it comes; returns the job
    errors by table name (empty when every make() succeeded)."""
    errors = {}
    for table in tables:
        if table is pipeline.imaging.Curation:
            table.fill_automatic()
            continue
        result = table.populate(key, display_progress=False, reserve_jobs=True, suppress_errors=True)
        if result["error_list"]:
            errors[table.__name__] = result["error_list"]
    return errors


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


def suite2p_load_task(pipeline, folder, subject: str, dff, *, fps: float, paramset_id: int, description: str,
                      cell_diameter: float, output_dir: str, movie_cells: int = 0, centers=None) -> dict:
    """A 32 x 36 pixel two-photon recording of ``subject`` (a TIFF in ``folder`` with ``movie_cells`` simulated cells,
    ingested without a task) and its load-mode task under a new suite2p parameter set ``paramset_id``, reading a
    suite2p plane in ``output_dir`` whose F is 100 (1 + ``dff``) (N, T) with ROIs at ``centers``; returns the
    recording's key."""
    from element_calcium.simulate import write_tiff
    from workflow.ingest import ingest_recording

    height, width = 32, 36
    imaging = pipeline.imaging
    movie = simulate(n_frames=dff.shape[1], height=height, width=width, n_cells=movie_cells, mode="2p", fps=fps,
                     max_shift=0.0)
    written = write_tiff(folder, movie)
    imaging.ProcessingParamSet.insert_new_params("suite2p", paramset_id, description,
                                                 {"modality": "2p", "cell_diameter": cell_diameter})
    recording_key = ingest_recording(written.path, subject=subject, session_datetime=SESSION_TIME, fps=written.fps,
                                     create_task=False).recording_key
    plane = pipeline.get_processed_root_dir() / output_dir / "suite2p" / "plane0"
    write_suite2p_plane(plane, 100.0 * (1.0 + dff), height=height, width=width, fps=fps, centers=centers)
    imaging.ProcessingTask.insert1({**recording_key, "paramset_id": paramset_id, "processing_output_dir": output_dir,
                                    "task_mode": "load"})
    return recording_key


def write_suite2p_plane(plane, fluorescence, *, height: int, width: int, fps: float, centers=None, neuropil=None,
                        spikes=None, iscell=None):
    """A suite2p ``plane0`` folder of a still recording: 5x5-pixel ROIs at ``centers`` (default: a grid) with
    ``fluorescence`` (N, T) as F; Fneu, spks (default zeros) and iscell (default: all cells) as given."""
    import numpy as np

    plane.mkdir(parents=True)
    fluorescence = np.asarray(fluorescence, dtype=np.float32)
    n_cells, n_frames = fluorescence.shape
    if centers is None:
        centers = [(5 + 7 * (n // 5), 5 + 6 * (n % 5)) for n in range(n_cells)]
    stat = []
    for y, x in centers:
        ys, xs = np.mgrid[y - 2 : y + 3, x - 2 : x + 3]
        stat.append({"ypix": ys.ravel(), "xpix": xs.ravel(), "lam": np.linspace(1, 2, 25).astype(np.float32),
                     "overlap": np.zeros(25, bool), "med": [y, x]})
    zeros = np.zeros_like(fluorescence)
    np.save(plane / "stat.npy", np.array(stat, dtype=object), allow_pickle=True)
    np.save(plane / "F.npy", fluorescence)
    np.save(plane / "Fneu.npy", zeros if neuropil is None else np.asarray(neuropil, np.float32))
    np.save(plane / "spks.npy", zeros if spikes is None else np.asarray(spikes, np.float32))
    np.save(plane / "iscell.npy", np.ones((n_cells, 2)) if iscell is None else np.asarray(iscell))
    ops = {"yoff": np.zeros(n_frames), "xoff": np.zeros(n_frames), "nonrigid": False, "Ly": height, "Lx": width,
           "nframes": n_frames, "fs": fps, "yrange": [0, height], "xrange": [0, width],
           "refImg": np.ones((height, width)), "meanImg": np.ones((height, width))}
    np.save(plane / "ops.npy", ops, allow_pickle=True)
