"""`simulate_sessions`: seeded multi-session sets of one field of view with known cell identities, for cross-session
registration; `score_registration` scores a registration against them.

The tissue (texture, blood vessels, a population of cells) lives in the reference frame, which is session 0's
field of view. Session s sees it through a similarity transform about the frame centre ``c = ((H-1)/2, (W-1)/2)``:
a tissue point p (y, x) of the reference appears at pixel::

    A_s(p) = scale_s * R(rotation_s) (p - c) + c + shift_s,   R(a) = [[cos a, -sin a], [sin a, cos a]] on (y, x)

of session s (session 0: the identity), moved further by a smooth deformation of up to ``deformation`` pixels
in every session after the reference. Each session holds the cells whose transformed centre lies inside its
field of view and that are active that day: from one session to the next a fraction ``turnover`` of the active
cells falls silent and as many silent ones return. A segmentation's footprints are not the same twice: each
session's footprint of a cell is redrawn with a centre jitter and a changed shape, and one session
(``resized_session``) segments every cell ``size_factor`` times larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage, sparse

from element_calcium.simulate._checks import check_int, check_number
from element_calcium.simulate._movie import _MODE_SETTINGS, _SIGMA_PER_DIAMETER
from element_calcium.simulate._scene import draw_tissue

_CENTER_JITTER = 0.6  # px, standard deviation of a footprint centre's segmentation error along each axis
_SHAPE_JITTER = 0.12  # relative standard deviation of a footprint's sigma and elongation between sessions
_MIN_SPACING = 0.5  # cell centres are at least this many mean cell diameters apart (somata overlap a little)
_WARP_SCALE = 0.25  # correlation length of the tissue's deformation, as a fraction of the frame side
_FOOTPRINT_FLOOR = 0.01  # footprint values below this are 0 (support about 3 sigma)
_IMAGE_NOISE = 1.0  # grey levels, noise left in a session's mean image
_EDGE_MARGIN = 4.0  # px: a cell whose centre lies closer than this to the frame edge is not in the session


@dataclass(frozen=True)
class SimulatedSession:
    """One session of a `SimulatedSessions` set.

    Attributes:
        footprints: (N, H * W) float32 CSR matrix, one footprint per row (row-major pixels), peak 1.
        cell_ids: (N,) int64 identity of each footprint's cell in the population (the same cell, the same id in
            every session).
        centers: (N, 2) float64 (y, x) true centre of each cell in this session's pixels.
        mean_image: (H, W) float32 mean image: tissue texture, vessels and the resting cells, uneven light, noise.
        correlation_image: (H, W) float32 local-correlation-like image in [0, 1]: the active cells over a floor.
        transform: (2, 3) float64 affine map of reference pixels (y, x, 1) to this session's pixels.
        rotation_deg: rotation of the field of view, degrees.
        scale: magnification relative to the reference.
        shift: (2,) float64 (y, x) pixels.
        size_factor: footprint size relative to the cells' true size (1 except in the resized session).
    """

    footprints: sparse.csr_array
    cell_ids: np.ndarray
    centers: np.ndarray
    mean_image: np.ndarray
    correlation_image: np.ndarray
    transform: np.ndarray
    rotation_deg: float
    scale: float
    shift: np.ndarray
    size_factor: float


@dataclass(frozen=True)
class SimulatedSessions:
    """A seeded multi-session set (see the module docstring).

    Attributes:
        sessions: the sessions, session 0 the reference.
        frame_shape: (H, W) pixels of every session.
        n_population: number of cells in the tissue (ids 0 .. n_population - 1).
    """

    sessions: tuple[SimulatedSession, ...]
    frame_shape: tuple[int, int]
    n_population: int

    @property
    def cell_ids(self) -> list[np.ndarray]:
        """Each session's (N_s,) true identities."""
        return [session.cell_ids for session in self.sessions]


def similarity_matrix(rotation_deg: float, scale: float, shift, frame_shape) -> np.ndarray:
    """(2, 3) float64 affine map of reference pixels (y, x, 1) to session pixels (see the module docstring)."""
    angle = math.radians(rotation_deg)
    linear = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    center = (np.asarray(frame_shape, dtype=np.float64) - 1) / 2
    return np.hstack([linear, (center - linear @ center + np.asarray(shift, dtype=np.float64))[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _footprint(center, sigma, elongation, angle, frame_shape):
    """Rows (flat pixel indices) and values of an elliptical Gaussian footprint with peak 1."""
    height, width = frame_shape
    radius = math.ceil(3.2 * sigma * max(elongation, 1 / elongation))
    cy, cx = center
    y0, y1 = max(int(cy) - radius, 0), min(int(cy) + radius + 2, height)
    x0, x1 = max(int(cx) - radius, 0), min(int(cx) + radius + 2, width)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    u = (yy - cy) * math.cos(angle) + (xx - cx) * math.sin(angle)
    v = -(yy - cy) * math.sin(angle) + (xx - cx) * math.cos(angle)
    patch = np.exp(-((u / (sigma * elongation)) ** 2 + (v * elongation / sigma) ** 2) / 2)
    keep = patch >= _FOOTPRINT_FLOOR * patch.max()
    return (yy[keep] * width + xx[keep]).astype(np.int64), (patch[keep] / patch.max()).astype(np.float32)


def _draw_centers(rng, n_cells, shape, diameter, asked):
    """(n_cells, 2) float64 uniformly random centres (y, x) at least `_MIN_SPACING` diameters apart; ``asked`` is
    the ``n_cells`` the caller gave, named in the error.

    Raises:
        ValueError: the cells do not fit the field at that spacing.
    """
    spacing = _MIN_SPACING * diameter
    centers = np.empty((0, 2))
    while len(centers) < n_cells:
        before = len(centers)
        for candidate in rng.uniform((0, 0), np.asarray(shape) - 1, size=(n_cells, 2)):
            if len(centers) == n_cells:
                break
            if not len(centers) or np.min(np.sum((centers - candidate) ** 2, axis=1)) >= spacing**2:
                centers = np.vstack([centers, candidate])
        if len(centers) == before:
            raise ValueError(f"n_cells={asked} is too many: cells {diameter:g} px across do not fit the field of "
                             "view that densely; ask for fewer cells or a larger frame")
    return centers


def _deformation(rng, frame_shape, amplitude):
    """(H, W, 2) float64 smooth displacement (y, x) of the tissue in a session, pixels, at most ``amplitude``."""
    if amplitude == 0:
        return np.zeros((*frame_shape, 2))
    field = np.stack([ndimage.gaussian_filter(rng.standard_normal(frame_shape), _WARP_SCALE * min(frame_shape),
                                              mode="reflect") for _ in range(2)], axis=-1)
    return amplitude * field / np.abs(field).max()


def _presence(rng, visible: np.ndarray, turnover: float) -> np.ndarray:
    """(S, P) bool: active cells per session; a fraction ``turnover`` of them is swapped for silent ones at each
    step."""
    n_sessions, n_population = visible.shape
    active = rng.random(n_population) >= turnover
    presence = np.empty_like(visible)
    for s in range(n_sessions):
        if s:
            on, off = np.flatnonzero(active), np.flatnonzero(~active)
            n_swap = min(int(round(turnover * on.size)), off.size)
            active[rng.choice(on, n_swap, replace=False)] = False
            active[rng.choice(off, n_swap, replace=False)] = True
        presence[s] = active & visible[s]
    return presence


def simulate_sessions(
    *,
    n_sessions: int = 5,
    height: int = 256,
    width: int = 256,
    n_cells: int = 120,
    cell_diameter: float | None = None,
    max_shift: float = 30.0,
    max_rotation_deg: float = 3.0,
    max_scale_change: float = 0.04,
    turnover: float = 0.2,
    resized_session: int | None = -1,
    size_factor: float = 1.4,
    deformation: float = 1.5,
    mode: str = "1p",
    seed: int = 0,
) -> SimulatedSessions:
    """A seeded set of sessions of one field of view with known cell identities.

    Args:
        n_sessions: number of sessions S (at least 2).
        height, width: frame size H, W in pixels (at least 64 each).
        n_cells: about how many cells each session holds (the tissue holds more: cells outside a session's field
            of view and silent ones).
        cell_diameter: soma diameter in pixels (4 sigma of its Gaussian); None: the mode's range (1p: 10-16 px,
            2p: 10-14 px).
        max_shift: (pixels) bound of each session's shift from the reference along y and x, drawn uniformly.
        max_rotation_deg: bound of each session's rotation, degrees; the rotations alternate in sign from session to
            session, their sizes drawn between 0.3 and 1 times the bound.
        max_scale_change: bound of ``|scale - 1|``.
        turnover: fraction of the active cells that fall silent from one session to the next, replaced by as
            many returning ones, in [0, 0.5].
        resized_session: the session whose footprints are ``size_factor`` times larger (a negative index counts
            from the end); None: none.
        size_factor: footprint size factor of ``resized_session``, in [0.5, 2].
        deformation: (pixels) bound of a smooth non-rigid displacement of the tissue in each session after the
            reference (correlation length a quarter of the frame side), in [0, 10]; 0: the sessions differ by
            their similarity transforms only.
        mode: "1p" or "2p": the tissue texture and cell sizes of `simulate`'s mode.
        seed: seed of every random draw.

    Returns:
        The sessions, session 0 the reference (identity transform).
    """
    n_sessions = check_int("n_sessions", n_sessions, 2)
    height, width = check_int("height", height, 64), check_int("width", width, 64)
    n_cells = check_int("n_cells", n_cells, 1)
    max_shift = check_number("max_shift", max_shift, 0.0, min(height, width) / 4)
    max_rotation_deg = check_number("max_rotation_deg", max_rotation_deg, 0.0, 20.0)
    max_scale_change = check_number("max_scale_change", max_scale_change, 0.0, 0.3)
    turnover = check_number("turnover", turnover, 0.0, 0.5)
    size_factor = check_number("size_factor", size_factor, 0.5, 2.0)
    deformation = check_number("deformation", deformation, 0.0, 10.0)
    seed = check_int("seed", seed, 0)
    if mode not in _MODE_SETTINGS:
        raise ValueError(f"mode must be one of {tuple(_MODE_SETTINGS)}, got {mode!r}")
    if resized_session is not None:
        resized_session = check_int("resized_session", resized_session, -n_sessions, n_sessions - 1) % n_sessions
    settings = _MODE_SETTINGS[mode]
    if cell_diameter is None:
        sigmas = settings["sigma"]
    else:
        diameter = check_number("cell_diameter", cell_diameter, 2.0, min(height, width) / 4)
        sigmas = (diameter * _SIGMA_PER_DIAMETER,) * 2

    rng_cells, rng_motion, rng_turnover, rng_tissue, rng_footprints, rng_images = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    frame_shape = (height, width)
    reach = max_shift + math.radians(max_rotation_deg) * math.hypot(height, width) / 2 + max_scale_change * max(
        height, width) / 2
    pad = int(math.ceil(reach)) + 8
    canvas_shape = (height + 2 * pad, width + 2 * pad)
    n_population = int(round(n_cells * canvas_shape[0] * canvas_shape[1] / (height * width) / (1 - turnover)))
    centers = _draw_centers(rng_cells, n_population, canvas_shape, 2.0 * (sigmas[0] + sigmas[1]), n_cells) - pad
    cell_sigma = rng_cells.uniform(*sigmas, n_population)
    cell_elongation = rng_cells.uniform(0.8, 1.25, n_population)
    cell_angle = rng_cells.uniform(0.0, np.pi, n_population)
    brightness = rng_cells.uniform(*settings["f0"], n_population)

    signs = np.where(np.arange(n_sessions) % 2, 1.0, -1.0)
    rotations = np.concatenate([[0.0], rng_motion.uniform(0.3, 1.0, n_sessions - 1) * signs[1:] * max_rotation_deg])
    scales = np.concatenate([[1.0], 1.0 + rng_motion.uniform(-1.0, 1.0, n_sessions - 1) * max_scale_change])
    shifts = np.concatenate([[[0.0, 0.0]], rng_motion.uniform(-1.0, 1.0, (n_sessions - 1, 2)) * max_shift])
    matrices = [similarity_matrix(r, s, t, frame_shape) for r, s, t in zip(rotations, scales, shifts)]
    fields = [_deformation(rng_motion, frame_shape, deformation if s else 0.0) for s in range(n_sessions)]
    session_centers = []
    for matrix, field in zip(matrices, fields):
        moved = _apply(matrix, centers)
        at = np.clip(np.round(moved), 0, np.array(frame_shape) - 1).astype(int)
        session_centers.append(moved + field[at[:, 0], at[:, 1]])
    inside = np.array([((c >= _EDGE_MARGIN) & (c <= np.array(frame_shape) - 1 - _EDGE_MARGIN)).all(axis=1)
                       for c in session_centers])
    presence = _presence(rng_turnover, inside, turnover)

    tissue = draw_tissue(rng_tissue, *canvas_shape, settings)
    sessions = []
    for s in range(n_sessions):
        factor = size_factor if s == resized_session else 1.0
        ids = np.flatnonzero(presence[s])
        rows, columns, values = [], [], []
        for row, cell in enumerate(ids):
            jitter = rng_footprints.normal(0.0, _SHAPE_JITTER, 2)
            center = session_centers[s][cell] + rng_footprints.normal(0.0, _CENTER_JITTER, 2)
            pixels, weights = _footprint(center, cell_sigma[cell] * scales[s] * factor * (1 + jitter[0]),
                                         cell_elongation[cell] * (1 + jitter[1]),
                                         cell_angle[cell] + math.radians(rotations[s]), frame_shape)
            rows.append(np.full(pixels.size, row))
            columns.append(pixels)
            values.append(weights)
        entries = [np.concatenate(part) if part else np.zeros(0) for part in (values, rows, columns)]
        footprints = sparse.csr_array((entries[0], (entries[1], entries[2])), shape=(ids.size, height * width),
                                      dtype=np.float32)
        mean_image, correlation_image = _images(rng_images, tissue, pad, matrices[s], fields[s], footprints,
                                                brightness[ids], frame_shape)
        sessions.append(SimulatedSession(
            footprints=footprints, cell_ids=ids.astype(np.int64), centers=session_centers[s][ids],
            mean_image=mean_image, correlation_image=correlation_image, transform=matrices[s],
            rotation_deg=float(rotations[s]), scale=float(scales[s]), shift=shifts[s], size_factor=factor))
    return SimulatedSessions(sessions=tuple(sessions), frame_shape=frame_shape, n_population=n_population)


def _images(rng, tissue, pad, matrix, field, footprints, brightness, frame_shape):
    """The session's mean image and correlation-like image, (H, W) float32 each."""
    height, width = frame_shape
    yy, xx = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    undeformed = np.stack([yy, xx], axis=-1) - field
    canvas = (undeformed - matrix[:, 2]) @ np.linalg.inv(matrix[:, :2]).T + pad  # session pixel -> canvas pixel
    texture = cv2.remap(tissue, canvas[..., 1].astype(np.float32), canvas[..., 0].astype(np.float32),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    cells = (footprints.T @ brightness.astype(np.float32)).reshape(frame_shape)
    light = ndimage.gaussian_filter(rng.standard_normal(frame_shape), min(frame_shape) / 6)
    light /= np.abs(light).max()  # uneven illumination, +-20 %
    mean_image = (texture + cells) * (1.0 + 0.2 * light) + rng.normal(0.0, _IMAGE_NOISE, frame_shape)
    activity = footprints.T @ rng.uniform(0.4, 0.9, footprints.shape[0]).astype(np.float32)
    correlation = 0.1 + activity.reshape(frame_shape) + rng.normal(0.0, 0.05, frame_shape)
    return mean_image.astype(np.float32), np.clip(correlation, 0.0, 1.0).astype(np.float32)


def score_registration(true_ids, predicted_ids) -> dict:
    """Pairwise precision and recall of a cross-session registration.

    A pair is two cells of two different sessions; it is true when both are one cell (the same true id) and
    predicted when the registration gives them the same global id.

    Args:
        true_ids: per session, (N_s,) true identities (`SimulatedSessions.cell_ids`).
        predicted_ids: per session, (N_s,) global ids of the same cells in the same order.

    Returns:
        ``{"true_pairs", "predicted_pairs", "matched_pairs", "precision", "recall"}`` (precision and recall 1
        when there is nothing to find or nothing found).
    """
    if len(true_ids) != len(predicted_ids):
        raise ValueError(f"true_ids has {len(true_ids)} sessions, predicted_ids {len(predicted_ids)}")
    counts = {"true_pairs": 0, "predicted_pairs": 0, "matched_pairs": 0}
    for a in range(len(true_ids)):
        for b in range(a + 1, len(true_ids)):
            true_a, true_b = np.asarray(true_ids[a]), np.asarray(true_ids[b])
            pred_a, pred_b = np.asarray(predicted_ids[a]), np.asarray(predicted_ids[b])
            if true_a.shape != pred_a.shape or true_b.shape != pred_b.shape:
                raise ValueError(f"sessions {a} and {b}: predicted ids must have the shape of the true ids")
            same_true = true_a[:, None] == true_b[None, :]
            same_pred = pred_a[:, None] == pred_b[None, :]
            counts["true_pairs"] += int(same_true.sum())
            counts["predicted_pairs"] += int(same_pred.sum())
            counts["matched_pairs"] += int((same_true & same_pred).sum())
    counts["precision"] = counts["matched_pairs"] / counts["predicted_pairs"] if counts["predicted_pairs"] else 1.0
    counts["recall"] = counts["matched_pairs"] / counts["true_pairs"] if counts["true_pairs"] else 1.0
    return counts
