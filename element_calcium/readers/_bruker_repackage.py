"""PrairieView's one-TIFF-per-frame output repackaged as multi-frame TIFF stacks (CalSciPy's
``repackage_bruker_tifs``), one channel and plane at a time, streamed with bounded memory.

CalSciPy writes ``images.tif`` when the frames fit under its size cap (3.9 GB) and otherwise a sequence of
stacks of ``floor(3.9e9 / bytes per frame)`` frames each. Here the frames come in the order the PrairieView
XML lists them (not the order a folder listing happens to give), one chunk at a time; every stack is written
under a temporary name and renamed when complete; the stacks are plain TIFF (classic, one page per frame, no
shape description), which `read_recording(folder, software="TIFF", fps=...)` and CalSciPy's ``load_images``
read back.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Callable

import numpy as np
import tifffile

from element_calcium.readers.bruker import read_bruker

__all__ = ["RepackagedStacks", "repackage_bruker_tiffs"]

CALSCIPY_SIZE_CAP = 3.9e9  # bytes per stack (CalSciPy's size_cap of 3.9 GB, decimal)
_CHUNK_FRAMES = 64


@dataclasses.dataclass(frozen=True)
class RepackagedStacks:
    """What `repackage_bruker_tiffs` wrote.

    Attributes:
        files: the stacks in frame order.
        frames_per_file: frames in each stack.
        fps: frame rate of the T-series (Hz), needed to read the plain stacks back.
        timestamps: (frames,) seconds of each frame from the XML, the first at 0.
        channel, plane: 0-based channel and plane repackaged.
    """

    files: tuple[pathlib.Path, ...]
    frames_per_file: tuple[int, ...]
    fps: float
    timestamps: np.ndarray
    channel: int
    plane: int


def repackage_bruker_tiffs(
    input_folder: str | os.PathLike,
    output_folder: str | os.PathLike,
    *,
    channel: int = 0,
    plane: int = 0,
    size_cap: float = CALSCIPY_SIZE_CAP,
    chunk_frames: int = _CHUNK_FRAMES,
    progress: Callable[[int, int], None] | None = None,
) -> RepackagedStacks:
    """Copy one channel and plane of a PrairieView T-series into TIFF stacks under ``size_cap`` bytes each.

    Args:
        input_folder: the T-series folder (its PrairieView XML and per-frame OME-TIFFs).
        output_folder: an empty or absent folder for ``images.tif`` (all frames fit) or ``images_00.tif``,
            ``images_01.tif``, ... (as CalSciPy numbers them, two digits or more).
        channel, plane: 0-based, among the channels and planes the XML lists.
        size_cap: bytes of pixel data per stack (default CalSciPy's 3.9 GB; classic TIFF holds at most 4 GiB).
        chunk_frames: frames read and written at a time; memory holds one chunk.
        progress: called with (frames written, total frames) after each chunk.

    Raises:
        FileNotFoundError / ValueError: from reading the T-series (names the file); ValueError for an output
            folder that is not empty, a channel or plane out of range, or a cap smaller than one frame.
    """
    input_folder = pathlib.Path(input_folder).expanduser().resolve()
    if not input_folder.is_dir():
        raise FileNotFoundError(f"{input_folder}: folder not found")
    output_folder = pathlib.Path(output_folder).expanduser().resolve()
    if output_folder.exists() and (not output_folder.is_dir() or any(output_folder.iterdir())):
        raise ValueError(f"{output_folder}: the output folder must be empty or absent")
    if isinstance(chunk_frames, bool) or not isinstance(chunk_frames, int) or chunk_frames < 1:
        raise ValueError(f"chunk_frames must be a positive integer, got {chunk_frames!r}")
    recording = read_bruker(input_folder)
    movie = recording.movie(channel=channel, plane=plane)
    frame_bytes = movie.shape[1] * movie.shape[2] * movie.dtype.itemsize
    per_file = math.floor(size_cap / frame_bytes)
    if per_file < 1 or size_cap > 2**32 - 2**25:
        raise ValueError(f"size_cap={size_cap!r} bytes must hold one {frame_bytes}-byte frame and stay under 4 GB")
    total = len(movie)
    starts = list(range(0, total, per_file))
    digits = max(2, len(str(len(starts) - 1)))
    names = ["images.tif"] if len(starts) == 1 else [f"images_{i:0{digits}d}.tif" for i in range(len(starts))]
    output_folder.mkdir(parents=True, exist_ok=True)
    files, counts, done = [], [], 0
    for name, start in zip(names, starts, strict=True):
        stop = min(start + per_file, total)
        path = output_folder / name
        partial = path.with_name(path.name + ".partial")
        try:
            with tifffile.TiffWriter(partial, bigtiff=False) as writer:
                for begin in range(start, stop, chunk_frames):
                    chunk = movie.read(begin, min(begin + chunk_frames, stop))
                    for frame in chunk:
                        writer.write(frame, photometric="minisblack", metadata=None, contiguous=True)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        files.append(path)
        counts.append(stop - start)
    movie.close()
    return RepackagedStacks(
        files=tuple(files),
        frames_per_file=tuple(counts),
        fps=recording.metadata.fps,
        timestamps=movie.timestamps.copy(),
        channel=channel,
        plane=plane,
    )
