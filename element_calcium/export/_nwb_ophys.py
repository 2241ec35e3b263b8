"""The processed results of an NWB export, built as pynwb objects: motion, summary images, cells, traces, and the
transients and behaviour events as interval tables. Images and masks are written (x, y): transposed (H, W)."""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.common import DynamicTable
from pynwb import TimeSeries
from pynwb.base import Images
from pynwb.epoch import TimeIntervals
from pynwb.image import GrayscaleImage
from pynwb.ophys import DfOverF, Fluorescence, ImageSegmentation

from element_calcium.export._nwb_content import Cells, Transients
from element_calcium.loaders.nwb import BLOCK_SHIFTS, BLOCKS_TABLE, OUTLIER_FRAMES, RIGID_SHIFTS, SUMMARY_IMAGES

MOTION_SIGN = ("motion of the tissue in pixels, columns (dy, dx): dy along the rows (y, the second NWB image axis), "
               "dx along the columns (x); a feature at (y, x) of the template appears at (y + dy, x + dx) in the "
               "frame, and correction moves each frame by (-dy, -dx)")
IMAGE_DESCRIPTIONS = {
    "ref_image": "registration template of the motion correction",
    "average_image": "mean of the motion-corrected frames",
    "correlation_image": "mean correlation of each pixel with its 8 neighbours in the corrected movie",
    "max_proj_image": "maximum of the corrected frames",
    "pnr_image": "peak-to-noise ratio of the corrected movie",
    "segmentation_correlation_image": "local correlation of the seed-filtered movie (source extraction)",
    "segmentation_pnr_image": "peak-to-noise ratio of the seed-filtered movie (source extraction)",
}
TRACE_SERIES = {  # extraction method -> (container, series name, description)
    "dff": ("DfOverF", "RoiResponseSeries", "dF/F of each cell (fraction of its baseline)"),
    "deconvolved": ("Fluorescence", "Deconvolved", "deconvolved spikes of each cell (OASIS), trace units"),
    "denoised": ("Fluorescence", "Denoised", "denoised calcium of each cell (OASIS), fluorescence units"),
}
_TRANSIENT_FRAMES = ("start_frame", "onset_frame", "peak_frame", "end_frame")
_TRANSIENT_VALUES = {"peak_dff": "smoothed trace at the peak", "amplitude": "peak minus the level at the start",
                     "snr": "amplitude over the noise", "rise_s": "(s) start to peak", "decay_s": "(s) peak to end",
                     "area": "(trace units x s) above the start level, start to end"}


def add_motion(module, motion: dict[str, Any], timing: dict[str, Any]) -> None:
    """The rigid shifts (T, 2), block shifts (T, n, 2) with their ranges, outlier frames and template correlation
    as TimeSeries (and one table) of ``module``."""
    rigid = motion["rigid"]
    shifts = np.stack([rigid["y_shifts"], rigid["x_shifts"]], axis=1).astype(np.float32)
    module.add(TimeSeries(name=RIGID_SHIFTS, data=shifts, unit="pixels", description=f"rigid {MOTION_SIGN}",
                          **timing))
    if rigid["outlier_frames"] is not None:
        module.add(TimeSeries(name=OUTLIER_FRAMES, data=np.asarray(rigid["outlier_frames"], dtype=np.uint8),
                              unit="n.a.", description="1 for frames with an outlying shift or a low template "
                              "correlation, else 0", **timing))
    if rigid["template_correlation"] is not None:
        module.add(TimeSeries(name="motion_template_correlation", unit="n.a.",
                              data=np.asarray(rigid["template_correlation"], dtype=np.float32),
                              description="correlation of each registered frame with the template", **timing))
    blocks = motion["blocks"]
    if not blocks:
        return
    block_shifts = np.stack([np.stack([block["y_shifts"], block["x_shifts"]], axis=1) for block in blocks], axis=1)
    module.add(TimeSeries(name=BLOCK_SHIFTS, data=block_shifts.astype(np.float32), unit="pixels",
                          description=f"piecewise-rigid {MOTION_SIGN}; axis 1 is the block, rows of "
                          f"'{BLOCKS_TABLE}'", **timing))
    table = DynamicTable(name=BLOCKS_TABLE, description=f"pixel ranges (end excluded) of the blocks of "
                         f"'{BLOCK_SHIFTS}'", id=[int(block["block_id"]) for block in blocks])
    for index, name in enumerate(("y_start", "y_end")):
        table.add_column(name, f"(pixels) block {name.replace('_', ' ')} row",
                         data=[int(block["block_y"][index]) for block in blocks])
    for index, name in enumerate(("x_start", "x_end")):
        table.add_column(name, f"(pixels) block {name.replace('_', ' ')} column",
                         data=[int(block["block_x"][index]) for block in blocks])
    module.add(table)


def add_summary_images(module, images: dict[str, np.ndarray]) -> None:
    """Each (H, W) summary image as a GrayscaleImage (x, y) of one Images container of ``module``."""
    if not images:
        return
    module.add(Images(name=SUMMARY_IMAGES, description="summary images of the recording, (x, y) pixels",
                      images=[GrayscaleImage(name=name, data=image.T, description=IMAGE_DESCRIPTIONS.get(name, name))
                              for name, image in images.items()]))


def add_cells(module, imaging_plane, cells: Cells, *, masks: str, frame_shape: tuple[int, int],
              description: str, timing: dict[str, Any]):
    """The cells as a PlaneSegmentation (ids = mask ids; pixel or image masks, (x, y)) with their classification,
    origin and verification as columns, and their groups (ragged column ``cell_groups``, present when the curation
    has groups), and their traces as RoiResponseSeries; returns the table."""
    segmentation = ImageSegmentation(name="ImageSegmentation")
    module.add(segmentation)
    table = segmentation.create_plane_segmentation(name="PlaneSegmentation", description=description,
                                                   imaging_plane=imaging_plane)
    table.add_column("mask_type", "classification: soma, dendrite, axon, neuropil, artefact or unknown")
    table.add_column("mask_type_confidence", "confidence of the classification; NaN where none")
    table.add_column("origin", "segmented, or made by the curation: merged (from several cells) or added by hand")
    table.add_column("verified", "True for cells a curator checked and accepted")
    height, width = frame_shape
    for n, mask_id in enumerate(cells.mask_ids.tolist()):
        if masks == "image":
            image = np.zeros((width, height), dtype=np.float32)
            image[cells.xpix[n], cells.ypix[n]] = cells.weights[n]
            geometry = {"image_mask": image}
        else:
            geometry = {"pixel_mask": list(zip(cells.xpix[n].tolist(), cells.ypix[n].tolist(),
                                               cells.weights[n].tolist()))}
        table.add_roi(id=int(mask_id), mask_type=cells.mask_type[n],
                      mask_type_confidence=float(cells.confidence[n]), origin=cells.origin[n],
                      verified=bool(cells.verified[n]), **geometry)
    names = [name for groups in cells.groups for name in groups]
    if names:  # a ragged column needs at least one value
        table.add_column("cell_groups", "names of the curation's cell groups the cell belongs to", data=names,
                         index=np.cumsum([len(groups) for groups in cells.groups]).tolist())
    rois = table.create_roi_table_region("every cell of the curation", region=list(range(len(cells.mask_ids))))
    fluorescence = Fluorescence(name="Fluorescence")
    module.add(fluorescence)
    fluorescence.create_roi_response_series(
        name="RoiResponseSeries", data=cells.fluorescence.T, rois=rois, unit="a.u.",
        description="fluorescence of each cell, background removed (grey levels)", **timing)
    if cells.background is not None:
        fluorescence.create_roi_response_series(
            name="Background", data=cells.background.T, rois=rois, unit="a.u.",
            description="background (neuropil) under each cell that was removed from its fluorescence", **timing)
    for method, traces in cells.activity.items():
        container_name, name, text = TRACE_SERIES[method]
        if container_name == "DfOverF":
            container = DfOverF(name="DfOverF")
            module.add(container)
        else:
            container = fluorescence
        container.create_roi_response_series(name=name, data=traces.T, rois=rois, unit="a.u.", description=text,
                                             **timing)
    return table


def add_transients(module, sets: list[Transients], table, frame_times: np.ndarray, offset_s: float) -> None:
    """Each transient set as a TimeIntervals of ``module``: start (rise begins) to end, ordered by start, with the
    cell (``roi``, a row of ``table``; ``mask_id``), frames and measures as columns."""
    row_of = {int(mask_id): row for row, mask_id in enumerate(table.id.data)}
    for transients in sets:
        intervals = TimeIntervals(name=transients.name, description=f"{transients.description}; times in s from "
                                  "the session start, frames 0-based")
        intervals.add_column("roi", "the cell: a row of the PlaneSegmentation", table=table)
        intervals.add_column("mask_id", "the cell's mask id (PlaneSegmentation id)")
        intervals.add_column("transient_id", "the transient's number per cell, in time order")
        for name in ("onset_time", "peak_time"):
            intervals.add_column(name, f"(s) {name.split('_')[0]} of the transient")
        for name in _TRANSIENT_FRAMES:
            intervals.add_column(name, f"0-based frame of the {name.split('_')[0]}")
        for name, text in _TRANSIENT_VALUES.items():
            intervals.add_column(name, text)
        if any("added" in row for row in transients.rows):
            intervals.add_column("added", "True for transients marked by the curator rather than detected")
        start = lambda row: float(frame_times[row["start_frame"]])  # noqa: E731
        for row in sorted(transients.rows, key=start):
            extra = {"added": bool(row["added"])} if "added" in row else {}
            intervals.add_interval(
                start_time=start(row) + offset_s, stop_time=float(row["end_time"]) + offset_s,
                roi=row_of[int(row["mask_id"])], mask_id=int(row["mask_id"]), transient_id=int(row["transient_id"]),
                onset_time=float(row["onset_time"]) + offset_s, peak_time=float(row["peak_time"]) + offset_s,
                **{name: int(row[name]) for name in _TRANSIENT_FRAMES},
                **{name: float(row[name]) for name in _TRANSIENT_VALUES}, **extra)
        module.add(intervals)


def add_behavior_events(nwbfile, rows: list[dict[str, Any]], offset_s: float) -> None:
    """Behaviour events as the TimeIntervals ``behavior_events`` (start = stop = the event's time)."""
    if not rows:
        return
    intervals = TimeIntervals(name="behavior_events", description="behaviour events of the recording, each an "
                              "instant (start_time = stop_time, s from the session start)")
    intervals.add_column("event_type", "kind of event, e.g. lever or reward")
    intervals.add_column("event_id", "number of the event within its type, in time order")
    for row in rows:
        time = float(row["event_time"]) + offset_s
        intervals.add_interval(start_time=time, stop_time=time, event_type=row["event_type"],
                               event_id=int(row["event_id"]))
    nwbfile.add_time_intervals(intervals)
