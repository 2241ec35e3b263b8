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

With the ``bleach_correction`` parameter, astroCAST's Delta bleach correction runs first, streamed over chunks
(`compute.signal.delta_bleach_correction_chunks`), into a float32 movie file beside the map (written under a
temporary name, published when complete, recording the key); the events are detected in that movie, and it is
deleted again when the detection fails. While the final map is written, its chunks also feed the shape
properties of the events' 3-D masks (`compute.events.EventShapes`); each footprint's properties and outline come
from `compute.events.footprint_properties`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from element_calcium import paths, results_file, storage
from element_calcium.compute import events as event_compute
from element_calcium.compute import signal
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


def corrected_movie_name(event_paramset_id: int) -> str:
    """File name (without folder) of the bleach-corrected movie of a parameter set."""
    return f"spatial_events_{event_paramset_id}_delta"


def run(inputs: SpatialEventInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Detect the events of the movie (bleach-corrected first where the parameters ask) and write their map to the
    output folder; ``settings.progress(done, total)`` follows the passes over the frames."""
    movie_file, output_dir, owner = Path(inputs.movie_file), Path(inputs.output_dir), inputs.owner
    device, chunk_frames = settings.device, settings.chunk_frames
    params = SpatialEventParams(**validate_step_params("spatial", inputs.params))
    final = storage.movie_path(output_dir, event_map_name(inputs.event_paramset_id))
    corrected = storage.movie_path(output_dir, corrected_movie_name(inputs.event_paramset_id))
    paths.remove_stale_temporaries(output_dir, names=[final.name, corrected.name])
    results_file.refuse_foreign_results(final, owner)
    started = time.perf_counter()
    movie = storage.open_movie(movie_file, owner=inputs.movie_owner)
    corrected_file = None
    correction_progress, detection_progress = settings.progress, settings.progress
    try:
        if params.bleach_correction:
            correction_progress, detection_progress = _with_correction(settings.progress, movie.shape[0])
            results_file.refuse_foreign_results(corrected, owner)
            corrected_file = _write_corrected(movie, corrected, params, owner=owner, device=device,
                                              chunk_frames=chunk_frames, progress=correction_progress)
            movie.close()
            movie = storage.open_movie(corrected_file, owner=owner)
        result, map_file, shapes = _detect(movie, final, params, owner=owner, device=device,
                                           chunk_frames=chunk_frames, progress=detection_progress)
    except BaseException:
        if corrected_file is not None:
            corrected_file.unlink(missing_ok=True)
        raise
    finally:
        movie.close()
    relative = f"{inputs.output_dir_relative}/"
    master = {
        "event_map": relative + map_file.name,
        "event_count": len(result.events),
        "device": result.device,
        "wall_time": time.perf_counter() - started,
        "noise_image": result.noise,
        "corrected_movie": relative + corrected_file.name if corrected_file is not None else None,
    }
    return Rows(master=master, parts={"Event": event_rows(result, inputs.frame_times, shapes)})


def _with_correction(progress, n_frames: int):
    """Progress callbacks of the correction pass and of the detection's two passes reported as one run of
    3 x ``n_frames`` frames; None without ``progress``."""
    if progress is None:
        return None, None
    return (lambda done, _total: progress(done, 3 * n_frames),
            lambda done, _total: progress(n_frames + done, 3 * n_frames))


def _write_corrected(movie, path: Path, params: SpatialEventParams, *, owner, device, chunk_frames, progress) -> Path:
    """Stream astroCAST's Delta correction of ``movie`` into a float32 movie file at ``path`` (or a fresh name
    beside it); returns the file written."""
    with storage.MovieWriter(path, shape=movie.shape, dtype=np.float32, fps=movie.fps, timestamps=movie.timestamps,
                             chunk_frames=chunk_frames, owner=owner) as writer:
        for start, chunk in signal.delta_bleach_correction_chunks(
            movie.read, movie.shape[0], window=params.bleach_window, method=params.bleach_method,
            overwrite_first_frame=params.bleach_overwrite_first_frame, chunk_frames=chunk_frames, device=device,
            progress=progress,
        ):
            if not np.isfinite(chunk).all():
                frame = start + int(np.flatnonzero(~np.isfinite(chunk).all(axis=(1, 2)))[0])
                raise ValueError(f"bleach_method 'dFF': the Delta background of the movie is 0 at frame {frame}; "
                                 "use bleach_method 'dF'")
            writer.write(chunk)
    return writer.path


def _detect(movie, final: Path, params: SpatialEventParams, *, owner, device, chunk_frames, progress):
    """Detect the events of ``movie`` and write their map at ``final`` (or a fresh name beside it).

    Returns the `SpatialEventsResult`, the map file written and the table of the events' mask properties.
    """
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
        events = result.events
        shapes = event_compute.EventShapes(events[["z0", "z1", "y0", "y1", "x0", "x1"]].to_numpy())
        with storage.MovieWriter(final, shape=shape, dtype=np.int32, fps=fps, timestamps=movie.timestamps,
                                 chunk_frames=chunk_frames, compression="lzf", owner=owner) as writer:
            labels = storage.open_movie(provisional)
            try:
                for start in range(0, n_frames, chunk_frames):
                    chunk = result.label_lookup[labels.read(start, min(start + chunk_frames, n_frames))]
                    writer.write(chunk)
                    shapes.add(start, chunk)
            finally:
                labels.close()
    finally:
        provisional.unlink(missing_ok=True)
    return result, writer.path, shapes.table()


_FLOATS = ("duration_s", "centroid_y", "centroid_x", "max_height", "noise_mean", "noise_std")
_NULLABLE = ("max_gradient", "snr")  # undefined (NaN) for a one-frame event and for noise_std 0: stored as NULL


def event_rows(result, frame_times: np.ndarray, shapes) -> list[dict[str, Any]]:
    """Rows of the ``Event`` part: the detection's table, the mask properties ``shapes`` (one row per event, in
    order) and each footprint's properties; NaN of a nullable property is stored as NULL."""
    rows = []
    shape_rows = shapes.itertuples(index=False)
    for row, (ypix, xpix), trace, mask in zip(result.events.itertuples(index=False), result.footprints,
                                              result.traces, shape_rows):
        footprint = event_compute.footprint_properties(ypix, xpix)
        contour = footprint.pop("contour")
        rows.append({
            "event_id": int(row.event_id), "z0": int(row.z0), "z1": int(row.z1),
            "start_time": float(frame_times[row.z0]), "y0": int(row.y0), "y1": int(row.y1), "x0": int(row.x0),
            "x1": int(row.x1), "volume": int(row.volume), "area": int(row.area),
            **{name: _finite(getattr(row, name), name, row.event_id) for name in _FLOATS},
            **{name: _nullable(getattr(row, name)) for name in _NULLABLE},
            **{name: _nullable(value) for name, value in mask._asdict().items()},
            **{name: _nullable(value) for name, value in footprint.items()},
            "footprint_ypix": np.asarray(ypix, np.int32), "footprint_xpix": np.asarray(xpix, np.int32),
            "trace": np.asarray(trace, np.float32), "contour": contour,
        })
    return rows


def _nullable(value) -> float | None:
    """``value`` as a float, None where it is NaN or infinite (stored as NULL)."""
    return float(value) if np.isfinite(value) else None


def _finite(value, name: str, event_id: int) -> float:
    """``value`` of a NOT NULL column; ValueError naming the event and column where it is NaN or infinite."""
    if not np.isfinite(value):
        raise ValueError(f"spatial event {event_id}: {name} is {value}; a stored property must be finite")
    return float(value)
