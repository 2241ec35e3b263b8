"""Cross-session registration stage: the curations of a registration group -> alignment and match rows.

``run`` reads each member curation's cells (`stages.fluorescence.curated_sources`, from what
`imaging.curation_inputs` gathers), aligns every member's summary image to the first member's and matches the
cells of all members jointly (`compute.registration.register_sessions`). It returns the `Rows` of Registration:
the master row and the rows of its ``Alignment`` and ``Match`` parts, each part row holding its member's
curation key (the table adds the registration's key). No database code here; ``registration.Registration``
fetches the inputs and inserts the rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from element_calcium.compute import registration
from element_calcium.stages.fluorescence import curated_sources
from element_calcium.stages.rows import Rows, RunSettings

SUMMARY_COLUMNS = {"correlation": "correlation_image", "average": "average_image", "max_projection": "max_proj_image"}


@dataclass(frozen=True)
class CrossSessionInputs:
    """What the stage needs: per member (in the group's order, the first the reference) its curation key,
    summary image and the small description of its cells; and the parameters.

    Attributes:
        member_keys: per member, the primary key of its curation (copied into its part rows).
        images: per member, the (H, W) summary image named by ``params["summary_image"]``, or None when the
            motion correction stored none.
        curations: per member, `imaging.curation_inputs` of its curation (results file, mask ids, edits).
        params: complete registration parameters (`RegistrationParams.to_dict`).
    """

    member_keys: list[dict[str, Any]]
    images: list[Any]
    curations: list[dict[str, Any]]
    params: dict[str, Any]


def _image(inputs: CrossSessionInputs, member: int, column: str) -> np.ndarray:
    image = inputs.images[member]
    if image is None:
        raise ValueError(f"member {inputs.member_keys[member]} has no {column} in MotionCorrection.Summary; "
                         "choose another summary_image in the registration parameter set")
    return np.asarray(image, dtype=np.float32)


def run(inputs: CrossSessionInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """Register the members' cells; see the module docstring. ``settings.device`` runs the alignment's FFTs.

    Raises:
        ValueError: a member without the chosen summary image, members of different frame sizes, or the
            errors of `register_sessions`.
    """
    start = time.perf_counter()
    params = registration.RegistrationParams.from_dict(inputs.params)
    column = SUMMARY_COLUMNS[params.summary_image]
    images = [_image(inputs, member, column) for member in range(len(inputs.member_keys))]
    sources = [curated_sources(curation) for curation in inputs.curations]
    for member, (image, source) in enumerate(zip(images, sources)):
        if image.shape != (source.height, source.width):
            raise ValueError(f"member {inputs.member_keys[member]}: summary image {image.shape} does not match its "
                             f"cells' field of view {(source.height, source.width)}")
    footprints = [sparse.csr_array(source.footprints.T) for source in sources]
    result = registration.register_sessions(images, footprints, params=params, reference=0,
                                             device=settings.device)
    all_ids = np.concatenate(result.global_ids)
    seen = np.bincount(all_ids, minlength=result.n_cells)
    alignments = [{
        **inputs.member_keys[member],
        "is_reference": member == result.reference,
        "rotation_deg": float(alignment.rotation_deg),
        "scale": float(alignment.scale),
        "y_shift": float(alignment.shift[0]),
        "x_shift": float(alignment.shift[1]),
        "transform": alignment.matrix.astype(np.float64),
        "image_correlation": float(alignment.correlation),
        "patch_shifts": alignment.patch_shifts,
    } for member, alignment in enumerate(result.alignments)]
    matches = [{
        **inputs.member_keys[member],
        "mask_id": int(mask_id),
        "global_cell_id": int(global_id),
        "confidence": float(confidence),
        "n_sessions_seen": int(seen[global_id]),
        "center_y": float(center[0]),
        "center_x": float(center[1]),
    } for member, source in enumerate(sources)
        for mask_id, global_id, confidence, center in zip(source.mask_ids, result.global_ids[member],
                                                          result.confidence[member], result.centers[member])]
    master = {"n_sessions": len(images), "n_cells": int(result.n_cells), "n_matched": int((seen > 1).sum()),
              "cell_diameter": float(result.cell_diameter), "wall_time": time.perf_counter() - start}
    return Rows(master=master, parts={"Alignment": alignments, "Match": matches})
