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


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _pair(value: Any, name: str) -> tuple[int, int]:
    _require(
        isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value),
        f"params motion.{name} must be two integers (y, x), got {value!r}",
    )
    return int(value[0]), int(value[1])


@dataclass(frozen=True)
class MotionParams:
    """Motion correction (rigid, then optionally piecewise-rigid), NoRMCorre-style.

    Attributes:
        pw_rigid: after the rigid pass, register overlapping patches (piecewise-rigid).
        max_shift: (pixels) largest rigid shift searched, per axis.
        niter_rig: passes of template refinement: register, re-average, register again.
        template_frames: frames, spread evenly over the recording, that build the template.
        upsample_factor: sub-pixel precision of the shifts is 1/upsample_factor pixel.
        strides: (pixels, y x) step between patch origins (piecewise-rigid).
        overlaps: (pixels, y x) overlap of neighbouring patches; a patch is strides + overlaps.
        max_deviation_rigid: (pixels) largest patch shift away from the frame's rigid shift.
        upsample_factor_grid: patch shifts are interpolated on a grid this many times finer
            before being smoothed to every pixel.
        highpass: register a spatially high-pass filtered copy (difference of Gaussians) and
            apply the shifts to the raw frames; needed for one-photon data, whose smooth
            background otherwise dominates the correlation.
        gSig_filt: (pixels) sigma of the high-pass filter's inner Gaussian; None derives it from
            the parameter set's ``cell_diameter``.
        outlier_shift: (pixels) a frame whose shift departs this far from the median of its
            neighbours' shifts is flagged as an outlier.
        outlier_corr_z: a frame whose correlation with the template falls this many robust
            standard deviations below the median is flagged as an outlier.
    """

    pw_rigid: bool
    max_shift: float
    niter_rig: int = 2
    template_frames: int = 300
    upsample_factor: int = 20
    strides: tuple[int, int] = (48, 48)
    overlaps: tuple[int, int] = (24, 24)
    max_deviation_rigid: float = 3.0
    upsample_factor_grid: int = 4
    highpass: bool = False
    gSig_filt: float | None = None
    outlier_shift: float = 3.0
    outlier_corr_z: float = 5.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", _pair(self.strides, "strides"))
        object.__setattr__(self, "overlaps", _pair(self.overlaps, "overlaps"))
        _require(isinstance(self.pw_rigid, bool), "params motion.pw_rigid must be true or false")
        _require(isinstance(self.highpass, bool), "params motion.highpass must be true or false")
        _require(self.max_shift > 0, f"params motion.max_shift must be > 0 pixels, got {self.max_shift}")
        _require(isinstance(self.niter_rig, int) and self.niter_rig >= 1, "params motion.niter_rig must be >= 1")
        _require(isinstance(self.template_frames, int) and self.template_frames >= 1,
                 "params motion.template_frames must be >= 1")
        _require(isinstance(self.upsample_factor, int) and 1 <= self.upsample_factor <= 100,
                 "params motion.upsample_factor must be an integer in 1..100")
        _require(min(self.strides) >= 8, f"params motion.strides must be >= 8 pixels, got {self.strides}")
        _require(min(self.overlaps) >= 0, f"params motion.overlaps must be >= 0, got {self.overlaps}")
        _require(self.max_deviation_rigid >= 0, "params motion.max_deviation_rigid must be >= 0 pixels")
        _require(isinstance(self.upsample_factor_grid, int) and 1 <= self.upsample_factor_grid <= 16,
                 "params motion.upsample_factor_grid must be an integer in 1..16")
        _require(self.gSig_filt is None or self.gSig_filt > 0, "params motion.gSig_filt must be > 0 or null")
        _require(self.outlier_shift > 0, "params motion.outlier_shift must be > 0 pixels")
        _require(self.outlier_corr_z > 0, "params motion.outlier_corr_z must be > 0")


@dataclass(frozen=True)
class ProcessingParams:
    """Compute parameters of one processing run.

    Attributes:
        modality: ``"1p"`` (one-photon, e.g. head-mounted Miniscope) or ``"2p"`` (two-photon).
        cell_diameter: (pixels) expected soma diameter; filters and patch sizes derive from it.
        motion: motion-correction parameters.
    """

    modality: str
    cell_diameter: float
    motion: MotionParams

    def __post_init__(self) -> None:
        _require(self.modality in MODALITIES, f"params 'modality' must be one of {MODALITIES}, got {self.modality!r}")
        _require(self.cell_diameter > 0, f"params cell_diameter must be > 0 pixels, got {self.cell_diameter}")

    def to_dict(self) -> dict[str, Any]:
        as_dict = dataclasses.asdict(self)
        as_dict["motion"] = {name: list(v) if isinstance(v, tuple) else v for name, v in as_dict["motion"].items()}
        return as_dict

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> ProcessingParams:
        """Build from a complete parameter dictionary (as stored in ProcessingParamSet)."""
        return cls(**{**params, "motion": MotionParams(**params["motion"])})


_DEFAULTS = {
    "1p": ProcessingParams(
        modality="1p", cell_diameter=12.0, motion=MotionParams(pw_rigid=False, max_shift=20.0, highpass=True)
    ),
    "2p": ProcessingParams(modality="2p", cell_diameter=12.0, motion=MotionParams(pw_rigid=True, max_shift=15.0)),
}


def default_params(modality: str) -> dict[str, Any]:
    """The built-in parameter dictionary for ``modality`` (``"1p"`` or ``"2p"``)."""
    if modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return _DEFAULTS[modality].to_dict()


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
    return ProcessingParams.from_dict(merged).to_dict()
