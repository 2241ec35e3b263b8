"""The version of the tool that wrote a results folder, where its files record one.

Of the folders element_calcium loads, only suite2p's record the version of the software that wrote them
(``ops.npy``'s ``suite2p_version``, written by suite2p 0.10 and later). minian's zarr stores name only their
dimensions and coordinates, CaImAn's ``CNMF.save`` HDF5 holds its estimates and parameters, CalTrig's folders are
minian's, and NWB files name the format's version, not the writer's: for those the version is unknown (None).
"""

from __future__ import annotations

import os

import numpy as np

from element_calcium.loaders.suite2p import find_ops_file

__all__ = ["results_version"]


def results_version(method: str, output_dir: str | os.PathLike) -> str | None:
    """The version of the tool ``method`` (``"suite2p"``, ``"minian"``, ...) that wrote the results in
    ``output_dir``, as its files record it; None where they record none (see the module notes)."""
    if method != "suite2p":
        return None
    try:
        ops = np.load(find_ops_file(output_dir), allow_pickle=True).item()
    except (FileNotFoundError, OSError, ValueError, AttributeError):
        return None
    version = ops.get("suite2p_version") if isinstance(ops, dict) else None
    return str(version) if version else None
