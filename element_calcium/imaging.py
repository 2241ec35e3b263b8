"""Core imaging schema: recordings, their metadata, parameter sets and processing tasks.

Activate it with a linking module that provides the upstream tables and the data roots::

    imaging.activate("ec_imaging", linking_module=my_pipeline)

The linking module must define ``Session``, ``Equipment`` and ``AnatomicalLocation`` tables
and two functions: ``get_raw_root_dirs() -> list[Path]`` (roots holding raw recordings) and
``get_processed_root_dir() -> Path`` (root for processing output). Paths stored in tables are
relative to those roots.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import datajoint as dj
import numpy as np

from . import paramsets, readers, reservations, storage
from .compute.params import default_params
from . import curation_stage
from ._fetched import pack, unpack
from .extraction_file import ExtractedSources
from .extraction_stage import (
    ACTIVITY_METHODS,
    SegmentationInputs,
    SegmentationRows,
    activity_noise,
    activity_traces,
    classify_masks,
    run_segmentation_stage,
)
from .motion_stage import MotionInputs, MotionRows, run_motion_stage
from .paths import find_full_path, normalised_relative, path_under_root, relative_to_root

schema = dj.Schema()

_linking_module: ModuleType | None = None

DEFAULT_METHOD = "element_calcium"
DEFAULT_PARAMSET_ID = {"1p": 0, "2p": 1}
ONE_PHOTON_SOFTWARE = ("Miniscope-DAQ-V3", "Miniscope-DAQ-V4")


def activate(
    schema_name: str,
    *,
    create_schema: bool = True,
    create_tables: bool = True,
    linking_module: ModuleType | str,
) -> None:
    """Bind the imaging tables to ``schema_name`` on the database server.

    Args:
        schema_name: database schema name.
        create_schema: create the schema when it does not exist yet.
        create_tables: declare tables that do not exist yet.
        linking_module: module (or its import name) with ``Session``, ``Equipment``,
            ``AnatomicalLocation``, ``get_raw_root_dirs`` and ``get_processed_root_dir``.
    """
    global _linking_module
    if isinstance(linking_module, str):
        linking_module = importlib.import_module(linking_module)
    if not inspect.ismodule(linking_module):
        raise ValueError("linking_module must be a module or the name of one")
    required = ("Session", "Equipment", "AnatomicalLocation", "get_raw_root_dirs", "get_processed_root_dir")
    missing = [name for name in required if not hasattr(linking_module, name)]
    if missing:
        raise ValueError(f"linking module {linking_module.__name__} lacks {missing}")
    _linking_module = linking_module
    if create_schema:
        create_utf8mb4_schema(schema_name)
    schema.activate(
        schema_name,
        create_schema=create_schema,
        create_tables=create_tables,
        add_objects=linking_module.__dict__,
    )


def create_utf8mb4_schema(schema_name: str) -> None:
    """Create the schema ``schema_name`` on a MySQL/MariaDB server with the utf8mb4 character set, if it is absent.

    DataJoint creates a schema in the server's default character set, on older servers latin1, whose columns
    cannot hold names in other scripts; utf8mb4 holds every character. An existing schema is left as it is.
    """
    connection = dj.conn()
    if connection.adapter.backend == "mysql":
        name = connection.adapter.quote_identifier(schema_name)
        connection.query(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")


# Python codecs of the MySQL character sets whose repertoire is smaller than Unicode's. MySQL's latin1 is
# Windows-1252; utf8 (utf8mb3) and ucs2 hold the Basic Multilingual Plane only.
_BMP_ONLY = ("utf8", "utf8mb3", "ucs2")
_CODECS = {"latin1": "cp1252", "ascii": "ascii", "latin2": "iso8859_2", "greek": "iso8859_7", "cp1251": "cp1251"}
_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}


def check_attribute(table: type[dj.Table], attribute: str, value: Any, *, what: str | None = None) -> None:
    """Refuse ``value`` for ``table``'s ``attribute`` before the server does, with a message instead of its error.

    Text must fit the column's ``varchar(N)`` (N characters) and its character set; integers the column's
    range (a bool is not an integer); floats must be finite.

    Raises:
        ValueError: naming ``what`` (default: the attribute), the value and what fits.
    """
    what = what or attribute
    sql_type = table.heading.attributes[attribute].type.lower()
    kind = sql_type.split("(")[0].split()[0]
    if kind in ("varchar", "char"):
        _check_text(table, attribute, value, what=what, length=int(sql_type.split("(")[1].split(")")[0]))
    elif kind in _INTEGER_BITS:
        bits = _INTEGER_BITS[kind] - ("unsigned" not in sql_type)
        low = 0 if "unsigned" in sql_type else -(2**bits)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value < 2**bits:
            raise ValueError(f"{what} must be an integer in [{low}, {2**bits - 1}], got {value!r}")
    elif kind in ("float", "double", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")


def _check_text(table: type[dj.Table], attribute: str, value: Any, *, what: str, length: int) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {value!r}")
    if len(value) > length:
        raise ValueError(f"{what} {value[:40]!r}... is {len(value)} characters long; at most {length} fit")
    charset = table.connection.query(
        "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        args=(table.database, table.table_name, attribute),
    ).fetchone()
    charset = (charset[0] or "").lower() if charset else ""
    if charset in _BMP_ONLY:
        unstorable = [ch for ch in value if ord(ch) > 0xFFFF]
    elif charset in _CODECS:
        unstorable = [ch for ch in value if not _encodes(ch, _CODECS[charset])]
    else:
        unstorable = []
    if unstorable:
        raise ValueError(
            f"{what} {value!r} holds characters ({''.join(dict.fromkeys(unstorable))}) that the {charset} column "
            f"{table.database}.{table.table_name}.{attribute} cannot store; use other characters, or convert the "
            "pipeline's schemas to utf8mb4 (ALTER DATABASE/TABLE ... CONVERT TO CHARACTER SET utf8mb4)"
        )


def _encodes(character: str, codec: str) -> bool:
    try:
        character.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def get_raw_root_dirs() -> list[Path]:
    """Roots holding raw recordings, from the linking module."""
    return [Path(root) for root in _linking_module.get_raw_root_dirs()]


def get_processed_root_dir() -> Path:
    """Root for processing output, from the linking module."""
    return Path(_linking_module.get_processed_root_dir())


def modality_of(acquisition_software: str) -> str:
    """``"1p"`` for head-mounted Miniscope software, ``"2p"`` for microscope TIFF stacks."""
    return "1p" if acquisition_software in ONE_PHOTON_SOFTWARE else "2p"


# ---------------------------------------------------------------------------- lookups


@schema
class AcquisitionSoftware(dj.Lookup):
    definition = """
    acquisition_software: varchar(24)
    """
    contents = [{"acquisition_software": software} for software in readers.SOFTWARE]


@schema
class Channel(dj.Lookup):
    definition = """
    channel: int16    # 0-based imaging channel
    """
    contents = [{"channel": channel} for channel in range(4)]


# ---------------------------------------------------------------------------- recordings


@schema
class Recording(dj.Manual):
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
    definition = """
    -> Recording
    ---
    -> AnatomicalLocation
    """


@schema
class RecordingInfo(dj.Imported):
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
        definition = """
        -> master
        file_id: int32                 # acquisition order
        ---
        file_path: varchar(255)        # relative to a raw root directory
        """

    class Timestamps(dj.Part):
        definition = """
        -> master
        ---
        frame_times: <blob>            # (nframes,) float64 seconds from the first frame
        dropped_frames: int32          # frames missing from gaps in the frame times
        """

    def make(self, key: dict[str, Any]) -> None:
        software, directory, frame_rate = (Recording & key).fetch1(
            "acquisition_software", "recording_directory", "frame_rate"
        )
        roots = get_raw_root_dirs()
        folder = find_full_path(roots, directory)
        metadata = readers.read_recording(folder, software=software, fps=frame_rate).metadata
        check_recording(metadata, folder=folder)
        self.insert1(
            {
                **key,
                "nchannels": metadata.nchannels,
                "nplanes": metadata.nplanes,
                "nframes": metadata.nframes,
                "px_height": metadata.height,
                "px_width": metadata.width,
                "um_height": metadata.um_height,
                "um_width": metadata.um_width,
                "fps": metadata.fps,
                "gain": metadata.gain,
                "spatial_downsample": metadata.spatial_downsample,
                "led_power": metadata.led_power,
                "recording_datetime": metadata.recording_datetime,
                "recording_duration": _duration_s(metadata.timestamps, metadata.fps),
                "extra": metadata.extra,
            }
        )
        self.File.insert(
            {**key, "file_id": file_id, "file_path": relative_to_root(roots, path)}
            for file_id, path in enumerate(metadata.files)
        )
        self.Timestamps.insert1(
            {**key, "frame_times": metadata.timestamps, "dropped_frames": metadata.dropped_frames}
        )


MIN_FRAMES = 4


def check_recording(metadata: readers.RecordingMetadata, *, folder: Path) -> None:
    """Refuse a recording the pipeline cannot process: fewer than ``MIN_FRAMES`` frames per plane.

    Deconvolution (in Segmentation and Activity) fits each trace an autoregressive model of up to second
    order, whose coefficients come from the autocovariance at lags 1..p+1 (p + 2 = 4 frames), and takes
    the trace's noise from the upper half of its power spectrum; shorter recordings leave it nothing to fit.

    Raises:
        ValueError: naming ``folder``, the frame count and the minimum.
    """
    if metadata.nframes < MIN_FRAMES:
        raise ValueError(
            f"{folder}: the recording has {metadata.nframes} frame(s) per plane; the pipeline needs at least "
            f"{MIN_FRAMES} (deconvolution fits each trace a calcium decay model over 4 frames); record longer"
        )


def _duration_s(timestamps, fps: float) -> float:
    return float(timestamps[-1] - timestamps[0]) + 1.0 / fps if len(timestamps) else 0.0


# ---------------------------------------------------------------------------- processing set-up


@schema
class ProcessingMethod(dj.Lookup):
    definition = """
    processing_method: varchar(16)
    ---
    processing_method_desc='': varchar(1000)
    """
    contents = [
        {"processing_method": method, "processing_method_desc": description}
        for method, description in (
            (DEFAULT_METHOD, "built-in: every stage computed by element_calcium"),
            ("caiman", "load CaImAn results (HDF5)"),
            ("suite2p", "load suite2p results (output folder)"),
            ("minian", "load minian results (zarr or netCDF)"),
        )
    ]


def _paramset_row(paramset_id: int, method: str, description: str, params: dict) -> dict[str, Any]:
    complete, param_hash = paramsets.prepare(method, params)
    return {
        "paramset_id": paramset_id,
        "processing_method": method,
        "paramset_desc": description,
        "param_set_hash": param_hash,
        "params": complete,
    }


def insert_paramset(table, row: dict[str, Any], id_name: str) -> None:
    """Insert the parameter-set ``row`` (with its ``param_set_hash``) into ``table``, keyed by ``id_name``.

    The same parameters under the same id are a no-op; the same parameters under another id, or other
    parameters under a taken id, raise ``dj.DataJointError`` naming the existing set.

    Raises:
        ValueError: the id or the ``paramset_desc`` does not fit its column (`check_attribute`).
    """
    check_attribute(table, id_name, row[id_name])
    check_attribute(table, "paramset_desc", row["paramset_desc"])
    same_params = table & {"param_set_hash": row["param_set_hash"]}
    if same_params:
        existing_id = same_params.fetch1(id_name)
        if existing_id == row[id_name]:
            return
        raise dj.DataJointError(
            f"these parameters are already stored as {id_name} {existing_id}; use that id instead of {row[id_name]}"
        )
    if table & {id_name: row[id_name]}:
        raise dj.DataJointError(f"{id_name} {row[id_name]} already holds different parameters; choose a free id")
    table.insert1(row)


@schema
class ProcessingParamSet(dj.Lookup):
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
        _paramset_row(DEFAULT_PARAMSET_ID["1p"], DEFAULT_METHOD, "one-photon defaults", default_params("1p")),
        _paramset_row(DEFAULT_PARAMSET_ID["2p"], DEFAULT_METHOD, "two-photon defaults", default_params("2p")),
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
    definition = """
    # a processing run of one recording with one parameter set
    -> RecordingInfo
    -> ProcessingParamSet
    ---
    processing_output_dir: varchar(255)        # relative to the processed root directory
    task_mode='trigger': enum('load', 'trigger')  # load: read an external tool's results; trigger: compute
    """

    @staticmethod
    def default_output_dir(key: dict[str, Any]) -> str:
        """A folder no other task maps to, relative to the processed root:
        ``<session key values>-<digest>/recording<id>/paramset<id>``.

        The session's values stay readable (characters other than letters, digits and ``-_.`` become
        ``-``; times ``YYYYmmdd_HHMMSS_mmm``, milliseconds kept); the digest (`storage.key_digest` of the
        whole session key) tells apart sessions whose readable forms agree (subjects ``m 1`` and ``m-1``).
        """
        session_key = (_linking_module.Session & key).fetch1("KEY")
        readable = "_".join(_path_safe(value) for value in session_key.values())[:_READABLE_CHARS]
        session_part = f"{readable}-{storage.key_digest(session_key)}"
        return f"{session_part}/recording{key['recording_id']}/paramset{key['paramset_id']}"

    @classmethod
    def check_output_dir(cls, key: dict[str, Any], output_dir: str) -> None:
        """Refuse (ValueError) an ``output_dir`` that another task already uses; ``key`` is the task's own.

        Folders are compared as normalised relative paths (``a//b/`` and ``./a/b`` are ``a/b``).
        """
        wanted = normalised_relative(output_dir)
        own = storage.canonical_key({name: key[name] for name in cls.primary_key})
        for row in cls.proj("processing_output_dir").to_dicts():
            try:
                folder = normalised_relative(row.pop("processing_output_dir"))
            except ValueError:  # a stored folder outside the root is refused where it is used, and is not this one
                continue
            if folder == wanted and storage.canonical_key(row) != own:
                raise ValueError(
                    f"processing_output_dir {output_dir!r} is already the output folder of task {row}; give this "
                    "task a folder of its own (ProcessingTask.default_output_dir(key) gives one)"
                )


_READABLE_CHARS = 100  # readable part of a default output folder name; the digest keeps longer keys apart


def _path_safe(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.strftime("%Y%m%d_%H%M%S_%f")
        text = text[:-3] if text.endswith("000") else text
    elif hasattr(value, "strftime"):
        text = value.strftime("%Y%m%d")
    else:
        text = str(value)
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def results_owner(table: type[dj.Table], key: dict[str, Any]) -> str:
    """What a results file of ``table``'s row ``key`` records as its owner (`storage.owner_text`)."""
    return storage.owner_text(schema=table.database, table=table.__name__,
                              key={name: key[name] for name in table.primary_key})


# ---------------------------------------------------------------------------- motion correction


def get_run_settings() -> dict[str, Any]:
    """Run settings (not hashed), e.g. ``device`` and ``chunk_frames``, from the linking module.

    A linking module without ``get_run_settings()`` leaves the stages' own defaults in force.
    """
    return _linking_module.get_run_settings() if hasattr(_linking_module, "get_run_settings") else {}


@schema
class MotionCorrection(dj.Imported):
    definition = """
    # motion correction of a processing task: shifts, summary images, corrected movie
    -> ProcessingTask
    ---
    -> Channel.proj(motion_correct_channel='channel')
    corrected_movie=null: varchar(255)  # HDF5 movie relative to the processed root; null when loaded
    device: varchar(8)                  # cpu | cuda | none (results loaded from another tool)
    wall_time: float32                  # (s) time spent computing or loading
    cell_diameter_estimate=null: float32   # (pixels) cell diameter measured on the frames; null: given or not needed
    registration_sigma=null: float32       # (pixels) inner sigma of the high-pass filter registered on (1p)
    raw_mean_correlation=null: float32     # median correlation of the raw template frames with their mean
    corrected_mean_correlation=null: float32  # the same after correction
    improved_fraction=null: float32        # share of the template frames whose correlation with the mean rose
    quality_warning=null: varchar(255)     # set when the frames moved but correction did not make them agree better
    """

    class RigidMotionCorrection(dj.Part):
        definition = """
        # rigid shifts: motion of the tissue per frame; correction moved it back
        -> master
        ---
        y_shifts: <blob>                 # (T,) pixels
        x_shifts: <blob>                 # (T,) pixels
        y_std: float32                   # (pixels) standard deviation of y_shifts
        x_std: float32                   # (pixels) standard deviation of x_shifts
        outlier_frames=null: <blob>      # (T,) bool, frames with outlying shift or low template correlation
        template_correlation=null: <blob>  # (T,) correlation of each registered frame with the template
        """

    class NonRigidMotionCorrection(dj.Part):
        definition = """
        # piecewise-rigid correction: overlapping blocks, each with its own shifts
        -> master
        ---
        block_height: int32              # (pixels)
        block_width: int32               # (pixels)
        block_count_y: int32             # blocks along y
        block_count_x: int32             # blocks along x
        outlier_frames=null: <blob>      # (T,) bool
        """

    class Block(dj.Part):
        definition = """
        -> master.NonRigidMotionCorrection
        block_id: int32
        ---
        block_y: <blob>                  # (y_start, y_end) pixels, end excluded
        block_x: <blob>                  # (x_start, x_end) pixels, end excluded
        y_shifts: <blob>                 # (T,) pixels
        x_shifts: <blob>                 # (T,) pixels
        y_std: float32
        x_std: float32
        """

    class Summary(dj.Part):
        definition = """
        # summary images of the corrected movie, (H, W) float32
        -> master
        ---
        ref_image=null: <blob>           # registration template
        average_image=null: <blob>       # mean over frames
        correlation_image=null: <blob>   # mean correlation of each pixel with its 8 neighbours
        max_proj_image=null: <blob>      # maximum over frames
        pnr_image=null: <blob>           # peak-to-noise ratio (for CNMF-E seeding)
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[MotionInputs]:
        task_mode, output_dir = (ProcessingTask & key).fetch1("task_mode", "processing_output_dir")
        ProcessingTask.check_output_dir(key, output_dir)
        method, params = (ProcessingParamSet & key).fetch1("processing_method", "params")
        software, directory, frame_rate = (Recording & key).fetch1(
            "acquisition_software", "recording_directory", "frame_rate"
        )
        n_frames, height, width = (RecordingInfo & key).fetch1("nframes", "px_height", "px_width")
        processed_root = get_processed_root_dir()
        output_path = (
            find_full_path(processed_root, output_dir)
            if task_mode == "load"
            else path_under_root(processed_root, output_dir)
        )
        inputs = MotionInputs(
            task_mode=task_mode,
            method=method,
            params=params,
            recording_folder=find_full_path(get_raw_root_dirs(), directory),
            software=software,
            frame_rate=frame_rate,
            output_dir=output_path,
            output_dir_relative=output_dir,
            n_frames=int(n_frames),
            frame_shape=(int(height), int(width)),
            owner=results_owner(MotionCorrection, key),
        )
        return (inputs,)

    def make_compute(self, key: dict[str, Any], inputs: MotionInputs) -> tuple[MotionRows]:
        with reservations.step_progress(MotionCorrection.__name__, key, step="registering frames",
                                        unit="frames") as progress:
            return (run_motion_stage(inputs, **get_run_settings(), progress=progress),)

    def make_insert(self, key: dict[str, Any], rows: MotionRows) -> None:
        self.insert1({**key, **rows.master})
        self.RigidMotionCorrection.insert1({**key, **rows.rigid})
        self.Summary.insert1({**key, **rows.summary})
        if rows.nonrigid is not None:
            self.NonRigidMotionCorrection.insert1({**key, **rows.nonrigid})
            self.Block.insert({**key, **block} for block in rows.blocks)


# ---------------------------------------------------------------------------- source extraction


def _segmentation_inputs(key: dict[str, Any]) -> SegmentationInputs:
    """The stage's inputs; in load mode also the raw recording and the rigid motion that maps it onto the
    loaded footprints (traces without a baseline take their background from it)."""
    task_mode, output_dir = (ProcessingTask & key).fetch1("task_mode", "processing_output_dir")
    ProcessingTask.check_output_dir(key, output_dir)
    method, params = (ProcessingParamSet & key).fetch1("processing_method", "params")
    fps, height, width, n_frames = (RecordingInfo & key).fetch1("fps", "px_height", "px_width", "nframes")
    corrected, channel = (MotionCorrection & key).fetch1("corrected_movie", "motion_correct_channel")
    rigid = (MotionCorrection.RigidMotionCorrection & key).fetch1("y_shifts", "x_shifts")
    block_y, block_x = (MotionCorrection.Block & key).to_arrays("y_shifts", "x_shifts")
    shifts = [*rigid, *block_y, *block_x]
    largest_shift = max((float(np.nanmax(np.abs(values))) for values in shifts if np.size(values)), default=0.0)
    processed_root = get_processed_root_dir()
    output_path = (
        find_full_path(processed_root, output_dir)
        if task_mode == "load"
        else path_under_root(processed_root, output_dir)
    )
    recording = {}
    if task_mode == "load":
        software, directory, frame_rate = (Recording & key).fetch1(
            "acquisition_software", "recording_directory", "frame_rate"
        )
        recording = {
            "recording_folder": find_full_path(get_raw_root_dirs(), directory),
            "software": software,
            "frame_rate": frame_rate,
            "channel": int(channel),
            "motion_shifts": np.stack(rigid, axis=1).astype(np.float32),
        }
    return SegmentationInputs(
        task_mode=task_mode,
        method=method,
        params=params,
        corrected_movie=None if corrected is None else find_full_path(processed_root, corrected),
        fps=float(fps),
        frame_shape=(int(height), int(width)),
        n_frames=int(n_frames),
        motion_border=int(np.ceil(largest_shift)),
        output_dir=output_path,
        output_dir_relative=output_dir,
        owner=results_owner(Segmentation, key),
        movie_owner=results_owner(MotionCorrection, key),
        **recording,
    )


@schema
class Segmentation(dj.Computed):
    definition = """
    # cells (sources) found in the motion-corrected movie, or read from another tool's results
    -> MotionCorrection
    ---
    results_file: varchar(255)          # footprints and traces (HDF5), relative to the processed root
    mask_count: int32
    device: varchar(8)                  # cpu | cuda | none (results loaded from another tool)
    wall_time: float32                  # (s) time spent extracting or loading
    correlation_image=null: <blob>      # (H, W) local correlation of the seed-filtered movie
    pnr_image=null: <blob>              # (H, W) peak-to-noise ratio of the seed-filtered movie
    """

    class Mask(dj.Part):
        definition = """
        # one source's spatial footprint, as sparse weighted pixels
        -> master
        mask_id: int32
        ---
        -> Channel.proj(segmentation_channel='channel')
        mask_npix: int32                  # non-zero pixels
        mask_center_x: float32            # (pixels) weighted centroid
        mask_center_y: float32            # (pixels)
        mask_xpix: <blob>                 # (npix,) int32 column of each pixel
        mask_ypix: <blob>                 # (npix,) int32 row of each pixel
        mask_weights: <blob>              # (npix,) float32 footprint weight of each pixel
        snr=null: float32                 # peak of the trace over its noise
        spatial_corr=null: float32        # correlation of the footprint with the movie where it is active
        accepted=null: bool               # the producing tool's own accept/reject call, if it made one
        accepted_confidence=null: float32 # the producing tool's probability that it is a cell
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(vars(_segmentation_inputs(key))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[SegmentationRows]:
        inputs = SegmentationInputs(**unpack(inputs))
        with reservations.step_progress(Segmentation.__name__, key, step="fitting patches",
                                        unit="patches") as progress:
            return (run_segmentation_stage(inputs, device=get_run_settings().get("device", "auto"), progress=progress),)

    def make_insert(self, key: dict[str, Any], rows: SegmentationRows) -> None:
        self.insert1({**key, **rows.master})
        self.Mask.insert({**key, **mask} for mask in rows.masks)


@schema
class MaskType(dj.Lookup):
    definition = """
    mask_type: varchar(16)
    ---
    mask_type_desc='': varchar(255)
    """
    contents = [
        {"mask_type": "soma", "mask_type_desc": "cell body: signal above noise, cell-sized and round"},
        {"mask_type": "dendrite", "mask_type_desc": "elongated process with a clear signal"},
        {"mask_type": "axon", "mask_type_desc": "axonal segment"},
        {"mask_type": "neuropil", "mask_type_desc": "diffuse neuropil signal"},
        {"mask_type": "artefact", "mask_type_desc": "no clear signal, or the wrong size for a cell"},
        {"mask_type": "unknown", "mask_type_desc": "not classified"},
    ]


@schema
class MaskClassification(dj.Computed):
    definition = """
    # each mask called soma, dendrite, artefact ... with a confidence
    -> Segmentation
    ---
    classification_method: varchar(16)   # quality: from SNR, spatial correlation, size, shape; tool: the producing tool's call
    """

    class MaskType(dj.Part):
        definition = """
        -> master
        -> Segmentation.Mask
        ---
        -> MaskType
        confidence=null: float32          # in [0.5, 1] for quality calls; the tool's probability otherwise
        """

    def make(self, key: dict[str, Any]) -> None:
        masks = (Segmentation.Mask & key).to_dicts(order_by="mask_id")
        params = (ProcessingParamSet & key).fetch1("params")
        height, width = (RecordingInfo & key).fetch1("px_height", "px_width")
        method, rows = classify_masks(masks, params=params, frame_shape=(int(height), int(width)))
        self.insert1({**key, "classification_method": method})
        self.MaskType.insert({**key, **row} for row in rows)


_NEW_CELL_ATTRIBUTES = """
        mask_npix: int32                  # non-zero pixels
        mask_center_x: float32            # (pixels) weighted centroid
        mask_center_y: float32            # (pixels)
        mask_xpix: <blob>                 # (npix,) int32 column of each pixel
        mask_ypix: <blob>                 # (npix,) int32 row of each pixel
        mask_weights: <blob>              # (npix,) float32 footprint weights, unit L2 norm
        fluorescence: <blob>              # (T,) float32 estimated from the motion-corrected movie
        background_fluorescence: <blob>   # (T,) float32 background under the footprint, same units
"""


@schema
class Curation(dj.Manual):
    definition = """
    # a version of a segmentation's cells; curation 0 is the segmentation as it came out
    -> Segmentation
    curation_id: int16
    ---
    curation_time: datetime(3)
    curator='': varchar(64)
    curation_note='': varchar(2000)
    parent_curation_id=null: int16      # the curation this one was derived from; null for curation 0
    """

    class Rejected(dj.Part):
        definition = """
        # a cell of the parent curation left out of this one
        -> master
        mask_id: int32
        """

    class Merged(dj.Part):
        definition = """
        # a new cell replacing several cells of the parent curation, re-estimated from the movie
        -> master
        mask_id: int32                    # the new cell's id
        ---
        merged_ids: <blob>                # (k,) int64 ids of the parent's cells it replaces
        """ + _NEW_CELL_ATTRIBUTES

    class Added(dj.Part):
        definition = """
        # a cell the segmentation missed, drawn by hand; footprint and traces estimated from the movie
        -> master
        mask_id: int32
        ---
        """ + _NEW_CELL_ATTRIBUTES

    class Verified(dj.Part):
        definition = """
        # a cell a curator checked and accepted (the whole set of this curation, parent's included)
        -> master
        mask_id: int32
        """

    class CellGroup(dj.Part):
        definition = """
        # named sets of cells, several per cell (the whole set of this curation, parent's included)
        -> master
        group_name: varchar(64)
        mask_id: int32
        """

    @classmethod
    def create1_from_segmentation(cls, key: dict[str, Any]) -> dict[str, Any]:
        """Curation 0 ("as segmented") of the segmentation ``key``; returns its key (a no-op when it exists)."""
        segmentation_key = (Segmentation & key).fetch1("KEY")
        curation_key = {**segmentation_key, "curation_id": 0}
        cls.insert1(
            {**curation_key, "curation_time": datetime.now(), "curation_note": "as segmented"},
            skip_duplicates=True,
        )
        return curation_key

    @classmethod
    def fill_automatic(cls) -> int:
        """Create curation 0 of every segmentation that has none; returns how many were created."""
        missing = (Segmentation - (cls & "curation_id = 0")).keys()
        for key in missing:
            cls.create1_from_segmentation(key)
        return len(missing)


def curation_chain(key: dict[str, Any]) -> list[dict[str, Any]]:
    """Keys of the curations from curation 0 to the curation ``key``, following the parents."""
    chain = []
    current = (Curation & key).fetch1()
    while True:
        chain.append({name: current[name] for name in Curation.primary_key})
        if current["parent_curation_id"] is None:
            return chain[::-1]
        current = (Curation & {**key, "curation_id": current["parent_curation_id"]}).fetch1()


def _edit_rows(key: dict[str, Any]) -> dict[str, Any]:
    """The changes curation ``key`` makes to its parent, as stored (see `curation_stage.edits_from_rows`)."""
    new_cells = [row for part in (Curation.Merged, Curation.Added) for row in (part & key).to_dicts(order_by="mask_id")]
    return {"rejected": (Curation.Rejected & key).to_arrays("mask_id"), "new_cells": new_cells}


def curation_inputs(key: dict[str, Any]) -> dict[str, Any]:
    """What the cells of curation ``key`` are made of: the segmentation's results file (path, the owner it must
    record, and its size and modification time as a fingerprint), its mask ids, each curation's changes from
    curation 0 on, and the parameter set. Small, apart from the traces of merged and added cells."""
    path = find_full_path(get_processed_root_dir(), (Segmentation & key).fetch1("results_file"))
    stat = path.stat()
    return {
        "results_file": str(path),
        "owner": results_owner(Segmentation, (Segmentation & key).fetch1("KEY")),
        "file_stamp": (stat.st_size, stat.st_mtime_ns),
        "mask_ids": (Segmentation.Mask & key).to_arrays("mask_id", order_by="mask_id"),
        "chain": [_edit_rows(link) for link in curation_chain(key)],
        "params": (ProcessingParamSet & key).fetch1("params"),
    }


def curated_sources(key: dict[str, Any]) -> ExtractedSources:
    """Footprints and traces of the cells of curation ``key`` (`curation_stage.curated_sources`)."""
    return curation_stage.curated_sources(curation_inputs(key))


@schema
class Fluorescence(dj.Computed):
    definition = """
    # fluorescence trace of each mask of a curation
    -> Curation
    """

    class Trace(dj.Part):
        definition = """
        -> master
        mask_id: int32
        -> Channel.proj(fluorescence_channel='channel')
        ---
        fluorescence: <blob>              # (T,) float32 the mask's own fluorescence, background removed (grey levels)
        background_fluorescence=null: <blob>  # (T,) float32 background / neuropil that was removed, same units
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(curation_inputs(key)),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[ExtractedSources]:
        return (curation_stage.curated_sources(unpack(inputs)),)

    def make_insert(self, key: dict[str, Any], sources: ExtractedSources) -> None:
        self.insert1(key)
        self.Trace.insert(
            {
                **key,
                "mask_id": int(mask_id),
                "fluorescence_channel": 0,
                "fluorescence": sources.fluorescence[n],
                "background_fluorescence": None if sources.background is None else sources.background[n],
            }
            for n, mask_id in enumerate(sources.mask_ids)
        )


@schema
class ActivityExtractionMethod(dj.Lookup):
    definition = """
    extraction_method: varchar(32)
    ---
    extraction_method_desc='': varchar(255)
    """
    contents = [{"extraction_method": name, "extraction_method_desc": text} for name, text in ACTIVITY_METHODS.items()]


@schema
class Activity(dj.Computed):
    definition = """
    # activity of each mask of a curation: dF/F, deconvolved spikes or denoised calcium
    -> Fluorescence
    -> ActivityExtractionMethod
    """

    class Trace(dj.Part):
        definition = """
        -> master
        -> Fluorescence.Trace
        ---
        activity_trace: <blob>            # (T,) float32
        standardized_noise=null: float32  # dF/F only: 100 median(abs(diff(dF/F))) / sqrt(fps), percent per sqrt(Hz)
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(curation_inputs(key)),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        inputs = unpack(inputs)
        sources = curation_stage.curated_sources(inputs)
        traces = activity_traces(key["extraction_method"], sources, params=inputs["params"])
        return sources.mask_ids, traces, activity_noise(key["extraction_method"], traces, fps=sources.fps)

    def make_insert(
        self, key: dict[str, Any], mask_ids: np.ndarray, traces: np.ndarray, noise: np.ndarray | None
    ) -> None:
        self.insert1(key)
        self.Trace.insert(
            {
                **key,
                "mask_id": int(mask_id),
                "fluorescence_channel": 0,
                "activity_trace": traces[n],
                "standardized_noise": None if noise is None else float(noise[n]),
            }
            for n, mask_id in enumerate(mask_ids)
        )


# ---------------------------------------------------------------------------- populate


STAGE_MODULES = ("element_calcium.imaging", "element_calcium.events", "element_calcium.clusters")


def master_tables(module_names=STAGE_MODULES) -> list[type[dj.Table]]:
    """Master (non-Part) tables of the named modules whose schemas are activated, in declaration order."""
    tables = []
    for module_name in module_names:
        module = sys.modules.get(module_name)
        if module is None or not module.schema.is_activated():
            continue
        tables.extend(
            cls
            for cls in vars(module).values()
            if inspect.isclass(cls)
            and issubclass(cls, dj.Table)
            and not issubclass(cls, dj.Part)
            and cls.__module__ == module_name
        )
    return tables


def automatic_tables() -> list[type[dj.Table]]:
    """Every Imported/Computed table of the activated element_calcium schemas, upstream first."""
    dependencies = schema.connection.dependencies
    dependencies.load()
    order = {name: index for index, name in enumerate(dependencies.topo_sort())}
    automatic = [table for table in master_tables() if issubclass(table, (dj.Imported, dj.Computed))]
    return sorted(automatic, key=lambda table: order[table.full_table_name])


def populate_all(
    display_progress: bool = True,
    reserve_jobs: bool = False,
    suppress_errors: bool = False,
    *,
    heartbeat_s: float = reservations.HEARTBEAT_S,
) -> dict[str, dict[str, Any]]:
    """Populate every automatic table in dependency order.

    Manual tables with automatic entries (curation 0 of each segmentation) are filled before
    each table is populated, so one call runs from raw recordings to activity.

    With ``reserve_jobs=True`` each key is reserved in its table's jobs table, so that other
    workers skip it, and kept by a heartbeat every ``heartbeat_s`` seconds while it is computed;
    a query that finds the database away waits for it, and a result computed meanwhile is
    inserted when it returns (``element_calcium.reservations``).

    Long steps (motion correction, segmentation, spatiotemporal events) report how far they are:
    with ``display_progress`` a tqdm bar per step on a terminal or in Jupyter, otherwise a log line
    (logger ``element_calcium.progress``) every `reservations.PROGRESS_LOG_S` seconds with the rate
    and the time left; a reserved key's progress is also written for ``element-calcium status``.

    Returns:
        ``{table name: {"success_count": int, "error_list": [(key, message), ...]}}``.
    """
    results = {}
    with reservations.showing_progress(bar=display_progress and reservations.can_draw_bars()):
        for table in automatic_tables():
            fill_automatic_entries()
            if reserve_jobs:
                results[table.__name__] = reservations.populate_reserved(
                    table, display_progress=display_progress, suppress_errors=suppress_errors, heartbeat_s=heartbeat_s
                )
            else:
                results[table.__name__] = table.populate(display_progress=display_progress,
                                                         suppress_errors=suppress_errors)
    return results


def fill_automatic_entries() -> None:
    """Insert the automatic rows of Manual tables that define ``fill_automatic()`` (e.g. Curation 0)."""
    for table in master_tables():
        if issubclass(table, dj.Manual) and hasattr(table, "fill_automatic"):
            table.fill_automatic()
