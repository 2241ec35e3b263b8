"""Agreement of a clustering with the truth, for the clustering tests (the simulator's scorer)."""

from element_calcium.simulate import adjusted_rand_index

__all__ = ["adjusted_rand_index"]
