"""Bokeh figures the pages share: an image in pixel coordinates with the cells' outlines on it, and traces drawn
from their min/max decimation (`compute.review.minmax_decimate`), so that a 36,000-frame trace is 2,000 points.

Images use pixel coordinates (x to the right, y down, as the masks' ``mask_xpix`` / ``mask_ypix``); times are in
seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper, Span
from bokeh.palettes import Category10_10, Greys256
from bokeh.plotting import figure

from element_calcium.compute.review import minmax_decimate

TRACE_POINTS = 1000  # min/max runs per trace: at most 2,000 points sent to the browser
GREY = "#9e9e9e"
CLASS_COLORS = {"soma": "#2ca02c", "dendrite": "#1f77b4", "axon": "#9467bd", "neuropil": "#8c564b",
                "artefact": "#d62728", "unknown": GREY, "curated": "#ff7f0e"}


def colors_for(values) -> list[str]:
    """A colour per value: mask types by `CLASS_COLORS`; other categories (clusters, groups) by a cycle of ten,
    with -1, '' and None grey."""
    values = list(values)
    if all(value in CLASS_COLORS for value in values):
        return [CLASS_COLORS[value] for value in values]
    categories = sorted({value for value in values if value not in (-1, "", None)}, key=str)
    index = {value: n for n, value in enumerate(categories)}
    return [GREY if value not in index else Category10_10[index[value] % 10] for value in values]


def image_figure(image: np.ndarray, *, title: str, width: int = 420, name: str | None = None, tools: str = "pan,"
                 "wheel_zoom,reset") -> figure:
    """An (H, W) image in pixel coordinates, greyscale with robust limits, y pointing down."""
    image = np.asarray(image, np.float32)
    height_px, width_px = image.shape
    fig = figure(title=title, width=width, height=max(120, int(width * height_px / width_px)), tools=tools,
                 x_range=(0, width_px), y_range=(height_px, 0), match_aspect=True, name=name)
    finite = image[np.isfinite(image)]
    low, high = (np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0))
    fig.image(image=[image], x=0, y=0, dw=width_px, dh=height_px, level="image",
              color_mapper=LinearColorMapper(palette=Greys256, low=float(low),
                                             high=float(high) if high > low else float(low + 1)))
    fig.grid.visible = False
    return fig


def cell_source(cells: pd.DataFrame, colors: list[str] | None = None) -> ColumnDataSource:
    """The cells as a data source: outlines (``xs``, ``ys``), centroids, ids, class, groups and colour."""
    colors = colors_for(cells["cell_class"]) if colors is None else colors
    return ColumnDataSource({
        "xs": [list(np.asarray(x) + 0.5) for x in cells["contour_x"]],
        "ys": [list(np.asarray(y) + 0.5) for y in cells["contour_y"]],
        "x": (cells["x"] + 0.5).tolist(), "y": (cells["y"] + 0.5).tolist(),
        "mask_id": cells["mask_id"].astype(int).tolist(), "cell_class": cells["cell_class"].tolist(),
        "groups": cells["groups"].tolist(), "color": colors,
    }, name="cells")


def draw_cells(fig: figure, source: ColumnDataSource) -> None:
    """Outlines and centroids of the cells in ``source`` on ``fig``, selectable (tap, lasso) and hoverable."""
    outlines = fig.patches("xs", "ys", source=source, fill_alpha=0.08, fill_color="color", line_color="color",
                           line_width=1.5, selection_line_width=3.5, selection_fill_alpha=0.35,
                           nonselection_fill_alpha=0.05, nonselection_line_alpha=0.6)
    centres = fig.scatter("x", "y", source=source, size=5, color="color", selection_color="white",
                          nonselection_alpha=0.6)
    fig.add_tools(HoverTool(renderers=[outlines, centres], tooltips=[("cell", "@mask_id"), ("class", "@cell_class"),
                                                                     ("groups", "@groups")]))


def trace_figure(title: str, *, width: int = 760, height: int = 160, x_range=None) -> figure:
    """An empty figure for traces against time (s)."""
    kwargs = {} if x_range is None else {"x_range": x_range}
    fig = figure(title=title, width=width, height=height, tools="xpan,xwheel_zoom,box_zoom,reset",
                 x_axis_label="time (s)", **kwargs)
    fig.toolbar.logo = None
    return fig


def decimated(times: np.ndarray, values: np.ndarray) -> dict[str, np.ndarray]:
    """``{"t": (M,), "v": (M,)}`` of a (T,) trace against (T,) times, M <= 2 `TRACE_POINTS`."""
    frames, kept = minmax_decimate(values, n_bins=TRACE_POINTS)
    return {"t": np.asarray(times)[frames], "v": kept}


def mark_events(fig: figure, event_times: dict[str, np.ndarray]) -> None:
    """A vertical line per behaviour event, a colour per event type."""
    for (event_type, times), color in zip(sorted(event_times.items()), Category10_10[3:]):
        for time in times:
            fig.add_layout(Span(location=float(time), dimension="height", line_color=color, line_alpha=0.5,
                                line_dash="dashed"))


def with_document_lock(change) -> None:
    """Run ``change`` (a function that modifies Bokeh models) holding the document's lock: on the session's next
    tick when served (a change from a widget's callback may not hold it), at once elsewhere (Jupyter)."""
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        document.add_next_tick_callback(change)
    else:
        change()
