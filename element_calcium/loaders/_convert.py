"""Conversions the loaders share: another tool's arrays as footprints, traces and summary images in the
conventions of `element_calcium.loaders.types`, each refused with a message naming the file and variable."""

from __future__ import annotations

import numpy as np
import scipy.sparse


def as_image(image: np.ndarray | None) -> np.ndarray | None:
    """A summary image as (H, W) float32 (None stays None)."""
    return None if image is None else np.asarray(image, dtype=np.float32)


def as_traces(value: object, name: str, where: object) -> np.ndarray:
    """``value`` as an (N, T) float32 array; ValueError naming ``where`` and ``name`` if it is not numeric 2-D data.

    An array holding only NaN is refused: it carries no trace.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{where}: '{name}' must hold numbers, found dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{where}: '{name}' must be 2-D (components, frames), got shape {array.shape}")
    array = array.astype(np.float32, copy=False)
    if array.size and np.isnan(array).all():
        raise ValueError(f"{where}: '{name}' holds only NaN")
    return array


def check_same_shape(arrays: dict[str, np.ndarray | None], where: object) -> None:
    """ValueError naming ``where`` unless all arrays given (None skipped) have one shape."""
    given = [(name, array) for name, array in arrays.items() if array is not None]
    first_name, first = given[0]
    for name, array in given[1:]:
        if array.shape != first.shape:
            raise ValueError(f"{where}: '{name}' has shape {array.shape} but '{first_name}' has {first.shape}")


def footprints_from_pixels(
    mask: np.ndarray,
    rows: np.ndarray,
    columns: np.ndarray,
    weights: np.ndarray,
    *,
    height: int,
    width: int,
    nmasks: int,
) -> scipy.sparse.csc_array:
    """(height * width, nmasks) float32 footprints from pixel lists: mask index, row (y), column (x), weight."""
    pixels = rows.astype(np.int64) * width + columns.astype(np.int64)
    return as_footprints(scipy.sparse.coo_array((weights, (pixels, mask)), shape=(height * width, nmasks)))


def footprints_from_images(images: np.ndarray) -> scipy.sparse.csc_array:
    """(height * width, n) float32 footprints from dense (n, height, width) images."""
    nmasks = images.shape[0]
    return as_footprints(scipy.sparse.csc_array(images.reshape(nmasks, -1).T))


def stack_footprints(blocks: list[scipy.sparse.csc_array], npixels: int) -> scipy.sparse.csc_array:
    """Footprint blocks of consecutive components side by side, as one csc array."""
    if not blocks:
        return scipy.sparse.csc_array((npixels, 0), dtype=np.float32)
    return as_footprints(scipy.sparse.hstack(blocks, format="csc"))


def as_footprints(matrix: scipy.sparse.sparray) -> scipy.sparse.csc_array:
    """float32 csc array with sorted, summed row indices and no stored zeros."""
    matrix = scipy.sparse.csc_array(matrix, dtype=np.float32)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix
