"""TIFF stacks: plain multi-page TIFF/BigTIFF files and ScanImage recordings.

Files of one recording are the folder's ``*.tif``/``*.tiff`` in natural order (``2`` before
``10``); each page is one frame. Plain TIFF carries no frame rate, so the caller gives it.
A plain stack whose writer named more axes than time (tifffile's ``metadata={'axes': 'TZYX'}``,
ImageJ hyperstacks, OME-TIFF) is read as planes (``Z``) and channels (``C``), time slowest; a
stack of several unnamed axes is refused, as its planes cannot be told from its channels.
ScanImage files interleave pages channel-fastest, then plane, then time; the frame rate,
channels saved and planes come from the ScanImage metadata (``SI.*`` keys), and the frame
times from each page's ``frameTimestamps_sec`` description when present.

Pixel types: integer pixels (8 to 64 bits) and float32 are read as stored; float16 and float64
are read as float32 (its 24-bit precision exceeds any imaging detector's); other types (1-bit
black-and-white, complex) are not intensities and are refused.

Opening counts the pages of every file, reads page descriptions (ScanImage) and decodes the
last page of each file only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import pathlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import tifffile

from element_calcium.readers.movie import (
    RawRecording,
    RecordingMetadata,
    check_fps,
    check_frame_times,
    count_dropped_frames,
)

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


@dataclass(frozen=True)
class StackLayout:
    """The order of the pages of one time point of a plain TIFF stack.

    Attributes:
        axes: the axes within a time point, slowest first: ``""`` (one page per frame) or an
            order of ``"Z"`` (planes) and ``"C"`` (channels), e.g. ``"ZC"`` in an ImageJ hyperstack.
        sizes: the length of each of those axes.
    """

    axes: str = ""
    sizes: tuple[int, ...] = ()

    @property
    def nplanes(self) -> int:
        return self.sizes[self.axes.index("Z")] if "Z" in self.axes else 1

    @property
    def nchannels(self) -> int:
        return self.sizes[self.axes.index("C")] if "C" in self.axes else 1

    def page(self, *, channel: int, plane: int) -> int:
        """Index of the page of ``channel`` and ``plane`` within a time point."""
        index = {"Z": plane, "C": channel}
        offset = 0
        for axis, size in zip(self.axes, self.sizes, strict=True):
            offset = offset * size + index[axis]
        return offset


def pixel_type(dtype: np.dtype, path: pathlib.Path) -> np.dtype:
    """The type a movie of ``dtype`` pages is read as: integers and float32 as stored, other floats as float32.

    Raises:
        ValueError: naming ``path``, for pixels that are not intensities (1-bit, complex, ...).
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        return dtype
    if dtype.kind == "f":
        return np.dtype(np.float32)
    what = "1-bit black-and-white (a mask)" if dtype.kind == "b" else f"of type {dtype}"
    raise ValueError(
        f"{path}: pixels are {what}, not intensities; save the movie with integer (8 or 16 bit) or float pixels"
    )


class TiffSegment:
    """Every ``step``-th page of one TIFF file from page ``first``: one channel/plane as frames.

    info gives the file and its page size and dtype. Reads decode only the pages asked for,
    as ``pixel_type(info.dtype)``; the file stays open between reads.
    """

    def __init__(self, info: TiffFileInfo, *, nframes: int, first: int = 0, step: int = 1):
        self.path = info.path
        self.nframes = nframes
        self.height = info.height
        self.width = info.width
        self.dtype = pixel_type(info.dtype, info.path)
        self._stored = np.dtype(info.dtype)
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
        if data.shape[-2:] != (self.height, self.width) or data.dtype != self._stored:
            raise ValueError(
                f"{self.path}: pages are {data.shape[-2]}x{data.shape[-1]} {data.dtype}, "
                f"expected {self.height}x{self.width} {self._stored}"
            )
        return data.reshape(stop - start, self.height, self.width).astype(self.dtype, copy=False)

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
    """Open a folder of plain TIFF stacks recorded at ``fps`` Hz: one page per frame, or per frame, plane and
    channel where the stack names those axes (`stack_layout`)."""
    if fps is None:
        raise ValueError(f"{folder}: plain TIFF files carry no frame rate; pass fps= (Hz)")
    fps = check_fps(fps, source=f"{folder}: fps")
    infos = [scan_tiff(p) for p in _require_tiffs(folder)]
    layout = stack_layout(infos[0])
    for info in infos[1:]:
        other = stack_layout(info)
        if other != layout:
            raise ValueError(f"{info.path}: {_describe(other)} per time point, but {infos[0].path} holds "
                             f"{_describe(layout)}; the files are not one recording")
    per_volume = layout.nchannels * layout.nplanes
    counts = [info.npages // per_volume for info in infos]
    segments = {
        (channel, plane): [
            TiffSegment(info, nframes=n, first=layout.page(channel=channel, plane=plane), step=per_volume)
            for info, n in zip(infos, counts, strict=True)
        ]
        for channel in range(layout.nchannels)
        for plane in range(layout.nplanes)
    }
    nframes = sum(counts)
    metadata = RecordingMetadata(
        software="TIFF",
        nchannels=layout.nchannels,
        nplanes=layout.nplanes,
        nframes=nframes,
        height=infos[0].height,
        width=infos[0].width,
        fps=float(fps),
        timestamps=np.arange(nframes) / float(fps),
        dropped_frames=0,
        files=tuple(info.path for info in infos),
        extra={"stack_axes": "T" + layout.axes + "YX"} if layout.axes else {},
    )
    return RawRecording(metadata, segments)


def read_scanimage(folder: pathlib.Path) -> RawRecording:
    """Open a folder of ScanImage TIFF files (one acquisition, files in natural order)."""
    files = _require_tiffs(folder)
    frame_data = scanimage_frame_data(files[0])
    if frame_data is None:
        raise ValueError(f"{files[0]}: no ScanImage metadata (SI.* keys)")
    nchannels = _count_channels(frame_data.get("SI.hChannels.channelSave", 1), files[0])
    nplanes = _count_planes(frame_data)
    rate_key = "SI.hRoiManager.scanVolumeRate" if nplanes > 1 else "SI.hRoiManager.scanFrameRate"
    fps = check_fps(frame_data.get(rate_key), source=f"{files[0]}: ScanImage {rate_key}")

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
        raise ValueError(
            f"{path}: pages are {first.shape}, not 2-D grey frames (a colour image, or a stack saved as samples "
            "per pixel); save one grey (height, width) page per frame, plane and channel"
        )
    if last.shape != first.shape:
        raise ValueError(f"{path}: the last page is {last.shape}, the first {first.shape}")
    pixel_type(first.dtype, path)
    return TiffFileInfo(path, npages, int(first.shape[0]), int(first.shape[1]), np.dtype(first.dtype))


def stack_layout(info: TiffFileInfo) -> StackLayout:
    """The planes and channels of the pages of a plain TIFF stack, from the axes its writer named.

    One axis besides (Y, X), named or not, is time. More axes must be named, time first, then
    planes ``Z`` and channels ``C`` in either order (tifffile's ``metadata={'axes': 'TZYX'}``, ImageJ
    hyperstacks, OME-TIFF), and must account for every page of the file.

    Raises:
        ValueError: naming the file, for unnamed or unknown axes, or axes that do not match its pages.
    """
    try:
        with _open_pages(info.path) as tif:
            series = tif.series[0]
            axes, shape = series.axes, tuple(int(n) for n in series.shape)
    except Exception as exc:  # tifffile raises many kinds of error on damaged files
        raise ValueError(f"{info.path}: not a readable TIFF file ({exc})") from exc
    outer, sizes = axes[:-2], shape[:-2]
    if len(outer) <= 1:
        return StackLayout()
    if outer[0] != "T" or not set(outer[1:]) <= {"Z", "C"} or len(set(outer)) != len(outer):
        raise ValueError(
            f"{info.path}: a {len(shape)}-D stack of shape {shape} with axes {axes!r}; name its axes time first, "
            "then planes Z and channels C (tifffile.imwrite(path, stack, metadata={'axes': 'TZYX'}), or an "
            "ImageJ hyperstack), or save one (time, height, width) stack per plane"
        )
    if math.prod(sizes) != info.npages:
        raise ValueError(f"{info.path}: its axes {axes!r} {shape} describe {math.prod(sizes)} pages, "
                         f"but the file holds {info.npages}")
    return StackLayout(outer[1:], sizes[1:])


def _describe(layout: StackLayout) -> str:
    return f"{layout.nplanes} plane(s) x {layout.nchannels} channel(s)"


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
    check_frame_times(timestamps, source=f"{infos[0].path} (frameTimestamps_sec of the pages)")
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
