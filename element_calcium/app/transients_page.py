"""Page 4, Transient curation: on a cell's trace, accept or reject the detected transients and mark missed peaks
(click the trace), joined by one of CalTrig's three merge modes; saved as a new `TransientCuration` through
`transient_curation.curate_transients` (`AppData.curate_transients`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import panel as pn
from bokeh.events import Tap
from bokeh.models import ColumnDataSource

from element_calcium.app.data import AppData
from element_calcium.app.events_page import unpopulated_note
from element_calcium.app.figures import decimated, mark_events, trace_figure

# CalTrig's names of the merge modes (`transient_curation.curate_transients`): "all" keeps the detected
# transients and adds the marked peaks; "incoming only" replaces them by the marks.
MODES = {"accept all": "all", "accept incoming only": "incoming_only", "accept overlapping only": "overlapping"}
AUTOMATIC = "automatic result (no curation)"
NO_PARENT = -1  # the parent choice that starts from the automatic result


class TransientsPage:
    """The page's state: the transient set, the cell, the curation it starts from and the newest one it knew."""

    def __init__(self, data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]):
        self.data, self.task_key = data, task_key
        self.sets = data.transient_sets(curation_key)
        self.times = data.frame_times(task_key)
        self.events = data.behavior_events(task_key)
        self.set_choice = pn.widgets.Select(label="Transients of", width=260, options={
            f"{key['extraction_method']} (event set {key['event_paramset_id']})": n for n, key in enumerate(self.sets)})
        methods = [key["extraction_method"] for key in self.sets]
        self.set_choice.value = methods.index("dff") if "dff" in methods else 0
        self.cell = pn.widgets.Select(label="Cell", width=120)
        self.parent = pn.widgets.Select(label="Start from", width=260)
        self.reject = pn.widgets.MultiChoice(label="Reject transients (ids)", width=320)
        self.marked = pn.widgets.TextInput(label="Marked peaks (frames; click the trace)", width=320,
                                           css_classes=["marked-peaks"])
        self.mode = pn.widgets.RadioButtonGroup(label="Merge mode", options=list(MODES), value="accept all")
        self.curator = pn.widgets.TextInput(label="Curator", width=140)
        self.save = pn.widgets.Button(label="Save transient curation", color="primary", width=220)
        self.message = pn.pane.Markdown("", css_classes=["transient-message"])
        self.history = pn.widgets.Tabulator(disabled=True, show_index=False, sizing_mode="stretch_width", height=160)
        self.plot = pn.Column()
        self.save.on_click(self._save)
        if self.sets:
            self.set_choice.param.watch(lambda _event: self._choose_set(), "value")
            self.cell.param.watch(lambda _event: self._draw(), "value")
            self.parent.param.watch(lambda _event: self._draw(), "value")
            self._choose_set()

    def view(self) -> pn.Column:
        if not self.sets:
            return pn.Column(pn.pane.Markdown("## Transient curation\nNo transients detected for this curation yet."),
                             name="Transient curation")
        return pn.Column(
            pn.pane.Markdown("## Transient curation"), pn.Row(self.set_choice, self.cell, self.parent),
            self.plot, pn.Row(self.reject, self.marked), pn.Row(self.mode, self.curator, self.save), self.message,
            pn.pane.Markdown("### Transient curations"), self.history, name="Transient curation",
            sizing_mode="stretch_width")

    @property
    def key(self) -> dict[str, Any]:
        return self.sets[self.set_choice.value or 0]

    def _choose_set(self) -> None:
        self.cell.options = {f"cell {i}": i for i in self.data.set_cells(self.key)}
        self._refresh_curations(None)
        self._draw()

    def _refresh_curations(self, chosen) -> None:
        curations = self.data.transient_curations(self.key)
        self.history.value = curations
        self.latest = int(curations["transient_curation_id"].max()) if len(curations) else None
        options = {AUTOMATIC: NO_PARENT, **{f"transient curation {int(i)}": int(i)
                                       for i in curations["transient_curation_id"]}}
        self.parent.options = options
        self.parent.value = (NO_PARENT if self.latest is None else self.latest) if chosen is None else chosen

    def _draw(self) -> None:
        if self.cell.value is None:
            return
        mask_id = int(self.cell.value)
        detected = self.data.transients(self.key, mask_id)
        corrections = self.data.cell_corrections(self.key, self._parent_id(), mask_id)
        trace = self.data.set_trace(self.key, mask_id)
        times = self.times[: len(trace)]
        fig = trace_figure(f"cell {mask_id}: {self.key['extraction_method']} with its transients (click to mark a "
                           "missed peak)", height=220)
        fig.line("t", "v", source=ColumnDataSource(decimated(times, trace)), color="#1f77b4")
        rejected = set(corrections["rejected"])
        peaks = detected["peak_frame"].to_numpy(int)
        kept = np.array([i not in rejected for i in detected["transient_id"]], bool)
        fig.scatter(times[peaks[kept]], trace[peaks[kept]], color="#2ca02c", size=8, marker="triangle",
                    legend_label="detected")
        if (~kept).any():
            fig.scatter(times[peaks[~kept]], trace[peaks[~kept]], color="#d62728", size=9, marker="x",
                        legend_label="rejected")
        marked = [f for f in corrections["marked"] if 0 <= f < len(trace)]
        if marked:
            fig.scatter(times[marked], trace[marked], color="#9467bd", size=9, marker="diamond", legend_label="marked")
        fig.legend.location = "top_left"
        mark_events(fig, self.events)
        fig.on_event(Tap, self._tapped)
        self.reject.options = [str(i) for i in detected["transient_id"]]
        self.reject.value = [str(i) for i in sorted(rejected) if str(i) in self.reject.options]
        self.plot.objects = [pn.pane.Bokeh(fig)]

    def _parent_id(self) -> int | None:
        return None if self.parent.value in (None, NO_PARENT) else int(self.parent.value)

    def _tapped(self, event) -> None:
        if event.x is None:
            return
        frame = int(np.clip(np.searchsorted(self.times, float(event.x)), 0, len(self.times) - 1))
        frames = self.marked.value.replace(",", " ").split()
        self.marked.value = " ".join([*frames, str(frame)])

    def _save(self, _event) -> None:
        try:
            marks = [int(value) for value in self.marked.value.replace(",", " ").split()]
        except ValueError:
            self.message.object = f"**Not saved:** marked peaks must be frame numbers, got {self.marked.value!r}"
            return
        try:
            result = self.data.curate_transients(
                self.key, int(self.cell.value), parent=self._parent_id(), seen_latest=self.latest,
                reject=[int(i) for i in self.reject.value], mark=marks, mode=MODES[self.mode.value],
                curator=self.curator.value.strip())
        except ValueError as error:
            self.message.object = f"**Not saved:** {error}"
            return
        new_id = result["key"]["transient_curation_id"]
        text = f"Saved as transient curation {new_id}."
        if result["stale"]:
            text = (f"**Transient curations {result['stale']} were saved by another curator since this page read "
                    f"the list;** yours is kept beside them as transient curation {new_id}.")
        self.marked.value = ""
        self._refresh_curations(new_id)
        self._draw()
        self.message.object = text


def transients_page(data: AppData, task_key: dict[str, Any], curation_key: dict[str, Any]) -> pn.Column:
    """The transient curation page of the transients of ``curation_key`` (or of the nearest populated curation it
    derives from)."""
    shown = data.populated_curation(curation_key)
    page = TransientsPage(data, task_key, shown).view()
    page.insert(1, pn.pane.Markdown(unpopulated_note(curation_key, shown)))
    return page
