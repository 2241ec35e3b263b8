"""Component quality: footprint geometry and mask classification.

A component found by source extraction is called a soma when its trace rises well above its
noise, its footprint matches the movie where and when it is active, and its footprint has the
size and roundness of a cell body. Elongated components with a good signal are dendrites;
everything else is an artefact. Each call comes with a confidence in [0.5, 1]: how clearly the
deciding criterion was met or missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from skimage import measure

from .params import ClassificationParams

MASK_TYPES = ("soma", "dendrite", "artefact")
BINARY_FRACTION = 0.2  # a footprint's binary mask: pixels above this fraction of its maximum
_SHARPNESS = 4.0  # slope of the logistic that turns a margin into a confidence


@dataclass(frozen=True)
class FootprintGeometry:
    """Shape of N footprints.

    Attributes:
        center_y, center_x: (N,) float32 weighted centroids (pixels).
        npix: (N,) int64 non-zero pixels.
        area: (N,) int64 pixels of the binary mask (above `BINARY_FRACTION` of the maximum).
        compactness: (N,) float32 4 pi area / perimeter^2 of the binary mask (about 1 for a
            disc, smaller for elongated or ragged shapes; 0 for an empty footprint).
    """

    center_y: np.ndarray
    center_x: np.ndarray
    npix: np.ndarray
    area: np.ndarray
    compactness: np.ndarray


def _check_footprints(footprints: sparse.sparray, height: int, width: int) -> sparse.csc_array:
    footprints = sparse.csc_array(footprints)
    if footprints.shape[0] != height * width:
        raise ValueError(f"footprints have {footprints.shape[0]} rows, expected height * width = {height * width}")
    return footprints


def footprint_geometry(footprints: sparse.sparray, *, height: int, width: int) -> FootprintGeometry:
    """Centroid, size and compactness of each footprint.

    Args:
        footprints: (H * W, N) non-negative weights, pixel row index ``y * W + x``.
        height, width: field of view H, W (pixels).
    """
    footprints = _check_footprints(footprints, height, width)
    n_masks = footprints.shape[1]
    center_y = np.zeros(n_masks, dtype=np.float32)
    center_x = np.zeros(n_masks, dtype=np.float32)
    npix = np.zeros(n_masks, dtype=np.int64)
    area = np.zeros(n_masks, dtype=np.int64)
    compactness = np.zeros(n_masks, dtype=np.float32)
    for n in range(n_masks):
        start, stop = footprints.indptr[n], footprints.indptr[n + 1]
        pixels, weights = footprints.indices[start:stop], footprints.data[start:stop]
        keep = weights > 0
        pixels, weights = pixels[keep], weights[keep]
        npix[n] = len(pixels)
        if not len(pixels):
            continue
        ys, xs = np.divmod(pixels, width)
        center_y[n] = np.average(ys, weights=weights)
        center_x[n] = np.average(xs, weights=weights)
        above = weights >= BINARY_FRACTION * weights.max()
        y0, x0 = ys[above].min(), xs[above].min()
        binary = np.zeros((ys[above].max() - y0 + 3, xs[above].max() - x0 + 3), dtype=bool)
        binary[ys[above] - y0 + 1, xs[above] - x0 + 1] = True
        area[n] = int(above.sum())
        perimeter = measure.perimeter(binary)
        compactness[n] = min(1.0, 4 * np.pi * area[n] / perimeter**2) if perimeter > 0 else 1.0
    return FootprintGeometry(center_y, center_x, npix, area, compactness)


def trace_snr(
    fluorescence: np.ndarray, *, denoised: np.ndarray | None = None, noise: np.ndarray | None = None
) -> np.ndarray:
    """(N,) float32 peak signal over noise of each trace.

    Args:
        fluorescence: (N, T) background-removed fluorescence.
        denoised: (N, T) denoised calcium, or None. The signal is the denoised trace's peak above
            its median when given, else the fluorescence's.
        noise: (N,) noise standard deviation of each trace in its units when measured elsewhere
            (e.g. from the movie under each footprint), or None. Without it the noise is the
            standard deviation of fluorescence minus denoised when denoised is given, else a
            robust estimate from successive differences of the fluorescence (median absolute
            difference / (0.6745 sqrt 2)).
    """
    fluorescence = np.asarray(fluorescence, dtype=np.float64)
    if fluorescence.ndim != 2:
        raise ValueError(f"fluorescence must be (N, T), got shape {fluorescence.shape}")
    if denoised is not None and np.shape(denoised) != fluorescence.shape:
        raise ValueError(f"denoised has shape {np.shape(denoised)}, fluorescence {fluorescence.shape}")
    if noise is not None and np.shape(noise) != (len(fluorescence),):
        raise ValueError(f"noise must be ({len(fluorescence)},), one value per trace, got shape {np.shape(noise)}")
    if fluorescence.shape[1] < 2:
        return np.zeros(len(fluorescence), dtype=np.float32)
    signal_trace = fluorescence if denoised is None else np.asarray(denoised, dtype=np.float64)
    signal = signal_trace.max(axis=1) - np.median(signal_trace, axis=1)
    if noise is not None:
        noise = np.asarray(noise, dtype=np.float64)
    elif denoised is not None:
        noise = np.std(fluorescence - signal_trace, axis=1)
    else:
        noise = np.median(np.abs(np.diff(fluorescence, axis=1)), axis=1) / (0.6745 * np.sqrt(2))
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, signal / noise, 0.0)
    return snr.astype(np.float32)


def median_diameter(area: np.ndarray) -> float | None:
    """(pixels) diameter of the disc whose area is the median of ``area``, or None without a positive area.

    Args:
        area: (N,) binary-mask areas (pixels), e.g. `FootprintGeometry.area`.
    """
    area = np.asarray(area, dtype=np.float64)
    area = area[area > 0]
    return float(2.0 * np.sqrt(np.median(area) / np.pi)) if area.size else None


def classify_components(
    *,
    snr: np.ndarray,
    spatial_corr: np.ndarray,
    area: np.ndarray,
    compactness: np.ndarray,
    cell_diameter: float,
    params: ClassificationParams,
) -> tuple[list[str], np.ndarray]:
    """Call each component a soma, dendrite or artefact.

    Args:
        snr: (N,) peak of each trace over its noise standard deviation.
        spatial_corr: (N,) correlation of each footprint with the movie where it is active.
        area: (N,) pixels of each binary mask (see `footprint_geometry`).
        compactness: (N,) roundness of each binary mask, 1 for a disc.
        cell_diameter: (pixels) expected soma diameter.
        params: thresholds.

    Returns:
        (labels, confidence): N names from `MASK_TYPES` and (N,) float32 confidences in [0.5, 1].
    """
    arrays = [np.asarray(value, dtype=np.float64) for value in (snr, spatial_corr, area, compactness)]
    if len({value.shape for value in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError("snr, spatial_corr, area and compactness must be 1-D arrays of one length")
    if not cell_diameter > 0:
        raise ValueError(f"cell_diameter must be > 0 pixels, got {cell_diameter}")
    snr, spatial_corr, area, compactness = (np.nan_to_num(value, nan=0.0) for value in arrays)
    disc = np.pi * (cell_diameter / 2) ** 2
    tiny = 1e-9
    signal_margin = np.minimum(
        np.log(np.maximum(snr, tiny) / max(params.min_snr, tiny)),
        (spatial_corr - params.min_spatial_corr) / max(1 - params.min_spatial_corr, tiny),
    )
    size_ratio = np.maximum(area, tiny) / disc
    size_margin = np.minimum(
        np.log(size_ratio / max(params.min_area_factor, tiny)), np.log(params.max_area_factor / size_ratio)
    )
    shape_margin = (compactness - params.min_compactness) / max(params.min_compactness, tiny)

    too_small = size_ratio < params.min_area_factor
    labels, margins = [], np.empty(len(snr))
    for n in range(len(snr)):
        if signal_margin[n] < 0 or too_small[n]:
            label, margin = "artefact", -min(signal_margin[n], size_margin[n])
        elif shape_margin[n] < 0:
            label, margin = "dendrite", min(signal_margin[n], -shape_margin[n])
        elif size_margin[n] < 0:
            label, margin = "artefact", -size_margin[n]
        else:
            label, margin = "soma", min(signal_margin[n], size_margin[n], shape_margin[n])
        labels.append(label)
        margins[n] = margin
    confidence = 1.0 / (1.0 + np.exp(-_SHARPNESS * margins))
    return labels, confidence.astype(np.float32)
