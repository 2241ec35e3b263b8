"""Writer of TIFF stacks, plain or with ScanImage metadata."""

from __future__ import annotations

import itertools
import json
import os
import struct
from collections.abc import Iterator

import numpy as np
import tifffile

from element_calcium.simulate._checks import check_bool, check_int
from element_calcium.simulate._files import START, WrittenRecording, atomic, device_clock, empty_folder, source_of

_SCANIMAGE_MAGIC = 0x07030301  # ScanImage BigTIFF header, version 3
_TIFF_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25  # bytes a classic TIFF file can hold, with room for its directories


def write_tiff(
    folder: str | os.PathLike,
    movie,
    *,
    fps: float | None = None,
    n_files: int = 1,
    bigtiff: bool = False,
    scanimage: bool = False,
    nchannels: int = 1,
    seed: int = 0,
) -> WrittenRecording:
    """Write a TIFF stack: ``<folder>/movie.tif``, or ``movie_00001.tif ...`` when split over `n_files`.

    One page per frame and channel, channels fastest (t0c0, t0c1, ..., t1c0, ...); files hold consecutive runs
    of frames (sizes differing by at most one). Channel c >= 1 is the movie divided by 2**c (a dimmer copy, so
    the channel order can be checked).

    Plain (``scanimage=False``): pages only, no description, no frame rate; timestamps are the nominal grid
    ``arange(nframes) / fps``.

    ScanImage (``scanimage=True``): the ScanImage 2016+ layout, always BigTIFF as ScanImage writes it. After
    the BigTIFF header comes the ScanImage block (magic 0x07030301, version 3, sizes, then the non-varying
    frame data as MATLAB ``SI.* = value`` lines and the ROI groups as JSON), which tifffile reads as
    ``TiffFile(p).scanimage_metadata["FrameData"]`` (``SI.hRoiManager.scanFrameRate`` = fps,
    ``SI.hChannels.channelSave`` = [1, ..., nchannels], ``SI.hStackManager.numSlices`` = 1,
    ``SI.hStackManager.framesPerSlice`` = nframes, or ``inf`` when split over files, so that tifffile shapes
    each file's series from its own pages). Every page carries the frame data in its Software tag (so
    ``TiffFile(p).is_scanimage``) and the frame's ``frameNumbers`` and ``frameTimestamps_sec`` (6 decimals,
    jittered up to 1 ms, first 0) in its ImageDescription; those timestamps are the ones reported.

    Args:
        folder: folder to create; must be empty or absent.
        movie: a SimulatedMovie or a (T, H, W) array of uint8, uint16 or int16.
        fps: nominal frame rate; defaults to movie.fps (required for arrays).
        n_files: number of files to split the frames over (at most T).
        bigtiff: write BigTIFF (needed past 4 GB per file); ScanImage files are BigTIFF regardless.
        scanimage: write ScanImage metadata.
        nchannels: channels per frame.
        seed: seed of the ScanImage timestamp jitter.
    """
    source = source_of(movie, fps)
    if source.dtype not in _TIFF_DTYPES:
        raise ValueError(f"movie must be uint8, uint16 or int16 for TIFF, got {source.dtype}")
    n_files = check_int("n_files", n_files, 1, source.n_frames)
    check_bool("bigtiff", bigtiff)
    check_bool("scanimage", scanimage)
    nchannels = check_int("nchannels", nchannels, 1)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    sizes = [len(part) for part in np.array_split(np.arange(source.n_frames), n_files)]
    file_bytes = max(sizes) * nchannels * source.height * source.width * source.dtype.itemsize
    if file_bytes > _CLASSIC_TIFF_LIMIT and not (bigtiff or scanimage):
        raise ValueError(f"bigtiff must be True: a file would hold {file_bytes} bytes, past the 4 GB TIFF limit")
    folder = empty_folder(folder)
    names = ["movie.tif"] if n_files == 1 else [f"movie_{i + 1:05d}.tif" for i in range(n_files)]
    files = [folder / name for name in names]

    if scanimage:
        clock = device_clock(rng, source.fps, np.ones(source.n_frames, dtype=bool), resolution_ms=1e-3)
        stamps = [f"{ms / 1000.0:.6f}" for ms in clock]
        timestamps = np.array([float(text) for text in stamps])
    else:
        stamps = None
        timestamps = np.arange(source.n_frames) / source.fps
    frames = source.frames()
    first = 0
    for path, size in zip(files, sizes):
        pages = _channel_pages(itertools.islice(frames, size), nchannels)
        with atomic(path) as tmp:
            if scanimage:
                _write_scanimage_file(tmp, pages, source, nchannels, first, stamps[first : first + size])
            else:
                shape = (size * nchannels, source.height, source.width)
                tifffile.imwrite(
                    tmp,
                    pages,
                    shape=shape,
                    dtype=source.dtype,
                    bigtiff=bigtiff,
                    photometric="minisblack",
                    metadata=None,
                )
        first += size
    return WrittenRecording(
        path=folder,
        files=tuple(files),
        nframes=source.n_frames,
        height=source.height,
        width=source.width,
        fps=source.fps,
        timestamps=timestamps,
        dropped_frames=0,
        nchannels=nchannels,
    )


def write_scanimage_planes(folder: str | os.PathLike, planes, *, fps: float | None = None, n_files: int = 1,
                           seed: int = 0) -> WrittenRecording:
    """Write a multi-plane, multi-channel ScanImage recording (fast-z volumes), as `write_tiff` writes one plane.

    Pages interleave channel fastest, then plane, then time (t0 z0 c0, t0 z0 c1, t0 z1 c0, ..., t1 z0 c0, ...),
    as ScanImage saves them. The frame data add ``SI.hStackManager.enable`` and ``SI.hFastZ.enable`` (true),
    ``SI.hStackManager.numSlices`` and ``actualNumSlices`` (the planes) and ``SI.hRoiManager.scanVolumeRate`` (the
    volume rate ``fps``); each volume's pages carry that volume's ``frameTimestamps_sec``.

    Args:
        folder: folder to create; must be empty or absent.
        planes: one sequence per plane of one movie per channel (SimulatedMovie or (T, H, W) arrays of uint8,
            uint16 or int16), all of one shape and dtype: ``planes[z][c]`` is plane z, channel c.
        fps: volume rate in Hz; defaults to the first movie's fps (required for arrays).
        n_files: number of files to split the volumes over (at most T).
        seed: seed of the timestamp jitter.

    Returns:
        What a reader must report; ``nchannels`` is the channels, ``nframes`` the volumes (frames per plane).
    """
    nplanes = check_int("planes (their number)", len(planes), 1)
    nchannels = check_int("channels (their number)", len(planes[0]), 1)
    if any(len(channels) != nchannels for channels in planes):
        raise ValueError(f"every plane needs {nchannels} channel movie(s), got {[len(c) for c in planes]}")
    sources = [source_of(movie, fps) for channels in planes for movie in channels]
    source = sources[0]
    for other in sources[1:]:
        if (other.n_frames, other.height, other.width, other.dtype) != (source.n_frames, source.height, source.width,
                                                                        source.dtype):
            raise ValueError("every plane's and channel's movie must have the same shape and dtype")
    if source.dtype not in _TIFF_DTYPES:
        raise ValueError(f"movies must be uint8, uint16 or int16 for TIFF, got {source.dtype}")
    n_files = check_int("n_files", n_files, 1, source.n_frames)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    sizes = [len(part) for part in np.array_split(np.arange(source.n_frames), n_files)]
    folder = empty_folder(folder)
    files = [folder / name for name in (["movie.tif"] if n_files == 1 else
                                        [f"movie_{i + 1:05d}.tif" for i in range(n_files)])]
    clock = device_clock(rng, source.fps, np.ones(source.n_frames, dtype=bool), resolution_ms=1e-3)
    stamps = [f"{ms / 1000.0:.6f}" for ms in clock]
    volumes = zip(*(other.frames() for other in sources))  # per time point: its pages in file order
    first = 0
    for path, size in zip(files, sizes):
        pages = (page for volume in itertools.islice(volumes, size) for page in volume)
        with atomic(path) as tmp:
            _write_scanimage_file(tmp, pages, source, nchannels, first, stamps[first : first + size], nplanes=nplanes)
        first += size
    return WrittenRecording(path=folder, files=tuple(files), nframes=source.n_frames, height=source.height,
                            width=source.width, fps=source.fps, timestamps=np.array([float(t) for t in stamps]),
                            dropped_frames=0, nchannels=nchannels)


def _write_scanimage_file(path, pages, source, nchannels, first, stamps, *, nplanes: int = 1):
    """One ScanImage BigTIFF file: the ScanImage header block, then pages with per-frame (per-volume)
    descriptions."""
    channels = " ".join(str(c + 1) for c in range(nchannels))
    frames_per_slice = source.n_frames if len(stamps) == source.n_frames else "Inf"
    frame_data = (
        "SI.VERSION_MAJOR = 2021\n"
        "SI.VERSION_MINOR = 1\n"
        f"SI.hChannels.channelSave = [{channels}]\n"
        f"SI.hRoiManager.linesPerFrame = {source.height}\n"
        f"SI.hRoiManager.pixelsPerLine = {source.width}\n"
        f"SI.hRoiManager.scanFramePeriod = {1.0 / (source.fps * nplanes)!r}\n"
        f"SI.hRoiManager.scanFrameRate = {source.fps * nplanes!r}\n"
        f"SI.hStackManager.framesPerSlice = {frames_per_slice if nplanes == 1 else 1}\n"
        f"SI.hStackManager.numSlices = {nplanes}\n"
    )
    if nplanes > 1:
        frame_data += (
            "SI.hStackManager.enable = true\n"
            "SI.hFastZ.enable = true\n"
            f"SI.hStackManager.actualNumSlices = {nplanes}\n"
            f"SI.hRoiManager.scanVolumeRate = {source.fps!r}\n"
        )
    roi_groups = {"RoiGroups": {"imagingRoiGroup": {"name": "Default Imaging ROI Group", "rois": []}}}
    frame_bytes = frame_data.encode("ascii") + b"\0"
    roi_bytes = json.dumps(roi_groups).encode("ascii") + b"\0"
    seconds = START.second + START.microsecond / 1e6
    epoch = f"[{START.year} {START.month} {START.day} {START.hour} {START.minute} {seconds:g}]"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.filehandle.write(struct.pack("<4I", _SCANIMAGE_MAGIC, 3, len(frame_bytes), len(roi_bytes)))
        tif.filehandle.write(frame_bytes + roi_bytes)
        for i, page in enumerate(pages):
            t = first + i // (nchannels * nplanes)
            description = (
                f"frameNumbers = {t + 1}\n"
                "acquisitionNumbers = 1\n"
                f"frameNumberAcquisition = {t + 1}\n"
                f"frameTimestamps_sec = {stamps[t - first]}\n"
                f"endOfAcquisition = {int(t == source.n_frames - 1)}\n"
                f"epoch = {epoch}\n"
            )
            tif.write(page, photometric="minisblack", metadata=None, software=frame_data, description=description)


def _channel_pages(frames: Iterator[np.ndarray], nchannels: int) -> Iterator[np.ndarray]:
    """Pages of each frame, channels fastest: channel c is the frame shifted right by c bits."""
    for frame in frames:
        for c in range(nchannels):
            yield frame >> c if c else frame
