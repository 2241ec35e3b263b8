"""TIFF stacks: plain multi-page TIFF/BigTIFF files and ScanImage recordings.

Files of one recording are the folder's ``*.tif``/``*.tiff`` in natural order (``2`` before
``10``); each page is one frame. Plain TIFF carries no frame rate, so the caller gives it.
ScanImage files interleave pages channel-fastest, then plane, then time; the frame rate,
channels saved and planes come from the ScanImage metadata (``SI.*`` keys), and the frame
times from each page's ``frameTimestamps_sec`` description when present.

Opening counts the pages of every file, reads page descriptions (ScanImage) and decodes the
last page of each file only.
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tifffile

from element_calcium.readers.movie import RawRecording, RecordingMetadata, count_dropped_frames

TIFF_SUFFIXES = (".tif", ".tiff")
_SCANIMAGE_TIMESTAMP = re.compile(r"frameTimestamps_sec\s*=\s*([-+0-9.eE]+)")


@dataclass(frozen=True)
class TiffFileInfo:
    """Page count, (height, width) pixels and dtype of one TIFF file (npages None: not counted)."""

    path: pathlib.Path
    npages: int | None
    height: int
    width: int
    dtype: np.dtype


class TiffSegment:
    """Every ``step``-th page of one TIFF file from page ``first``: one channel/plane as frames.

    info gives the file and its page size and dtype. Reads decode only the pages asked for;
    the file stays open between reads.
    """

    def __init__(self, info: TiffFileInfo, *, nframes: int, first: int = 0, step: int = 1):
        self.path = info.path
        self.nframes = nframes
        self.height = info.height
        self.width = info.width
        self.dtype = info.dtype
        self._first = first
        self._step = step
        self._tif: tifffile.TiffFile | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start:stop`` of this segment, (stop - start, height, width)."""
        if self._tif is None:
            self._tif = _open_pages(self.path)
        pages = slice(self._first + start * self._step, self._first + stop * self._step, self._step)
        try:
            data = self._tif.asarray(key=pages)
        except Exception as exc:  # tifffile raises many kinds of error on damaged files
            raise ValueError(f"{self.path}: pages {pages.start}:{pages.stop} do not decode ({exc})") from exc
        if data.shape[-2:] != (self.height, self.width) or data.dtype != self.dtype:
            raise ValueError(
                f"{self.path}: pages are {data.shape[-2]}x{data.shape[-1]} {data.dtype}, "
                f"expected {self.height}x{self.width} {self.dtype}"
            )
        return data.reshape(stop - start, self.height, self.width)

    def close(self) -> None:
        """Close the file; the next read reopens it."""
        if self._tif is not None:
            self._tif.close()
            self._tif = None


def natural_key(path: pathlib.Path) -> list:
    """Sort key that orders numbers in file names by value: ``f2.tif`` before ``f10.tif``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def tiff_files(folder: pathlib.Path) -> list[pathlib.Path]:
    """The folder's TIFF files (absolute) in natural order; empty if there are none."""
    found = [p.resolve() for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TIFF_SUFFIXES]
    return sorted(found, key=natural_key)


def scanimage_frame_data(path: pathlib.Path) -> dict | None:
    """The non-varying ScanImage ``SI.*`` metadata of a TIFF file, or None if it has none."""
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.is_scanimage:
                return None
            frame_data = (tif.scanimage_metadata or {}).get("FrameData")
            software = tif.pages.first.software
            if not frame_data and software.startswith("SI."):
                frame_data = tifffile.matlabstr2py(software)
    except Exception as exc:  # tifffile raises many kinds of error on damaged files
        raise ValueError(f"{path}: not a readable TIFF file ({exc})") from exc
    return frame_data if isinstance(frame_data, dict) and frame_data else None


def read_tiff(folder: pathlib.Path, *, fps: float | None) -> RawRecording:
    """Open a folder of plain TIFF stacks, one frame per page, recorded at ``fps`` Hz."""
    if fps is None:
        raise ValueError(f"{folder}: plain TIFF files carry no frame rate; pass fps= (Hz)")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    infos = [scan_tiff(p) for p in _require_tiffs(folder)]
    segments = [TiffSegment(info, nframes=info.npages) for info in infos]
    nframes = sum(info.npages for info in infos)
    metadata = RecordingMetadata(
        software="TIFF",
        nchannels=1,
        nplanes=1,
        nframes=nframes,
        height=infos[0].height,
        width=infos[0].width,
        fps=float(fps),
        timestamps=np.arange(nframes) / float(fps),
        dropped_frames=0,
        files=tuple(info.path for info in infos),
    )
    return RawRecording(metadata, {(0, 0): segments})


def read_scanimage(folder: pathlib.Path) -> RawRecording:
    """Open a folder of ScanImage TIFF files (one acquisition, files in natural order)."""
    files = _require_tiffs(folder)
    frame_data = scanimage_frame_data(files[0])
    if frame_data is None:
        raise ValueError(f"{files[0]}: no ScanImage metadata (SI.* keys)")
    nchannels = _count_channels(frame_data.get("SI.hChannels.channelSave", 1), files[0])
    nplanes = _count_planes(frame_data)
    rate_key = "SI.hRoiManager.scanVolumeRate" if nplanes > 1 else "SI.hRoiManager.scanFrameRate"
    fps = frame_data.get(rate_key)
    if not isinstance(fps, (int, float)) or not fps > 0:
        raise ValueError(f"{files[0]}: ScanImage metadata has no valid {rate_key} ({fps!r})")

    infos = [scan_tiff(p) for p in files]
    per_volume = nchannels * nplanes
    counts = []
    for index, info in enumerate(infos):
        remainder = info.npages % per_volume
        if remainder and index < len(infos) - 1:
            raise ValueError(
                f"{info.path}: {info.npages} pages is not a whole number of {nchannels} channel(s) x {nplanes} plane(s)"
            )
        if remainder:
            warnings.warn(
                f"{info.path}: the last {remainder} page(s) do not complete a volume and are skipped", stacklevel=2
            )
        counts.append(info.npages // per_volume)
    segments = {
        (channel, plane): [
            TiffSegment(info, nframes=n, first=plane * nchannels + channel, step=per_volume)
            for info, n in zip(infos, counts, strict=True)
            if n > 0
        ]
        for channel in range(nchannels)
        for plane in range(nplanes)
    }
    nframes = sum(counts)
    if nframes == 0:
        raise ValueError(f"{folder}: the TIFF files hold no complete {nchannels}-channel, {nplanes}-plane frame")
    timestamps = _frame_timestamps(infos, counts, per_volume)
    timestamps_source = "frameTimestamps_sec"
    if timestamps is None:
        timestamps, timestamps_source = np.arange(nframes) / float(fps), "frame rate"
    um_height, um_width = _field_of_view_um(frame_data)
    metadata = RecordingMetadata(
        software="ScanImage",
        nchannels=nchannels,
        nplanes=nplanes,
        nframes=nframes,
        height=infos[0].height,
        width=infos[0].width,
        fps=float(fps),
        timestamps=timestamps,
        dropped_frames=count_dropped_frames(timestamps),
        files=tuple(info.path for info in infos),
        um_height=um_height,
        um_width=um_width,
        extra={
            "scanimage_version": str(frame_data.get("SI.VERSION_MAJOR", "")),
            "timestamps_source": timestamps_source,
        },
    )
    return RawRecording(metadata, segments)


def scan_tiff(path: pathlib.Path) -> TiffFileInfo:
    """Count the pages of a TIFF file and decode its last page, without reading the others.

    Raises ValueError naming the file when it is not a TIFF, its chain of pages is broken
    (a truncated file), its pages are not 2-D grey images or its last page does not decode.
    """
    try:
        with _tifffile_page_warnings() as problems, _open_pages(path) as tif:
            npages = len(tif.pages)
            first = tif.pages.first
            last = None if problems else tif.pages[npages - 1].asarray()
    except Exception as exc:  # tifffile raises many kinds of error on damaged files
        raise ValueError(f"{path}: not a readable TIFF file ({exc})") from exc
    if problems:
        raise ValueError(f"{path}: broken chain of TIFF pages ({problems[0]}); the file is truncated or corrupt")
    if last.ndim != 2 or len(first.shape) != 2:
        raise ValueError(f"{path}: pages are {first.shape}, not 2-D grey frames")
    if last.shape != first.shape:
        raise ValueError(f"{path}: the last page is {last.shape}, the first {first.shape}")
    return TiffFileInfo(path, npages, int(first.shape[0]), int(first.shape[1]), np.dtype(first.dtype))


def _frame_timestamps(infos: list[TiffFileInfo], counts: list[int], step: int) -> np.ndarray | None:
    """(nframes,) seconds from the first frame, from each volume's first page description
    (``frameTimestamps_sec``); None when a page lacks it. Reads tags, not pixels."""
    stamps = []
    for info, count in zip(infos, counts, strict=True):
        try:
            with _open_pages(info.path) as tif:
                descriptions = [tif.pages[t * step].description for t in range(count)]
        except Exception as exc:  # tifffile raises many kinds of error on damaged files
            raise ValueError(f"{info.path}: page descriptions do not read ({exc})") from exc
        for description in descriptions:
            match = _SCANIMAGE_TIMESTAMP.search(description)
            if match is None:
                return None
            stamps.append(float(match.group(1)))
    timestamps = np.array(stamps, dtype=np.float64)
    return timestamps - timestamps[0]


def _open_pages(path: pathlib.Path) -> tifffile.TiffFile:
    """Open a TIFF file whose pages are all parsed from their directories.

    For classic (non-Big) ScanImage files tifffile otherwise infers the page count from the
    file size, which miscounts files whose pages are not laid out evenly.
    """
    return tifffile.TiffFile(path, is_scanimage=False)


def _require_tiffs(folder: pathlib.Path) -> list[pathlib.Path]:
    files = tiff_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder}: no .tif or .tiff files")
    return files


@contextlib.contextmanager
def _tifffile_page_warnings() -> Iterator[list[str]]:
    """Collect tifffile's warnings about its chain of pages (how it reports a truncated file)."""
    problems: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "TiffPages" in message:
                problems.append(message)

    logger = logging.getLogger("tifffile")
    handler = Collect(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield problems
    finally:
        logger.removeHandler(handler)


def _count_channels(channel_save: object, path: pathlib.Path) -> int:
    """Number of saved channels from ``SI.hChannels.channelSave`` (1, [1, 2] or [[1], [2]])."""
    channels = np.ravel(np.asarray(channel_save))
    if channels.size == 0 or not np.issubdtype(channels.dtype, np.number):
        raise ValueError(f"{path}: SI.hChannels.channelSave {channel_save!r} names no channels")
    return int(channels.size)


def _count_planes(frame_data: dict) -> int:
    """Number of z planes: ``actualNumSlices`` (or ``numSlices``) when a z stack is enabled."""
    stack = frame_data.get("SI.hStackManager.enable", False) or frame_data.get("SI.hFastZ.enable", False)
    slices = frame_data.get("SI.hStackManager.actualNumSlices", frame_data.get("SI.hStackManager.numSlices", 1))
    if not stack or not isinstance(slices, (int, float)):
        return 1
    return max(int(slices), 1)


def _field_of_view_um(frame_data: dict) -> tuple[float | None, float | None]:
    """(height, width) in micrometres from ``SI.hRoiManager.imagingFovUm`` corners, if present."""
    corners = frame_data.get("SI.hRoiManager.imagingFovUm")
    try:
        xy = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        return None, None
    if xy.shape[0] < 2:
        return None, None
    width, height = np.ptp(xy, axis=0)
    return float(height), float(width)
