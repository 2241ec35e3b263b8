"""Joint matching of cells across all sessions at once.

Every pair of cells of two different sessions whose centroids lie within ``max_distance`` cell diameters
(after alignment) is scored::

    score = sqrt(overlap * closeness),  overlap = <f_a, f_b> / (|f_a| |f_b|),  closeness = exp(-d^2 / (2 s^2))

with f the footprints in the reference frame, d the centroid distance and s a quarter of the cell diameter (the
sigma of a Gaussian soma). Cells are then grouped by average-linkage agglomeration under a cannot-link rule:
starting from single cells, the two groups with the highest mean score over all their cross pairs (a pair too far
apart to be scored counts 0) merge, as long as that mean is at least ``min_score`` and the two groups hold no
cell of the same session. A group is one cell seen in the sessions of its members; a group of one is a cell seen
once. Unlike chaining pairwise matches, a cell must agree with all members of its group, not only with one.

Confidence of a cell: in a group, the mean score of its pairs with the other members; alone, one minus its best
score with any cell of another session.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from scipy import sparse, spatial


@dataclass(frozen=True)
class CandidatePairs:
    """Scored pairs of cells (indices into the sessions' concatenated cells).

    Attributes:
        first, second: (P,) int64 cell indices, ``first < second``, of different sessions.
        distance: (P,) float64 centroid distance, pixels.
        overlap: (P,) float64 cosine similarity of the footprints.
        score: (P,) float64 pair score in [0, 1].
    """

    first: np.ndarray
    second: np.ndarray
    distance: np.ndarray
    overlap: np.ndarray
    score: np.ndarray


def candidate_pairs(unit_footprints: sparse.csr_array, centers: np.ndarray, sessions: np.ndarray, *,
                    cell_diameter: float, max_distance: float) -> CandidatePairs:
    """Score the pairs of cells of different sessions closer than ``max_distance`` cell diameters.

    Args:
        unit_footprints: (N, H * W) footprints of all sessions in the reference frame, unit L2 norm.
        centers: (N, 2) centroids (y, x) in the reference frame, pixels.
        sessions: (N,) session index of each cell.
        cell_diameter: pixels.
        max_distance: cell diameters.
    """
    tree = spatial.cKDTree(centers)
    pairs = tree.query_pairs(max_distance * cell_diameter, output_type="ndarray")
    pairs = pairs[sessions[pairs[:, 0]] != sessions[pairs[:, 1]]] if len(pairs) else np.zeros((0, 2), np.int64)
    first, second = np.sort(pairs, axis=1).T.astype(np.int64)
    overlap = np.asarray(unit_footprints[first].multiply(unit_footprints[second]).sum(axis=1),
                         dtype=np.float64).ravel() if len(first) else np.zeros(0)
    distance = np.linalg.norm(centers[first] - centers[second], axis=1)
    sigma = cell_diameter / 4.0
    closeness = np.exp(-(distance**2) / (2 * sigma**2))
    score = np.sqrt(np.clip(overlap, 0.0, 1.0) * closeness)
    return CandidatePairs(first=first, second=second, distance=distance, overlap=overlap, score=score)


def group_cells(pairs: CandidatePairs, sessions: np.ndarray, *, min_score: float) -> np.ndarray:
    """(N,) int64 group of each cell: average-linkage agglomeration under the cannot-link rule (module
    docstring); groups numbered by their first cell."""
    n_cells = len(sessions)
    members = {n: [n] for n in range(n_cells)}
    seen = {n: {int(sessions[n])} for n in range(n_cells)}
    links: dict[int, dict[int, float]] = {n: {} for n in range(n_cells)}
    for a, b, score in zip(pairs.first, pairs.second, pairs.score):
        links[int(a)][int(b)] = links[int(b)][int(a)] = float(score)
    heap = [(-score, int(a), int(b)) for a, b, score in zip(pairs.first, pairs.second, pairs.score)
            if score >= min_score]
    heapq.heapify(heap)
    while heap:
        negative, a, b = heapq.heappop(heap)
        if a not in members or b not in members or b not in links[a]:
            continue
        mean = links[a][b] / (len(members[a]) * len(members[b]))
        if abs(mean + negative) > 1e-12 or seen[a] & seen[b]:
            continue  # a stale entry (the groups changed since), or two cells of one session
        members[a] += members.pop(b)
        seen[a] |= seen.pop(b)
        for c, total in links.pop(b).items():
            links[c].pop(b)
            if c != a:
                links[a][c] = links[a].get(c, 0.0) + total
                links[c][a] = links[a][c]
        for c, total in links[a].items():
            mean = total / (len(members[a]) * len(members[c]))
            if mean >= min_score and not seen[a] & seen[c]:
                heapq.heappush(heap, (-mean, min(a, c), max(a, c)))
    groups = np.empty(n_cells, dtype=np.int64)
    for number, cells in enumerate(sorted(members.values(), key=min)):
        groups[cells] = number
    return groups


def confidences(pairs: CandidatePairs, groups: np.ndarray) -> np.ndarray:
    """(N,) float64 confidence of each cell's assignment (module docstring)."""
    n_cells = len(groups)
    sizes = np.bincount(groups, minlength=groups.max() + 1 if n_cells else 0)
    same = groups[pairs.first] == groups[pairs.second]
    within = np.zeros(n_cells)
    np.add.at(within, pairs.first[same], pairs.score[same])
    np.add.at(within, pairs.second[same], pairs.score[same])
    best_other = np.zeros(n_cells)
    np.maximum.at(best_other, pairs.first[~same], pairs.score[~same])
    np.maximum.at(best_other, pairs.second[~same], pairs.score[~same])
    size = sizes[groups]
    return np.where(size > 1, within / np.maximum(size - 1, 1), 1.0 - best_other)
