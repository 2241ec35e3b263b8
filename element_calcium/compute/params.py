"""Processing parameters: frozen dataclasses with defaults, checked on construction.

A parameter set is a nested dictionary with one section per processing step. ``validate``
turns a user's dictionary into the complete, explicit dictionary that is stored and hashed:
unknown keys and out-of-range values are errors, never silently rewritten; keys the user left
out take the documented defaults of the modality. Later processing steps add their sections
to ``ProcessingParams``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

MODALITIES = ("1p", "2p")


@dataclass(frozen=True)
class ProcessingParams:
    """Compute parameters of one processing run.

    Attributes:
        modality: ``"1p"`` (one-photon, e.g. head-mounted Miniscope) or ``"2p"`` (two-photon).
            Steps choose their one-photon or two-photon variant from it (background model,
            high-pass filtering before registration).
    """

    modality: str

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"params 'modality' must be one of {MODALITIES}, got {self.modality!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_params(modality: str) -> dict[str, Any]:
    """The built-in parameter dictionary for ``modality`` (``"1p"`` or ``"2p"``)."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return ProcessingParams(modality=modality).to_dict()


def _merge(defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} in {where}; known: {sorted(defaults)}")
    merged = dict(defaults)
    for name, value in given.items():
        if isinstance(defaults[name], dict):
            if not isinstance(value, dict):
                raise ValueError(f"parameter section {where}.{name} must be a dictionary")
            merged[name] = _merge(defaults[name], value, f"{where}.{name}")
        else:
            merged[name] = value
    return merged


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` and return the complete parameter dictionary.

    Args:
        params: a (possibly partial) parameter dictionary; it must name its ``modality``.

    Returns:
        The full dictionary: the user's values plus the modality's defaults for the rest.

    Raises:
        ValueError: not a dictionary, no or unknown modality, an unknown key, a value out of range.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dictionary, got {type(params).__name__}")
    modality = params.get("modality")
    if modality not in MODALITIES:
        raise ValueError(f"params must name a 'modality' in {MODALITIES}, got {modality!r}")
    merged = _merge(default_params(modality), params, "params")
    return ProcessingParams(**merged).to_dict()
