"""The ``element-calcium`` command.

    element-calcium setup-db                       make sure a database server answers
    element-calcium demo                           simulate, ingest and process a recording
    element-calcium ingest PATH --subject S --session-datetime T [--software auto] [--fps F]
                           [--paramset ID | --no-task]
    element-calcium populate [--reserve-jobs]      populate every automatic table once
    element-calcium worker [--once] [--sleep S]    populate in a loop (cron: --once)
    element-calcium status                         row counts, jobs and errors
    element-calcium jobs --retry [TABLE]           clear errors so those keys run again
    element-calcium report --recording KEY [--out report.html]
                                                   quality-control report of a recording (HTML)
    element-calcium video --task KEY [--curation N] [--out movie.mp4]
                                                   raw | corrected | reconstructed | residual movie
    element-calcium cleanup [--grace-hours H] [--delete]
                                                   list (or delete) files under the processed root no row references

KEY is a primary key as comma-separated ``attribute=value`` pairs, e.g.
``subject=mouse1,session_datetime=2024-03-01 10:30:00,recording_id=0`` (a task adds ``paramset_id=0``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from . import reservations
from .readers import SOFTWARE


def _setup_db(args) -> int:
    from workflow.database import setup_database

    return 0 if setup_database(install=not args.no_install) else 1


def _demo(args) -> int:
    from workflow.demo import describe, run_demo

    key = run_demo(n_frames=args.frames, size=args.size, n_cells=args.cells, seed=args.seed)
    print(describe(key))
    return 0


def _ingest(args) -> int:
    from workflow.ingest import ingest_recording, parse_datetime

    result = ingest_recording(
        args.path,
        subject=args.subject,
        session_datetime=parse_datetime(args.session_datetime),
        software=None if args.software == "auto" else args.software,
        fps=args.fps,
        paramset_id=args.paramset,
        create_task=not args.no_task,
        notes=args.notes,
    )
    print(("ingested " if result.created else "already ingested, nothing added: ") + str(result.recording_key))
    if result.task_key:
        print(f"processing task: {result.task_key}")
    return 0


def _populate(args) -> int:
    from workflow.paths import check_writable
    from workflow.pipeline import get_processed_root_dir, imaging

    check_writable(get_processed_root_dir())
    results = imaging.populate_all(display_progress=True, reserve_jobs=args.reserve_jobs, suppress_errors=True)
    failed = 0
    for table, outcome in results.items():
        print(f"{table}: {outcome['success_count']} made, {len(outcome['error_list'])} failed")
        for key, message in outcome["error_list"]:
            print(f"  {key}: {message}")
        failed += len(outcome["error_list"])
    return 1 if failed else 0


def _worker(args) -> int:
    from workflow.paths import check_writable
    from workflow.pipeline import get_processed_root_dir
    from workflow.worker import run_worker

    check_writable(get_processed_root_dir())
    return run_worker(once=args.once, sleep_s=args.sleep, orphan_timeout_s=args.orphan_timeout)


def _status(args) -> int:
    import workflow.pipeline  # noqa: F401
    from workflow import status

    print(f"{'table':<24}{'rows':>8}{'pending':>9}{'reserved':>10}{'error':>7}")
    for row in status.table_counts():
        jobs = "".join(f"{row[name]:>{width}}" for name, width in (("pending", 9), ("reserved", 10), ("error", 7))
                       if name in row)
        print(f"{row['table']:<24}{row['rows']:>8}{jobs}")
    errors = status.job_errors()
    if errors:
        print(f"\n{len(errors)} job(s) in error:")
        for error in errors:
            print(f"  {error['table']} {error['key']} on {error['host']} at {error['completed_time']}:")
            print(f"    {error['error_message']}")
    return 0


def _jobs(args) -> int:
    import workflow.pipeline  # noqa: F401
    from workflow import status

    if args.retry is None:
        for error in status.job_errors():
            print(f"{error['table']} {error['key']}: {error['error_message']}")
        return 0
    cleared = status.retry_errors(args.retry or None)
    print(f"cleared {cleared} job(s) in error; they run at the next populate")
    return 0


def parse_key(text: str) -> dict[str, str]:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}``; a part without ``=`` or an empty name raises ValueError."""
    key = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"key must be comma-separated attribute=value pairs, got {text!r}")
        key[name.strip()] = value.strip()
    return key


def _one(table, key: dict[str, str], what: str) -> dict:
    """The primary key of the single entry of ``table`` that ``key`` names."""
    matches = (table & key).keys()
    if len(matches) != 1:
        raise ValueError(f"{len(matches)} {what}s match {key}; give a key that names exactly one")
    return matches[0]


def _report(args) -> int:
    from element_calcium.report import write_report
    from workflow.pipeline import imaging

    path = write_report(_one(imaging.RecordingInfo, parse_key(args.recording), "recording"), out=args.out)
    print(path)
    return 0


def _video(args) -> int:
    from element_calcium.report import generate_videos
    from workflow.pipeline import imaging

    task = _one(imaging.MotionCorrection, parse_key(args.task), "motion-corrected task")
    print(generate_videos(task, curation_id=args.curation, out=args.out))
    return 0


def _cleanup(args) -> int:
    import workflow.pipeline  # noqa: F401  (activates the schemas)
    from element_calcium import cleanup

    if not args.grace_hours >= 0:
        raise ValueError(f"--grace-hours must be a number of hours >= 0, got {args.grace_hours}")
    grace_s = args.grace_hours * 3600.0
    files = cleanup.unreferenced_files(grace_s=grace_s)
    if args.delete:
        files = cleanup.remove(files, grace_s=grace_s)
    for file in files:
        print(f"{file.kind}\t{file.size}\t{file.path}")
    total = sum(file.size for file in files)
    verb = "removed" if args.delete else "would remove (dry run; --delete removes them)"
    print(f"{verb}: {len(files)} file(s), {total} bytes")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="element-calcium", description="Calcium-imaging pipeline on DataJoint.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True)

    setup = commands.add_parser("setup-db", help="make sure a MySQL/MariaDB server answers; start one if needed")
    setup.add_argument("--no-install", action="store_true", help="only check; never start or install a server")
    setup.set_defaults(run=_setup_db)

    demo = commands.add_parser("demo", help="simulate a Miniscope recording and run the pipeline on it")
    demo.add_argument("--frames", type=int, default=1500)
    demo.add_argument("--size", type=int, default=160, help="frame height and width (pixels)")
    demo.add_argument("--cells", type=int, default=30)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)

    ingest = commands.add_parser("ingest", help="enter a recording folder (under a raw root) into the pipeline")
    ingest.add_argument("path")
    ingest.add_argument("--subject", required=True)
    ingest.add_argument("--session-datetime", required=True, help="ISO-8601, e.g. 2024-03-01T10:30:00")
    ingest.add_argument("--software", default="auto", choices=("auto", *SOFTWARE))
    ingest.add_argument("--fps", type=float, help="frame rate (Hz) of plain TIFF stacks, which carry none")
    ingest.add_argument("--notes", default="")
    task = ingest.add_mutually_exclusive_group()
    task.add_argument("--paramset", type=int, help="parameter set of the processing task (default: modality's)")
    task.add_argument("--no-task", action="store_true", help="insert no processing task")
    ingest.set_defaults(run=_ingest)

    populate = commands.add_parser("populate", help="populate every automatic table once")
    populate.add_argument("--reserve-jobs", action="store_true", help="coordinate with other workers")
    populate.set_defaults(run=_populate)

    worker = commands.add_parser("worker", help="populate in a loop with job reservation")
    worker.add_argument("--once", action="store_true", help="one cycle, then exit (for cron)")
    worker.add_argument("--sleep", type=float, default=60.0, help="seconds between cycles")
    worker.add_argument("--orphan-timeout", type=float, default=reservations.DEFAULT_ORPHAN_TIMEOUT_S,
                        help="seconds without a heartbeat after which a reservation counts as abandoned (its worker "
                             f"was killed); a computing worker renews its heartbeat every {reservations.HEARTBEAT_S:g} s")
    worker.set_defaults(run=_worker)

    status = commands.add_parser("status", help="row counts, jobs and errors")
    status.set_defaults(run=_status)

    jobs = commands.add_parser("jobs", help="list jobs in error, or clear them with --retry")
    jobs.add_argument("--retry", nargs="?", const="", metavar="TABLE", help="clear errors (of TABLE, or all)")
    jobs.set_defaults(run=_jobs)

    report = commands.add_parser("report", help="write the quality-control report of a recording (HTML)")
    report.add_argument("--recording", required=True, metavar="KEY", help="attr=value,... of the recording")
    report.add_argument("--out", help="HTML file to write (default: the recording's processed folder)")
    report.set_defaults(run=_report)

    video = commands.add_parser("video", help="write the four-panel result movie of a processing task (MP4)")
    video.add_argument("--task", required=True, metavar="KEY", help="attr=value,... of the processing task")
    video.add_argument("--curation", type=int, default=0, help="curation whose cells are reconstructed")
    video.add_argument("--out", help="MP4 file to write (default: the task's output folder)")
    video.set_defaults(run=_video)

    cleanup = commands.add_parser(
        "cleanup", help="list files under the processed root that no row references; --delete removes them",
        description="List the pipeline's files under the processed root (and in its array store) that no row "
                    "references: temporaries of interrupted writes, results files of failed or repeated "
                    "computations, .npy files of rolled-back inserts. Files modified within the grace period are "
                    "kept (a computation in progress), and so is every file a row references and every file the "
                    "pipeline did not write. A dry run unless --delete is given.")
    cleanup.add_argument("--grace-hours", type=float, default=24.0,
                         help="keep files modified within this many hours (default 24)")
    cleanup.add_argument("--delete", action="store_true", help="remove the files listed (default: only list them)")
    cleanup.set_defaults(run=_cleanup)
    return parser


class _JobsTableTypeNotice(logging.Filter):
    """Drop DataJoint's notice about SQL types in the jobs tables it derives from our keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Native type")


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("element_calcium")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("datajoint").addFilter(_JobsTableTypeNotice())
    warnings.filterwarnings("ignore", message="No datajoint.json found")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.run(args)
    except Exception as error:
        message = _user_message(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


def _user_message(error: Exception) -> str | None:
    """One line for an error the user can act on: bad input, a file or folder, the database server or what it
    refused. None for anything else (a bug, whose traceback is shown)."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    datajoint, pymysql = sys.modules.get("datajoint"), sys.modules.get("pymysql")
    if pymysql is not None and isinstance(error, pymysql.MySQLError):
        return f"the database refused the request: {' '.join(map(str, error.args))}"
    user_errors = (ValueError, OSError) + ((datajoint.errors.DataJointError,) if datajoint is not None else ())
    return " ".join(str(error).split()) if isinstance(error, user_errors) else None


if __name__ == "__main__":
    sys.exit(main())
