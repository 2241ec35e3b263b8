"""Alignment of a session's summary image to the reference's: a similarity transform, optionally piecewise.

1. Both images are band-passed (a Gaussian of 1 px minus one of a cell diameter: the smooth illumination goes,
   cells and vessels stay) and standardised.
2. Coarse search: the moving image is rotated and scaled over a grid inside the bounds (steps of about 1 degree
   and 0.02); for each candidate the translation comes from FFT cross-correlation with the reference
   (`element_calcium.compute.motion.register_rigid`, on the chosen device), and the candidate with the highest
   correlation wins.
3. Refinement: rotation, log-scale and shift are refined by maximising the correlation of the resampled
   image with the reference over the pixels both images cover (Nelder-Mead from a small simplex around the
   grid's best: a local search, which a bounded line search across the whole range is not).
4. Piecewise (optional): the aligned image is cut into overlapping patches whose residual shifts are found
   by `element_calcium.compute.motion.register_piecewise`; shifts stuck at the search bound are replaced by
   their neighbours', the field is median-filtered over 3 x 3 patches and interpolated to every pixel.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from scipy import interpolate, ndimage, optimize

from element_calcium.compute import motion
from element_calcium.compute.registration import _transform

_ROTATION_STEP = 1.0  # degrees, coarse grid
_SCALE_STEP = 0.02  # coarse grid of the scale
_SIMPLEX_STEPS = (0.5, 0.01, 1.0, 1.0)
_BOUND_TOLERANCE = 0.05  # pixels: a patch shift this close to the search bound found no peak inside it  # first steps of the refinement: degrees, log-scale, pixels, pixels


@dataclass(frozen=True)
class Alignment:
    """A session's field of view relative to the reference.

    Attributes:
        matrix: (2, 3) float64 similarity: reference pixel (y, x, 1) -> session pixel (`_transform`).
        rotation_deg: degrees.
        scale: magnification of the session relative to the reference.
        shift: (2,) (y, x) pixels.
        displacement: (H, W, 2) float32 (y, x) pixels of the piecewise correction in the reference frame (the
            session position of reference pixel p is ``matrix (p + displacement(p))``), or None.
        patch_shifts: (ny, nx, 2) float32 residual shift of each patch, or None.
        correlation: correlation of the band-passed images after alignment, over the pixels both cover.
    """

    matrix: np.ndarray
    rotation_deg: float
    scale: float
    shift: np.ndarray
    displacement: np.ndarray | None
    patch_shifts: np.ndarray | None
    correlation: float

    def coordinates(self, frame_shape) -> np.ndarray:
        """(H, W, 2) session position of every reference pixel."""
        return _transform.coordinate_map(self.matrix, frame_shape, self.displacement)


def bandpass(image: np.ndarray, cell_diameter: float) -> np.ndarray:
    """(H, W) float32: ``image`` smoothed by 1 px minus its smooth background (sigma one cell diameter),
    standardised to zero mean and unit variance."""
    image = np.asarray(image, dtype=np.float64)
    filtered = ndimage.gaussian_filter(image, 1.0) - ndimage.gaussian_filter(image, cell_diameter)
    std = filtered.std()
    return ((filtered - filtered.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two (H, W) images over the pixels of ``mask``; -1 when fewer than 16.

    Element-wise sums rather than BLAS dot products: this runs hundreds of times per alignment, and threaded
    BLAS calls on vectors this short cost more in start-up than in arithmetic."""
    count = int(np.count_nonzero(mask))
    if count < 16:
        return -1.0
    a = np.where(mask, a, 0.0)
    b = np.where(mask, b, 0.0)
    sum_a, sum_b = float(a.sum(dtype=np.float64)), float(b.sum(dtype=np.float64))
    covariance = float(np.multiply(a, b, dtype=np.float64).sum()) - sum_a * sum_b / count
    variance_a = float(np.multiply(a, a, dtype=np.float64).sum()) - sum_a**2 / count
    variance_b = float(np.multiply(b, b, dtype=np.float64).sum()) - sum_b**2 / count
    denominator = math.sqrt(max(variance_a, 0.0) * max(variance_b, 0.0))
    return covariance / denominator if denominator > 0 else -1.0


def _grid(bound: float, step: float) -> np.ndarray:
    n = int(math.ceil(bound / step))
    return np.linspace(-bound, bound, 2 * n + 1) if n else np.zeros(1)


def _coarse(moving, reference, *, max_shift, max_rotation_deg, max_scale_change, device):
    """(rotation_deg, scale, shift) of the best candidate of the grid search."""
    shape = reference.shape
    candidates = [(r, 1.0 + s) for r in _grid(max_rotation_deg, _ROTATION_STEP)
                  for s in _grid(max_scale_change, _SCALE_STEP)]
    frames = np.stack([
        _transform.warp_image(moving, _transform.coordinate_map(_transform.similarity_matrix(r, s, (0, 0), shape),
                                                                shape))
        for r, s in candidates])
    bound = min(max_shift, min(shape) / 2 - 1)
    shifts, correlations = motion.register_rigid(frames, template=reference, max_shift=bound, upsample_factor=4,
                                                 taper=True, device=device)
    best = int(np.argmax(correlations))
    rotation, scale = candidates[best]
    # the candidate image shows reference p at p + d: the session position is L (p + d - c) + c
    linear = _transform.similarity_matrix(rotation, scale, (0, 0), shape)[:, :2]
    return rotation, scale, linear @ shifts[best].astype(np.float64)


def _refine(moving, reference, start, *, bounds):
    """(rotation_deg, scale, shift) maximising the correlation, started at ``start``."""
    shape = reference.shape

    def matrix_of(values):
        rotation, log_scale, dy, dx = values
        return _transform.similarity_matrix(rotation, math.exp(log_scale), (dy, dx), shape)

    def cost(values):
        warped = _transform.warp_affine(moving, matrix_of(values), shape)
        return -_correlation(warped, reference, np.isfinite(warped))

    rotation, scale, shift = start
    origin = np.array([rotation, math.log(scale), shift[0], shift[1]])
    simplex = origin + np.vstack([np.zeros(4), np.diag(_SIMPLEX_STEPS)])
    result = optimize.minimize(cost, origin, method="Nelder-Mead", bounds=bounds,
                               options={"initial_simplex": simplex, "xatol": 1e-3, "fatol": 1e-6})
    rotation, log_scale, dy, dx = result.x
    return float(rotation), math.exp(log_scale), np.array([dy, dx]), -float(result.fun)


def align_similarity(moving, reference, *, cell_diameter: float, max_shift: float, max_rotation_deg: float,
                     max_scale_change: float, device: str = "auto") -> Alignment:
    """The similarity transform taking ``reference`` pixels to ``moving`` pixels (both (H, W), raw summary
    images), found by a grid search and refined by correlation (module docstring)."""
    moving_bp, reference_bp = bandpass(moving, cell_diameter), bandpass(reference, cell_diameter)
    start = _coarse(moving_bp, reference_bp, max_shift=max_shift, max_rotation_deg=max_rotation_deg,
                    max_scale_change=max_scale_change, device=device)
    margin = (_ROTATION_STEP, 2 * _SCALE_STEP, 4.0)
    bounds = [(-max_rotation_deg - margin[0], max_rotation_deg + margin[0]),
              (math.log(max(1 - max_scale_change - margin[1], 0.1)), math.log(1 + max_scale_change + margin[1])),
              (-max_shift - margin[2], max_shift + margin[2]), (-max_shift - margin[2], max_shift + margin[2])]
    start = (float(np.clip(start[0], *bounds[0])), float(np.clip(start[1], *np.exp(bounds[1]))),
             np.clip(start[2], bounds[2][0], bounds[2][1]))
    rotation, scale, shift, correlation = _refine(moving_bp, reference_bp, start, bounds=bounds)
    matrix = _transform.similarity_matrix(rotation, scale, shift, reference.shape)
    return Alignment(matrix=matrix, rotation_deg=rotation, scale=scale, shift=shift, displacement=None,
                     patch_shifts=None, correlation=correlation)


def image_correlation(moving, reference, alignment: Alignment, *, cell_diameter: float) -> float:
    """Correlation of the band-passed images after ``alignment``, over the pixels both cover."""
    coordinates = alignment.coordinates(reference.shape)
    warped = _transform.warp_image(bandpass(moving, cell_diameter), coordinates)
    return _correlation(warped, bandpass(reference, cell_diameter),
                        _transform.inside_mask(coordinates, np.shape(moving)))


def _robust_patch_shifts(patch_shifts: np.ndarray, bound: float) -> np.ndarray:
    """(ny, nx, 2) patch shifts with those stuck at the search bound (no peak inside it: too little structure)
    replaced by the median of their valid neighbours, then median-filtered over 3 x 3 patches."""
    shifts = patch_shifts.astype(np.float64)
    stuck = (np.abs(shifts) >= bound - _BOUND_TOLERANCE).any(axis=-1)
    if stuck.all():
        return np.zeros_like(patch_shifts)
    filled = shifts.copy()
    for y, x in zip(*np.nonzero(stuck)):
        window = (slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2))
        valid = shifts[window][~stuck[window]]
        filled[y, x] = np.median(valid, axis=0) if len(valid) else np.median(shifts[~stuck], axis=0)
    smooth = np.stack([ndimage.median_filter(filled[..., k], size=3, mode="nearest") for k in range(2)], axis=-1)
    return smooth.astype(np.float32)


def add_piecewise(moving, reference, alignment: Alignment, *, cell_diameter: float, patch_size: int,
                  max_deviation: float, device: str = "auto") -> Alignment:
    """``alignment`` with a piecewise correction: residual shifts of overlapping patches of the aligned image,
    interpolated linearly between patch centres (held constant beyond them)."""
    shape = reference.shape
    reference_bp = bandpass(reference, cell_diameter)
    warped = np.nan_to_num(_transform.warp_affine(bandpass(moving, cell_diameter), alignment.matrix, shape))
    stride = max(patch_size // 2, 1)
    size = min(patch_size, *shape)
    grid = motion.patch_grid(shape, strides=(size - stride, size - stride), overlaps=(stride, stride))
    bound = min(max_deviation, min(grid.size) / 2 - 1)
    patch_shifts = motion.register_piecewise(warped[None], template=reference_bp, rigid_shifts=np.zeros((1, 2)),
                                             strides=(size - stride, size - stride), overlaps=(stride, stride),
                                             max_deviation=bound, device=device)[0]
    patch_shifts = _robust_patch_shifts(patch_shifts, bound)
    centers_y, centers_x = grid.centers[:, 0, 0], grid.centers[0, :, 1]
    if len(centers_y) == 1:  # one patch row: the field is constant along y (the interpolator needs two nodes)
        centers_y, patch_shifts = np.append(centers_y, centers_y + 1), np.concatenate([patch_shifts] * 2, axis=0)
    if len(centers_x) == 1:
        centers_x, patch_shifts = np.append(centers_x, centers_x + 1), np.concatenate([patch_shifts] * 2, axis=1)
    yy, xx = np.meshgrid(np.arange(shape[0], dtype=np.float64), np.arange(shape[1], dtype=np.float64), indexing="ij")
    points = np.stack([np.clip(yy, centers_y[0], centers_y[-1]), np.clip(xx, centers_x[0], centers_x[-1])], axis=-1)
    displacement = np.stack([
        interpolate.RegularGridInterpolator((centers_y, centers_x), patch_shifts[..., k])(points)
        for k in range(2)], axis=-1).astype(np.float32)
    patch_shifts = patch_shifts[: grid.shape[0], : grid.shape[1]]
    piecewise = dataclasses.replace(alignment, displacement=displacement, patch_shifts=patch_shifts)
    return dataclasses.replace(piecewise, correlation=image_correlation(moving, reference, piecewise,
                                                                        cell_diameter=cell_diameter))
