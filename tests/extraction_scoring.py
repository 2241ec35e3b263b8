"""Scoring of extracted components against simulated ground truth (footprint matching and trace correlation).

Footprints are binarised at ``BINARY_FRACTION`` of their own maximum (each footprint > 0.2 x its max); true and
estimated masks are matched one-to-one by the Hungarian algorithm on their intersection over union (IoU), and
a pair is a match when its IoU is at least ``MIN_IOU``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse

BINARY_FRACTION = 0.2
MIN_IOU = 0.3
SPIKE_TOLERANCE = 2  # frames


@dataclass(frozen=True)
class Score:
    """Agreement of an extraction with the truth.

    Attributes:
        n_true, n_estimated, n_matched: component counts.
        f1: 2 matched / (n_true + n_estimated) (1.0 when both are empty).
        iou: (n_matched,) IoU of each match.
        trace_r: (n_matched,) Pearson correlation of each match's estimated calcium with the true calcium.
        true_index, estimated_index: (n_matched,) indices of the matched components.
    """

    n_true: int
    n_estimated: int
    n_matched: int
    f1: float
    iou: np.ndarray
    trace_r: np.ndarray
    true_index: np.ndarray
    estimated_index: np.ndarray

    @property
    def median_iou(self) -> float:
        return float(np.median(self.iou)) if self.n_matched else 0.0

    @property
    def median_r(self) -> float:
        return float(np.median(self.trace_r)) if self.n_matched else 0.0


def binary_masks(footprints) -> sparse.csc_array:
    """(P, N) bool CSC: each column of (P, N) footprints (dense or sparse) above BINARY_FRACTION of its max."""
    dense_or_sparse = sparse.csc_array(footprints, dtype=np.float32)
    peaks = dense_or_sparse.max(axis=0).toarray().ravel()
    scaled = dense_or_sparse @ sparse.diags_array(1.0 / np.where(peaks > 0, peaks, 1.0))
    return sparse.csc_array(scaled > BINARY_FRACTION)


def iou_matrix(true_masks, estimated_masks) -> np.ndarray:
    """(N_true, N_est) IoU of bool (P, N) mask matrices."""
    t = sparse.csc_array(true_masks, dtype=np.float32)
    e = sparse.csc_array(estimated_masks, dtype=np.float32)
    intersection = (t.T @ e).toarray()
    union = np.asarray(t.sum(axis=0)).ravel()[:, None] + np.asarray(e.sum(axis=0)).ravel()[None, :] - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator > 0 else 0.0


def score(truth_footprints: np.ndarray, truth_calcium: np.ndarray, footprints, calcium: np.ndarray) -> Score:
    """Match estimated to true components.

    Args:
        truth_footprints: (H, W, N_true) true footprints (``simulate(...).truth.footprints``).
        truth_calcium: (N_true, T) true calcium.
        footprints: (H * W, N_est) estimated footprints, C-order pixels (dense or sparse).
        calcium: (N_est, T) estimated calcium.
    """
    height, width, n_true = truth_footprints.shape
    true_masks = binary_masks(np.asarray(truth_footprints).reshape(height * width, n_true))
    estimated_masks = binary_masks(footprints)
    n_estimated = estimated_masks.shape[1]
    if n_true == 0 or n_estimated == 0:
        empty = np.zeros(0)
        f1 = 1.0 if n_true == n_estimated == 0 else 0.0
        return Score(n_true, n_estimated, 0, f1, empty, empty, empty.astype(int), empty.astype(int))
    iou = iou_matrix(true_masks, estimated_masks)
    rows, cols = optimize.linear_sum_assignment(-iou)
    good = iou[rows, cols] >= MIN_IOU
    rows, cols = rows[good], cols[good]
    r = np.array([_pearson(np.asarray(truth_calcium[i], float), np.asarray(calcium[j], float))
                  for i, j in zip(rows, cols)])
    f1 = 2 * len(rows) / (n_true + n_estimated)
    return Score(n_true, n_estimated, len(rows), f1, iou[rows, cols], r, rows, cols)


def spike_recall(true_spikes: np.ndarray, true_calcium: np.ndarray, estimated_spikes: np.ndarray,
                 estimated_noise: np.ndarray, match: Score, *, scale: np.ndarray | None = None) -> float:
    """Fraction of the true spikes of the matched cells that have an estimated spike within SPIKE_TOLERANCE frames.

    Counted spikes are those "above 2x noise": frames with a true spike whose calcium jump (a spike adds about
    1 to the true calcium) exceeds twice the trace's noise after scaling the truth to the estimate: the scale of
    each match is the least-squares factor from true calcium to estimated calcium (``scale`` overrides it).
    An estimated spike is a frame whose estimated spike value exceeds 10 % of the largest one of its trace.
    """
    found = total = 0
    for k, (i, j) in enumerate(zip(match.true_index, match.estimated_index)):
        factor = scale[k] if scale is not None else 1.0
        true_frames = np.flatnonzero(true_spikes[i] > 0)
        jumps = true_spikes[i][true_frames] * factor
        counted = true_frames[jumps > 2 * estimated_noise[j]]
        if len(counted) == 0:
            continue
        peak = estimated_spikes[j].max()
        detected = estimated_spikes[j] > 0.1 * peak if peak > 0 else np.zeros(len(estimated_spikes[j]), bool)
        near = np.convolve(detected.astype(float), np.ones(2 * SPIKE_TOLERANCE + 1), mode="same") > 0
        found += int(near[counted].sum())
        total += len(counted)
    return found / total if total else 0.0


def calcium_scale(true_calcium: np.ndarray, calcium: np.ndarray, match: Score) -> np.ndarray:
    """(n_matched,) least-squares factor mapping each matched true calcium trace onto its estimate."""
    out = np.zeros(match.n_matched)
    for k, (i, j) in enumerate(zip(match.true_index, match.estimated_index)):
        t = np.asarray(true_calcium[i], float)
        out[k] = float(t @ calcium[j] / (t @ t)) if t @ t > 0 else 0.0
    return out
