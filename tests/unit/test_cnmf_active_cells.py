"""Two-photon extraction finds the cells that are active most of the time, not only the ordinary ones.

A cell that fires as much as several ordinary cells together sits above its baseline most of the recording: its
pixels' median is lifted, its own transients fall below that median, and a noise measured there is its activity.
The seeds must still find it (its peak-to-noise is measured against the noise of the patch, not its own decays).
"""

import dataclasses

import extraction_scoring
import numpy as np
import pytest

from element_calcium.compute.cnmf import extract_sources
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.simulate import SimulatedMovie, simulate

ACTIVE = (0, 5, 11)  # the cells made very active
SUMMED = 8  # each fires as much as this many ordinary cells together


@pytest.fixture(scope="module")
def active_2p():
    """A 128 x 128 px, 1000-frame two-photon movie of 24 cells, three of which fire as much as 8 cells."""
    movie = simulate(mode="2p", n_frames=1000, height=128, width=128, n_cells=24, max_shift=0.0, seed=7)
    truth = movie.truth
    calcium = np.array(truth.calcium)
    others = [n for n in range(calcium.shape[0]) if n not in ACTIVE]
    for k, n in enumerate(ACTIVE):
        donors = np.roll(others, -k * SUMMED)[:SUMMED]
        calcium[n] = calcium[n] + calcium[donors].sum(axis=0)
    calcium.setflags(write=False)
    active = SimulatedMovie(dataclasses.replace(truth, calcium=calcium), movie._scene, seed=7)
    return active, active.render(0, len(active))


def test_very_active_cells_are_found(active_2p):
    movie, frames = active_2p
    params = ProcessingParams.from_dict(default_params("2p"))
    result = extract_sources(
        lambda s, e, y0, y1, x0, x1: frames[s:e, y0:y1, x0:x1], frames.shape, modality="2p",
        params=params.extraction, deconvolution=params.deconvolution, cell_diameter=params.cell_diameter,
        device="cpu",
    )
    truth = movie.truth
    ranks = np.argsort(-truth.calcium.mean(axis=1))
    assert set(ranks[: len(ACTIVE)].tolist()) == set(ACTIVE)
    iou = extraction_scoring.iou_matrix(extraction_scoring.binary_masks(truth.footprints.reshape(-1, len(ranks))),
                                        extraction_scoring.binary_masks(result.footprints))
    assert iou[list(ACTIVE)].max(axis=1).min() >= 0.5
    match = extraction_scoring.score(truth.footprints, truth.calcium, result.footprints, result.calcium)
    assert match.f1 >= 0.9
