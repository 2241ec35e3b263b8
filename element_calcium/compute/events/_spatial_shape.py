"""Shape properties of spatiotemporal events, astroCAST's ``characterize_event`` definitions (scikit-image
``regionprops``).

An event is a set of voxels (t, y, x). astroCAST measures two regions of it:

- the *mask*: the event's voxels in its bounding box (frames z0..z1, rows y0..y1, columns x0..x1), a 3-D region
  (astroCAST's ``v_mask_*``, only for events of more than one frame): centroid relative to the bounding box (as
  a fraction of its depth, height and width), major and minor axis lengths of the ellipsoid with the same second
  central moments, extent (voxels / bounding-box voxels), solidity (voxels / voxels of the convex hull) and
  equivalent diameter (of the sphere of the same volume);
- the *footprint*: the pixels the event covers in any frame, a 2-D region (``v_fp_*``): axis lengths,
  eccentricity, equivalent diameter, extent, maximum Feret diameter, orientation, perimeter, solidity, convex
  area; and its outline (``find_contours`` of the footprint padded by one pixel at level 0.9, as astroCAST
  outlines each frame of an event).

`EventShapes` computes the mask properties from the event map streamed chunk by chunk: the moments are sums
over voxels, and the convex hull of the voxels is the hull of the first and last voxel of every row of every
frame, so only those are kept. The voxels of the hull are counted row by row from the hull's face
inequalities, as scikit-image's ``convex_hull_image`` tests each grid point (tolerance 1e-10).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError
from skimage.measure import find_contours, regionprops

MASK_COLUMNS = (
    "mask_centroid_local_z", "mask_centroid_local_y", "mask_centroid_local_x", "mask_axis_major_length",
    "mask_axis_minor_length", "mask_extent", "mask_solidity", "mask_equivalent_diameter",
)
FOOTPRINT_COLUMNS = (
    "fp_axis_major_length", "fp_axis_minor_length", "fp_eccentricity", "fp_equivalent_diameter", "fp_extent",
    "fp_feret_diameter_max", "fp_orientation", "fp_perimeter", "fp_solidity", "fp_area_convex",
)
CONTOUR_LEVEL = 0.9  # astroCAST's level of find_contours on a binary mask
_HULL_TOLERANCE = 1e-10  # scikit-image's convex_hull_image
_BATCH = 2**22  # equations x rows evaluated at once when counting hull voxels
_DIAMOND = np.concatenate([np.eye(3), -np.eye(3)]) * 0.5  # scikit-image's offsets of a voxel's face centres


def footprint_properties(ypix: np.ndarray, xpix: np.ndarray) -> dict[str, float | np.ndarray]:
    """astroCAST's footprint properties (``v_fp_*``) of one event, by ``skimage.measure.regionprops``.

    Args:
        ypix, xpix: (n,) rows and columns of the footprint's pixels (n >= 1).

    Returns:
        The `FOOTPRINT_COLUMNS` (lengths in pixels, ``fp_orientation`` in radians from the row axis,
        ``fp_area_convex`` in pixels; NaN where scikit-image gives none), and ``contour``: (K, 2) float32
        (y, x) outline in frame pixels, the outlines of a footprint with holes or several pieces separated by a
        row of NaN.
    """
    ypix, xpix = np.asarray(ypix, np.int64), np.asarray(xpix, np.int64)
    if len(ypix) == 0 or len(ypix) != len(xpix):
        raise ValueError(f"ypix and xpix must be non-empty and of one length, got {len(ypix)} and {len(xpix)}")
    y0, x0 = ypix.min(), xpix.min()
    image = np.zeros((ypix.max() - y0 + 1, xpix.max() - x0 + 1), dtype=np.uint8)
    image[ypix - y0, xpix - x0] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        region = regionprops(image)[0]
        values = {
            "fp_axis_major_length": region.axis_major_length, "fp_axis_minor_length": region.axis_minor_length,
            "fp_eccentricity": region.eccentricity, "fp_equivalent_diameter": region.equivalent_diameter_area,
            "fp_extent": region.extent, "fp_feret_diameter_max": region.feret_diameter_max,
            "fp_orientation": region.orientation, "fp_perimeter": region.perimeter,
            "fp_solidity": region.solidity, "fp_area_convex": region.area_convex,
        }
    properties: dict[str, float | np.ndarray] = {
        name: float(value) if np.isfinite(value) else math.nan for name, value in values.items()
    }
    properties["contour"] = outline(image, offset=(y0, x0))
    return properties


def outline(image: np.ndarray, *, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(K, 2) float32 (y, x) outlines of a 2-D binary ``image`` at level 0.9 (astroCAST), shifted by ``offset``;
    several outlines separated by a row of NaN."""
    padded = np.pad(np.asarray(image, dtype=bool), 1)
    pieces = []
    for contour in find_contours(padded.astype(np.float32), level=CONTOUR_LEVEL):
        if pieces:
            pieces.append(np.full((1, 2), np.nan))
        pieces.append(contour - 1 + np.asarray(offset, dtype=np.float64))
    return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros((0, 2), np.float32)


def mask_properties(mask: np.ndarray) -> dict[str, float]:
    """astroCAST's mask properties (``v_mask_*``) of one event given as a (dz, dy, dx) bool mask (its box),
    by ``skimage.measure.regionprops`` (the reference `EventShapes` streams; NaN for a one-frame event)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[0] < 2 or not mask.any():
        return dict.fromkeys(MASK_COLUMNS, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        region = regionprops(mask.astype(np.uint8))[0]
        centroid = np.asarray(region.centroid_local) / np.asarray(region.image.shape)
        try:
            solidity = float(region.solidity)
        except (ValueError, ZeroDivisionError):
            solidity = math.nan
    return {
        "mask_centroid_local_z": centroid[0], "mask_centroid_local_y": centroid[1],
        "mask_centroid_local_x": centroid[2], "mask_axis_major_length": float(region.axis_major_length),
        "mask_axis_minor_length": float(region.axis_minor_length), "mask_extent": float(region.extent),
        "mask_solidity": solidity if np.isfinite(solidity) else math.nan,
        "mask_equivalent_diameter": float(region.equivalent_diameter_area),
    }


class EventShapes:
    """The mask properties of N events, from their event map fed chunk by chunk.

    Args:
        boxes: (N, 6) integers z0, z1, y0, y1, x0, x1 of each event (ends exclusive), event ids 1..N in order.
    """

    _SUMS = ("n", "z", "y", "x", "zz", "yy", "xx", "zy", "zx", "yx")

    def __init__(self, boxes: np.ndarray):
        self.boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 6)
        n_events = len(self.boxes)
        self.sums = {name: np.zeros(n_events + 1) for name in self._SUMS}
        self._points: list[np.ndarray] = []

    def add(self, start: int, labels: np.ndarray) -> None:
        """Take (n, H, W) event ids (0: none) of frames start..start + n."""
        labels = np.asarray(labels)
        n, height, width = labels.shape
        flat = labels.reshape(-1)
        voxels = np.flatnonzero(flat)
        if not len(voxels):
            return
        event = flat[voxels].astype(np.int64)
        if event.max() > len(self.boxes):
            raise ValueError(f"labels hold event id {event.max()}, beyond the {len(self.boxes)} events given")
        t, rest = np.divmod(voxels, height * width)
        y, x = np.divmod(rest, width)
        box = self.boxes[event - 1]
        local = {"z": (start + t - box[:, 0]).astype(np.float64), "y": (y - box[:, 2]).astype(np.float64),
                 "x": (x - box[:, 4]).astype(np.float64)}
        size = len(self.boxes) + 1
        for name in self._SUMS:
            weights = np.prod([local[axis] for axis in name], axis=0) if name != "n" else None
            self.sums[name] += np.bincount(event, weights=weights, minlength=size)
        # first and last voxel of each row: the voxels come in raster order, so x ascends within a row
        row = (event * n + t) * height + y
        order = np.argsort(row, kind="stable")
        row = row[order]
        cuts = np.flatnonzero(np.diff(row)) + 1
        ends = np.concatenate([[0], cuts, cuts - 1, [len(row) - 1]])
        picked = order[ends]
        self._points.append(np.stack([event[picked], local["z"][picked], local["y"][picked], local["x"][picked]],
                                     axis=1))

    def table(self) -> pd.DataFrame:
        """One row per event (ids 1..N in order), the `MASK_COLUMNS`; NaN for one-frame events and for a
        solidity without a 3-D hull (all voxels in one plane)."""
        points = np.concatenate(self._points) if self._points else np.zeros((0, 4))
        points = points[np.argsort(points[:, 0], kind="stable")]
        bounds = np.searchsorted(points[:, 0], np.arange(1, len(self.boxes) + 2))
        rows = [self._row(index, points[a:b, 1:]) for index, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]
        return pd.DataFrame.from_records(rows, columns=list(MASK_COLUMNS)) if rows else pd.DataFrame(
            {name: pd.Series(dtype=np.float64) for name in MASK_COLUMNS})

    def _row(self, index: int, hull_points: np.ndarray) -> tuple[float, ...]:
        z0, z1, y0, y1, x0, x1 = self.boxes[index]
        shape = np.array([z1 - z0, y1 - y0, x1 - x0])
        sums = {name: values[index + 1] for name, values in self.sums.items()}
        count = sums["n"]
        if shape[0] < 2 or count == 0:
            return (math.nan,) * len(MASK_COLUMNS)
        mean = np.array([sums["z"], sums["y"], sums["x"]]) / count
        covariance = np.empty((3, 3))
        for i, a in enumerate("zyx"):
            for j, b in enumerate("zyx"):
                key = a + b if a + b in sums else b + a
                covariance[i, j] = sums[key] / count - mean[i] * mean[j]
        inertia = np.trace(covariance) * np.eye(3) - covariance
        ev = sorted(np.clip(np.linalg.eigvalsh(inertia), 0, None), reverse=True)
        major = math.sqrt(max(0.0, 10 * (ev[0] + ev[1] - ev[2])))
        minor = math.sqrt(max(0.0, 10 * (-ev[0] + ev[1] + ev[2])))
        hull_voxels = convex_hull_voxels(hull_points, tuple(int(s) for s in shape))
        return (
            *(mean / shape), major, minor, count / float(np.prod(shape)),
            count / hull_voxels if hull_voxels else math.nan, (6 * count / math.pi) ** (1 / 3),
        )


def convex_hull_voxels(points: np.ndarray, shape: tuple[int, int, int]) -> int:
    """Voxels of a (dz, dy, dx) grid inside the convex hull of ``points`` (k, 3) (z, y, x), each point widened by
    half a voxel along each axis: the voxel count of scikit-image's ``convex_hull_image``; 0 where the points span
    no volume (all in one plane)."""
    try:
        first = ConvexHull(np.unique(points, axis=0))
        corners = first.points[first.vertices]
        hull = ConvexHull(np.unique((corners[:, None, :] + _DIAMOND[None]).reshape(-1, 3), axis=0))
    except (QhullError, ValueError):
        return 0
    a_z, a_y, a_x, offset = (hull.equations[:, i] for i in range(4))
    dz, dy, dx = shape
    rows = np.arange(dy, dtype=np.float64)
    step = max(1, _BATCH // max(1, len(a_x) * dy))
    total = 0
    for z_start in range(0, dz, step):
        zs = np.arange(z_start, min(z_start + step, dz), dtype=np.float64)
        level = (a_z[:, None, None] * zs[None, :, None] + a_y[:, None, None] * rows[None, None, :]
                 + offset[:, None, None])
        slope = a_x[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (_HULL_TOLERANCE - level) / slope  # a_x x + level < tolerance
        upper = np.where(slope > 0, np.ceil(bound) - 1, dx - 1).min(axis=0)
        lower = np.where(slope < 0, np.floor(bound) + 1, 0).max(axis=0)
        flat_ok = np.where(slope == 0, level < _HULL_TOLERANCE, True).all(axis=0)
        upper, lower = np.minimum(upper, dx - 1), np.maximum(lower, 0)
        total += int(np.where(flat_ok, np.maximum(upper - lower + 1, 0), 0).sum())
    return total
