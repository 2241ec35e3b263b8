"""A two-plane, two-channel ScanImage recording: a task, a key and a folder per plane, the functional channel
segmented, the motion measured on the structural channel.

The simulated recording: each plane its own cells (plane z from seed ``SEEDS[z]``) and its own motion. Channel 0
is GCaMP, dim (a fraction of the simulated brightness over the detector offset, plus read noise) with sparse
activity; channel 1 is tdTomato: the same tissue and cells, bright, steady, little noise, moving with channel 0.
"""

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from extraction_scoring import score
from helpers import SESSION_TIME
from scipy import ndimage

from element_calcium.results_file import read_owner
from element_calcium.simulate import simulate, write_scanimage_planes
from element_calcium.stages.segmentation import masks_to_footprints
from workflow.ingest import ingest_recording

SEEDS = (21, 22)
N_FRAMES, SIDE, N_CELLS = 300, 96, 8
DETECTOR_OFFSET = 100.0  # grey levels (the simulator's two-photon dark level)
GCAMP_GAIN, READ_NOISE = 0.15, 8.0  # the functional channel's brightness over the offset, and its added noise
ALIGNED = 301  # parameter set: GCaMP on channel 0, its motion measured on channel 1
_names = itertools.count()


def _plane(seed: int):
    """(functional frames, structural frames, truth) of one plane."""
    gcamp = simulate(n_frames=N_FRAMES, height=SIDE, width=SIDE, n_cells=N_CELLS, mode="2p", max_shift=4.0,
                     spike_rate=0.3, seed=seed)
    tdtomato = simulate(n_frames=N_FRAMES, height=SIDE, width=SIDE, n_cells=N_CELLS, mode="2p", max_shift=4.0,
                        spike_rate=0.0, noise=10.0, seed=seed)
    assert np.array_equal(gcamp.truth.shifts, tdtomato.truth.shifts)
    frames = gcamp.render(0, N_FRAMES).astype(np.float32)
    noise = np.random.default_rng(seed).normal(0.0, READ_NOISE, frames.shape)
    dim = DETECTOR_OFFSET + (frames - DETECTOR_OFFSET) * GCAMP_GAIN + noise
    return np.clip(np.rint(dim), 0, 65535).astype(np.uint16), tdtomato.render(0, N_FRAMES), gcamp.truth


def _rmse_up_to_offset(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Root-mean-square length (pixels) of (estimate - truth) after removing its mean: the template sits at an
    unknown offset from the unshifted tissue."""
    error = np.asarray(estimate, np.float64) - truth
    error -= error.mean(axis=0)
    return float(np.sqrt((error**2).sum(axis=1).mean()))


def _shifts(imaging, key) -> np.ndarray:
    y, x = (imaging.MotionCorrection.RigidMotionCorrection & key).fetch1("y_shifts", "x_shifts")
    return np.stack([y, x], axis=1)


@pytest.fixture(scope="module")
def recording(pipeline):
    """The ingested recording (parameter set `ALIGNED`), motion-corrected and segmented plane by plane, plus the
    plane-0 task of the two-photon defaults (channel 0, its motion measured on itself), motion-corrected; its rows
    are deleted afterwards."""
    imaging = pipeline.imaging
    imaging.ProcessingParamSet.insert_new_params(
        "element_calcium", ALIGNED, "GCaMP channel 0, motion from tdTomato channel 1",
        {"modality": "2p", "functional_channel": 0, "align_channel": 1})
    planes = [_plane(seed) for seed in SEEDS]
    folder = Path(os.environ["EC_RAW_ROOT"]) / f"multiplane_{os.getpid()}_{next(_names)}"
    write_scanimage_planes(folder, [[functional, structural] for functional, structural, _ in planes], fps=15.0,
                           n_files=2)
    subject = f"multiplane_{os.getpid()}"
    result = ingest_recording(folder, subject=subject, session_datetime=SESSION_TIME, paramset_id=ALIGNED)
    self_aligned = {**result.task_keys[0], "paramset_id": imaging.DEFAULT_PARAMSET_ID["2p"]}
    imaging.ProcessingTask.insert1(
        {**self_aligned, "processing_output_dir": imaging.ProcessingTask.default_output_dir(self_aligned)})
    for key in (*result.task_keys, self_aligned):
        imaging.MotionCorrection.populate(key, display_progress=False)
    for key in result.task_keys:
        imaging.Segmentation.populate(key, display_progress=False)
    yield {"result": result, "self_aligned": self_aligned, "truths": [truth for _, _, truth in planes],
           "functional_means": [float(functional.mean()) for functional, _, _ in planes]}
    (pipeline.Subject & {"subject": subject}).delete(prompt=False)


def test_ingest_makes_a_task_with_its_own_key_and_folder_per_plane(pipeline, recording):
    imaging = pipeline.imaging
    result = recording["result"]
    assert (imaging.RecordingInfo & result.recording_key).fetch1("nplanes", "nchannels") == (2, 2)
    assert [key["plane"] for key in result.task_keys] == [0, 1]
    assert result.task_key == result.task_keys[0]
    folders = [(imaging.ProcessingTask & key).fetch1("processing_output_dir") for key in result.task_keys]
    assert folders[0].endswith(f"/recording0/paramset{ALIGNED}-plane0")
    assert folders[1].endswith(f"/recording0/paramset{ALIGNED}-plane1")
    movies = [(imaging.MotionCorrection & key).fetch1("corrected_movie") for key in result.task_keys]
    assert [Path(movie).parent.as_posix() for movie in movies] == folders
    # Each results file records its own key; plane 0 is left out of it, as in files written before planes.
    owners = [json.loads(read_owner(pipeline.get_processed_root_dir() / movie)[1])["key"] for movie in movies]
    assert "plane" not in owners[0] and owners[1]["plane"] == 1
    assert owners[0]["recording_id"] == owners[1]["recording_id"] == result.recording_key["recording_id"]


def test_each_plane_finds_its_own_cells(pipeline, recording):
    imaging = pipeline.imaging
    truths = recording["truths"]
    for plane, key in enumerate(recording["result"].task_keys):
        masks = (imaging.Segmentation.Mask & key).to_dicts(order_by="mask_id")
        footprints = masks_to_footprints(masks, SIDE, SIDE)
        calcium = np.zeros((len(masks), N_FRAMES))  # footprints are scored; traces are not asked for here
        scores = []
        for truth in truths:
            # The corrected frame is the template's: the tissue sits at the mean offset of the estimated shifts.
            offset = (truths[plane].shifts - _shifts(imaging, key)).mean(axis=0)
            moved = ndimage.shift(truth.footprints, (*offset, 0), order=1)
            scores.append(score(moved, truth.calcium, footprints, calcium))
        own, other = scores[plane], scores[1 - plane]
        assert own.f1 >= 0.8, (plane, own)
        assert other.n_matched <= own.n_matched // 2, (plane, own, other)


def test_the_functional_channel_is_corrected_with_the_structural_channels_shifts(pipeline, recording):
    imaging = pipeline.imaging
    for plane, key in enumerate(recording["result"].task_keys):
        channel, average = (imaging.MotionCorrection * imaging.MotionCorrection.Summary & key).fetch1(
            "motion_correct_channel", "average_image")
        assert channel == 1
        # The written movie is the dim functional channel's, not the bright structural one's.
        assert abs(float(average.mean()) - recording["functional_means"][plane]) < 0.05 * recording[
            "functional_means"][plane]
        assert _rmse_up_to_offset(_shifts(imaging, key), recording["truths"][plane].shifts) < 0.1


def test_shifts_measured_on_the_structural_channel_beat_those_of_the_functional_channel(pipeline, recording):
    imaging = pipeline.imaging
    truth = recording["truths"][0].shifts
    aligned = _rmse_up_to_offset(_shifts(imaging, recording["result"].task_keys[0]), truth)
    self_aligned = _rmse_up_to_offset(_shifts(imaging, recording["self_aligned"]), truth)
    assert (imaging.MotionCorrection & recording["self_aligned"]).fetch1("motion_correct_channel") == 0
    assert aligned < 0.7 * self_aligned, (aligned, self_aligned)


def test_a_channel_the_recording_lacks_is_refused_at_ingest(pipeline, recording, new_folder, subject_name):
    imaging = pipeline.imaging
    imaging.ProcessingParamSet.insert_new_params("element_calcium", 303, "GCaMP on channel 2",
                                                 {"modality": "2p", "functional_channel": 2})
    functional, structural, _ = _plane(SEEDS[0])
    folder = new_folder()
    write_scanimage_planes(folder, [[functional[:20], structural[:20]]], fps=15.0)
    with pytest.raises(ValueError, match="params functional_channel 2 is not a channel of the recording, which has "
                                         r"2 channel\(s\) \(0 to 1\)"):
        ingest_recording(folder, subject=subject_name, session_datetime=SESSION_TIME, paramset_id=303)
    assert not imaging.Recording & {"subject": subject_name}


def test_the_report_has_a_section_per_plane(pipeline, recording, tmp_path):
    from element_calcium.report import write_report

    page = write_report(recording["result"].recording_key, out=tmp_path / "report.html").read_text()
    name = f"processing parameter set {ALIGNED} (“GCaMP channel 0, motion from tdTomato channel 1”)"
    for plane in (0, 1):
        assert f"{name}, plane {plane}, method element_calcium" in page
