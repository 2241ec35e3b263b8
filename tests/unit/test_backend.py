"""Array backends of element_calcium.compute: device choice, transfers, FFT and matrix products."""

import subprocess
import sys

import numpy as np
import pytest

from element_calcium.compute import _backend

CUDA_REASON = _backend.cuda_unavailable_reason()
needs_cuda = pytest.mark.skipif(bool(CUDA_REASON), reason=f"no usable CuPy GPU: {CUDA_REASON}")


def test_cpu_is_always_available():
    assert _backend.resolve_device("cpu") == "cpu"
    assert _backend.get_xp("cpu") is np


def test_auto_picks_the_gpu_exactly_when_cupy_sees_one():
    assert _backend.resolve_device("auto") == ("cpu" if CUDA_REASON else "cuda")


@pytest.mark.parametrize("device", ["gpu", "CPU", "", None, 0])
def test_unknown_device_is_refused(device):
    with pytest.raises(ValueError, match="device must be one of"):
        _backend.resolve_device(device)


@pytest.mark.skipif(not CUDA_REASON, reason="a CuPy GPU is present, so device='cuda' is valid here")
def test_cuda_without_a_gpu_says_why():
    with pytest.raises(ValueError, match="device='cuda' needs a usable CuPy GPU"):
        _backend.resolve_device("cuda")


def test_numpy_transfers_do_not_copy():
    array = np.arange(6.0).reshape(2, 3)
    assert _backend.to_numpy(array) is array
    assert _backend.to_device(array, "cpu") is array
    assert _backend.namespace_of(array) is np


def test_rfft2_matches_numpy_and_inverts():
    frames = np.random.default_rng(0).normal(size=(3, 20, 31)).astype(np.float32)
    spectrum = _backend.rfft2(frames)
    assert spectrum.dtype == np.complex64 and spectrum.shape == (3, 20, 16)
    np.testing.assert_allclose(spectrum, np.fft.rfft2(frames), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(_backend.irfft2(spectrum, (20, 31)), frames, atol=1e-5)


@pytest.mark.parametrize("shapes", [((4, 31, 256), (4, 256, 129)), ((5, 3), (2, 3, 40)), ((2, 9, 129), (2, 129, 9))])
def test_matmul_equals_numpy_matmul(shapes):
    rng = np.random.default_rng(1)
    a, b = (rng.normal(size=shape) + 1j * rng.normal(size=shape) for shape in shapes)
    a, b = a.astype(np.complex64), b.astype(np.complex64)
    np.testing.assert_allclose(_backend.matmul(a, b), np.matmul(a, b), rtol=1e-4, atol=1e-3)


def test_motion_correction_imports_without_datajoint():
    code = "import sys; sys.modules['datajoint'] = None; import element_calcium.compute.motion; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cpu_runs_never_import_cupy():
    code = (
        "import sys, numpy as np\n"
        "from element_calcium.compute import motion\n"
        "frames = np.random.default_rng(0).normal(size=(4, 32, 32)).astype(np.float32)\n"
        "motion.register_rigid(frames, template=frames[0], max_shift=3, device='cpu')\n"
        "print('cupy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@needs_cuda
def test_cuda_round_trip_and_fft_agree_with_numpy():
    import cupy

    frames = np.random.default_rng(2).normal(size=(3, 32, 40)).astype(np.float32)
    on_gpu = _backend.to_device(frames, "cuda")
    assert isinstance(on_gpu, cupy.ndarray) and _backend.namespace_of(on_gpu) is cupy
    np.testing.assert_array_equal(_backend.to_numpy(on_gpu), frames)
    np.testing.assert_allclose(_backend.to_numpy(_backend.rfft2(on_gpu)), _backend.rfft2(frames), rtol=1e-4, atol=1e-3)
    a = on_gpu[:, :8, :].astype(cupy.complex64)
    b = on_gpu.transpose(0, 2, 1).astype(cupy.complex64)
    np.testing.assert_allclose(
        _backend.to_numpy(_backend.matmul(a, b)), _backend.matmul(_backend.to_numpy(a), _backend.to_numpy(b)), rtol=1e-4
    )
