"""Measuring what reading a movie in chunks costs in memory."""

import tracemalloc

import numpy as np


def chunked_sum_and_peak(movie, n_frames: int) -> tuple[int, int]:
    """Sum of every pixel read through ``movie.chunks(n_frames)``, and the peak traced memory (bytes)."""
    tracemalloc.start()
    try:
        total = sum(int(block.sum(dtype=np.int64)) for block in movie.chunks(n_frames))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return total, peak
