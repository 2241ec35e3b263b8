"""Benchmark: how the default cell clustering chooses its number of clusters, scored against the truth.

Populations of 2..6 activity classes of unequal sizes (`simulate_cell_population`: classes drawn from the
simulator's catalogue, 4-24 cells each, 10 minutes at 20 fps) are clustered with the default parameters; the
tree is cut by each rule and scored by the adjusted Rand index (ARI) against the classes. Rules:

- ``default``: the default parameter set (``auto_cut="eigengap"``).
- ``silhouette``: ``auto_cut="silhouette"`` (the former default).
- ``gap``: the gap statistic (Tibshirani et al. 2001; 20 reference sets uniform over the PCA-aligned box of
  the features, each clustered the same way; smallest k with gap(k) >= gap(k+1) - s(k+1)).
- ``true_k``: the tree cut at the true number of classes (how good the tree itself is).

Prints one line per class count and seed (rule: clusters found / ARI) and the mean ARI per class count. The
rule was chosen on seeds 0-4; report it on held-out seeds (e.g. 100-109).

    python bench/clustering.py [--seeds 100-109] [--classes 2-6]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.cluster import hierarchy

from element_calcium.compute.clustering import cluster_cells, cut_linkage
from element_calcium.simulate import adjusted_rand_index, simulate_cell_population

FPS = 20.0


def within_scatter(points: np.ndarray, labels: np.ndarray) -> float:
    """Sum over clusters of the squared distances of their points to their centroid."""
    return float(sum(((points[labels == c] - points[labels == c].mean(axis=0)) ** 2).sum()
                     for c in np.unique(labels)))


def gap_statistic_count(features: np.ndarray, tree: np.ndarray, *, max_clusters: int = 10, references: int = 20,
                        seed: int = 0) -> int:
    """Number of clusters by the gap statistic with a uniform reference over the PCA-aligned box."""
    rng = np.random.default_rng(seed)
    centred = features - features.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes.T
    low, high = projected.min(axis=0), projected.max(axis=0)
    counts = range(1, max_clusters + 1)
    observed = np.log([within_scatter(features, hierarchy.fcluster(tree, k, "maxclust")) for k in counts])
    reference = np.empty((references, max_clusters))
    for row in range(references):
        sample = rng.uniform(low, high, projected.shape) @ axes
        sample_tree = hierarchy.linkage(sample, method="ward")
        reference[row] = np.log([within_scatter(sample, hierarchy.fcluster(sample_tree, k, "maxclust"))
                                 for k in counts])
    gap = reference.mean(axis=0) - observed
    spread = reference.std(axis=0) * np.sqrt(1 + 1 / references)
    for k in range(1, max_clusters):
        if gap[k - 1] >= gap[k] - spread[k]:
            return k
    return max_clusters


def span(text: str) -> range:
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100-109")
    parser.add_argument("--classes", default="2-6")
    args = parser.parse_args()
    rules = ("default", "silhouette", "gap", "true_k")
    for n_classes in span(args.classes):
        scores = {rule: [] for rule in rules}
        for seed in span(args.seeds):
            sim = simulate_cell_population(n_classes, seed=seed)
            result = cluster_cells(sim.dff, fps=FPS)
            tree, distances = result.linkage, result.distances
            counts = {
                "default": result.n_clusters,
                "silhouette": cut_linkage(tree, distances, auto_cut="silhouette").n_clusters,
                "gap": gap_statistic_count(result.features, tree),
                "true_k": n_classes,
            }
            line = []
            for rule in rules:
                score = adjusted_rand_index(sim.labels, hierarchy.fcluster(tree, counts[rule], "maxclust"))
                scores[rule].append(score)
                line.append(f"{rule} {counts[rule]}/{score:.2f}")
            print(f"classes {n_classes} seed {seed} sizes {np.bincount(sim.labels).tolist()}: " + ", ".join(line))
        print(f"classes {n_classes} mean ARI: " + ", ".join(f"{r} {np.mean(s):.3f}" for r, s in scores.items())
              + f"; default min {min(scores['default']):.2f}", flush=True)


if __name__ == "__main__":
    main()
