"""Page 1, Recordings: every processing task with each stage's status (done, pending, running, error with its
message), parameter set and cell count; filters by subject and date; the job queue; retry of a failed stage."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn

from element_calcium.app.data import STAGES, AppData


def recordings_page(data: AppData, *, link_base: str = "") -> pn.Column:
    """The recordings page; each recording links to ``{link_base}?task=<task id>``."""
    subject = pn.widgets.Select(label="Subject", options=["(all)"], width=200)
    date = pn.widgets.DatePicker(label="Session date", width=160)
    table = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["recordings-table"])
    queue = pn.widgets.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                 height=180)
    failed = pn.widgets.Select(label="Failed stage", options={}, width=420)
    retry = pn.widgets.Button(label="Retry", color="warning", width=100)
    message = pn.pane.Markdown("", css_classes=["recordings-message"])

    def refresh(*_events) -> None:
        everything = data.recordings()
        subject.options = ["(all)", *sorted(everything["subject"].unique().tolist())] if len(everything) else ["(all)"]
        shown = data.recordings(subject=None if subject.value in (None, "(all)") else subject.value, date=date.value)
        table.object = _recordings_html(shown, link_base)
        queue.value = data.job_queue()
        failed.options = {f"{row.subject} recording {row.recording_id} ({row.task_id}): {stage}":
                          (row.task_id, stage) for row in shown.itertuples() for stage in STAGES
                          if str(getattr(row, stage)).startswith("error")}

    def retry_failed(_event) -> None:
        if not failed.value:
            message.object = "No failed stage is chosen."
            return
        task_id, stage = failed.value
        cleared = data.retry(task_id, stage)
        message.object = f"Cleared {cleared} failed job(s) of {stage}: the next worker runs them again."
        refresh()

    subject.param.watch(refresh, "value")
    date.param.watch(refresh, "value")
    retry.on_click(retry_failed)
    refresh()
    return pn.Column(
        pn.pane.Markdown("# Recordings"), pn.Row(subject, date), table,
        pn.pane.Markdown("## Job queue"), queue,
        pn.pane.Markdown("## Retry a failed stage"), pn.Row(failed, retry), message,
        sizing_mode="stretch_width", name="Recordings",
    )


def _status_cell(status: str) -> str:
    colour = {"done": "#2ca02c", "pending": "#7f7f7f", "running": "#1f77b4"}.get(status, "#d62728")
    if not status:
        return "<td></td>"
    word, _, detail = status.partition(": ")
    title = f' title="{html.escape(detail)}"' if detail else ""
    text = html.escape(word) + (f"<br><small>{html.escape(detail[:120])}</small>" if detail else "")
    return f'<td style="color:{colour}"{title}>{text}</td>'


def _recordings_html(table: pd.DataFrame, link_base: str) -> str:
    if table.empty:
        return "<p>No recording matches: ingest one (element-calcium ingest) or change the filters.</p>"
    head = ["recording", "session", "parameter set", "frames", "cells", *STAGES]
    rows = []
    for row in table.itertuples():
        link = f'<a href="{html.escape(link_base)}?task={row.task_id}">{html.escape(str(row.subject))} / ' \
               f"{row.recording_id}</a>"
        cells = "" if pd.isna(row.cells) else int(row.cells)
        rows.append("<tr>" + f"<td>{link}</td><td>{html.escape(str(row.session_datetime))}</td>"
                    f"<td>{html.escape(row.paramset)}</td><td>{row.frames}</td><td>{cells}</td>"
                    + "".join(_status_cell(str(getattr(row, stage))) for stage in STAGES) + "</tr>")
    return ('<table style="border-collapse:collapse;font-size:13px" cellpadding="4"><tr>'
            + "".join(f"<th>{name}</th>" for name in head) + "</tr>" + "".join(rows) + "</table>")
