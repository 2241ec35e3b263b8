"""One-photon motion correction with the default parameters, judged on real Miniscope data.

- The 100 real frames of minian's test movie against minian's own correction of them.
- Semi-real movies (`element_calcium.simulate.semireal_movie`): the same real tissue and minian's cells of it,
  resized so cells are 12, 20 and 32 px across, moved by a known random walk with jolts, under a drifting
  illumination spot, with the sensor's real fixed pattern and shot noise.
"""

import dataclasses

import numpy as np
import pytest

from element_calcium.compute import motion
from element_calcium.compute.params import ProcessingParams, default_params
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.simulate import real_miniscope_tissue, semireal_movie

ORG_FRAMES = "minian_org_frames_100x480x752_uint8.npz"
MINIAN_OUTPUT = "minian_pr65_output"


def default_1p_motion(**changes):
    return dataclasses.replace(ProcessingParams.from_dict(default_params("1p")).motion, **changes)


def correct(frames, params):
    return motion.correct_motion(lambda start, stop: frames[start:stop], len(frames), params=params, device="cpu")


def rmse(estimate, truth):
    error = np.asarray(estimate, np.float64) - truth
    error -= np.median(error, axis=0)
    return float(np.sqrt((error**2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def real_frames(realdata):
    frames = np.load(realdata / ORG_FRAMES)
    return frames["org"], -frames["minian_applied_shift_org_to_Y"].astype(np.float64)


def agreement(ours, minian):
    """Per axis: correlation of our shifts with minian's, and the ratio of their standard deviations."""
    return [(np.corrcoef(ours[:, a], minian[:, a])[0, 1], ours[:, a].std() / minian[:, a].std()) for a in range(2)]


def test_real_frames_agree_with_minians_correction(real_frames):
    frames, minian = real_frames
    result = correct(frames, default_1p_motion())
    assert 15 < result.cell_diameter < 30  # cells of this Miniscope V3 field of view are ~20 px across
    for correlation, amplitude in agreement(result.rigid_shifts, minian):
        assert correlation >= 0.85
        assert 0.8 <= amplitude <= 1.25
    assert result.quality.corrected_correlation > result.quality.raw_correlation
    assert result.quality.warning() is None


def test_a_filter_finer_than_the_cells_finds_a_fraction_of_the_motion(real_frames):
    """The defect the measured cell size fixes: a 1 px filter registers the sensor's fixed pattern."""
    frames, minian = real_frames
    result = correct(frames, default_1p_motion(gSig_filt=1.0, compress=None))
    assert all(amplitude < 0.5 for _, amplitude in agreement(result.rigid_shifts, minian))


@pytest.fixture(scope="module")
def tissue(realdata):
    frames = np.load(realdata / ORG_FRAMES)
    extraction = load_minian_extraction(realdata / MINIAN_OUTPUT)
    applied = -np.rint(load_minian_motion(realdata / MINIAN_OUTPUT).rigid_shifts[frames["frame"]]).astype(int)
    return real_miniscope_tissue(frames["org"], applied_shifts=applied, frame_index=frames["frame"],
                                 footprints=extraction.footprints, calcium=extraction.denoised)


@pytest.mark.parametrize("cell_size, shape", [(12, (240, 408)), (20, (432, 608)), (32, (608, 608))])
def test_semireal_motion_is_recovered_within_a_fifth_of_a_pixel(tissue, cell_size, shape):
    movie = semireal_movie(tissue, cell_scale=cell_size / 20, n_frames=300, shape=shape, seed=0)
    result = correct(movie.frames, default_1p_motion())
    assert rmse(result.rigid_shifts, movie.shifts) <= 0.2
    assert np.abs(movie.shifts).max() > 5  # the walk jolted
