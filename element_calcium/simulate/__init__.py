"""Ground-truth calcium-imaging movies and writers of real acquisition formats.

`simulate` builds a seeded movie whose every ingredient is known: cell footprints, spikes, calcium traces,
rigid shifts and (optionally) a non-rigid displacement field. Frames are rendered on demand, chunk by chunk,
so a long, large recording never sits in memory whole.

Two imaging modes:

- ``"1p"`` (head-mounted one-photon Miniscope): 8-bit frames; a large smooth background (uneven illumination,
  out-of-focus fluorescence) that drifts slowly and bleaches; a neuropil haze that follows population activity;
  dark blood vessels; dim cells and additive sensor noise (low SNR).
- ``"2p"`` (two-photon): 16-bit frames; a dark background near the detector offset; a faint neuropil texture;
  bright somata with a dimmer nucleus; shot noise whose variance grows with brightness.

The image model of frame ``t`` (before noise and rounding to the output dtype) is::

    frame_t(p) = bleach(t) * tissue_t(p - shift_t - warp_t(p)) + background_t(p)
    tissue_t   = texture + sum_n F0_n * footprint_n * (1 + calcium_n(t))

Tissue (texture, vessels, cells) moves with the brain; the smooth background (illumination, drift, neuropil
haze) is fixed to the sensor.

`semireal_movie` moves real Miniscope tissue (`real_miniscope_tissue`) by known shifts instead: real texture,
real cells and the sensor's real fixed pattern, for judging registration where a simulator's texture cannot.

The writers (`write_miniscope_v4`, `write_miniscope_v3`, `write_tiff`, `write_scanimage_planes`, `write_inscopix`,
`write_voltage_recording`) store a movie in the files that acquisition systems produce, each file under a temporary
name renamed when complete, and return a `WrittenRecording` that says what a correct reader must report.

Ground truth for the later steps: `simulate_astro` (spatiotemporal astrocyte events in a movie),
`simulate_traces` (dF/F traces with known transients, scored by `score_transients`), `simulate_cell_classes`
and `simulate_event_shapes` (populations and events with known clusters), `simulate_sessions` (one field of view
over several sessions, moved, rotated and rescaled, cells coming and going, with known identities; scored by
`score_registration`).
"""

from __future__ import annotations

from element_calcium.simulate._astro import EXTENT_FRACTION, AstroMovie, AstroTruth, simulate_astro
from element_calcium.simulate._clusters import (
    CLASS_CATALOGUE,
    CellClass,
    EventShape,
    SimulatedClasses,
    SimulatedEvents,
    SimulatedSections,
    adjusted_rand_index,
    simulate_cell_classes,
    simulate_cell_population,
    simulate_event_shapes,
    simulate_peri_event_classes,
)
from element_calcium.simulate._files import WrittenRecording
from element_calcium.simulate._inscopix import write_inscopix
from element_calcium.simulate._miniscope import write_miniscope_v3, write_miniscope_v4
from element_calcium.simulate._movie import GroundTruth, SimulatedMovie, simulate
from element_calcium.simulate._semireal import (
    RealTissue,
    SemiRealMovie,
    jolting_walk,
    real_miniscope_tissue,
    semireal_movie,
)
from element_calcium.simulate._sessions import (
    SimulatedSession,
    SimulatedSessions,
    score_registration,
    simulate_sessions,
)
from element_calcium.simulate._tiff import write_scanimage_planes, write_tiff
from element_calcium.simulate._traces import SimulatedTraces, score_transients, simulate_traces, true_transients
from element_calcium.simulate._voltage import write_voltage_recording

__all__ = [
    "EXTENT_FRACTION",
    "AstroMovie",
    "AstroTruth",
    "CLASS_CATALOGUE",
    "CellClass",
    "EventShape",
    "GroundTruth",
    "RealTissue",
    "SemiRealMovie",
    "SimulatedClasses",
    "SimulatedEvents",
    "SimulatedSections",
    "SimulatedMovie",
    "SimulatedSession",
    "SimulatedSessions",
    "SimulatedTraces",
    "WrittenRecording",
    "adjusted_rand_index",
    "jolting_walk",
    "real_miniscope_tissue",
    "score_registration",
    "score_transients",
    "semireal_movie",
    "simulate",
    "simulate_astro",
    "simulate_cell_classes",
    "simulate_cell_population",
    "simulate_peri_event_classes",
    "simulate_event_shapes",
    "simulate_sessions",
    "simulate_traces",
    "true_transients",
    "write_inscopix",
    "write_miniscope_v3",
    "write_miniscope_v4",
    "write_scanimage_planes",
    "write_tiff",
    "write_voltage_recording",
]
