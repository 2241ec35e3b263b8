"""The random draws a simulated movie is made of (cells, activity, motion, tissue, background) and the noise of each
frame, for `simulate` (image model in the module docstring of `element_calcium.simulate`)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import interpolate, ndimage, signal, sparse, special

from element_calcium.simulate._traces import burst_spike_counts, silence_below

_LOWRES = 8  # the smooth background is computed on a grid this many times coarser, then upsampled
_SHIFT_STEP = 1.0 / 32.0  # OpenCV resolves sub-pixel positions to 1/32 px; true shifts are kept on that grid
_FOOTPRINT_FLOOR = 0.01  # footprint values below this are set to 0 (local support, about 3 sigma)
_MARGIN = (6.0, 1.5)  # cell centres keep max(6 px, 1.5 sigma of the largest cell) from the frame edges
_BLEACH_TAU = 120.0  # s
_DRIFT_TAU = 20.0  # s, correlation time of the background drift
_MOTION_TAU = (2.0, 0.15)  # s, correlation time of the motion random walk and of its smoothing


@dataclass(frozen=True)
class Scene:
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


def draw_cells(rng, n_cells, height, width, sigmas, nucleus):
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


def cells_matrix(patches, f0, width, n_pixels):
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


def draw_activity(rng, n_frames, fps, spike_rate, settings, *, bursting, rng_bursts):
    """Poisson spike counts (N, T) and their AR(2) calcium response, both float32.

    Cells where ``bursting`` (N,) is True fire only in bursts (their spikes from ``rng_bursts``) and their calcium
    is 0 wherever below `_traces.SILENT_LEVEL`; the draws of ``rng`` do not depend on them.
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


def draw_shifts(rng, n_frames, fps, max_shift):
    """Rigid shifts (T, 2) float32 within +-max_shift, on the 1/32 px grid."""
    shifts = max_shift * np.tanh(0.5 * _random_walk(rng, n_frames, fps, (2,)))
    shifts = np.round(shifts / _SHIFT_STEP) * _SHIFT_STEP
    return np.clip(shifts, -max_shift, max_shift).astype(np.float32)


def draw_warps(rng, n_frames, fps, amplitude, grid):
    """Non-rigid node displacements (T, gy, gx, 2) float32, zero mean over the nodes of each frame."""
    warps = amplitude * np.tanh(0.5 * _random_walk(rng, n_frames, fps, (*grid, 2)))
    warps -= warps.mean(axis=(1, 2), keepdims=True)
    return warps.astype(np.float32)


def grid_nodes(size):
    """Nodes of the non-rigid grid along an axis of `size` pixels: about one per 100 px, 3 to 8."""
    return int(np.clip(round(size / 100) + 1, 3, 8))


def spline_weights(size, nodes):
    """(size, nodes) float32 weights of a natural cubic spline through equally spaced nodes spanning the axis."""
    spline = interpolate.CubicSpline(np.linspace(0, size - 1, nodes), np.eye(nodes), bc_type="natural")
    return spline(np.arange(size)).astype(np.float32)


def _smooth_field(rng, shape, scale):
    """Gaussian-filtered white noise, (shape) float32 with maximum absolute value 1."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), scale, mode="wrap")
    return (field / np.abs(field).max()).astype(np.float32)


def draw_tissue(rng, height, width, settings):
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


def bleaching(n_frames, fps, depth):
    """(T,) float32 brightness factor: 1 at the start, losing `depth` with time constant `_BLEACH_TAU`."""
    return (1.0 - depth * (1.0 - np.exp(-np.arange(n_frames) / (fps * _BLEACH_TAU)))).astype(np.float32)


def draw_background(rng, height, width, fps, bleach, calcium, settings):
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


def standard_normal(seed: int, t: int, size: int) -> np.ndarray:
    """Standard-normal noise of frame t, (size,) float32, from ``default_rng([seed, t])``.

    Inverse-CDF lookup of 16-bit uniform integers: about four times faster than ``standard_normal`` and
    Gaussian to within 1/65536 in probability (tails cut at 4.3 sigma).
    """
    raw = np.random.default_rng([seed, t]).bit_generator.random_raw((size + 3) // 4)
    return np.take(_gauss_table(), raw.view(np.uint16)[:size])
