"""Writer of Inscopix ``.isxd`` movies in the layout isxcore writes (frames, JSON header, NUL, uint64 length)."""

from __future__ import annotations

import fractions
import json
import os
from collections.abc import Iterable

import numpy as np

from element_calcium.simulate._checks import check_bool, check_int, check_number
from element_calcium.simulate._files import START, WrittenRecording, atomic, empty_folder, source_of

_DATA_TYPES = {np.dtype(np.uint16): 0, np.dtype(np.float32): 1, np.dtype(np.uint8): 2}
_HEADER_FOOTER_VALUES = 2560  # uint16 values of each frame's sensor header, and of its footer
_SENSOR_HEADER_MARK = 0x0A0  # first value of an nVista sensor header


def write_inscopix(
    folder: str | os.PathLike,
    movie,
    *,
    fps: float | None = None,
    drop_frames: Iterable[int] = (),
    frame_header_footer: bool = False,
    pixel_size_um: float = 3.0,
) -> WrittenRecording:
    """Write ``<folder>/movie.isxd`` as Inscopix's isxcore lays a movie out.

    The frames that are not dropped, little-endian, C order; with `frame_header_footer` each wrapped in a
    2560-value uint16 header (its first value 0x0A0, as the nVista sensor writes it; the rest 0) and a footer
    of 2560 zeros, as nVista acquisition files are. Then the JSON header (sorted keys, 4-space indent, as isxcore
    writes it: ``type`` 0, ``dataType``, ``fileVersion`` 1, ``hasFrameHeaderFooter``, ``producer``,
    ``spacingInfo`` with ``numPixels`` and ``pixelSize``, ``timingInfo`` with ``numTimes`` = all frames,
    ``period`` = 1/fps as a ratio, ``start`` = the simulated start time, ``dropped``), one NUL byte, and the
    JSON's length as a little-endian uint64.

    Args:
        folder: folder to create; must be empty or absent.
        movie: a SimulatedMovie or a (T, H, W) array of uint16, float32 or uint8.
        fps: frame rate; defaults to movie.fps (required for arrays).
        drop_frames: frame indices recorded as dropped: absent from the file, listed in ``timingInfo.dropped``.
        frame_header_footer: wrap frames in sensor headers and footers (uint16 only).
        pixel_size_um: pixel size written in ``spacingInfo.pixelSize``.

    Returns:
        What a reader must report: the kept frames, timestamps ``kept index / fps`` from the first kept frame.
    """
    source = source_of(movie, fps)
    if source.dtype not in _DATA_TYPES:
        raise ValueError(f"movie must be uint16, float32 or uint8 for .isxd, got {source.dtype}")
    check_bool("frame_header_footer", frame_header_footer)
    if frame_header_footer and source.dtype != np.uint16:
        raise ValueError(f"frame_header_footer needs uint16 frames, got {source.dtype}")
    pixel_size_um = check_number("pixel_size_um", pixel_size_um, 0.0, strict=True)
    dropped = sorted({check_int("drop_frames", int(i), 0, source.n_frames - 1) for i in drop_frames})
    keep = np.ones(source.n_frames, dtype=bool)
    keep[dropped] = False
    if not keep.any():
        raise ValueError("drop_frames must leave at least one frame")
    period = fractions.Fraction(1.0 / source.fps).limit_denominator(1_000_000)
    pixel = fractions.Fraction(pixel_size_um).limit_denominator(1000)
    header = np.zeros(_HEADER_FOOTER_VALUES, dtype="<u2")
    header[0] = _SENSOR_HEADER_MARK
    footer = np.zeros(_HEADER_FOOTER_VALUES, dtype="<u2")
    content = {
        "type": 0,
        "dataType": _DATA_TYPES[source.dtype],
        "fileVersion": 1,
        "hasFrameHeaderFooter": frame_header_footer,
        "extraProperties": None,
        "producer": {"name": "element_calcium.simulate", "version": [1, 0, 0]},
        "spacingInfo": {
            "numPixels": {"x": source.width, "y": source.height},
            "pixelSize": {axis: {"num": pixel.numerator, "den": pixel.denominator} for axis in ("x", "y")},
            "topLeft": {axis: {"num": 0, "den": 1} for axis in ("x", "y")},
        },
        "timingInfo": {
            "numTimes": source.n_frames,
            "period": {"num": period.numerator, "den": period.denominator},
            "start": {"secsSinceEpoch": {"num": int(START.timestamp() * 1000), "den": 1000}, "utcOffset": 0},
            "dropped": dropped,
            "cropped": [],
            "blank": [],
        },
    }
    text = json.dumps(content, sort_keys=True, indent=4).encode("utf-8")
    folder = empty_folder(folder)
    path = folder / "movie.isxd"
    pixel_type = source.dtype.newbyteorder("<")
    with atomic(path) as tmp, tmp.open("wb") as handle:
        for index, frame in enumerate(source.frames()):
            if not keep[index]:
                continue
            if frame_header_footer:
                handle.write(header.tobytes())
            handle.write(np.ascontiguousarray(frame, dtype=pixel_type).tobytes())
            if frame_header_footer:
                handle.write(footer.tobytes())
        handle.write(text + b"\0" + len(text).to_bytes(8, "little"))
    kept = np.flatnonzero(keep)
    return WrittenRecording(
        path=folder,
        files=(path,),
        nframes=len(kept),
        height=source.height,
        width=source.width,
        fps=source.fps,
        timestamps=(kept - kept[0]) * float(period),
        dropped_frames=len(dropped),
    )
