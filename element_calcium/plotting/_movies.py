"""Movies of `element_calcium.plotting`: MP4 writing and the four-panel review frames (minian's 2 x 2 layout).

Both stream: a movie is read one chunk of frames at a time, so memory stays bounded by the chunk size, never
by the recording length. A movie is either array-like, (T, H, W) with ``shape`` and slicing (a NumPy
array, an h5py dataset, a reader's lazy ``Movie``), read ``chunk_frames`` frames at a time, or an iterable of
(n, H, W) chunks (a generator, ``movie.chunks(n)``), consumed once.

Display limits are fixed for the whole movie, so brightness does not flicker: given, or taken from
percentiles of a sample of frames (up to 50 frames spread over an array-like movie; the first chunk of an
iterable, which cannot be rewound).
"""

from __future__ import annotations

import itertools
import os
import pathlib
import secrets
from collections.abc import Iterator
from numbers import Integral, Real

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import sparse

from element_calcium.plotting._common import check_array, check_fps, robust_limits

_CODEC = "libx264"
_PRESET = "veryfast"
_SAMPLE_FRAMES = 50  # frames sampled for display limits
_MOVIE_PERCENTILES = (0.5, 99.9)  # raw and motion-corrected movies: keep bright cells unsaturated
_RESIDUAL_PERCENTILES = (0.5, 99.5)
_RECONSTRUCTED_PERCENTILE = 99.9  # upper limit of A.C (its lower limit is 0)


# ---------------------------------------------------------------- chunked input


def _is_array(movie) -> bool:
    return hasattr(movie, "shape") and hasattr(movie, "__getitem__")


def _chunks(name: str, movie, chunk_frames: int) -> Iterator[np.ndarray]:
    """Non-empty (n, H, W) chunks of `movie`, all of the first chunk's frame size; checked as they come."""
    if _is_array(movie):
        if len(movie.shape) != 3:
            raise ValueError(f"{name} must be (T, H, W) or an iterable of (n, H, W) chunks, got shape {movie.shape}")
        blocks = (movie[start : start + chunk_frames] for start in range(0, movie.shape[0], chunk_frames))
    else:
        try:
            blocks = iter(movie)
        except TypeError as error:
            raise ValueError(f"{name} must be a (T, H, W) array or an iterable of (n, H, W) chunks, "
                             f"got {type(movie).__name__}") from error
    return _checked(name, blocks)


def _checked(name: str, blocks) -> Iterator[np.ndarray]:
    size = None
    start = 0
    for block in blocks:
        block = np.asarray(block)
        if block.ndim != 3 or block.dtype.kind not in "biuf" or (size is not None and block.shape[1:] != size):
            expected = "(n, H, W) numbers" if size is None else f"(n, {size[0]}, {size[1]})"
            raise ValueError(f"{name}: chunk at frame {start} must be {expected}, got {block.shape} {block.dtype}")
        size = block.shape[1:]
        start += len(block)
        if len(block):
            yield block


def _peek(name: str, chunks: Iterator[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """The first chunk, and an iterator over all chunks including it."""
    first = next(chunks, None)
    if first is None:
        raise ValueError(f"{name} has no frames")
    return first, itertools.chain([first], chunks)


def _spread(length: int) -> np.ndarray:
    """Up to `_SAMPLE_FRAMES` frame indices spread evenly over 0..length-1."""
    return np.unique(np.linspace(0, length - 1, _SAMPLE_FRAMES).astype(np.int64))


def _sample(movie, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and float32 frames to take display limits from: spread over an array-like movie, else
    over its first chunk."""
    if _is_array(movie):
        picks = _spread(movie.shape[0])
        return picks, np.stack([np.asarray(movie[int(t)], dtype=np.float32) for t in picks])
    picks = _spread(len(first))
    return picks, first[picks].astype(np.float32)


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_limits(name: str, limits) -> tuple[float, float] | None:
    if limits is None:
        return None
    try:
        low, high = (float(v) for v in limits)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {limits!r}") from error
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"{name} must be finite with high > low, got {limits!r}")
    return low, high


def _to_uint8(frames: np.ndarray, limits: tuple[float, float] | None) -> np.ndarray:
    """`frames` as uint8: `limits` (low, high) mapped to 0..255 and clipped; None clips to 0..255 only."""
    if limits is None:
        return frames if frames.dtype == np.uint8 else np.rint(np.clip(frames, 0, 255)).astype(np.uint8)
    low, high = limits
    scaled = (frames.astype(np.float32) - np.float32(low)) * np.float32(255.0 / (high - low))
    return np.rint(np.clip(scaled, 0, 255)).astype(np.uint8)


def _even(frames: np.ndarray) -> np.ndarray:
    """`frames` padded (edge pixels repeated) to an even height and width, as H.264 with 4:2:0 needs."""
    pad_y, pad_x = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_y or pad_x:
        frames = np.pad(frames, ((0, 0), (0, pad_y), (0, pad_x)), mode="edge")
    return np.ascontiguousarray(frames)


# ---------------------------------------------------------------- MP4


def write_video(movie, path, *, fps, norm: bool = True, limits=None, chunk_frames: int = 100,
                crf: int = 18) -> pathlib.Path:
    """Write a grey-level movie as an H.264 MP4 (imageio-ffmpeg's own ffmpeg), streaming chunk by chunk.

    The file is written under a hidden temporary name in the same folder and renamed to `path` only when
    complete; on any error the temporary file is removed and `path` is left as it was. Frames of odd height
    or width are padded by one row / column (edge pixels repeated): H.264 4:2:0 needs even sizes.

    Args:
        movie: (T, H, W) array-like, or an iterable of (n, H, W) chunks (see the module notes).
        path: the .mp4 file to write; its folder is created if needed.
        fps: frame rate of the video, frames per second.
        norm: True maps `limits` to grey levels 0..255 (fixed for the whole movie); False writes values as
            they are, clipped to 0..255 (for frames already uint8, e.g. `four_panel_frames`).
        limits: (low, high) in movie units for ``norm=True``; None takes the 0.5th and 99.9th percentiles
            of a sample of frames.
        chunk_frames: frames read at a time from an array-like movie.
        crf: x264 constant rate factor, 0 (lossless) .. 51; 18 looks lossless.

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() != ".mp4":
        raise ValueError(f"path must name an .mp4 file, got {path}")
    fps = check_fps(fps)
    chunk_frames = _check_positive_int("chunk_frames", chunk_frames)
    if isinstance(crf, bool) or not isinstance(crf, Integral) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an integer in 0..51, got {crf!r}")
    limits = _check_limits("limits", limits)
    first, chunks = _peek("movie", _chunks("movie", movie, chunk_frames))
    if norm and limits is None:
        limits = robust_limits(_sample(movie, first)[1], *_MOVIE_PERCENTILES)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.partial-{secrets.token_hex(8)}.mp4")
    try:
        _encode(temp, chunks, first.shape[1:], fps, limits if norm else None, crf)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def _encode(temp: pathlib.Path, chunks, size, fps: float, limits, crf: int) -> None:
    height, width = size[0] + size[0] % 2, size[1] + size[1] % 2
    writer = imageio_ffmpeg.write_frames(
        str(temp), (int(width), int(height)), pix_fmt_in="gray", fps=fps, codec=_CODEC, quality=None,
        macro_block_size=1, ffmpeg_log_level="error", output_params=["-crf", str(crf), "-preset", _PRESET])
    try:
        writer.send(None)
        for chunk in chunks:
            for frame in _even(_to_uint8(chunk, limits)):
                writer.send(frame)
    finally:
        writer.close()


# ---------------------------------------------------------------- four-panel review frames


def four_panel_frames(raw, corrected, footprints, calcium, *, background=None, scale: float | None = None,
                      gain: float = 1.0, fps: float | None = None, labels: bool = True,
                      min_panel_height: int = 240, movie_limits=None, reconstructed_limits=None,
                      residual_limits=None, chunk_frames: int = 100) -> Iterator[np.ndarray]:
    """Review frames in minian's 2 x 2 layout (``generate_videos``): raw | corrected over residual | A.C.

    Top left the raw movie, top right the motion-corrected movie, bottom left the residual ``corrected -
    scale * A.C - background``, bottom right the reconstruction ``scale * A.C``. As in minian, the scale is
    fitted by least squares so that the reconstruction matches the corrected movie: over frames spread
    across the recording (see the module notes), with a given background the fit is of ``corrected -
    background`` by ``scale * A.C``; without one each pixel also gets its own constant (the fit uses the
    frames less their per-pixel means), so a static background does not bias it. A reconstruction that is
    zero on those frames gets scale 1. Each panel is mapped to 0..255 with limits fixed for the whole movie:
    raw and corrected share theirs; the reconstruction goes from 0 to the 99.9th percentile of scale * A.C;
    the residual has its own robust range. Limits not given come from the sampled frames.

    Each panel is enlarged by the smallest whole factor k that makes it at least ``min_panel_height``
    pixels high (nearest neighbour, so pixels stay sharp). With ``labels`` each panel is named in its top
    left corner and the raw panel shows the time (``fps`` given) or frame number in its bottom left corner.

    Args:
        raw: (T, H, W) array-like or iterable of (n, H, W) chunks: the movie as acquired.
        corrected: the motion-corrected movie, same size; its chunks need not match raw's.
        footprints: (H * W, N) spatial footprints A (SciPy sparse or dense), pixel row ``y * W + x``.
        calcium: (N, T) temporal components C.
        background: (H, W) background to subtract for the residual, movie units; None takes the per-pixel
            median of ``corrected - scale * A.C`` over the sampled frames.
        scale: factor applied to A.C; None fits it by least squares (above).
        gain: brightness factor of every panel, > 0 (minian's ``gain``): the upper display limit is brought
            down to low + (high - low) / gain (the residual's limits are divided by gain, so zero keeps its
            grey level); 1 keeps the limits.
        fps: frames per second for the time stamp (seconds from the first frame); None shows frame numbers.
        labels: draw the panel names and the time stamp.
        min_panel_height: pixels; 1 keeps the movie's own size.
        movie_limits, reconstructed_limits, residual_limits: (low, high) display limits of the panels.
        chunk_frames: frames read at a time from an array-like movie.

    Returns:
        A generator of (n, 2 k H, 2 k W) uint8 chunks, ready for ``write_video(..., norm=False)``. It raises
        ValueError if the movies' frame counts differ from each other or from T.
    """
    chunk_frames = _check_positive_int("chunk_frames", chunk_frames)
    min_panel_height = _check_positive_int("min_panel_height", min_panel_height)
    calcium = check_array("calcium", calcium, "(N, T)", ndim=2)
    scale = None if scale is None else _check_scale(scale)
    gain = _check_gain(gain)
    fps = None if fps is None else check_fps(fps)
    limits = [_check_limits(name, value) for name, value in (
        ("movie_limits", movie_limits), ("reconstructed_limits", reconstructed_limits),
        ("residual_limits", residual_limits))]
    first_raw, raw_chunks = _peek("raw", _chunks("raw", raw, chunk_frames))
    first_corrected, corrected_chunks = _peek("corrected", _chunks("corrected", corrected, chunk_frames))
    if first_raw.shape[1:] != first_corrected.shape[1:]:
        raise ValueError(f"raw frames are {first_raw.shape[1:]} but corrected frames are {first_corrected.shape[1:]}")
    size = first_raw.shape[1:]
    model = _Model(_check_footprints(footprints, size, calcium.shape[0]), calcium.astype(np.float32), size, 1.0)
    picks, corrected_sample = _sample(corrected, first_corrected)
    given_background = None if background is None else _check_background(background, size)
    if scale is None:
        scale = _least_squares_scale(corrected_sample, model.frames(picks), given_background)
    model.scale = scale
    residual_sample = corrected_sample - model.frames(picks)
    background = np.median(residual_sample, axis=0) if given_background is None else given_background
    if limits[0] is None:
        both = np.concatenate([_sample(raw, first_raw)[1].ravel(), corrected_sample.ravel()])
        limits[0] = robust_limits(both, *_MOVIE_PERCENTILES)
    if limits[1] is None:
        limits[1] = model.limits()
    if limits[2] is None:
        limits[2] = robust_limits(residual_sample - background, *_RESIDUAL_PERCENTILES)
    shown = [_brighter(limits[0], gain), _brighter(limits[1], gain), (limits[2][0] / gain, limits[2][1] / gain)]
    factor = -(-min_panel_height // size[0])
    stamp = _Stamp(size, factor, fps) if labels else None
    return _panels(_aligned(raw_chunks, corrected_chunks), model, background, shown, factor, stamp)


def _check_gain(gain) -> float:
    if isinstance(gain, bool) or not isinstance(gain, Real) or not np.isfinite(gain) or gain <= 0:
        raise ValueError(f"gain must be a finite number > 0, got {gain!r}")
    return float(gain)


def _brighter(limits: tuple[float, float], gain: float) -> tuple[float, float]:
    low, high = limits
    return low, low + (high - low) / gain


def _least_squares_scale(corrected: np.ndarray, reconstructed: np.ndarray, background) -> float:
    """The s minimising |corrected - background - s * reconstructed|^2 over (n, H, W) frames; without a
    background, each pixel's mean over the frames is removed from both first. 1 where reconstructed is flat."""
    if background is None:
        target = corrected - corrected.mean(axis=0)
        model = reconstructed - reconstructed.mean(axis=0)
    else:
        target, model = corrected - background, reconstructed
    power = float(np.sum(model.astype(np.float64) ** 2))
    return float(np.sum(target.astype(np.float64) * model) / power) if power > 0 else 1.0


def _check_background(background, size) -> np.ndarray:
    """The given (H, W) background as float32."""
    background = check_array("background", background, f"({size[0]}, {size[1]})", ndim=2)
    if background.shape != size:
        raise ValueError(f"background must have shape {size}, got {background.shape}")
    return background.astype(np.float32)


class _Stamp:
    """Panel names and the time stamp, drawn on 2 x 2 frames of (factor H, factor W) panels."""

    NAMES = ("raw", "motion-corrected", "residual", "reconstruction A.C")

    def __init__(self, size, factor: int, fps: float | None):
        self.height, self.width = size[0] * factor, size[1] * factor
        self.fps = fps
        self.font = ImageFont.load_default(size=max(10, self.height // 14))
        self.margin = max(2, self.height // 60)

    def draw(self, frame: np.ndarray, index: int) -> np.ndarray:
        image = Image.fromarray(frame)
        pen = ImageDraw.Draw(image)
        corners = ((0, 0), (0, self.width), (self.height, 0), (self.height, self.width))
        for name, (top, left) in zip(self.NAMES, corners):
            self._text(pen, (left + self.margin, top + self.margin), name, "la")
        when = f"{index / self.fps:.2f} s  frame {index}" if self.fps else f"frame {index}"
        self._text(pen, (self.margin, self.height - self.margin), when, "ld")
        return np.asarray(image)

    def _text(self, pen, position, text: str, anchor: str) -> None:
        pen.text(position, text, fill=255, font=self.font, anchor=anchor, stroke_width=max(1, self.margin // 2),
                 stroke_fill=0)


def _check_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, Real) or not np.isfinite(scale):
        raise ValueError(f"scale must be a finite number, got {scale!r}")
    return float(scale)


def _check_footprints(footprints, size, n_cells: int) -> sparse.csr_array:
    try:
        matrix = sparse.csr_array(footprints, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ValueError(f"footprints must be an (H * W, N) matrix, got {type(footprints).__name__}") from error
    expected = (size[0] * size[1], n_cells)
    if matrix.shape != expected:
        raise ValueError(f"footprints must have shape (H * W, N) = {expected}, got {matrix.shape}")
    return matrix


class _Model:
    """The reconstruction scale * A.C of any frames, computed on demand from the footprints and calcium."""

    def __init__(self, footprints: sparse.csr_array, calcium: np.ndarray, size, scale: float):
        self.footprints = footprints
        self.calcium = calcium
        self.size = size
        self.scale = scale

    @property
    def n_frames(self) -> int:
        return self.calcium.shape[1]

    def frames(self, picks: np.ndarray) -> np.ndarray:
        """(len(picks), H, W) reconstruction of frames `picks`."""
        if picks.size and picks.max() >= self.n_frames:
            raise ValueError(f"calcium has T = {self.n_frames} frames but the movies are longer")
        product = self.footprints @ self.calcium[:, picks]
        return (np.float32(self.scale) * product.T).reshape(len(picks), *self.size)

    def limits(self) -> tuple[float, float]:
        high = float(np.percentile(self.frames(_spread(self.n_frames)), _RECONSTRUCTED_PERCENTILE))
        return 0.0, high if high > 0 else 1.0


def _aligned(first: Iterator[np.ndarray], second: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pairs of equally long pieces of two chunk streams of the same movie length."""
    left = right = np.empty((0,))
    while True:
        left = next(first, None) if left is not None and len(left) == 0 else left
        right = next(second, None) if right is not None and len(right) == 0 else right
        if left is None or right is None:
            if left is not None or right is not None:
                raise ValueError("raw and corrected have different numbers of frames")
            return
        count = min(len(left), len(right))
        yield left[:count], right[:count]
        left, right = left[count:], right[count:]


def _panels(pairs, model: _Model, background: np.ndarray, limits, factor: int,
            stamp: _Stamp | None) -> Iterator[np.ndarray]:
    movie_limits, reconstructed_limits, residual_limits = limits
    start = 0
    for raw, corrected in pairs:
        reconstructed = model.frames(np.arange(start, start + len(raw)))
        residual = corrected - reconstructed - background
        top = np.concatenate([_to_uint8(raw, movie_limits), _to_uint8(corrected, movie_limits)], axis=2)
        bottom = np.concatenate([_to_uint8(residual, residual_limits),
                                 _to_uint8(reconstructed, reconstructed_limits)], axis=2)
        frames = np.concatenate([top, bottom], axis=1).repeat(factor, axis=1).repeat(factor, axis=2)
        if stamp is not None:
            frames = np.stack([stamp.draw(frame, start + n) for n, frame in enumerate(frames)])
        yield frames
        start += len(raw)
    if start != model.n_frames:
        raise ValueError(f"the movies have {start} frames but calcium has T = {model.n_frames}")
