"""Motion measured on one channel and applied to another (`stages.motion_channels`), and the refusal of planes
and channels a recording lacks."""

from pathlib import Path

import numpy as np
import pytest

from element_calcium.compute import motion
from element_calcium.compute.params import ProcessingParams, default_params, validate
from element_calcium.readers import RecordingMetadata
from element_calcium.simulate import simulate
from element_calcium.stages.motion_channels import check_plane_and_channels, correct_by_reference


class ArrayMovie:
    """A (T, H, W) array as the frame source `correct_by_reference` reads."""

    def __init__(self, frames):
        self.frames, self.shape, self.dtype = frames, frames.shape, frames.dtype

    def read(self, start, stop):
        return self.frames[start:stop]


def rmse_up_to_offset(estimate, truth):
    error = np.asarray(estimate, np.float64) - truth
    error -= error.mean(axis=0)
    return float(np.sqrt((error**2).sum(axis=1).mean()))


@pytest.fixture(scope="module")
def channels():
    """A bright, steady structural channel and a different movie of the same frames (the functional channel)."""
    structural = simulate(n_frames=120, height=96, width=96, n_cells=8, mode="2p", max_shift=4.0, spike_rate=0.0,
                          noise=10.0, seed=31)
    functional = simulate(n_frames=120, height=96, width=96, n_cells=8, mode="2p", max_shift=4.0, spike_rate=0.5,
                          seed=31)
    return structural, structural.render(0, 120), functional.render(0, 120)


@pytest.mark.parametrize("pw_rigid", [False, True])
def test_a_movie_corrected_by_its_own_shifts_is_what_correct_motion_writes(channels, pw_rigid):
    _, _, frames = channels
    params = ProcessingParams.from_dict(validate({"modality": "2p", "motion": {"pw_rigid": pw_rigid}})).motion
    direct, by_reference, done = [], [], []
    expected = motion.correct_motion(lambda a, b: frames[a:b], len(frames), params=params, device="cpu",
                                     chunk_frames=50, write_corrected=direct.append)
    result = correct_by_reference(ArrayMovie(frames), ArrayMovie(frames), params=params, device="cpu",
                                  chunk_frames=50, write_corrected=by_reference.append,
                                  progress=lambda n, total: done.append((n, total)))
    assert np.array_equal(np.concatenate(by_reference), np.concatenate(direct))
    assert np.array_equal(result.rigid_shifts, expected.rigid_shifts)
    np.testing.assert_allclose(result.mean_image, expected.mean_image, rtol=1e-5)
    assert done[-1] == (120, 120) and all(a[0] <= b[0] for a, b in zip(done, done[1:]))


def test_the_functional_channel_takes_the_reference_channels_shifts(channels):
    structural, bright, frames = channels
    params = ProcessingParams.from_dict(default_params("2p")).motion
    written = []
    result = correct_by_reference(ArrayMovie(bright), ArrayMovie(frames), params=params, device="cpu",
                                  chunk_frames=40, write_corrected=written.append)
    measured = motion.correct_motion(lambda a, b: bright[a:b], len(bright), params=params, device="cpu")
    assert np.array_equal(result.rigid_shifts, measured.rigid_shifts)
    assert rmse_up_to_offset(result.rigid_shifts, structural.truth.shifts) < 0.1
    corrected = np.concatenate(written)
    assert corrected.dtype == frames.dtype and corrected.shape == frames.shape
    expected = motion.apply_shifts(frames, shifts=measured.block_shifts, grid=motion.patch_grid(
        (96, 96), strides=params.strides, overlaps=params.overlaps), upsample_factor_grid=params.upsample_factor_grid)
    assert np.abs(corrected.astype(np.float64) - expected).max() <= 0.5
    np.testing.assert_allclose(result.mean_image, corrected.mean(axis=0), rtol=1e-3)


def _metadata(*, nchannels, nplanes):
    return RecordingMetadata(software="ScanImage", nchannels=nchannels, nplanes=nplanes, nframes=10, height=8,
                             width=8, fps=10.0, timestamps=np.arange(10) / 10.0, dropped_frames=0, files=())


@pytest.mark.parametrize(("given", "plane", "message"), [
    ({"functional_channel": 2}, 0, r"params functional_channel 2 is not a channel of the recording, which has 2 "
                                   r"channel\(s\) \(0 to 1\)"),
    ({"align_channel": 3}, 0, r"params align_channel 3 is not a channel of the recording"),
    ({}, 3, r"plane 3 is not a plane of the recording, which has 3 plane\(s\) \(0 to 2\)"),
])
def test_planes_and_channels_the_recording_lacks_are_refused(given, plane, message):
    params = ProcessingParams.from_dict(validate({"modality": "2p", **given}))
    with pytest.raises(ValueError, match=message):
        check_plane_and_channels(_metadata(nchannels=2, nplanes=3), params, plane=plane, folder=Path("rec"))
    check_plane_and_channels(_metadata(nchannels=4, nplanes=4), params, plane=plane, folder=Path("rec"))
