"""Parameter sets: validated, written as canonical JSON and hashed to a UUID.

The hash identifies a parameter set by its content, so the same parameters entered twice
under one id are recognised as the same set, and the same parameters under a second id are
refused. Only compute parameters are hashed; run settings (device, worker count) are not.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from typing import Any

from .compute import params as compute_params


def _canonical_value(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError(f"parameter keys in {where} must be strings")
        return {key: _canonical_value(value[key], f"{where}.{key}") for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_canonical_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"parameter {where} must be finite, got {value}")
        return float(value)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _canonical_value(value.item(), where)
    raise ValueError(f"parameter {where} has a type JSON cannot hold: {type(value).__name__}")


def canonical_json(params: dict[str, Any]) -> str:
    """JSON text of ``params`` with sorted keys and no whitespace: equal content, equal text."""
    return json.dumps(_canonical_value(params, "params"), sort_keys=True, separators=(",", ":"))


def dict_to_uuid(params: dict[str, Any]) -> uuid.UUID:
    """A UUID computed from the canonical JSON of ``params`` (MD5 of the text)."""
    return uuid.UUID(hashlib.md5(canonical_json(params).encode("utf-8")).hexdigest())


def prepare(purpose: dict[str, str], params: dict[str, Any]) -> tuple[dict[str, Any], uuid.UUID]:
    """Validate ``params`` for ``purpose`` and return the complete dictionary and the set's hash.

    ``purpose`` says what the set is for: ``{"processing_method": method}`` (a processing parameter set, validated
    by `compute.params.validate`) or ``{"step": step}`` (an event or clustering step, validated by
    `compute.params.validate_step_params`). The hash is that of one envelope, ``{**purpose, "params": complete}``:
    the same numbers loaded from suite2p and computed by element_calcium are two different parameter sets.
    Fields a step's class lists in ``ADDED_LATER`` are hashed only where they differ from their default.

    Raises:
        ValueError: a purpose other than those two, or parameters that fail validation.
    """
    if set(purpose) == {"processing_method"}:
        complete = compute_params.validate(params)
    elif set(purpose) == {"step"}:
        complete = compute_params.validate_step_params(purpose["step"], params)
    else:
        raise ValueError(f"purpose must be {{'processing_method': ...}} or {{'step': ...}}, got {purpose!r}")
    complete = json.loads(canonical_json(complete))
    return complete, dict_to_uuid({**purpose, "params": _hashed(purpose, complete)})


def _hashed(purpose: dict[str, str], complete: dict[str, Any]) -> dict[str, Any]:
    """``complete`` less the fields its step's class added later (``ADDED_LATER``) that are at their default, so
    adding a field leaves the hashes of the sets stored before it unchanged."""
    step_class = compute_params.STEP_PARAMS.get(purpose.get("step"))
    later = getattr(step_class, "ADDED_LATER", ())
    defaults = compute_params.default_step_params(purpose["step"]) if later else {}
    return {name: value for name, value in complete.items() if name not in later or value != defaults[name]}
