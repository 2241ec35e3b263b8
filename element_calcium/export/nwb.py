"""One recording and its results as an NWB file (Neurodata Without Borders 2.x, written with pynwb).

    from workflow.pipeline import events, imaging
    from element_calcium.export import export_nwb
    export_nwb(imaging, events, {"subject": "m1", "session_datetime": ..., "recording_id": 0}, "m1.nwb",
               species="Mus musculus")

What the file holds (names as DANDI's ophys files use them; images, masks and movies are (x, y) = (column, row)):

- ``general``: the subject (id, sex, date of birth or ``age``, species), the session (start = the Session's
  ``session_datetime`` in the local time zone, or ``timezone``), the device (the Recording's Equipment), the
  imaging plane with its optical channel (frame rate, location, indicator and wavelengths when given).
- ``acquisition``: the raw movie of the processed channel as ``OnePhotonSeries`` (Miniscope) or
  ``TwoPhotonSeries``: a link to the acquisition files (``movie="link"``, paths relative to the NWB file) or the
  frames themselves (``movie="data"``), written chunk by chunk with gzip compression so memory holds one buffer.
- ``processing/ophys``: motion correction (``motion_rigid_shifts`` (T, 2), ``motion_block_shifts`` with the
  ``motion_blocks`` table, ``motion_outlier_frames``, ``motion_template_correlation``), ``summary_images``, the
  cells of one curation as ``ImageSegmentation/PlaneSegmentation`` (ids = mask ids; columns ``mask_type``,
  ``mask_type_confidence``, ``origin``, ``verified``, and ``cell_groups`` where the curation has groups),
  ``Fluorescence`` (``RoiResponseSeries``: fluorescence with the background removed; ``Background``;
  ``Deconvolved``; ``Denoised``), ``DfOverF``, and each transient set as a ``TimeIntervals`` table.
- ``intervals/behavior_events``: the recording's behaviour events.

Times are seconds from the session start: the recording clock (0 = first frame) plus the recording's start
within the session when RecordingInfo knows it. `element_calcium.loaders.nwb` reads such a file back (load mode
``nwb``).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import uuid
from types import ModuleType
from typing import Any

import numpy as np

from element_calcium.export._nwb_content import (
    ProcessingContent,
    RecordingContent,
    behavior_events,
    processing_content,
    processing_task,
    recording_content,
)

MOVIE_MODES = ("link", "data")
MASK_KINDS = ("pixel", "image")
_REGULAR_TOLERANCE = 1e-6  # relative spread of frame intervals below which frames are written with a rate


def export_nwb(
    imaging: ModuleType,
    events: ModuleType | None,
    recording_key: dict[str, Any],
    path: str | os.PathLike,
    *,
    curation_id: int | None = None,
    movie: str = "link",
    masks: str = "pixel",
    species: str | None = None,
    age: str | None = None,
    indicator: str = "unknown",
    excitation_lambda_nm: float = float("nan"),
    emission_lambda_nm: float = float("nan"),
    timezone: datetime.tzinfo | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write the recording ``recording_key`` and the results of its processing task to the NWB file ``path``.

    Args:
        imaging, events: the activated schema modules (``events`` None leaves out transients and behaviour).
        recording_key: names one ingested recording; add ``paramset_id`` where it has several processing tasks.
            A recording without a task is written without results.
        path: the ``.nwb`` file to write; written under a temporary name in the same folder, then renamed.
        curation_id: the curation whose cells and traces are written; None: the latest (highest id).
        movie: ``"link"`` (external files, relative to the NWB file's folder) or ``"data"`` (the frames).
        masks: ``"pixel"`` ((x, y, weight) per pixel) or ``"image"`` (a whole (x, y) image per cell).
        species, age: the subject's species (e.g. ``"Mus musculus"``) and ISO-8601 age (``"P90D"``), which the
            tables do not hold; NWB inspectors require an age or a date of birth.
        indicator, excitation_lambda_nm, emission_lambda_nm: of the imaging plane (NaN: not known).
        timezone: of the session's start time; None: this machine's local time zone.
        overwrite: replace an existing file at ``path``.

    Returns:
        The path written.

    Raises:
        ValueError: an unknown ``movie``/``masks`` value, a key naming no recording or several tasks, an unknown
            curation, a movie that cannot be linked (several channels or planes), or an existing ``path``
            without ``overwrite``. ImportError without pynwb.
    """
    if movie not in MOVIE_MODES:
        raise ValueError(f"movie must be one of {MOVIE_MODES}, got {movie!r}")
    if masks not in MASK_KINDS:
        raise ValueError(f"masks must be one of {MASK_KINDS}, got {masks!r}")
    path = pathlib.Path(path)
    if path.suffix != ".nwb":
        raise ValueError(f"{path}: an NWB file name ends in .nwb; give e.g. {path.with_suffix('.nwb').name}")
    if path.exists() and not overwrite:
        raise ValueError(f"{path}: the file exists; choose another name or pass overwrite=True (--overwrite)")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent}: folder not found; create it or write the NWB file elsewhere")
    try:
        from pynwb import NWBHDF5IO
    except ImportError as error:
        raise ImportError("NWB export needs pynwb: pip install 'element_calcium[nwb]'") from error
    recording = recording_content(imaging, recording_key)
    task = processing_task(imaging, {**recording.key, **recording_key})
    processing = None if task is None else processing_content(imaging, events, task, curation_id)
    nwbfile, movie_source = _build(recording, processing, behavior_events(events, recording.key), movie=movie,
                                   masks=masks, nwb_folder=path.parent.resolve(),
                                   subject_extra={"species": species, "age": age},
                                   plane_extra={"indicator": indicator, "excitation_lambda": excitation_lambda_nm,
                                                "emission_lambda": emission_lambda_nm}, timezone=timezone)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with NWBHDF5IO(str(temporary), mode="w") as io:
            io.write(nwbfile)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
        if movie_source is not None:
            movie_source.close()
    return path


def _timing(frame_times: np.ndarray, fps: float, offset_s: float) -> dict[str, Any]:
    """Timing arguments of the movie's series: a rate where the frames are evenly spaced, else timestamps."""
    intervals = np.diff(frame_times)
    if intervals.size == 0 or np.ptp(intervals) <= _REGULAR_TOLERANCE * float(np.median(intervals)):
        rate = fps if intervals.size == 0 else 1.0 / float(np.median(intervals))
        return {"starting_time": float(frame_times[0]) + offset_s, "rate": rate}
    return {"timestamps": frame_times + offset_s}


def _offset_s(recording: RecordingContent) -> float:
    """Seconds from the session start to the recording's first frame: 0 unless RecordingInfo holds the
    recording's start time and it lies at or after the session start."""
    started = recording.info.get("recording_datetime")
    if started is None or not isinstance(recording.session_start, datetime.datetime):
        return 0.0
    return max(0.0, (started - recording.session_start).total_seconds())


def _subject(recording: RecordingContent, extra: dict[str, Any], timezone):
    from pynwb.file import Subject

    row = recording.subject
    birth = row.get("subject_birth_date")
    born = None if birth is None else datetime.datetime.combine(birth, datetime.time()).replace(
        tzinfo=timezone or datetime.datetime.now().astimezone().tzinfo)
    sex = row.get("sex") if row.get("sex") in ("M", "F", "U", "O") else "U"
    return Subject(subject_id=str(row["subject"]), sex=sex, date_of_birth=born,
                   description=str(row.get("subject_description") or "") or None,
                   **{name: value for name, value in extra.items() if value is not None})


def _build(recording: RecordingContent, processing: ProcessingContent | None, behavior: list[dict[str, Any]], *,
           movie: str, masks: str, nwb_folder: pathlib.Path, subject_extra: dict[str, Any],
           plane_extra: dict[str, Any], timezone):
    """The NWBFile of the export and the open movie it reads frames from (None for a link)."""
    from pynwb import NWBFile
    from pynwb.ophys import OpticalChannel

    from element_calcium.export import _nwb_ophys

    start = recording.session_start
    start = start.replace(tzinfo=timezone) if timezone is not None else start.astimezone()
    key_text = ", ".join(f"{name}={value}" for name, value in recording.key.items())
    nwbfile = NWBFile(session_description=recording.session_note or f"calcium imaging recording {key_text}",
                      identifier=str(uuid.uuid4()), session_start_time=start,
                      session_id=key_text, subject=_subject(recording, subject_extra, timezone))
    name, text, modality = recording.equipment
    device = nwbfile.create_device(name=name, description=text or f"{modality} imaging device")
    info = recording.info
    channel = 0 if processing is None or processing.motion is None else processing.motion["channel"]
    spacing = {}
    if info["um_width"] is not None and info["um_height"] is not None:
        spacing = {"grid_spacing": [info["um_width"] / info["px_width"], info["um_height"] / info["px_height"]],
                   "grid_spacing_unit": "micrometers"}
    optical = OpticalChannel(name="OpticalChannel", description=f"channel {channel}",
                             emission_lambda=plane_extra["emission_lambda"])
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=optical, device=device, imaging_rate=float(info["fps"]),
        description=f"{modality} imaging plane of {recording.software} recording {key_text}",
        excitation_lambda=plane_extra["excitation_lambda"], indicator=plane_extra["indicator"],
        location=recording.location or "unknown", **spacing)
    offset = _offset_s(recording)
    timing = _timing(recording.frame_times, float(info["fps"]), offset)
    series, source = _movie_series(recording, plane, channel, timing, movie=movie, nwb_folder=nwb_folder,
                                   modality=modality)
    nwbfile.add_acquisition(series)
    linked = {"timestamps": series} if "timestamps" in timing else timing
    if processing is not None:
        task = processing.task
        module = nwbfile.create_processing_module(
            "ophys", f"processed with {task['processing_method']} (parameter set {task['paramset_id']}, "
            f"{task['task_mode']} mode)")
        if processing.motion is not None:
            _nwb_ophys.add_motion(module, processing.motion, linked)
        _nwb_ophys.add_summary_images(module, processing.images)
        if processing.cells is not None:
            curation = processing.curation
            text = (f"cells of curation {curation['curation_id']} ({curation['curation_note'] or 'no note'}) of "
                    f"parameter set {task['paramset_id']}; ids are the mask ids")
            table = _nwb_ophys.add_cells(module, plane, processing.cells, masks=masks, description=text,
                                         frame_shape=(int(info["px_height"]), int(info["px_width"])), timing=linked)
            _nwb_ophys.add_transients(module, processing.transients, table, recording.frame_times, offset)
    _nwb_ophys.add_behavior_events(nwbfile, behavior, offset)
    return nwbfile, source


def _movie_series(recording: RecordingContent, plane, channel: int, timing: dict[str, Any], *, movie: str,
                  nwb_folder: pathlib.Path, modality: str):
    """The raw movie's OnePhotonSeries / TwoPhotonSeries, and the open movie it reads (None for a link)."""
    from hdmf.backends.hdf5 import H5DataIO
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    from element_calcium.export._nwb_movie import MovieFrames, linked_files, open_movie

    kind = OnePhotonSeries if modality == "one-photon" else TwoPhotonSeries
    info = recording.info
    common = {"name": kind.__name__, "imaging_plane": plane, "unit": "a.u.", **timing,
              "description": f"raw frames of channel {channel} as acquired, (frames, x, y)"}
    if movie == "link":
        files, starts = linked_files(recording.files, software=recording.software, nchannels=info["nchannels"],
                                     nplanes=info["nplanes"], nframes=int(info["nframes"]), relative_to=nwb_folder)
        return kind(external_file=files, starting_frame=starts, format="external", num_samples=int(info["nframes"]),
                    dimension=[int(info["px_width"]), int(info["px_height"])], **common), None
    source = open_movie(recording.folder, software=recording.software, user_fps=recording.user_fps, channel=channel)
    data = H5DataIO(MovieFrames(source), compression="gzip", compression_opts=4)
    return kind(data=data, **common), source
