"""What the seeding of source extraction saw: seed candidates and their tests, a mixture fit of their
peak-to-noise, and one frame after each step that prepares the movie for seeding (minian's diagnostic views).

The seeding (`_init`) filters each frame with the CNMF-E seed kernel, removes each pixel's (running) median and
takes seeds where the local correlation reaches ``min_corr`` and the peak-to-noise ratio (PNR) reaches
``min_pnr``, best correlation x PNR first. These functions recompute or read back those quantities; they change
nothing in the extraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from element_calcium.compute.cnmf import _fit, _images

_MIXTURE_ITERATIONS = 500
_MIXTURE_TOLERANCE = 1e-8  # stop when the mean log-likelihood changes less than this


@dataclass(frozen=True)
class SeedCandidates:
    """Candidate seeds: the local maxima of correlation x PNR, and the tests each passed.

    Attributes:
        y, x: (N,) int64 pixel row and column of each candidate.
        correlation: (N,) float32 local correlation of the seed-filtered movie at the candidate.
        pnr: (N,) float32 peak-to-noise ratio of the seed-filtered movie at the candidate.
        passed_pnr: (N,) bool, ``pnr >= min_pnr``.
        passed_correlation: (N,) bool, ``correlation >= min_corr``.
        in_border: (N,) bool, within ``border_pix`` of the frame's edge, where no seed is taken.
        became_cell: (N,) bool, passed both tests outside the border and is the nearest such candidate of a final cell's centre
            (within ``max_distance``); a candidate that passed both but is not a cell was absorbed by a
            neighbour (merged) or dropped by the updates.
        min_corr, min_pnr: the thresholds the seeding used.
    """

    y: np.ndarray
    x: np.ndarray
    correlation: np.ndarray
    pnr: np.ndarray
    passed_pnr: np.ndarray
    passed_correlation: np.ndarray
    in_border: np.ndarray
    became_cell: np.ndarray
    min_corr: float
    min_pnr: float


def seed_candidates(
    correlation_image: np.ndarray, pnr_image: np.ndarray, *, min_corr: float, min_pnr: float, gSig: float,
    cell_centres: np.ndarray | None = None, max_distance: float | None = None, border_pix: int = 0,
) -> SeedCandidates:
    """The candidate seeds of the seed images and which of the seeding's tests each passes.

    Args:
        correlation_image: (H, W) local correlation of the seed-filtered movie (``Segmentation.correlation_image``).
        pnr_image: (H, W) peak-to-noise ratio of the seed-filtered movie (``Segmentation.pnr_image``).
        min_corr, min_pnr: the seeding's thresholds (``ExtractionParams``).
        gSig: (pixels) the seed filter's Gaussian sigma; candidates are local maxima of correlation x PNR over
            a window of about 2 gSig, as the seeding takes at most one seed per cell-sized neighbourhood.
        cell_centres: (K, 2) (y, x) pixel centres of the final cells (``mask_center_y``, ``mask_center_x``);
            None marks no candidate as a cell.
        max_distance: (pixels) farthest a cell's centre may lie from its candidate; None: 4 gSig (about a
            cell diameter).
        border_pix: (pixels) width of the band along the edges where the extraction took no seed.

    Returns:
        The candidates, best correlation x PNR first.
    """
    corr = np.asarray(correlation_image, dtype=np.float32)
    pnr = np.asarray(pnr_image, dtype=np.float32)
    if corr.ndim != 2 or corr.shape != pnr.shape:
        raise ValueError(f"correlation_image and pnr_image must be (H, W) images of one shape, got {corr.shape} "
                         f"and {pnr.shape}")
    if not gSig > 0:
        raise ValueError(f"gSig must be > 0 pixels, got {gSig!r}")
    score = np.where(np.isfinite(corr) & np.isfinite(pnr), np.maximum(corr, 0) * np.maximum(pnr, 0), 0.0)
    spacing = max(3, int(round(2 * gSig)) | 1)
    peaks = np.flatnonzero((score > 0) & (score == ndimage.maximum_filter(score, size=spacing)))
    peaks = peaks[np.argsort(score.flat[peaks], kind="stable")[::-1]]
    y, x = np.divmod(peaks, corr.shape[1])
    passed_pnr = pnr.flat[peaks] >= min_pnr
    passed_corr = corr.flat[peaks] >= min_corr
    height, width = corr.shape
    if not (isinstance(border_pix, (int, np.integer)) and border_pix >= 0):
        raise ValueError(f"border_pix must be an integer >= 0, got {border_pix!r}")
    in_border = (y < border_pix) | (y >= height - border_pix) | (x < border_pix) | (x >= width - border_pix)
    became_cell = _nearest_passing(y, x, passed_pnr & passed_corr & ~in_border, cell_centres,
                                   4.0 * gSig if max_distance is None else float(max_distance))
    return SeedCandidates(y.astype(np.int64), x.astype(np.int64), corr.flat[peaks], pnr.flat[peaks], passed_pnr,
                          passed_corr, in_border, became_cell, float(min_corr), float(min_pnr))


def _nearest_passing(y, x, passing, cell_centres, max_distance) -> np.ndarray:
    """(N,) bool: the candidates that are the nearest passing candidate of some cell centre."""
    became_cell = np.zeros(len(y), dtype=bool)
    if cell_centres is None or not passing.any():
        return became_cell
    centres = np.asarray(cell_centres, dtype=np.float64).reshape(-1, 2)
    index = np.flatnonzero(passing)
    distance = np.hypot(centres[:, :1] - y[index][None, :], centres[:, 1:] - x[index][None, :])
    nearest = np.argmin(distance, axis=1)
    close = distance[np.arange(len(centres)), nearest] <= max_distance
    became_cell[index[nearest[close]]] = True
    return became_cell


@dataclass(frozen=True)
class GaussianMixture1D:
    """A mixture of Gaussians on the real line, components in increasing order of their means.

    Attributes:
        weights: (k,) mixing proportions, summing to 1.
        means: (k,) component means.
        sds: (k,) component standard deviations.
    """

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray

    def densities(self, values: np.ndarray) -> np.ndarray:
        """(k, n) weighted density of each component at ``values`` (n,); their sum is the mixture's density."""
        values = np.asarray(values, dtype=np.float64)[None, :]
        z = (values - self.means[:, None]) / self.sds[:, None]
        return self.weights[:, None] * np.exp(-0.5 * z**2) / (self.sds[:, None] * np.sqrt(2 * np.pi))

    @property
    def boundary(self) -> float:
        """The smallest value between the lowest and highest means where the highest component is the most
        probable: above it minian's mixture test would keep a seed."""
        grid = np.linspace(self.means[0], self.means[-1], 4001)
        densities = self.densities(grid)
        above = np.flatnonzero(np.argmax(densities, axis=0) == len(self.means) - 1)
        return float(grid[above[0]]) if above.size else float(self.means[-1])


def fit_mixture(values: np.ndarray, *, n_components: int = 2) -> GaussianMixture1D:
    """Fit a Gaussian mixture to ``values`` (n,) by expectation-maximisation (minian's seed mixture test).

    minian fits two Gaussians to the fluctuation of its seeds and keeps those of the upper component. Started
    from the values' quantiles, so the fit is deterministic. Standard deviations are kept above 1e-6 of the
    values' range.
    """
    data = np.asarray(values, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if not (isinstance(n_components, int) and n_components >= 1):
        raise ValueError(f"n_components must be an integer >= 1, got {n_components!r}")
    if data.size < 2 * n_components:
        raise ValueError(f"values must hold at least {2 * n_components} finite numbers, got {data.size}")
    floor = max(1e-6 * float(np.ptp(data)), 1e-12)
    means = np.quantile(data, (np.arange(n_components) + 0.5) / n_components)
    sds = np.full(n_components, max(float(data.std()) / n_components, floor))
    weights = np.full(n_components, 1.0 / n_components)
    previous = -np.inf
    for _ in range(_MIXTURE_ITERATIONS):
        densities = GaussianMixture1D(weights, means, sds).densities(data) + 1e-300
        total = densities.sum(axis=0)
        likelihood = float(np.mean(np.log(total)))
        responsibility = densities / total
        counts = responsibility.sum(axis=1) + 1e-12
        weights = counts / data.size
        means = responsibility @ data / counts
        sds = np.maximum(np.sqrt((responsibility * (data[None, :] - means[:, None]) ** 2).sum(axis=1) / counts), floor)
        if abs(likelihood - previous) < _MIXTURE_TOLERANCE:
            break
        previous = likelihood
    order = np.argsort(means)
    return GaussianMixture1D(weights[order], means[order], sds[order])


def preprocessing_steps(
    frames: np.ndarray, *, frame: int, gSig: float, gSiz: int, background: str = "ring",
) -> dict[str, np.ndarray]:
    """One frame after each step that prepares the motion-corrected movie for seeding.

    Args:
        frames: (T, h, w) motion-corrected movie (or a block of it around ``frame``).
        frame: index into ``frames`` of the frame to show.
        gSig, gSiz: (pixels) the seed filter's sigma and size (`resolve_sizes`).
        background: the extraction's background model (``ExtractionParams.background``): with ``"ring"`` each
            filtered pixel loses its running median over the seeding's trend window (600 frames), with
            ``"low_rank"`` its median over ``frames``, as the seeding does.

    Returns:
        (h, w) float32 frames, in order: ``"motion-corrected"``; ``"seed filter"`` (Gaussian of gSig less its mean
        over a disc of gSiz: smooths the noise and removes background smooth on a cell's scale, minian's
        denoise and background removal in one); ``"median removed"`` (each pixel less its (running) median:
        minian's glow removal); ``"over noise"`` (that frame over each pixel's noise: its maximum over time is
        the peak-to-noise ratio compared with ``min_pnr``).
    """
    movie = np.asarray(frames, dtype=np.float32)
    if movie.ndim != 3 or len(movie) == 0:
        raise ValueError(f"frames must be a (T, h, w) movie, got shape {movie.shape}")
    if not (isinstance(frame, (int, np.integer)) and 0 <= frame < len(movie)):
        raise ValueError(f"frame must be an index in [0, {len(movie)}), got {frame!r}")
    if background not in ("ring", "low_rank"):
        raise ValueError(f"background must be 'ring' or 'low_rank', got {background!r}")
    filtered = _images.filter_frames(movie, _images.seed_kernel(gSig, gSiz))
    seed_filtered = filtered[frame].copy()
    _images.remove_trend(filtered, _fit.TREND_FRAMES if background == "ring" else None)
    noise = _images.seed_noise(filtered)
    over_noise = np.where(noise > 0, filtered[frame] / np.where(noise > 0, noise, 1.0), 0.0).astype(np.float32)
    return {"motion-corrected": movie[frame].copy(), "seed filter": seed_filtered,
            "median removed": filtered[frame].copy(), "over noise": over_noise}
