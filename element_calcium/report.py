"""Quality-control report and result videos of a recording, from the tables.

`write_report` makes one self-contained HTML page per recording (figures embedded as PNG): when and with
which software version it was made; the recording's metadata (with a warning when the files' start time and
the session time disagree by more than a day); and for each processing task the parameters used, the
motion, the summary images with the cells' contours, a sample of traces with a dF/F scale bar, counts and
per-cell statistics, transients, peri-event responses, spatiotemporal events and clusters where those
exist, and the processing times and devices. Each section says which trace it uses (dF/F, deconvolved
spikes, denoised calcium) and which parameter set. `generate_videos` writes the four-panel MP4 (raw |
motion-corrected | reconstructed A·C | residual) of a processing task. Both write under the processed root
(unless told where) and return the path; with ``progress`` they show how far they are.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from scipy.cluster import hierarchy

from . import clusters, events, imaging, plotting, readers, storage
from .progress import can_draw_bars, key_text, showing_progress, step_progress
from .paths import find_full_path

REPORT_FILE = "report.html"
VIDEO_FILE = "result_movie.mp4"
SAMPLE_TRACES = 20  # traces shown in the report, nearest-neighbour ordered
SESSION_MISMATCH_S = 86400.0  # (s) start times of recording and session further apart than this are flagged
NOT_RECORDED = "not recorded"
TRACE_NAMES = {"dff": "dF/F", "deconvolved": "deconvolved spikes", "denoised": "denoised calcium"}
_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
img { max-width: 100%; } .warning { color: #a00; } .made { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.5em; font-size: 0.8em; overflow-x: auto; }
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
    return _table(pd.DataFrame({"field": list(values), "value": [_shown(value) for value in values.values()]}))


def _shown(value: Any) -> str:
    """A value for the page: "not recorded" for a missing one, numbers to three significant digits."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return NOT_RECORDED
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    return str(value)


def _warning(text: str) -> str:
    return f"<p class='warning'><strong>Warning: {html.escape(text)}</strong></p>"


def _paramset(kind: str, paramset_id: int, description: str, params: Any) -> tuple[str, str]:
    """The name of a parameter set as every section writes it, and a collapsed block with its stored values."""
    name = f"{kind} parameter set {paramset_id} (“{html.escape(description)}”)"
    values = html.escape(json.dumps(params, indent=1, sort_keys=True, default=str), quote=False)
    return name, f"<details><summary>values of {name}</summary><pre>{values}</pre></details>"


def report_path(recording_key: dict[str, Any]) -> Path:
    """Where the report of a recording is written: the processed folder of its session and recording."""
    task_dir = imaging.ProcessingTask.default_output_dir({**recording_key, "paramset_id": 0})
    return imaging.get_processed_root_dir() / Path(task_dir).parent / REPORT_FILE


def write_report(recording_key: dict[str, Any], *, out: str | Path | None = None, progress: bool = False) -> Path:
    """Write the quality-control report of a recording (a key of `imaging.RecordingInfo`); returns its path.

    Args:
        recording_key: the recording.
        out: the HTML file to write; None writes it to `report_path`.
        progress: show how many of its sections are done (a bar on a terminal, else log lines).
    """
    key = (imaging.RecordingInfo & recording_key).fetch1("KEY")
    title = html.escape(key_text(key))
    sections = [lambda: f"<h1>Recording {title}</h1>{_made()}", lambda: _recording_section(key)]
    for task in (imaging.ProcessingTask & key).to_dicts(order_by="paramset_id"):
        sections += _task_sections({name: task[name] for name in imaging.ProcessingTask.primary_key}, task)
    parts = []
    with showing_progress(bar=progress and can_draw_bars()), \
            step_progress("report", key, step="writing sections", unit="sections") as step:
        for done, section in enumerate(sections, start=1):
            parts.append(section())
            if progress:
                step(done, len(sections))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = Path(out) if out is not None else report_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(path)
    return path


def _made() -> str:
    """When and with what the page was made."""
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    versions = ", ".join(f"{name} {_version(name)}" for name in ("element_calcium", "datajoint"))
    return f"<p class='made'>Made {now} with {versions}, from schema {html.escape(imaging.schema.database)}.</p>"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def _recording_section(key: dict[str, Any]) -> str:
    info = (imaging.RecordingInfo & key).fetch1()
    recording = (imaging.Recording & key).fetch1()
    frame_times, dropped = (imaging.RecordingInfo.Timestamps & key).fetch1("frame_times", "dropped_frames")
    fields = {
        "acquisition software": recording["acquisition_software"], "folder": recording["recording_directory"],
        "session time": key["session_datetime"], "recording start (from its files)": info["recording_datetime"],
        "frames": info["nframes"], "size (pixels)": f"{info['px_height']} x {info['px_width']}",
        "frame rate (Hz)": f"{info['fps']:.2f}", "duration (s)": f"{info['recording_duration']:.1f}",
        "dropped frames": dropped, "channels": info["nchannels"], "planes": info["nplanes"],
        "gain": info["gain"], "LED power": info["led_power"], "files": len(imaging.RecordingInfo.File & key),
    }
    intervals = np.diff(frame_times)
    if len(intervals):
        fields["frame interval (ms)"] = f"median {1000 * np.median(intervals):.1f}, max {1000 * intervals.max():.1f}"
    return "<h2>Recording</h2>" + _session_warning(key["session_datetime"], info["recording_datetime"]) + _pairs(fields)


def _session_warning(session: datetime.datetime, started: datetime.datetime | None) -> str:
    """A warning when the recording's own start time and the session time lie more than a day apart."""
    if started is None:
        return ""
    apart_s = abs((started - session).total_seconds())
    if apart_s <= SESSION_MISMATCH_S:
        return ""
    return _warning(f"the recording's files say it started at {started}, but its session is entered at {session}, "
                    f"{apart_s / 86400:.1f} days apart: check the session time given at ingest")


def _task_sections(task: dict[str, Any], row: dict[str, Any]) -> list[Callable[[], str]]:
    """The sections of one processing task, each a function that renders it."""
    paramset = (imaging.ProcessingParamSet & task).fetch1()
    name, values = _paramset("processing", paramset["paramset_id"], paramset["paramset_desc"], paramset["params"])
    plane = f", plane {task['plane']}" if (imaging.RecordingInfo & task).fetch1("nplanes") > 1 else ""
    heading = (f"<h2>Processing task: {name}{plane}, method {html.escape(paramset['processing_method'])}, "
               f"{row['task_mode']} mode</h2>{values}")
    sections = [lambda: heading + _motion_section(task)]
    for segmentation in (imaging.Segmentation & task).to_dicts():
        segmentation_key = {name: segmentation[name] for name in imaging.Segmentation.primary_key}
        masks = (imaging.Segmentation.Mask & segmentation_key).to_dicts(order_by="mask_id")
        image = segmentation["correlation_image"]
        if image is None:
            image = (imaging.MotionCorrection.Summary & segmentation_key).fetch1("average_image")
        sections.append(lambda s=segmentation, k=segmentation_key, m=masks, i=image: _cells_section(k, s, m, i))
        for curation in (imaging.Curation & segmentation_key).to_dicts(order_by="curation_id"):
            curation_key = {name: curation[name] for name in imaging.Curation.primary_key}
            sections += [
                lambda c=curation, k=curation_key, m=masks: (
                    f"<h3>Curation {c['curation_id']}: {html.escape(c['curation_note'])}</h3>" + _traces_section(k, m)),
                lambda k=curation_key: _events_section(k),
                lambda k=curation_key, m=masks, i=image: _clusters_section(k, m, i),
            ]
    sections += [lambda: _spatial_section(task), lambda: _times_section(task)]
    return sections


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
            f"x {rigid['x_std']:.2f} px; {outliers} outlier frames</p>{_quality_paragraph(task)}{_figure(figure)}"
            "<h3>Summary images</h3><p>of the motion-corrected movie</p>"
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
        paragraph += _warning(row["quality_warning"])
    return paragraph


def _cells_section(segmentation_key: dict[str, Any], segmentation: dict[str, Any], masks: list, image) -> str:
    kinds = dict(zip(*(imaging.MaskClassification.MaskType & segmentation_key).to_arrays("mask_id", "mask_type")))
    counts = ", ".join(f"{count} {kind}" for kind, count in pd.Series(kinds).value_counts().items())
    parts = [f"<h3>Cells</h3><p>{segmentation['mask_count']} masks{': ' + counts if counts else ''}; contours over "
             f"the {'correlation' if segmentation['correlation_image'] is not None else 'mean'} image</p>"]
    if masks and image is not None:
        parts.append(_figure(plotting.plot_footprint_contours(image, masks, colors_by=kinds)))
    return "".join(parts)


def _traces_section(curation_key: dict[str, Any], masks: list[dict[str, Any]]) -> str:
    dff_key = {**curation_key, "extraction_method": "dff"}
    mask_ids, dff = (imaging.Activity.Trace & dff_key).to_arrays("mask_id", "activity_trace", order_by="mask_id")
    if not len(mask_ids):
        return "<p>no traces yet</p>"
    spikes = (imaging.Activity.Trace & curation_key & {"extraction_method": "deconvolved"}).to_arrays(
        "activity_trace", order_by="mask_id")
    fps = float((imaging.RecordingInfo & curation_key).fetch1("fps"))
    centers = {m["mask_id"]: (m["mask_center_y"], m["mask_center_x"]) for m in masks}
    known = [n for n, mask_id in enumerate(mask_ids) if mask_id in centers]
    order = np.array(known)[plotting.nn_walk_order(np.array([centers[mask_ids[n]] for n in known]))] if known else []
    shown = [int(n) for n in order][:SAMPLE_TRACES] or list(range(min(SAMPLE_TRACES, len(mask_ids))))
    traces = np.stack(dff)[shown]
    spacing = _row_spacing(traces)
    figure = plotting.plot_traces(traces, fps=fps, spikes=np.stack(spikes)[shown] if len(spikes) else None,
                                  cell_ids=mask_ids[shown], spacing=spacing)
    _scale_bar(figure.axes[0], spacing, label="dF/F")
    stats = _frame(imaging.Activity.Trace & dff_key, ["mask_id", "standardized_noise"])
    transients = events.Transients.CellStats & dff_key & {
        "event_paramset_id": events.DEFAULT_EVENT_PARAMSET_ID["transients"]}
    if transients:
        columns = ["mask_id", "n_transients", "rate_hz", "mean_iei_s", "mean_peak_dff", "snr"]
        stats = stats.merge(_frame(transients, columns), on="mask_id", how="left")
    return (f"<h4>Traces: dF/F of {len(shown)} of {len(mask_ids)} cells (neighbours next to each other), "
            f"deconvolved spikes as ticks</h4>{_figure(figure)}"
            "<h4>Per-cell statistics (dF/F; transients of the default event parameter set)</h4>"
            f"{_table(stats)}")


def _row_spacing(traces: np.ndarray) -> float:
    """Distance between stacked rows (dF/F): 1.1 times the largest median-to-99.5th-percentile range."""
    centred = traces - np.median(traces, axis=1, keepdims=True)
    largest = float(np.max(np.percentile(centred, 99.5, axis=1)))
    return 1.1 * largest if largest > 0 else 1.0


def _scale_bar(ax, spacing: float, *, label: str) -> None:
    """A vertical bar of a round length near half a row's spacing at the right edge of ``ax``, labelled."""
    exponent = np.floor(np.log10(spacing / 2))
    length = min((step * 10**exponent for step in (1, 2, 5, 10)), key=lambda value: abs(value - spacing / 2))
    x = ax.get_xlim()[1]
    y0 = ax.get_ylim()[0]
    ax.plot([x, x], [y0, y0 + length], color="black", linewidth=2.5, clip_on=False, gid="scale_bar")
    ax.text(x, y0 + length / 2, f" {length:g} {label}", va="center", ha="left", fontsize="small")


def _events_section(curation_key: dict[str, Any]) -> str:
    parts = []
    dff_key = {**curation_key, "extraction_method": "dff"}
    mask_ids = (imaging.Activity.Trace & dff_key).to_arrays("mask_id", order_by="mask_id")
    fps, n_frames = (imaging.RecordingInfo & curation_key).fetch1("fps", "nframes")
    for transients in (events.Transients & curation_key).to_dicts(order_by="event_paramset_id"):
        name, values = _event_paramset(transients["event_paramset_id"])
        frames = (events.Transients.Transient & transients).to_arrays("mask_id", "onset_frame")
        trace = TRACE_NAMES.get(transients["extraction_method"], transients["extraction_method"])
        parts.append(f"<h4>Transients of the {trace} traces ({name}): {transients['transient_count']}, onsets "
                     f"below</h4>{values}")
        ids = (imaging.Activity.Trace & curation_key & {"extraction_method": transients["extraction_method"]}
               ).to_arrays("mask_id", order_by="mask_id")
        if len(ids):
            onsets = [frames[1][frames[0] == mask_id] for mask_id in ids]
            parts.append(_figure(plotting.plot_raster(onsets, fps=float(fps), n_frames=int(n_frames), cell_ids=ids)))
    for window in (events.PeriEventWindow & curation_key).to_dicts(order_by=["event_type", "extraction_method"]):
        name, values = _event_paramset(window["event_paramset_id"])
        responses = _frame(events.PeriEventWindow.CellResponse & window, ["mask_id", "p_value"])
        significant = int((responses["p_value"] < 0.01).sum()) if len(responses) else 0
        trace = TRACE_NAMES.get(window["extraction_method"], window["extraction_method"])
        parts.append(f"<h4>Peri-event: {trace} around {html.escape(window['event_type'])} ({window['n_events']} "
                     f"events; {significant} of {len(responses)} cells with p &lt; 0.01; {name})</h4>{values}")
        tensor = np.asarray(window["windows"])
        if tensor.size:
            parts.append(_figure(plotting.plot_peri_event(tensor, window["sample_times"],
                                                          cell_ids=window["mask_ids"])))
    if not parts and len(mask_ids):
        parts.append("<p>no events computed yet</p>")
    return "".join(parts)


def _event_paramset(event_paramset_id: int) -> tuple[str, str]:
    row = (events.EventParamSet & {"event_paramset_id": event_paramset_id}).fetch1()
    return _paramset("event", event_paramset_id, row["paramset_desc"], row["params"])


def _clusters_section(curation_key: dict[str, Any], masks: list[dict[str, Any]], image) -> str:
    parts = []
    for result in (clusters.CellClustering & curation_key).to_dicts(order_by="clustering_paramset_id"):
        key = {name: result[name] for name in clusters.CellClustering.primary_key}
        paramset = (clusters.ClusteringParamSet & key).fetch1()
        name, values = _paramset("clustering", paramset["clustering_paramset_id"], paramset["paramset_desc"],
                                 paramset["params"])
        labels = dict(zip(*(clusters.CellClustering.Assignment & key).to_arrays("mask_id", "cluster")))
        silhouette = "undefined" if result["silhouette"] is None else f"{result['silhouette']:.2f}"
        trace = TRACE_NAMES.get(result["extraction_method"], result["extraction_method"])
        parts.append(f"<h4>Cell clusters by the power spectrum of their {trace}: {result['n_clusters']} clusters "
                     f"of {len(result['clustered_ids'])} cells, silhouette {silhouette} ({name})</h4>{values}")
        if result["n_clusters"] > 0:
            cut = [labels[int(mask_id)] for mask_id in result["clustered_ids"]]
            parts.append(_figure(dendrogram_figure(result["linkage"], result["clustered_ids"], cut,
                                                   n_clusters=result["n_clusters"])))
            parts.append(_figure(plotting.plot_cluster_psd(result["frequencies"], result["features"], cut)))
            if masks and image is not None:
                parts.append(_figure(plotting.plot_cluster_footprints(image, masks, labels)))
    return "".join(parts)


def cluster_colors(labels) -> dict[int, str]:
    """Colour (hex) of each cluster label (>= 0), as the plotting figures colour clusters: tab10 (tab20 beyond
    ten clusters) in label order."""
    named = sorted({int(label) for label in labels})
    palette = colormaps["tab10" if len(named) <= 10 else "tab20"]
    return {label: to_hex(palette(index % palette.N)) for index, label in enumerate(named)}


def dendrogram_figure(linkage, clustered_ids, cut: list[int], *, n_clusters: int) -> Figure:
    """`plotting.plot_dendrogram` of a stored tree, its links below the cut in the colour each cluster has in
    the spectra and footprint figures (`cluster_colors`), whatever the clusters' order along the tree.

    Args:
        linkage: (M - 1, 4) SciPy linkage of the M clustered cells.
        clustered_ids: (M,) mask ids in the linkage's observation order.
        cut: (M,) cluster label of each observation.
        n_clusters: clusters of the cut.
    """
    tree = np.asarray(linkage, dtype=np.float64)
    colors = cluster_colors(cut)
    sizes = pd.Series(cut).value_counts()
    along_tree = [cut[leaf] for leaf in hierarchy.leaves_list(tree)]
    # SciPy colours the clusters of two or more leaves from its palette, left to right along the tree
    palette = [colors[label] for label in dict.fromkeys(along_tree) if sizes[label] > 1]
    hierarchy.set_link_color_palette(palette or None)
    try:
        return plotting.plot_dendrogram(tree, labels=list(clustered_ids), n_clusters=n_clusters)
    finally:
        hierarchy.set_link_color_palette(None)


def _spatial_section(task: dict[str, Any]) -> str:
    rows = (events.SpatialEvents & task).to_dicts(order_by="event_paramset_id")
    if not rows:
        return ""
    parts = ["<h3>Spatiotemporal events in the motion-corrected movie</h3>"]
    for row in rows:
        name, values = _event_paramset(row["event_paramset_id"])
        columns = ["event_id", "z0", "z1", "area", "volume", "duration_s", "max_height", "snr"]
        table = _frame(events.SpatialEvents.Event & row, columns)
        parts.append(f"<p>{name}: {row['event_count']} events ({row['device']}, {row['wall_time']:.1f} s)</p>"
                     f"{values}{_table(table) if len(table) else ''}")
    return "".join(parts)


def _times_section(task: dict[str, Any]) -> str:
    rows = []
    for table in (imaging.MotionCorrection, imaging.Segmentation, events.SpatialEvents):
        for row in (table & task).to_dicts():
            rows.append({"step": table.__name__, "device": row["device"], "seconds": round(float(row["wall_time"]), 1)})
    return "<h3>Processing times</h3>" + (_table(pd.DataFrame(rows)) if rows else "<p>nothing processed yet</p>")


def generate_videos(key: dict[str, Any], *, curation_id: int = 0, out: str | Path | None = None,
                    progress: bool = False) -> Path:
    """Write the four-panel MP4 of a processing task: raw | motion-corrected | reconstructed A·C | residual.

    Args:
        key: a key of `imaging.ProcessingTask` whose motion correction kept a corrected movie.
        curation_id: the curation whose cells make the reconstruction.
        out: the MP4 to write; None writes ``result_movie.mp4`` in the task's output folder.
        progress: show how many frames are written (a bar on a terminal, else log lines).

    Raises:
        ValueError: the task is not motion-corrected or segmented yet, its motion correction wrote no corrected
            movie (results loaded from another tool), or it has no curation ``curation_id``.
    """
    task = (imaging.ProcessingTask & key).fetch1("KEY")
    named = key_text(task)
    if not imaging.MotionCorrection & task:
        raise ValueError(f"task {named} is not motion-corrected yet; run `element-calcium worker --once` first")
    corrected_path = (imaging.MotionCorrection & task).fetch1("corrected_movie")
    if corrected_path is None:
        raise ValueError(f"task {named}: no motion-corrected movie (results loaded from another tool)")
    curations = (imaging.Curation & task).to_arrays("curation_id", order_by="curation_id")
    if curation_id not in curations:
        raise ValueError(f"task {named} has no curation {curation_id} (it has: "
                         f"{', '.join(map(str, curations)) or 'none, not segmented yet'}); give one it has")
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
        frames = plotting.four_panel_frames(raw, corrected, sources.footprints, calcium, fps=raw.fps)
        with showing_progress(bar=progress and can_draw_bars()), \
                step_progress("video", task, step="writing frames", unit="frames") as step:
            counted = _counted(frames, len(raw), step) if progress else frames
            return plotting.write_video(counted, path, fps=raw.fps, norm=False)
    finally:
        raw.close()
        corrected.close()


def _counted(chunks, total: int, progress: Callable[[int, int], None]):
    """The (n, H, W') frame ``chunks``, reporting ``progress(frames done, total)`` after each."""
    done = 0
    for chunk in chunks:
        yield chunk
        done += len(chunk)
        progress(done, total)
