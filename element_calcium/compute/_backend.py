"""Array backends: NumPy on the CPU, CuPy on a CUDA GPU.

Compute code is written once against an array namespace ``xp`` (``numpy`` or ``cupy``) and gets
its FFT and ndimage namespaces from here. This is the only module that imports CuPy, and only
when a GPU is asked for or ``device="auto"`` looks for one. Results go back to callers as NumPy.
"""

from __future__ import annotations

import functools
from types import ModuleType

import numpy as np
import scipy.fft
import scipy.ndimage

DEVICES = ("auto", "cpu", "cuda")
# OpenBLAS runs a product of fewer multiply-adds than this on the calling thread. Motion correction
# already runs one thread per core; BLAS threads of its own would compete with them.
_SINGLE_THREAD_MULTIPLY_ADDS = 2**16


@functools.lru_cache(maxsize=1)
def _cupy() -> tuple[ModuleType | None, str]:
    """CuPy when it imports and sees a CUDA device, else None and the reason."""
    try:
        import cupy
    except Exception as error:  # a broken CUDA install raises more than ImportError
        return None, f"CuPy is not importable ({type(error).__name__}: {error})"
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        return None, f"CuPy sees no CUDA device ({type(error).__name__}: {error})"
    if n_devices < 1:
        return None, "CuPy sees no CUDA device"
    return cupy, ""


def cuda_unavailable_reason() -> str:
    """Why ``device="cuda"`` cannot be used here; the empty string when it can."""
    return _cupy()[1]


def resolve_device(device: str) -> str:
    """The device a computation runs on.

    Args:
        device: ``"auto"`` (a CUDA GPU when CuPy imports and sees one, else the CPU), ``"cpu"`` or
            ``"cuda"``.

    Returns:
        ``"cpu"`` or ``"cuda"``.

    Raises:
        ValueError: ``device`` is not one of the three names, or it is ``"cuda"`` and no usable
            CuPy GPU is present.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    reason = cuda_unavailable_reason()
    if device == "cuda" and reason:
        raise ValueError(f"device='cuda' needs a usable CuPy GPU: {reason}")
    return "cpu" if reason else "cuda"


def get_xp(device: str) -> ModuleType:
    """The array namespace of ``device`` (any name `resolve_device` accepts): numpy or cupy."""
    return _cupy()[0] if resolve_device(device) == "cuda" else np


def _is_cupy(array) -> bool:
    return type(array).__module__.split(".")[0] == "cupy"


def namespace_of(array) -> ModuleType:
    """The array namespace ``array`` belongs to: numpy or cupy."""
    return _cupy()[0] if _is_cupy(array) else np


def to_device(array, device: str):
    """``array`` as an array of ``device`` (no copy when it is already there)."""
    xp = get_xp(device)
    if xp is np:
        return to_numpy(array)
    return xp.asarray(array)


def to_numpy(array) -> np.ndarray:
    """``array`` (NumPy or CuPy) as a NumPy array (no copy when it is one already)."""
    if _is_cupy(array):
        return array.get()
    return np.asarray(array)


def fft_namespace(xp: ModuleType) -> ModuleType:
    """``scipy.fft`` for NumPy, ``cupyx.scipy.fft`` for CuPy."""
    if xp is np:
        return scipy.fft
    import cupyx.scipy.fft

    return cupyx.scipy.fft


def ndimage_namespace(xp: ModuleType) -> ModuleType:
    """``scipy.ndimage`` for NumPy, ``cupyx.scipy.ndimage`` for CuPy."""
    if xp is np:
        return scipy.ndimage
    import cupyx.scipy.ndimage

    return cupyx.scipy.ndimage


def rfft2(array):
    """Real 2-D FFT over the last two axes; float32 in, complex64 out (one thread on NumPy)."""
    if _is_cupy(array):
        return fft_namespace(namespace_of(array)).rfft2(array, axes=(-2, -1))
    return scipy.fft.rfft2(array, axes=(-2, -1))


def irfft2(spectrum, shape: tuple[int, int]):
    """Inverse of `rfft2` to real arrays whose last two axes are ``shape`` (rows, columns)."""
    if _is_cupy(spectrum):
        return fft_namespace(namespace_of(spectrum)).irfft2(spectrum, s=shape, axes=(-2, -1))
    return scipy.fft.irfft2(spectrum, s=shape, axes=(-2, -1))


def matmul(a, b):
    """Batched ``a @ b`` (..., m, k) x (..., k, n).

    On NumPy the product is split along n into contiguous pieces (at least two columns wide:
    single columns would go to a threaded matrix-vector routine) small enough for OpenBLAS to
    run each on the calling thread, so that parallel callers do not oversubscribe the cores.
    """
    if _is_cupy(a):
        return namespace_of(a).matmul(a, b)
    m, k = a.shape[-2:]
    n = b.shape[-1]
    n_pieces = min(-(-n // max(1, _SINGLE_THREAD_MULTIPLY_ADDS // (m * k))), n // 2)
    if n_pieces <= 1:
        return np.matmul(a, b)
    bounds = np.linspace(0, n, n_pieces + 1).round().astype(int)
    pieces = [np.matmul(a, np.ascontiguousarray(b[..., lo:hi])) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(pieces, axis=-1)
