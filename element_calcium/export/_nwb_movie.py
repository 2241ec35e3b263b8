"""The raw movie of an NWB export: a link to the acquisition files, or the frames themselves written chunk by chunk.

NWB stores image series as (frames, x, y): x the column, y the row. Frames read here as (T, H, W) are written
transposed, so that memory holds one buffer of frames at a time however long the movie is.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

from element_calcium import readers
from element_calcium.readers.miniscope import AviSegment
from element_calcium.readers.tiff import scan_tiff

DEFAULT_BUFFER_MB = 128.0  # frames read and written at once
DEFAULT_CHUNK_MB = 4.0  # HDF5 chunk (whole frames), the unit of compression


class MovieFrames(GenericDataChunkIterator):
    """The frames of a lazy `readers.Movie` as an hdmf chunk iterator of shape (T, x, y) = (T, W, H).

    Each buffer is ``buffer_frames`` whole frames (at most ``buffer_mb`` megabytes) read with ``movie.read``;
    HDF5 chunks are whole frames of at most ``chunk_mb`` megabytes.
    """

    def __init__(self, movie: readers.Movie, *, buffer_mb: float = DEFAULT_BUFFER_MB,
                 chunk_mb: float = DEFAULT_CHUNK_MB):
        self.movie = movie
        nframes, height, width = movie.shape
        frame_bytes = height * width * movie.dtype.itemsize
        chunk_frames = int(max(1, min(nframes, chunk_mb * 1e6 // frame_bytes)))
        buffer_frames = int(max(1, min(nframes, buffer_mb * 1e6 // frame_bytes // chunk_frames * chunk_frames)))
        super().__init__(buffer_shape=(buffer_frames, width, height), chunk_shape=(chunk_frames, width, height),
                         display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        frames = self.movie.read(selection[0].start, selection[0].stop)
        return frames.transpose(0, 2, 1)[(slice(None), *selection[1:])]

    def _get_maxshape(self) -> tuple[int, int, int]:
        nframes, height, width = self.movie.shape
        return nframes, width, height

    def _get_dtype(self) -> np.dtype:
        return self.movie.dtype


def open_movie(folder: pathlib.Path, *, software: str, user_fps: float | None, channel: int) -> readers.Movie:
    """The lazy (T, H, W) movie of ``channel`` (plane 0) of the recording in ``folder``."""
    return readers.read_recording(folder, software=software, fps=user_fps).movie(channel=channel)


def linked_files(files: tuple[pathlib.Path, ...], *, software: str, nchannels: int, nplanes: int, nframes: int,
                 relative_to: pathlib.Path) -> tuple[list[str], list[int]]:
    """The raw files as external files of an image series: their paths relative to ``relative_to`` (the NWB
    file's folder) and the index of the first frame of each.

    Raises:
        ValueError: a recording of several channels or planes (their frames interleave in the files), files
            whose frames do not add up to ``nframes``, or files on another drive than the NWB file; the message
            says to export the frames themselves (movie="data").
    """
    if nchannels != 1 or nplanes != 1:
        raise ValueError(f"{files[0].parent}: {nchannels} channel(s) x {nplanes} plane(s) interleave in the files, "
                         "which an NWB link cannot describe; export the frames themselves (movie='data')")
    counts = [_frames_in(path, software) for path in files]
    if sum(counts) != nframes:
        raise ValueError(f"{files[0].parent}: the files hold {sum(counts)} frames, the recording {nframes}; export "
                         "the frames themselves (movie='data')")
    try:
        paths = [pathlib.Path(os.path.relpath(path, relative_to)).as_posix() for path in files]
    except ValueError as error:  # another drive (Windows)
        raise ValueError(f"{files[0]}: cannot be linked relative to {relative_to} ({error}); write the NWB file on "
                         "the drive of the raw files, or export the frames themselves (movie='data')") from error
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
    return paths, starts


def _frames_in(path: pathlib.Path, software: str) -> int:
    """Frames stored in one raw file: an AVI's frame count or a TIFF's page count."""
    if software.startswith("Miniscope"):
        return AviSegment(path).nframes
    return int(scan_tiff(path).npages)
