"""The events schema's spatiotemporal events: `SpatialEvents` and its ``Event`` part.

Declared on the events schema (`events.schema`) and used as ``events.SpatialEvents``; `events.activate` binds
it with the rest of the schema. Query helpers over the stored events (astroCAST's ``Events.filter`` and
``to_numpy``) are in `element_calcium.spatial_event_queries`.
"""

from __future__ import annotations

from typing import Any

import datajoint as dj

from . import imaging, stages
from ._fetched import pack, unpack
from ._schema_runtime import StageTable
from .events import EventParamSet, schema
from .paths import find_full_path, path_under_root
from .progress import step_progress
from .stages.spatial_events import SpatialEventInputs


@schema
class SpatialEvents(StageTable, dj.Computed):
    """Spatiotemporal events (astrocyte-style) in the motion-corrected movie (`stages.spatial_events`).

    Attributes:
        event_map: the (T, H, W) int32 HDF5 movie of event ids (0: none), relative to the processed root.
        event_count: events found.
        device, wall_time: where (cpu, cuda) and how long (s) the detection ran.
        noise_image: (H, W) float32 noise standard deviation of each pixel (grey levels).
        corrected_movie: with the ``bleach_correction`` parameter, the (T, H, W) float32 HDF5 movie after
            astroCAST's Delta bleach correction, in which the events were detected (relative to the processed
            root); null without it.
        Event: per event, frames, bounding box, volume, area, duration (s), centroid, height, SNR, footprint and
            mean trace; astroCAST's shape properties of its 3-D mask (``mask_*``) and 2-D footprint (``fp_*``)
            and the footprint's outline.
    """

    definition = """
    # spatiotemporal events (astrocyte-style) in the motion-corrected movie
    -> imaging.MotionCorrection
    -> EventParamSet
    ---
    event_map: varchar(255)            # (T, H, W) int32 HDF5 movie of event ids (0: none), under the processed root
    event_count: int32
    device: varchar(8)                 # cpu | cuda
    wall_time: float32                 # (s)
    noise_image: <blob>                # (H, W) float32 noise standard deviation of each pixel (grey levels)
    corrected_movie=null: varchar(255) # (T, H, W) float32 HDF5 movie after Delta bleach correction; null: not run
    """

    class Event(dj.Part):
        definition = """
        -> master
        event_id: int32                  # 1..N in order of the first frame
        ---
        z0: int32                        # first frame (0-based)
        z1: int32                        # frame after the last
        start_time: float64              # (s) recording clock
        y0: int32                        # bounding box rows y0..y1 - 1 and columns x0..x1 - 1 (pixels)
        y1: int32
        x0: int32
        x1: int32
        volume: int32                    # voxels
        area: int32                      # footprint pixels (any frame)
        duration_s: float32
        centroid_y: float32              # (pixels) of the footprint
        centroid_x: float32
        max_height: float32              # max - min of the trace (dF or dF/F units)
        max_gradient=null: float32       # largest rise of the trace per frame; null for a one-frame event
        noise_mean: float32              # mean delta of the ring around the footprint over the event's frames
        noise_std: float32               # (no ring: of the footprint just before and after the event)
        snr=null: float32                # (max(trace) - noise_mean) / noise_std
        footprint_ypix: <blob>           # (area,) int32
        footprint_xpix: <blob>           # (area,) int32
        trace: <blob>                    # (z1 - z0,) float32 mean over the footprint
        mask_centroid_local_z=null: float32  # 3-D mask (regionprops; null for one frame): centroid in the box,
        mask_centroid_local_y=null: float32  # as a fraction of its frames, rows and columns
        mask_centroid_local_x=null: float32
        mask_axis_major_length=null: float32  # (voxels) axes of the ellipsoid with the same second moments
        mask_axis_minor_length=null: float32
        mask_extent=null: float32        # volume / bounding-box voxels
        mask_solidity=null: float32      # volume / convex-hull voxels; null: voxels in one plane
        mask_equivalent_diameter=null: float32  # (voxels) of the sphere of the same volume
        fp_axis_major_length=null: float32  # 2-D footprint (regionprops): (pixels) axes of the same-moment ellipse
        fp_axis_minor_length=null: float32
        fp_eccentricity=null: float32
        fp_equivalent_diameter=null: float32  # (pixels) of the disk of the same area
        fp_extent=null: float32          # area / bounding-box pixels
        fp_feret_diameter_max=null: float32  # (pixels)
        fp_orientation=null: float32     # (radians) major axis from the row axis
        fp_perimeter=null: float32       # (pixels)
        fp_solidity=null: float32        # area / convex-hull pixels
        fp_area_convex=null: float32     # (pixels)
        contour: <blob>                  # (K, 2) float32 (y, x) footprint outline (level 0.9); NaN rows part outlines
        """

    @property
    def key_source(self):
        corrected = imaging.MotionCorrection & "corrected_movie is not null"
        return corrected * (EventParamSet & {"detector": "spatial"}).proj()

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        processed_root = imaging.get_processed_root_dir()
        movie = find_full_path(processed_root, (imaging.MotionCorrection & key).fetch1("corrected_movie"))
        output_dir = (imaging.ProcessingTask & key).fetch1("processing_output_dir")
        imaging.ProcessingTask.check_output_dir(key, output_dir)
        return (pack(vars(SpatialEventInputs(
            movie_file=str(movie), output_dir=str(path_under_root(processed_root, output_dir)),
            output_dir_relative=output_dir, event_paramset_id=key["event_paramset_id"],
            params=(EventParamSet & key).fetch1("params"),
            frame_times=(imaging.RecordingInfo.Timestamps & key).fetch1("frame_times"),
            owner=imaging.results_owner(SpatialEvents, key),
            movie_owner=imaging.results_owner(imaging.MotionCorrection, key),
        ))),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[stages.Rows]:
        inputs = SpatialEventInputs(**unpack(inputs))
        with step_progress(SpatialEvents.__name__, key, step="detecting events (two passes)",
                           unit="frames") as progress:
            return (stages.run(SpatialEvents.__name__, inputs, settings=imaging.stage_settings(progress)),)
