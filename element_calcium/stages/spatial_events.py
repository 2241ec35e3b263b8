"""The stage of SpatialEvents: spatiotemporal events (astrocyte-style) in the motion-corrected movie.

`run` streams the motion-corrected movie through `compute.events.detect_spatial_events`,
writes the event map (a (T, H, W) int32 movie of event ids, 0 where there is none) as an HDF5 movie file
under the task's output folder, and returns the rows of SpatialEvents and its ``Event`` part. Detection labels
events chunk by chunk before it knows which labels belong together: those provisional labels go to a
hidden temporary file beside the map (`paths.temporary_path`), which is rewritten with the final ids and
then deleted. The map appears under its name only when complete, records the key it belongs to, and
never replaces an existing map (a second computation of the key writes a fresh name). The stage refuses
a folder holding another key's map or a movie of another key, and deletes the stale temporaries of its
own map first. No database code here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from element_calcium import paths, results_file, storage
from element_calcium.compute import events as event_compute
from element_calcium.compute.params import SpatialEventParams, validate_step_params
from element_calcium.stages.rows import Rows, RunSettings


@dataclass(frozen=True)
class SpatialEventInputs:
    """What the stage needs.

    Attributes:
        movie_file: the motion-corrected movie (`storage` format).
        output_dir: the task's output folder (absolute).
        output_dir_relative: the same relative to the processed root, for the stored path.
        event_paramset_id: names the map file, so several parameter sets can share a folder.
        params: complete ``spatial`` parameters of the parameter set.
        frame_times: (T,) seconds of each frame (recording clock).
        owner: `results_file.owner_text` of the SpatialEvents key, recorded in the map; None records none.
        movie_owner: `results_file.owner_text` of the MotionCorrection key ``movie_file`` must record; None: unchecked.
    """

    movie_file: Path
    output_dir: Path
    output_dir_relative: str
    event_paramset_id: int
    params: dict[str, Any]
    frame_times: np.ndarray
    owner: str | None = None
    movie_owner: str | None = None


def event_map_name(event_paramset_id: int) -> str:
    """File name (without folder) of the event map of a parameter set."""
    return f"spatial_events_{event_paramset_id}"


def run(inputs: SpatialEventInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Detect the events of the movie and write their map to the output folder; ``settings.progress(done,
    total)`` follows the detection's two passes."""
    movie_file, output_dir, owner = Path(inputs.movie_file), Path(inputs.output_dir), inputs.owner
    device, chunk_frames, progress = settings.device, settings.chunk_frames, settings.progress
    params = SpatialEventParams(**validate_step_params("spatial", inputs.params))
    final = storage.movie_path(output_dir, event_map_name(inputs.event_paramset_id))
    paths.remove_stale_temporaries(output_dir, names=[final.name])
    results_file.refuse_foreign_results(final, owner)
    started = time.perf_counter()
    movie = storage.open_movie(movie_file, owner=inputs.movie_owner)
    n_frames, height, width = movie.shape
    provisional = paths.temporary_path(final)
    shape, fps = (n_frames, height, width), movie.fps
    try:
        with storage.MovieWriter(provisional, shape=shape, dtype=np.int32, fps=fps, chunk_frames=chunk_frames,
                                 compression="lzf") as writer:
            result = event_compute.detect_spatial_events(
                movie.read, n_frames, fps=fps, params=params, device=device, chunk_frames=chunk_frames,
                write_labels=lambda start, labels: writer.write(labels), progress=progress,
            )
        with storage.MovieWriter(final, shape=shape, dtype=np.int32, fps=fps, timestamps=movie.timestamps,
                                 chunk_frames=chunk_frames, compression="lzf", owner=owner) as writer:
            labels = storage.open_movie(provisional)
            try:
                for chunk in labels.chunks(chunk_frames):
                    writer.write(result.label_lookup[chunk])
            finally:
                labels.close()
    finally:
        movie.close()
        provisional.unlink(missing_ok=True)
    master = {
        "event_map": f"{inputs.output_dir_relative}/{writer.path.name}",
        "event_count": len(result.events),
        "device": result.device,
        "wall_time": time.perf_counter() - started,
        "noise_image": result.noise,
    }
    return Rows(master=master, parts={"Event": event_rows(result, inputs.frame_times)})


_FLOATS = ("duration_s", "centroid_y", "centroid_x", "max_height", "noise_mean", "noise_std")
_NULLABLE = ("max_gradient", "snr")  # undefined (NaN) for a one-frame event and for noise_std 0: stored as NULL


def event_rows(result, frame_times: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for row, (ypix, xpix), trace in zip(result.events.itertuples(index=False), result.footprints, result.traces):
        rows.append({
            "event_id": int(row.event_id), "z0": int(row.z0), "z1": int(row.z1),
            "start_time": float(frame_times[row.z0]), "y0": int(row.y0), "y1": int(row.y1), "x0": int(row.x0),
            "x1": int(row.x1), "volume": int(row.volume), "area": int(row.area),
            **{name: _finite(getattr(row, name), name, row.event_id) for name in _FLOATS},
            **{name: float(getattr(row, name)) if np.isfinite(getattr(row, name)) else None for name in _NULLABLE},
            "footprint_ypix": np.asarray(ypix, np.int32), "footprint_xpix": np.asarray(xpix, np.int32),
            "trace": np.asarray(trace, np.float32),
        })
    return rows


def _finite(value, name: str, event_id: int) -> float:
    """``value`` of a NOT NULL column; ValueError naming the event and column where it is NaN or infinite."""
    if not np.isfinite(value):
        raise ValueError(f"spatial event {event_id}: {name} is {value}; a stored property must be finite")
    return float(value)
