"""`simulate`: a seeded ground-truth movie (`SimulatedMovie`) rendered frame by frame from its `GroundTruth`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from element_calcium.simulate._checks import check_int, check_number
from element_calcium.simulate._scene import (
    Scene,
    bleaching,
    cells_matrix,
    draw_activity,
    draw_background,
    draw_cells,
    draw_shifts,
    draw_tissue,
    draw_warps,
    grid_nodes,
    spline_weights,
    standard_normal,
)
from element_calcium.simulate._traces import bursting_cells

_MODES = ("1p", "2p")
_SIGMA_PER_DIAMETER = 0.25  # soma diameter = 4 sigma of its Gaussian

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


@dataclass(frozen=True)
class GroundTruth:
    """What a simulated movie was made of. Arrays are read-only.

    Attributes:
        footprints: (H, W, N) float32 spatial footprints, each with maximum 1 and zero beyond about 3 sigma of
            its centre (Gaussian soma; in 2p with a dimmer nucleus). Memory is H * W * N * 4 bytes.
        calcium: (N, T) float32 calcium response (unitless, dF/F-like): cell n is ``F0_n * (1 + calcium[n, t])``
            bright at its footprint peak. AR(2) response to the spikes (AR(1) when the rise is shorter than a
            frame), each spike raising it by about 1 at its peak; in bursting cells exactly 0 wherever that
            response is below 1e-3 (`element_calcium.simulate._traces.SILENT_LEVEL`).
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


class SimulatedMovie:
    """A seeded movie rendered on demand from its `GroundTruth`; made by `simulate`.

    Attributes:
        truth: the ground truth the frames are drawn from.
        shape: (T, H, W).
        dtype: uint8 in 1p (Miniscope sensors are 8-bit), uint16 in 2p.
        fps: frame rate, frames per second.
    """

    def __init__(self, truth: GroundTruth, scene: Scene, *, seed: int):
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
        start = check_int("start", start, 0, n_frames)
        stop = check_int("stop", stop, start, n_frames)
        out = np.empty((stop - start, height, width), dtype=self.dtype)
        for t in range(start, stop):
            out[t - start] = self._frame(t)
        return out

    def chunks(self, n_frames: int) -> Iterator[np.ndarray]:
        """Consecutive renders of `n_frames` frames (the last one shorter), covering the whole movie."""
        n_frames = check_int("n_frames", n_frames, 1)
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
        noise = standard_normal(self._seed, t, moved.size).reshape(moved.shape)
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
    n_frames = check_int("n_frames", n_frames, 1)
    height = check_int("height", height, 16)
    width = check_int("width", width, 16)
    n_cells = check_int("n_cells", n_cells, 0)
    seed = check_int("seed", seed, 0)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    fps = check_number("fps", fps, 0.0, strict=True)
    max_shift = check_number("max_shift", max_shift, 0.0)
    if max_shift >= min(height, width) / 4:
        raise ValueError(f"max_shift must be less than a quarter of the smaller frame side, got {max_shift}")
    if not isinstance(nonrigid, bool):
        raise ValueError(f"nonrigid must be True or False, got {nonrigid!r}")
    if nonrigid and max_shift == 0:
        raise ValueError("nonrigid=True needs max_shift > 0 (the warp amplitude is a fraction of max_shift)")
    spike_rate = check_number("spike_rate", spike_rate, 0.0)
    burst_fraction = check_number("burst_fraction", burst_fraction, 0.0, 1.0)
    settings = _MODE_SETTINGS[mode]
    noise = settings["noise"] if noise is None else check_number("noise", noise, 0.0)
    sigmas = settings["sigma"] if cell_diameter is None else _diameter_sigmas(cell_diameter, height, width)

    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    rng_cells, rng_spikes, rng_motion, rng_warp, rng_tissue, rng_background, rng_bursts = streams
    centers, patches = draw_cells(rng_cells, n_cells, height, width, sigmas, settings["nucleus"])
    bursting = bursting_cells(rng_bursts, n_cells, burst_fraction)
    spikes, calcium = draw_activity(rng_spikes, n_frames, fps, spike_rate, settings, bursting=bursting,
                                     rng_bursts=rng_bursts)
    shifts = draw_shifts(rng_motion, n_frames, fps, max_shift)
    warps = interp_y = interp_x = None
    if nonrigid:
        grid = (grid_nodes(height), grid_nodes(width))
        warps = draw_warps(rng_warp, n_frames, fps, max_shift / 4, grid)
        interp_y, interp_x = spline_weights(height, grid[0]), spline_weights(width, grid[1])

    footprints = np.zeros((height, width, n_cells), dtype=np.float32)
    for n, (y0, y1, x0, x1, patch) in enumerate(patches):
        footprints[y0:y1, x0:x1, n] = patch
    f0 = rng_cells.uniform(*settings["f0"], n_cells).astype(np.float32)
    cells = cells_matrix(patches, f0, width, height * width)
    static = draw_tissue(rng_tissue, height, width, settings)
    static += (cells @ np.ones(n_cells, dtype=np.float32)).reshape(height, width)
    bleach = bleaching(n_frames, fps, settings["bleach"])
    bases, basis_shape, coefficients = draw_background(rng_background, height, width, fps, bleach, calcium, settings)
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
    scene = Scene(
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
    low = check_number("cell_diameter", bounds[0], 0.0, side, strict=True)
    high = check_number("cell_diameter", bounds[1], low, side)
    return low * _SIGMA_PER_DIAMETER, high * _SIGMA_PER_DIAMETER
