"""The browser app: views over the pipeline's tables and public functions (no algorithm inside), served by
``element-calcium app`` and usable in Jupyter.

    from element_calcium import app
    app.serve(pipeline)                          # http://127.0.0.1:5006
    app.recording_view(task_key, pipeline=pipeline)   # a Panel object for a notebook

Pages: recordings (`recordings_page`), recording with its movie viewer (`recording_page`), cells and curation
(`cells_page`), transient curation (`transients_page`), events and clusters (`events_page`); every query they
make is in `data` and `event_data` (and the frames in `frames`). Needs the ``app`` extra (Panel, Bokeh).
"""

from element_calcium.app.data import AppData, StaleCuration
from element_calcium.app.server import check_address, serve
from element_calcium.app.views import recording_view, recordings_view

__all__ = ["AppData", "StaleCuration", "check_address", "recording_view", "recordings_view", "serve"]
