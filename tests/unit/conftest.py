"""Fixtures of the unit tests.

`device` runs a compute test once per backend: ``"cpu"`` always, ``"cuda"`` where CuPy sees a GPU (skipped with
the reason elsewhere). A test on a GPU also checks that the backends agree, through `backends_agree`.
"""

import pytest

from element_calcium.compute import _backend

BACKENDS = ("cpu", "cuda")


@pytest.fixture(params=BACKENDS)
def device(request) -> str:
    """A backend this machine has: ``"cpu"``, or ``"cuda"`` (skipped, naming the reason, without a usable GPU)."""
    reason = _backend.cuda_unavailable_reason() if request.param == "cuda" else ""
    if reason:
        pytest.skip(f"no usable CuPy GPU: {reason}")
    return request.param


@pytest.fixture
def backends_agree(device):
    """``backends_agree(result, on_cpu, compare)``: on a GPU, ``compare(result, on_cpu())`` checks the result
    against the same computation on the CPU; on the CPU the result is the reference, and nothing runs."""

    def check(result, on_cpu, compare) -> None:
        if device != "cpu":
            compare(result, on_cpu())

    return check
