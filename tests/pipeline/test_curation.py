"""Manual curation as new Curation entries: reject, add a missed cell, merge, verify, group.

A two-photon recording whose segmentation leaves out the cells in a 20-pixel band along the edges
(``border_pix``), so some true cells are missed: the curator draws them back by hand.
"""

import numpy as np
import pytest
from helpers import SESSION_TIME

from element_calcium import curation
from element_calcium.simulate import simulate, write_tiff
from workflow.ingest import ingest_recording

SIZE, BORDER = 128, 20


def _populate(imaging):
    results = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
    return {table: result["error_list"] for table, result in results.items() if result["error_list"]}


def _disc(center, radius, *, half=None):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = np.hypot(yy - center[0], xx - center[1]) <= radius
    if half == "left":
        disc &= xx < center[1]
    elif half == "right":
        disc &= xx >= center[1]
    return disc


def _trace(imaging, key, mask_id, method="denoised"):
    return (imaging.Activity.Trace & key & {"mask_id": mask_id, "extraction_method": method}).fetch1(
        "activity_trace")


@pytest.fixture
def segmented(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    movie = simulate(n_frames=600, height=SIZE, width=SIZE, n_cells=24, mode="2p", max_shift=0.0, seed=8)
    written = write_tiff(new_folder(), movie)
    imaging.ProcessingParamSet.insert_new_params("element_calcium", 40, "2p with a wide border band",
                                                 {"modality": "2p", "extraction": {"border_pix": BORDER}})
    task_key = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME,
                                fps=written.fps, paramset_id=40).task_key
    assert _populate(imaging) == {}
    curation0 = (imaging.Curation & task_key).fetch1("KEY")
    edge = np.minimum(movie.truth.centers, SIZE - 1 - movie.truth.centers).min(axis=1)
    denied = np.flatnonzero((edge >= 9) & (edge < BORDER - 8))
    assert len(denied) >= 2
    return movie.truth, curation0, denied


def test_curations_add_merge_reject_and_leave_curation_0_alone(pipeline, segmented):
    imaging = pipeline.imaging
    truth, curation0, denied = segmented
    before = (imaging.Fluorescence.Trace & curation0).to_dicts(order_by="mask_id")
    ids0 = curation.cell_ids(curation0)
    assert len(ids0) == len(before) > 5

    missed, halved = denied[:2]
    added = curation.add_missed(curation0, _disc(truth.centers[missed], 5), note="missed cell", curator="test")
    assert added["curation_id"] == 1
    new_id = int(ids0.max()) + 1
    assert set(curation.cell_ids(added)) == set(ids0) | {new_id}

    left = curation.add_missed(added, _disc(truth.centers[halved], 6, half="left"))
    both = curation.add_missed(left, _disc(truth.centers[halved], 6, half="right"))
    merged = curation.merge(both, [new_id + 1, new_id + 2], note="two halves of one cell")
    rejected_ids = [int(ids0[0]), int(ids0[3])]
    rejected = curation.reject(merged, rejected_ids)
    verified = curation.verify(rejected, [new_id, new_id + 3])
    grouped = curation.group(verified, "edge cells", [new_id, new_id + 3])
    grouped = curation.group(grouped, "drawn", [new_id])
    assert _populate(imaging) == {}

    for key in (curation0, added, left, both, merged, rejected, verified, grouped):
        assert curation.check_consistency(key) == [], key
    assert np.corrcoef(_trace(imaging, added, new_id), truth.calcium[missed])[0, 1] >= 0.9
    merged_cell = new_id + 3
    assert set(curation.cell_ids(merged)) == set(ids0) | {new_id, merged_cell}
    assert np.corrcoef(_trace(imaging, merged, merged_cell), truth.calcium[halved])[0, 1] >= 0.95
    assert (imaging.Curation.Merged & merged).fetch1("merged_ids").tolist() == [new_id + 1, new_id + 2]

    kept = set(curation.cell_ids(rejected))
    assert kept == set(curation.cell_ids(merged)) - set(rejected_ids)
    for table in (imaging.Fluorescence.Trace, imaging.Activity.Trace, pipeline.events.Transients.CellStats):
        assert set((table & rejected).to_arrays("mask_id").tolist()) == kept, table.__name__
    assert set((imaging.Curation.Verified & grouped).to_arrays("mask_id").tolist()) == {new_id, merged_cell}
    assert curation.cell_groups(grouped) == {"edge cells": {new_id, merged_cell}, "drawn": {new_id}}
    after = (imaging.Fluorescence.Trace & curation0).to_dicts(order_by="mask_id")
    assert len(after) == len(before)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old["fluorescence"], new["fluorescence"])
    assert len(imaging.Curation & curation0) == 1 and not imaging.Curation.Rejected & curation0

    # a rejected cell is gone for good in the descendants; the verified set follows the cells
    later = curation.reject(grouped, [new_id])
    assert set((imaging.Curation.Verified & later).to_arrays("mask_id").tolist()) == {merged_cell}
    assert curation.cell_groups(later) == {"edge cells": {merged_cell}}


def test_bad_curation_requests_are_refused(pipeline, segmented):
    imaging = pipeline.imaging
    _, curation0, _ = segmented
    ids0 = curation.cell_ids(curation0)
    with pytest.raises(ValueError, match=r"cell id\(s\) \[9999\] are not cells of curation 0"):
        curation.reject(curation0, [9999])
    with pytest.raises(ValueError, match="at least 2 distinct"):
        curation.merge(curation0, [int(ids0[0]), int(ids0[0])])
    with pytest.raises(ValueError, match=r"mask must have the field of view's shape \(128, 128\)"):
        curation.add_missed(curation0, np.ones((64, 64), bool))
    with pytest.raises(ValueError, match="not empty"):
        curation.add_missed(curation0, np.zeros((SIZE, SIZE), bool))
    with pytest.raises(ValueError, match="group name"):
        curation.group(curation0, "", [int(ids0[0])])
    segmentation_key = {name: curation0[name] for name in imaging.Segmentation.primary_key}
    assert len(imaging.Curation & segmentation_key) == 1
