"""The app's data layer without a browser: recordings and their stages, ids checked against the database, the
several-curators rule, ungroup, frames read on demand and the movie panels, the server's address rule."""

import numpy as np
import pytest

from element_calcium import curation, storage
from element_calcium.app import AppData, check_address
from element_calcium.app.frames import RecordingFrames


def test_recordings_list_each_stage_and_ids_come_back_only_from_the_database(app_data, app_recording):
    table = app_data.recordings(subject="app-mouse")
    (row,) = table.to_dict("records")
    assert row["frames"] == 600 and row["cells"] >= 5
    assert {row[stage] for stage in ("MotionCorrection", "Segmentation", "Activity", "CellClustering")} == {"done"}
    task_names = app_data.imaging.ProcessingTask.primary_key
    assert app_data.task_key(row["task_id"]) == {name: app_recording[name] for name in task_names}
    assert app_data.recordings(subject="nobody").empty
    for bad in ("'; DROP TABLE x; --", "0" * 10, ""):
        with pytest.raises(ValueError, match="no recording has the id"):
            app_data.task_key(bad)
    with pytest.raises(ValueError, match="is not a curation of this recording"):
        app_data.curation_key(app_recording, "1 OR 1=1")


def test_cell_ids_from_the_browser_are_checked(app_data, app_recording):
    key = {**app_recording, "curation_id": 0}
    ids = app_data.cells(key)["mask_id"].tolist()
    assert app_data.checked_cells(key, [str(ids[1]), ids[0]]) == sorted(ids[:2])
    with pytest.raises(ValueError, match=r"are not cells of curation 0"):
        app_data.checked_cells(key, [max(ids) + 100])
    with pytest.raises(ValueError, match="whole numbers"):
        app_data.checked_cells(key, ["3; DELETE"])


def test_a_stale_page_is_told_and_two_curators_make_two_children(app_data, app_pipeline, app_recording):
    parent = {**app_recording, "curation_id": 0}
    seen = app_data.children(parent)
    ids = app_data.cells(parent)["mask_id"].tolist()
    first = app_data.apply_curation("reject", parent, seen_children=seen, ids=[ids[0]], curator="ann")
    second = app_data.apply_curation("reject", parent, seen_children=seen, ids=[ids[1]], curator="bob")
    assert first["stale"] == [] and second["stale"] == [first["key"]["curation_id"]]
    for result, rejected in ((first, ids[0]), (second, ids[1])):
        row = (app_pipeline.imaging.Curation & result["key"]).fetch1()
        assert row["parent_curation_id"] == 0
        assert (app_pipeline.imaging.Curation.Rejected & result["key"]).to_arrays("mask_id").tolist() == [rejected]
    history = app_data.curations(app_recording).set_index("curation_id")
    assert history.loc[second["key"]["curation_id"], "changes"] == f"rejected [{ids[1]}]"
    with pytest.raises(ValueError, match="unknown curation action"):
        app_data.apply_curation("drop", parent, seen_children=seen, ids=[ids[0]])


def test_ungroup_takes_cells_out_of_a_group_in_a_new_curation(app_data, app_recording):
    parent = {**app_recording, "curation_id": 0}
    ids = app_data.cells(parent)["mask_id"].tolist()
    grouped = curation.group(parent, "place cells", ids[:3])
    ungrouped = curation.ungroup(grouped, "place cells", [ids[1]], curator="ann")
    assert curation.cell_groups(ungrouped) == {"place cells": {ids[0], ids[2]}}
    assert curation.cell_groups(grouped) == {"place cells": set(ids[:3])}
    emptied = curation.ungroup(ungrouped, "place cells", [ids[0], ids[2]])
    assert curation.cell_groups(emptied) == {}
    with pytest.raises(ValueError, match="has no group 'reward'"):
        curation.ungroup(grouped, "reward", [ids[0]])
    with pytest.raises(ValueError, match="are not in group"):
        curation.ungroup(grouped, "place cells", [ids[4]])


def test_movie_panels_are_read_a_frame_at_a_time_and_add_up(app_data, app_pipeline, app_recording):
    key = {**app_recording, "curation_id": 0}
    frames = RecordingFrames(app_data, key)
    panels = frames.frame(123)
    corrected_path = app_pipeline.get_processed_root_dir() / (app_pipeline.imaging.MotionCorrection & key).fetch1(
        "corrected_movie")
    corrected = storage.open_movie(corrected_path)
    np.testing.assert_allclose(panels["corrected"], corrected.read(123, 124)[0].astype(np.float32))
    np.testing.assert_allclose(panels["reconstruction"] + panels["residual"] + frames._background,
                               panels["corrected"], rtol=1e-4, atol=1e-3)
    assert panels["reconstruction"].max() > 0 and panels["raw"].shape == panels["corrected"].shape
    box = frames.box_mean(10, 20, 30, 40)
    np.testing.assert_allclose(box[[0, 123, 599]], [corrected.read(t, t + 1)[0, 10:20, 30:40].mean() for t in
                                                    (0, 123, 599)], rtol=1e-5)
    with pytest.raises(ValueError, match="outside the recording"):
        frames.frame(600)
    with pytest.raises(ValueError, match="holds no pixel"):
        frames.box_mean(70, 80, 0, 5)


def test_pages_show_no_absolute_root_path(app_data, app_pipeline):
    root = str(app_pipeline.get_processed_root_dir())
    assert app_data.without_roots(f"{root}/a/b.h5: cannot read") == "<processed root>/a/b.h5: cannot read"


def test_the_app_serves_other_addresses_only_with_a_token():
    check_address("127.0.0.1", None)
    check_address("::1", None)
    with pytest.raises(ValueError, match="give --token"):
        check_address("0.0.0.0", None)
    with pytest.raises(ValueError, match="at least 8 characters"):
        check_address("192.168.1.5", "short")
    check_address("0.0.0.0", "a-long-secret")


def test_a_pipeline_without_the_schema_modules_is_refused():
    with pytest.raises(ValueError, match="lacks"):
        AppData(object())


def test_a_failed_stage_shows_its_message_without_root_paths_and_retry_clears_it(app_data, app_pipeline,
                                                                                  app_recording):
    motion = app_pipeline.imaging.MotionCorrection
    task_id = app_data.task_id(app_recording)
    root = app_pipeline.get_processed_root_dir()
    motion.jobs.insert1({**app_recording, "status": "error", "priority": 5,
                         "error_message": f"{root}/movie.h5: disk full"})
    row = app_data.recordings(subject="app-mouse").iloc[0]
    assert row["MotionCorrection"] == "error: <processed root>/movie.h5: disk full"
    assert app_data.retry(task_id, "MotionCorrection") == 1
    assert app_data.recordings(subject="app-mouse").iloc[0]["MotionCorrection"] == "done"
    with pytest.raises(ValueError, match="unknown stage"):
        app_data.retry(task_id, "DROP TABLE")


def test_spatial_events_of_the_recording_lie_in_it(app_data, app_recording):
    found = app_data.spatial_events(app_recording)
    assert len(found) >= 1 and (found["z1"] > found["z0"]).all() and (found["z1"] <= 600).all()
    assert all(len(x) == area for x, area in zip(found["footprint_xpix"], found["area"]))


def test_the_jupyter_views_build_every_page(app_pipeline, app_recording):
    from element_calcium.app import recording_view, recordings_view

    assert "app-mouse / 0" in recordings_view(app_pipeline)[2].object  # the recordings table
    view = recording_view({**app_recording, "curation_id": 0}, pipeline=app_pipeline)
    for index in range(len(view)):
        view.active = index
    view.get_root()
    assert [page.name for page in view] == ["Recording", "Cells and curation", "Transient curation",
                                            "Events and clusters"]
    assert all(len(page) > 1 for page in view)
