"""Quality-control report and result videos of a recording, from the tables.

`write_report` makes one self-contained HTML page per recording (figures embedded as PNG): the
recording's metadata, and for each processing task the motion, the summary images with the cells'
contours, a sample of traces, counts and per-cell statistics, transients, peri-event responses,
spatiotemporal events and clusters where those exist, and the processing times and devices.
`generate_videos` writes the four-panel MP4 (raw | motion-corrected | reconstructed A·C | residual)
of a processing task. Both write under the processed root and return the path.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from . import clusters, events, imaging, plotting, readers, storage
from .paths import find_full_path

REPORT_FILE = "report.html"
VIDEO_FILE = "result_movie.mp4"
SAMPLE_TRACES = 20  # traces shown in the report, nearest-neighbour ordered
_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
img { max-width: 100%; }
"""


def _figure(figure: Figure) -> str:
    """An <img> of ``figure`` as an embedded PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}">'


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda value: f"{value:.3g}", na_rep="", border=0)


def _frame(query, columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of a query as a DataFrame, one row per entry, ordered by the first column."""
    return pd.DataFrame(dict(zip(columns, query.to_arrays(*columns, order_by=columns[0]))), columns=columns)


def _pairs(values: dict[str, Any]) -> str:
    return _table(pd.DataFrame({"field": list(values), "value": [str(value) for value in values.values()]}))


def report_path(recording_key: dict[str, Any]) -> Path:
    """Where the report of a recording is written: the processed folder of its session and recording."""
    task_dir = imaging.ProcessingTask.default_output_dir({**recording_key, "paramset_id": 0})
    return imaging.get_processed_root_dir() / Path(task_dir).parent / REPORT_FILE


def write_report(recording_key: dict[str, Any], *, out: str | Path | None = None) -> Path:
    """Write the quality-control report of a recording (a key of `imaging.RecordingInfo`); returns its path.

    Args:
        recording_key: the recording.
        out: the HTML file to write; None writes it to `report_path`.
    """
    key = (imaging.RecordingInfo & recording_key).fetch1("KEY")
    parts = [f"<h1>Recording {html.escape(_describe(key))}</h1>", "<h2>Recording</h2>", _recording_section(key)]
    for task in (imaging.ProcessingTask & key).to_dicts(order_by="paramset_id"):
        parts += [f"<h2>Processing with parameter set {task['paramset_id']} ({task['task_mode']})</h2>"]
        parts += _task_sections({name: task[name] for name in imaging.ProcessingTask.primary_key})
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(_describe(key))}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(out) if out is not None else report_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(path)
    return path


def _describe(key: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value}" for name, value in key.items())


def _recording_section(key: dict[str, Any]) -> str:
    info = (imaging.RecordingInfo & key).fetch1()
    recording = (imaging.Recording & key).fetch1()
    frame_times, dropped = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times", "dropped_frames")
    fields = {
        "acquisition software": recording["acquisition_software"], "folder": recording["recording_directory"],
        "frames": info["nframes"], "size (pixels)": f"{info['px_height']} x {info['px_width']}",
        "frame rate (Hz)": f"{info['fps']:.3f}", "duration (s)": f"{info['recording_duration']:.1f}",
        "dropped frames": dropped, "channels": info["nchannels"], "planes": info["nplanes"],
        "gain": info["gain"], "LED power": info["led_power"], "recorded": info["recording_datetime"],
        "files": len(imaging.RecordingInfo.File & key),
    }
    intervals = np.diff(frame_times)
    if len(intervals):
        fields["frame interval (ms)"] = f"median {1000 * np.median(intervals):.2f}, max {1000 * intervals.max():.2f}"
    return _pairs(fields)


def _task_sections(task: dict[str, Any]) -> list[str]:
    sections = [_motion_section(task)]
    for segmentation in (imaging.Segmentation & task).to_dicts():
        sections.append(_cells_section({name: segmentation[name] for name in imaging.Segmentation.primary_key},
                                       segmentation))
    sections.append(_spatial_section(task))
    sections.append(_times_section(task))
    return [section for section in sections if section]


def _motion_section(task: dict[str, Any]) -> str:
    if not imaging.MotionCorrection & task:
        return "<h3>Motion correction</h3><p>not computed yet</p>"
    rigid = (imaging.MotionCorrection.RigidMotionCorrection & task).fetch1()
    blocks = (imaging.MotionCorrection.Block & task).to_arrays("y_shifts", "x_shifts", order_by="block_id")
    fps = float((imaging.RecordingInfo & task).fetch1("fps"))
    block_y = np.stack(blocks[0]) if len(blocks[0]) else None
    block_x = np.stack(blocks[1]) if len(blocks[1]) else None
    figure = plotting.plot_motion(rigid["y_shifts"], rigid["x_shifts"], fps=fps, outlier_frames=rigid["outlier_frames"],
                                  block_y_shifts=block_y, block_x_shifts=block_x)
    outliers = int(np.sum(rigid["outlier_frames"])) if rigid["outlier_frames"] is not None else 0
    summary = {name: image for name, image in (imaging.MotionCorrection.Summary & task).fetch1().items()
               if name.endswith("image") and image is not None}
    return (f"<h3>Motion correction</h3><p>shift standard deviation y {rigid['y_std']:.2f} px, "
            f"x {rigid['x_std']:.2f} px; "
            f"{outliers} outlier frames</p>{_quality_paragraph(task)}{_figure(figure)}<h3>Summary images</h3>"
            f"{_figure(plotting.plot_summary_images(summary)) if summary else '<p>none</p>'}")


def _quality_paragraph(task: dict[str, Any]) -> str:
    """The correction's measured cell size, filter and quality, and its warning in bold when there is one."""
    row = (imaging.MotionCorrection & task).fetch1()
    parts = []
    if row["cell_diameter_estimate"] is not None:
        parts.append(f"cells measured {row['cell_diameter_estimate']:.1f} px across")
    if row["registration_sigma"] is not None:
        parts.append(f"registered on a {row['registration_sigma']:.2f} px high-pass filter")
    if row["raw_mean_correlation"] is not None:
        parts.append(f"frames' correlation with their mean {row['raw_mean_correlation']:.3f} raw, "
                     f"{row['corrected_mean_correlation']:.3f} corrected ({row['improved_fraction']:.0%} improved)")
    paragraph = f"<p>{'; '.join(parts)}</p>" if parts else ""
    if row["quality_warning"]:
        paragraph += f"<p class='warning'><strong>Warning: {html.escape(row['quality_warning'])}</strong></p>"
    return paragraph


def _cells_section(segmentation_key: dict[str, Any], segmentation: dict[str, Any]) -> str:
    masks = (imaging.Segmentation.Mask & segmentation_key).to_dicts(order_by="mask_id")
    kinds = dict(zip(*(imaging.MaskClassification.MaskType & segmentation_key).to_arrays("mask_id", "mask_type")))
    image = segmentation["correlation_image"]
    if image is None:
        image = (imaging.MotionCorrection.Summary & segmentation_key).fetch1("average_image")
    parts = [f"<h3>Cells</h3><p>{segmentation['mask_count']} masks: "
             + ", ".join(f"{count} {kind}" for kind, count in pd.Series(kinds).value_counts().items()) + "</p>"]
    if masks and image is not None:
        parts.append(_figure(plotting.plot_footprint_contours(image, masks, colors_by=kinds)))
    for curation in (imaging.Curation & segmentation_key).to_dicts(order_by="curation_id"):
        curation_key = {name: curation[name] for name in imaging.Curation.primary_key}
        parts.append(f"<h3>Curation {curation['curation_id']}: {html.escape(curation['curation_note'])}</h3>")
        parts.append(_traces_section(curation_key, masks))
        parts.append(_events_section(curation_key))
        parts.append(_clusters_section(curation_key, masks, image))
    return "".join(parts)


def _traces_section(curation_key: dict[str, Any], masks: list[dict[str, Any]]) -> str:
    dff_key = {**curation_key, "extraction_method": "dff"}
    mask_ids, dff = (imaging.Activity.Trace & dff_key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
    if not len(mask_ids):
        return "<p>no traces</p>"
    spikes = (imaging.Activity.Trace & curation_key & {"extraction_method": "deconvolved"}).to_arrays(
        "activity_trace", order_by="mask_id")
    fps = float((imaging.RecordingInfo & curation_key).fetch1("fps"))
    centers = {m["mask_id"]: (m["mask_center_y"], m["mask_center_x"]) for m in masks}
    known = [n for n, mask_id in enumerate(mask_ids) if mask_id in centers]
    order = np.array(known)[plotting.nn_sort(np.array([centers[mask_ids[n]] for n in known]))] if known else []
    shown = [int(n) for n in order][:SAMPLE_TRACES] or list(range(min(SAMPLE_TRACES, len(mask_ids))))
    spikes = np.stack(spikes)[shown] if len(spikes) else None
    figure = plotting.plot_traces(np.stack(dff)[shown], fps=fps, spikes=spikes, cell_ids=mask_ids[shown])
    stats = _frame(imaging.Activity.Trace & dff_key, ["mask_id", "standardized_noise"])
    default = {"event_paramset_id": events.DEFAULT_EVENT_PARAMSET_ID["transients"]}
    transients = events.Transients.CellStats & dff_key & default
    if transients:
        columns = ["mask_id", "n_transients", "rate_hz", "mean_iei_s", "mean_peak_dff", "snr"]
        stats = stats.merge(_frame(transients, columns), on="mask_id", how="left")
    return (f"<h4>Traces (dF/F, spikes as ticks; {len(shown)} of {len(mask_ids)} cells)</h4>{_figure(figure)}"
            f"<h4>Per-cell statistics</h4>{_table(stats)}")


def _events_section(curation_key: dict[str, Any]) -> str:
    parts = []
    dff_key = {**curation_key, "extraction_method": "dff"}
    mask_ids = (imaging.Activity.Trace & dff_key).to_arrays("mask_id", order_by="mask_id")
    fps, n_frames = (imaging.RecordingInfo & curation_key).fetch1("fps", "nframes")
    for transients in (events.Transients & dff_key).to_dicts():
        frames = (events.Transients.Transient & transients).to_arrays("mask_id", "onset_frame")
        onsets = [frames[1][frames[0] == mask_id] for mask_id in mask_ids]
        parts.append(f"<h4>Transients (parameter set {transients['event_paramset_id']}): "
                     f"{transients['transient_count']}</h4>")
        if len(mask_ids):
            parts.append(_figure(plotting.plot_raster(onsets, fps=float(fps), n_frames=int(n_frames),
                                                      cell_ids=mask_ids)))
    for window in (events.PeriEventWindow & dff_key).to_dicts():
        responses = _frame(events.PeriEventWindow.CellResponse & window, ["mask_id", "p_value"])
        significant = int((responses["p_value"] < 0.01).sum()) if len(responses) else 0
        parts.append(f"<h4>Peri-event: {html.escape(window['event_type'])} ({window['n_events']} events, "
                     f"{significant} of {len(responses)} cells with p &lt; 0.01)</h4>")
        tensor = np.asarray(window["windows"])
        if tensor.size:
            parts.append(_figure(plotting.plot_peri_event(tensor, window["sample_times"],
                                                          cell_ids=window["mask_ids"])))
    return "".join(parts)


def _clusters_section(curation_key: dict[str, Any], masks: list[dict[str, Any]], image) -> str:
    parts = []
    for result in (clusters.CellClustering & curation_key).to_dicts():
        key = {name: result[name] for name in clusters.CellClustering.primary_key}
        labels = dict(zip(*(clusters.CellClustering.Assignment & key).to_arrays("mask_id", "cluster")))
        parts.append(f"<h4>Cell clusters (parameter set {result['clustering_paramset_id']}, "
                     f"{result['extraction_method']}): {result['n_clusters']}, silhouette {result['silhouette']}</h4>")
        if result["n_clusters"] > 0:
            cut = [labels[int(mask_id)] for mask_id in result["clustered_ids"]]
            parts.append(_figure(plotting.plot_dendrogram(result["linkage"], labels=list(result["clustered_ids"]),
                                                          n_clusters=result["n_clusters"])))
            parts.append(_figure(plotting.plot_cluster_psd(result["frequencies"], result["features"], cut)))
            if masks and image is not None:
                parts.append(_figure(plotting.plot_cluster_footprints(image, masks, labels)))
    return "".join(parts)


def _spatial_section(task: dict[str, Any]) -> str:
    rows = (events.SpatialEvents & task).to_dicts()
    if not rows:
        return ""
    parts = ["<h3>Spatiotemporal events</h3>"]
    for row in rows:
        columns = ["event_id", "z0", "z1", "area", "volume", "duration_s", "max_height", "snr"]
        table = _frame(events.SpatialEvents.Event & row, columns)
        parts.append(f"<p>parameter set {row['event_paramset_id']}: {row['event_count']} events "
                     f"({row['device']}, {row['wall_time']:.1f} s)</p>{_table(table) if len(table) else ''}")
    return "".join(parts)


def _times_section(task: dict[str, Any]) -> str:
    rows = []
    for table in (imaging.MotionCorrection, imaging.Segmentation, events.SpatialEvents):
        for row in (table & task).to_dicts():
            rows.append({"step": table.__name__, "device": row["device"], "seconds": row["wall_time"]})
    return "<h3>Processing times</h3>" + (_table(pd.DataFrame(rows)) if rows else "<p>nothing processed yet</p>")


def generate_videos(key: dict[str, Any], *, curation_id: int = 0, out: str | Path | None = None) -> Path:
    """Write the four-panel MP4 of a processing task: raw | motion-corrected | reconstructed A·C | residual.

    Args:
        key: a key of `imaging.MotionCorrection` (with a corrected movie) and its Segmentation.
        curation_id: the curation whose cells make the reconstruction.
        out: the MP4 to write; None writes ``result_movie.mp4`` in the task's output folder.

    Raises:
        ValueError: the motion correction wrote no corrected movie (results loaded from another tool).
    """
    task = (imaging.MotionCorrection & key).fetch1("KEY")
    corrected_path = (imaging.MotionCorrection & task).fetch1("corrected_movie")
    if corrected_path is None:
        raise ValueError(f"{task}: no motion-corrected movie (results loaded from another tool)")
    processed_root = imaging.get_processed_root_dir()
    software, directory, frame_rate = (imaging.Recording & task).fetch1(
        "acquisition_software", "recording_directory", "frame_rate")
    raw = readers.read_recording(find_full_path(imaging.get_raw_root_dirs(), directory), software=software,
                                 fps=frame_rate).movie()
    corrected = storage.open_movie(find_full_path(processed_root, corrected_path))
    sources = imaging.curated_sources({**task, "curation_id": curation_id})
    calcium = sources.denoised if sources.denoised is not None else sources.fluorescence
    path = Path(out) if out is not None else (
        find_full_path(processed_root, (imaging.ProcessingTask & task).fetch1("processing_output_dir")) / VIDEO_FILE)
    try:
        frames = plotting.four_panel_frames(raw, corrected, sources.footprints, calcium)
        return plotting.write_video(frames, path, fps=raw.fps, norm=False)
    finally:
        raw.close()
        corrected.close()
