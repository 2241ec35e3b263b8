"""Parameter sets of the event and clustering steps: one parameter class per step, defaults and validation."""

from __future__ import annotations

from typing import Any

from element_calcium.compute.params._clustering import CellClusteringParams, EventClusteringParams
from element_calcium.compute.params._events import PeriEventParams, SpatialEventParams, TransientParams
from element_calcium.compute.params._rules import as_dict, merge

STEP_PARAMS = {
    "transients": TransientParams,
    "peri_event": PeriEventParams,
    "spatial": SpatialEventParams,
    "cell_clustering": CellClusteringParams,
    "event_clustering": EventClusteringParams,
}


def default_step_params(step: str) -> dict[str, Any]:
    """The built-in parameter dictionary of a ``step`` (one of ``STEP_PARAMS``)."""
    if step not in STEP_PARAMS:
        raise ValueError(f"step must be one of {tuple(STEP_PARAMS)}, got {step!r}")
    return as_dict(STEP_PARAMS[step]())


def validate_step_params(step: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check the parameters of a ``step`` and return the complete dictionary (defaults filled in).

    Raises:
        ValueError: unknown step, not a dictionary, an unknown key or a value out of range.
    """
    defaults = default_step_params(step)
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dictionary, got {type(params).__name__}")
    merged = merge(defaults, params, f"params {step}")
    return as_dict(STEP_PARAMS[step](**merged))
