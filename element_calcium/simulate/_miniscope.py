"""Writers of Miniscope DAQ V4 and V3 recordings: AVI files, timestamps and metadata."""

from __future__ import annotations

import itertools
import json
import math
import numbers
import os
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from element_calcium.simulate._checks import check_bool, check_int, check_name, check_number
from element_calcium.simulate._files import (
    START,
    Source,
    WrittenRecording,
    atomic,
    device_clock,
    empty_folder,
    json_number,
    recording,
    source_of,
    write_text,
)

_AVI_HEADER_FPS = 60.0  # nominal rate in every AVI header; acquisition software writes one that is not the truth
_CODECS = ("FFV1", "GREY")
_GAINS = ("Low", "Medium", "High")


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
    source = source_of(movie, fps)
    _check_avi_movie(source)
    frames_per_file = check_int("frames_per_file", frames_per_file, 1)
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {_CODECS}, got {codec!r}")
    check_name("device_folder", device_folder)
    keep = _kept(drop_frames, source.n_frames)
    if isinstance(gain, str) and gain not in _GAINS:
        raise ValueError(f"gain must be one of {_GAINS} or a number, got {gain!r}")
    if not isinstance(gain, str):
        check_number("gain", gain, 0.0)
    check_number("led_power", led_power, 0.0, 100.0)
    for name, value in (
        ("include_roi", include_roi),
        ("session_metadata", session_metadata),
        ("head_orientation", head_orientation),
    ):
        check_bool(name, value)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    ms = device_clock(rng, source.fps, keep, resolution_ms=1.0).astype(np.int64)
    n = len(ms)
    folder = empty_folder(folder)
    device = folder / device_folder
    device.mkdir()
    files = [device / f"{i}.avi" for i in range(math.ceil(n / frames_per_file))]
    _write_avis(_kept_frames(source, keep), files, frames_per_file, codec, (source.height, source.width))
    metadata = {
        "deviceName": "Miniscope",
        "deviceType": "Miniscope_V4_BNO",
        "deviceID": 0,
        "frameRate": f"{round(source.fps)}FPS",
        "gain": gain if isinstance(gain, str) else json_number(gain),
        "led0": json_number(led_power),
        "ewl": 0,
        "compression": codec,
        "framesPerFile": frames_per_file,
    }
    if include_roi:
        metadata["ROI"] = {"height": source.height, "width": source.width, "leftEdge": 0, "topEdge": 0}
    write_text(device / "metaData.json", json.dumps(metadata, indent=4))
    rows = "".join(f"{i},{t},0\n" for i, t in enumerate(ms))
    write_text(device / "timeStamps.csv", "Frame Number,Time Stamp (ms),Buffer Index\n" + rows)
    if head_orientation:
        quaternions = _head_quaternions(rng, n)
        rows = "".join(f"{t},{qw:.6f},{qx:.6f},{qy:.6f},{qz:.6f}\n" for t, (qw, qx, qy, qz) in zip(ms, quaternions))
        write_text(device / "headOrientation.csv", "Time Stamp (ms),qw,qx,qy,qz\n" + rows)
    if session_metadata:
        session = {
            "researcherName": "",
            "experimentName": "simulated",
            "animalName": "sim",
            "baseDirectory": folder.resolve().as_posix(),
            "cameras": [],
            "miniscopes": [device_folder],
            "recordingStartTime": {
                "year": START.year,
                "month": START.month,
                "day": START.day,
                "hour": START.hour,
                "minute": START.minute,
                "second": START.second,
                "msec": START.microsecond // 1000,
                "msecSinceEpoch": round(START.timestamp() * 1000),
            },
        }
        write_text(folder / "metaData.json", json.dumps(session, indent=4))
    return recording(folder, files, source, ms / 1000.0, keep)


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
    source = source_of(movie, fps)
    _check_avi_movie(source)
    frames_per_file = check_int("frames_per_file", frames_per_file, 1)
    keep = _kept(drop_frames, source.n_frames)
    check_bool("other_camera", other_camera)
    rng = np.random.default_rng(check_int("seed", seed, 0))
    scope_cam = int(rng.integers(2)) if other_camera else 0
    ms = device_clock(rng, source.fps, keep, resolution_ms=1.0).astype(np.int64)
    n = len(ms)
    folder = empty_folder(folder)
    files = [folder / f"msCam{i + 1}.avi" for i in range(math.ceil(n / frames_per_file))]
    _write_avis(_kept_frames(source, keep), files, frames_per_file, "GREY", (source.height, source.width))
    cameras = [(scope_cam, ms)]
    if other_camera:
        behaviour_fps = 1.5 * source.fps
        n_behaviour = math.ceil(source.n_frames * 1.5)
        offset = rng.uniform(0.2, 0.8) * 1000.0 / behaviour_fps
        behaviour_ms = device_clock(rng, behaviour_fps, np.ones(n_behaviour, dtype=bool), resolution_ms=1.0)
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
    write_text(folder / "timestamp.dat", "camNum\tframeNum\tsysClock\tbuffer\n" + text)
    return recording(folder, files, source, ms / 1000.0, keep)


def _write_avis(frames: Iterator[np.ndarray], paths, per_file: int, codec: str, size: tuple[int, int]) -> None:
    """Write consecutive runs of `per_file` grey uint8 frames into `paths`, each under a temporary name."""
    height, width = size
    for path in paths:
        with atomic(path) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), _AVI_HEADER_FPS, (width, height), False)
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {codec} AVI files ({path})")
            try:
                for frame in itertools.islice(frames, per_file):
                    writer.write(frame)
            finally:
                writer.release()


def _check_avi_movie(source: Source) -> None:
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


def _kept_frames(source: Source, keep: np.ndarray) -> Iterator[np.ndarray]:
    return (frame for frame, kept in zip(source.frames(), keep) if kept)


def _head_quaternions(rng, n: int) -> np.ndarray:
    """(n, 4) unit quaternions (w, x, y, z) of a head turning smoothly by up to about 30 degrees."""
    steps = rng.standard_normal((n, 3)) * 0.02
    rotation = 0.5 * np.tanh(np.cumsum(steps, axis=0))  # rotation vector, rad
    angle = np.linalg.norm(rotation, axis=1, keepdims=True)
    axis = np.divide(rotation, angle, out=np.zeros_like(rotation), where=angle > 0)
    return np.hstack([np.cos(angle / 2), np.sin(angle / 2) * axis])
