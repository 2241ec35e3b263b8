"""Ingest a recording folder: session, recording, its metadata and a processing task.

Everything a later worker needs is entered here, so a folder goes from raw files to results
with no further typing. The recording's files are read before anything is inserted, so a bad
folder is refused with nothing stored; ingesting the same folder again adds nothing.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from element_calcium import readers
from element_calcium.paths import relative_to_root

DEFAULT_EQUIPMENT = {
    "Miniscope-DAQ-V3": "Miniscope-V3",
    "Miniscope-DAQ-V4": "Miniscope-V4",
    "ScanImage": "Two-photon microscope",
    "Bruker-PrairieView": "Two-photon microscope",
    "TIFF": "Two-photon microscope",
}


@dataclass(frozen=True)
class IngestResult:
    """What ``ingest_recording`` did.

    Attributes:
        recording_key: primary key of the Recording.
        created: False when the folder had been ingested before (nothing was added).
        task_key: primary key of the ProcessingTask, or None when no task exists.
    """

    recording_key: dict[str, Any]
    created: bool
    task_key: dict[str, Any] | None


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
    """Insert Subject, Session, Recording, RecordingInfo and (by default) a ProcessingTask.

    Args:
        folder: the recording folder; it must lie under a raw root directory.
        subject: subject name; created if new.
        session_datetime: start of the session; the session is created if new.
        software: one of ``readers.SOFTWARE``; None detects it from the files.
        fps: frame rate (Hz) for plain TIFF stacks, which carry none.
        paramset_id: parameter set of the task; None takes the built-in default of the
            recording's modality (one-photon for Miniscope, two-photon for TIFF).
        create_task: insert a ProcessingTask in trigger mode.
        equipment: Equipment entry; None takes the default of the acquisition software.
        notes: free text stored with the recording.

    Raises:
        ValueError: the folder is outside every raw root, already ingested under another
            session, or its files are malformed (the reader's message names the file).
        FileNotFoundError: the folder or a required file does not exist.
    """
    from workflow.pipeline import Session, Subject, get_raw_root_dirs, imaging

    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"recording folder {folder} does not exist")
    relative = relative_to_root(get_raw_root_dirs(), folder)
    session_key = {"subject": subject, "session_datetime": session_datetime}

    existing = imaging.Recording & {"recording_directory": relative}
    if existing:
        return _existing(imaging, existing.fetch1("KEY"), session_key, relative)

    software = software or readers.detect_software(folder)
    readers.read_recording(folder, software=software, fps=fps)  # a bad folder fails here, before any insert
    modality = imaging.modality_of(software)
    paramset_id = imaging.DEFAULT_PARAMSET_ID[modality] if paramset_id is None else paramset_id
    if not imaging.ProcessingParamSet & {"paramset_id": paramset_id}:
        raise ValueError(f"paramset_id {paramset_id} does not exist in ProcessingParamSet")

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
                "equipment": equipment or DEFAULT_EQUIPMENT[software],
                "acquisition_software": software,
                "recording_directory": relative,
                "frame_rate": fps,
                "recording_notes": notes,
            }
        )
    try:
        imaging.RecordingInfo.populate(recording_key)
        task_key = _insert_task(imaging, recording_key, paramset_id) if create_task else None
    except BaseException:
        _undo(imaging, recording_key, Session & session_key if new_session else None,
              Subject & {"subject": subject} if new_subject else None)
        raise
    return IngestResult(recording_key=recording_key, created=True, task_key=task_key)


def _existing(imaging, recording_key, session_key, relative) -> IngestResult:
    if {name: recording_key[name] for name in session_key} != session_key:
        raise ValueError(
            f"{relative} is already ingested as subject={recording_key['subject']!r}, "
            f"session_datetime={recording_key['session_datetime']}; not adding it again"
        )
    tasks = (imaging.ProcessingTask & recording_key).keys()
    return IngestResult(recording_key=recording_key, created=False, task_key=tasks[0] if tasks else None)


def _next_recording_id(imaging, session_key) -> int:
    ids = (imaging.Recording & session_key).to_arrays("recording_id")
    return int(ids.max()) + 1 if len(ids) else 0


def _insert_task(imaging, recording_key, paramset_id) -> dict[str, Any]:
    task_key = {**recording_key, "paramset_id": paramset_id}
    imaging.ProcessingTask.insert1(
        {
            **task_key,
            "processing_output_dir": imaging.ProcessingTask.default_output_dir(task_key),
            "task_mode": "trigger",
        }
    )
    return task_key


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
