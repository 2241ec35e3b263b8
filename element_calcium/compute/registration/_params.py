"""`RegistrationParams`: the parameters of cross-session registration, validated on construction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from element_calcium.compute.params import MAX_CELL_PX, MAX_SIDE_PX, check_number

SUMMARY_IMAGES = ("correlation", "average", "max_projection")


@dataclass(frozen=True)
class RegistrationParams:
    """How sessions are aligned and their cells matched (see `element_calcium.compute.registration`).

    Attributes:
        summary_image: the summary image the fields of view are aligned on: ``"correlation"`` (local
            correlation: the active cells), ``"average"`` or ``"max_projection"``.
        max_shift: (pixels) bound of a session's shift from the reference along y and x.
        max_rotation_deg: (degrees) bound of a session's rotation from the reference.
        max_scale_change: bound of ``|scale - 1|`` of a session's magnification relative to the reference.
        piecewise: after the similarity transform, also align patches of the images (piecewise-rigid), for
            fields of view that warp between sessions.
        patch_size: (pixels) side of a piecewise patch; neighbouring patches overlap by half of it.
        max_deviation: (pixels) bound of a patch's shift away from the similarity transform.
        cell_diameter: (pixels) diameter of a cell; null: the median of the footprints' diameters.
        max_distance: (cell diameters) two cells further apart than this after alignment are never matched.
        min_score: (0-1) the least average pair score (footprint overlap times centroid closeness) between
            two groups of cells for them to be one cell.
        refine_with_cells: refit each session's similarity transform to the matched cells' centroids and
            match again.
    """

    summary_image: str = "correlation"
    max_shift: float = 40.0
    max_rotation_deg: float = 5.0
    max_scale_change: float = 0.06
    piecewise: bool = False
    patch_size: int = 64
    max_deviation: float = 4.0
    cell_diameter: float | None = None
    max_distance: float = 1.0
    min_score: float = 0.5
    refine_with_cells: bool = True

    def __post_init__(self):
        if self.summary_image not in SUMMARY_IMAGES:
            raise ValueError(f"summary_image must be one of {SUMMARY_IMAGES}, got {self.summary_image!r}")
        check_number("max_shift", self.max_shift, low=0, low_open=True, high=MAX_SIDE_PX, unit="pixels")
        check_number("max_rotation_deg", self.max_rotation_deg, low=0, high=45, unit="degrees")
        check_number("max_scale_change", self.max_scale_change, low=0, high=0.5)
        check_number("patch_size", self.patch_size, low=16, high=MAX_SIDE_PX, integer=True, unit="pixels")
        check_number("max_deviation", self.max_deviation, low=0, high=self.patch_size / 2, high_open=True,
                     unit="pixels")
        check_number("cell_diameter", self.cell_diameter, low=1, high=MAX_CELL_PX, null=True, unit="pixels")
        check_number("max_distance", self.max_distance, low=0, low_open=True, high=10, unit="cell diameters")
        check_number("min_score", self.min_score, low=0, low_open=True, high=1, high_open=True)
        for name in ("piecewise", "refine_with_cells"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> RegistrationParams:
        """Parameters from a dictionary; keys left out take the defaults, an unknown key is refused."""
        if not isinstance(params, dict):
            raise ValueError(f"registration parameters must be a dictionary, got {type(params).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"unknown registration parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, as stored."""
        return dataclasses.asdict(self)
