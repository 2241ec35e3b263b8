"""Registration of batches of frames against one template, on one device.

`RigidRegistration` and `PatchRegistration` hold the template's spectra (whole frame, patches) on
the device and estimate the motion of batches of frames; `correct` undoes it. Arrays in and out
are of the namespace ``xp``; shapes as documented per method.
"""

from __future__ import annotations

import math
from types import ModuleType

from element_calcium.compute import _backend
from element_calcium.compute.motion import _fft, _grid, _image


class RigidRegistration:
    """Rigid motion against ``template``.

    Args:
        template: (H, W) float32 reference image (filtered as the frames it registers).
        xp: array namespace (numpy or cupy) of the frames.
        max_shift: (pixels) bound of the shift along each axis.
        upsample_factor: shifts are resolved to 1/upsample_factor pixel.
        taper: multiply frames and template by a border taper before correlating them.
    """

    def __init__(self, template, *, xp: ModuleType, max_shift: float, upsample_factor: int, taper: bool):
        self.xp = xp
        template = xp.asarray(template, dtype=xp.float32)
        self.shape = tuple(template.shape)
        self.find = _fft.PeakFinder(self.shape, max_shift=max_shift, upsample_factor=upsample_factor, xp=xp)
        self.window = _image.taper(self.shape, xp) if taper else None
        reference = template if self.window is None else template * self.window
        self.reference = _fft.reference_spectrum(reference, xp)
        self.template_norm = float(xp.sqrt(reference.var(dtype=xp.float64) * reference.size))

    def shifts(self, frames):
        """Rigid motion of (n, H, W) float32 frames.

        Returns (n, 2) float32 (dy, dx) shifts in pixels and (n,) float32 correlation
        coefficients of the (tapered) frames with the template at those shifts.
        """
        xp = self.xp
        moving = frames if self.window is None else frames * self.window
        product = _backend.rfft2(moving)
        product *= self.reference
        shifts, peak = self.find(product)
        norm = xp.sqrt(moving.var(axis=(1, 2)) * math.prod(self.shape)) * self.template_norm
        correlation = xp.where(norm > 0, peak / xp.where(norm > 0, norm, 1.0), 0.0)
        return shifts, correlation.astype(xp.float32)


class PatchRegistration:
    """Piecewise-rigid motion against ``template``: one shift per patch of ``grid``.

    Args:
        template: (H, W) float32 reference image.
        xp: array namespace of the frames.
        grid: the patches.
        max_deviation: (pixels) bound of a patch's shift away from its frame's rigid shift.
        upsample_factor: shifts are resolved to 1/upsample_factor pixel.
    """

    def __init__(
        self, template, *, xp: ModuleType, grid: _grid.PatchGrid, max_deviation: float, upsample_factor: int
    ):
        self.xp = xp
        self.grid = grid
        self.find = _fft.PeakFinder(grid.size, max_shift=max_deviation, upsample_factor=upsample_factor, xp=xp)
        self.window = _image.taper(grid.size, xp)
        patches = _grid.extract_patches(xp.asarray(template, dtype=xp.float32)[None], grid, xp)[0]
        self.reference = _fft.reference_spectrum(self._tapered(patches), xp)

    def _tapered(self, patches):
        """Patches (..., ph, pw) minus their means, times the taper: no edges at their borders."""
        return (patches - patches.mean(axis=(-2, -1), keepdims=True)) * self.window

    def shifts(self, frames, rigid_shifts):
        """Per-patch motion of (n, H, W) float32 frames whose rigid motion is ``rigid_shifts`` (n, 2).

        Each patch of the rigidly corrected frame is registered to the template's patch within
        +-max_deviation. Returns (n, ny, nx, 2) float32 total (dy, dx) motion of each patch.
        """
        xp = self.xp
        aligned = _image.translate(frames, rigid_shifts, xp, interpolation="linear")
        patches = _grid.extract_patches(aligned, self.grid, xp)
        n, ny, nx = patches.shape[:3]
        product = _backend.rfft2(self._tapered(patches))
        product *= self.reference
        deviation, _ = self.find(product.reshape(n * ny * nx, *product.shape[3:]))
        return rigid_shifts[:, None, None, :] + deviation.reshape(n, ny, nx, 2)


def correct(frames, shifts, xp: ModuleType, fields=None):
    """Undo the motion of (n, H, W) float32 frames: rigid ``shifts`` (n, 2), or per-pixel ``fields``.

    fields: (y, x) motion of every pixel, each (n, H, W) float32 (`_grid.shift_fields`).
    Returns (n, H, W) float32, cubic interpolation.
    """
    if fields is None:
        return _image.translate(frames, shifts, xp)
    return _image.remap(frames, *fields, xp)
