"""Semi-real one-photon movies: real Miniscope tissue moved by known shifts.

A simulator's texture is not the judge of a registration method: real tissue has its own spatial spectrum, its
own cell sizes, and a real sensor adds structure that does not move with the tissue. `semireal_movie` keeps what
is real and adds what a test needs known:

- real tissue: the mean image of real frames that a tool aligned, plus each frame's deviation from it as the tool
  modelled it (its footprints times its calcium traces minus their mean: real cells flashing, exactly aligned
  with the mean image by construction, so no residual motion of the input leaks into the truth);
- the sensor's fixed pattern (real: the part of the raw frames' mean that stays put while the tissue moves, see
  `real_miniscope_tissue`), added at the sensor's pixel scale whatever the magnification;
- the cell size: the tissue is resized by ``cell_scale`` (cells ~20 px across become 12 or 32 px);
- the motion: a smooth random walk with jolts (sudden displacements that relax over about half a second, as a
  head-mounted microscope shows when the animal bumps it), applied exactly by a Fourier shift;
- the one-photon glow: a broad illumination spot fixed to the sensor whose brightness and position drift;
- shot noise: Poisson counts of ``photons_per_grey`` photons per grey level, rounded to 8 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage, signal, sparse

_REFIT_DILATION = 2  # pixels a tool's footprint support grows by before it is refitted to the real frames
_REFIT_SWEEPS = 5  # HALS sweeps of the refit
_REFIT_ACTIVITY = 0.25  # a cell is refitted when its trace's std over the real frames is this share of its std
PATTERN_SCALE = 2.0  # pixels: the sigma of the Gaussian whose smoothing of the sensor pattern is removed

__all__ = ["RealTissue", "SemiRealMovie", "jolting_walk", "real_miniscope_tissue", "semireal_movie"]


@dataclass(frozen=True)
class RealTissue:
    """The ingredients of a semi-real movie, all in the grey levels of the real frames.

    Attributes:
        mean: (H, W) float32 mean image of the aligned real frames (tissue coordinates).
        sensor_pattern: (H, W) float32 fixed pattern of the sensor (sensor coordinates), or None.
        footprints: (H * W, N) float32 sparse footprints of the real cells (tissue coordinates, row y * W + x).
        traces: (N, T) float32 each cell's activity, mean-free over the frames that formed ``mean``. The
            frames before the population's calcium first reaches half its median are left out: minian's traces
            start at zero and rise over the first seconds of a recording.
    """

    mean: np.ndarray
    sensor_pattern: np.ndarray | None
    footprints: sparse.csc_array
    traces: np.ndarray


@dataclass(frozen=True)
class SemiRealMovie:
    """A semi-real movie and its truth.

    Attributes:
        frames: (T, H, W) uint8 movie.
        shifts: (T, 2) float32 (dy, dx) pixels, the motion of the tissue in each frame: a tissue feature at
            (y, x) appears at (y + dy, x + dx) (the sign of `element_calcium.simulate`).
        cell_scale: factor the real tissue was resized by.
        fps: frame rate the motion was drawn for, frames per second.
    """

    frames: np.ndarray
    shifts: np.ndarray
    cell_scale: float
    fps: float


def real_miniscope_tissue(raw_frames, *, applied_shifts, frame_index, footprints, calcium) -> RealTissue:
    """Split real frames and a tool's extraction of the same recording into `RealTissue`.

    Args:
        raw_frames: (n, H, W) real frames before motion correction (e.g. minian's ``org``).
        applied_shifts: (n, 2) integer (dy, dx) the tool rolled each frame's content by to correct it
            (``np.roll(raw_frames[t], applied_shifts[t], axis=(0, 1))`` is aligned with ``footprints``).
        frame_index: (n,) frame of the tool's traces each raw frame is.
        footprints: (H * W, N) sparse footprints the tool found (row y * W + x).
        calcium: (N, T) the tool's denoised calcium of each footprint, in the frames' grey levels when multiplied
            by the footprints (CNMF's ``A C``).

    The mean image is the mean of the aligned frames. The sensor pattern is what stays put in sensor
    coordinates: the raw frames' mean minus the mean image moved back by each frame's shift and averaged, of
    which only the structure finer than `PATTERN_SCALE` pixels is kept (the tool's whole-pixel shifts leave
    residues at the edges of cells in that difference; those are coarser and do not belong to the sensor).
    The footprints of the cells active in the real frames are refitted to them (`_refit_footprints`).
    """
    raw = np.asarray(raw_frames, dtype=np.float32)
    applied = np.asarray(applied_shifts, dtype=np.int64)
    real = np.asarray(frame_index)
    if raw.ndim != 3 or applied.shape != (len(raw), 2) or real.shape != (len(raw),):
        raise ValueError(
            f"raw_frames must be (n, H, W), applied_shifts (n, 2) and frame_index (n,), got {raw.shape}, "
            f"{applied.shape} and {real.shape}"
        )
    aligned = np.stack([np.roll(frame, tuple(shift), axis=(0, 1)) for frame, shift in zip(raw, applied)])
    mean = aligned.mean(axis=0)
    moved_back = np.mean([np.roll(mean, tuple(-shift), axis=(0, 1)) for shift in applied], axis=0)
    pattern = (raw.mean(axis=0) - moved_back).astype(np.float32)
    calcium = np.asarray(calcium, dtype=np.float32)
    traces = calcium - calcium[:, real].mean(axis=1, keepdims=True)
    quiet = traces[:, real].std(axis=1) < _REFIT_ACTIVITY * traces.std(axis=1)
    footprints = _refit_footprints(
        footprints,
        aligned.reshape(len(aligned), -1) - mean.ravel(),
        traces[:, real],
        shape=mean.shape,
        refit=~quiet,
    )
    population = calcium.sum(axis=0)
    return RealTissue(
        mean=mean.astype(np.float32),
        sensor_pattern=pattern - ndimage.gaussian_filter(pattern, PATTERN_SCALE),
        footprints=footprints,
        traces=traces[:, int(np.argmax(population >= 0.5 * np.median(population))) :].astype(np.float32),
    )


def _refit_footprints(footprints, deviations: np.ndarray, traces: np.ndarray, *, shape: tuple[int, int],
                      refit: np.ndarray) -> sparse.csc_array:
    """Footprints re-estimated from the real frames, given the tool's traces over those frames.

    A tool's footprints sit up to a pixel or two away from where the same cells appear in the mean of the
    frames it aligned; a cell that flashed away from its own image would make the truth ambiguous. Each
    footprint flagged in ``refit`` is refitted on its support dilated by `_REFIT_DILATION` pixels so that
    ``deviations ~ (footprints @ traces).T`` (non-negative least squares by HALS sweeps, CNMF's spatial
    update); the others are kept as the tool gave them.

    Args:
        footprints: (P, N) P = H * W pixels.
        deviations: (n, P) real frames minus their mean.
        traces: (N, n) mean-free traces over the same frames.
        shape: (H, W).
        refit: (N,) bool.

    Returns:
        (P, N) float32 csc_array.
    """
    footprints = sparse.csc_array(footprints, dtype=np.float32)
    supports = []
    for cell in range(footprints.shape[1]):
        pixels = footprints.indices[footprints.indptr[cell] : footprints.indptr[cell + 1]]
        if refit[cell] and len(pixels):
            mask = np.zeros(shape, dtype=bool)
            mask.flat[pixels] = True
            pixels = np.flatnonzero(ndimage.binary_dilation(mask, iterations=_REFIT_DILATION))
        supports.append(np.asarray(pixels, dtype=np.int64))
    union = np.unique(np.concatenate(supports + [np.zeros(0, np.int64)]))
    values = sparse.csr_array(footprints)[union].toarray()  # (U, N)
    local = [np.searchsorted(union, pixels) for pixels in supports]
    products = deviations[:, union].T @ traces.T  # (U, N)
    covariance = traces @ traces.T
    for _ in range(_REFIT_SWEEPS):
        for cell in np.flatnonzero(refit & (np.diag(covariance) > 0)):
            support = local[cell]
            step = products[support, cell] - values[support] @ covariance[:, cell]
            values[support, cell] = np.maximum(values[support, cell] + step / covariance[cell, cell], 0.0)
    rows, cells = np.nonzero(values)
    return sparse.csc_array((values[rows, cells], (union[rows], cells)), shape=footprints.shape, dtype=np.float32)


def jolting_walk(rng: np.random.Generator, n_frames: int, *, fps: float, walk_px: float, jolt_px: tuple[float, float],
                 jolts_per_minute: float, relax_s: float = 0.5) -> np.ndarray:
    """(n_frames, 2) float64 rigid motion (dy, dx) in pixels: a smooth random walk plus jolts.

    Args:
        rng: random generator.
        n_frames: frames T.
        fps: frames per second.
        walk_px: standard deviation of the walk along each axis (pixels); correlation time about 2 s.
        jolt_px: (min, max) size of a jolt (pixels), in a uniformly random direction.
        jolts_per_minute: mean rate of jolts (Poisson).
        relax_s: (seconds) time constant with which a jolt's displacement returns to the walk.
    """
    smoothing = math.exp(-1.0 / (2.0 * fps))
    burn_in = int(10 * fps)
    white = rng.standard_normal((burn_in + n_frames, 2))
    walk = signal.lfilter([1.0], [1.0, -smoothing], white, axis=0)[burn_in:]
    walk = ndimage.gaussian_filter1d(walk, 0.15 * fps, axis=0)
    walk *= walk_px / max(float(walk.std()), 1e-12)
    kicks = np.zeros((n_frames, 2))
    for frame in np.flatnonzero(rng.random(n_frames) < jolts_per_minute / (60.0 * fps)):
        angle = rng.uniform(0, 2 * np.pi)
        kicks[frame] = rng.uniform(*jolt_px) * np.array([np.sin(angle), np.cos(angle)])
    relax = math.exp(-1.0 / (relax_s * fps))
    return walk + signal.lfilter([1.0], [1.0, -relax], kicks, axis=0)


def _sensor_crop(pattern: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The centre ``shape`` of ``pattern``, mirrored at its edges where the pattern is smaller."""
    pad = [(max(0, (n - m + 1) // 2),) * 2 for n, m in zip(shape, pattern.shape)]
    tiled = np.pad(pattern, pad, mode="symmetric")
    y0, x0 = (tiled.shape[0] - shape[0]) // 2, (tiled.shape[1] - shape[1]) // 2
    return tiled[y0 : y0 + shape[0], x0 : x0 + shape[1]]


class _Tissue:
    """The real tissue cropped around the centre and resized, frame by frame (tissue coordinates)."""

    def __init__(self, tissue: RealTissue, *, cell_scale: float, size: tuple[int, int]):
        height, width = tissue.mean.shape
        source = [int(math.ceil(n / cell_scale)) + 2 for n in size]
        if source[0] > height or source[1] > width:
            raise ValueError(
                f"real tissue of {height}x{width} px resized by {cell_scale} cannot cover {size[0]}x{size[1]} px; "
                f"ask for a smaller shape or max_shift"
            )
        y0, x0 = (height - source[0]) // 2, (width - source[1]) // 2
        inside = np.zeros((height, width), dtype=bool)
        inside[y0 : y0 + source[0], x0 : x0 + source[1]] = True
        pixels = np.flatnonzero(inside)
        self.footprints = sparse.csr_array(tissue.footprints)[pixels]  # (h0 * w0, N) rows of the crop
        self.traces = tissue.traces
        self.crop = tuple(source)
        self.mean = tissue.mean[y0 : y0 + source[0], x0 : x0 + source[1]]
        self.size = size
        self.scale = cell_scale
        self.interpolation = cv2.INTER_AREA if cell_scale < 1 else cv2.INTER_CUBIC

    def resized(self, image: np.ndarray) -> np.ndarray:
        big = cv2.resize(image, None, fx=self.scale, fy=self.scale, interpolation=self.interpolation)
        return big[: self.size[0], : self.size[1]]

    def frame(self, t: int) -> np.ndarray:
        activity = (self.footprints @ self.traces[:, t % self.traces.shape[1]]).reshape(self.crop)
        return self.resized((self.mean + activity).astype(np.float32))


def semireal_movie(
    tissue: RealTissue,
    *,
    cell_scale: float,
    n_frames: int,
    shape: tuple[int, int],
    fps: float = 20.0,
    walk_px: float = 2.0,
    jolt_px: tuple[float, float] = (3.0, 8.0),
    jolts_per_minute: float = 6.0,
    max_shift: float = 12.0,
    glow_level: float = 80.0,
    photons_per_grey: float = 100.0,
    seed: int = 0,
) -> SemiRealMovie:
    """A movie of real tissue moved by known rigid shifts (see the module docstring).

    Args:
        tissue: the real ingredients (`real_miniscope_tissue`); frame t shows activity ``traces[:, t % T]``.
        cell_scale: factor (> 0) the tissue is resized by before shifting.
        n_frames: frames T of the output.
        shape: (H, W) of the output, pixels; the resized tissue must cover it plus ``max_shift`` + 8 px on
            every side (the sensor pattern is mirrored at its edges where it is smaller).
        fps: frames per second of the motion model.
        walk_px, jolt_px, jolts_per_minute: the motion (see `jolting_walk`); clipped to +-max_shift per axis.
        max_shift: (pixels) largest shift along each axis.
        glow_level: grey level of the sensor-fixed illumination spot at its centre (a quarter of it lies
            everywhere).
        photons_per_grey: Poisson photons per grey level (noise std = sqrt(level / photons_per_grey)); the
            default gives about 1 grey level at the spot's centre, the real frames' own noise.
        seed: seed of the motion, glow and noise.

    Returns:
        The movie and its true shifts.
    """
    if not cell_scale > 0:
        raise ValueError(f"cell_scale must be > 0, got {cell_scale}")
    height, width = shape
    margin = int(math.ceil(max_shift)) + 8
    need = (height + 2 * margin, width + 2 * margin)
    source = _Tissue(tissue, cell_scale=cell_scale, size=need)
    pattern = None if tissue.sensor_pattern is None else _sensor_crop(tissue.sensor_pattern, shape)

    rng = np.random.default_rng(seed)
    shifts = jolting_walk(rng, n_frames, fps=fps, walk_px=walk_px, jolt_px=jolt_px, jolts_per_minute=jolts_per_minute)
    shifts = np.clip(shifts, -max_shift, max_shift)
    time = np.arange(n_frames) / max(n_frames - 1, 1)
    phase = rng.uniform(0, 2 * np.pi, 3)
    brightness = glow_level * (1.0 + 0.15 * np.sin(2 * np.pi * time + phase[0]))
    centres = 0.03 * np.array(shape) * np.stack([np.sin(np.pi * time + phase[1]), np.sin(np.pi * time + phase[2])], 1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    spot = 0.45 * np.array(shape, dtype=np.float32)
    frequency_y, frequency_x = np.meshgrid(np.fft.fftfreq(need[0]), np.fft.fftfreq(need[1]), indexing="ij")
    out = np.empty((n_frames, height, width), dtype=np.uint8)
    for t in range(n_frames):
        spectrum = np.fft.fft2(source.frame(t)) * np.exp(-2j * np.pi * (frequency_y * shifts[t, 0] + frequency_x * shifts[t, 1]))
        moved = np.fft.ifft2(spectrum).real[margin : margin + height, margin : margin + width]
        cy, cx = np.array(shape) / 2 + centres[t]
        glow = brightness[t] * np.exp(-0.5 * (((ys - cy) / spot[0]) ** 2 + ((xs - cx) / spot[1]) ** 2))
        expected = glow + 0.25 * glow_level + moved + (0.0 if pattern is None else pattern)
        counts = rng.poisson(np.clip(expected, 0, None) * photons_per_grey)
        out[t] = np.clip(np.rint(counts / photons_per_grey), 0, 255)
    return SemiRealMovie(frames=out, shifts=shifts.astype(np.float32), cell_scale=float(cell_scale), fps=float(fps))
