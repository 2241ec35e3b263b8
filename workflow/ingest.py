"""Ingest a recording folder: session, recording, its metadata and its processing tasks, one per imaging plane.

Everything a later worker needs is entered here, so a folder goes from raw files to results
with no further typing. The recording's files are read before anything is inserted, so a bad
folder is refused with nothing stored; ingesting the same folder again adds nothing.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from element_calcium import readers
from element_calcium.compute.params import ProcessingParams
from element_calcium.paths import relative_to_root
from element_calcium.stages.motion_channels import check_plane_and_channels
from element_calcium.stages.recording_info import check_recording

DEFAULT_EQUIPMENT = {
    "Miniscope-DAQ-V3": "Miniscope-V3",
    "Miniscope-DAQ-V4": "Miniscope-V4",
    "ScanImage": "Two-photon microscope",
    "Bruker-PrairieView": "Two-photon microscope",
    "TIFF": "Two-photon microscope",
    "Inscopix": "Inscopix miniscope",
}


@dataclass(frozen=True)
class IngestResult:
    """What ``ingest_recording`` did.

    Attributes:
        recording_key: primary key of the Recording.
        created: False when the folder had been ingested before (nothing was added).
        task_key: primary key of the ProcessingTask of plane 0, or None when no task exists.
        task_keys: primary keys of the ProcessingTasks, one per plane (plane 0 first); empty when none exists.
    """

    recording_key: dict[str, Any]
    created: bool
    task_key: dict[str, Any] | None
    task_keys: tuple[dict[str, Any], ...] = ()


def ingest_recording(
    folder: str | Path,
    *,
    subject: str,
    session_datetime: datetime.datetime,
    software: str | None = None,
    fps: float | None = None,
    paramset_id: int | None = None,
    create_task: bool = True,
    equipment: str | None = None,
    notes: str = "",
) -> IngestResult:
    """Insert Subject, Session, Recording, RecordingInfo and (by default) a ProcessingTask per imaging plane.

    Args:
        folder: the recording folder; it must lie under a raw root directory.
        subject: subject name; created if new.
        session_datetime: start of the session; the session is created if new.
        software: one of ``readers.SOFTWARE``; None detects it from the files.
        fps: frame rate (Hz) for plain TIFF stacks, which carry none.
        paramset_id: parameter set of the task; None takes the built-in default of the
            recording's modality (one-photon for Miniscope, two-photon for TIFF).
        create_task: insert a ProcessingTask in trigger mode for each plane of the recording, each with its own
            output folder (`ProcessingTask.default_output_dir`).
        equipment: Equipment entry; None takes the default of the acquisition software.
        notes: free text stored with the recording.

    Raises:
        ValueError: the folder is a file, outside every raw root (itself or through a symbolic
            link), already ingested under another session or with another frame rate (or fps given
            for an ingested recording that records its own), or its files are malformed (the
            reader's message names the file); a subject, time, equipment, notes or parameter set
            that the tables cannot hold; a parameter set whose ``functional_channel`` or ``align_channel`` the
            recording does not have; or a task's output folder is already another task's.
            Nothing is stored then.
        FileNotFoundError: the folder or a required file does not exist.
    """
    from workflow.pipeline import Equipment, Session, Subject, get_raw_root_dirs, imaging

    roots = get_raw_root_dirs()
    folder = _recording_folder(folder, roots)
    relative = relative_to_root(roots, folder)
    imaging.check_attribute(imaging.Recording, "recording_directory", relative,
                            what="recording folder (relative to its raw root)")
    _check_name(subject, "subject")
    imaging.check_attribute(Subject, "subject", subject, what="subject")
    _check_session_datetime(session_datetime)
    imaging.check_attribute(imaging.Recording, "recording_notes", notes, what="notes")
    session_key = {"subject": subject, "session_datetime": session_datetime}

    existing = imaging.Recording & {"recording_directory": relative}
    if existing:
        return _existing(imaging, existing.fetch1("KEY"), session_key, relative, fps=fps)

    software = software or readers.detect_software(folder)
    recording = readers.read_recording(folder, software=software, fps=fps)  # a bad folder fails here
    check_recording(recording.metadata, folder=folder)
    _check_links(folder, roots)
    for path in recording.metadata.files:
        imaging.check_attribute(imaging.RecordingInfo.File, "file_path", relative_to_root(roots, path),
                                what="recording file (relative to its raw root)")
    equipment = equipment or DEFAULT_EQUIPMENT[software]
    imaging.check_attribute(Equipment, "equipment", equipment, what="equipment")
    if not Equipment & {"equipment": equipment}:
        known = ", ".join(Equipment.to_arrays("equipment"))
        raise ValueError(f"equipment {equipment!r} is not in Equipment ({known}); insert it there first")
    modality = imaging.modality_of(software)
    paramset_id = imaging.DEFAULT_PARAMSET_ID[modality] if paramset_id is None else paramset_id
    imaging.check_attribute(imaging.ProcessingParamSet, "paramset_id", paramset_id, what="paramset_id")
    if not imaging.ProcessingParamSet & {"paramset_id": paramset_id}:
        raise ValueError(f"paramset_id {paramset_id} does not exist in ProcessingParamSet")
    if create_task:
        _check_channels(imaging, paramset_id, folder, recording.metadata)

    connection = imaging.schema.connection
    with connection.transaction:
        new_subject = not Subject & {"subject": subject}
        Subject.insert1({"subject": subject}, skip_duplicates=True)
        new_session = not Session & session_key
        Session.insert1(session_key, skip_duplicates=True)
        recording_key = {**session_key, "recording_id": _next_recording_id(imaging, session_key)}
        imaging.Recording.insert1(
            {
                **recording_key,
                "equipment": equipment,
                "acquisition_software": software,
                "recording_directory": relative,
                "frame_rate": fps,
                "recording_notes": notes,
            }
        )
    try:
        imaging.RecordingInfo.populate(recording_key)
        task_keys = _insert_tasks(imaging, recording_key, paramset_id) if create_task else []
    except BaseException:
        _undo(imaging, recording_key, Session & session_key if new_session else None,
              Subject & {"subject": subject} if new_subject else None)
        raise
    return IngestResult(recording_key=recording_key, created=True, task_key=task_keys[0] if task_keys else None,
                        task_keys=tuple(task_keys))


def _recording_folder(folder: str | Path, roots: list[Path]) -> Path:
    """The recording folder, resolved; refuses, saying what it is, a path that is no folder under a raw root."""
    given = Path(folder).expanduser().absolute()
    resolved = given.resolve()
    if not resolved.exists():
        if given.is_symlink():
            raise FileNotFoundError(f"recording folder {given} is a symbolic link to {resolved}, which does not exist")
        raise FileNotFoundError(f"recording folder {given} does not exist")
    if not resolved.is_dir():
        raise ValueError(f"{given} is a file, not a folder; give the folder that holds the recording's files")
    _check_inside_roots(given, resolved, roots)
    return resolved


def _check_inside_roots(given: Path, resolved: Path, roots: list[Path]) -> None:
    """Refuse a path under a raw root that a symbolic link leads out of every raw root."""
    inside = any(resolved.is_relative_to(root) for root in roots)
    if not inside and resolved != Path(os.path.normpath(given)):
        listed = ", ".join(str(root) for root in roots)
        raise ValueError(
            f"{given} is reached through a symbolic link that leads to {resolved}, outside every raw root "
            f"({listed}); move or copy the recording under a raw root, or add the root that holds it to EC_RAW_ROOT"
        )


def _check_links(folder: Path, roots: list[Path]) -> None:
    """Refuse symbolic links inside the recording folder that lead out of every raw root (names the first)."""
    for parent, directories, files in os.walk(folder):
        for name in (*directories, *files):
            link = Path(parent) / name
            if link.is_symlink():
                _check_inside_roots(link, link.resolve(), roots)


def _check_name(value: Any, what: str) -> None:
    """A name used as a key: text, not empty, without surrounding spaces or control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty name, got {value!r}")
    if value != value.strip() or not value.isprintable():
        raise ValueError(f"{what} {value!r} has surrounding spaces or control characters; give it without them")


def _check_session_datetime(value: Any) -> None:
    """A date and time from year 1000 on (what a MySQL datetime holds)."""
    if not isinstance(value, datetime.datetime):
        raise ValueError(f"session_datetime must be a datetime (e.g. 2024-03-01T10:30:00), got {value!r}")
    if value.year < 1000:
        raise ValueError(f"session_datetime {value} lies before the year 1000, which the database cannot store")


def _existing(imaging, recording_key, session_key, relative, *, fps: float | None) -> IngestResult:
    if {name: recording_key[name] for name in session_key} != session_key:
        raise ValueError(
            f"{relative} is already ingested as subject={recording_key['subject']!r}, "
            f"session_datetime={recording_key['session_datetime']}; not adding it again"
        )
    software, frame_rate = (imaging.Recording & recording_key).fetch1("acquisition_software", "frame_rate")
    if fps is not None and software != "TIFF":
        raise ValueError(
            f"{relative} is an ingested {software} recording, which records its own frame rate; the frame rate "
            "(fps) applies to plain TIFF only: leave it out"
        )
    if fps is not None and frame_rate is not None and abs(float(fps) - float(frame_rate)) > 1e-6 * float(frame_rate):
        raise ValueError(
            f"{relative} is already ingested at {float(frame_rate):g} Hz, not {float(fps):g} Hz; to change its frame "
            "rate, delete the recording and ingest it again"
        )
    tasks = (imaging.ProcessingTask & recording_key).keys(order_by=("paramset_id", "plane"))
    return IngestResult(recording_key=recording_key, created=False, task_key=tasks[0] if tasks else None,
                        task_keys=tuple(tasks))


def _next_recording_id(imaging, session_key) -> int:
    ids = (imaging.Recording & session_key).to_arrays("recording_id")
    return int(ids.max()) + 1 if len(ids) else 0


def _check_channels(imaging, paramset_id: int, folder: Path, metadata: readers.RecordingMetadata) -> None:
    """Refuse a parameter set whose functional or align channel the recording does not have."""
    params = (imaging.ProcessingParamSet & {"paramset_id": paramset_id}).fetch1("params")
    check_plane_and_channels(metadata, ProcessingParams.from_dict(params), plane=0, folder=folder)


def _insert_tasks(imaging, recording_key, paramset_id) -> list[dict[str, Any]]:
    """One task per plane of the recording, each in its own output folder, inserted together."""
    task_keys = imaging.ProcessingTask.plane_keys({**recording_key, "paramset_id": paramset_id})
    rows = []
    for task_key in task_keys:
        output_dir = imaging.ProcessingTask.default_output_dir(task_key)
        imaging.ProcessingTask.check_output_dir(task_key, output_dir)  # a folder another task uses is refused
        rows.append({**task_key, "processing_output_dir": output_dir, "task_mode": "trigger"})
    imaging.ProcessingTask.insert(rows)
    return task_keys


def _undo(imaging, recording_key, new_session, new_subject) -> None:
    """Remove what a failed ingest inserted, leaving what existed before."""
    for query in (imaging.Recording & recording_key, new_session, new_subject):
        if query is not None:
            query.delete(prompt=False)


def parse_datetime(text: str) -> datetime.datetime:
    """Parse an ISO-8601 session time (``2024-03-01T10:30:00`` or ``2024-03-01 10:30``)."""
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError as error:
        raise ValueError(f"session datetime {text!r} is not ISO-8601 (e.g. 2024-03-01T10:30:00)") from error
