"""Batches, CPU lanes and the two passes of `correct_motion`: template, then correction.

Frames are processed in batches of about `_BATCH_PIXELS` pixels. On the CPU, batches run in
parallel lanes (threads; OpenCV, NumPy and pocketfft release the GIL), one lane per worker
(`using_workers`; default: one per core available), results consumed in frame order, so the
lane count does not change the results. While the lanes correct a chunk, a helper thread reads
the next one (`parallel.read_ahead`). On a GPU one lane runs larger batches.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from types import ModuleType

import numpy as np

from element_calcium.compute import _backend, parallel
from element_calcium.compute.frames import ReadFrames, checked_frames
from element_calcium.compute.motion import _image
from element_calcium.compute.motion._engine import PatchRegistration, RigidRegistration, correct
from element_calcium.compute.motion._grid import shift_fields
from element_calcium.compute.motion._summary import SummaryAccumulator

_BATCH_PIXELS = {"cpu": 2**20, "cuda": 2**26}  # pixels of the frames one lane processes at a time
_MAX_LANES = 8
_TEMPLATE_BIN = 10  # the template is the median of the means of this many consecutive registered frames
TEMPLATE_RUN = 30  # template frames are read in runs of up to this many consecutive frames


_workers: ContextVar[int | None] = ContextVar("motion_workers", default=None)


@contextlib.contextmanager
def using_workers(workers: int | None) -> Iterator[None]:
    """Within the block (this thread), the CPU runs ``workers`` lanes; None: one per core available (at most
    `_MAX_LANES`)."""
    token = _workers.set(workers)
    try:
        yield
    finally:
        _workers.reset(token)


def lanes(device: str) -> int:
    """Number of batches processed at the same time on ``device``."""
    if device == "cuda":
        return 1
    workers = _workers.get()
    return workers if workers is not None else min(parallel.available_cores(), _MAX_LANES)


def batch_size(device: str, frame_shape: tuple[int, int]) -> int:
    """Frames per batch on ``device``."""
    return max(1, _BATCH_PIXELS[device] // math.prod(frame_shape))


def batches(n_frames: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive batches of ``size`` frames covering ``n_frames``."""
    return [(start, min(start + size, n_frames)) for start in range(0, n_frames, size)]


@contextlib.contextmanager
def lane_map(device: str) -> Iterator[Callable[[Callable, Iterable], Iterator]]:
    """A ``map(function, items)`` that runs over the lanes of ``device``, yielding in order
    (`parallel.ordered_map`: at most two results per lane computed ahead of the consumer)."""
    n_lanes = lanes(device)
    yield lambda function, items: parallel.ordered_map(function, items, workers=n_lanes, ahead=1)


def bin_median(stack, xp: ModuleType):
    """(H, W) float32 median over the means of consecutive bins of `_TEMPLATE_BIN` frames of (n, H, W)."""
    means = xp.stack([stack[start:stop].mean(axis=0) for start, stop in batches(len(stack), _TEMPLATE_BIN)])
    return xp.median(means, axis=0).astype(xp.float32)


def aligned_bin_median(stack, shifts, xp: ModuleType):
    """(H, W) float32 median over bins of `_TEMPLATE_BIN` frames of (n, H, W) ``stack`` corrected by ``shifts``
    (n, 2), each bin averaged."""
    spans = batches(len(stack), _TEMPLATE_BIN)
    means = xp.stack([correct(stack[start:stop], shifts[start:stop], xp).mean(axis=0) for start, stop in spans])
    return xp.median(means, axis=0).astype(xp.float32)


def refine_template(frames, initial, *, niter: int, device: str, **rigid_options):
    """``niter`` passes over (n, H, W) float32 device frames: register to the template, bin-median.

    rigid_options: the keywords of `RigidRegistration` (xp, max_shift, upsample_factor, taper).
    """
    xp = rigid_options["xp"]
    template = xp.asarray(initial, dtype=xp.float32)

    with lane_map(device) as run:
        for _ in range(niter):
            registration = RigidRegistration(template, **rigid_options)

            def registered_mean(span):
                part = frames[span[0] : span[1]]
                return correct(part, registration.shifts(part)[0], xp).mean(axis=0)

            means = list(run(registered_mean, batches(len(frames), _TEMPLATE_BIN)))
            template = xp.median(xp.stack(means), axis=0).astype(xp.float32)
    return template


def prepare(raw, sigma: float | None, xp: ModuleType):
    """Raw (n, H, W) frames as float32 device frames, and their detail: high-pass filtered with inner
    sigma ``sigma`` pixels, or the same frames when ``sigma`` is None."""
    frames = xp.asarray(_backend.to_device(raw, "cpu" if xp is np else "cuda"), dtype=xp.float32)
    if xp is np:
        frames = np.ascontiguousarray(frames)  # OpenCV writes into views of it
    return frames, frames if sigma is None else _image.highpass(frames, sigma, xp)


def registration_image(detail, compress: float | None, xp: ModuleType):
    """What registration correlates: the detail frames, squashed by `_image.compress` when
    ``compress`` (robust standard deviations) is given."""
    return detail if compress is None else _image.compress(detail, compress, xp)


def read_template_frames(read_frames: ReadFrames, ranges: list[tuple[int, int]], first) -> np.ndarray:
    """(n, H, W) raw frames of the template ``ranges`` (``first`` holds those of the first range), in
    the recording's dtype."""
    shape = tuple(first.shape[1:])
    parts = [_backend.to_numpy(first)]
    parts += [_backend.to_numpy(checked_frames(read_frames, start, stop, shape)) for start, stop in ranges[1:]]
    return np.concatenate(parts)


def registration_stack(raw: np.ndarray, *, sigma: float | None, compress: float | None, device: str):
    """(n, H, W) float32 device registration images of raw frames (`prepare`, `registration_image`)."""
    xp = _backend.get_xp(device)
    stack = xp.empty(raw.shape, dtype=xp.float32)

    def fill(span):
        detail = prepare(raw[span[0] : span[1]], sigma, xp)[1]
        stack[span[0] : span[1]] = registration_image(detail, compress, xp)

    with lane_map(device) as run:
        list(run(fill, batches(len(raw), batch_size(device, raw.shape[1:]))))
    return stack


def template_pass(stack, ranges: list[tuple[int, int]], *, niter: int, device: str, initial=None, **rigid_options):
    """The registration template of a recording, (H, W) float32 on the device.

    ``stack`` holds the registration images of the template frames (`registration_stack`) of ``ranges``.
    Starts from ``initial`` or the bin-median of the middle range, and refines it ``niter`` times
    (`refine_template`).
    """
    xp = rigid_options["xp"]
    if initial is None:
        offsets = np.cumsum([0] + [stop - start for start, stop in ranges])
        middle = len(ranges) // 2
        initial = bin_median(stack[offsets[middle] : offsets[middle + 1]], xp)
    return refine_template(stack, initial, niter=niter, device=device, **rigid_options)


def template_ranges(n_frames: int, n_template: int) -> list[tuple[int, int]]:
    """Frame ranges (start, stop): runs of consecutive frames spread evenly over the recording."""
    if n_template >= n_frames:
        return [(0, n_frames)]
    n_runs = math.ceil(n_template / TEMPLATE_RUN)
    sizes = [n_template // n_runs + (i < n_template % n_runs) for i in range(n_runs)]
    starts = np.round(np.linspace(0, n_frames - sizes[0], n_runs)).astype(int)
    return [(int(start), int(min(start + size, n_frames))) for start, size in zip(starts, sizes)]


def cast_like(frames, dtype: np.dtype, xp: ModuleType):
    """Corrected float32 frames in the input's dtype: rounded and clipped for integers."""
    if dtype.kind not in "ui":
        return frames
    info = np.iinfo(dtype)
    return xp.clip(xp.rint(frames), info.min, info.max).astype(dtype)


class Corrector:
    """Registers and corrects batches of raw frames (the work of the correction pass).

    Args:
        xp: array namespace of the device.
        sigma: inner sigma of the high-pass filter in pixels; None: frames are registered raw.
        compress: registration images are squashed at this many robust standard deviations
            (`_image.compress`); None: not squashed.
        rigid: rigid registration against the template.
        patches: piecewise-rigid registration and its `field_weights`; None: rigid only.
        keep_output: also return each batch cast to the input dtype, as NumPy.
    """

    def __init__(
        self,
        *,
        xp: ModuleType,
        sigma: float | None,
        compress: float | None,
        rigid: RigidRegistration,
        patches: tuple[PatchRegistration, tuple] | None,
        keep_output: bool,
    ):
        self.xp = xp
        self.sigma = sigma
        self.compress = compress
        self.rigid = rigid
        self.patches = patches
        self.keep_output = keep_output

    def __call__(self, raw) -> dict:
        """Correct (n, H, W) raw frames.

        Returns a dict of rigid (n, 2), correlation (n,), blocks (n, ny, nx, 2) or None (NumPy),
        corrected and detail (n, H, W) float32 device frames (detail None without high-pass), and output:
        the corrected frames as NumPy in raw's dtype, or None.
        """
        xp = self.xp
        frames, detail = prepare(raw, self.sigma, xp)
        registered = registration_image(detail, self.compress, xp)
        rigid, correlation = self.rigid.shifts(registered)
        fields = blocks = None
        if self.patches is not None:
            registration, weights = self.patches
            blocks = registration.shifts(registered, rigid)
            fields = shift_fields(blocks, weights, xp)
        corrected = correct(frames, rigid, xp, fields)
        return {
            "rigid": _backend.to_numpy(rigid),
            "correlation": _backend.to_numpy(correlation),
            "blocks": None if blocks is None else _backend.to_numpy(blocks),
            "corrected": corrected,
            "detail": None if self.sigma is None else correct(detail, rigid, xp, fields),
            "output": _backend.to_numpy(cast_like(corrected, raw.dtype, xp)) if self.keep_output else None,
        }


def correction_pass(
    corrector: Corrector,
    read_frames: ReadFrames,
    n_frames: int,
    *,
    frame_shape: tuple[int, int],
    chunk_frames: int,
    device: str,
    summary: SummaryAccumulator,
    write_corrected: Callable | None,
    progress: Callable | None,
) -> dict:
    """Read, correct, write and summarise every frame, chunk by chunk (the next chunk read while this one is
    corrected).

    Returns the concatenated rigid, correlation and blocks (None when rigid only) arrays.
    """
    results: dict[str, list] = {"rigid": [], "correlation": [], "blocks": []}
    size = batch_size(device, frame_shape)
    chunks = batches(n_frames, chunk_frames)

    def read(span: tuple[int, int]) -> np.ndarray:
        return checked_frames(read_frames, *span, frame_shape)

    with lane_map(device) as run, contextlib.closing(parallel.read_ahead(read, chunks)) as read_chunks:
        for (chunk_start, chunk_stop), raw in zip(chunks, read_chunks):
            written = []
            for part in run(corrector, (raw[start:stop] for start, stop in batches(len(raw), size))):
                summary.add(part["corrected"], detail=part["detail"])
                for key in results:
                    results[key].append(part[key])
                written.append(part["output"])
            if write_corrected is not None:
                write_corrected(np.concatenate(written))
            if progress is not None:
                progress(chunk_stop, n_frames)
    return {key: None if values[0] is None else np.concatenate(values) for key, values in results.items()}
