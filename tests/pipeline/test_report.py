"""The quality-control report and the four-panel result movie of a fully populated recording."""

import imageio
import numpy as np
from helpers import SESSION_TIME

from element_calcium import cli
from element_calcium.report import generate_videos
from element_calcium.simulate import simulate, write_miniscope_v4
from workflow.ingest import ingest_recording

SECTIONS = ("<h2>Recording</h2>", "<h3>Motion correction</h3>", "<h3>Summary images</h3>", "<h3>Cells</h3>",
            "<h3>Curation 0: as segmented</h3>", "<h4>Traces", "<h4>Per-cell statistics</h4>", "<h4>Transients",
            "<h4>Peri-event: lever", "<h4>Cell clusters", "<h3>Spatiotemporal events</h3>",
            "<h3>Processing times</h3>")


def test_report_and_movie_of_a_populated_recording(pipeline, new_folder, subject_name, tmp_path, capsys):
    imaging, events = pipeline.imaging, pipeline.events
    movie = simulate(n_frames=400, height=96, width=96, n_cells=10, mode="1p", max_shift=2.0, seed=6)
    written = write_miniscope_v4(new_folder(), movie, frames_per_file=200)
    result = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)
    events.EventParamSet.insert_new_params("spatial", 60, "report test", {"min_size": 150})
    try:
        imaging.populate_all(display_progress=False)
        lever = tmp_path / "lever.csv"
        lever.write_text("time,event_type\n" + "".join(f"{t:.2f},lever\n" for t in np.arange(2.0, 18.0, 1.7)))
        events.import_event_csv(result.recording_key, lever)
        outcome = imaging.populate_all(display_progress=False, reserve_jobs=True, suppress_errors=True)
        assert not [errors for errors in (o["error_list"] for o in outcome.values()) if errors]

        key_text = f"subject={subject_name},session_datetime={SESSION_TIME},recording_id=0"
        assert cli.main(["report", "--recording", key_text]) == 0
        path = capsys.readouterr().out.strip().splitlines()[-1]
        page = open(path, encoding="utf-8").read()
        missing = [section for section in SECTIONS if section not in page]
        assert not missing
        assert page.count("<img ") >= 9 and "data:image/png;base64," in page
        assert path.endswith("report.html") and str(pipeline.get_processed_root_dir()) in path
        assert "px high-pass filter" in page and "correlation with their mean" in page and "Warning" not in page

        imaging.MotionCorrection.update1({**result.task_key, "quality_warning": "motion correction did not help"})
        assert cli.main(["report", "--recording", key_text]) == 0
        page = open(capsys.readouterr().out.strip().splitlines()[-1], encoding="utf-8").read()
        assert "<strong>Warning: motion correction did not help</strong>" in page

        video = generate_videos(result.task_key)
        reader = imageio.get_reader(video, format="ffmpeg")
        frames = [frame for frame in reader]
        reader.close()
        assert len(frames) == 400 and frames[0].shape[:2] == (96, 4 * 96)
        assert cli.main(["report", "--recording", "subject=nobody"]) == 2
        assert cli.main(["report", "--recording", "no-equals-sign"]) == 2
    finally:
        (events.EventParamSet & {"event_paramset_id": 60}).delete(prompt=False)
