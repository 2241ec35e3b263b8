"""Algorithms on arrays: no database, no files (a movie comes in through the frame-source protocol of `frames`).

One subpackage per family, each a small public ``__init__`` over private modules (`motion`, `cnmf`,
`deconvolution`, `events`, `clustering`, `params`), and the single modules `dff`, `quality`, `curation`.
``_backend`` (NumPy or CuPy, the only importer of CuPy) and ``_checks`` (input checks) are shared by all of
them and private to this package.
"""

from element_calcium.compute._backend import resolve_device

__all__ = ["resolve_device"]
