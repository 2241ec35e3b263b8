"""Agreement of a clustering with the truth, for the clustering tests."""

import numpy as np
from scipy.special import comb


def adjusted_rand_index(truth, found) -> float:
    """ARI from the contingency table: (index - expected) / (max - expected), pairs counted with comb(n, 2)."""
    _, a = np.unique(truth, return_inverse=True)
    _, b = np.unique(found, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    index = comb(table, 2).sum()
    rows, cols = comb(table.sum(axis=1), 2).sum(), comb(table.sum(axis=0), 2).sum()
    expected = rows * cols / comb(a.size, 2)
    return float((index - expected) / ((rows + cols) / 2 - expected))
