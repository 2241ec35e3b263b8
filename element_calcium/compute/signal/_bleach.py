"""astroCAST's Delta bleach correction: each pixel less its running-minimum background.

astroCAST's ``Delta.run(window, method)`` estimates each pixel's slowly changing background (bleaching) with a
minimum filter of ``window`` frames over time. The background at frame t is the larger of two minima, over the
``window`` frames ending at t and over the ``window`` frames just after it (the trace's first and last values
repeated beyond its ends): under an event shorter than the window it is the higher of the baselines just
before and just after the event, and a step of the baseline is followed at once rather than smeared over the
window. ``method`` then returns the background itself, the difference (dF) or the relative difference (dF/F)
from it.
"""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _backend, _checks

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
