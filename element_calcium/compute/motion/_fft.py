"""Shift estimation from cross-power spectra: integer peak search, then upsampled-DFT refinement.

The cross-correlation of a moving image f with a reference t is ``cc(s) = sum_p f(p + s) t(p)``,
the inverse FFT of ``F * conj(T)``; it peaks at the motion s of the moving image (a reference
feature at p appears at p + s in f). The peak is found on the integer grid inside ``+-max_shift``
and refined to 1/upsample_factor pixel by evaluating the band-limited cross-correlation on a fine
grid around it with small matrix products per image (the upsampled DFT of Guizar-Sicairos et al.,
Opt. Lett. 2008, as in scikit-image's ``phase_cross_correlation``), batched over images: first on
a grid of about 1/4 px over +-0.75 px, then at full resolution around the best coarse point.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np

from element_calcium.compute import _backend


def reference_spectrum(images, xp: ModuleType):
    """Conjugate spectra of mean-free reference images.

    images: (..., h, w) float32. Returns (..., h, w // 2 + 1) complex64 with the zero frequency set
    to 0, so that cross-correlations with it ignore the mean brightness of the moving images.
    """
    spectrum = xp.conj(_backend.rfft2(xp.asarray(images, dtype=xp.float32)))
    spectrum[..., 0, 0] = 0
    return spectrum


def _search_lags(reach: int) -> np.ndarray:
    """Signed lags 0..reach, then -reach..-1 (a lag's index on a circular axis of size n is lag % n)."""
    return np.concatenate([np.arange(reach + 1), np.arange(-reach, 0)])


class PeakFinder:
    """Finds the motion of images of ``shape`` from their cross-power spectra with a reference.

    Args:
        shape: (h, w) of the images.
        max_shift: (pixels) bound of the search along each axis; less than half of h and w.
        upsample_factor: shifts are resolved to 1/upsample_factor pixel (1: integer shifts).
        xp: array namespace of the spectra.
    """

    def __init__(self, shape: tuple[int, int], *, max_shift: float, upsample_factor: int, xp: ModuleType):
        self.xp = xp
        self.shape = (int(shape[0]), int(shape[1]))
        self.max_shift = float(max_shift)
        self.upsample_factor = int(upsample_factor)
        height, width = self.shape
        lags = _search_lags(int(math.floor(max_shift)))
        self.lags = xp.asarray(lags)
        self.rows, self.cols = xp.asarray(lags % height), xp.asarray(lags % width)
        if self.upsample_factor > 1:
            self._prepare_refinement()

    def _prepare_refinement(self) -> None:
        """Phase tables of the two refinement stages (see `_refine`)."""
        xp = self.xp
        height, width = self.shape
        factor = self.upsample_factor
        n_half = width // 2 + 1
        step = math.ceil(factor / 4)  # coarse step, in fine steps: about 1/4 px
        coarse = np.arange(-math.ceil(0.75 * factor / step), math.ceil(0.75 * factor / step) + 1) * step / factor
        reach = step // 2 + 1  # the fine stage reaches half a coarse step and one fine step around the coarse peak
        fine = coarse[:, None] + np.arange(-reach, reach + 1)[None, :] / factor  # (C, F)
        freq_y = np.fft.fftfreq(height, 1.0 / height).astype(np.int64)  # signed integer frequencies
        freq_x = np.arange(n_half, dtype=np.int64)
        # Only half of the spectrum is stored: count the mirrored frequencies twice and keep the real part.
        weight_x = np.full(n_half, 2.0)
        weight_x[0] = 1.0
        if width % 2 == 0:
            weight_x[-1] = 1.0

        def rows(offsets):  # (..., U) offsets -> (..., U, h) exp(2 pi i offset k_y / h)
            return xp.asarray(np.exp(2j * np.pi * offsets[..., None] * freq_y / height).astype(np.complex64))

        def columns(offsets):  # (..., U) offsets -> (..., w//2+1, U) weighted exp(2 pi i k_x offset / w)
            phase = np.exp(2j * np.pi * freq_x[:, None] * offsets[..., None, :] / width)
            return xp.asarray((weight_x[:, None] * phase).astype(np.complex64))

        self.coarse, self.fine = xp.asarray(coarse), xp.asarray(fine)
        self.coarse_rows, self.coarse_columns = rows(coarse), columns(coarse)
        self.fine_rows, self.fine_columns = rows(fine), columns(fine)
        self.freq_y, self.freq_x = xp.asarray(freq_y), xp.asarray(freq_x)
        self.roots_y = xp.asarray(np.exp(2j * np.pi * np.arange(height) / height).astype(np.complex64))
        self.roots_x = xp.asarray(np.exp(2j * np.pi * np.arange(width) / width).astype(np.complex64))

    def _refine(self, product, lags_y, lags_x):
        """Peak of the cross-correlation near integer lags (N,); returns (N, 2) shifts and (N,) peaks.

        The band-limited cross-correlation ``cc(y, x) = sum_k P(k) exp(2 pi i k (y, x) / n)`` is
        evaluated as ``rows @ P @ columns`` on a coarse grid (about 1/4 px, +-0.75 px around the
        lag), then on the 1/upsample_factor grid around the coarse maximum.
        """
        xp = self.xp
        height, width = self.shape
        # exp(2 pi i k (lag + offset) / n): the lag's phase from a table of roots of unity, the offset's from the
        # precomputed rows and columns.
        phase_y = self.roots_y[xp.mod(lags_y[:, None] * self.freq_y[None, :], height)][:, None, :]  # (N, 1, h)
        phase_x = self.roots_x[xp.mod(lags_x[:, None] * self.freq_x[None, :], width)][:, :, None]  # (N, w//2+1, 1)

        def sample(rows, columns):
            values = _backend.matmul(_backend.matmul(rows * phase_y, product), columns * phase_x).real
            flat = values.reshape(len(values), -1)
            best = xp.argmax(flat, axis=1)
            return best // values.shape[2], best % values.shape[2], xp.take_along_axis(flat, best[:, None], axis=1)

        coarse_y, coarse_x, _ = sample(self.coarse_rows[None], self.coarse_columns[None])
        fine_y, fine_x, peak = sample(self.fine_rows[coarse_y], self.fine_columns[coarse_x])
        shifts = xp.stack([lags_y + self.fine[coarse_y, fine_y], lags_x + self.fine[coarse_x, fine_x]], axis=1)
        return shifts, peak[:, 0] / (height * width)

    def __call__(self, product):
        """Motion of each moving image.

        Args:
            product: (N, h, w // 2 + 1) complex64, ``rfft2(moving) * reference_spectrum(reference)``.

        Returns:
            shifts: (N, 2) float32 (dy, dx) pixels, each within +-max_shift.
            peak: (N,) float32 cross-correlation ``sum_p f(p + s) t(p)`` of the mean-free images at
                the shift (divide by the norms for a correlation coefficient).
        """
        xp = self.xp
        cc = _backend.irfft2(product, self.shape)
        window = xp.take(xp.take(cc, self.rows, axis=1), self.cols, axis=2)
        flat = window.reshape(len(window), -1)
        best = xp.argmax(flat, axis=1)
        lags_y = self.lags[best // len(self.cols)]
        lags_x = self.lags[best % len(self.cols)]
        if self.upsample_factor > 1:
            shifts, peak = self._refine(product, lags_y, lags_x)
        else:
            shifts = xp.stack([lags_y, lags_x], axis=1)
            peak = xp.take_along_axis(flat, best[:, None], axis=1)[:, 0]
        shifts = xp.clip(shifts, -self.max_shift, self.max_shift)
        return shifts.astype(xp.float32), peak.astype(xp.float32)
