"""``element-calcium demo`` runs again and again beside a lab's own recordings without touching them."""

import os
import subprocess
import sys
from pathlib import Path

from helpers import SESSION_TIME, small_movie

from element_calcium.simulate import write_miniscope_v4
from workflow.ingest import ingest_recording

ROOT = Path(__file__).resolve().parents[2]
DEMO = ("demo", "--frames", "300", "--size", "64", "--cells", "6")


def demo() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workflow.cli", *DEMO], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=600)


def test_demo_runs_twice_in_its_own_schemas_beside_another_recording(pipeline, new_folder, subject_name):
    imaging = pipeline.imaging
    written = write_miniscope_v4(new_folder(), small_movie(n_frames=60), frames_per_file=30)
    own = ingest_recording(written.path, subject=subject_name, session_datetime=SESSION_TIME)

    first, second = demo(), demo()

    for run in (first, second):
        assert run.returncode == 0, run.stdout + run.stderr
        assert "simulated cells found" in run.stdout and "Report, with figures of every step" in run.stdout
        assert "processing record: element_calcium" in run.stdout
    assert "simulating" in first.stdout and "simulating" not in second.stdout
    # the user's recording was neither computed nor failed, and stays where it was
    assert not imaging.MotionCorrection & own.task_key
    assert not imaging.MotionCorrection.jobs & own.task_key
    assert (imaging.Recording & own.recording_key).fetch1("recording_directory")
    assert not imaging.Recording & {"subject": "demo-mouse"}
    # the demo's own schemas and folder hold its results; its folder is outside the user's roots
    prefix = os.environ["EC_DB_PREFIX"] + "demo_"
    assert f"its own schemas ({prefix}*)" in second.stdout
    counts = pipeline.imaging.schema.connection.query(
        f"SELECT COUNT(*) FROM `{prefix}imaging`.`__segmentation`").fetchone()[0]
    assert counts == 1
    report = Path(second.stdout.split("(open it in a browser):\n")[1].split("\n")[0].strip())
    processed_root, raw_root = pipeline.get_processed_root_dir(), pipeline.get_raw_root_dirs()[0]
    assert report.is_file() and report.name == "report.html"
    assert not report.is_relative_to(processed_root) and not report.is_relative_to(raw_root)
    found = int(second.stdout.split("cells: ")[1].split(" of ")[0])
    assert found >= 4  # of the 6 simulated cells
