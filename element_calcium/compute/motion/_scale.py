"""The size of the cells in a recording, from a sample of its frames (scale-space blob detection).

A one-photon recording is registered on a band-pass filtered copy whose scale must follow the size of the
cells, which differs between microscopes and magnifications (Miniscope V4 at 608 x 608: often 15-30 px).
The size is measured on the mean of the registered sample frames, less its smooth illumination (a Gaussian
blur wider than any cell searched): there every cell shows at its mean brightness, whatever
its activity during the sample (an activity image, max minus median over time, was tried: it shows the few
cells that fired, often as merged clusters, and its size was 20-25 % short for cells of 20 px or more).
Dark structure (vessels) gives negative responses and is ignored.

The blob scale is found as in Lindeberg's scale selection: the scale-normalised Laplacian of Gaussian
``-s^2 LoG_s * image`` of a Gaussian blob of standard deviation ``b`` peaks at ``s = b``, at the blob's
centre. The strongest maxima in space and scale that stand out from the response's own spread at their scale
(`_MIN_Z` robust standard deviations) vote for their scale, weighted by their response; the diameter is
``4 s`` (the convention of `element_calcium.simulate`: a soma of Gaussian profile with sigma ``d / 4``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

DIAMETERS = np.geomspace(6.0, 48.0, 19)  # (pixels) candidate diameters, 12% apart
_BACKGROUND_FACTOR = 0.75  # the illumination under the cells is a Gaussian blur of this many largest diameters
_MIN_SIDE_PER_DIAMETER = 4  # a diameter is searched only in images at least this many diameters wide
_MIN_Z = 5.0  # a blob's response stands this many robust standard deviations above its scale's median
_TOP = 60  # strongest blobs that vote


def candidate_diameters(shape: tuple[int, int]) -> np.ndarray:
    """(pixels) the `DIAMETERS` an image of ``shape`` is wide enough to measure (a quarter of its side at most)."""
    return DIAMETERS[DIAMETERS * _MIN_SIDE_PER_DIAMETER <= min(shape)]


def structure_image(frames: np.ndarray) -> np.ndarray:
    """(H, W) float32 mean of (n, H, W) registered frames less its Gaussian blur (wider than any candidate cell)."""
    mean = np.asarray(frames, dtype=np.float32).mean(axis=0)
    largest = candidate_diameters(mean.shape)[-1] if len(candidate_diameters(mean.shape)) else DIAMETERS[0]
    return (mean - ndimage.gaussian_filter(mean, _BACKGROUND_FACTOR * largest, mode="reflect")).astype(np.float32)


def blob_diameter(image: np.ndarray) -> float | None:
    """(pixels) typical diameter of the bright blobs of ``image`` (H, W), or None when none stands out.

    The response-weighted geometric mean of the scales of the strongest significant blobs (module notes),
    among the `candidate_diameters` of the image. A band of half the largest diameter along the edges is
    not searched.
    """
    image = np.asarray(image, dtype=np.float64)
    diameters = candidate_diameters(image.shape)
    if len(diameters) < 3:
        return None
    border = int(np.ceil(diameters[-1] / 2))
    stack = np.stack([-((d / 4) ** 2) * ndimage.gaussian_laplace(image, d / 4) for d in diameters])
    inner = stack[:, border:-border, border:-border]
    median = np.median(inner, axis=(1, 2), keepdims=True)
    spread = 1.4826 * np.median(np.abs(inner - median), axis=(1, 2), keepdims=True)
    peaks = (inner == ndimage.maximum_filter(inner, size=(3, 5, 5))) & (inner - median > _MIN_Z * spread)
    scale_index = np.nonzero(peaks)[0]
    if not scale_index.size:
        return None
    response = inner[peaks]
    strongest = np.argsort(-response)[:_TOP]
    return float(np.exp(np.average(np.log(diameters[scale_index[strongest]]), weights=response[strongest])))
