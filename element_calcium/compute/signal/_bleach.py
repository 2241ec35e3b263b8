"""astroCAST's Delta bleach correction: each pixel less its running-minimum background.

astroCAST's ``Delta.run(window, method)`` estimates each pixel's slowly changing background (bleaching) with a
minimum filter of ``window`` frames over time. The background at frame t is the larger of two minima, over the
``window`` frames ending at t and over the ``window`` frames just after it (the trace's first and last values
repeated beyond its ends): under an event shorter than the window it is the higher of the baselines just
before and just after the event, and a step of the baseline is followed at once rather than smeared over the
window. ``method`` then returns the background itself, the difference (dF) or the relative difference (dF/F)
from it.

`delta_bleach_correction_chunks` computes the same result over a recording read chunk by chunk: frame t depends on
frames t - window + 1 .. t + window only, so each chunk is corrected with ``window`` frames of its neighbours on
each side and equals the whole-movie result exactly; memory is bounded by the chunk plus those halos.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from element_calcium.compute import _backend, _checks
from element_calcium.compute.frames import ReadFrames, checked_frames

METHODS = ("background", "dF", "dFF")
_ELEMENTS_PER_BLOCK = 2**24  # pixels x padded frames filtered at once: 64 MiB of float32


def _background(xp, block, window: int):
    """(T, P) running-minimum background of (T, P) float32 pixel traces."""
    ndimage = _backend.ndimage_namespace(xp)
    n_frames = block.shape[0]
    padded = xp.concatenate([xp.repeat(block[:1], window, axis=0), block, xp.repeat(block[-1:], window, axis=0)])
    # minimum_filter1d of size w covers padded[i - w // 2 .. i - w // 2 + w - 1]: shift to windows starting at j.
    starting_at = ndimage.minimum_filter1d(padded, size=window, axis=0, mode="nearest")[window // 2 :]
    ending_at_t = starting_at[1 : n_frames + 1]  # padded window j = t + 1 is frames t - window + 1 .. t
    just_after_t = starting_at[window + 1 : window + 1 + n_frames]  # frames t + 1 .. t + window
    return xp.maximum(ending_at_t, just_after_t)


def delta_bleach_correction(
    movie,
    *,
    window: int,
    method: str = "dF",
    overwrite_first_frame: bool = True,
    device: str = "auto",
) -> np.ndarray:
    """A movie corrected for bleaching by astroCAST's Delta rule (``Delta.run``).

    Args:
        movie: (T, H, W) real pixels, any units; T >= 2 when ``overwrite_first_frame``.
        window: frames of each running minimum (astroCAST's ``window``).
        method: "background" (the background B itself), "dF" (movie - B) or "dFF" ((movie - B) / B, NaN where
            B is 0).
        overwrite_first_frame: replace frame 0 of the result by frame 1, as astroCAST does by default (the
            first frame of many acquisitions is brighter).
        device: "auto", "cpu" or "cuda".

    Returns:
        float32 (T, H, W) NumPy array, in the movie's units ("background", "dF") or unitless ("dFF").
    """
    frames = _checks.frames(np.asarray(movie), "movie")
    window = _checks.integer(window, "window", unit="frames")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(overwrite_first_frame, bool):
        raise ValueError(f"overwrite_first_frame must be True or False, got {overwrite_first_frame!r}")
    n_frames, height, width = frames.shape
    if overwrite_first_frame and n_frames < 2:
        raise ValueError("movie must have at least 2 frames when overwrite_first_frame is True")
    xp = _backend.get_xp(device)
    pixels = frames.reshape(n_frames, height * width)
    result = np.empty((n_frames, height * width), dtype=np.float32)
    step = max(1, _ELEMENTS_PER_BLOCK // (n_frames + 2 * window))
    for first in range(0, pixels.shape[1], step):
        block = xp.asarray(_backend.to_device(pixels[:, first : first + step], device), dtype=xp.float32)
        background = _background(xp, block, window)
        if method == "background":
            corrected = background
        elif method == "dF":
            corrected = block - background
        else:
            nonzero = background != 0
            corrected = xp.where(nonzero, (block - background) / xp.where(nonzero, background, 1), xp.nan)
        result[:, first : first + step] = _backend.to_numpy(corrected)
    result = result.reshape(n_frames, height, width)
    if overwrite_first_frame:
        result[0] = result[1]
    return result


def delta_bleach_correction_chunks(
    read_frames: ReadFrames,
    n_frames: int,
    *,
    window: int,
    method: str = "dF",
    overwrite_first_frame: bool = True,
    chunk_frames: int = 250,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """`delta_bleach_correction` of a recording read chunk by chunk, equal to the whole-movie result.

    Args:
        read_frames: ``read_frames(start, stop)`` returns frames ``start <= t < stop`` as (stop - start, H, W).
        n_frames: frames T of the recording (>= 2 when ``overwrite_first_frame``).
        window, method, overwrite_first_frame, device: as `delta_bleach_correction`.
        chunk_frames: frames handed out at a time; each read spans ``chunk_frames + 2 * window`` frames at most.
        progress: called as ``progress(done, n_frames)`` after each chunk.

    Yields:
        ``(start, corrected)``: consecutive float32 (n, H, W) NumPy chunks of frames start..start + n, in order
        and covering the recording.
    """
    n_frames = _checks.integer(n_frames, "n_frames")
    chunk_frames = _checks.integer(chunk_frames, "chunk_frames")
    window = _checks.integer(window, "window", unit="frames")
    if n_frames < (2 if overwrite_first_frame else 1):
        raise ValueError(f"n_frames must be >= 2 when overwrite_first_frame is True, got {n_frames}")
    frame_shape = None
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        # frame 1 (copied to frame 0) needs frames up to 1 + window
        first, last = max(0, start - window), min(n_frames, max(stop, 2) + window)
        block = checked_frames(read_frames, first, last, frame_shape)
        frame_shape = tuple(block.shape[1:])
        corrected = delta_bleach_correction(block, window=window, method=method, overwrite_first_frame=False,
                                            device=device)
        if overwrite_first_frame and first == 0:
            corrected[0] = corrected[1]
        yield start, corrected[start - first : stop - first]
        if progress is not None:
            progress(stop, n_frames)
