"""Calcium transients, firing-rate helpers and behaviour-aligned (peri-event) activity.

- Transients per cell from dF/F: `detect_transients` (one row per transient) and
  `transient_statistics` (one row per cell); definitions in ``_transients``. Manual
  corrections: `measure_transients` (transients at hand-marked peaks) and `curate_transients`
  (rejections and marked peaks merged by one of `CURATION_MODES`); see ``_curation``.
- Rates and rasters: `transient_frames`, `event_raster`, `inter_event_intervals`, `bin_data`,
  `firing_rates`, `normalize_firing_rates`, `trial_tensor`.
- Behaviour alignment: `nearest_frames`, `samples_to_frames`, `analog_to_frames`,
  `threshold_crossings`, `transient_raster` (CalTrig's E), `peri_event_windows` (trial x cell x sample),
  `peri_event_zscore` and
  `response_statistics` (z-score and permutation p-value per cell); definitions in
  ``_alignment``.
- Spatiotemporal events in a movie (astroCAST ``Detector`` style): `detect_spatial_events`, streamed
  chunk by chunk, on the CPU or a CUDA GPU; definitions in ``_spatial``. astroCAST's shape properties of each
  event (``regionprops`` of its 3-D mask and 2-D footprint): `EventShapes` (streamed over the event map),
  `mask_properties`, `footprint_properties`; definitions in ``_spatial_shape``. astroCAST's ``Events.filter``
  and ``to_numpy`` over event tables: `filter_events`, `filter_ranges`, `events_to_timeline`.

Frames are 0-based indices, times are seconds, dF/F is a fraction. Parameters are passed as one object,
``params``: a `element_calcium.compute.params.TransientParams` or `PeriEventParams` (defaults: the class's
defaults), e.g. ``detect_transients(dff, fps=30.0, params=TransientParams(min_snr=2.5))``.
"""

from __future__ import annotations

from element_calcium.compute.events._alignment import (
    PeriEventWindows,
    analog_to_frames,
    nearest_frames,
    peri_event_windows,
    peri_event_zscore,
    response_statistics,
    samples_to_frames,
    threshold_crossings,
    transient_raster,
)
from element_calcium.compute.events._curation import CURATION_MODES, curate_transients, measure_transients
from element_calcium.compute.events._curation import merge_event_masks
from element_calcium.compute.events._rates import (
    bin_data,
    event_raster,
    firing_rates,
    inter_event_intervals,
    normalize_firing_rates,
    transient_frames,
    trial_tensor,
)
from element_calcium.compute.events._event_tables import (
    BOX_EXTENTS,
    events_to_timeline,
    filter_events,
    filter_ranges,
    table_properties,
)
from element_calcium.compute.events._spatial import SpatialEventsResult, detect_spatial_events
from element_calcium.compute.events._spatial_shape import (
    FOOTPRINT_COLUMNS,
    MASK_COLUMNS,
    EventShapes,
    footprint_properties,
    mask_properties,
)
from element_calcium.compute.events._transients import (
    STATISTICS_COLUMNS,
    TRANSIENT_COLUMNS,
    detect_transients,
    transient_statistics,
)
from element_calcium.compute.events._transients import median_absolute_deviation, snr_per_frame

__all__ = [
    "BOX_EXTENTS",
    "CURATION_MODES",
    "FOOTPRINT_COLUMNS",
    "MASK_COLUMNS",
    "STATISTICS_COLUMNS",
    "TRANSIENT_COLUMNS",
    "EventShapes",
    "PeriEventWindows",
    "SpatialEventsResult",
    "analog_to_frames",
    "bin_data",
    "curate_transients",
    "detect_spatial_events",
    "detect_transients",
    "event_raster",
    "events_to_timeline",
    "filter_events",
    "filter_ranges",
    "firing_rates",
    "footprint_properties",
    "inter_event_intervals",
    "mask_properties",
    "measure_transients",
    "median_absolute_deviation",
    "merge_event_masks",
    "nearest_frames",
    "normalize_firing_rates",
    "peri_event_windows",
    "peri_event_zscore",
    "response_statistics",
    "samples_to_frames",
    "snr_per_frame",
    "table_properties",
    "threshold_crossings",
    "transient_frames",
    "transient_raster",
    "transient_statistics",
    "trial_tensor",
]
