"""Page 3, Cells and curation: click or lasso cells on the image, see their dF/F, denoised calcium and spikes with
transients and behaviour events marked; reject, merge, verify, group and ungroup them, or draw a missed cell.

Every action goes through `element_calcium.curation` (`AppData.apply_curation`) and creates a new curation, which
the page then shows; the history lists what each curation changed. A page whose curation gained children from
another curator since it was read says so, and its own edit becomes their sibling (nothing is overwritten).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, LassoSelectTool, PolyDrawTool, TapTool
from skimage.draw import polygon2mask

from element_calcium.app.data import AppData, StaleCuration
from element_calcium.app.figures import (cell_source, decimated, draw_cells, image_figure, mark_events, trace_figure,
                                         with_document_lock)

TRACE_TITLES = {"dff": "dF/F", "denoised": "denoised calcium", "deconvolved": "spikes (deconvolved)",
                "fluorescence": "fluorescence (estimated from the movie)"}


class CellsPage:
    """The page's state: the curation shown, the curations derived from it when it was read, the selection."""

    def __init__(self, data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]):
        self.data, self.task_key = data, task_key
        images = data.summary_images(task_key)
        self.image = images.get("average_image", next(iter(images.values()), None))
        self.events = data.behavior_events(task_key)
        self.times = data.frame_times(task_key)
        self.curation = pn.widgets.Select(label="Curation", width=320)
        self.selected = pn.widgets.TextInput(label="Selected cells (ids)", width=220, css_classes=["selected-cells"])
        self.curator = pn.widgets.TextInput(label="Curator", width=140)
        self.note = pn.widgets.TextInput(label="Note", width=220)
        self.group_name = pn.widgets.TextInput(label="Group", value="", width=140)
        self.message = pn.pane.Markdown("", css_classes=["curation-message"])
        self.history = pn.widgets.Tabulator(disabled=True, show_index=False, sizing_mode="stretch_width", height=200)
        self.traces = pn.Column()
        self.source = ColumnDataSource({"xs": [], "ys": [], "x": [], "y": [], "mask_id": [], "cell_class": [],
                                        "groups": [], "color": []}, name="curation_cells")
        self.drawn = ColumnDataSource({"xs": [], "ys": []}, name="drawn_cell")
        self.figure = self._image_figure()
        self._load(curation_key)
        self.curation.param.watch(self._choose_curation, "value")
        self.selected.param.watch(self._typed_selection, "value")
        self.source.selected.on_change("indices", self._clicked)

    # ------------------------------------------------------------------ layout

    def view(self) -> pn.Column:
        buttons = [self._button(label, action) for label, action in (
            ("Reject", "reject"), ("Merge", "merge"), ("Verify", "verify"), ("Group", "group"),
            ("Ungroup", "ungroup"), ("Add drawn cell", "draw"))]
        return pn.Column(
            pn.pane.Markdown("## Cells and curation"), pn.Row(self.curation, self.curator, self.note),
            pn.Row(pn.Column(pn.pane.Bokeh(self.figure), pn.pane.Markdown(
                "Click a cell, or lasso several (shift adds). To draw a missed cell, pick the polygon tool, click "
                "its outline and double-click to close it, then **Add drawn cell**.")),
                pn.Column(self.selected, pn.Row(*buttons[:3]), pn.Row(self.group_name, *buttons[3:5]), buttons[5],
                          self.message)),
            self.traces, pn.pane.Markdown("### Curation history"), self.history,
            name="Cells and curation", sizing_mode="stretch_width")

    def _button(self, label: str, action: str) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, width=110, color="danger" if action == "reject" else "default")
        button.on_click(lambda _event: self.act(action))
        return button

    def _image_figure(self):
        fig = image_figure(self.image, title="cells on the average image", width=460,
                           tools="pan,wheel_zoom,reset", name="cells_image")
        draw_cells(fig, self.source)
        drawn = fig.patches("xs", "ys", source=self.drawn, fill_alpha=0.2, fill_color="#ffeb3b",
                            line_color="#ffeb3b", line_width=2)
        fig.add_tools(TapTool(), LassoSelectTool(), PolyDrawTool(renderers=[drawn]))
        return fig

    # ------------------------------------------------------------------ state

    def _load(self, curation_key: dict[str, Any]) -> None:
        """Show ``curation_key``: its cells, the curations list and history, and remember its children now."""
        self.key = curation_key
        self.seen_children = self.data.children(curation_key)
        curations = self.data.curations(self.task_key)
        self.history.value = curations
        self.curation.options = {f"{row.curation_id}: {row.changes[:60]}": int(row.curation_id)
                                 for row in curations.itertuples()}
        self.curation.value = int(curation_key["curation_id"])
        self.cells = self.data.cells(curation_key)
        fresh = cell_source(self.cells)
        self.source.data = dict(fresh.data)
        self.source.selected.indices = []

    def _choose_curation(self, event) -> None:
        if event.new is not None and event.new != self.key["curation_id"]:
            self._load(self.data.curation_key(self.task_key, event.new))

    def selected_ids(self) -> list[int]:
        text = self.selected.value.replace(",", " ").split()
        return self.data.checked_cells(self.key, text) if text else []

    def _clicked(self, _attr, _old, indices) -> None:
        ids = [int(self.source.data["mask_id"][i]) for i in indices if 0 <= i < len(self.source.data["mask_id"])]
        self.selected.value = " ".join(str(i) for i in ids)

    def _typed_selection(self, _event) -> None:
        try:
            ids = self.selected_ids()
        except ValueError as error:
            self.message.object = f"**{error}**"
            return
        positions = [self.source.data["mask_id"].index(i) for i in ids]
        if sorted(positions) != sorted(self.source.selected.indices):
            with_document_lock(lambda: setattr(self.source.selected, "indices", positions))
        self.show_traces(ids[0] if ids else None)

    def show_traces(self, mask_id: int | None) -> None:
        """The traces of cell ``mask_id`` (the first selected), with its transients and the behaviour events."""
        if mask_id is None:
            self.traces.objects = []
            return
        traces, source = self.data.cell_traces(self.key, mask_id)
        peaks = self.data.cell_transient_peaks({**self.key, "curation_id": source}, mask_id)
        figures, x_range = [], None
        for name in ("dff", "denoised", "deconvolved", "fluorescence"):
            if name not in traces or (name == "fluorescence" and len(traces) > 1):
                continue
            fig = trace_figure(f"cell {mask_id}: {TRACE_TITLES[name]}", x_range=x_range)
            x_range = fig.x_range
            times = self.times[: len(traces[name])]
            fig.line("t", "v", source=ColumnDataSource(decimated(times, traces[name])), color="#1f77b4")
            if name == "dff" and len(peaks):
                fig.scatter(times[peaks], traces[name][peaks], color="#d62728", size=7, marker="triangle")
            mark_events(fig, self.events)
            figures.append(pn.pane.Bokeh(fig))
        note = "" if source == self.key["curation_id"] else (
            f"\n\nTraces of curation {source}: curation {self.key['curation_id']} is not populated yet "
            "(a worker computes it); this cell's traces are the same there.")
        if not traces:
            note = "\n\nNo traces of this cell yet."
        self.traces.objects = [pn.pane.Markdown(f"### Cell {mask_id}{note}", css_classes=["trace-title"]), *figures]

    # ------------------------------------------------------------------ actions

    def act(self, action: str) -> None:
        """Run ``action`` on the selected cells (or the drawn polygon) as a new curation, then show it."""
        try:
            ids = self.selected_ids() if action != "draw" else []
            mask = self._drawn_mask() if action == "draw" else None
            result = self.data.apply_curation(action, self.key, seen_children=self.seen_children, ids=ids,
                                              name=self.group_name.value.strip(), mask=mask,
                                              curator=self.curator.value.strip(), note=self.note.value.strip())
        except (StaleCuration, ValueError) as error:
            self.message.object = f"**Not done:** {self.data.without_roots(str(error))}"
            return
        new_key = result["key"]
        text = f"Curation {new_key['curation_id']} made from curation {self.key['curation_id']} ({action})."
        if result["stale"]:
            text = (f"**Curation {self.key['curation_id']} changed since this page read it:** curation(s) "
                    f"{result['stale']} were derived from it meanwhile by another curator. Your edit is kept as "
                    f"curation {new_key['curation_id']}, beside theirs; nothing of theirs was changed. " + text)
        self.drawn.data = {"xs": [], "ys": []}
        self._load(new_key)
        if action == "draw":
            added = sorted(set(self.cells["mask_id"]) - set(self.data.cells(self._parent(new_key))["mask_id"]))
            self.selected.value = " ".join(str(i) for i in added)
        elif action in ("verify", "group", "ungroup"):
            self.selected.value = " ".join(str(i) for i in ids)
        self.message.object = text

    def _parent(self, key: dict[str, Any]) -> dict[str, Any]:
        parent = self.history.value.set_index("curation_id").loc[key["curation_id"], "parent_curation_id"]
        return {**key, "curation_id": int(parent)}

    def _drawn_mask(self) -> np.ndarray:
        """The last drawn polygon as an (H, W) bool mask."""
        if not self.drawn.data["xs"]:
            raise ValueError("draw the missed cell first: pick the polygon tool and click its outline")
        xs = np.asarray(self.drawn.data["xs"][-1], float) - 0.5
        ys = np.asarray(self.drawn.data["ys"][-1], float) - 0.5
        if len(xs) < 3 or not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            raise ValueError("a drawn cell needs a polygon of at least 3 points")
        return polygon2mask(self.image.shape, np.column_stack([ys, xs]))


def cells_page(data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]) -> pn.Column:
    """The cells and curation page of ``task_key``, starting at ``curation_key``."""
    return CellsPage(data, task_key, curation_key).view()
