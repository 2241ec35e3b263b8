"""The quality-control report and the four-panel result movie of a fully populated recording."""

import datetime
import logging
import re

import imageio
import numpy as np
import pytest
from matplotlib.colors import to_hex
from scipy.cluster import hierarchy

from element_calcium import behavior, plotting, report
from workflow import cli
from element_calcium.readers import read_recording
from element_calcium.report import generate_videos
from element_calcium.simulate import simulate, write_miniscope_v4
from workflow.ingest import ingest_recording

SECTIONS = ("<h2>Recording</h2>", "<h3>Motion correction</h3>", "<h3>Summary images</h3>", "<h3>Cells</h3>",
            "<h3>Curation 0: as segmented</h3>", "<h4>Traces: dF/F of", "<h4>Per-cell statistics",
            "<h4>Transients of the dF/F traces", "<h4>Peri-event: dF/F around lever",
            "<h4>Cell clusters by the power spectrum of their", "<h3>Spatiotemporal events",
            "<h3>Processing times</h3>")


def page_of(capsys) -> str:
    return open(capsys.readouterr().out.strip().splitlines()[-1], encoding="utf-8").read()


def test_report_and_movie_of_a_populated_recording(pipeline, new_folder, subject_name, tmp_path, capsys, caplog):
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate(n_frames=400, height=96, width=96, n_cells=10, mode="1p", max_shift=2.0, seed=6)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=200)
    session = read_recording(written.path).metadata.recording_datetime.replace(microsecond=0)
    result = ingest_recording(written.path, subject=subject_name, session_datetime=session)
    events.EventParamSet.insert_new_params("spatial", 60, "report test", {"min_size": 150})
    try:
        imaging.populate_all(display_progress=False)
        lever = tmp_path / "lever.csv"
        lever.write_text("time,event_type\n" + "".join(f"{t:.2f},lever\n" for t in np.arange(2.0, 18.0, 1.7)))
        behavior.import_event_csv(result.recording_key, lever)
        outcome = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
        assert not [errors for errors in (o["error_list"] for o in outcome.values()) if errors]

        key_text = f"subject={subject_name},session_datetime={session.isoformat()},recording_id=0"
        caplog.set_level(logging.INFO, logger="element_calcium.progress")
        assert cli.main(["report", "--recording", key_text]) == 0
        assert any("writing sections" in record.getMessage() for record in caplog.records)  # not silent
        page = page_of(capsys)
        missing = [section for section in SECTIONS if section not in page]
        assert not missing
        assert page.count("<img ") >= 9 and "data:image/png;base64," in page
        assert "px high-pass filter" in page and "correlation with their mean" in page and "Warning" not in page
        assert re.search(r"Made \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* with element_calcium \S+, datajoint \S+", page)
        for name in ("processing parameter set 0 (“one-photon defaults”)", "event parameter set 0",
                     "event parameter set 1", "event parameter set 60 (“report test”)", "clustering parameter set 0"):
            assert f"<summary>values of {name}" in page, name
        assert '"min_size": 150' in page  # the values themselves
        assert not re.search(r"silhouette \d\.\d{3}", page)  # rounded

        imaging.MotionCorrection.update1({**result.task_key, "quality_warning": "motion correction did not help"})
        imaging.RecordingInfo.update1({**result.recording_key, "gain": None,
                                       "recording_datetime": session + datetime.timedelta(days=3)})
        assert cli.main(["report", "--recording", key_text]) == 0
        page = page_of(capsys)
        assert "<strong>Warning: motion correction did not help</strong>" in page
        assert "3.0 days apart: check the session time given at ingest" in page
        assert "<td>gain</td>\n      <td>not recorded</td>" in page and "None" not in page

        video = generate_videos(result.task_key)
        reader = imageio.get_reader(video, format="ffmpeg")
        frames = [frame for frame in reader]
        reader.close()
        assert len(frames) == 400 and frames[0].shape[:2] == (2 * 3 * 96, 2 * 3 * 96)  # 2 x 2 panels, each 3x
        assert cli.main(["video", "--task", reservations_text(result.task_key), "--curation", "3"]) == 2
        error = capsys.readouterr().err
        assert "--curation 3: task" in error and "has curation(s) 0; give one of them" in error
        assert cli.main(["report", "--recording", "subject=nobody"]) == 2
        assert cli.main(["report", "--recording", "no-equals-sign"]) == 2
    finally:
        (events.EventParamSet & {"event_paramset_id": 60}).delete(prompt=False)


def reservations_text(key) -> str:
    from element_calcium.progress import key_text

    return key_text(key)


@pytest.mark.parametrize("cut_order", ["tree order", "shuffled"])
def test_dendrogram_colours_each_cluster_as_the_other_figures_do(cut_order):
    """A singleton cluster first along the tree, then a 2-cell and a 7-cell cluster: SciPy's own colours would
    start at its second palette colour and skip nothing for the singleton, so they would not match."""
    rng = np.random.default_rng(0)
    centres = {0: [0.0, 0.0], 1: [10.0, 0.0], 2: [0.0, 10.0]}
    labels_of_cells = [0] * 1 + [1] * 2 + [2] * 7
    points = np.array([centres[label] for label in labels_of_cells]) + rng.normal(0, 0.3, (10, 2))
    tree = hierarchy.linkage(points, method="ward")
    cut = list(hierarchy.fcluster(tree, 3, criterion="maxclust") - 1)
    if cut_order == "shuffled":
        relabel = {0: 2, 1: 0, 2: 1}
        cut = [relabel[label] for label in cut]
    ids = np.arange(100, 110)

    figure = report.dendrogram_figure(tree, ids, cut, n_clusters=3)

    psd = plotting.plot_cluster_psd(np.linspace(0.1, 3, 5), rng.random((10, 5)), cut)
    psd_colors = {int(line.get_label().split()[1]): to_hex(line.get_color()) for line in psd.axes[0].get_lines()}
    order = hierarchy.leaves_list(tree)  # leaf k of the figure (x = 10 k + 5) is observation order[k]
    coloured = set()
    for collection in figure.axes[0].collections:
        color = to_hex(collection.get_colors()[0])
        for segment in collection.get_segments():
            first, last = (int((x - 5) // 10) for x in (segment[:, 0].min(), segment[:, 0].max()))
            below = {cut[order[k]] for k in range(first, last + 1)}
            if color != to_hex("0.6"):  # a link below the cut: all its cells in one cluster, of that colour
                assert len(below) == 1 and psd_colors[below.pop()] == color
                coloured.add(color)
    sizes = {label: cut.count(label) for label in set(cut)}
    assert coloured == {psd_colors[label] for label in sizes if sizes[label] > 1}
