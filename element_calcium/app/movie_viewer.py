"""The movie viewer of the Recording page: raw, motion-corrected, reconstruction and residual side by side
(minian's four panels), a frame slider with play and step buttons, and a box whose mean trace is plotted.

Frames are read one at a time when shown (`frames.RecordingFrames`); nothing is read until the viewer is opened.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from bokeh.events import SelectionGeometry
from bokeh.models import BoxSelectTool, ColumnDataSource, LinearColorMapper
from bokeh.palettes import Greys256, RdBu11
from bokeh.plotting import figure

from element_calcium.app.data import AppData
from element_calcium.app.figures import trace_figure
from element_calcium.app.frames import PANELS, RecordingFrames

PANEL_WIDTH = 260


def movie_viewer(data: AppData, curation_key: dict[str, Any]) -> pn.Column:
    """The viewer, closed: a button opens it (reading the model's inputs once)."""
    open_button = pn.widgets.Button(label="Open the movie viewer", color="primary", width=220)
    holder = pn.Column(pn.pane.Markdown("### Movie"), open_button)

    def open_viewer(_event) -> None:
        holder[1] = _viewer(RecordingFrames(data, curation_key), data, curation_key)

    open_button.on_click(open_viewer)
    return holder


def _panel_figure(name: str, shape: tuple[int, int], limits: tuple[float, float], source: ColumnDataSource):
    height, width = shape
    fig = figure(title=name, width=PANEL_WIDTH, height=max(100, int(PANEL_WIDTH * height / width)),
                 x_range=(0, width), y_range=(height, 0), tools="pan,wheel_zoom,reset", name=f"movie_{name}")
    palette = tuple(reversed(RdBu11)) if name == "residual" else Greys256
    fig.image(image="image", x=0, y=0, dw=width, dh=height, source=source,
              color_mapper=LinearColorMapper(palette=palette, low=limits[0], high=limits[1]))
    fig.grid.visible = False
    fig.axis.visible = False
    fig.toolbar.logo = None
    return fig


def _viewer(frames: RecordingFrames, data: AppData, curation_key: dict[str, Any]) -> pn.Column:
    first = frames.frame(0)
    sources = {name: ColumnDataSource({"image": [first[name]]}) for name in PANELS}
    figures = [_panel_figure(name, frames.shape, frames.limits[name], sources[name]) for name in PANELS]
    box_tool = BoxSelectTool(persistent=True)
    figures[1].add_tools(box_tool)
    figures[1].toolbar.active_drag = box_tool
    figures[1].title.text = "corrected (drag a box)" if frames.corrected is not None else "registered: none (raw)"
    player = pn.widgets.Player(label="Frame", start=0, end=frames.n_frames - 1, value=0, interval=100,
                               loop_policy="once", width=420, show_value=False)
    previous = pn.widgets.Button(label="Previous frame", width=130)
    following = pn.widgets.Button(label="Next frame", width=130)
    times = data.frame_times(curation_key)
    label = pn.pane.Markdown(_label(0, frames.n_frames, times), css_classes=["frame-label"])
    box_trace = ColumnDataSource({"t": [], "v": []})
    trace = trace_figure("Mean of the box over time", height=180)
    trace.line("t", "v", source=box_trace, color="#1f77b4")
    box_text = pn.pane.Markdown("Drag a box on the corrected frame to plot its mean over the recording.")

    @pn.io.with_lock
    def show(event) -> None:
        panels = frames.frame(event.new)
        for name in PANELS:
            sources[name].data = {"image": [panels[name]]}
        label.object = _label(event.new, frames.n_frames, times)

    def on_box(event) -> None:
        if not event.final or event.geometry.get("type") != "rect":
            return
        geometry = event.geometry
        y0, y1, x0, x1 = geometry["y0"], geometry["y1"], geometry["x0"], geometry["x1"]
        try:
            means = frames.box_mean(int(np.floor(min(y0, y1))), int(np.ceil(max(y0, y1))),
                                    int(np.floor(min(x0, x1))), int(np.ceil(max(x0, x1))))
        except ValueError as error:
            box_text.object = str(error)
            return
        box_trace.data = {"t": times[: len(means)], "v": means}
        box_text.object = (f"Box rows {int(min(y0, y1))}-{int(max(y0, y1))}, columns {int(min(x0, x1))}-"
                           f"{int(max(x0, x1))}: mean over {len(means)} frames.")

    player.param.watch(show, "value")
    previous.on_click(lambda _event: setattr(player, "value", max(0, player.value - 1)))
    following.on_click(lambda _event: setattr(player, "value", min(frames.n_frames - 1, player.value + 1)))
    figures[1].on_event(SelectionGeometry, on_box)
    return pn.Column(pn.Row(*[pn.pane.Bokeh(fig) for fig in figures]), pn.Row(previous, following, label),
                     player, box_text, pn.pane.Bokeh(trace))


def _label(index: int, n_frames: int, times: np.ndarray) -> str:
    time = f", {times[index]:.2f} s" if index < len(times) else ""
    return f"frame {index + 1} of {n_frames}{time}"
