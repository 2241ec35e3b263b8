"""The ``element-calcium`` command; ``element-calcium COMMAND --help`` shows each command's options, defaults and
examples.

    element-calcium setup-db                       make sure a database server answers
    element-calcium demo                           simulate, ingest and process a recording (its own schemas)
    element-calcium ingest PATH --subject S --session-datetime T [--software auto] [--fps F]
                           [--paramset ID | --no-task]
    element-calcium populate [--reserve-jobs]      populate every automatic table once
    element-calcium worker [--once] [--sleep S]    populate in a loop (cron: --once)
    element-calcium status                         rows, work left, what runs now and how far, errors
    element-calcium jobs [--retry [TABLE]]         list errors, or clear them so those keys run again
    element-calcium report --recording KEY [--out report.html]
                                                   quality-control report of a recording (HTML)
    element-calcium video --task KEY [--curation N] [--out movie.mp4]
                                                   raw | corrected | reconstructed | residual movie
    element-calcium cleanup [--grace-hours H] [--delete]
                                                   list (or delete) files under the processed root no row references
    element-calcium export-nwb --recording KEY [--curation N] [--movie link|data] OUT.nwb
                                                   a recording and its results as one NWB file
    element-calcium export-minian --task KEY [--curation N] OUT_FOLDER
                                                   a curation's cells and traces as a minian folder (CalTrig)

KEY is a primary key as comma-separated ``attribute=value`` pairs, the form ``ingest`` prints, e.g.
``subject=mouse1,session_datetime=2024-03-01T10:30:00,recording_id=0`` (a task adds ``paramset_id=0``).
Attributes the table does not have are refused.

Every error the user can act on is one line on standard error, naming what is wrong and what to do,
with exit status 2; ``populate`` and ``worker --once`` exit with 1 when a key failed.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import textwrap
import warnings
from pathlib import Path

_NEXT = ("next: `element-calcium worker --once` (or `populate`) computes it; `element-calcium status` shows how far it "
         "is; then `element-calcium report --recording {key}`")


def _setup_db(args) -> int:
    from workflow.database import setup_database

    return 0 if setup_database(install=not args.no_install) else 1


def _demo(args) -> int:
    from workflow.demo import describe, run_demo, use_demo_place

    use_demo_place()
    result = run_demo(n_frames=args.frames, size=args.size, n_cells=args.cells, seed=args.seed)
    print(describe(result))
    return 1 if result.failed else 0


def _ingest(args) -> int:
    from workflow.ingest import ingest_recording, parse_datetime
    from workflow.keys import format_key

    session_datetime = parse_datetime(args.session_datetime)
    software = None if args.software == "auto" else args.software
    _check_fps_option(Path(args.path), software, args.fps)
    result = ingest_recording(
        args.path,
        subject=args.subject,
        session_datetime=session_datetime,
        software=software,
        fps=args.fps,
        paramset_id=args.paramset,
        create_task=not args.no_task,
        notes=args.notes,
    )
    recording = shlex.quote(format_key(result.recording_key))
    print(("ingested recording " if result.created else "already ingested, nothing added: recording ") + recording)
    for task_key in result.task_keys:  # one per imaging plane
        print(f"processing task {shlex.quote(format_key(task_key))}")
    if result.task_key:
        print(_NEXT.format(key=recording))
    return 0


def _check_fps_option(folder: Path, software: str | None, fps: float | None) -> None:
    """Refuse ``--fps`` where the recording's files hold the frame rate, and require it for plain TIFF."""
    if not folder.is_dir():
        return  # ingest names the folder that is missing
    from element_calcium import readers

    software = software or readers.detect_software(folder)
    if software == "TIFF" and fps is None:
        raise ValueError(f"{folder}: plain TIFF files carry no frame rate; give it with --fps (Hz), e.g. --fps 30")
    if software != "TIFF" and fps is not None:
        raise ValueError(
            f"--fps applies to plain TIFF only: {folder} is a {software} recording, which records its own frame "
            "rate; leave --fps out"
        )


def _populate(args) -> int:
    from element_calcium.progress import key_text
    from workflow.paths import check_writable
    from workflow.pipeline import get_processed_root_dir, imaging

    check_writable(get_processed_root_dir())
    results = imaging.populate_all(display_progress=True, reserve_jobs=args.reserve_jobs, suppress_errors=True)
    failed = 0
    for table, outcome in results.items():
        print(f"{table}: {outcome['success_count']} made, {len(outcome['error_list'])} failed")
        for key, message in outcome["error_list"]:
            print(f"  {key_text(key)}: {message}")
        failed += len(outcome["error_list"])
    return 1 if failed else 0


def _worker(args) -> int:
    from workflow.database import wait_until_answers
    from workflow.paths import check_writable, get_processed_root_dir

    check_writable(get_processed_root_dir())
    if not args.once:
        wait_until_answers()  # a service started before its database waits for it; cron (--once) is told
    import workflow.pipeline  # noqa: F401  (activates the schemas)
    from workflow.worker import run_worker

    return run_worker(once=args.once, sleep_s=args.sleep, orphan_timeout_s=args.orphan_timeout)


def _status(args) -> int:
    import workflow.pipeline  # noqa: F401  (activates the schemas)
    from workflow import status

    print(f"{'table':<26}{'rows':>8}{'pending':>9}{'running':>9}{'error':>7}")
    for row in status.table_counts():
        jobs = "".join(f"{row[name]:>{width}}" for name, width in (("pending", 9), ("reserved", 9), ("error", 7))
                       if name in row)
        print(f"{row['table']:<26}{row['rows']:>8}{jobs}")
    print("\npending: keys no worker has computed yet; running: computed now; error: failed (`element-calcium jobs`)")
    running = status.running()
    print(f"\nrunning now: {len(running) or 'nothing'}")
    for entry in running:
        print(f"  {status.describe_running(entry)}")
    errors = status.job_errors()
    if errors:
        print(f"\n{len(errors)} job(s) in error (`element-calcium jobs --retry` runs them again):")
        for error in errors:
            print(f"  {error['table']} {error['key_text']} on {error['host']} at {error['completed_time']}:")
            print(f"    {error['error_message']}")
    return 0


def _jobs(args) -> int:
    import workflow.pipeline  # noqa: F401  (activates the schemas)
    from workflow import status

    if args.retry is None:
        for error in status.job_errors():
            print(f"{error['table']} {error['key_text']}: {error['error_message']}")
        return 0
    cleared = status.retry_errors(args.retry or None)
    print(f"cleared {cleared} job(s) in error; they run at the next populate")
    return 0


def _report(args) -> int:
    from element_calcium.report import write_report
    from workflow.keys import one
    from workflow.pipeline import imaging

    print(write_report(one(imaging.RecordingInfo, args.recording, what="--recording", noun="recording"),
                       out=args.out, progress=True))
    return 0


def _video(args) -> int:
    from element_calcium.report import generate_videos
    from workflow.keys import format_key, one
    from workflow.pipeline import imaging

    task = one(imaging.ProcessingTask, args.task, what="--task", noun="processing task")
    curations = (imaging.Curation & task).to_arrays("curation_id", order_by="curation_id")
    if args.curation not in curations:
        if not len(curations):
            raise ValueError(f"--task {format_key(task)} has no cells yet (not segmented); run `element-calcium "
                             "worker --once` first")
        raise ValueError(f"--curation {args.curation}: task {format_key(task)} has curation(s) "
                         f"{', '.join(map(str, curations))}; give one of them")
    print(generate_videos(task, curation_id=args.curation, out=args.out, progress=True))
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


def _export_nwb(args) -> int:
    from element_calcium.export import export_nwb
    from workflow.keys import parse_key
    from workflow.pipeline import events, imaging

    key = parse_key(args.recording, imaging.ProcessingTask, what="--recording")
    print(export_nwb(imaging, events, key, args.out, curation_id=args.curation, movie=args.movie, masks=args.masks,
                     species=args.species, age=args.age, indicator=args.indicator, overwrite=args.overwrite))
    return 0


def _export_minian(args) -> int:
    from element_calcium.export import export_minian
    from workflow.keys import format_key, one
    from workflow.pipeline import imaging

    task = one(imaging.ProcessingTask, args.task, what="--task", noun="processing task")
    curations = (imaging.Curation & task).to_arrays("curation_id", order_by="curation_id")
    if not len(curations):
        raise ValueError(f"--task {format_key(task)} has no cells yet (not segmented); run `element-calcium worker "
                         "--once` first")
    curation_id = int(curations[-1]) if args.curation is None else args.curation
    if curation_id not in curations:
        raise ValueError(f"--curation {curation_id}: task {format_key(task)} has curation(s) "
                         f"{', '.join(map(str, curations))}; give one of them")
    print(export_minian(imaging, {**task, "curation_id": curation_id}, args.out, overwrite=args.overwrite))
    return 0


def _app(args) -> int:
    from element_calcium.app import check_address, serve

    check_address(args.address, args.token)
    from workflow import pipeline

    print(f"element-calcium app on http://{args.address}:{args.port}/ (Ctrl-C stops it)", flush=True)
    serve(pipeline, port=args.port, address=args.address, token=args.token, show=args.show)
    return 0


def _command(commands, name: str, *, summary: str, description: str, examples: str, run) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows ``description`` and then ``examples``."""
    parser = commands.add_parser(name, help=summary, description=textwrap.fill(description, width=100),
                                 epilog="examples:\n" + examples.strip("\n"),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(run=run)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from element_calcium.readers import SOFTWARE
    from element_calcium.reservations import DEFAULT_ORPHAN_TIMEOUT_S, HEARTBEAT_S

    parser = argparse.ArgumentParser(
        prog="element-calcium", description="Calcium-imaging pipeline on DataJoint: ingest recordings, process them "
        "with workers, and look at the results. `element-calcium COMMAND --help` shows a command's options and "
        "examples.", epilog="database credentials: DJ_HOST, DJ_PORT, DJ_USER, DJ_PASS (or datajoint.json); data "
        "folders: EC_RAW_ROOT, EC_PROCESSED_ROOT; schema prefix: EC_DB_PREFIX (default ec_)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    setup = _command(commands, "setup-db", run=_setup_db,
                     summary="make sure a MySQL/MariaDB server answers; make one of its own if needed",
                     description="Make sure a database answers at DJ_HOST:DJ_PORT for DJ_USER/DJ_PASS. If none does, "
                     "make a MariaDB server of its own (data, socket and log in EC_DB_DIR, default "
                     "~/.local/share/element-calcium/mariadb) on DJ_PORT, else `docker compose up -d db`, else (as "
                     "root) install Debian's mariadb-server-core first. It never changes the users or passwords of "
                     "a server it did not create: a server that refuses the credentials is reported, with what to "
                     "set. Running it again changes nothing.", examples="""
  element-calcium setup-db                        default: 127.0.0.1:3306, user root, empty password
  DJ_PORT=3307 DJ_PASS=secret element-calcium setup-db
  element-calcium setup-db --no-install           only check""")
    setup.add_argument("--no-install", action="store_true", help="only check; never start or install a server")

    demo = _command(commands, "demo", run=_demo, summary="simulate a Miniscope recording and run the pipeline on it",
                    description="Simulate a one-photon Miniscope V4 recording with lever presses, ingest it and "
                    "populate every table, in schemas and folders of the demo's own (prefix <EC_DB_PREFIX>demo_, "
                    "folders demo/ under the raw and processed roots): your own recordings are neither read nor "
                    "computed. Run it again and again: the recording is written once.", examples="""
  element-calcium demo
  element-calcium demo --frames 600 --size 96 --cells 10      a quicker one""")
    demo.add_argument("--frames", type=int, default=1500, help="frames of the recording (default 1500, at 20 Hz)")
    demo.add_argument("--size", type=int, default=160, help="frame height and width in pixels (default 160)")
    demo.add_argument("--cells", type=int, default=30, help="cells simulated (default 30)")
    demo.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")

    ingest = _command(commands, "ingest", run=_ingest,
                      summary="enter a recording folder (under a raw root) into the pipeline",
                      description="Enter a recording folder that lies under a raw root (EC_RAW_ROOT, default "
                      "./data/raw): subject, session, recording, its metadata and a processing task, after reading "
                      "its files. Prints the recording's and the task's keys in the form `report` and `video` take. "
                      "Ingesting the same folder again adds nothing.", examples="""
  element-calcium ingest data/raw/mouse1/2024_03_01/10_30_00 --subject mouse1 --session-datetime 2024-03-01T10:30:00
  element-calcium ingest data/raw/mouse2/stack --subject mouse2 --session-datetime 2024-03-02T09:00 --fps 30
  element-calcium ingest data/raw/mouse3/session --subject mouse3 --session-datetime 2024-03-03T11:00 --paramset 10""")
    ingest.add_argument("path", help="the recording folder (Miniscope session or device folder, or TIFF folder)")
    ingest.add_argument("--subject", required=True, help="subject name; entered if new")
    ingest.add_argument("--session-datetime", required=True, help="session start, ISO-8601, e.g. 2024-03-01T10:30:00")
    ingest.add_argument("--software", default="auto", choices=("auto", *SOFTWARE),
                        help="acquisition software (default auto: detected from the files)")
    ingest.add_argument("--fps", type=float, help="frame rate (Hz) of plain TIFF stacks, which carry none; only "
                                                   "for those")
    ingest.add_argument("--notes", default="", help="free text stored with the recording (default none)")
    task = ingest.add_mutually_exclusive_group()
    task.add_argument("--paramset", type=int, help="parameter set of the processing task (default: 0 for one-photon, "
                                                   "1 for two-photon)")
    task.add_argument("--no-task", action="store_true", help="insert no processing task")

    populate = _command(commands, "populate", run=_populate, summary="populate every automatic table once",
                        description="Compute everything that is missing, once, in this process, with a progress bar "
                        "per long step. Exits with 1 when a key failed, after printing each error.", examples="""
  element-calcium populate
  element-calcium populate --reserve-jobs      beside running workers""")
    populate.add_argument("--reserve-jobs", action="store_true",
                          help="reserve each key in the jobs tables, so that running workers skip it")

    worker = _command(commands, "worker", run=_worker, summary="populate in a loop with job reservation",
                      description="Populate every automatic table in cycles, reserving each key, until SIGTERM or "
                      "Ctrl-C. Long steps log their progress every 10 s; `element-calcium status` shows it. A worker "
                      "started before its database waits for it. With --once: one cycle, exit status 1 when a key "
                      "failed (the keys are logged), 2 when the database does not answer.", examples="""
  element-calcium worker                       a cycle every 60 s
  element-calcium worker --sleep 300
  */10 * * * * cd /path/to/project && .venv/bin/element-calcium worker --once >> worker.log 2>&1    (crontab)""")
    worker.add_argument("--once", action="store_true", help="one cycle, then exit (for cron)")
    worker.add_argument("--sleep", type=float, default=60.0, help="seconds between cycles (default 60)")
    worker.add_argument("--orphan-timeout", type=float, default=DEFAULT_ORPHAN_TIMEOUT_S,
                        help="seconds without a heartbeat after which a reservation counts as abandoned (its worker "
                             f"was killed); a computing worker renews its heartbeat every {HEARTBEAT_S:g} s "
                             f"(default {DEFAULT_ORPHAN_TIMEOUT_S:g})")

    _command(commands, "status", run=_status, summary="rows, work left, what runs now and how far it is, errors",
             description="Rows per table; for each automatic table the keys still to compute (pending), being "
             "computed now (running) and failed (error); each running key with its worker and progress; and the "
             "errors.", examples="""
  element-calcium status""")

    jobs = _command(commands, "jobs", run=_jobs, summary="list jobs in error, or clear them with --retry",
                    description="List the keys that failed with their errors, or clear the errors so that the next "
                    "populate or worker cycle runs those keys again.", examples="""
  element-calcium jobs
  element-calcium jobs --retry                  every table
  element-calcium jobs --retry Segmentation""")
    jobs.add_argument("--retry", nargs="?", const="", metavar="TABLE",
                      help="clear errors (of TABLE, default every table)")

    report = _command(commands, "report", run=_report,
                      summary="write the quality-control report of a recording (HTML)",
                      description="Write one self-contained HTML page about a recording: its metadata, and per "
                      "processing task the motion, summary images, cells, traces, events and clusters computed so "
                      "far, with the parameters, the software version and the time it was made.", examples="""
  element-calcium report --recording subject=mouse1,session_datetime=2024-03-01T10:30:00,recording_id=0
  element-calcium report --recording subject=mouse1,session_datetime=2024-03-01T10:30:00 --out mouse1.html""")
    report.add_argument("--recording", required=True, metavar="KEY",
                        help="attr=value,... naming one recording (as `ingest` prints it)")
    report.add_argument("--out", help="HTML file to write (default: report.html in the recording's processed folder)")

    video = _command(commands, "video", run=_video,
                     summary="write the four-panel result movie of a processing task (MP4)",
                     description="Write an MP4 of four panels side by side: raw | motion-corrected | reconstructed "
                     "(cells' footprints times their calcium) | residual (corrected minus reconstructed).",
                     examples="""
  element-calcium video --task subject=mouse1,session_datetime=2024-03-01T10:30:00,recording_id=0,paramset_id=0
  element-calcium video --task subject=mouse1,session_datetime=2024-03-01T10:30:00 --curation 1 --out c1.mp4""")
    video.add_argument("--task", required=True, metavar="KEY",
                       help="attr=value,... naming one processing task (as `ingest` prints it)")
    video.add_argument("--curation", type=int, default=0,
                       help="curation whose cells are reconstructed (default 0: as segmented)")
    video.add_argument("--out", help="MP4 file to write (default: result_movie.mp4 in the task's output folder)")

    cleanup = _command(
        commands, "cleanup", run=_cleanup,
        summary="list files under the processed root that no row references; --delete removes them",
        description="List the pipeline's files under the processed root (and in its array store) that no row "
                    "references: temporaries of interrupted writes, results files of failed or repeated "
                    "computations, .npy files of rolled-back inserts. Files modified within the grace period are "
                    "kept (a computation in progress), and so is every file a row references and every file the "
                    "pipeline did not write. A dry run unless --delete is given.", examples="""
  element-calcium cleanup
  element-calcium cleanup --grace-hours 48 --delete""")
    cleanup.add_argument("--grace-hours", type=float, default=24.0,
                         help="keep files modified within this many hours (default 24)")
    cleanup.add_argument("--delete", action="store_true", help="remove the files listed (default: only list them)")

    export = _command(commands, "export-nwb", run=_export_nwb, summary="write a recording and its results as NWB",
                      description="Write one NWB file (pynwb): subject, session, device, imaging plane, the raw movie "
                      "(linked to the acquisition files, or the frames themselves with --movie data), motion "
                      "correction, summary images, the cells of one curation with their classification and groups, "
                      "fluorescence, dF/F and deconvolved traces, transients and behaviour events. Add "
                      "paramset_id=... to the key where the recording has several processing tasks.", examples="""
  element-calcium export-nwb --recording subject=mouse1,session_datetime=2024-03-01T10:30:00,recording_id=0 m1.nwb
  element-calcium export-nwb --recording subject=mouse1,recording_id=0 --curation 2 --movie data m1_c2.nwb
  element-calcium export-nwb --recording subject=mouse1,recording_id=0 --species 'Mus musculus' --age P90D m1.nwb""")
    export.add_argument("out", metavar="OUT.nwb", help="the NWB file to write")
    export.add_argument("--recording", required=True, metavar="KEY",
                        help="attr=value,... naming one recording (as `ingest` prints it), with paramset_id=... "
                             "where it has several processing tasks")
    export.add_argument("--curation", type=int, help="curation whose cells are written (default: the latest)")
    export.add_argument("--movie", choices=("link", "data"), default="link",
                        help="link to the raw files (default) or write the frames into the file (compressed)")
    export.add_argument("--masks", choices=("pixel", "image"), default="pixel",
                        help="cell masks as pixel lists (default) or whole images")
    export.add_argument("--species", help="the subject's species, e.g. 'Mus musculus' (the tables hold none)")
    export.add_argument("--age", help="the subject's age, ISO-8601, e.g. P90D (where no birth date is stored)")
    export.add_argument("--indicator", default="unknown", help="calcium indicator, e.g. GCaMP6f")
    export.add_argument("--overwrite", action="store_true", help="replace an existing OUT.nwb")

    minian = _command(commands, "export-minian", run=_export_minian,
                      summary="write a curation's cells and traces as a minian output folder (for CalTrig)",
                      description="Write the cells of one curation as a folder of zarr stores laid out as minian's "
                      "save_minian writes them (A, C, S, YrA, b, f, max_proj, motion, and CalTrig's DFF), which "
                      "minian's loaders and CalTrig open. The folder is written under a temporary name and renamed.",
                      examples="""
  element-calcium export-minian --task subject=mouse1,recording_id=0,paramset_id=0 m1_minian
  element-calcium export-minian --task subject=mouse1,recording_id=0,paramset_id=0 --curation 2 m1_c2_minian""")
    minian.add_argument("out", metavar="OUT_FOLDER", help="the folder to write")
    minian.add_argument("--task", required=True, metavar="KEY", help="attr=value,... naming one processing task")
    minian.add_argument("--curation", type=int, help="curation whose cells are written (default: the latest)")
    minian.add_argument("--overwrite", action="store_true", help="replace an existing folder")

    app = _command(commands, "app", summary="look at and curate the recordings in a browser",
                   description="Serve the browser app (recordings, motion, movie, cells and curation, transients, "
                   "events and clusters) on the configured database. It listens on 127.0.0.1 unless --address "
                   "says otherwise; any other address needs --token, which the login page asks for.", run=_app,
                   examples="""
  element-calcium app                                  # then open http://127.0.0.1:5006
  element-calcium app --port 8080 --show
  element-calcium app --address 0.0.0.0 --token 'a-long-secret' # reachable from other machines, with a login""")
    app.add_argument("--port", type=int, default=5006, help="TCP port (default 5006)")
    app.add_argument("--address", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    app.add_argument("--token", help="password of the login page, at least 8 characters (default: none); required "
                     "with an --address other than 127.0.0.1")
    app.add_argument("--show", action="store_true", help="open a browser tab (default: do not)")
    return parser


class _JobsTableTypeNotice(logging.Filter):
    """Drop DataJoint's notice about SQL types in the jobs tables it derives from our keys."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Native type")


def _quiet_notices() -> None:
    """Leave out DataJoint's notices that say nothing to act on: no settings file (the defaults and DJ_*
    variables apply) and MariaDB's best-effort support (the pipeline is tested on MariaDB)."""
    for message in ("No datajoint.json found", "MariaDB is not officially supported"):
        warnings.filterwarnings("ignore", message=message)


def _configure_logging(verbose: bool) -> None:
    """Log lines of the package (progress, worker) to standard error."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("element_calcium")
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("datajoint").addFilter(_JobsTableTypeNotice())


def main(argv: list[str] | None = None) -> int:
    _quiet_notices()
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
