"""`correct_motion`: a recording read chunk by chunk, motion-corrected and summarised (module docstring of
`element_calcium.compute.motion`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from element_calcium.compute import _backend, _checks, parallel
from element_calcium.compute.frames import ReadFrames, checked_frames
from element_calcium.compute.motion import _arguments, _run
from element_calcium.compute.motion._diameter import PROVISIONAL_SIGMA, highpass_sigma, measure_diameter
from element_calcium.compute.motion._engine import PatchRegistration, RigidRegistration
from element_calcium.compute.motion._grid import field_weights, patch_grid
from element_calcium.compute.motion._register import correction_quality, flag_outliers
from element_calcium.compute.motion._results import MotionResult
from element_calcium.compute.motion._summary import SummaryAccumulator
from element_calcium.compute.params import MotionParams


def _template_and_filter(raw: np.ndarray, ranges, params: MotionParams, cell_diameter, device: str, **rigid_options):
    """(template, high-pass sigma or None, measured cell diameter or None) from the raw template frames."""
    xp = rigid_options["xp"]
    if not params.highpass:
        stack = _run.registration_stack(raw, sigma=None, compress=None, device=device)
        return _run.template_pass(stack, ranges, niter=params.niter_rig, device=device, **rigid_options), None, None
    measured = initial = shifts = None
    if params.gSig_filt is not None:
        sigma = float(params.gSig_filt)
    elif cell_diameter is not None:
        sigma = highpass_sigma(cell_diameter)
    else:
        measured, shifts = measure_diameter(raw, ranges, compress=params.compress, device=device, **rigid_options)
        sigma = PROVISIONAL_SIGMA if measured is None else highpass_sigma(measured)
    stack = _run.registration_stack(raw, sigma=sigma, compress=params.compress, device=device)
    if shifts is not None:  # start from the provisional alignment
        initial = _run.aligned_bin_median(stack, xp.asarray(shifts), xp)
    template = _run.template_pass(stack, ranges, niter=params.niter_rig, device=device, initial=initial,
                                         **rigid_options)
    return template, sigma, measured


def correct_motion(
    read_frames: ReadFrames,
    n_frames: int,
    *,
    params: MotionParams,
    cell_diameter: float | None = None,
    device: str = "auto",
    chunk_frames: int = 200,
    workers: int | None = None,
    write_corrected: Callable[[np.ndarray], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MotionResult:
    """Motion-correct a recording read chunk by chunk, and summarise the corrected movie.

    Args:
        read_frames: ``read_frames(start, stop)`` returns frames ``start <= t < stop`` as a
            (stop - start, H, W) array of integers or floats (a ``Movie.read`` fits). Its
            exceptions propagate unchanged.
        n_frames: number of frames T of the recording (>= 1).
        params: motion-correction parameters.
        cell_diameter: (pixels) soma diameter that sets the one-photon high-pass filter when
            ``params.gSig_filt`` is None (`highpass_sigma`); None measures it on the template frames
            (`estimate_cell_diameter`; the result's ``cell_diameter``).
        device: "auto" (a CUDA GPU when CuPy sees one), "cpu" or "cuda".
        chunk_frames: frames read, corrected and written at a time; memory grows with it.
        workers: batches of frames corrected at the same time on the CPU (threads), the next chunk read
            meanwhile; 1: one at a time. None: one per core available. The result does not depend on it.
        write_corrected: called with each chunk of corrected frames in order, (n, H, W): the input
            dtype (rounded, clipped) for integer input, float32 otherwise. None: not kept.
        progress: called as ``progress(done_frames, n_frames)`` after each chunk.

    Returns:
        The shifts, outliers, template and summary images (`MotionResult`).

    Raises:
        ValueError: bad arguments, frames smaller than a patch, max_shift of half the frame or
            more, frames with NaN or inf (the frame is named), a chunk of the wrong shape.
    """
    if not isinstance(params, MotionParams):
        raise ValueError(f"params must be a MotionParams, got {type(params).__name__}")
    if cell_diameter is not None and not cell_diameter > 0:
        raise ValueError(f"cell_diameter must be > 0 pixels or None, got {cell_diameter}")
    n_frames = _checks.integer(n_frames, "n_frames")
    chunk_frames = _checks.integer(chunk_frames, "chunk_frames")
    if workers is not None:
        parallel.check_workers(workers)
    device = _backend.resolve_device(device)
    with _run.using_workers(workers), parallel.worker_threads():
        return _correct(read_frames, n_frames, params=params, cell_diameter=cell_diameter, device=device,
                        chunk_frames=chunk_frames, write_corrected=write_corrected, progress=progress)


def _correct(read_frames, n_frames, *, params, cell_diameter, device, chunk_frames, write_corrected, progress):
    """`correct_motion` with checked arguments and a resolved ``device``."""
    xp = _backend.get_xp(device)
    ranges = _run.template_ranges(n_frames, params.template_frames)
    first = checked_frames(read_frames, *ranges[0])
    shape = tuple(first.shape[1:])
    max_shift = _arguments.max_shift(params.max_shift, shape, "params max_shift")
    grid = None
    if params.pw_rigid:
        grid = patch_grid(shape, strides=params.strides, overlaps=params.overlaps)
        _arguments.max_deviation(params.max_deviation_rigid, grid, "params max_deviation_rigid")
    rigid_options = dict(xp=xp, max_shift=max_shift, upsample_factor=params.upsample_factor, taper=params.highpass)

    raw = _run.read_template_frames(read_frames, ranges, first)
    del first
    template, sigma, measured = _template_and_filter(raw, ranges, params, cell_diameter, device, **rigid_options)

    patches = None
    if grid is not None:
        registration = PatchRegistration(
            template, xp=xp, grid=grid, max_deviation=params.max_deviation_rigid, upsample_factor=params.upsample_factor
        )
        patches = (registration, field_weights(grid, params.upsample_factor_grid, xp))
    corrector = _run.Corrector(
        xp=xp,
        sigma=sigma,
        compress=params.compress if sigma is not None else None,
        rigid=RigidRegistration(template, **rigid_options),
        patches=patches,
        keep_output=write_corrected is not None,
    )
    summary = SummaryAccumulator(shape, device=device)
    results = _run.correction_pass(
        corrector,
        read_frames,
        n_frames,
        frame_shape=shape,
        chunk_frames=chunk_frames,
        device=device,
        summary=summary,
        write_corrected=write_corrected,
        progress=progress,
    )
    images = summary.result()
    sample = np.concatenate([np.arange(start, stop) for start, stop in ranges])
    quality = correction_quality(raw, results["rigid"][sample], sigma=sigma, device=device) if len(raw) > 1 else None
    return MotionResult(
        rigid_shifts=results["rigid"],
        block_shifts=results["blocks"],
        block_origins=None if grid is None else grid.origins,
        block_size=None if grid is None else grid.size,
        outlier_frames=flag_outliers(
            results["rigid"], results["correlation"], max_jump=params.outlier_shift, corr_z=params.outlier_corr_z
        ),
        template_correlation=results["correlation"],
        template=_backend.to_numpy(template),
        mean_image=images.mean,
        max_image=images.max,
        correlation_image=images.correlation,
        pnr_image=images.pnr,
        device=device,
        highpass_sigma=sigma,
        cell_diameter=measured,
        quality=quality,
    )
