"""Registration steps on frames held in memory: filter, template, rigid and piecewise-rigid shifts, correction,
outliers and the quality of a correction (the steps `correct_motion` streams over a recording).

Every function takes frames of any real dtype, NumPy or CuPy, and returns NumPy; batches of frames run over the
lanes of the device (`_run`).
"""

from __future__ import annotations

import numpy as np

from element_calcium.compute import _backend, _checks
from element_calcium.compute.motion import _arguments, _image, _run
from element_calcium.compute.motion._engine import PatchRegistration, RigidRegistration, correct
from element_calcium.compute.motion._grid import PatchGrid, field_weights, patch_grid, shift_fields
from element_calcium.compute.motion._results import CorrectionQuality

_OUTLIER_NEIGHBOURS = 3  # a frame's shift is compared with the median of this many frames on each side


def _over_batches(function, frames, device: str) -> list:
    """``function(float32 device batch, (start, stop))`` over the batches of ``frames``, in order."""
    xp = _backend.get_xp(device)
    spans = _run.batches(len(frames), _run.batch_size(device, frames.shape[1:]))

    def call(span):
        return function(_run.prepare(frames[span[0] : span[1]], None, xp)[0], span)

    with _run.lane_map(device) as run:
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
    frames = _checks.frames(frames)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)

    def filtered(part, _):
        return _backend.to_numpy(_image.highpass(part, float(sigma), xp))

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
    frames = _checks.frames(frames)
    shape = tuple(frames.shape[1:])
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    stack = _run.prepare(frames, None, xp)[0]
    if initial is None:
        start = max(0, len(frames) // 2 - _run.TEMPLATE_RUN // 2)
        initial = _run.bin_median(stack[start : start + _run.TEMPLATE_RUN], xp)
    else:
        initial = xp.asarray(_arguments.template(initial, shape, "initial"))
    template = _run.refine_template(
        stack,
        initial,
        niter=_checks.integer(niter, "niter"),
        device=device,
        xp=xp,
        max_shift=_arguments.max_shift(max_shift, shape),
        upsample_factor=_checks.integer(upsample_factor, "upsample_factor"),
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
    frames = _checks.frames(frames)
    shape = tuple(frames.shape[1:])
    template = _arguments.template(template, shape)
    device = _backend.resolve_device(device)
    registration = RigidRegistration(
        template,
        xp=_backend.get_xp(device),
        max_shift=_arguments.max_shift(max_shift, shape),
        upsample_factor=_checks.integer(upsample_factor, "upsample_factor"),
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
    frames = _checks.frames(frames)
    shape = tuple(frames.shape[1:])
    template = _arguments.template(template, shape)
    rigid_shifts = _arguments.shifts(rigid_shifts, len(frames), None, "rigid_shifts")
    grid = patch_grid(shape, strides=strides, overlaps=overlaps)
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    registration = PatchRegistration(
        template,
        xp=xp,
        grid=grid,
        max_deviation=_arguments.max_deviation(max_deviation, grid),
        upsample_factor=_checks.integer(upsample_factor, "upsample_factor"),
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
    frames = _checks.frames(frames)
    if grid is not None and grid.frame_shape != tuple(frames.shape[1:]):
        raise ValueError(f"grid is for frames of {grid.frame_shape}, got frames of {tuple(frames.shape[1:])}")
    shifts = _arguments.shifts(shifts, len(frames), grid)
    device = _backend.resolve_device(device)
    xp = _backend.get_xp(device)
    ufg = _checks.integer(upsample_factor_grid, "upsample_factor_grid")
    weights = None if grid is None else field_weights(grid, ufg, xp)

    def corrected(part, span):
        part_shifts = xp.asarray(shifts[span[0] : span[1]])
        fields = None if weights is None else shift_fields(part_shifts, weights, xp)
        return _backend.to_numpy(correct(part, part_shifts, xp, fields))

    return np.concatenate(_over_batches(corrected, frames, device))


def _band(frames, shifts, *, sigma: float | None, border: int, device: str) -> np.ndarray:
    """(n, H - 2 border, W - 2 border) float32 NumPy: each of (n, H, W) ``frames`` with its rigid ``shifts`` (n, 2)
    undone (None: as it is) and high-pass filtered at ``sigma`` (None: not filtered), less ``border`` pixels on
    every side. Batch by batch: no other array of the frames' size is made."""
    xp = _backend.get_xp(device)
    height, width = frames.shape[1:]
    out = np.empty((len(frames), height - 2 * border, width - 2 * border), dtype=np.float32)

    def fill(part, span):
        if shifts is not None:
            part = correct(part, xp.asarray(shifts[span[0] : span[1]]), xp)
        if sigma is not None:
            part = _image.highpass(part, float(sigma), xp)
        out[span[0] : span[1]] = _backend.to_numpy(part[:, border : height - border, border : width - border])

    _over_batches(fill, frames, device)
    return out


def _agreement(frames: np.ndarray, batch: int = 32) -> np.ndarray:
    """(n,) Pearson correlation of each of (n, h, w) float32 ``frames`` with their mean frame (0 for a constant
    frame), in float64 over batches of ``batch`` frames."""
    mean = frames.mean(axis=0, dtype=np.float64).ravel()
    mean -= mean.mean()
    mean_norm = np.linalg.norm(mean)
    out = np.zeros(len(frames))
    for start in range(0, len(frames), batch):
        part = frames[start : start + batch].reshape(-1, mean.size).astype(np.float64)
        part -= part.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(part, axis=1) * mean_norm
        np.divide(part @ mean, norms, out=out[start : start + len(part)], where=norms > 0)
    return out


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
    neighbours = _checks.integer(neighbours, "neighbours")
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
    frames = _checks.frames(frames)
    shifts = _arguments.shifts(shifts, len(frames), None)
    device = _backend.resolve_device(device)
    centred = shifts - np.median(shifts, axis=0)
    border = int(np.ceil(np.abs(centred).max())) + 1
    motion = float(np.percentile(np.linalg.norm(centred, axis=1), 95))

    coarse_sigma = None if sigma is None else 2 * sigma
    raw = _agreement(_band(frames, None, sigma=coarse_sigma, border=border, device=device))
    corrected = _agreement(_band(frames, centred, sigma=coarse_sigma, border=border, device=device))
    return CorrectionQuality(
        raw_correlation=float(np.median(raw)),
        corrected_correlation=float(np.median(corrected)),
        improved_fraction=float(np.mean(corrected > raw)),
        motion=motion,
    )
