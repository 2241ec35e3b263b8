"""Page 2, Recording: motion (shifts over time, outlier frames, correction quality), the summary images with the
cells' outlines coloured by class, cluster or group, the source-extraction diagnostics
(`extraction_diagnostics`), and the four-panel movie viewer (`movie_viewer`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn

from element_calcium.app.data import AppData
from element_calcium.app.extraction_diagnostics import diagnostics_panel
from element_calcium.app.figures import cell_source, colors_for, draw_cells, image_figure, trace_figure
from element_calcium.app.movie_viewer import movie_viewer


def recording_page(data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]) -> pn.Column:
    """The recording page of ``task_key``, its cells as in ``curation_key``."""
    info = data.recording_info(task_key)
    header = pn.pane.Markdown(
        f"## {info['title']}\n{info['nframes']} frames of {info['height']} x {info['width']} pixels at "
        f"{info['fps']:.1f} Hz ({info['duration_s']:.0f} s); parameter set {info['paramset']}; "
        f"cells of curation {curation_key['curation_id']}", css_classes=["recording-header"])
    return pn.Column(header, _motion_panel(data, task_key, info["fps"]), _summary_panel(data, task_key, curation_key),
                     diagnostics_panel(data, task_key), movie_viewer(data, curation_key), name="Recording",
                     sizing_mode="stretch_width")


def _motion_panel(data: AppData, task_key: dict[str, Any], fps: float) -> pn.viewable.Viewable:
    motion = data.motion(task_key)
    if motion is None:
        return pn.pane.Markdown("Motion correction has not run yet.")
    times = data.frame_times(task_key)
    times = times if len(times) == len(motion["y_shifts"]) else np.arange(len(motion["y_shifts"])) / fps
    fig = trace_figure("Motion: rigid shifts (pixels)", height=200)
    fig.line(times, motion["y_shifts"], color="#1f77b4", legend_label="y")
    fig.line(times, motion["x_shifts"], color="#ff7f0e", legend_label="x")
    outliers = np.flatnonzero(motion["outliers"])
    if len(outliers):
        fig.scatter(times[outliers], motion["y_shifts"][outliers], color="#d62728", size=6, legend_label="outlier")
    fig.legend.location = "top_left"
    quality = motion["quality"]
    lines = [f"{len(outliers)} outlier frame(s)."]
    if quality["raw_mean_correlation"] is not None:
        lines.append(f"Correlation of template frames with their mean: {quality['raw_mean_correlation']:.3f} raw, "
                     f"{quality['corrected_mean_correlation']:.3f} corrected; "
                     f"{100 * quality['improved_fraction']:.0f}% of frames improved.")
    if quality["quality_warning"]:
        lines.append(f"**Warning:** {data.without_roots(quality['quality_warning'])}")
    return pn.Column(pn.pane.Bokeh(fig), pn.pane.Markdown(" ".join(lines)))


def _summary_panel(data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]) -> pn.viewable.Viewable:
    images = data.summary_images(task_key)
    if not images:
        return pn.pane.Markdown("No summary images yet.")
    cells = data.cells(curation_key)
    clusterings = data.cell_clusterings(curation_key)
    options = ["class", "group"] + [f"cluster ({c['key']['extraction_method']}, set "
                                    f"{c['key']['clustering_paramset_id']})" for c in clusterings]
    colour_by = pn.widgets.RadioButtonGroup(label="Colour by", options=options, value="class")
    image_name = pn.widgets.Select(label="Image", options=list(images), value=next(iter(images)), width=200)
    source = cell_source(cells)
    figures = {}

    def picture(name: str):
        if name not in figures:
            fig = image_figure(images[name], title=name.replace("_", " "), width=460, tools="pan,wheel_zoom,reset,tap")
            draw_cells(fig, source)
            figures[name] = pn.pane.Bokeh(fig)
        return figures[name]

    holder = pn.Column(picture(image_name.value))

    @pn.io.with_lock
    def recolour(_event=None) -> None:
        if colour_by.value == "class":
            colours = colors_for(cells["cell_class"])
        elif colour_by.value == "group":
            colours = colors_for([groups.split(", ")[0] for groups in cells["groups"]])
        else:
            labels = data.cluster_labels(clusterings[options.index(colour_by.value) - 2]["key"])
            colours = colors_for([labels.get(int(i), -1) for i in cells["mask_id"]])
        source.data = {**source.data, "color": colours}

    colour_by.param.watch(recolour, "value")
    image_name.param.watch(lambda event: holder.__setitem__(0, picture(event.new)), "value")
    return pn.Column(pn.pane.Markdown("### Summary images and cells"), pn.Row(image_name, colour_by), holder)
