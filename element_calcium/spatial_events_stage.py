"""The spatiotemporal-event stage between the SpatialEvents table and the compute and storage layers.

`run_spatial_events` streams the motion-corrected movie through `compute.events.detect_spatial_events`,
writes the event map (a (T, H, W) int32 movie of event ids, 0 where there is none) as an HDF5 movie file
under the task's output folder, and returns the rows of SpatialEvents and its events. Detection labels
events chunk by chunk before it knows which labels belong together: those provisional labels go to a
hidden temporary file beside the map (`paths.temporary_path`), which is rewritten with the final ids and
then deleted. The map appears under its name only when complete, records the key it belongs to, and
never replaces an existing map (a second computation of the key writes a fresh name). The stage refuses
a folder holding another key's map or a movie of another key, and deletes the stale temporaries of its
own map first. No database code here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import paths, storage
from .compute import events as event_compute
from .compute.params import SpatialEventParams, validate_step_params


@dataclass(frozen=True)
class SpatialEventRows:
    """Rows of SpatialEvents (``master``) and of its Event part (``events``), without the table key."""

    master: dict[str, Any]
    events: list[dict[str, Any]]


def event_map_name(event_paramset_id: int) -> str:
    """File name (without folder) of the event map of a parameter set."""
    return f"spatial_events_{event_paramset_id}"


def run_spatial_events(
    movie_file: Path,
    output_dir: Path,
    output_dir_relative: str,
    *,
    event_paramset_id: int,
    params: dict[str, Any],
    frame_times: np.ndarray,
    device: str = "auto",
    chunk_frames: int = 200,
    progress: Callable[[int, int], None] | None = None,
    owner: str | None = None,
    movie_owner: str | None = None,
) -> SpatialEventRows:
    """Detect the events of the movie in ``movie_file`` and write their map to ``output_dir``.

    Args:
        movie_file: the motion-corrected movie (`storage` format).
        output_dir: the task's output folder (absolute); ``output_dir_relative`` the same relative to the
            processed root, for the stored path.
        event_paramset_id: names the map file, so several parameter sets can share a folder.
        params: complete ``spatial`` parameters of the parameter set.
        frame_times: (T,) seconds of each frame (recording clock).
        device, chunk_frames: run settings.
        progress: ``progress(done, total)`` callback of the detection.
        owner: `storage.owner_text` of the SpatialEvents key, recorded in the map; None records none.
        movie_owner: `storage.owner_text` of the MotionCorrection key ``movie_file`` must record; None: unchecked.
    """
    settings = SpatialEventParams(**validate_step_params("spatial", params))
    final = storage.movie_path(output_dir, event_map_name(event_paramset_id))
    paths.remove_stale_temporaries(output_dir, names=[final.name])
    storage.refuse_foreign_results(final, owner)
    started = time.perf_counter()
    movie = storage.open_movie(movie_file, owner=movie_owner)
    n_frames, height, width = movie.shape
    provisional = paths.temporary_path(final)
    shape, fps = (n_frames, height, width), movie.fps
    try:
        with storage.MovieWriter(provisional, shape=shape, dtype=np.int32, fps=fps, chunk_frames=chunk_frames,
                                 compression="lzf") as writer:
            result = event_compute.detect_spatial_events(
                movie.read, n_frames, fps=fps, params=settings, device=device, chunk_frames=chunk_frames,
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
        "event_map": f"{output_dir_relative}/{writer.path.name}",
        "event_count": len(result.events),
        "device": result.device,
        "wall_time": time.perf_counter() - started,
        "noise_image": result.noise,
    }
    return SpatialEventRows(master=master, events=_event_rows(result, frame_times))


_FLOATS = ("duration_s", "centroid_y", "centroid_x", "max_height", "noise_mean", "noise_std")
_NULLABLE = ("max_gradient", "snr")  # undefined (NaN) for a one-frame event and for noise_std 0: stored as NULL


def _event_rows(result, frame_times: np.ndarray) -> list[dict[str, Any]]:
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
