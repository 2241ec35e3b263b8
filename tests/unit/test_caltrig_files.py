"""CalTrig's own files read back: E (events, good_cells, verified), DFF, M (drawn cells) and session_group_ids.json.

The session is minian's real output (``realdata``, copied to the test's folder) with CalTrig's arrays written beside
it as CalTrig writes them: xarray's ``to_zarr`` of a DataArray, i.e. a zarr v2 group ``<name>.zarr`` holding the
array (``_ARRAY_DIMENSIONS``; non-dimension coordinates named in ``coordinates``) and one array per coordinate.
"""

import json
import shutil

import numpy as np
import pytest

from element_calcium.compute.curation import average_cells, event_run_peaks
from element_calcium.loaders import load_caltrig_curation, load_caltrig_extraction, load_caltrig_motion
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion

zarr = pytest.importorskip("zarr")

MINIAN = "minian_pr65_output"
RNG = np.random.default_rng(65)


def write_caltrig_array(folder, name, values, dims, coords):
    """One CalTrig array as xarray's to_zarr writes it: coords maps a name to (dims, values)."""
    group = zarr.open_group(folder / f"{name}.zarr", mode="w", zarr_format=2)
    others = sorted(coord for coord in coords if coord not in dims)
    attributes = {"_ARRAY_DIMENSIONS": list(dims)}
    if others:
        attributes["coordinates"] = " ".join(others)
    group.create_array(name, data=values, attributes=attributes, fill_value=np.nan)
    for coord, (coord_dims, coord_values) in coords.items():
        group.create_array(coord, data=coord_values, attributes={"_ARRAY_DIMENSIONS": list(coord_dims)})


def _runs(n_frames, count):
    row = np.zeros(n_frames)
    for start in RNG.choice(np.arange(5, n_frames - 30, 40), size=count, replace=False):
        row[start:start + RNG.integers(4, 15)] = 1
    return row


@pytest.fixture
def session(tmp_path, realdata):
    """A CalTrig session folder on minian's real output; returns (minian folder, what CalTrig wrote)."""
    folder = tmp_path / "mouse1_day1" / "minian"
    shutil.copytree(realdata / MINIAN, folder)
    units = zarr.open_group(str(folder / "A.zarr"), mode="r")["unit_id"][...]
    height, width = zarr.open_group(str(folder / "A.zarr"), mode="r")["A"].shape[1:]
    frames = zarr.open_group(str(folder / "C.zarr"), mode="r")["frame"][...]
    n_units, n_frames = len(units), len(frames)
    events = np.stack([_runs(n_frames, RNG.integers(0, 4)) for _ in range(n_units)])
    good = np.ones(n_units)
    good[[2, 40, 100]] = 0
    verified = np.zeros(n_units)
    verified[[0, 5, 7, 150]] = 1  # CalTrig's reject_cells also sets verified to 0
    unit_coords = {"unit_id": (("unit_id",), units), "frame": (("frame",), frames)}
    write_caltrig_array(folder, "E", events, ("unit_id", "frame"), {
        **unit_coords, "good_cells": (("unit_id",), good), "verified": (("unit_id",), verified),
        "timestamp(ms)": (("frame",), frames * 33.3)})
    dff = RNG.normal(0, 0.2, (n_units, n_frames))
    write_caltrig_array(folder, "DFF", dff, ("unit_id", "frame"), unit_coords)
    yy, xx = np.mgrid[:height, :width]
    masks = np.stack([(np.hypot(yy - y, xx - x) <= 6).astype(np.float64) for y, x in ((100, 200), (300, 600))])
    write_caltrig_array(folder, "M", masks, ("missed_id", "height", "width"), {
        "missed_id": (("missed_id",), np.array([1, 2])), "height": (("height",), np.arange(height)),
        "width": (("width",), np.arange(width))})
    groups = {"Group 1": [int(units[3]), int(units[9]), int(units[3])], "Group place": [int(units[150])]}
    (folder.parent / "session_group_ids.json").write_text(json.dumps(groups))
    return folder, {"units": units, "events": events, "good": good, "verified": verified, "dff": dff,
                    "masks": masks, "groups": groups}


def test_caltrig_curation_holds_what_caltrig_wrote(session):
    folder, written = session
    found = load_caltrig_curation(folder)
    assert found.source == folder
    np.testing.assert_array_equal(found.unit_ids, written["units"])
    np.testing.assert_array_equal(found.good, written["good"] == 1)
    np.testing.assert_array_equal(found.verified, written["verified"] == 1)
    np.testing.assert_array_equal(found.events, written["events"] == 1)
    np.testing.assert_array_equal(found.missed_ids, [1, 2])
    np.testing.assert_array_equal(found.missed_masks, written["masks"] == 1)
    assert found.groups == {name: tuple(sorted(set(ids))) for name, ids in written["groups"].items()}


def test_caltrig_cells_are_minians_with_caltrigs_dff(session):
    folder, written = session
    loaded, minian = load_caltrig_extraction(folder), load_minian_extraction(folder)
    assert loaded.nmasks == 223 and loaded.nframes == 800
    np.testing.assert_array_equal(loaded.mask_ids, minian.mask_ids)
    assert (loaded.footprints != minian.footprints).nnz == 0
    np.testing.assert_array_equal(loaded.fluorescence, minian.fluorescence)
    np.testing.assert_array_equal(loaded.spikes, minian.spikes)
    np.testing.assert_array_equal(loaded.dff, written["dff"].astype(np.float32))
    np.testing.assert_array_equal(load_caltrig_motion(folder).rigid_shifts, load_minian_motion(folder).rigid_shifts)


def test_caltrig_dff_matched_by_unit_id(session):
    folder, written = session
    order = np.arange(len(written["units"]))[::-1]
    write_caltrig_array(folder, "DFF", written["dff"][order].T, ("frame", "unit_id"), {
        "unit_id": (("unit_id",), written["units"][order]), "frame": (("frame",), np.arange(800))})
    np.testing.assert_array_equal(load_caltrig_extraction(folder).dff, written["dff"].astype(np.float32))


def test_old_caltrig_files_read_as_caltrig_reads_them(session):
    # E from before CalTrig kept 'verified', with NaN where it was never filled: NaN is no event, nothing verified
    folder, written = session
    events = written["events"].copy()
    events[:, :10] = np.nan
    events[0, 20] = 2.0  # any non-zero value is an event frame
    write_caltrig_array(folder, "E", events, ("unit_id", "frame"), {
        "unit_id": (("unit_id",), written["units"]), "frame": (("frame",), np.arange(800)),
        "good_cells": (("unit_id",), written["good"])})
    found = load_caltrig_curation(folder)
    assert not found.events[:, :10].any() and found.events[0, 20]
    assert not found.verified.any()
    np.testing.assert_array_equal(found.good, written["good"] == 1)


def test_a_session_caltrig_never_touched(tmp_path, realdata):
    folder = tmp_path / "minian"
    shutil.copytree(realdata / MINIAN, folder)
    found = load_caltrig_curation(folder)
    assert found.events is None and found.unit_ids.size == 0 and found.missed_ids.size == 0 and found.groups == {}
    assert load_caltrig_extraction(folder).dff is None


def test_bad_caltrig_files_are_refused_with_their_name(session):
    folder, written = session
    groups_file = folder.parent / "session_group_ids.json"
    groups_file.write_text('{"Group 1": [1, "two"]}')
    with pytest.raises(ValueError, match="session_group_ids.json: CalTrig's cell groups must be"):
        load_caltrig_curation(folder)
    groups_file.unlink()
    write_caltrig_array(folder, "M", written["masks"], ("missed_id", "height", "width"), {})
    with pytest.raises(ValueError, match=r"M.zarr: 'M' needs integer 'missed_id' coordinates"):
        load_caltrig_curation(folder)
    write_caltrig_array(folder, "DFF", written["dff"][:-1], ("unit_id", "frame"), {
        "unit_id": (("unit_id",), written["units"][:-1]), "frame": (("frame",), np.arange(800))})
    with pytest.raises(ValueError, match=rf"DFF.zarr: 'DFF' lacks unit\(s\) \[{written['units'][-1]}\] of 'A'"):
        load_caltrig_extraction(folder)
    with pytest.raises(FileNotFoundError, match="CalTrig session folder"):
        load_caltrig_curation(folder / "absent")


def test_event_runs_peak_where_the_trace_is_largest_within_each_run():
    events = np.zeros(40, bool)
    events[[0, 1, 2, 10, 11, 12, 13, 38, 39]] = True  # runs touching both ends of the recording
    trace = np.zeros(40)
    trace[[1, 12, 39]] = [5.0, 3.0, 2.0]
    trace[20] = 9.0  # larger, but outside every run
    np.testing.assert_array_equal(event_run_peaks(events, trace), [1, 12, 39])
    assert event_run_peaks(np.zeros(40, bool), trace).size == 0


def test_a_merge_without_a_movie_averages_footprints_and_traces_as_caltrig_does():
    # CalTrig's merge_cells: groupby(unit_labels).mean("unit_id") over A and over each trace
    footprints = RNG.random((30, 3)) * (RNG.random((30, 3)) > 0.5)
    traces, background = RNG.normal(size=(3, 50)), RNG.normal(size=(3, 50))
    footprint, trace, mean_background = average_cells(footprints, traces, background)
    np.testing.assert_allclose(footprint, footprints.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(trace, traces.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mean_background, background.mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="give k >= 1 footprints"):
        average_cells(footprints, traces[:2])
