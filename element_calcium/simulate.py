"""Ground-truth calcium-imaging movies and writers of real acquisition formats.

`simulate` builds a seeded movie whose every ingredient is known: cell footprints, spikes, calcium traces,
rigid shifts and (optionally) a non-rigid displacement field. Frames are rendered on demand, chunk by chunk,
so a long, large recording never sits in memory whole.

Two imaging modes:

- ``"1p"`` (head-mounted one-photon Miniscope): 8-bit frames; a large smooth background (uneven illumination,
  out-of-focus fluorescence) that drifts slowly and bleaches; a neuropil haze that follows population activity;
  dark blood vessels; dim cells and additive sensor noise (low SNR).
- ``"2p"`` (two-photon): 16-bit frames; a dark background near the detector offset; a faint neuropil texture;
  bright somata with a dimmer nucleus; shot noise whose variance grows with brightness.

The image model of frame ``t`` (before noise and rounding to the output dtype) is::

    frame_t(p) = bleach(t) * tissue_t(p - shift_t - warp_t(p)) + background_t(p)
    tissue_t   = texture + sum_n F0_n * footprint_n * (1 + calcium_n(t))

Tissue (texture, vessels, cells) moves with the brain; the smooth background (illumination, drift, neuropil
haze) is fixed to the sensor.

`semireal_movie` moves real Miniscope tissue (`real_miniscope_tissue`) by known shifts instead: real texture,
real cells and the sensor's real fixed pattern, for judging registration where a simulator's texture cannot.

The writers (`write_miniscope_v4`, `write_miniscope_v3`, `write_tiff`) store a movie in the files that
acquisition systems produce and return a `WrittenRecording` that says what a correct reader must report.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import interpolate, ndimage, signal, sparse, special

from element_calcium._simulate_astro import AstroMovie, AstroTruth, simulate_astro
from element_calcium._simulate_formats import (
    WrittenRecording,
    _check_int,
    _check_number,
    write_miniscope_v3,
    write_miniscope_v4,
    write_tiff,
    write_voltage_recording,
)
from element_calcium._simulate_semireal import (
    RealTissue,
    SemiRealMovie,
    jolting_walk,
    real_miniscope_tissue,
    semireal_movie,
)
from element_calcium._simulate_traces import burst_spike_counts, bursting_cells, silence_below

__all__ = [
    "AstroMovie",
    "AstroTruth",
    "GroundTruth",
    "RealTissue",
    "SemiRealMovie",
    "SimulatedMovie",
    "WrittenRecording",
    "jolting_walk",
    "real_miniscope_tissue",
    "semireal_movie",
    "simulate",
    "simulate_astro",
    "write_miniscope_v3",
    "write_miniscope_v4",
    "write_tiff",
    "write_voltage_recording",
]

_MODES = ("1p", "2p")
_LOWRES = 8  # the smooth background is computed on a grid this many times coarser, then upsampled
_SHIFT_STEP = 1.0 / 32.0  # OpenCV resolves sub-pixel positions to 1/32 px; true shifts are kept on that grid
_FOOTPRINT_FLOOR = 0.01  # footprint values below this are set to 0 (local support, about 3 sigma)
_SIGMA_PER_DIAMETER = 0.25  # soma diameter = 4 sigma of its Gaussian
_MARGIN = (6.0, 1.5)  # cell centres keep max(6 px, 1.5 sigma of the largest cell) from the frame edges

# Per-mode constants. Intensities are in grey levels of the output dtype.
_MODE_SETTINGS = {
    "1p": {
        "dtype": np.dtype(np.uint8),
        "sigma": (2.5, 4.0),  # soma Gaussian width, px (diameter 10-16 px)
        "nucleus": 0.0,  # depth of the dimmer nucleus (2p GCaMP is excluded from the nucleus)
        "f0": (8.0, 14.0),  # resting brightness of a cell at its footprint peak
        "tau_rise": (0.04, 0.08),  # s
        "tau_decay": (0.3, 0.7),  # s
        "texture": (30.0, 0.25, 3.0),  # mean level, relative modulation, spatial scale px
        "vessel_depth": 0.7,
        "floor": 25.0,  # background level at the edges of the illumination spot
        "spot": 60.0,  # extra background at the centre of the illumination spot
        "drift": 6.0,  # amplitude of the slowly drifting background modes
        "neuropil": 20.0,  # haze brightness per unit of mean population calcium
        "bleach": 0.2,  # fraction of brightness lost after long imaging
        "noise": 4.0,
    },
    "2p": {
        "dtype": np.dtype(np.uint16),
        "sigma": (2.5, 3.5),  # diameter 10-14 px
        "nucleus": 0.45,
        "f0": (150.0, 350.0),
        "tau_rise": (0.05, 0.1),
        "tau_decay": (0.6, 1.2),
        "texture": (25.0, 0.5, 1.5),
        "vessel_depth": 0.9,
        "floor": 100.0,  # detector dark offset
        "spot": 0.0,
        "drift": 0.0,
        "neuropil": 30.0,
        "bleach": 0.1,
        "noise": 25.0,
    },
}
_BLEACH_TAU = 120.0  # s
_DRIFT_TAU = 20.0  # s, correlation time of the background drift
_MOTION_TAU = (2.0, 0.15)  # s, correlation time of the motion random walk and of its smoothing


@dataclass(frozen=True)
class GroundTruth:
    """What a simulated movie was made of. Arrays are read-only.

    Attributes:
        footprints: (H, W, N) float32 spatial footprints, each with maximum 1 and zero beyond about 3 sigma of
            its centre (Gaussian soma; in 2p with a dimmer nucleus). Memory is H * W * N * 4 bytes.
        calcium: (N, T) float32 calcium response (unitless, dF/F-like): cell n is ``F0_n * (1 + calcium[n, t])``
            bright at its footprint peak. AR(2) response to the spikes (AR(1) when the rise is shorter than a
            frame), each spike raising it by about 1 at its peak; in bursting cells exactly 0 wherever that
            response is below 1e-3 (`element_calcium._simulate_traces.SILENT_LEVEL`).
        spikes: (N, T) float32 spike counts per frame.
        shifts: (T, 2) float32 rigid shift (y, x) in pixels of frame t: a tissue feature at (y, x) appears at
            (y + dy, x + dx). Multiples of 1/32 px, the sub-pixel resolution of the warp.
        centers: (N, 2) float32 (y, x) footprint centres in pixels (in the unshifted tissue frame).
        fps: frame rate, frames per second.
        mode: "1p" or "2p".
        warps: (T, gy, gx, 2) float32 non-rigid displacement (y, x) in pixels added to the rigid shift, given on
            a gy x gx grid of nodes at ``y_i = i * (H - 1) / (gy - 1)``, ``x_j = j * (W - 1) / (gx - 1)`` and
            interpolated between nodes with a natural cubic spline along each axis; zero mean over the nodes of
            each frame. Frame t shows the tissue at ``p - shift_t - warp_t(p)`` at output pixel p. None when the
            movie is rigid.
        bursting: (N,) bool, the cells that fire in bursts separated by silences (see `simulate`).
    """

    footprints: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    shifts: np.ndarray
    centers: np.ndarray
    fps: float
    mode: str
    warps: np.ndarray | None = None
    bursting: np.ndarray | None = None


@dataclass(frozen=True)
class _Scene:
    """Precomputed rendering inputs (float32)."""

    static: np.ndarray  # (H, W) resting tissue: texture, vessels and cell F0, in the tissue frame
    cells: sparse.csc_array  # (H * W, N) F0_n * footprint_n: times calcium(t), the active part of frame t
    bases: np.ndarray  # (K, h * w) smooth sensor-frame background bases on the coarse grid
    basis_shape: tuple[int, int]  # (h, w) of the coarse grid
    coefficients: np.ndarray  # (T, K) weights of the bases per frame
    bleach: np.ndarray  # (T,) brightness factor of the tissue
    dark: float  # detector offset the shot noise is measured from
    noise: float  # noise std (grey levels) at the mean brightness of the field of view
    shot_gain: float  # 2p: noise variance per grey level above `dark`; 0 in 1p
    interp_y: np.ndarray | None  # (H, gy) spline weights for the non-rigid field
    interp_x: np.ndarray | None  # (W, gx)


class SimulatedMovie:
    """A seeded movie rendered on demand from its `GroundTruth`; made by `simulate`.

    Attributes:
        truth: the ground truth the frames are drawn from.
        shape: (T, H, W).
        dtype: uint8 in 1p (Miniscope sensors are 8-bit), uint16 in 2p.
        fps: frame rate, frames per second.
    """

    def __init__(self, truth: GroundTruth, scene: _Scene, *, seed: int):
        self.truth = truth
        self._scene = scene
        self._seed = seed
        height, width, _ = truth.footprints.shape
        self.shape = (truth.calcium.shape[1], height, width)
        self.dtype = _MODE_SETTINGS[truth.mode]["dtype"]
        self.fps = truth.fps

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        n_cells = self.truth.footprints.shape[2]
        return f"SimulatedMovie(mode={self.truth.mode!r}, shape={self.shape}, n_cells={n_cells}, fps={self.fps})"

    def render(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start <= t < stop``, (stop - start, H, W) in `dtype`.

        Deterministic: a frame has the same pixels whichever range it is rendered in.
        """
        n_frames, height, width = self.shape
        start = _check_int("start", start, 0, n_frames)
        stop = _check_int("stop", stop, start, n_frames)
        out = np.empty((stop - start, height, width), dtype=self.dtype)
        for t in range(start, stop):
            out[t - start] = self._frame(t)
        return out

    def chunks(self, n_frames: int) -> Iterator[np.ndarray]:
        """Consecutive renders of `n_frames` frames (the last one shorter), covering the whole movie."""
        n_frames = _check_int("n_frames", n_frames, 1)
        for start in range(0, len(self), n_frames):
            yield self.render(start, min(start + n_frames, len(self)))

    def _frame(self, t: int) -> np.ndarray:
        """Frame t, (H, W) `dtype`: compose the tissue, move it, light it, add noise and quantise."""
        scene = self._scene
        _, height, width = self.shape
        active = (scene.cells @ self.truth.calcium[:, t]).reshape(height, width)
        moved = self._move(cv2.add(scene.static, active), t)
        h, w = scene.basis_shape
        low = (scene.coefficients[t] @ scene.bases).reshape(h, w)
        background = cv2.resize(low, (width, height), interpolation=cv2.INTER_LINEAR)
        depth = cv2.CV_8U if self.dtype == np.uint8 else cv2.CV_16U
        bleach = float(scene.bleach[t])
        if scene.noise == 0:
            return cv2.addWeighted(moved, bleach, background, 1.0, 0.0, dtype=depth)
        noise = _standard_normal(self._seed, t, moved.size).reshape(moved.shape)
        if scene.shot_gain == 0:  # sensor read noise, the same everywhere
            return cv2.addWeighted(moved, bleach, cv2.scaleAdd(noise, scene.noise, background), 1.0, 0.0, dtype=depth)
        clean = cv2.scaleAdd(moved, bleach, background)
        variance = cv2.max(cv2.addWeighted(clean, scene.shot_gain, clean, 0.0, -scene.shot_gain * scene.dark), 0.0)
        return cv2.add(clean, cv2.multiply(noise, cv2.sqrt(variance)), dtype=depth)

    def _move(self, tissue: np.ndarray, t: int) -> np.ndarray:
        """Apply the rigid shift (and non-rigid warp) of frame t to a tissue frame."""
        dy, dx = (float(v) for v in self.truth.shifts[t])
        height, width = tissue.shape
        scene = self._scene
        if self.truth.warps is None:
            if dy == 0.0 and dx == 0.0:
                return tissue
            matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float64)
            return cv2.warpAffine(
                tissue, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
            )
        warp = self.truth.warps[t]
        field_y = scene.interp_y @ (warp[:, :, 0] @ scene.interp_x.T)
        field_x = scene.interp_y @ (warp[:, :, 1] @ scene.interp_x.T)
        rows = np.arange(height, dtype=np.float32)[:, None]
        cols = np.arange(width, dtype=np.float32)[None, :]
        map_y = (rows - np.float32(dy)) - field_y
        map_x = (cols - np.float32(dx)) - field_x
        return cv2.remap(tissue, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def simulate(
    *,
    n_frames: int = 1000,
    height: int = 128,
    width: int = 128,
    n_cells: int = 20,
    cell_diameter: float | tuple[float, float] | None = None,
    mode: str = "1p",
    fps: float = 20.0,
    max_shift: float = 3.0,
    nonrigid: bool = False,
    spike_rate: float = 0.5,
    burst_fraction: float = 0.0,
    noise: float | None = None,
    seed: int = 0,
) -> SimulatedMovie:
    """A seeded ground-truth calcium-imaging movie, rendered lazily.

    Args:
        n_frames: number of frames T.
        height, width: frame size H, W in pixels (at least 16 each).
        n_cells: number of cells N (0 gives background only).
        cell_diameter: soma diameter in pixels, 4 x the sigma of the soma's Gaussian: one value, or a (min, max)
            range that each cell draws its diameter from uniformly; at most the smaller frame side. Footprint
            support (about 3 sigma) and the margin kept from the frame edges (max(6 px, 1.5 sigma of the largest
            cell), at most 1/8 of the smaller side) follow it; centres are spread as far apart as the field
            allows, whatever the size. None: the mode's default (1p: 10-16 px, 2p: 10-14 px).
        mode: "1p" (one-photon Miniscope-like, uint8) or "2p" (two-photon, uint16).
        fps: frame rate, frames per second.
        max_shift: bound of the rigid motion, pixels; each of the y and x shifts stays within +-max_shift
            (a smooth random walk). 0 gives a still movie. Less than a quarter of the smaller frame side.
        nonrigid: add a smooth non-rigid displacement (up to about max_shift / 2, zero mean over the frame) on
            top of the rigid shift; needs max_shift > 0.
        spike_rate: mean firing rate per cell, spikes per second (cells vary around it).
        burst_fraction: fraction of the cells, in [0, 1] (rounded to whole cells), that fire in bursts of 1-4 s
            separated by silences of 10-30 s, at the same mean rate; their calcium is exactly 0 where the
            response falls below 1e-3, so their traces have flat zero stretches many seconds long, as minian's
            ``C`` and sparse OASIS calcium do. ``truth.bursting`` names them. 0 draws nothing extra: the
            movie of a seed is the same as without this option.
        noise: noise standard deviation in grey levels of the output dtype for a pixel at the mean brightness of
            the field of view. 1p adds this much sensor noise everywhere; 2p adds shot noise, whose variance is
            proportional to the brightness above the detector offset (dimmer pixels less, somata more).
            0 renders noiseless frames; None uses the mode's default (1p: 4.0; 2p: 25.0).
        seed: seed of every random draw; frame t's noise comes from ``numpy.random.default_rng([seed, t])``.
            The bursts come from a stream of their own, so the other draws of a seed stay the same.

    Returns:
        The movie; its `truth` holds the footprints, spikes, calcium, shifts and warps.
    """
    n_frames = _check_int("n_frames", n_frames, 1)
    height = _check_int("height", height, 16)
    width = _check_int("width", width, 16)
    n_cells = _check_int("n_cells", n_cells, 0)
    seed = _check_int("seed", seed, 0)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    fps = _check_number("fps", fps, 0.0, strict=True)
    max_shift = _check_number("max_shift", max_shift, 0.0)
    if max_shift >= min(height, width) / 4:
        raise ValueError(f"max_shift must be less than a quarter of the smaller frame side, got {max_shift}")
    if not isinstance(nonrigid, bool):
        raise ValueError(f"nonrigid must be True or False, got {nonrigid!r}")
    if nonrigid and max_shift == 0:
        raise ValueError("nonrigid=True needs max_shift > 0 (the warp amplitude is a fraction of max_shift)")
    spike_rate = _check_number("spike_rate", spike_rate, 0.0)
    burst_fraction = _check_number("burst_fraction", burst_fraction, 0.0, 1.0)
    settings = _MODE_SETTINGS[mode]
    noise = settings["noise"] if noise is None else _check_number("noise", noise, 0.0)
    sigmas = settings["sigma"] if cell_diameter is None else _diameter_sigmas(cell_diameter, height, width)

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    rng_cells, rng_spikes, rng_motion, rng_warp, rng_tissue, rng_background, rng_bursts = streams
    centers, patches = _draw_cells(rng_cells, n_cells, height, width, sigmas, settings["nucleus"])
    bursting = bursting_cells(rng_bursts, n_cells, burst_fraction)
    spikes, calcium = _draw_activity(rng_spikes, n_frames, fps, spike_rate, settings, bursting=bursting,
                                     rng_bursts=rng_bursts)
    shifts = _draw_shifts(rng_motion, n_frames, fps, max_shift)
    warps = interp_y = interp_x = None
    if nonrigid:
        grid = (_grid_nodes(height), _grid_nodes(width))
        warps = _draw_warps(rng_warp, n_frames, fps, max_shift / 4, grid)
        interp_y, interp_x = _spline_weights(height, grid[0]), _spline_weights(width, grid[1])

    footprints = np.zeros((height, width, n_cells), dtype=np.float32)
    for n, (y0, y1, x0, x1, patch) in enumerate(patches):
        footprints[y0:y1, x0:x1, n] = patch
    f0 = rng_cells.uniform(*settings["f0"], n_cells).astype(np.float32)
    cells = _cells_matrix(patches, f0, width, height * width)
    static = _draw_tissue(rng_tissue, height, width, settings)
    static += (cells @ np.ones(n_cells, dtype=np.float32)).reshape(height, width)
    bleach = _bleaching(n_frames, fps, settings["bleach"])
    bases, basis_shape, coefficients = _draw_background(rng_background, height, width, fps, bleach, calcium, settings)
    dark = settings["floor"] if mode == "2p" else 0.0
    shot_gain = 0.0
    if mode == "2p":  # calibrate the shot noise on the mean brightness of the first noiseless frame
        mean_brightness = float(static.mean()) * bleach[0] + float((coefficients[0] @ bases).mean())
        shot_gain = noise**2 / max(mean_brightness - dark, 1.0)

    truth = GroundTruth(
        footprints=footprints,
        calcium=calcium,
        spikes=spikes,
        shifts=shifts,
        centers=centers,
        fps=fps,
        mode=mode,
        warps=warps,
        bursting=bursting,
    )
    for value in (footprints, calcium, spikes, shifts, centers, warps, bursting):
        if value is not None:
            value.flags.writeable = False
    scene = _Scene(
        static=static,
        cells=cells,
        bases=bases,
        basis_shape=basis_shape,
        coefficients=coefficients,
        bleach=bleach,
        dark=float(dark),
        noise=float(noise),
        shot_gain=float(shot_gain),
        interp_y=interp_y,
        interp_x=interp_x,
    )
    return SimulatedMovie(truth, scene, seed=seed)


def _diameter_sigmas(cell_diameter, height, width) -> tuple[float, float]:
    """(min, max) soma sigma in pixels of ``cell_diameter`` (a number or a (min, max) pair), checked."""
    bounds = cell_diameter if isinstance(cell_diameter, (tuple, list)) else (cell_diameter, cell_diameter)
    if len(bounds) != 2:
        raise ValueError(f"cell_diameter must be a number or a (min, max) pair of pixels, got {cell_diameter!r}")
    side = min(height, width)
    low = _check_number("cell_diameter", bounds[0], 0.0, side, strict=True)
    high = _check_number("cell_diameter", bounds[1], low, side)
    return low * _SIGMA_PER_DIAMETER, high * _SIGMA_PER_DIAMETER


def _draw_cells(rng, n_cells, height, width, sigmas, nucleus):
    """Well-spread centres (best of 20 candidates) and footprint patches (y0, y1, x0, x1, (h, w) float32).

    sigmas: (min, max) of the soma Gaussian's sigma (px), drawn uniformly per cell; nucleus: depth of the dimmer
    nucleus (0: none). The margin from the frame edges follows the largest sigma (`_MARGIN`), at most 1/8 of
    the smaller side.
    """
    margin = min(max(_MARGIN[0], _MARGIN[1] * sigmas[1]), min(height, width) / 8)
    centers = np.empty((n_cells, 2), dtype=np.float64)
    for n in range(n_cells):
        candidates = rng.uniform((margin, margin), (height - 1 - margin, width - 1 - margin), size=(20, 2))
        if n:
            distance = np.linalg.norm(candidates[:, None, :] - centers[None, :n], axis=2).min(axis=1)
            centers[n] = candidates[np.argmax(distance)]
        else:
            centers[n] = candidates[0]
    patches = []
    for cy, cx in centers:
        sigma = rng.uniform(*sigmas)
        elongation = rng.uniform(0.8, 1.25)
        angle = rng.uniform(0.0, np.pi)
        radius = math.ceil(3.2 * sigma * max(elongation, 1 / elongation))
        y0, y1 = max(int(cy) - radius, 0), min(int(cy) + radius + 2, height)
        x0, x1 = max(int(cx) - radius, 0), min(int(cx) + radius + 2, width)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        u = (yy - cy) * np.cos(angle) + (xx - cx) * np.sin(angle)
        v = -(yy - cy) * np.sin(angle) + (xx - cx) * np.cos(angle)
        q = (u / (sigma * elongation)) ** 2 + (v * elongation / sigma) ** 2
        patch = np.exp(-q / 2)
        if nucleus:
            patch -= nucleus * np.exp(-q / (2 * 0.4**2))
        patch /= patch.max()
        patch[patch < _FOOTPRINT_FLOOR] = 0.0
        patches.append((y0, y1, x0, x1, patch.astype(np.float32)))
    return centers.astype(np.float32), patches


def _cells_matrix(patches, f0, width, n_pixels):
    """(n_pixels, N) float32 CSC matrix of F0_n * footprint_n over the flattened frame."""
    pixels, columns, values = [], [], []
    for n, (y0, _, x0, _, patch) in enumerate(patches):
        yy, xx = np.nonzero(patch)
        pixels.append((yy + y0) * width + xx + x0)
        columns.append(np.full(len(yy), n))
        values.append(patch[yy, xx] * f0[n])
    if not patches:
        return sparse.csc_array((n_pixels, 0), dtype=np.float32)
    entries = (np.concatenate(values), (np.concatenate(pixels), np.concatenate(columns)))
    return sparse.csc_array(entries, shape=(n_pixels, len(patches)), dtype=np.float32)


def _draw_activity(rng, n_frames, fps, spike_rate, settings, *, bursting, rng_bursts):
    """Poisson spike counts (N, T) and their AR(2) calcium response, both float32.

    Cells where ``bursting`` (N,) is True fire only in bursts (their spikes from ``rng_bursts``) and their calcium
    is 0 wherever below `_simulate_traces.SILENT_LEVEL`; the draws of ``rng`` do not depend on them.
    """
    n_cells = len(bursting)
    rates = spike_rate * rng.lognormal(-0.125, 0.5, n_cells)
    spikes = rng.poisson(rates[:, None] / fps, size=(n_cells, n_frames)).astype(np.float32)
    for n in np.flatnonzero(bursting):
        spikes[n] = burst_spike_counts(rng_bursts, rates[n], n_frames, fps)
    sizes = spikes * rng.lognormal(-0.02, 0.2, size=spikes.shape)
    calcium = np.empty_like(spikes)
    for n in range(n_cells):
        tau_decay, tau_rise = rng.uniform(*settings["tau_decay"]), rng.uniform(*settings["tau_rise"])
        decay, rise = np.exp(-1.0 / (tau_decay * fps)), np.exp(-1.0 / (tau_rise * fps))
        denominator = [1.0, -(decay + rise), decay * rise]
        impulse = np.zeros(math.ceil(10 * tau_rise * fps) + 4)  # long enough to pass the peak
        impulse[0] = 1.0
        peak = signal.lfilter([1.0], denominator, impulse).max()
        calcium[n] = signal.lfilter([1.0 / peak], denominator, sizes[n])
    calcium[bursting] = silence_below(calcium[bursting])
    return spikes, calcium


def _random_walk(rng, n_frames, fps, shape):
    """Smooth stationary random walk with unit variance, (n_frames, *shape) float64.

    White noise through two first-order low-pass stages (correlation times `_MOTION_TAU`), started in its
    stationary state by a burn-in.
    """
    a = np.exp(-1.0 / (_MOTION_TAU[0] * fps))
    b = np.exp(-1.0 / (_MOTION_TAU[1] * fps))
    burn_in = int(np.ceil(5 * _MOTION_TAU[0] * fps))
    white = rng.standard_normal((burn_in + n_frames, *shape))
    walk = signal.lfilter([1.0], [1.0, -b], signal.lfilter([1.0], [1.0, -a], white, axis=0), axis=0)
    variance = (1 + a * b) / ((1 - a * b) * (1 - a**2) * (1 - b**2))
    return walk[burn_in:] / np.sqrt(variance)


def _draw_shifts(rng, n_frames, fps, max_shift):
    """Rigid shifts (T, 2) float32 within +-max_shift, on the 1/32 px grid."""
    shifts = max_shift * np.tanh(0.5 * _random_walk(rng, n_frames, fps, (2,)))
    shifts = np.round(shifts / _SHIFT_STEP) * _SHIFT_STEP
    return np.clip(shifts, -max_shift, max_shift).astype(np.float32)


def _draw_warps(rng, n_frames, fps, amplitude, grid):
    """Non-rigid node displacements (T, gy, gx, 2) float32, zero mean over the nodes of each frame."""
    warps = amplitude * np.tanh(0.5 * _random_walk(rng, n_frames, fps, (*grid, 2)))
    warps -= warps.mean(axis=(1, 2), keepdims=True)
    return warps.astype(np.float32)


def _grid_nodes(size):
    """Nodes of the non-rigid grid along an axis of `size` pixels: about one per 100 px, 3 to 8."""
    return int(np.clip(round(size / 100) + 1, 3, 8))


def _spline_weights(size, nodes):
    """(size, nodes) float32 weights of a natural cubic spline through equally spaced nodes spanning the axis."""
    spline = interpolate.CubicSpline(np.linspace(0, size - 1, nodes), np.eye(nodes), bc_type="natural")
    return spline(np.arange(size)).astype(np.float32)


def _smooth_field(rng, shape, scale):
    """Gaussian-filtered white noise, (shape) float32 with maximum absolute value 1."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return (field / np.abs(field).max()).astype(np.float32)


def _draw_tissue(rng, height, width, settings):
    """Resting tissue without cells (H, W) float32: a fine texture cut by dark blood vessels."""
    level, modulation, scale = settings["texture"]
    texture = level * np.clip(1.0 + modulation * _smooth_field(rng, (height, width), scale), 0.0, None)
    vessels = np.zeros((height, width), dtype=np.uint8)
    size = max(height, width)
    for _ in range(max(2, round((height + width) / 250))):
        # a wandering line through a random point, drawn out both ways across the field in 8 px steps
        angle = rng.uniform(0, 2 * np.pi)
        turns = [heading + rng.normal(0.0, 0.08, size // 8).cumsum() for heading in (angle, angle + np.pi)]
        start = rng.uniform((0, 0), (width, height))
        paths = [8.0 * np.stack([np.cos(a), np.sin(a)], axis=1).cumsum(axis=0) for a in turns]
        points = start + np.concatenate([paths[1][::-1], [(0.0, 0.0)], paths[0]])
        thickness = int(rng.integers(3, 8))
        cv2.polylines(vessels, [np.round(points).astype(np.int32)], False, 255, thickness, cv2.LINE_AA)
    vessels = cv2.GaussianBlur(vessels.astype(np.float32) / 255.0, (0, 0), 1.5)
    return (texture * (1.0 - settings["vessel_depth"] * vessels)).astype(np.float32)


def _bleaching(n_frames, fps, depth):
    """(T,) float32 brightness factor: 1 at the start, losing `depth` with time constant `_BLEACH_TAU`."""
    return (1.0 - depth * (1.0 - np.exp(-np.arange(n_frames) / (fps * _BLEACH_TAU)))).astype(np.float32)


def _draw_background(rng, height, width, fps, bleach, calcium, settings):
    """Smooth sensor-frame background as coarse bases (K, h * w), their shape and weights (T, K), float32.

    Bases: the illumination spot with its floor (weight: bleaching), slowly drifting modes (1p), and the
    neuropil haze (weight: mean population calcium).
    """
    n_frames = len(bleach)
    shape = (max(2, math.ceil(height / _LOWRES)), max(2, math.ceil(width / _LOWRES)))
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]] / np.array(shape).reshape(2, 1, 1)
    cy, cx = rng.uniform(0.35, 0.65, 2)
    spot = settings["floor"] + settings["spot"] * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 0.45**2))
    bases = [spot]
    weights = [bleach]
    if settings["drift"]:
        drift = _drift(rng, n_frames, fps, 2)
        for k in range(2):
            bases.append(settings["drift"] * _smooth_field(rng, shape, min(shape) / 6))
            weights.append(drift[:, k])
    haze = 0.5 + 0.5 * _smooth_field(rng, shape, min(shape) / 4)
    bases.append(settings["neuropil"] * haze)
    weights.append(calcium.mean(axis=0) if len(calcium) else np.zeros(n_frames))
    bases = np.stack(bases).reshape(len(bases), -1).astype(np.float32)
    return bases, shape, np.stack(weights, axis=1).astype(np.float32)


def _drift(rng, n_frames, fps, n_modes):
    """Slow stationary AR(1) processes with unit variance, (T, n_modes) float64."""
    a = np.exp(-1.0 / (_DRIFT_TAU * fps))
    start = rng.standard_normal(n_modes)
    innovations = rng.standard_normal((n_frames, n_modes)) * np.sqrt(1 - a**2)
    innovations[0] = start
    return signal.lfilter([1.0], [1.0, -a], innovations, axis=0)


@functools.lru_cache(maxsize=1)
def _gauss_table() -> np.ndarray:
    """Standard-normal quantiles at the 65536 midpoints of (0, 1), float32."""
    return special.ndtri((np.arange(65536) + 0.5) / 65536).astype(np.float32)


def _standard_normal(seed: int, t: int, size: int) -> np.ndarray:
    """Standard-normal noise of frame t, (size,) float32, from ``default_rng([seed, t])``.

    Inverse-CDF lookup of 16-bit uniform integers: about four times faster than ``standard_normal`` and
    Gaussian to within 1/65536 in probability (tails cut at 4.3 sigma).
    """
    raw = np.random.default_rng([seed, t]).bit_generator.random_raw((size + 3) // 4)
    return np.take(_gauss_table(), raw.view(np.uint16)[:size])
