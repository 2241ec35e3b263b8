"""What a table's ``make_fetch`` returns, in a form DataJoint can fingerprint quickly.

DataJoint runs ``make_fetch`` twice, before the computation and again inside the insert's
transaction, and compares deep hashes (``deepdiff.DeepHash``) of the two results to make sure the
inputs did not change meanwhile. deepdiff hashes a NumPy array element by element, about 8 µs per
element: the traces of a long recording would take minutes. `pack` replaces every array inside
nested dicts, lists and tuples by a `Packed`: a string (which deepdiff hashes as it is) holding the
array's dtype, shape and a BLAKE2 digest of its bytes, and carrying the array itself; ``make_compute``
calls `unpack` to get the arrays back.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np


class Packed(str):
    """A NumPy array that hashes as the text ``"<dtype><shape>:<digest of its bytes>"``; the array is ``.array``."""

    array: np.ndarray

    def __new__(cls, array: np.ndarray) -> Packed:
        array = np.ascontiguousarray(array)
        digest = hashlib.blake2b(array.view(np.uint8).reshape(-1), digest_size=20).hexdigest()
        packed = super().__new__(cls, f"{array.dtype.str}{array.shape}:{digest}")
        packed.array = array
        return packed


def pack(value: Any) -> Any:
    """``value`` with every NumPy array (in dicts, lists and tuples, at any depth) replaced by a `Packed`."""
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        return Packed(value)
    if isinstance(value, np.ndarray):
        return [pack(item) for item in value.tolist()]
    if isinstance(value, dict):
        return {name: pack(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(pack(item) for item in value)
    return value


def unpack(value: Any) -> Any:
    """The inverse of `pack` (object arrays come back as lists)."""
    if isinstance(value, Packed):
        return value.array
    if isinstance(value, dict):
        return {name: unpack(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(unpack(item) for item in value)
    return value
