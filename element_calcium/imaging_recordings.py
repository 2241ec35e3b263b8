"""The imaging schema's recordings, their metadata, parameter sets and processing tasks.

These tables are declared on the imaging schema (`imaging.schema`) and used as ``imaging.<Table>``;
`imaging.activate` binds them with the rest of the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datajoint as dj

from . import _schema_runtime, output_dirs, readers, results_file, stages
from ._schema_runtime import StageTable, check_attribute, insert_paramset, paramset_row
from .compute.params import default_params
from .paths import find_full_path, normalised_relative
from .stages.recording_info import RecordingInputs

schema = dj.Schema()

DEFAULT_METHOD = stages.BUILT_IN
DEFAULT_PARAMSET_ID = {"1p": 0, "2p": 1}
ONE_PHOTON_SOFTWARE = ("Miniscope-DAQ-V3", "Miniscope-DAQ-V4", "Inscopix")


def get_raw_root_dirs() -> list[Path]:
    """Roots holding raw recordings, from the linking module."""
    return [Path(root) for root in _schema_runtime.linking_module().get_raw_root_dirs()]


def get_processed_root_dir() -> Path:
    """Root for processing output, from the linking module."""
    return Path(_schema_runtime.linking_module().get_processed_root_dir())


def modality_of(acquisition_software: str) -> str:
    """``"1p"`` for head-mounted Miniscope and Inscopix software, ``"2p"`` for microscope TIFF stacks."""
    return "1p" if acquisition_software in ONE_PHOTON_SOFTWARE else "2p"


# ---------------------------------------------------------------------------- lookups


@schema
class AcquisitionSoftware(dj.Lookup):
    """Software that acquires recordings; it decides how a recording's files are read (`readers`).

    Attributes:
        acquisition_software: one of `readers.SOFTWARE` (``Miniscope-DAQ-V3``, ``Miniscope-DAQ-V4``, ``ScanImage``,
            ``Bruker-PrairieView``, ``TIFF``, ``Inscopix``).
    """

    definition = """
    acquisition_software: varchar(24)
    """
    contents = [{"acquisition_software": software} for software in readers.SOFTWARE]


@schema
class Channel(dj.Lookup):
    """Imaging channels.

    Attributes:
        channel: 0-based imaging channel, 0 to 3.
    """

    definition = """
    channel: int16    # 0-based imaging channel
    """
    contents = [{"channel": channel} for channel in range(4)]


# ---------------------------------------------------------------------------- recordings


@schema
class Recording(dj.Manual):
    """A recording of a session: the folder of its raw files and what acquired it.

    Attributes:
        Session (foreign key): the session (linking module).
        recording_id: the recording's number in the session.
        Equipment (foreign key): the microscope or Miniscope (linking module).
        AcquisitionSoftware (foreign key): the software that wrote the files.
        recording_directory: the folder of the raw files, relative to a raw root directory.
        frame_rate: (Hz) given by the user for files that carry none (plain TIFF); null otherwise.
        recording_notes: free text.
    """

    definition = """
    -> Session
    recording_id: int16
    ---
    -> Equipment
    -> AcquisitionSoftware
    recording_directory: varchar(255)   # relative to a raw root directory
    frame_rate=null: float32            # (Hz) given by the user for files that carry none (plain TIFF)
    recording_notes='': varchar(4095)
    """


@schema
class RecordingLocation(dj.Manual):
    """Where in the brain a recording was made.

    Attributes:
        Recording (foreign key): the recording.
        AnatomicalLocation (foreign key): the location (linking module).
    """

    definition = """
    -> Recording
    ---
    -> AnatomicalLocation
    """


@schema
class RecordingInfo(StageTable, dj.Imported):
    """Metadata read from a recording's files (`stages.recording_info`).

    Attributes:
        Recording (foreign key): the recording.
        nchannels: imaging channels.
        nplanes: imaging planes.
        nframes: frames per channel and plane.
        px_height: (pixels) frame height.
        px_width: (pixels) frame width.
        um_height: (microns) frame height, when the files say; null otherwise.
        um_width: (microns) frame width, when the files say; null otherwise.
        fps: (Hz) frame rate.
        gain: sensor gain as the files record it; null when they do not.
        spatial_downsample: factor by which acquisition downsampled the frames (1: none).
        led_power: excitation LED power as the acquisition software records it; null when it does not.
        recording_datetime: when acquisition started, when the files say.
        recording_duration: (s) from the first to the last frame time plus one frame interval.
        extra: further device metadata (device name, optional files), JSON.
    """

    definition = """
    # metadata read from the recording's files
    -> Recording
    ---
    nchannels: int16
    nplanes=1: int16
    nframes: int32                 # frames per channel and plane
    px_height: int16               # pixels
    px_width: int16                # pixels
    um_height=null: float32        # microns, when the files say
    um_width=null: float32         # microns, when the files say
    fps: float32                   # (Hz)
    gain=null: float32
    spatial_downsample=1: int16
    led_power=null: float32
    recording_datetime=null: datetime(3)
    recording_duration: float64    # (s) from the first to the last frame time plus one frame interval
    extra: json                    # further device metadata (device name, optional files)
    """

    class File(dj.Part):
        """One raw file of the recording.

        Attributes:
            file_id: acquisition order, 0-based.
            file_path: relative to a raw root directory.
        """

        definition = """
        -> master
        file_id: int32                 # acquisition order
        ---
        file_path: varchar(255)        # relative to a raw root directory
        """

    class Timestamps(dj.Part):
        """The frame times of the recording.

        Attributes:
            frame_times: (nframes,) float64 seconds from the first frame.
            dropped_frames: frames missing from gaps in the frame times.
        """

        definition = """
        -> master
        ---
        frame_times: <blob>            # (nframes,) float64 seconds from the first frame
        dropped_frames: int32          # frames missing from gaps in the frame times
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        software, directory, frame_rate = (Recording & key).fetch1(
            "acquisition_software", "recording_directory", "frame_rate"
        )
        roots = get_raw_root_dirs()
        return (RecordingInputs(folder=find_full_path(roots, directory), software=software, frame_rate=frame_rate,
                                raw_roots=roots),)

    def make_compute(self, key: dict[str, Any], inputs: RecordingInputs) -> tuple[stages.Rows]:
        return (stages.run(RecordingInfo.__name__, inputs),)


# ---------------------------------------------------------------------------- processing set-up


@schema
class ProcessingMethod(dj.Lookup):
    """The processing methods (`stages.METHODS`): ``element_calcium`` computes every stage, the others
    (``caiman``, ``suite2p``, ``minian``, ``nwb``) load that tool's results.

    Attributes:
        processing_method: the method's name.
        processing_method_desc: what it does.
    """

    definition = """
    processing_method: varchar(16)
    ---
    processing_method_desc='': varchar(1000)
    """
    contents = [{"processing_method": name, "processing_method_desc": method.description}
                for name, method in stages.METHODS.items()]


def _paramset_row(paramset_id: int, method: str, description: str, params: dict[str, Any]) -> dict[str, Any]:
    return paramset_row("paramset_id", paramset_id, description, params, purpose={"processing_method": method},
                        columns={"processing_method": method})


@schema
class ProcessingParamSet(dj.Lookup):
    """Processing parameter sets, validated, complete and hashed.

    Attributes:
        paramset_id: the set's id; 0 (one-photon) and 1 (two-photon) hold the defaults (`DEFAULT_PARAMSET_ID`).
        ProcessingMethod (foreign key): the method the set is for.
        paramset_desc: what the set is for.
        param_set_hash: MD5 UUID of the canonical JSON of method and params; no two sets share one.
        params: the complete compute parameters, every step and every value (`compute.params`).
    """

    definition = """
    paramset_id: int16
    ---
    -> ProcessingMethod
    paramset_desc: varchar(255)
    param_set_hash: uuid              # MD5 of the canonical JSON of method and params
    unique index (param_set_hash)
    params: json                      # complete compute parameters (every step, every value)
    """
    contents = [
        _paramset_row(DEFAULT_PARAMSET_ID[modality], DEFAULT_METHOD, f"{name} defaults", default_params(modality))
        for modality, name in (("1p", "one-photon"), ("2p", "two-photon"))
    ]

    @classmethod
    def insert_new_params(
        cls,
        processing_method: str,
        paramset_id: int,
        paramset_desc: str,
        params: dict[str, Any],
    ) -> None:
        """Validate, hash and insert a parameter set.

        ``processing_method`` is one of `ProcessingMethod`: ``"element_calcium"`` computes every stage, the
        others load that tool's results. The same parameters under the same id are a no-op. The same
        parameters under another id, or other parameters under a taken id, raise ``dj.DataJointError``
        naming the existing set.

        Raises:
            ValueError: an unknown processing method, an id or description that does not fit its column, or
                parameters that fail validation (unknown key, out-of-range value).
        """
        check_attribute(ProcessingMethod, "processing_method", processing_method, what="processing method")
        if not ProcessingMethod & {"processing_method": processing_method}:
            known = ", ".join(ProcessingMethod.to_arrays("processing_method"))
            raise ValueError(f"processing method {processing_method!r} is not one of ProcessingMethod ({known})")
        insert_paramset(cls, _paramset_row(paramset_id, processing_method, paramset_desc, params), "paramset_id")


@schema
class ProcessingTask(dj.Manual):
    """A processing run of one imaging plane of a recording with one parameter set.

    A recording of several planes (`RecordingInfo`'s ``nplanes``) has one task per plane and parameter set;
    every table downstream inherits ``plane`` in its key. Which channel is processed, and which one the
    motion is measured on, the parameter set says (``functional_channel``, ``align_channel``).

    Attributes:
        RecordingInfo (foreign key): the recording.
        ProcessingParamSet (foreign key): the parameter set.
        plane: 0-based imaging plane, below the recording's ``nplanes``; 0 when left out (single-plane recordings).
        processing_output_dir: the task's folder, relative to the processed root, used by no other task
            (`default_output_dir` gives one).
        task_mode: ``trigger`` computes every stage; ``load`` reads an external tool's results from that folder.
    """

    definition = """
    # a processing run of one imaging plane of a recording with one parameter set
    -> RecordingInfo
    -> ProcessingParamSet
    plane=0: int16                             # 0-based imaging plane
    ---
    processing_output_dir: varchar(255)        # relative to the processed root directory
    task_mode='trigger': enum('load', 'trigger')  # load: read an external tool's results; trigger: compute
    """

    @staticmethod
    def default_output_dir(key: dict[str, Any]) -> str:
        """A folder no other task maps to, relative to the processed root:
        ``<session key values>-<digest>/recording<id>/paramset<id>``, with ``-plane<p>`` added for every plane
        of a multi-plane recording (`output_dirs.default_output_dir`). ``plane`` left out of ``key`` is 0."""
        session_key = (_schema_runtime.linking_module().Session & key).fetch1("KEY")
        recording = {name: key[name] for name in RecordingInfo.primary_key}
        nplanes = (RecordingInfo & recording).to_arrays("nplanes")
        plane = int(key.get("plane", 0))
        return output_dirs.default_output_dir(session_key, recording_id=key["recording_id"],
                                              paramset_id=key["paramset_id"],
                                              plane=plane if plane > 0 or (len(nplanes) and nplanes[0] > 1) else None)

    @staticmethod
    def plane_keys(key: dict[str, Any]) -> list[dict[str, Any]]:
        """The task keys of every plane of the recording ``key`` with the parameter set ``key["paramset_id"]``:
        ``{**recording key, "paramset_id": ..., "plane": p}`` for p in 0 .. nplanes - 1."""
        recording = {name: key[name] for name in RecordingInfo.primary_key}
        nplanes = int((RecordingInfo & recording).fetch1("nplanes"))
        return [{**recording, "paramset_id": key["paramset_id"], "plane": plane} for plane in range(nplanes)]

    @classmethod
    def check_output_dir(cls, key: dict[str, Any], output_dir: str) -> None:
        """Refuse (ValueError) an ``output_dir`` that another task already uses; ``key`` is the task's own.

        Folders are compared as normalised relative paths (``a//b/`` and ``./a/b`` are ``a/b``); a ``key``
        without ``plane`` is plane 0's.
        """
        wanted = normalised_relative(output_dir)
        own = results_file.canonical_key(output_dirs.key_of(cls.primary_key, key))
        for row in cls.proj("processing_output_dir").to_dicts():
            try:
                folder = normalised_relative(row.pop("processing_output_dir"))
            except ValueError:  # a stored folder outside the root is refused where it is used, and is not this one
                continue
            if folder == wanted and results_file.canonical_key(row) != own:
                raise ValueError(
                    f"processing_output_dir {output_dir!r} is already the output folder of task {row}; give this "
                    "task a folder of its own (ProcessingTask.default_output_dir(key) gives one)"
                )
