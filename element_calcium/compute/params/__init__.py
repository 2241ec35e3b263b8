"""Processing parameters: frozen dataclasses with defaults, checked on construction.

A parameter set is a nested dictionary with one section per processing step. ``validate``
turns a user's dictionary into the complete, explicit dictionary that is stored and hashed:
unknown keys and out-of-range values are errors, never silently rewritten; keys the user left
out take the documented defaults of the modality. Later processing steps add their sections
to ``ProcessingParams``.

Every value is checked with the same rules (`check_number`): a number is an int or a float, never
a bool (``true`` is not a count of pixels) nor a string, and finite; each has the documented
range of its parameter. The upper bounds lie far beyond any sensible value, yet low enough that a
typo (``1e9``) is refused here rather than meeting an allocation:

- ``MAX_SIDE_PX`` (8192 pixels): lengths across a frame (shifts, patches, borders); wider than the
  frame of any calcium-imaging microscope.
- ``MAX_CELL_PX`` (256 pixels): sizes of one cell (diameter, Gaussian sigma, kernel radius); a
  25 um soma at 0.1 um per pixel, finer sampling than an imaging objective resolves.
- ``MAX_DURATION_S`` (86,400 s, a day): durations; longer than any recording.
- ``MAX_WINDOW_FRAMES`` (100,000 frames, about an hour at 30 Hz): windows of frames held in memory
  together; ``MAX_TEMPLATE_FRAMES`` (10,000) frames build a motion template.
- ``MAX_PERI_EVENT_S`` (600 s): the window before or after a behaviour event.
- ``MAX_COUNT`` (1,000,000): counts of components, clusters and shuffles.
"""

from __future__ import annotations

from element_calcium.compute.params._clustering import (
    AUTO_CUTS,
    CELL_METRICS,
    CELL_SIGNALS,
    EVENT_METRICS,
    LENGTH_RULES,
    LINKAGE_METHODS,
    NORMALIZE_OPERATIONS,
    NORMALIZE_STATISTICS,
    PAD_MODES,
    PSD_METHODS,
    PSD_SCALES,
    CellClusteringParams,
    EventClusteringParams,
    normalization_steps,
)
from element_calcium.compute.params._events import (
    ALTERNATIVES,
    COMB_TYPES,
    DELTA_METHODS,
    NOISE_STATISTICS,
    PERI_EVENT_SOURCES,
    RASTER_FRAMES,
    PeriEventParams,
    SpatialEventParams,
    TransientParams,
)
from element_calcium.compute.params._processing import (
    BACKGROUND_MODELS,
    INIT_METHODS,
    MODALITIES,
    ClassificationParams,
    DeconvolutionParams,
    DffParams,
    ExtractionParams,
    MotionParams,
    ProcessingParams,
    default_params,
    validate,
)
from element_calcium.compute.params._rules import (
    MAX_CELL_PX,
    MAX_COUNT,
    MAX_DURATION_S,
    MAX_PERI_EVENT_S,
    MAX_SIDE_PX,
    MAX_TEMPLATE_FRAMES,
    MAX_WINDOW_FRAMES,
    check_number,
)
from element_calcium.compute.params._steps import (
    STEP_PARAMS,
    default_step_params,
    validate_step_params,
)

__all__ = [
    "ALTERNATIVES",
    "BACKGROUND_MODELS",
    "AUTO_CUTS",
    "CELL_METRICS",
    "CELL_SIGNALS",
    "COMB_TYPES",
    "DELTA_METHODS",
    "EVENT_METRICS",
    "INIT_METHODS",
    "LENGTH_RULES",
    "LINKAGE_METHODS",
    "MAX_CELL_PX",
    "MAX_COUNT",
    "MAX_DURATION_S",
    "MAX_PERI_EVENT_S",
    "MAX_SIDE_PX",
    "MAX_TEMPLATE_FRAMES",
    "MAX_WINDOW_FRAMES",
    "MODALITIES",
    "NOISE_STATISTICS",
    "NORMALIZE_OPERATIONS",
    "NORMALIZE_STATISTICS",
    "PAD_MODES",
    "PERI_EVENT_SOURCES",
    "PSD_METHODS",
    "PSD_SCALES",
    "RASTER_FRAMES",
    "STEP_PARAMS",
    "CellClusteringParams",
    "ClassificationParams",
    "DeconvolutionParams",
    "DffParams",
    "EventClusteringParams",
    "ExtractionParams",
    "MotionParams",
    "PeriEventParams",
    "ProcessingParams",
    "SpatialEventParams",
    "TransientParams",
    "check_number",
    "default_params",
    "default_step_params",
    "normalization_steps",
    "validate",
    "validate_step_params",
]
