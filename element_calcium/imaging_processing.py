"""The imaging schema's processing of a task up to its cells: motion correction, segmentation and the
classification of the masks.

These tables are declared on the imaging schema (`imaging.schema`) and used as ``imaging.<Table>``;
`imaging.activate` binds them with the rest of the schema.
"""

from __future__ import annotations

from typing import Any

import datajoint as dj
import numpy as np

from . import stages
from ._fetched import pack, unpack
from ._schema_runtime import StageTable
from ._schema_runtime import run_settings as get_run_settings
from .compute.params import ProcessingParams
from .imaging_recordings import (
    Channel,
    ProcessingParamSet,
    ProcessingTask,
    Recording,
    RecordingInfo,
    get_processed_root_dir,
    get_raw_root_dirs,
    schema,
)
from .output_dirs import results_owner
from .paths import find_full_path, path_under_root
from .progress import step_progress
from .stages.classification import ClassificationInputs
from .stages.motion import MotionInputs
from .stages.segmentation import SegmentationInputs


# ---------------------------------------------------------------------------- motion correction


def stage_settings(progress=None) -> stages.RunSettings:
    """The stages' run settings from the linking module (`get_run_settings`), with ``progress``."""
    return stages.RunSettings(**get_run_settings(), progress=progress)


@schema
class MotionCorrection(StageTable, dj.Imported):
    """Motion correction of a processing task: shifts, summary images, corrected movie (`stages.motion`).

    Attributes:
        ProcessingTask (foreign key): the task.
        motion_correct_channel: the channel registered.
        corrected_movie: the corrected movie (HDF5, `storage`) relative to the processed root; null when loaded.
        device: ``cpu`` or ``cuda``; ``none`` for results loaded from another tool.
        wall_time: (s) time spent computing or loading.
        cell_diameter_estimate: (pixels) cell diameter measured on the frames; null when given or not needed.
        registration_sigma: (pixels) inner sigma of the high-pass filter the frames were registered on (1p).
        raw_mean_correlation: median correlation of the raw template frames with their mean.
        corrected_mean_correlation: the same after correction.
        improved_fraction: share of the template frames whose correlation with the mean rose.
        quality_warning: set when the frames moved but correction did not make them agree better.
        run_record: what produced the row: start and end (UTC), host, software and version
            (`stages.run_record`); null for rows made before runs were recorded.
    """

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
    run_record=null: json                  # what produced the row: started, finished (UTC), host, software, version
    """

    class RigidMotionCorrection(dj.Part):
        """Rigid shifts: the motion of the tissue per frame, which correction moved back.

        Attributes:
            y_shifts: (T,) pixels.
            x_shifts: (T,) pixels.
            y_std: (pixels) standard deviation of y_shifts.
            x_std: (pixels) standard deviation of x_shifts.
            outlier_frames: (T,) bool, frames with an outlying shift or a low template correlation.
            template_correlation: (T,) correlation of each registered frame with the template.
        """

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
        """Piecewise-rigid correction: overlapping blocks, each with its own shifts.

        Attributes:
            block_height: (pixels) height of a block.
            block_width: (pixels) width of a block.
            block_count_y: blocks along y.
            block_count_x: blocks along x.
            outlier_frames: (T,) bool, frames with outlying block shifts.
        """

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
        """One block of the piecewise-rigid correction.

        Attributes:
            block_id: the block's number.
            block_y: (y_start, y_end) pixels, end excluded.
            block_x: (x_start, x_end) pixels, end excluded.
            y_shifts: (T,) pixels.
            x_shifts: (T,) pixels.
            y_std: (pixels) standard deviation of y_shifts.
            x_std: (pixels) standard deviation of x_shifts.
        """

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
        """Summary images of the corrected movie, each (H, W) float32.

        Attributes:
            ref_image: the registration template.
            average_image: mean over frames.
            correlation_image: mean correlation of each pixel with its 8 neighbours.
            max_proj_image: maximum over frames.
            pnr_image: peak-to-noise ratio (for CNMF-E seeding).
        """

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
            plane=int(key["plane"]),
        )
        return (inputs,)

    def make_compute(self, key: dict[str, Any], inputs: MotionInputs) -> tuple[stages.Rows]:
        with step_progress(MotionCorrection.__name__, key, step="registering frames", unit="frames") as progress:
            return (stages.run(MotionCorrection.__name__, inputs, settings=stage_settings(progress)),)


# ---------------------------------------------------------------------------- source extraction


def _segmentation_inputs(key: dict[str, Any]) -> SegmentationInputs:
    """The stage's inputs; in load mode also the raw recording and the rigid motion that maps it onto the
    loaded footprints (traces without a baseline take their background from it)."""
    task_mode, output_dir = (ProcessingTask & key).fetch1("task_mode", "processing_output_dir")
    ProcessingTask.check_output_dir(key, output_dir)
    method, params = (ProcessingParamSet & key).fetch1("processing_method", "params")
    fps, height, width, n_frames = (RecordingInfo & key).fetch1("fps", "px_height", "px_width", "nframes")
    corrected = (MotionCorrection & key).fetch1("corrected_movie")
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
            "channel": ProcessingParams.from_dict(params).functional_channel,
            "plane": int(key["plane"]),
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
class Segmentation(StageTable, dj.Computed):
    """Cells (sources) found in the motion-corrected movie, or read from another tool's results
    (`stages.segmentation`).

    Attributes:
        MotionCorrection (foreign key): the motion correction.
        results_file: footprints and traces (HDF5, `extraction_file`), relative to the processed root.
        mask_count: masks found.
        device: ``cpu`` or ``cuda``; ``none`` for results loaded from another tool.
        wall_time: (s) time spent extracting or loading.
        correlation_image: (H, W) local correlation of the seed-filtered movie.
        pnr_image: (H, W) peak-to-noise ratio of the seed-filtered movie.
        run_record: what produced the row: start and end (UTC), host, software and version
            (`stages.run_record`); null for rows made before runs were recorded.
    """

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
    run_record=null: json               # what produced the row: started, finished (UTC), host, software, version
    """

    class Mask(dj.Part):
        """One source's spatial footprint, as sparse weighted pixels.

        Attributes:
            mask_id: the mask's id.
            segmentation_channel: the channel it was found on.
            mask_npix: non-zero pixels.
            mask_center_x: (pixels) column of the weighted centroid.
            mask_center_y: (pixels) row of the weighted centroid.
            mask_xpix: (npix,) int32 column of each pixel.
            mask_ypix: (npix,) int32 row of each pixel.
            mask_weights: (npix,) float32 footprint weight of each pixel.
            mask_max_y: (pixels) row of the footprint's largest weight (CalTrig's ``centroid_max`` "height").
            mask_max_x: (pixels) column of the footprint's largest weight (CalTrig's "width").
            snr: peak of the trace over its noise.
            spatial_corr: correlation of the footprint with the movie where it is active.
            accepted: the producing tool's own accept/reject call, if it made one.
            accepted_confidence: the producing tool's probability that it is a cell.
            ar_coefficients: (p,) float32 AR coefficients g1..gp of the extraction's deconvolution of this source
                (the built-in CNMF; minian's ``g``); null where none was fitted or the tool saved none.
        """

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
        mask_max_y=null: int32            # (pixels) row of the largest weight (CalTrig's centroid_max height)
        mask_max_x=null: int32            # (pixels) column of the largest weight (CalTrig's centroid_max width)
        snr=null: float32                 # peak of the trace over its noise
        spatial_corr=null: float32        # correlation of the footprint with the movie where it is active
        accepted=null: bool               # the producing tool's own accept/reject call, if it made one
        accepted_confidence=null: float32 # the producing tool's probability that it is a cell
        ar_coefficients=null: <blob>      # (p,) float32 AR coefficients g1..gp of the extraction's deconvolution
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        return (pack(vars(_segmentation_inputs(key))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = SegmentationInputs(**unpack(inputs))
        with step_progress(Segmentation.__name__, key, step="fitting patches", unit="patches") as progress:
            return (stages.run(Segmentation.__name__, inputs, settings=stage_settings(progress)),)


@schema
class MaskType(dj.Lookup):
    """What a mask can be called.

    Attributes:
        mask_type: ``soma``, ``dendrite``, ``axon``, ``neuropil``, ``artefact`` or ``unknown``.
        mask_type_desc: what it means.
    """

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
class MaskClassification(StageTable, dj.Computed):
    """Each mask of a segmentation called soma, dendrite, artefact ... with a confidence
    (`stages.classification`).

    Attributes:
        Segmentation (foreign key): the segmentation.
        classification_method: ``quality`` (from SNR, spatial correlation, size and shape) or ``tool`` (the
            producing tool's call).
    """

    definition = """
    # each mask called soma, dendrite, artefact ... with a confidence
    -> Segmentation
    ---
    classification_method: varchar(16)   # quality: from SNR, spatial correlation, size, shape; tool: the producing tool's call
    """

    class MaskType(dj.Part):
        """The call on one mask.

        Attributes:
            Segmentation.Mask (foreign key): the mask.
            MaskType (foreign key): what it is called.
            confidence: in [0.5, 1] for quality calls; the tool's probability otherwise.
        """

        definition = """
        -> master
        -> Segmentation.Mask
        ---
        -> MaskType
        confidence=null: float32          # in [0.5, 1] for quality calls; the tool's probability otherwise
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        height, width = (RecordingInfo & key).fetch1("px_height", "px_width")
        return (pack(vars(ClassificationInputs(
            masks=(Segmentation.Mask & key).to_dicts(order_by="mask_id"),
            params=(ProcessingParamSet & key).fetch1("params"),
            frame_shape=(int(height), int(width)),
        ))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        return (stages.run(MaskClassification.__name__, ClassificationInputs(**unpack(inputs))),)
