"""The stage of MaskClassification: each mask called soma, dendrite, artefact ... with a confidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from element_calcium.compute import quality
from element_calcium.compute.params import ProcessingParams
from element_calcium.stages.rows import Rows, RunSettings
from element_calcium.stages.segmentation import masks_to_footprints


@dataclass(frozen=True)
class ClassificationInputs:
    """What the stage needs.

    Attributes:
        masks: the Segmentation.Mask rows, ordered by mask_id (``mask_id``, ``mask_xpix``, ``mask_ypix``,
            ``mask_weights``, ``snr``, ``spatial_corr``, ``accepted``, ``accepted_confidence``).
        params: the complete processing parameters of the task.
        frame_shape: (H, W) pixels of the recording.
    """

    masks: list[dict[str, Any]]
    params: dict[str, Any]
    frame_shape: tuple[int, int]


def run(inputs: ClassificationInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The MaskClassification row (``classification_method``) and one ``MaskType`` row per mask
    (`classify_masks`)."""
    method, rows = classify_masks(inputs.masks, params=inputs.params, frame_shape=inputs.frame_shape)
    return Rows(master={"classification_method": method}, parts={"MaskType": rows})


def classify_masks(masks: list[dict[str, Any]], *, params: dict[str, Any], frame_shape: tuple[int, int]):
    """MaskClassification rows from Segmentation.Mask rows.

    A mask the producing tool accepted or rejected keeps that call (soma or artefact, with the
    tool's probability as confidence when it gave one). Other masks are classified from their
    trace SNR and spatial correlation (each treated as met when unknown), size and compactness.
    Sizes are judged against the parameter set's ``cell_diameter``, which sized the built-in
    extraction; another tool's masks (none carries a spatial correlation) chose their own size,
    so they are judged against their median equivalent diameter (`quality.median_diameter`:
    real Miniscope cells are often ~20 px across where the default is 12).

    Returns:
        (method, rows): ``"tool"`` or ``"quality"`` (``"tool"`` when any mask carries a tool's
        call), and one dict per mask: mask_id, mask_type, confidence.
    """
    settings = ProcessingParams.from_dict(params)
    height, width = frame_shape
    geometry = quality.footprint_geometry(masks_to_footprints(masks, height, width), height=height, width=width)
    cell_diameter = settings.cell_diameter
    if masks and all(mask["spatial_corr"] is None for mask in masks):
        cell_diameter = quality.median_diameter(geometry.area) or cell_diameter
    met = np.inf
    labels, confidence = quality.classify_components(
        snr=np.array([met if mask["snr"] is None else mask["snr"] for mask in masks]),
        spatial_corr=np.array([1.0 if mask["spatial_corr"] is None else mask["spatial_corr"] for mask in masks]),
        area=geometry.area,
        compactness=geometry.compactness,
        cell_diameter=cell_diameter,
        params=settings.classification,
    )
    rows, by_tool = [], False
    for n, mask in enumerate(masks):
        label, score = labels[n], float(confidence[n])
        if mask["accepted"] is not None:
            by_tool = True
            label = "soma" if mask["accepted"] else "artefact"
            probability = mask["accepted_confidence"]
            score = None if probability is None else float(probability if mask["accepted"] else 1 - probability)
        rows.append({"mask_id": mask["mask_id"], "mask_type": label, "confidence": score})
    return ("tool" if by_tool else "quality"), rows
