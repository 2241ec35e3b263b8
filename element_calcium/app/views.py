"""The app's views as Panel objects, for the server and for Jupyter: the recordings list, and one recording's
pages in tabs (Recording, Cells and curation, Transient curation, Events and clusters), each page built the
first time its tab is opened.

    from element_calcium import app
    app.recording_view(key, pipeline=pipeline)      # in a notebook cell; key: a ProcessingTask or Curation key
"""

from __future__ import annotations

import types
from typing import Any

import panel as pn

from element_calcium.app.cells_page import cells_page
from element_calcium.app.data import AppData
from element_calcium.app.events_page import events_page
from element_calcium.app.recording_page import recording_page
from element_calcium.app.recordings_page import recordings_page
from element_calcium.app.transients_page import transients_page

PAGES = (("Recording", recording_page), ("Cells and curation", cells_page),
         ("Transient curation", transients_page), ("Events and clusters", events_page))


def app_data(pipeline: Any = None) -> AppData:
    """`AppData` over ``pipeline``; None: element_calcium's own schema modules, as activated in this process."""
    if pipeline is None:
        from element_calcium import clusters, events, imaging

        pipeline = types.SimpleNamespace(imaging=imaging, events=events, clusters=clusters)
    return pipeline if isinstance(pipeline, AppData) else AppData(pipeline)


def recordings_view(pipeline: Any = None, *, link_base: str = "") -> pn.Column:
    """The recordings page (page 1) as a Panel object."""
    pn.extension("tabulator")
    return recordings_page(app_data(pipeline), link_base=link_base)


def recording_view(key: dict[str, Any], *, pipeline: Any = None, curation_id: int | None = None) -> pn.Tabs:
    """One recording's pages in tabs, as a Panel object.

    Args:
        key: a key of `ProcessingTask` (or of one of its curations).
        pipeline: the module whose ``imaging``, ``events`` and ``clusters`` are activated; None: those of this
            process.
        curation_id: the curation whose cells are shown; None: ``key``'s, else the newest.
    """
    pn.extension("tabulator")
    data = app_data(pipeline)
    task_key = data.task_key(data.task_id(key))
    if curation_id is None and "curation_id" in key:
        curation_id = key["curation_id"]
    curations = data.curations(task_key)
    if curations.empty:
        return pn.Tabs(("Recording", pn.pane.Markdown("This recording has no cells yet: populate it first.")))
    if curation_id is None:
        curation_id = int(curations["curation_id"].max())
    curation_key = data.curation_key(task_key, curation_id)
    tabs = pn.Tabs(*[(title, pn.Column(name=title)) for title, _ in PAGES], dynamic=True,
                   sizing_mode="stretch_width")
    built: set[int] = set()

    def build(index: int) -> None:
        if index in built:
            return
        built.add(index)
        title, page = PAGES[index]
        tabs[index] = (title, page(data, task_key, curation_key))

    tabs.param.watch(lambda event: build(event.new), "active")
    build(0)
    return tabs
