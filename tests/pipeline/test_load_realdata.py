"""Load mode through the tables on other tools' real results (the ``realdata`` fixture; skipped where absent).

minian's own pre-1.0 output on its test movie (223 units, 800 frames of 480x752, no YrA, motion saved as
``shifts``) is loaded into a Miniscope V3 recording written by the test. Only 100 real frames of that movie are
public (frames 0, 2, ..., 198, as minian stores them before motion correction), so the recording's frame t is the
real frame ``org[(t // 2) % 100]``: real frames 0-199 in order, each twice (frame t shows real frame t or t - 1),
then the same 200 frames again, three times, so that the results fit it. Checks against the movie use the first
200 frames, where the movie and the results describe the same moments.
"""

import os

import h5py
import numpy as np
import pytest
import scipy.sparse
from helpers import SESSION_TIME, populate_tables

from element_calcium.stages.segmentation import masks_to_footprints
from element_calcium.simulate import write_miniscope_v3, write_tiff
from workflow.ingest import ingest_recording

zarr = pytest.importorskip("zarr")
pytestmark = pytest.mark.filterwarnings("ignore:Please import `coo_matrix`:DeprecationWarning")  # CaImAn's pickle

MINIAN = "minian_pr65_output"
ORG = "minian_org_frames_100x480x752_uint8.npz"
MINIAN_PARAMSET = 240
CAIMAN_PARAMSET = 241
MATCHED = 200  # recording frames 0..199 show the real frames the results describe


def _populate(pipeline, key) -> dict[str, list]:
    """Populate the load-mode chain of ``key`` up to the events' Transients; returns the job errors by table."""
    imaging = pipeline.imaging
    tables = (imaging.MotionCorrection, imaging.Segmentation, imaging.MaskClassification, imaging.Curation,
              imaging.Fluorescence, imaging.Activity, pipeline.events.Transients)
    return populate_tables(pipeline, key, tables)


def _stacked(table, key, attribute: str) -> np.ndarray:
    return np.stack((table & key).to_arrays(attribute, order_by="mask_id"))


def _movie_peaks(realdata, footprints, calcium) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's peak dF/F in the real frames under its footprint, (F - F0) / F0 with F the footprint-weighted
    mean and F0 its 8th percentile, and its own modelled transient over the noise of F (k C with
    k = a . a / sum(a), the unit's signal in F)."""
    real = np.load(realdata / ORG)
    shifts = zarr.open_group(str(realdata / MINIAN / "shifts.zarr"), mode="r")["shifts"][...]
    frames = np.stack([np.roll(frame.astype(np.float32), shifts[index].astype(int), axis=(0, 1))
                       for frame, index in zip(real["org"], real["frame"], strict=True)])
    weight = np.asarray(footprints.sum(axis=0)).ravel()
    light = (footprints.T @ frames.reshape(len(frames), -1).T) / weight[:, None]
    baseline = np.percentile(light, 8, axis=1)
    peak = ((light - baseline[:, None]) / baseline[:, None]).max(axis=1)
    k = np.asarray(footprints.multiply(footprints).sum(axis=0)).ravel() / weight
    own = k * (calcium[:, real["frame"]].max(axis=1) - np.median(calcium, axis=1))
    noise = np.median(np.abs(np.diff(light, axis=1)), axis=1) / (0.6745 * np.sqrt(2))
    return peak, own / noise


def _linked_output(pipeline, realdata, subject_name) -> str:
    """An output folder under the processed root holding links to the real minian stores (the results file the
    pipeline writes lands beside them, never in the real-data folder); returns it relative to the root."""
    output_dir = f"minian_{subject_name}"
    folder = pipeline.get_processed_root_dir() / output_dir
    folder.mkdir(parents=True)
    for store in (realdata / MINIAN).iterdir():
        os.symlink(store, folder / store.name)
    return output_dir


def test_real_minian_results_load_through_to_transients(pipeline, new_folder, subject_name, realdata):
    imaging = pipeline.imaging
    org = np.load(realdata / ORG)["org"]
    written = write_miniscope_v3(new_folder(), org[(np.arange(800) // 2) % 100], fps=30.0)
    imaging.ProcessingParamSet.insert_new_params("minian", MINIAN_PARAMSET, "minian results", {"modality": "1p"})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     create_task=False).recording_key
    task_key = {**recording_key, "paramset_id": MINIAN_PARAMSET}
    imaging.ProcessingTask.insert1({**task_key, "task_mode": "load",
                                    "processing_output_dir": _linked_output(pipeline, realdata, subject_name)})

    assert not _populate(pipeline, task_key)

    assert (imaging.Segmentation & task_key).fetch1("mask_count") == 223
    calls = list((imaging.MaskClassification.MaskType & task_key).to_arrays("mask_type"))
    assert (imaging.MaskClassification & task_key).fetch1("classification_method") == "quality"
    assert calls.count("soma") + calls.count("dendrite") > 223 / 2, calls
    snr = np.array((imaging.Segmentation.Mask & task_key).to_arrays("snr"), dtype=float)
    assert np.median(snr) > 3

    dff_key = {**task_key, "extraction_method": "dff"}
    dff = _stacked(imaging.Activity.Trace, dff_key, "activity_trace")
    assert dff.shape == (223, 800) and np.isfinite(dff).all()
    assert np.percentile(dff, 99) < 20
    calcium = _stacked(imaging.Activity.Trace, {**task_key, "extraction_method": "denoised"}, "activity_trace")
    masks = (imaging.Segmentation.Mask & task_key).to_dicts(order_by="mask_id")
    movie_peak, own_snr = _movie_peaks(realdata, masks_to_footprints(masks, 480, 752), calcium)
    active = own_snr > 5  # the unit's own transient stands 5 noise deviations above the movie under it
    ratio = dff[:, :MATCHED].max(axis=1)[active] / movie_peak[active]
    assert active.sum() >= 30 and ((ratio > 1 / 3) & (ratio < 3)).all(), np.sort(ratio)

    background = _stacked(imaging.Fluorescence.Trace, task_key, "background_fluorescence")
    assert background.shape == (223, 800) and np.isfinite(background).all()
    assert len(pipeline.events.Transients & task_key) >= 1


def test_load_with_a_frame_count_other_than_the_recordings_is_refused(pipeline, new_folder, subject_name,
                                                                     realdata):
    # CaImAn's 2,000-frame results on its demo movie, with a motion correction of 100 frames, for a recording of
    # 100 frames: the motion loads, the extraction is refused with nothing stored.
    imaging = pipeline.imaging
    stored = np.load(realdata / "caiman_groundtruth_demoMovie.npz", allow_pickle=True, encoding="latin1")
    footprints, calcium = scipy.sparse.csc_array(stored["A_full"].item().tocsc()), stored["C_full"]
    model = (footprints @ calcium[:, :100]).T.reshape(100, 80, 60).transpose(0, 2, 1)  # Fortran pixel order
    written = write_tiff(new_folder(), np.round(model + 2000).astype(np.uint16), fps=10.0)
    imaging.ProcessingParamSet.insert_new_params("caiman", CAIMAN_PARAMSET, "caiman results", {"modality": "2p"})
    recording_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                     fps=written.fps, create_task=False).recording_key
    output_dir = f"caiman_{subject_name}"
    folder = pipeline.get_processed_root_dir() / output_dir
    folder.mkdir()
    with h5py.File(folder / "cnmf.hdf5", "w") as h5:
        for part in ("data", "indices", "indptr", "shape"):
            h5[f"estimates/A/{part}"] = getattr(footprints, part)
        h5["estimates/C"] = calcium
        h5["estimates/dims"] = np.array([60, 80])
        h5["params/motion/pw_rigid"] = False
        h5["motion_correction/shifts_rig"] = np.zeros((100, 2))
    task_key = {**recording_key, "paramset_id": CAIMAN_PARAMSET}
    imaging.ProcessingTask.insert1({**task_key, "task_mode": "load", "processing_output_dir": output_dir})

    errors = _populate(pipeline, task_key)

    assert list(errors) == ["Segmentation"]
    (_, message), = errors["Segmentation"]
    assert "cnmf.hdf5: the results have 2000 frames but the recording has 100" in message
    assert len(imaging.MotionCorrection & task_key) == 1
    assert not imaging.Segmentation & task_key and not imaging.Segmentation.Mask & task_key
    assert not (folder / "segmentation.h5").exists()
