"""Serving the app: `serve` (``element-calcium app``) with its safety rules.

- It binds to 127.0.0.1 unless told otherwise; any other address needs a ``token``, which the login page asks
  for (Panel's password login) and which is never shown in a page.
- Recordings and curations are chosen by ids found among the database's rows (`AppData.task_key`,
  `AppData.curation_key`); nothing from a request is written into SQL.
"""

from __future__ import annotations

import html
import ipaddress
import secrets
from typing import Any

import panel as pn

from element_calcium.app.data import AppData
from element_calcium.app.views import app_data, recording_view, recordings_view

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_address(address: str, token: str | None) -> None:
    """ValueError unless ``address`` is the loopback or a ``token`` of at least 8 characters is given."""
    if address in LOOPBACK:
        return
    try:
        if ipaddress.ip_address(address).is_loopback:
            return
    except ValueError:
        pass
    if not token or len(token) < 8:
        raise ValueError(f"serving on {address!r} lets other machines reach the database through the app: give "
                         "--token with at least 8 characters (the login page asks for it), or serve on 127.0.0.1")


def app_page(data: AppData) -> pn.Column:
    """The page of one browser session: the recordings list, or the recording named by ``?task=<id>``
    (``&curation=<id>``)."""
    args = pn.state.session_args if pn.state.curdoc is not None else {}
    task_id = _arg(args, "task")
    home = pn.pane.HTML('<a href="?">&larr; all recordings</a>')
    if not task_id:
        return pn.Column(recordings_view(data), sizing_mode="stretch_width")
    try:
        task_key = data.task_key(task_id)
        curation = _arg(args, "curation")
        curation_id = None if not curation else data.curation_key(task_key, curation)["curation_id"]
    except ValueError as error:
        return pn.Column(home, pn.pane.Markdown(f"**{html.escape(str(error))}**"))
    return pn.Column(home, recording_view(task_key, pipeline=data, curation_id=curation_id),
                     sizing_mode="stretch_width")


def _arg(args: dict, name: str) -> str:
    values = args.get(name) or [b""]
    value = values[0].decode("utf-8", "replace") if isinstance(values[0], bytes) else str(values[0])
    return value.strip()[:64]


def serve(pipeline: Any, *, port: int = 5006, address: str = "127.0.0.1", token: str | None = None,
          show: bool = False, threaded: bool = False):
    """Serve the app on ``address``:``port`` until stopped (or in a thread, returned, with ``threaded=True``).

    Args:
        pipeline: the module whose ``imaging``, ``events`` and ``clusters`` schema modules are activated (e.g.
            ``workflow.pipeline``).
        port: TCP port; 0 picks a free one.
        address: the interface to bind; other than the loopback it needs ``token``.
        token: the password of the login page; required off the loopback.
        show: open a browser tab.
        threaded: serve from a background thread and return it (``.stop()`` ends it).

    Raises:
        ValueError: a non-loopback address without a token, or a pipeline without the schema modules.
    """
    check_address(address, token)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be a whole number in 0..65535, got {port!r}")
    data = app_data(pipeline)
    options: dict[str, Any] = {}
    if token:
        options.update(basic_auth=token, cookie_secret=secrets.token_urlsafe(32))
        options["websocket_origin"] = "*"
    elif port:
        options["websocket_origin"] = [f"{host}:{port}" for host in ("127.0.0.1", "localhost")]
    return pn.serve(lambda: app_page(data), port=port, address=address, show=show, threaded=threaded,
                    title="element-calcium", verbose=False, **options)
