"""The published matching rules of other tools, on footprints already in the reference frame, to compare with.

- minian (``minian.cross_registration``): for every pair of sessions, pairs of cells whose centroids are closer
  than ``max_distance`` (5 px in minian's pipeline) and each other's nearest neighbour are a mapping; mappings
  sharing a cell are chained across sessions, and a chain that would hold two cells of one session is dropped
  whole (its cells stay unmatched).
- CaImAn (``register_multisession``): sessions are taken in order against a union of the cells so far. The
  footprints are binarised (pixels above ``max_thr`` times the footprint's peak); the cost of a pair is
  ``1 - |A and B| / |A or B|`` when the centroids are closer than ``max_dist`` (10 px) and 1 otherwise; the
  Hungarian algorithm assigns union cells to session cells and keeps assignments cheaper than ``thresh_cost``
  (0.7). A matched union cell takes the new session's footprint; unmatched session cells join the union.
- CellReg (Sheintuch et al., 2017): the centroid distances and footprint correlations of all pairs of cells of
  two sessions within ``max_distance`` (12 px) are each modelled as a mixture of same-cell and different-cell
  distributions (distances: log-normal against neighbours spread uniformly over the disk; correlations: two beta
  distributions), fitted by expectation-maximisation; the model that separates its two parts better gives each
  pair its probability of being one cell, and cells are clustered across sessions so that the mean probability
  within a cluster is at least 0.5, one cell per session.

Both return a global id per (session, cell) in the form `register_sessions` does; alignment is left to the
caller, so the rules can be compared on the same aligned footprints. `align_translation` is minian's own
alignment of the sessions' templates: one rigid translation from their FFT cross-correlation.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, sparse, spatial, special
from scipy.sparse import csgraph

from element_calcium.compute import motion
from element_calcium.compute.registration import _footprints, _match, _transform

_EM_ITERATIONS = 200


def _component_labels(n_cells: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    graph = sparse.coo_array((np.ones(len(first)), (first, second)), shape=(n_cells, n_cells))
    return csgraph.connected_components(graph, directed=False)[1]


def _renumbered(labels: np.ndarray) -> np.ndarray:
    """Labels numbered 0, 1, ... in order of first appearance."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first_index))
    return order[inverse].astype(np.int64)


def _split(values: np.ndarray, counts) -> list[np.ndarray]:
    return np.split(values, np.cumsum(counts)[:-1])


def match_minian(centers, *, max_distance: float = 5.0) -> list[np.ndarray]:
    """minian's rule on (N_s, 2) centroids (y, x) per session in the reference frame (pixels); returns (N_s,)
    global ids per session."""
    counts = [len(c) for c in centers]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    first, second = [], []
    for a in range(len(centers)):
        for b in range(a + 1, len(centers)):
            if not counts[a] or not counts[b]:
                continue
            distance = spatial.distance.cdist(centers[a], centers[b])
            nearest_b, nearest_a = distance.argmin(axis=1), distance.argmin(axis=0)
            cells_a = np.flatnonzero((nearest_a[nearest_b] == np.arange(counts[a]))
                                     & (distance[np.arange(counts[a]), nearest_b] < max_distance))
            first.append(offsets[a] + cells_a)
            second.append(offsets[b] + nearest_b[cells_a])
    n_cells = offsets[-1]
    first = np.concatenate(first) if first else np.zeros(0, np.int64)
    second = np.concatenate(second) if second else np.zeros(0, np.int64)
    labels = _component_labels(n_cells, first, second)
    sessions = np.repeat(np.arange(len(centers)), counts)
    for label in np.unique(labels):
        cells = np.flatnonzero(labels == label)
        if len(np.unique(sessions[cells])) < len(cells):  # a conflict: the chain is dropped
            labels[cells] = labels.max() + 1 + np.arange(len(cells))
    return _split(_renumbered(labels), counts)


def align_translation(moving, reference, *, max_shift: float, device: str = "auto") -> np.ndarray:
    """minian's alignment of a session's template to the reference's: the (2, 3) transform of a pure translation
    found by FFT cross-correlation of the two (H, W) images, within +-``max_shift`` pixels."""
    reference = np.asarray(reference, dtype=np.float32)
    bound = min(max_shift, min(reference.shape) / 2 - 1)
    shift, _ = motion.register_rigid(np.asarray(moving, dtype=np.float32)[None], template=reference, max_shift=bound,
                                     upsample_factor=10, device=device)
    return _transform.similarity_matrix(0.0, 1.0, shift[0].astype(np.float64), reference.shape)


def _binary(footprints: sparse.csr_array, max_thr: float) -> sparse.csr_array:
    peaks = footprints.max(axis=1).toarray().ravel()
    rows = np.repeat(np.arange(footprints.shape[0]), np.diff(footprints.indptr))
    mask = footprints.copy()
    mask.data = (footprints.data > max_thr * peaks[rows]).astype(np.float32)
    mask.eliminate_zeros()
    return mask


def _jaccard_cost(union: sparse.csr_array, session: sparse.csr_array, union_centers, session_centers,
                  max_dist: float) -> np.ndarray:
    intersection = (union @ session.T).toarray()
    sizes_union, sizes_session = np.asarray(union.sum(axis=1)).ravel(), np.asarray(session.sum(axis=1)).ravel()
    union_size = sizes_union[:, None] + sizes_session[None, :] - intersection
    cost = 1.0 - intersection / np.maximum(union_size, 1e-12)
    cost[spatial.distance.cdist(union_centers, session_centers) >= max_dist] = 1.0
    return cost


def match_caiman(footprints, centers, *, max_dist: float = 10.0, thresh_cost: float = 0.7,
                 max_thr: float = 0.0) -> list[np.ndarray]:
    """CaImAn's ``register_multisession`` rule on (N_s, H * W) sparse footprints and (N_s, 2) centroids per
    session, all in the reference frame; returns (N_s,) global ids per session (union indices)."""
    masks = [_binary(sparse.csr_array(f), max_thr) for f in footprints]
    union, union_centers = masks[0], np.asarray(centers[0], dtype=np.float64)
    ids = [np.arange(masks[0].shape[0], dtype=np.int64)]
    for mask, session_centers in zip(masks[1:], centers[1:]):
        session_centers = np.asarray(session_centers, dtype=np.float64)
        assigned = np.full(mask.shape[0], -1, dtype=np.int64)
        if union.shape[0] and mask.shape[0]:
            cost = _jaccard_cost(union, mask, union_centers, session_centers, max_dist)
            rows, columns = optimize.linear_sum_assignment(cost)
            keep = cost[rows, columns] < thresh_cost
            assigned[columns[keep]] = rows[keep]
        new = np.flatnonzero(assigned < 0)
        assigned[new] = union.shape[0] + np.arange(new.size)
        matched = np.flatnonzero(assigned < union.shape[0])
        replaced = sparse.lil_array(union)
        for cell in matched:
            replaced[assigned[cell]] = mask[[cell]]
        union = sparse.vstack([sparse.csr_array(replaced), mask[new]], format="csr")
        union_centers = np.concatenate([union_centers, session_centers[new]])
        union_centers[assigned[matched]] = session_centers[matched]
        ids.append(assigned)
    return ids


def _lognormal(values, mu, sigma):
    return np.exp(-((np.log(values) - mu) ** 2) / (2 * sigma**2)) / (values * sigma * np.sqrt(2 * np.pi))


def _beta(values, a, b):
    return np.exp((a - 1) * np.log(values) + (b - 1) * np.log1p(-values) - special.betaln(a, b))


def _beta_moments(values, weights):
    """Weighted method-of-moments (a, b) of a beta distribution."""
    mean = np.average(values, weights=weights)
    variance = max(np.average((values - mean) ** 2, weights=weights), 1e-6)
    common = max(mean * (1 - mean) / variance - 1, 1e-3)
    return mean * common, (1 - mean) * common


def _mixture(values, same_density, other_density, fit, start):
    """EM on ``values``: returns (P(same) per value, expected misclassification rate)."""
    same = start.copy()
    for _ in range(_EM_ITERATIONS):
        weight = float(np.clip(same.mean(), 1e-3, 1 - 1e-3))
        parameters = fit(same)
        numerator = weight * same_density(values, *parameters[0])
        denominator = numerator + (1 - weight) * other_density(values, *parameters[1])
        same = numerator / np.maximum(denominator, 1e-300)
    return same, float(np.minimum(same, 1 - same).mean())


def match_cellreg(footprints, centers, *, max_distance: float = 12.0) -> list[np.ndarray]:
    """CellReg's probabilistic rule (module docstring) on (N_s, H * W) sparse footprints and (N_s, 2) centroids per
    session, all in the reference frame; returns (N_s,) global ids per session."""
    counts = [len(c) for c in centers]
    sessions = np.repeat(np.arange(len(centers)), counts)
    stacked = sparse.vstack([sparse.csr_array(f) for f in footprints], format="csr")
    all_centers = np.concatenate([np.asarray(c, dtype=np.float64).reshape(-1, 2) for c in centers])
    pairs = _match.candidate_pairs(_footprints.normalised(stacked), all_centers, sessions,
                                   cell_diameter=max_distance, max_distance=1.0)
    if len(pairs.first) < 4:
        return _split(np.arange(len(sessions), dtype=np.int64), counts)
    distance = np.clip(pairs.distance, 1e-3, max_distance)
    correlation = np.clip(pairs.overlap, 1e-4, 1 - 1e-4)
    start = (distance < np.quantile(distance, 0.3)).astype(np.float64)

    def fit_distance(same):
        logs = np.log(distance)
        mu = np.average(logs, weights=same + 1e-9)
        sigma = max(np.sqrt(np.average((logs - mu) ** 2, weights=same + 1e-9)), 0.05)
        return (mu, sigma), ()

    def uniform_disk(values):
        return 2 * values / max_distance**2

    def fit_correlation(same):
        return _beta_moments(correlation, same + 1e-9), _beta_moments(correlation, 1 - same + 1e-9)

    by_distance = _mixture(distance, _lognormal, uniform_disk, fit_distance, start)
    by_correlation = _mixture(correlation, _beta, _beta, fit_correlation, start)
    probability = min(by_distance, by_correlation, key=lambda fitted: fitted[1])[0]
    scored = _match.CandidatePairs(first=pairs.first, second=pairs.second, distance=pairs.distance,
                                   overlap=pairs.overlap, score=probability)
    return _split(_match.group_cells(scored, sessions, min_score=0.5), counts)
