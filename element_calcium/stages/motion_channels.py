"""Planes and channels of motion correction: which plane and channels a task may use, and the correction of
the functional channel by the shifts measured on another channel (suite2p's ``align_by_chan``).

A structural channel (e.g. tdTomato) is bright and unchanging, so registration finds the tissue in every frame;
a functional channel (e.g. GCaMP) may be dim and flicker with the cells' activity. Both channels of a plane are
scanned together and move together, so the shifts measured on the first correct the second.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from element_calcium import readers
from element_calcium.compute import motion
from element_calcium.compute.params import MotionParams, ProcessingParams


def check_plane_and_channels(metadata: readers.RecordingMetadata, params: ProcessingParams, *, plane: int,
                             folder: Path) -> None:
    """Refuse a plane, functional channel or align channel the recording does not have.

    Raises:
        ValueError: one line naming the value, the recording's planes or channels, and what to do.
    """
    if not 0 <= plane < metadata.nplanes:
        raise ValueError(f"{folder}: plane {plane} is not a plane of the recording, which has {metadata.nplanes} "
                         f"plane(s) (0 to {metadata.nplanes - 1}); give the task a plane among them")
    for name in ("functional_channel", "align_channel"):
        channel = getattr(params, name)
        if channel is not None and not 0 <= channel < metadata.nchannels:
            raise ValueError(
                f"{folder}: params {name} {channel} is not a channel of the recording, which has "
                f"{metadata.nchannels} channel(s) (0 to {metadata.nchannels - 1}); process it with a parameter set "
                f"whose {name} is one of them"
            )


def correct_by_reference(
    reference: readers.Movie,
    functional: readers.Movie,
    *,
    params: MotionParams,
    device: str,
    chunk_frames: int,
    write_corrected: Callable[[np.ndarray], None],
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> motion.MotionResult:
    """Measure the motion on ``reference`` and correct ``functional`` with it.

    Args:
        reference: (T, H, W) movie the shifts are measured on (the align channel).
        functional: (T, H, W) movie of the same frames to correct (the functional channel).
        params: motion-correction parameters (`motion.correct_motion`).
        device: "auto", "cpu" or "cuda".
        chunk_frames: frames read, corrected and written at a time.
        write_corrected: called with each chunk of corrected functional frames in order, (n, H, W) in the
            functional movie's dtype (rounded and clipped for integers).
        progress: ``progress(done, T)``; the measuring pass counts as the first half of the frames, the
            correcting pass as the second.
        workers: threads the measuring pass runs on (`motion.correct_motion`); None: its default.

    Returns:
        The reference's shifts, outliers, template and correction quality; mean, max, correlation and
        peak-to-noise images of the corrected functional movie.
    """
    if reference.shape != functional.shape:
        raise ValueError(f"the align channel's movie is {reference.shape} (T, H, W), the functional channel's "
                         f"{functional.shape}; both channels must hold the same frames")
    n_frames, height, width = functional.shape
    half = None if progress is None else (lambda done, total: progress(done // 2, total))
    measured = motion.correct_motion(reference.read, n_frames, params=params, device=device,
                                     chunk_frames=chunk_frames, write_corrected=None, progress=half, workers=workers)
    grid = None
    shifts = measured.rigid_shifts
    if measured.block_shifts is not None:
        grid = motion.patch_grid((height, width), strides=params.strides, overlaps=params.overlaps)
        shifts = measured.block_shifts
    summary = motion.SummaryAccumulator((height, width), device=device)
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        corrected = motion.apply_shifts(functional.read(start, stop), shifts=shifts[start:stop], grid=grid,
                                        upsample_factor_grid=params.upsample_factor_grid, device=device)
        summary.add(corrected)
        write_corrected(_cast_like(corrected, functional.dtype))
        if progress is not None:
            progress((n_frames + stop) // 2, n_frames)
    images = summary.result()
    return dataclasses.replace(measured, mean_image=images.mean, max_image=images.max,
                               correlation_image=images.correlation, pnr_image=images.pnr)


def _cast_like(frames: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """(n, H, W) float32 corrected frames in ``dtype``: rounded and clipped for integer types."""
    if np.dtype(dtype).kind not in "ui":
        return frames.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.rint(frames), info.min, info.max).astype(dtype)
