"""The stage of MotionCorrection: rows from the raw recording or from another tool's results.

``run`` computes motion correction from the raw recording (trigger mode, the built-in method),
writing the corrected movie under the task's output folder; ``load`` reads another tool's results
(load mode, with the method's loader from the registry, `element_calcium.stages.METHODS`). The movie records the key it
belongs to (``MotionInputs.owner``); the stage refuses a folder holding another key's movie,
deletes the stale temporaries of its own movie first, and never replaces an existing movie (a
second computation of the key writes a fresh name, see `storage.MovieWriter`). Both return
`Rows`: the rows of MotionCorrection and its parts (``RigidMotionCorrection``, ``Summary``,
``NonRigidMotionCorrection``, ``Block``), ready for one insert. No database code here;
``imaging.MotionCorrection`` fetches the inputs and inserts the rows.

Planes and channels: the task's plane (``MotionInputs.plane``) is corrected; the parameter set's
``functional_channel`` is the movie corrected and written. When its ``align_channel`` names another
channel (a structural channel such as tdTomato), the shifts are measured on that channel and applied to
the functional one (suite2p's ``align_by_chan``); the template and the correction quality are then the
align channel's, the other summary images the corrected functional movie's. ``motion_correct_channel``
records the channel the shifts were measured on.

Sign convention everywhere: ``y_shifts``/``x_shifts`` are the motion of the tissue in pixels
(a feature at (y, x) in the template appears at (y + dy, x + dx) in the frame); correction
moves it back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from element_calcium import paths, readers, results_file, storage
from element_calcium.compute import motion
from element_calcium.compute.params import ProcessingParams
from element_calcium.loaders.types import LoadedMotion
from element_calcium.stages.motion_channels import check_plane_and_channels, correct_by_reference
from element_calcium.stages.rows import Rows, RunSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MotionInputs:
    """What the stage needs, all small: paths, names and parameters.

    Attributes:
        task_mode: ``"trigger"`` (compute) or ``"load"`` (read another tool's results).
        method: processing method of the parameter set.
        params: complete parameter dictionary.
        recording_folder: absolute folder of the raw recording.
        software: acquisition software of the recording.
        frame_rate: user frame rate for plain TIFF, else None.
        output_dir: absolute task output folder (trigger: written; load: read).
        output_dir_relative: the same, relative to the processed root.
        n_frames: frames of the recording (RecordingInfo); loaded results must have as many.
        frame_shape: (H, W) pixels of the recording; loaded images must have it.
        owner: `results_file.owner_text` of the MotionCorrection key, recorded in the corrected movie;
            None records none.
        plane: 0-based imaging plane of the task.
    """

    task_mode: str
    method: str
    params: dict[str, Any]
    recording_folder: Path
    software: str
    frame_rate: float | None
    output_dir: Path
    output_dir_relative: str
    n_frames: int
    frame_shape: tuple[int, int]
    owner: str | None = None
    plane: int = 0


def _std(values: np.ndarray) -> float:
    return float(np.nanstd(values)) if len(values) else 0.0


def _rigid_row(shifts: np.ndarray, outliers, correlation) -> dict[str, Any]:
    shifts = np.asarray(shifts, dtype=np.float32)
    return {
        "y_shifts": shifts[:, 0],
        "x_shifts": shifts[:, 1],
        "y_std": _std(shifts[:, 0]),
        "x_std": _std(shifts[:, 1]),
        "outlier_frames": None if outliers is None else np.asarray(outliers, dtype=bool),
        "template_correlation": None if correlation is None else np.asarray(correlation, dtype=np.float32),
    }


def _block_rows(block_shifts: np.ndarray, block_y: np.ndarray, block_x: np.ndarray) -> list[dict[str, Any]]:
    """block_shifts: (T, n_blocks, 2) (dy, dx); block_y/block_x: (n_blocks, 2) pixel ranges [start, end)."""
    return [
        {
            "block_id": block_id,
            "block_y": np.asarray(block_y[block_id], dtype=np.int32),
            "block_x": np.asarray(block_x[block_id], dtype=np.int32),
            "y_shifts": block_shifts[:, block_id, 0].astype(np.float32),
            "x_shifts": block_shifts[:, block_id, 1].astype(np.float32),
            "y_std": _std(block_shifts[:, block_id, 0]),
            "x_std": _std(block_shifts[:, block_id, 1]),
        }
        for block_id in range(block_shifts.shape[1])
    ]


def _nonrigid_row(block_y: np.ndarray, block_x: np.ndarray, outliers) -> dict[str, Any]:
    return {
        "block_height": int(np.max(block_y[:, 1] - block_y[:, 0])),
        "block_width": int(np.max(block_x[:, 1] - block_x[:, 0])),
        "block_count_y": len(np.unique(block_y[:, 0])),
        "block_count_x": len(np.unique(block_x[:, 0])),
        "outlier_frames": None if outliers is None else np.asarray(outliers, dtype=bool),
    }


def _quality_row(quality: motion.CorrectionQuality | None) -> dict[str, Any]:
    """The quality columns of MotionCorrection (all None without a measurement, e.g. loaded results)."""
    if quality is None:
        return {"raw_mean_correlation": None, "corrected_mean_correlation": None, "improved_fraction": None,
                "quality_warning": None}
    return {
        "raw_mean_correlation": quality.raw_correlation,
        "corrected_mean_correlation": quality.corrected_correlation,
        "improved_fraction": quality.improved_fraction,
        "quality_warning": None if quality.warning() is None else quality.warning()[:255],
    }


def _summary_row(ref, average, correlation, maximum, pnr) -> dict[str, Any]:
    def image(value):
        return None if value is None else np.asarray(value, dtype=np.float32)

    return {
        "ref_image": image(ref),
        "average_image": image(average),
        "correlation_image": image(correlation),
        "max_proj_image": image(maximum),
        "pnr_image": image(pnr),
    }


def run(inputs: MotionInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Correct the raw recording's motion and write the corrected movie (trigger mode).

    ``settings.progress(done_frames, n_frames)`` is called after each chunk registered.
    """
    device, chunk_frames, progress = settings.device, settings.chunk_frames, settings.progress
    params = ProcessingParams.from_dict(inputs.params)
    recording = readers.read_recording(inputs.recording_folder, software=inputs.software, fps=inputs.frame_rate)
    check_plane_and_channels(recording.metadata, params, plane=inputs.plane, folder=inputs.recording_folder)
    channel = params.reference_channel
    path = storage.movie_path(inputs.output_dir)
    paths.remove_stale_temporaries(inputs.output_dir, names=[path.name])
    results_file.refuse_foreign_results(path, inputs.owner)
    started = time.perf_counter()
    with recording.movie(channel=params.functional_channel, plane=inputs.plane) as movie, storage.MovieWriter(
        path, shape=movie.shape, dtype=movie.dtype, fps=movie.fps, timestamps=movie.timestamps,
        chunk_frames=chunk_frames, owner=inputs.owner,
    ) as writer:
        options = {"params": params.motion, "device": device, "chunk_frames": chunk_frames, "workers": settings.workers}
        if channel == params.functional_channel:
            result = motion.correct_motion(movie.read, len(movie), write_corrected=writer.write, progress=progress,
                                           **options)
        else:
            with recording.movie(channel=channel, plane=inputs.plane) as reference:
                result = correct_by_reference(reference, movie, write_corrected=writer.write, progress=progress,
                                              **options)
    wall_time = time.perf_counter() - started
    quality = _quality_row(result.quality)
    if quality["quality_warning"]:
        log.warning("%s: %s", inputs.recording_folder, quality["quality_warning"])
    rows = {
        "master": {
            "motion_correct_channel": channel,
            "corrected_movie": f"{inputs.output_dir_relative}/{writer.path.name}",
            "device": result.device,
            "wall_time": wall_time,
            "cell_diameter_estimate": result.cell_diameter,
            "registration_sigma": result.highpass_sigma,
            **quality,
        },
        "rigid": _rigid_row(result.rigid_shifts, result.outlier_frames, result.template_correlation),
        "summary": _summary_row(
            result.template, result.mean_image, result.correlation_image, result.max_image, result.pnr_image
        ),
    }
    if result.block_shifts is not None:
        n_frames, n_y, n_x, _ = result.block_shifts.shape
        origins = result.block_origins.reshape(n_y * n_x, 2)
        height, width = result.block_size
        block_y = np.stack([origins[:, 0], origins[:, 0] + height], axis=1)
        block_x = np.stack([origins[:, 1], origins[:, 1] + width], axis=1)
        rows["nonrigid"] = _nonrigid_row(block_y, block_x, result.outlier_frames)
        rows["blocks"] = _block_rows(result.block_shifts.reshape(n_frames, n_y * n_x, 2), block_y, block_x)
    return _rows(**rows)


def _check_fits(loaded, inputs: MotionInputs) -> None:
    """Refuse loaded motion whose frame count or image size differs from the recording's."""
    if loaded.nframes != inputs.n_frames:
        raise ValueError(
            f"{inputs.output_dir}: the {inputs.method} motion results have {loaded.nframes} frames, the recording "
            f"{inputs.n_frames}; load the results of this recording"
        )
    for name in ("ref_image", "average_image", "correlation_image", "max_image"):
        image = getattr(loaded, name)
        if image is not None and tuple(image.shape) != tuple(inputs.frame_shape):
            raise ValueError(
                f"{inputs.output_dir}: the {inputs.method} {name} is {image.shape[0]}x{image.shape[1]} pixels, the "
                f"recording's frames {inputs.frame_shape[0]}x{inputs.frame_shape[1]}; load the results of this recording"
            )


def load(inputs: MotionInputs, *, loader: Callable[[Path], LoadedMotion],
         settings: RunSettings = RunSettings()) -> Rows:
    """Read another tool's motion results from the task's output folder with ``loader`` (load mode); reading
    needs none of the run ``settings``."""
    started = time.perf_counter()
    loaded = loader(inputs.output_dir)
    _check_fits(loaded, inputs)
    rows = {
        "master": {
            "motion_correct_channel": ProcessingParams.from_dict(inputs.params).reference_channel,
            "corrected_movie": None,
            "device": "none",
            "wall_time": time.perf_counter() - started,
            "cell_diameter_estimate": None,
            "registration_sigma": None,
            **_quality_row(None),
        },
        "rigid": _rigid_row(loaded.rigid_shifts, loaded.outlier_frames, None),
        "summary": _summary_row(
            loaded.ref_image, loaded.average_image, loaded.correlation_image, loaded.max_image, None
        ),
    }
    if loaded.block_shifts is not None:
        rows["nonrigid"] = _nonrigid_row(loaded.block_y, loaded.block_x, loaded.outlier_frames)
        rows["blocks"] = _block_rows(loaded.block_shifts, loaded.block_y, loaded.block_x)
    return _rows(**rows)


def _rows(master, rigid, summary, nonrigid=None, blocks=()) -> Rows:
    parts = {"RigidMotionCorrection": [rigid], "Summary": [summary]}
    if nonrigid is not None:
        parts.update(NonRigidMotionCorrection=[nonrigid], Block=list(blocks))
    return Rows(master=master, parts=parts)
