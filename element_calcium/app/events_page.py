"""Page 5, Events and clusters: peri-event heatmaps per event type with the responsive cells marked; the
dendrogram of the cell clustering with a movable cut that recolours the cells on the image
(`CellClustering.cut`); event-cluster counts per group; the spatial events of astrocyte recordings over the movie."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import panel as pn
from bokeh.events import Tap
from bokeh.models import ColumnDataSource, LinearColorMapper, Span
from bokeh.palettes import Viridis256
from bokeh.plotting import figure
from scipy.cluster.hierarchy import dendrogram

from element_calcium.app.data import AppData
from element_calcium.app.figures import cell_source, colors_for, draw_cells, image_figure

TRACE_NAMES = {"dff": "dF/F", "denoised": "denoised calcium", "deconvolved": "spikes"}


def events_page(data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]) -> pn.Column:
    """The events and clusters page of ``curation_key``."""
    images = data.summary_images(task_key)
    image = images.get("average_image", next(iter(images.values()), None))
    shown = data.populated_curation(curation_key)
    return pn.Column(pn.pane.Markdown("## Events and clusters" + unpopulated_note(curation_key, shown)),
                     _peri_event(data, shown), _clusters(data, shown, image), _event_counts(data, task_key),
                     _spatial_events(data, task_key, image), name="Events and clusters", sizing_mode="stretch_width")


def unpopulated_note(requested: dict[str, Any], shown: dict[str, Any]) -> str:
    """A line saying that the page shows ``shown`` because ``requested`` is not computed yet (empty if same)."""
    if requested["curation_id"] == shown["curation_id"]:
        return ""
    return (f"\n\nCuration {requested['curation_id']} is not populated yet (a worker computes it): this page shows "
            f"curation {shown['curation_id']}, the nearest it derives from.")


def _peri_event(data: AppData, curation_key: dict[str, Any]) -> pn.viewable.Viewable:
    windows = [entry for entry in data.peri_event(curation_key) if entry["mean"] is not None]
    if not windows:
        return pn.pane.Markdown("No peri-event windows: import behaviour events for this recording.")
    figures = []
    for entry in windows:
        mean, times, ids = entry["mean"], entry["times"], entry["mask_ids"]
        fig = figure(title=f"{entry['event_type']}: {TRACE_NAMES.get(entry['method'], entry['method'])} "
                           f"({entry['n_events']} events)", width=380, height=max(160, 14 * len(ids) + 80),
                     x_range=(float(times[0]), float(times[-1])), y_range=(-0.5, len(ids) - 0.5),
                     x_axis_label="time from event (s)", tools="hover,reset",
                     tooltips=[("time (s)", "$x"), ("value", "@image")])
        finite = mean[np.isfinite(mean)]
        low, high = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
        fig.image(image=[np.nan_to_num(mean)], x=float(times[0]), y=-0.5, dw=float(times[-1] - times[0]),
                  dh=len(ids), color_mapper=LinearColorMapper(palette=Viridis256, low=float(low),
                                                               high=float(max(high, low + 1e-6))))
        fig.yaxis.ticker = list(range(len(ids)))
        fig.yaxis.major_label_overrides = {n: str(int(i)) for n, i in enumerate(ids)}
        rows = [n for n, i in enumerate(ids) if int(i) in entry["responsive"]]
        fig.scatter([float(times[0])] * len(rows), rows, color="#d62728", size=8, marker="square")
        figures.append(pn.pane.Bokeh(fig))
    return pn.Column(pn.pane.Markdown("### Peri-event activity\nMean over events per cell (rows); a red square "
                                      "marks a responsive cell (p < 0.01)."), pn.Row(*figures))


def _clusters(data: AppData, curation_key: dict[str, Any], image) -> pn.viewable.Viewable:
    clusterings = data.cell_clusterings(curation_key)
    if not clusterings or image is None:
        return pn.pane.Markdown("No cell clustering for this curation.")
    chosen = clusterings[0]
    tree = dendrogram(chosen["linkage"], no_plot=True, labels=[str(int(i)) for i in chosen["clustered_ids"]])
    top = float(np.max(chosen["linkage"][:, 2])) if len(chosen["linkage"]) else 1.0
    tree_fig = figure(title="dendrogram (click to move the cut)", width=460, height=260, tools="reset",
                      y_axis_label="feature distance", name="dendrogram")
    tree_fig.multi_line([list(x) for x in tree["icoord"]], [list(y) for y in tree["dcoord"]], color="#444444")
    tree_fig.xaxis.ticker = [5 + 10 * n for n in range(len(tree["ivl"]))]
    tree_fig.xaxis.major_label_overrides = {5 + 10 * n: label for n, label in enumerate(tree["ivl"])}
    cut_line = Span(location=_stored_cut(chosen), dimension="width", line_color="#d62728", line_width=2)
    tree_fig.add_layout(cut_line)
    cut = pn.widgets.FloatInput(label="Cut height", value=round(cut_line.location, 4), step=top / 50, start=0.0,
                                width=160, css_classes=["cut-height"])
    cells = data.cells(curation_key)
    source = cell_source(cells)
    cell_fig = image_figure(image, title="cells coloured by cluster", width=420, name="cluster_image")
    draw_cells(cell_fig, source)
    summary = pn.pane.Markdown("", css_classes=["cluster-summary"])

    def recut(_event=None) -> None:
        labels, silhouette = data.cut_clusters(chosen["key"], threshold=float(cut.value))
        cut_line.location = float(cut.value)
        clustered = [labels.get(int(i), -1) for i in cells["mask_id"]]
        source.data = {**source.data, "color": colors_for(clustered), "groups": [f"cluster {c}" for c in clustered]}
        count = len({c for c in clustered if c >= 0})
        quality = "" if silhouette is None or not np.isfinite(silhouette) else f", silhouette {silhouette:.2f}"
        summary.object = f"Cut at {float(cut.value):.3g}: {count} cluster(s){quality}."

    def tapped(event) -> None:
        if event.y is not None and event.y >= 0:
            cut.value = round(float(event.y), 4)

    cut.param.watch(pn.io.with_lock(recut), "value")
    tree_fig.on_event(Tap, tapped)
    recut()
    return pn.Column(pn.pane.Markdown(f"### Cell clusters ({chosen['key']['extraction_method']})"),
                     pn.Row(pn.Column(pn.pane.Bokeh(tree_fig), cut, summary), pn.pane.Bokeh(cell_fig)))


def _stored_cut(clustering: dict[str, Any]) -> float:
    """A merge height between those that give the clustering's stored number of clusters."""
    heights = np.sort(np.asarray(clustering["linkage"])[:, 2])
    if not len(heights):
        return 0.0
    count = clustering["n_clusters"]
    if count <= 1:
        return float(heights[-1]) * 1.05
    if count > len(heights):
        return float(heights[0]) / 2
    return float((heights[-count] + heights[-count + 1]) / 2)


def _event_counts(data: AppData, task_key: dict[str, Any]) -> pn.viewable.Viewable:
    counts = data.event_cluster_counts(task_key)
    if counts.empty:
        return pn.pane.Markdown("No event clustering for this recording.")
    table = counts.pivot_table(index="event_group", columns="cluster", values="event_count", fill_value=0)
    table.columns = [f"cluster {c}" for c in table.columns]
    return pn.Column(pn.pane.Markdown("### Event clusters per group"),
                     pn.widgets.Tabulator(table.reset_index(), disabled=True, show_index=False))


def _spatial_events(data: AppData, task_key: dict[str, Any], image) -> pn.viewable.Viewable:
    found = data.spatial_events(task_key)
    if found.empty or image is None:
        return pn.pane.Markdown("No spatial events (astrocyte-style) for this recording.")
    fig = image_figure(image, title="spatial events active at the frame", width=420, name="spatial_events")
    source = ColumnDataSource({"x": [], "y": [], "event": [], "color": []})
    fig.scatter("x", "y", source=source, color="color", size=3, alpha=0.6, marker="square")
    n_frames = data.recording_info(task_key)["nframes"]
    frame = pn.widgets.IntSlider(label="Frame", start=0, end=n_frames - 1, value=int(found["z0"].iloc[0]))

    def show(_event=None) -> None:
        active = found[(found["z0"] <= frame.value) & (found["z1"] > frame.value)]
        xs = [x + 0.5 for row in active.itertuples() for x in np.asarray(row.footprint_xpix)]
        ys = [y + 0.5 for row in active.itertuples() for y in np.asarray(row.footprint_ypix)]
        ids = [int(row.event_id) for row in active.itertuples() for _ in np.asarray(row.footprint_xpix)]
        source.data = {"x": xs, "y": ys, "event": ids, "color": colors_for(ids)}

    frame.param.watch(pn.io.with_lock(show), "value")
    show()
    listing = found[["event_id", "z0", "duration_s", "centroid_x", "centroid_y", "area"]]
    return pn.Column(pn.pane.Markdown(f"### Spatial events ({len(found)})"),
                     pn.Row(pn.Column(pn.pane.Bokeh(fig), frame),
                            pn.widgets.Tabulator(pd.DataFrame(listing), disabled=True, show_index=False, height=300)))
