"""CalSciPy's reorganisation helpers: binning with any reduction, merging factorised chunks, event waveforms."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from numbers import Integral

import numpy as np

from element_calcium.compute import _checks

REDUCTIONS: dict[str, Callable] = {
    "mean": np.mean,
    "median": np.median,
    "sum": np.sum,
    "std": partial(np.std, ddof=1),  # pandas' (and so CalSciPy's) sample standard deviation
    "min": np.min,
    "max": np.max,
}


def bin_data(data, *, bin_length: int, reduction: str | Callable = "mean", axis: int = 0) -> np.ndarray:
    """Consecutive samples grouped into bins of ``bin_length`` and reduced (CalSciPy's ``bin_data``).

    Args:
        data: real array; ``axis`` holds the samples (CalSciPy: rows are samples, columns are cells).
        bin_length: samples per bin; the last bin holds the remainder when the length is not a multiple.
        reduction: one of "mean", "median", "sum", "std" (sample, ddof=1), "min", "max", or any function
            with NumPy's reduction signature ``f(array, axis=k)`` that removes axis k.
        axis: the sample axis of ``data``.

    Returns:
        float32 array of the shape of ``data`` with ``axis`` of length ceil(n_samples / bin_length): entry b
        is the reduction over samples b * bin_length .. (b + 1) * bin_length - 1.
    """
    values = np.asarray(data)
    if values.ndim == 0 or values.dtype.kind not in "biuf":
        raise ValueError(f"data must be a real array of at least one dimension, got {values.dtype} {values.shape}")
    if isinstance(axis, bool) or not isinstance(axis, Integral) or not -values.ndim <= axis < values.ndim:
        raise ValueError(f"axis must name one of the {values.ndim} axes of data, got {axis!r}")
    bin_length = _checks.integer(bin_length, "bin_length", unit="samples")
    if isinstance(reduction, str):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {tuple(REDUCTIONS)} or a function, got {reduction!r}")
        reduce = REDUCTIONS[reduction]
    elif callable(reduction):
        reduce = reduction
    else:
        raise ValueError(f"reduction must be one of {tuple(REDUCTIONS)} or a function, got {reduction!r}")
    samples = np.moveaxis(values, axis, 0)
    n_samples = samples.shape[0]
    n_full = n_samples // bin_length
    pieces = []
    try:
        if n_full:
            blocks = samples[: n_full * bin_length].reshape(n_full, bin_length, *samples.shape[1:])
            pieces.append(np.asarray(reduce(blocks, axis=1)))
        if n_samples > n_full * bin_length:
            pieces.append(np.asarray(reduce(samples[n_full * bin_length :], axis=0))[np.newaxis])
    except TypeError as error:
        raise ValueError(f"reduction must accept an array and an axis keyword: {error}") from error
    expected = samples.shape[1:]
    for piece in pieces:
        if piece.shape[1:] != expected:
            raise ValueError(f"reduction must remove the sample axis only: got shape {piece.shape[1:]}, "
                             f"expected {expected}")
    binned = np.concatenate(pieces, axis=0) if pieces else np.empty((0, *expected))
    return np.moveaxis(binned, 0, axis).astype(np.float32)


def merge_factorized_matrices(factorized_traces, *, components: int | Sequence[int] = 0) -> np.ndarray:
    """Each cell's chunks of a factorised trace joined over time (CalSciPy's ``merge_factorized_matrices``).

    Args:
        factorized_traces: (N cells, K chunks) nested sequence or object array; element ``[n][k]`` is a
            (n_components, frames_k) factorisation of cell n's trace over chunk k (trial, file). Every cell
            has the same chunk lengths.
        components: the component to extract, or a sequence of them.

    Returns:
        float32 (N, sum of frames_k) traces of the component; for a sequence of components,
        (len(components), N, sum of frames_k).
    """
    cells = [[np.asarray(chunk) for chunk in cell] for cell in factorized_traces]
    if not cells or not cells[0]:
        raise ValueError("factorized_traces must hold at least one cell with at least one chunk")
    lengths = [chunk.shape[-1] if chunk.ndim == 2 else None for chunk in cells[0]]
    n_components = min(chunk.shape[0] if chunk.ndim == 2 else 0 for cell in cells for chunk in cell)
    for index, cell in enumerate(cells):
        if [chunk.shape[-1] if chunk.ndim == 2 else None for chunk in cell] != lengths or None in lengths:
            raise ValueError(f"factorized_traces: cell {index} must hold 2-D (components, frames) chunks of the "
                             f"same lengths as cell 0 ({lengths})")
    single = isinstance(components, Integral) and not isinstance(components, bool)
    wanted = [components] if single else np.asarray(components).tolist() if np.ndim(components) == 1 else None
    if not wanted or any(isinstance(c, bool) or not isinstance(c, Integral) or not 0 <= c < n_components
                         for c in wanted):
        raise ValueError(f"components must be a component index (or a sequence of them) below {n_components}, "
                         f"got {components!r}")
    merged = np.stack([np.stack([np.concatenate([chunk[component] for chunk in cell]) for cell in cells])
                       for component in wanted]).astype(np.float32)
    return merged[0] if single else merged


def collect_waveforms(traces, event_frames, *, frames_before: int = 150, frames_after: int = 450) -> tuple:
    """Each cell's trace around each of its own events (CalSciPy's ``collect_waveforms``).

    Args:
        traces: (N, T) traces, any units.
        event_frames: N sequences of event frames (0 .. T - 1), one per cell, in that cell's order.
        frames_before: frames kept before each event.
        frames_after: frames kept after each event.

    Returns:
        tuple of N float32 arrays, one per cell, each (n_events, frames_before + 1 + frames_after): row e is the
        trace from event e - frames_before to event e + frames_after, NaN where that reaches outside the
        recording.
    """
    values = _checks.matrix(traces, "traces")
    frames_before = _checks.integer(frames_before, "frames_before", minimum=0, unit="frames")
    frames_after = _checks.integer(frames_after, "frames_after", minimum=0, unit="frames")
    n_cells, n_frames = values.shape
    if len(event_frames) != n_cells:
        raise ValueError(f"event_frames must hold one sequence per cell ({n_cells}), got {len(event_frames)}")
    padded = np.full((n_cells, frames_before + n_frames + frames_after), np.nan, dtype=np.float32)
    padded[:, frames_before : frames_before + n_frames] = values
    offsets = np.arange(frames_before + 1 + frames_after)
    waveforms = []
    for cell, frames in enumerate(event_frames):
        events = np.asarray(frames).reshape(-1)
        if events.size and (events.dtype.kind not in "iu" or events.min() < 0 or events.max() >= n_frames):
            raise ValueError(f"event_frames[{cell}] must hold integer frames in 0 .. {n_frames - 1}, got {frames!r}")
        waveforms.append(padded[cell, events.astype(np.int64)[:, np.newaxis] + offsets])
    return tuple(waveforms)
