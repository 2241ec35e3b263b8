"""Motion correction: rigid and piecewise-rigid registration, and summary images, streamed over chunks.

Shift convention: a shift (dy, dx) in pixels is the motion of the tissue in a frame relative to
the template: a template feature at (y, x) appears at (y + dy, x + dx) in the frame (the sign of
``element_calcium.simulate``'s ``truth.shifts``). Correction applies the inverse: the corrected
frame at p is the raw frame at p + shift(p). The template itself sits at an arbitrary offset from
any other reference, so shifts agree with other estimates up to a constant.

Method (NoRMCorre-style):

- Rigid: cross-correlation of each frame with the template by FFT, the integer peak within
  +-max_shift, refined to 1/upsample_factor px by an upsampled DFT around it.
- Piecewise-rigid: the rigidly corrected frame is cut into overlapping patches (strides +
  overlaps, the last ones flush with the frame edge); each patch's shift is searched within
  +-max_deviation_rigid of the rigid shift. The patch shifts are interpolated smoothly to every
  pixel (cubic spline on a grid upsample_factor_grid times finer, then linear) and the frame is
  resampled once.
- One-photon data (``highpass``): frames are registered on a difference-of-Gaussians copy that
  removes the smooth background, squashed (``compress``) so that a few flashing cells cannot
  outweigh the lasting structure of the tissue (borders tapered before correlating); the shifts
  are applied to the raw frames. The filter's scale follows the size of the cells, measured on the
  template frames (`estimate_cell_diameter`) unless ``gSig_filt`` or a diameter is given: too fine
  a filter registers the sensor's fixed pattern (real Miniscope frames: the motion comes out 4-5
  times too small), too coarse a one blurs the cells together.
- `correct_motion` reads frames from a source in chunks: a template pass over ``template_frames``
  frames spread over the recording, then one pass that registers, corrects, writes and
  accumulates the summary images. Memory depends on the chunk and template sizes, not on the
  recording length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from element_calcium.compute import _backend, _motion_checks, _motion_image, _motion_run, _motion_scale
from element_calcium.compute._motion_engine import PatchRegistration, RigidRegistration, correct
from element_calcium.compute._motion_grid import PatchGrid, field_weights, patch_grid, shift_fields
from element_calcium.compute._motion_summary import SummaryAccumulator, SummaryImages
from element_calcium.compute.params import MotionParams

__all__ = [
    "CorrectionQuality",
    "MotionResult",
    "PatchGrid",
    "SummaryAccumulator",
    "SummaryImages",
    "apply_shifts",
    "correct_motion",
    "correction_quality",
    "estimate_cell_diameter",
    "estimate_template",
    "flag_outliers",
    "highpass_filter",
    "highpass_sigma",
    "patch_grid",
    "register_piecewise",
    "register_rigid",
]

_OUTLIER_NEIGHBOURS = 3  # a frame's shift is compared with the median of this many frames on each side
QUALITY_MIN_MOTION = 0.5  # (pixels) below this much motion a correction is not expected to help
QUALITY_MIN_GAIN = 0.005  # smallest rise of the median correlation that counts as an improvement
PROVISIONAL_SIGMA = 2.0  # (pixels) high-pass filter that registers the frames the cell size is measured on
_SIGMA_PER_DIAMETER = 1 / 11  # the high-pass filter's inner sigma per pixel of cell diameter
_SIGMA_RANGE = (0.75, 4.0)  # (pixels) bounds of the inner sigma derived from a cell diameter


@dataclass(frozen=True)
class CorrectionQuality:
    """Agreement of frames with their mean before and after correction (`correction_quality`).

    Attributes:
        raw_correlation: median over the frames of the correlation of each raw frame with the raw frames' mean.
        corrected_correlation: the same for the corrected frames and their mean.
        improved_fraction: fraction of the frames whose correlation rose.
        motion: (pixels) 95th percentile of the distance of the frames' shifts from their median.
    """

    raw_correlation: float
    corrected_correlation: float
    improved_fraction: float
    motion: float

    def warning(self) -> str | None:
        """A one-line warning when the frames moved but correction did not make them agree better, else None."""
        if self.motion < QUALITY_MIN_MOTION:
            return None
        gain = self.corrected_correlation - self.raw_correlation
        if gain >= QUALITY_MIN_GAIN and self.improved_fraction >= 0.5:
            return None
        return (
            f"motion correction did not make the frames agree better with their mean (median correlation "
            f"{self.raw_correlation:.3f} -> {self.corrected_correlation:.3f}, {self.improved_fraction:.0%} of frames "
            f"improved) although they moved up to {self.motion:.1f} px: check the corrected movie and the "
            f"registration filter (params motion.gSig_filt)"
        )


@dataclass(frozen=True)
class MotionResult:
    """Motion of a recording and the summary images of its corrected frames.

    Attributes:
        rigid_shifts: (T, 2) float32 (dy, dx) pixels, the motion of the tissue in each frame.
        block_shifts: (T, ny, nx, 2) float32 (dy, dx) pixels, total motion of each patch (rigid
            shift included); None when rigid only.
        block_origins: (ny, nx, 2) int (y0, x0) pixels of each patch; None when rigid only.
        block_size: (ph, pw) pixels of every patch; None when rigid only.
        outlier_frames: (T,) bool, frames whose shift jumps away from their neighbours' or whose
            correlation with the template is abnormally low (`flag_outliers`).
        template_correlation: (T,) float32 correlation coefficient of each frame's registration
            image with the template at the rigid shift.
        template: (H, W) float32 registration template (high-pass filtered when ``highpass``).
        mean_image, max_image: (H, W) float32 temporal mean and max of the corrected frames.
        correlation_image: (H, W) float32 mean correlation of each pixel with its 8 neighbours
            over the corrected frames (high-pass filtered when ``highpass``).
        pnr_image: (H, W) float32 peak-to-noise ratio of the same frames.
        device: "cpu" or "cuda", the device that ran the computation.
        highpass_sigma: (pixels) inner sigma of the high-pass filter the frames were registered on;
            None without high-pass.
        cell_diameter: (pixels) cell diameter measured on the recording (`estimate_cell_diameter`),
            or None when it was given or not needed.
        quality: how much the correction sharpened the template frames (`correction_quality`).
    """

    rigid_shifts: np.ndarray
    block_shifts: np.ndarray | None
    block_origins: np.ndarray | None
    block_size: tuple[int, int] | None
    outlier_frames: np.ndarray
    template_correlation: np.ndarray
    template: np.ndarray
    mean_image: np.ndarray
    max_image: np.ndarray
    correlation_image: np.ndarray
    pnr_image: np.ndarray
    device: str
    highpass_sigma: float | None = None
    cell_diameter: float | None = None
    quality: CorrectionQuality | None = None


def highpass_sigma(cell_diameter: float) -> float:
    """Inner sigma (pixels) of the one-photon high-pass filter for cells of ``cell_diameter`` pixels.

    ``cell_diameter / 11``, kept within 0.75-4 px: the band keeps the cells' edges and the texture
    between them. Chosen on real Miniscope tissue resized to cells of 12, 20 and 32 px
    (`element_calcium.simulate.semireal_movie`), where the best sigma is 1.2-1.5, 2-2.5 and 2.5-3 px and
    `estimate_cell_diameter` measures 16, 25 and 35 px, and on minian's real frames (measured 25 px), whose
    shifts match minian's own for sigma 2.2-2.4 px.
    """
    if not cell_diameter > 0:
        raise ValueError(f"cell_diameter must be > 0 pixels, got {cell_diameter}")
    return float(np.clip(_SIGMA_PER_DIAMETER * cell_diameter, *_SIGMA_RANGE))


def _over_batches(function, frames, device: str) -> list:
    """``function(float32 device batch, (start, stop))`` over the batches of ``frames``, in order."""
    xp = _backend.get_xp(device)
    spans = _motion_run.batches(len(frames), _motion_run.batch_size(device, frames.shape[1:]))

    def call(span):
        return function(_motion_run.prepare(frames[span[0] : span[1]], None, xp)[0], span)

    with _motion_run.lane_map(device) as run:
        return list(run(call, spans))


def highpass_filter(frames, *, sigma: float, device: str = "auto") -> np.ndarray:
    """Difference-of-Gaussians high-pass filter of each frame.

    Args:
        frames: (T, H, W) any real dtype.
        sigma: (pixels) sigma of the inner Gaussian; the outer one is 4 times wider.
        device: "auto", "cpu" or "cuda".

    Returns:
        (T, H, W) float32 ``G(sigma) * f - G(4 sigma) * f`` (mirrored borders).
    """
    frames = _motion_checks.frames(frames)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)

    def filtered(part, _):
        return _backend.to_numpy(_motion_image.highpass(part, float(sigma), xp))

    return np.concatenate(_over_batches(filtered, frames, device))


def estimate_template(
    frames,
    *,
    max_shift: float,
    niter: int = 2,
    upsample_factor: int = 20,
    taper: bool = False,
    initial=None,
    device: str = "auto",
) -> np.ndarray:
    """A sharp template from frames that move: register to a template, bin-median, repeat.

    Each pass registers every frame to the current template, corrects it, averages consecutive
    frames in bins of 10 and takes the pixel-wise median of the bin means.

    Args:
        frames: (n, H, W) frames to build it from (filtered as the registration will see them).
        max_shift: (pixels) bound of the rigid shift along each axis.
        niter: passes of registration and median (>= 1).
        upsample_factor: shifts are resolved to 1/upsample_factor pixel.
        taper: taper the borders before correlating (for high-pass filtered frames).
        initial: (H, W) starting template; None: the bin-median of up to 30 consecutive frames
            around the middle of ``frames`` (consecutive frames move little).
        device: "auto", "cpu" or "cuda".

    Returns:
        (H, W) float32 template.
    """
    frames = _motion_checks.frames(frames)
    shape = tuple(frames.shape[1:])
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    stack = _motion_run.prepare(frames, None, xp)[0]
    if initial is None:
        start = max(0, len(frames) // 2 - _motion_run.TEMPLATE_RUN // 2)
        initial = _motion_run.bin_median(stack[start : start + _motion_run.TEMPLATE_RUN], xp)
    else:
        initial = xp.asarray(_motion_checks.template(initial, shape, "initial"))
    template = _motion_run.refine_template(
        stack,
        initial,
        niter=_motion_checks.positive_int(niter, "niter"),
        device=device,
        xp=xp,
        max_shift=_motion_checks.max_shift(max_shift, shape),
        upsample_factor=_motion_checks.positive_int(upsample_factor, "upsample_factor"),
        taper=taper,
    )
    return _backend.to_numpy(template)


def register_rigid(
    frames,
    *,
    template,
    max_shift: float,
    upsample_factor: int = 20,
    taper: bool = False,
    device: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid motion of each frame relative to ``template``.

    Args:
        frames: (T, H, W) any real dtype.
        template: (H, W) reference image.
        max_shift: (pixels) bound of the shift along each axis; less than half the smaller side.
        upsample_factor: shifts are resolved to 1/upsample_factor pixel.
        taper: taper the borders before correlating (for high-pass filtered frames).
        device: "auto", "cpu" or "cuda".

    Returns:
        shifts: (T, 2) float32 (dy, dx) pixels, the motion of each frame (see the module docstring).
        correlation: (T,) float32 correlation coefficient of each frame with the template there.
    """
    frames = _motion_checks.frames(frames)
    shape = tuple(frames.shape[1:])
    template = _motion_checks.template(template, shape)
    device = _backend.resolve_device(device)
    registration = RigidRegistration(
        template,
        xp=_backend.get_xp(device),
        max_shift=_motion_checks.max_shift(max_shift, shape),
        upsample_factor=_motion_checks.positive_int(upsample_factor, "upsample_factor"),
        taper=taper,
    )
    parts = _over_batches(lambda part, _: tuple(map(_backend.to_numpy, registration.shifts(part))), frames, device)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def register_piecewise(
    frames,
    *,
    template,
    rigid_shifts,
    strides: tuple[int, int],
    overlaps: tuple[int, int],
    max_deviation: float,
    upsample_factor: int = 20,
    device: str = "auto",
) -> np.ndarray:
    """Motion of each patch of each frame (piecewise-rigid registration).

    Args:
        frames: (T, H, W) any real dtype.
        template: (H, W) reference image.
        rigid_shifts: (T, 2) (dy, dx) pixels, each frame's rigid motion (from `register_rigid`).
        strides, overlaps: (y, x) pixels; patches are strides + overlaps, see `patch_grid`.
        max_deviation: (pixels) bound of a patch's shift away from the rigid shift, per axis.
        upsample_factor: shifts are resolved to 1/upsample_factor pixel.
        device: "auto", "cpu" or "cuda".

    Returns:
        (T, ny, nx, 2) float32 (dy, dx) total motion of each patch (rigid shift included); the
        patches are ``patch_grid(frames.shape[1:], strides=strides, overlaps=overlaps)``.
    """
    frames = _motion_checks.frames(frames)
    shape = tuple(frames.shape[1:])
    template = _motion_checks.template(template, shape)
    rigid_shifts = _motion_checks.shifts(rigid_shifts, len(frames), None, "rigid_shifts")
    grid = patch_grid(shape, strides=strides, overlaps=overlaps)
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    registration = PatchRegistration(
        template,
        xp=xp,
        grid=grid,
        max_deviation=_motion_checks.max_deviation(max_deviation, grid),
        upsample_factor=_motion_checks.positive_int(upsample_factor, "upsample_factor"),
    )

    def patch_shifts(part, span):
        return _backend.to_numpy(registration.shifts(part, xp.asarray(rigid_shifts[span[0] : span[1]])))

    return np.concatenate(_over_batches(patch_shifts, frames, device))


def apply_shifts(
    frames, *, shifts, grid: PatchGrid | None = None, upsample_factor_grid: int = 4, device: str = "auto"
) -> np.ndarray:
    """Undo the motion of each frame: ``corrected(p) = frame(p + shift(p))``, cubic interpolation.

    Args:
        frames: (T, H, W) any real dtype.
        shifts: (T, 2) rigid (dy, dx) pixels, or (T, ny, nx, 2) patch shifts on ``grid``.
        grid: the patches of patch shifts (`patch_grid`); None for rigid shifts.
        upsample_factor_grid: refinement of the patch grid before the patch shifts are
            interpolated to every pixel.
        device: "auto", "cpu" or "cuda".

    Returns:
        (T, H, W) float32 corrected frames; pixels uncovered at the border repeat the edge.
    """
    frames = _motion_checks.frames(frames)
    if grid is not None and grid.frame_shape != tuple(frames.shape[1:]):
        raise ValueError(f"grid is for frames of {grid.frame_shape}, got frames of {tuple(frames.shape[1:])}")
    shifts = _motion_checks.shifts(shifts, len(frames), grid)
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    ufg = _motion_checks.positive_int(upsample_factor_grid, "upsample_factor_grid")
    weights = None if grid is None else field_weights(grid, ufg, xp)

    def corrected(part, span):
        part_shifts = xp.asarray(shifts[span[0] : span[1]])
        fields = None if weights is None else shift_fields(part_shifts, weights, xp)
        return _backend.to_numpy(correct(part, part_shifts, xp, fields))

    return np.concatenate(_over_batches(corrected, frames, device))


def flag_outliers(
    shifts, correlation, *, max_jump: float, corr_z: float, neighbours: int = _OUTLIER_NEIGHBOURS
) -> np.ndarray:
    """Frames whose registration is suspect.

    A frame is an outlier when its shift lies more than ``max_jump`` pixels (Euclidean) from the
    per-axis median shift of the ``neighbours`` frames on each side of it (itself excluded), or
    when its correlation with the template is more than ``corr_z`` robust standard deviations
    (1.4826 x the median absolute deviation) below the median correlation.

    Args:
        shifts: (T, 2) (dy, dx) pixels.
        correlation: (T,) correlation of each frame with the template.
        max_jump: pixels (> 0).
        corr_z: robust z-score threshold (> 0).
        neighbours: frames on each side that form a frame's neighbourhood (>= 1).

    Returns:
        (T,) bool.
    """
    shifts = np.asarray(shifts, dtype=np.float64)
    correlation = np.asarray(correlation, dtype=np.float64)
    if shifts.ndim != 2 or shifts.shape[1] != 2:
        raise ValueError(f"shifts must be (T, 2), got shape {shifts.shape}")
    if correlation.shape != (len(shifts),):
        raise ValueError(f"correlation must be ({len(shifts)},), got shape {correlation.shape}")
    if not (max_jump > 0 and corr_z > 0):
        raise ValueError(f"max_jump and corr_z must be > 0, got {max_jump} and {corr_z}")
    neighbours = _motion_checks.positive_int(neighbours, "neighbours")
    flags = np.zeros(len(shifts), dtype=bool)
    if len(shifts) > 1:
        padded = np.pad(shifts, ((neighbours, neighbours), (0, 0)), constant_values=np.nan)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * neighbours + 1, axis=0)
        around = np.delete(windows, neighbours, axis=-1)  # (T, 2, 2 * neighbours)
        flags |= np.linalg.norm(shifts - np.nanmedian(around, axis=-1), axis=1) > max_jump
    centre = np.median(correlation)
    spread = 1.4826 * np.median(np.abs(correlation - centre))
    if spread > 0:
        flags |= (correlation - centre) / spread < -corr_z
    return flags


def correction_quality(frames, shifts, *, sigma: float | None, device: str = "auto") -> CorrectionQuality:
    """How much undoing rigid ``shifts`` makes ``frames`` agree with their mean.

    Each frame is compared with the mean of the frames (Pearson correlation over the frame less a border of
    the largest shift), raw and corrected. One-photon frames (``sigma`` given) are compared on a band
    twice as coarse as the registration's (difference of Gaussians of 2 and 8 ``sigma``): the scale of the
    cells, where neither the sensor's fixed pattern nor the smooth illumination weighs.

    Args:
        frames: (n, H, W) raw frames, n >= 2.
        shifts: (n, 2) rigid (dy, dx) motion of each frame, pixels.
        sigma: (pixels) inner sigma of the registration's high-pass filter, or None (frames compared as they are).
        device: "auto", "cpu" or "cuda".
    """
    frames = _motion_checks.frames(frames)
    shifts = _motion_checks.shifts(shifts, len(frames), None)
    device = _backend.resolve_device(device)
    centred = shifts - np.median(shifts, axis=0)
    border = int(np.ceil(np.abs(centred).max())) + 1
    motion = float(np.percentile(np.linalg.norm(centred, axis=1), 95))

    def agreement(stack: np.ndarray) -> np.ndarray:
        if sigma is not None:
            stack = highpass_filter(stack, sigma=2 * sigma, device=device)
        inner = stack[:, border : stack.shape[1] - border, border : stack.shape[2] - border].reshape(len(stack), -1)
        inner = inner - inner.mean(axis=1, keepdims=True)
        mean = inner.mean(axis=0)
        norms = np.linalg.norm(inner, axis=1) * np.linalg.norm(mean)
        return np.divide(inner @ mean, norms, out=np.zeros(len(inner)), where=norms > 0)

    raw = agreement(np.asarray(_backend.to_numpy(frames), dtype=np.float32))
    corrected = agreement(apply_shifts(frames, shifts=centred, device=device))
    return CorrectionQuality(
        raw_correlation=float(np.median(raw)),
        corrected_correlation=float(np.median(corrected)),
        improved_fraction=float(np.mean(corrected > raw)),
        motion=motion,
    )


def _register_stack(stack, template, device: str, **rigid_options) -> np.ndarray:
    """(n, 2) rigid shifts of the (n, H, W) device registration images ``stack`` against ``template``."""
    registration = RigidRegistration(template, **rigid_options)
    spans = _motion_run.batches(len(stack), _motion_run.batch_size(device, stack.shape[1:]))
    with _motion_run.lane_map(device) as run:
        parts = list(run(lambda span: _backend.to_numpy(registration.shifts(stack[span[0] : span[1]])[0]), spans))
    return np.concatenate(parts)


def _aligned_raw(raw: np.ndarray, shifts: np.ndarray, device: str) -> np.ndarray:
    """(n, H, W) float32 NumPy raw frames with their rigid ``shifts`` undone."""
    xp = _backend.get_xp(device)
    out = np.empty(raw.shape, dtype=np.float32)
    spans = _motion_run.batches(len(raw), _motion_run.batch_size(device, raw.shape[1:]))

    def fill(span):
        frames = _motion_run.prepare(raw[span[0] : span[1]], None, xp)[0]
        out[span[0] : span[1]] = _backend.to_numpy(correct(frames, xp.asarray(shifts[span[0] : span[1]]), xp))

    with _motion_run.lane_map(device) as run:
        list(run(fill, spans))
    return out


def _measure_diameter(raw: np.ndarray, ranges, *, compress, device: str, **rigid_options):
    """Cell diameter of raw template frames (or None) and their provisional rigid shifts (n, 2).

    The frames are registered on the `PROVISIONAL_SIGMA` high-pass filter (one refinement of the template),
    aligned, and the blobs of their mean image measured (`_motion_scale`).
    """
    stack = _motion_run.registration_stack(raw, sigma=PROVISIONAL_SIGMA, compress=compress, device=device)
    template = _motion_run.template_pass(stack, ranges, niter=1, device=device, **rigid_options)
    shifts = _register_stack(stack, template, device, **rigid_options)
    del stack
    image = _motion_scale.structure_image(_aligned_raw(raw, shifts, device))
    return _motion_scale.blob_diameter(image), shifts


def estimate_cell_diameter(frames, *, max_shift: float, compress: float | None = 1.0, device: str = "auto"):
    """(pixels) typical diameter of the active cells of a one-photon movie, or None when none stands out.

    The frames are registered on a `PROVISIONAL_SIGMA` px high-pass filter, and the diameter is the scale
    of the bright blobs of their mean image (see `_motion_scale`), as 4 x the Gaussian sigma of a blob.

    Args:
        frames: (n, H, W) raw frames, any real dtype; a few hundred frames spread over the recording do.
        max_shift: (pixels) bound of the rigid motion along each axis.
        compress: squashing of the registration images (see `MotionParams`), or None.
        device: "auto", "cpu" or "cuda".
    """
    frames = _motion_checks.frames(frames)
    shape = tuple(frames.shape[1:])
    device = _backend.resolve_device(device)
    raw = _backend.to_numpy(frames)
    options = dict(xp=_backend.get_xp(device), max_shift=_motion_checks.max_shift(max_shift, shape),
                   upsample_factor=10, taper=True)
    return _measure_diameter(raw, [(0, len(raw))], compress=compress, device=device, **options)[0]


def _template_and_filter(raw: np.ndarray, ranges, params: MotionParams, cell_diameter, device: str, **rigid_options):
    """(template, high-pass sigma or None, measured cell diameter or None) from the raw template frames."""
    xp = rigid_options["xp"]
    if not params.highpass:
        stack = _motion_run.registration_stack(raw, sigma=None, compress=None, device=device)
        return _motion_run.template_pass(stack, ranges, niter=params.niter_rig, device=device, **rigid_options), None, None
    measured = initial = shifts = None
    if params.gSig_filt is not None:
        sigma = float(params.gSig_filt)
    elif cell_diameter is not None:
        sigma = highpass_sigma(cell_diameter)
    else:
        measured, shifts = _measure_diameter(raw, ranges, compress=params.compress, device=device, **rigid_options)
        sigma = PROVISIONAL_SIGMA if measured is None else highpass_sigma(measured)
    stack = _motion_run.registration_stack(raw, sigma=sigma, compress=params.compress, device=device)
    if shifts is not None:  # start from the provisional alignment
        initial = _motion_run.aligned_bin_median(stack, xp.asarray(shifts), xp)
    template = _motion_run.template_pass(stack, ranges, niter=params.niter_rig, device=device, initial=initial,
                                         **rigid_options)
    return template, sigma, measured


def correct_motion(
    read_frames: Callable[[int, int], np.ndarray],
    n_frames: int,
    *,
    params: MotionParams,
    cell_diameter: float | None = None,
    device: str = "auto",
    chunk_frames: int = 200,
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
    n_frames = _motion_checks.positive_int(n_frames, "n_frames")
    chunk_frames = _motion_checks.positive_int(chunk_frames, "chunk_frames")
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)

    ranges = _motion_run.template_ranges(n_frames, params.template_frames)
    first = _motion_run.read(read_frames, *ranges[0])
    shape = tuple(first.shape[1:])
    max_shift = _motion_checks.max_shift(params.max_shift, shape, "params max_shift")
    grid = None
    if params.pw_rigid:
        grid = patch_grid(shape, strides=params.strides, overlaps=params.overlaps)
        _motion_checks.max_deviation(params.max_deviation_rigid, grid, "params max_deviation_rigid")
    rigid_options = dict(xp=xp, max_shift=max_shift, upsample_factor=params.upsample_factor, taper=params.highpass)

    raw = _motion_run.read_template_frames(read_frames, ranges, first)
    del first
    template, sigma, measured = _template_and_filter(raw, ranges, params, cell_diameter, device, **rigid_options)

    patches = None
    if grid is not None:
        registration = PatchRegistration(
            template, xp=xp, grid=grid, max_deviation=params.max_deviation_rigid, upsample_factor=params.upsample_factor
        )
        patches = (registration, field_weights(grid, params.upsample_factor_grid, xp))
    corrector = _motion_run.Corrector(
        xp=xp,
        sigma=sigma,
        compress=params.compress if sigma is not None else None,
        rigid=RigidRegistration(template, **rigid_options),
        patches=patches,
        keep_output=write_corrected is not None,
    )
    summary = SummaryAccumulator(shape, device=device)
    results = _motion_run.correction_pass(
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
