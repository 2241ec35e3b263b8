"""Summary images of a movie, accumulated chunk by chunk in one pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from element_calcium.compute import _backend

# Neighbour directions (dy, dx) whose products are streamed; the other four are their mirrors.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True)
class SummaryImages:
    """(H, W) float32 summary images of a movie.

    Attributes:
        mean: temporal mean of the frames.
        max: temporal maximum of the frames.
        correlation: each pixel's mean Pearson correlation over time with its 8 neighbours (fewer
            at the frame border) in the detail frames; 0 where a pixel is constant.
        pnr: peak-to-noise ratio of the detail frames, ``(max_t d - mean_t d) / noise``, with noise
            the standard deviation of the first temporal differences divided by sqrt(2); 0 where
            the noise is 0.
    """

    mean: np.ndarray
    max: np.ndarray
    correlation: np.ndarray
    pnr: np.ndarray


def _pair_slices(dy: int, dx: int, height: int, width: int):
    """Slices (a, b) of an (H, W) image such that b is a's neighbour at (dy, dx)."""
    a = (slice(0, height - dy), slice(max(0, -dx), width - max(0, dx)))
    b = (slice(dy, height), slice(max(0, dx), width - max(0, -dx)))
    return a, b


class SummaryAccumulator:
    """Mean, max, correlation and peak-to-noise images, streamed over chunks of frames.

    Sums run in float64 across chunks; within a chunk, products of frames centred on the first
    chunk's mean image are summed in float32. Memory: about ten (H, W) float64 images.

    Args:
        frame_shape: (H, W) pixels.
        device: "auto", "cpu" or "cuda": where the sums are kept.
    """

    def __init__(self, frame_shape: tuple[int, int], *, device: str = "auto"):
        if len(frame_shape) != 2 or min(frame_shape) < 1:
            raise ValueError(f"frame_shape must be (H, W) with H, W >= 1, got {frame_shape!r}")
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.device = _backend.resolve_device(device)
        self._xp = _backend.get_xp(self.device)
        self._count = 0
        self._n_diffs = 0
        self._separate = False  # detail frames given apart from the frames
        self._offset = None  # (H, W) float32: first chunk's mean detail frame
        self._last = None  # (H, W) float32: last centred detail frame added

    def add(self, frames, *, detail=None) -> None:
        """Add consecutive frames.

        Args:
            frames: (n, H, W) finite corrected frames (NumPy or CuPy, any real dtype); the mean and
                max images are theirs.
            detail: (n, H, W) the same frames as the correlation and peak-to-noise images should
                see them (e.g. high-pass filtered); None: ``frames``.
        """
        xp = self._xp
        frames = xp.asarray(_backend.to_device(frames, self.device), dtype=xp.float32)
        if frames.ndim != 3 or frames.shape[1:] != self.frame_shape:
            raise ValueError(f"frames must be (n, {self.frame_shape[0]}, {self.frame_shape[1]}), got {frames.shape}")
        if detail is not None:
            detail = xp.asarray(_backend.to_device(detail, self.device), dtype=xp.float32)
            if detail.shape != frames.shape:
                raise ValueError(f"detail must have the shape of frames {frames.shape}, got {detail.shape}")
        if len(frames) == 0:
            return
        if self._count == 0:
            self._separate = detail is not None
            self._start(frames if detail is None else detail)
        elif self._separate != (detail is not None):
            raise ValueError("detail must be given with every chunk or with none")
        if detail is not None:
            self._sum += frames.sum(axis=0)
            xp.maximum(self._max, frames.max(axis=0), out=self._max)
        self._add_detail((frames if detail is None else detail) - self._offset)
        self._count += len(frames)

    def _start(self, first):
        xp = self._xp
        zeros = xp.zeros
        self._offset = first.mean(axis=0)
        self._sums = [zeros(self.frame_shape, dtype=xp.float64) for _ in range(2)]
        self._products = [
            zeros((self.frame_shape[0] - dy, self.frame_shape[1] - abs(dx)), dtype=xp.float64) for dy, dx in _DIRECTIONS
        ]
        self._diff_sums = [zeros(self.frame_shape, dtype=xp.float64) for _ in range(2)]
        self._detail_max = xp.full(self.frame_shape, -xp.inf, dtype=xp.float32)
        if self._separate:
            self._sum = zeros(self.frame_shape, dtype=xp.float64)
            self._max = xp.full(self.frame_shape, -xp.inf, dtype=xp.float32)

    def _add_detail(self, centred):
        xp = self._xp
        height, width = self.frame_shape
        self._sums[0] += centred.sum(axis=0)
        self._sums[1] += xp.einsum("tij,tij->ij", centred, centred)
        for (dy, dx), total in zip(_DIRECTIONS, self._products):
            a, b = _pair_slices(dy, dx, height, width)
            total += xp.einsum("tij,tij->ij", centred[(slice(None), *a)], centred[(slice(None), *b)])
        xp.maximum(self._detail_max, centred.max(axis=0), out=self._detail_max)
        if self._last is not None:
            step = centred[0] - self._last
            self._diff_sums[0] += step
            self._diff_sums[1] += step * step
        diffs = centred[1:] - centred[:-1]
        self._diff_sums[0] += diffs.sum(axis=0)
        self._diff_sums[1] += xp.einsum("tij,tij->ij", diffs, diffs)
        self._n_diffs += len(centred) - 1 + (self._last is not None)
        self._last = centred[-1].copy()

    def result(self) -> SummaryImages:
        """The summary images of all frames added so far, as NumPy.

        Raises:
            ValueError: no frames were added.
        """
        if self._count == 0:
            raise ValueError("no frames were added to the summary images")
        xp = self._xp
        count = self._count
        mean = self._sums[0] / count
        std = xp.sqrt(xp.maximum(self._sums[1] / count - mean * mean, 0.0))
        if self._separate:
            mean_image, max_image = self._sum / count, self._max
        else:
            mean_image, max_image = mean + self._offset, self._detail_max + self._offset
        if self._n_diffs:
            diff_mean = self._diff_sums[0] / self._n_diffs
            noise = xp.sqrt(xp.maximum(self._diff_sums[1] / self._n_diffs - diff_mean**2, 0.0) / 2.0)
        else:
            noise = xp.zeros_like(mean)
        peak = self._detail_max - mean
        pnr = xp.where(noise > 0, peak / xp.where(noise > 0, noise, 1.0), 0.0)
        images = [mean_image, max_image, self._correlation(mean, std), pnr]
        return SummaryImages(*(_backend.to_numpy(image.astype(xp.float32)) for image in images))

    def _correlation(self, mean, std):
        xp = self._xp
        height, width = self.frame_shape
        total = xp.zeros(self.frame_shape, dtype=xp.float64)
        neighbours = xp.zeros(self.frame_shape, dtype=xp.float64)
        for (dy, dx), product in zip(_DIRECTIONS, self._products):
            a, b = _pair_slices(dy, dx, height, width)
            scale = std[a] * std[b]
            covariance = product / self._count - mean[a] * mean[b]
            pair = xp.where(scale > 0, covariance / xp.where(scale > 0, scale, 1.0), 0.0)
            total[a] += pair
            total[b] += pair
            neighbours[a] += 1
            neighbours[b] += 1
        return total / xp.maximum(neighbours, 1)
