"""Real worker processes against a MariaDB server of the test's own, which the tests stop, kill and restart.

A worker here is ``workflow.worker.run_worker`` in its own process, with MotionCorrection's
``make_compute`` wrapped to note when it starts and ends (and, for worker A, to wait for a gate
file), and each finished cycle noted: the notes file says who computed what, and when.
"""

import subprocess
import sys
import time
from pathlib import Path

from helpers import small_movie
from own_server import own_server  # noqa: F401  (the fixture)

from element_calcium.simulate import write_miniscope_v4

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.5
ORPHAN_TIMEOUT_S = 3.0

WORKER = """
import logging, os, sys, time
from pathlib import Path

import workflow.pipeline
from element_calcium import imaging
from workflow import worker

label, notes, gate = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def note(event):
    with open(notes, "a") as file:
        file.write(f"{event} {label}\\n")


compute = imaging.MotionCorrection.make_compute


def noted_compute(self, key, *fetched):
    note("start")
    while gate and not Path(gate).exists():
        time.sleep(0.05)
    result = compute(self, key, *fetched)
    note("end")
    return result


cycle = worker.run_cycle


def noted_cycle(**options):
    results = cycle(**options)
    note("cycle")
    return results


imaging.MotionCorrection.make_compute = noted_compute
worker.run_cycle = noted_cycle
handler = logging.StreamHandler(sys.stdout)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
logging.getLogger("element_calcium").addHandler(handler)
logging.getLogger("element_calcium").setLevel(logging.INFO)
sys.exit(worker.run_worker(sleep_s=0.5, orphan_timeout_s=float(sys.argv[4]), heartbeat_s=float(sys.argv[5])))
"""

class Worker:
    """A worker process; its output goes to ``<label>.log`` beside the notes."""

    def __init__(self, env, folder: Path, label: str, *, gate: Path | None = None):
        self.label = label
        self.log = folder / f"{label}.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-c", WORKER, label, str(folder / "notes.txt"), str(gate or ""),
                 str(ORPHAN_TIMEOUT_S), str(HEARTBEAT_S)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        """SIGTERM, then the exit code."""
        self.process.terminate()
        try:
            return self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def _notes(folder: Path, event: str) -> int:
    path = folder / "notes.txt"
    return path.read_text().splitlines().count(event) if path.is_file() else 0


def _wait_for(condition, what: str, *workers: Worker, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        dead = [worker for worker in workers if worker.process.poll() is not None]
        assert not dead, f"worker {dead[0].label} ended (rc={dead[0].process.returncode}) waiting for {what}:\n" + \
            dead[0].output[-4000:]
        assert time.monotonic() < deadline, f"no {what} within {timeout_s} s:\n" + \
            "\n".join(worker.output[-3000:] for worker in workers)
        time.sleep(0.2)


def _python(env, code: str) -> str:
    """Run ``code`` in a pipeline process of ``env``; its standard output."""
    result = subprocess.run([sys.executable, "-c", "import workflow.pipeline\n" + code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _ingest(env, name: str) -> None:
    """Write a short Miniscope recording ``name`` under the raw root and ingest it (a processing task too)."""
    recording = write_miniscope_v4(Path(env["EC_RAW_ROOT"]) / name, small_movie(n_frames=60), frames_per_file=30)
    _python(env, "import datetime\nfrom workflow.ingest import ingest_recording\n"
                 f"ingest_recording({str(recording.path)!r}, subject='m1', "
                 "session_datetime=datetime.datetime(2026, 3, 1, 9, 0))\n")


def _motion_rows(server, env) -> list[tuple]:
    """``(corrected_movie,)`` of each MotionCorrection row, or none while the schema does not exist."""
    schema = env["EC_DB_PREFIX"] + "imaging"
    if not server.query("SHOW DATABASES LIKE %s", (schema,)):
        return []
    return server.query(f"SELECT corrected_movie FROM `{schema}`.`_motion_correction`")


def _motion_jobs(server, env) -> list[tuple]:
    schema = env["EC_DB_PREFIX"] + "imaging"
    return server.query(f"SELECT status, host, pid, error_message FROM `{schema}`.`~~motion_correction`")


def _outage_lines(worker: Worker) -> tuple[int, int]:
    output = worker.output
    return output.count("out of reach"), output.count("answers again")


def test_restart_while_a_worker_computes_does_not_compute_the_key_twice(own_server, tmp_path):
    """Worker A computes across a server crash and a downtime longer than the orphan timeout; worker B cycles
    before and after and never takes the key: the key is computed once, its row and corrected movie are A's."""
    env = own_server.environment(tmp_path)
    _ingest(env, "rec")
    gate = tmp_path / "gate"
    a = Worker(env, tmp_path, "A", gate=gate)
    _wait_for(lambda: _notes(tmp_path, "start A") == 1, "A computing", a)
    b = Worker(env, tmp_path, "B")
    _wait_for(lambda: _notes(tmp_path, "cycle B") >= 1, "a cycle of B", a, b)

    own_server.stop(kill=True)
    time.sleep(ORPHAN_TIMEOUT_S + 2.0)
    own_server.start()
    # B cycles while the server has been up longer than the orphan timeout and A still computes
    _wait_for(lambda: own_server.uptime_s() > ORPHAN_TIMEOUT_S + 1, "server uptime past the orphan timeout", a, b)
    cycles = _notes(tmp_path, "cycle B")
    _wait_for(lambda: _notes(tmp_path, "cycle B") >= cycles + 3, "three cycles of B", a, b)
    assert _notes(tmp_path, "start B") == 0, "B took the key A was computing"
    [(status, _, pid, _)] = _motion_jobs(own_server, env)
    assert (status, pid) == ("reserved", a.process.pid)

    gate.touch()
    _wait_for(lambda: len(_motion_rows(own_server, env)) == 1, "MotionCorrection row", a, b)
    assert [a.stop(), b.stop()] == [0, 0], a.output + b.output

    assert _notes(tmp_path, "start A") == _notes(tmp_path, "end A") == 1 and _notes(tmp_path, "start B") == 0
    [(corrected_movie,)] = _motion_rows(own_server, env)
    assert (Path(env["EC_PROCESSED_ROOT"]) / corrected_movie).is_file()
    assert not [job for job in _motion_jobs(own_server, env) if job[0] == "error"]
    for worker in (a, b):
        assert "Traceback" not in worker.output, worker.output


def test_reservation_with_a_heartbeat_from_before_a_restart_gets_a_full_timeout(own_server, tmp_path):
    """A worker that computed through a long downtime has an old heartbeat when the server returns: it keeps its
    key until the server has been up for the orphan timeout, time for its heartbeat to resume."""
    env = own_server.environment(tmp_path)
    _ingest(env, "rec")
    _python(env, "from element_calcium import imaging\n"
                 "jobs = imaging.MotionCorrection.jobs\n"
                 "jobs.refresh()\n"
                 "[key] = jobs.pending.keys()\n"
                 "assert jobs.reserve(key)\n"
                 "jobs.connection.query(f'UPDATE {jobs.full_table_name} "
                 "SET reserved_time = reserved_time - INTERVAL 1 HOUR')\n")
    own_server.stop()
    own_server.start()

    returned = _python(env, "from element_calcium import imaging\n"
                            "from workflow.worker import return_orphaned_jobs\n"
                            "print(return_orphaned_jobs(imaging.automatic_tables(), orphan_timeout_s=120))\n")

    assert returned.split()[-1] == "0"
    assert [job[0] for job in _motion_jobs(own_server, env)] == ["reserved"]


def test_key_of_a_killed_worker_is_computed_by_another_after_the_timeout(own_server, tmp_path):
    env = own_server.environment(tmp_path)
    _ingest(env, "rec")
    a = Worker(env, tmp_path, "A", gate=tmp_path / "gate")
    _wait_for(lambda: _notes(tmp_path, "start A") == 1, "A computing", a)
    a.process.kill()
    a.process.wait()

    b = Worker(env, tmp_path, "B")
    _wait_for(lambda: len(_motion_rows(own_server, env)) == 1, "MotionCorrection row", b)
    assert b.stop() == 0, b.output

    assert _notes(tmp_path, "start B") == _notes(tmp_path, "end B") == 1
    assert "returned 1 orphaned reservation(s) to pending" in b.output


def test_worker_waits_out_an_outage_between_cycles(own_server, tmp_path):
    env = own_server.environment(tmp_path)
    a = Worker(env, tmp_path, "A")
    _wait_for(lambda: _notes(tmp_path, "cycle A") >= 1, "a cycle of A", a)

    own_server.stop()
    _wait_for(lambda: _outage_lines(a)[0] == 1, "the outage logged", a)
    time.sleep(4.0)  # several probes of the server
    assert a.process.poll() is None, a.output
    own_server.start()
    _ingest(env, "rec")
    _wait_for(lambda: len(_motion_rows(own_server, env)) == 1, "MotionCorrection row", a)
    assert a.stop() == 0, a.output

    assert _outage_lines(a) == (1, 1), a.output
    assert "Traceback" not in a.output, a.output


def test_result_computed_while_the_server_is_down_is_inserted_when_it_returns(own_server, tmp_path):
    env = own_server.environment(tmp_path)
    _ingest(env, "rec")
    gate = tmp_path / "gate"
    a = Worker(env, tmp_path, "A", gate=gate)
    _wait_for(lambda: _notes(tmp_path, "start A") == 1, "A computing", a)

    own_server.stop()
    gate.touch()
    _wait_for(lambda: _notes(tmp_path, "end A") == 1, "A's result", a)
    _wait_for(lambda: _outage_lines(a)[0] == 1, "the insert meeting the outage", a)
    time.sleep(2.0)
    assert a.process.poll() is None, a.output
    own_server.start()
    _wait_for(lambda: len(_motion_rows(own_server, env)) == 1, "MotionCorrection row", a)
    assert a.stop() == 0, a.output

    assert _notes(tmp_path, "start A") == 1, "the result was computed again"
    assert not [job for job in _motion_jobs(own_server, env) if job[0] == "error"]
    assert _outage_lines(a) == (1, 1), a.output
    assert "Traceback" not in a.output, a.output


def test_sigterm_during_a_computation_returns_the_key_to_pending(own_server, tmp_path):
    env = own_server.environment(tmp_path)
    _ingest(env, "rec")
    a = Worker(env, tmp_path, "A", gate=tmp_path / "gate")
    _wait_for(lambda: _notes(tmp_path, "start A") == 1, "A computing", a)

    assert a.stop() == 0, a.output

    assert [job[0] for job in _motion_jobs(own_server, env)] == ["pending"]
    assert not _motion_rows(own_server, env)
    assert "worker stopped" in a.output
