"""Writers of acquisition file formats (Miniscope DAQ V3 and V4, plain and ScanImage TIFF, PrairieView voltage).

Each writer streams a movie chunk by chunk into the files an acquisition system produces, writes every file
under a temporary name and renames it when complete, and returns a `WrittenRecording`: what a correct reader
of those files must report. Public through `element_calcium.simulate`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import numbers
import os
import pathlib
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from xml.sax.saxutils import escape

import cv2
import numpy as np
import tifffile

_CHUNK = 64  # frames read from the movie at a time
_AVI_HEADER_FPS = 60.0  # nominal rate in every AVI header; acquisition software writes one that is not the truth
_START = datetime(2024, 5, 17, 13, 47, 3, 117000, tzinfo=timezone.utc)  # recording start written in metadata
_SCANIMAGE_MAGIC = 0x07030301  # ScanImage BigTIFF header, version 3
_CODECS = ("FFV1", "GREY")
_GAINS = ("Low", "Medium", "High")
_TIFF_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.int16))
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25  # bytes a classic TIFF file can hold, with room for its directories


@dataclass(frozen=True)
class WrittenRecording:
    """What a correct reader of the written files must report.

    Attributes:
        path: the folder a user would ingest (V4: the session folder; V3: the folder; TIFF: the folder holding
            the stack).
        files: movie files in acquisition order.
        nframes: frames in the files (per channel).
        height, width: frame size in pixels.
        fps: nominal frame rate, frames per second.
        timestamps: (nframes,) float64 seconds of each frame in the files, the first at 0.0.
        dropped_frames: frames the device dropped (absent from the files; gaps in the timestamps).
        nchannels: channels per frame.
    """

    path: pathlib.Path
    files: tuple[pathlib.Path, ...]
    nframes: int
    height: int
    width: int
    fps: float
    timestamps: np.ndarray
    dropped_frames: int
    nchannels: int = 1


@dataclass(frozen=True)
class _Source:
    n_frames: int
    height: int
    width: int
    dtype: np.dtype
    fps: float
    chunks: Callable[[int], Iterable[np.ndarray]]

    def frames(self) -> Iterator[np.ndarray]:
        """Every frame in order, (H, W) C-contiguous."""
        count = 0
        for chunk in self.chunks(_CHUNK):
            for frame in chunk:
                count += 1
                yield np.ascontiguousarray(frame)
        if count != self.n_frames:
            raise ValueError(f"movie gave {count} frames, but its shape says {self.n_frames}")


def write_miniscope_v4(
    folder: str | os.PathLike,
    movie,
    *,
    fps: float | None = None,
    frames_per_file: int = 1000,
    codec: str = "FFV1",
    device_folder: str = "My_V4_Miniscope",
    drop_frames: Iterable[int] = (),
    gain: str | float = "Low",
    led_power: float = 30,
    include_roi: bool = True,
    session_metadata: bool = True,
    head_orientation: bool = False,
    seed: int = 0,
) -> WrittenRecording:
    """Write a Miniscope DAQ V4 recording.

    Layout: ``<folder>/metaData.json`` (session: names, base directory, recording start time; only if
    `session_metadata`) and ``<folder>/<device_folder>/`` with ``metaData.json`` (device settings; frame rate
    as ``"<round(fps)>FPS"``; ``ROI`` only if `include_roi`), ``timeStamps.csv`` (``Frame Number,Time Stamp
    (ms),Buffer Index``: one row per written frame, integer ms from the first frame), ``0.avi, 1.avi, ...``
    (`frames_per_file` frames each, the last shorter; 8-bit grey; the AVI header says 60 fps whatever the real
    rate) and, if `head_orientation`, ``headOrientation.csv`` (``Time Stamp (ms),qw,qx,qy,qz`` per frame).

    Args:
        folder: session folder to create; must be empty or absent.
        movie: a SimulatedMovie (or any object with shape, dtype, fps and chunks(n)) or a (T, H, W) array;
            uint8 with even H and W.
        fps: nominal frame rate; defaults to movie.fps (required for arrays).
        frames_per_file: frames per AVI file.
        codec: "FFV1" (lossless) or "GREY" (uncompressed).
        device_folder: name of the device sub-folder.
        drop_frames: indices of movie frames the device dropped: absent from the files, timestamps jump over them.
        gain: sensor gain as the DAQ writes it: "Low", "Medium", "High" or a number.
        led_power: excitation LED power, 0-100.
        include_roi, session_metadata, head_orientation: write those parts.
        seed: seed of the timestamp jitter (up to 1 ms) and of the head orientation.
    """
    source = _source(movie, fps)
    _check_avi_movie(source)
    frames_per_file = _check_int("frames_per_file", frames_per_file, 1)
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {_CODECS}, got {codec!r}")
    _check_name("device_folder", device_folder)
    keep = _kept(drop_frames, source.n_frames)
    if isinstance(gain, str) and gain not in _GAINS:
        raise ValueError(f"gain must be one of {_GAINS} or a number, got {gain!r}")
    if not isinstance(gain, str):
        _check_number("gain", gain, 0.0)
    _check_number("led_power", led_power, 0.0, 100.0)
    for name, value in (
        ("include_roi", include_roi),
        ("session_metadata", session_metadata),
        ("head_orientation", head_orientation),
    ):
        _check_bool(name, value)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    ms = _device_clock(rng, source.fps, keep, resolution_ms=1.0).astype(np.int64)
    n = len(ms)
    folder = _empty_folder(folder)
    device = folder / device_folder
    device.mkdir()
    files = [device / f"{i}.avi" for i in range(math.ceil(n / frames_per_file))]
    _write_avis(_kept_frames(source, keep), files, frames_per_file, codec, (source.height, source.width))
    metadata = {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "frameRate": f"{round(source.fps)}FPS",
        "gain": gain if isinstance(gain, str) else _json_number(gain),
        "led0": _json_number(led_power),
        "ewl": 0,
        "compression": codec,
        "framesPerFile": frames_per_file,
    }
    if include_roi:
        metadata["ROI"] = {"height": source.height, "width": source.width, "leftEdge": 0, "topEdge": 0}
    _write_text(device / "metaData.json", json.dumps(metadata, indent=4))
    rows = "".join(f"{i},{t},0\n" for i, t in enumerate(ms))
    _write_text(device / "timeStamps.csv", "Frame Number,Time Stamp (ms),Buffer Index\n" + rows)
    if head_orientation:
        quaternions = _head_quaternions(rng, n)
        rows = "".join(f"{t},{qw:.6f},{qx:.6f},{qy:.6f},{qz:.6f}\n" for t, (qw, qx, qy, qz) in zip(ms, quaternions))
        _write_text(device / "headOrientation.csv", "Time Stamp (ms),qw,qx,qy,qz\n" + rows)
    if session_metadata:
        session = {
            "researcherName": "",
            "experimentName": "simulated",
            "animalName": "sim",
            "baseDirectory": folder.resolve().as_posix(),
            "cameras": [],
            "miniscopes": [device_folder],
            "recordingStartTime": {
                "year": _START.year,
                "month": _START.month,
                "day": _START.day,
                "hour": _START.hour,
                "minute": _START.minute,
                "second": _START.second,
                "msec": _START.microsecond // 1000,
                "msecSinceEpoch": round(_START.timestamp() * 1000),
            },
        }
        _write_text(folder / "metaData.json", json.dumps(session, indent=4))
    return _recording(folder, files, source, ms / 1000.0, keep)


def write_miniscope_v3(
    folder: str | os.PathLike,
    movie,
    *,
    fps: float | None = None,
    frames_per_file: int = 1000,
    drop_frames: Iterable[int] = (),
    other_camera: bool = True,
    seed: int = 0,
) -> WrittenRecording:
    """Write a Miniscope DAQ V3 recording.

    Layout: ``<folder>/msCam1.avi ... msCamN.avi`` (numbered from 1, `frames_per_file` frames each, uncompressed
    8-bit grey, 60 fps in the AVI header) and the tab-separated ``<folder>/timestamp.dat`` (``camNum frameNum
    sysClock buffer``): one row per frame of each camera in time order, frameNum from 1, sysClock in ms on the
    DAQ clock (0 at the miniscope's first frame), except that the first sysClock of each camera is junk (a huge
    number), as the DAQ writes it. With `other_camera`, a behaviour camera runs at 1.5x the frame rate (so its
    frame count differs) and writes ``behavCam1.avi ...`` (small 24x32 frames); which camera gets camNum 0 is
    drawn from `seed`, as the DAQ numbers them in USB enumeration order. The reported timestamps are the
    miniscope's sysClock / 1000 with the junk first value replaced by 0.

    Args:
        folder: folder to create; must be empty or absent.
        movie: a SimulatedMovie or a (T, H, W) array; uint8 with even H and W.
        fps: nominal frame rate; defaults to movie.fps (required for arrays).
        frames_per_file: frames per AVI file (miniscope and behaviour camera).
        drop_frames: indices of movie frames the device dropped.
        other_camera: also record a behaviour camera.
        seed: seed of the timestamp jitter, the junk clock values and the camera numbering.
    """
    source = _source(movie, fps)
    _check_avi_movie(source)
    frames_per_file = _check_int("frames_per_file", frames_per_file, 1)
    keep = _kept(drop_frames, source.n_frames)
    _check_bool("other_camera", other_camera)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    scope_cam = int(rng.integers(2)) if other_camera else 0
    ms = _device_clock(rng, source.fps, keep, resolution_ms=1.0).astype(np.int64)
    n = len(ms)
    folder = _empty_folder(folder)
    files = [folder / f"msCam{i + 1}.avi" for i in range(math.ceil(n / frames_per_file))]
    _write_avis(_kept_frames(source, keep), files, frames_per_file, "GREY", (source.height, source.width))
    cameras = [(scope_cam, ms)]
    if other_camera:
        behaviour_fps = 1.5 * source.fps
        n_behaviour = math.ceil(source.n_frames * 1.5)
        offset = rng.uniform(0.2, 0.8) * 1000.0 / behaviour_fps
        behaviour_ms = _device_clock(rng, behaviour_fps, np.ones(n_behaviour, dtype=bool), resolution_ms=1.0)
        cameras.append((1 - scope_cam, (behaviour_ms + round(offset)).astype(np.int64)))
        ramp = np.tile(np.arange(32), (24, 1))
        behaviour = (((3 * k + ramp) % 256).astype(np.uint8) for k in range(n_behaviour))
        paths = [folder / f"behavCam{i + 1}.avi" for i in range(math.ceil(n_behaviour / frames_per_file))]
        _write_avis(behaviour, paths, frames_per_file, "GREY", (24, 32))
    rows = []
    for cam, times in cameras:
        clock = times.copy()
        clock[0] = rng.integers(2**32 - 2**16, 2**32)
        rows += [(t, cam, k + 1, c) for k, (t, c) in enumerate(zip(times, clock))]
    rows.sort()
    text = "".join(f"{cam}\t{frame}\t{clock}\t0\n" for _, cam, frame, clock in rows)
    _write_text(folder / "timestamp.dat", "camNum\tframeNum\tsysClock\tbuffer\n" + text)
    return _recording(folder, files, source, ms / 1000.0, keep)


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
    source = _source(movie, fps)
    if source.dtype not in _TIFF_DTYPES:
        raise ValueError(f"movie must be uint8, uint16 or int16 for TIFF, got {source.dtype}")
    n_files = _check_int("n_files", n_files, 1, source.n_frames)
    _check_bool("bigtiff", bigtiff)
    _check_bool("scanimage", scanimage)
    nchannels = _check_int("nchannels", nchannels, 1)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    sizes = [len(part) for part in np.array_split(np.arange(source.n_frames), n_files)]
    file_bytes = max(sizes) * nchannels * source.height * source.width * source.dtype.itemsize
    if file_bytes > _CLASSIC_TIFF_LIMIT and not (bigtiff or scanimage):
        raise ValueError(f"bigtiff must be True: a file would hold {file_bytes} bytes, past the 4 GB TIFF limit")
    folder = _empty_folder(folder)
    names = ["movie.tif"] if n_files == 1 else [f"movie_{i + 1:05d}.tif" for i in range(n_files)]
    files = [folder / name for name in names]

    if scanimage:
        clock = _device_clock(rng, source.fps, np.ones(source.n_frames, dtype=bool), resolution_ms=1e-3)
        stamps = [f"{ms / 1000.0:.6f}" for ms in clock]
        timestamps = np.array([float(text) for text in stamps])
    else:
        stamps = None
        timestamps = np.arange(source.n_frames) / source.fps
    frames = source.frames()
    first = 0
    for path, size in zip(files, sizes):
        pages = _channel_pages(itertools.islice(frames, size), nchannels)
        with _atomic(path) as tmp:
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


def _write_scanimage_file(path, pages, source, nchannels, first, stamps):
    """One ScanImage BigTIFF file: the ScanImage header block, then pages with per-frame descriptions."""
    channels = " ".join(str(c + 1) for c in range(nchannels))
    frames_per_slice = source.n_frames if len(stamps) == source.n_frames else "Inf"
    frame_data = (
        "SI.VERSION_MAJOR = 2021\n"
        "SI.VERSION_MINOR = 1\n"
        f"SI.hChannels.channelSave = [{channels}]\n"
        f"SI.hRoiManager.linesPerFrame = {source.height}\n"
        f"SI.hRoiManager.pixelsPerLine = {source.width}\n"
        f"SI.hRoiManager.scanFramePeriod = {1.0 / source.fps!r}\n"
        f"SI.hRoiManager.scanFrameRate = {source.fps!r}\n"
        f"SI.hStackManager.framesPerSlice = {frames_per_slice}\n"
        "SI.hStackManager.numSlices = 1\n"
    )
    roi_groups = {"RoiGroups": {"imagingRoiGroup": {"name": "Default Imaging ROI Group", "rois": []}}}
    frame_bytes = frame_data.encode("ascii") + b"\0"
    roi_bytes = json.dumps(roi_groups).encode("ascii") + b"\0"
    seconds = _START.second + _START.microsecond / 1e6
    epoch = f"[{_START.year} {_START.month} {_START.day} {_START.hour} {_START.minute} {seconds:g}]"
    with tifffile.TiffWriter(path, bigtiff=True) as tif:
        tif.filehandle.write(struct.pack("<4I", _SCANIMAGE_MAGIC, 3, len(frame_bytes), len(roi_bytes)))
        tif.filehandle.write(frame_bytes + roi_bytes)
        for i, page in enumerate(pages):
            t = first + i // nchannels
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


def _write_avis(frames: Iterator[np.ndarray], paths, per_file: int, codec: str, size: tuple[int, int]) -> None:
    """Write consecutive runs of `per_file` grey uint8 frames into `paths`, each under a temporary name."""
    height, width = size
    for path in paths:
        with _atomic(path) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), _AVI_HEADER_FPS, (width, height), False)
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {codec} AVI files ({path})")
            try:
                for frame in itertools.islice(frames, per_file):
                    writer.write(frame)
            finally:
                writer.release()


def write_voltage_recording(path, signals: dict[str, np.ndarray], *, rate: float) -> pathlib.Path:
    """Write analog inputs as a Bruker PrairieView voltage recording: ``path`` (CSV) and its ``.xml``.

    Args:
        path: the CSV file to write, e.g. ``.../TSeries-001_Cycle00001_VoltageRecording_001.csv``.
        signals: input name (e.g. ``"Input 0"``) -> (n,) samples in volts, all of one length n >= 2.
        rate: samples per second; sample i is at ``1000 * i / rate`` ms.

    Returns:
        The CSV path.
    """
    path = pathlib.Path(path)
    rate = _check_number("rate", rate, 0.0, strict=True)
    lengths = {len(values) for values in signals.values()}
    if not signals or len(lengths) != 1 or lengths.pop() < 2:
        raise ValueError("signals must map names to sample arrays of one length, at least 2")
    columns = {"Time(ms)": np.arange(len(next(iter(signals.values())))) * 1000.0 / rate}
    columns.update({name: np.asarray(values, dtype=np.float64) for name, values in signals.items()})
    lines = [", ".join(columns)]
    lines += [", ".join(f"{value:.6g}" for value in row) for row in zip(*columns.values())]
    entries = "".join(
        f"<VRecSignal><Name>{escape(name)}</Name><Channel>{channel}</Channel><Enabled>true</Enabled>"
        f"<Unit><UnitName>V</UnitName><Multiplier>1</Multiplier><Divisor>1</Divisor></Unit></VRecSignal>"
        for channel, name in enumerate(signals)
    )
    _write_text(path.with_suffix(".xml"), (
        f'<?xml version="1.0" encoding="utf-8"?>\n<VRecSessionEntry><DateTime>{_START.isoformat()}</DateTime>'
        f"<Experiment><Rate>{rate:g}</Rate><AcquisitionTime>{1000 * len(lines[1:]) / rate:g}</AcquisitionTime>"
        f"<SignalList>{entries}</SignalList></Experiment></VRecSessionEntry>\n"
    ))
    _write_text(path, "\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def _atomic(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary name beside `path` (same extension), renamed to `path` on success, removed on failure."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_text(path: pathlib.Path, text: str) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _source(movie, fps) -> _Source:
    if isinstance(movie, np.ndarray):
        if movie.ndim != 3 or 0 in movie.shape:
            raise ValueError(f"movie must be a non-empty (T, H, W) array, got shape {movie.shape}")
        if fps is None:
            raise ValueError("fps is required when movie is an array")
        n_frames, height, width = movie.shape
        dtype = movie.dtype

        def chunks(n):
            return (movie[i : i + n] for i in range(0, n_frames, n))

    elif all(hasattr(movie, name) for name in ("shape", "dtype", "fps", "chunks")):
        if len(movie.shape) != 3:
            raise ValueError(f"movie must have shape (T, H, W), got {movie.shape}")
        n_frames, height, width = movie.shape
        dtype, chunks = movie.dtype, movie.chunks
        fps = movie.fps if fps is None else fps
    else:
        raise ValueError(f"movie must be a SimulatedMovie or a (T, H, W) array, got {type(movie).__name__}")
    fps = _check_number("fps", fps, 0.0, strict=True)
    return _Source(int(n_frames), int(height), int(width), np.dtype(dtype), fps, chunks)


def _check_avi_movie(source: _Source) -> None:
    if source.dtype != np.uint8:
        raise ValueError(f"movie must be uint8 for Miniscope AVI files (8-bit sensor), got {source.dtype}")
    if source.height % 2 or source.width % 2:
        raise ValueError(f"movie must have even height and width for AVI files, got {source.height}x{source.width}")


def _kept(drop_frames: Iterable[int], n_frames: int) -> np.ndarray:
    """(T,) bool: frames that reach the files."""
    drops = list(drop_frames) if isinstance(drop_frames, Iterable) else [None]
    if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in drops):
        raise ValueError(f"drop_frames must be frame indices (integers), got {drop_frames!r}")
    drops = [int(i) for i in drops]
    if len(set(drops)) != len(drops) or any(not 0 <= i < n_frames for i in drops):
        raise ValueError(f"drop_frames must be distinct indices in [0, {n_frames}), got {drops}")
    keep = np.ones(n_frames, dtype=bool)
    keep[drops] = False
    if not keep.any():
        raise ValueError("drop_frames must leave at least one frame")
    return keep


def _device_clock(rng, fps: float, keep: np.ndarray, *, resolution_ms: float) -> np.ndarray:
    """Device clock of the kept frames in ms, float64: nominal grid plus up to 1 ms jitter, first kept frame at 0,
    rounded to `resolution_ms`."""
    n = len(keep)
    jitter = min(1.0, 200.0 / fps)  # ms; at most a fifth of a frame interval
    times = np.arange(n) * 1000.0 / fps + rng.uniform(-jitter, jitter, n)
    times = times[keep] - times[keep][0]
    clock = np.round(times / resolution_ms) * resolution_ms
    if np.any(np.diff(clock) <= 0):
        raise ValueError(f"fps={fps} is too high for timestamps at {resolution_ms:g} ms resolution")
    return clock


def _kept_frames(source: _Source, keep: np.ndarray) -> Iterator[np.ndarray]:
    return (frame for frame, kept in zip(source.frames(), keep) if kept)


def _head_quaternions(rng, n: int) -> np.ndarray:
    """(n, 4) unit quaternions (w, x, y, z) of a head turning smoothly by up to about 30 degrees."""
    steps = rng.standard_normal((n, 3)) * 0.02
    rotation = 0.5 * np.tanh(np.cumsum(steps, axis=0))  # rotation vector, rad
    angle = np.linalg.norm(rotation, axis=1, keepdims=True)
    axis = np.divide(rotation, angle, out=np.zeros_like(rotation), where=angle > 0)
    return np.hstack([np.cos(angle / 2), np.sin(angle / 2) * axis])


def _recording(folder, files, source: _Source, timestamps, keep) -> WrittenRecording:
    return WrittenRecording(
        path=folder,
        files=tuple(files),
        nframes=int(keep.sum()),
        height=source.height,
        width=source.width,
        fps=source.fps,
        timestamps=np.asarray(timestamps, dtype=np.float64),
        dropped_frames=int((~keep).sum()),
    )


def _empty_folder(folder) -> pathlib.Path:
    folder = pathlib.Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"folder must be empty or absent: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_name(name, value):
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value:
        raise ValueError(f"{name} must be a folder name (no path separators), got {value!r}")


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _check_int(name, value, minimum, maximum=None):
    """`value` as an int; ValueError naming `name` unless an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _check_number(name, value, minimum, maximum=math.inf, *, strict=False):
    """`value` as a float; ValueError naming `name` unless finite and in [minimum, maximum] (minimum excluded
    if `strict`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not minimum <= value <= maximum or (strict and value == minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        if maximum < math.inf:
            bound += f" and <= {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


def _json_number(value) -> int | float:
    """A number as JSON writes it: an int when whole."""
    return int(value) if float(value).is_integer() else float(value)
