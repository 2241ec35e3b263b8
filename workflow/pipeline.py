"""The assembled pipeline: lab/subject/session plus imaging, events, clusters and registration, one prefix.

Importing this module connects to the database and activates the schemas named ``<prefix>session``,
``<prefix>imaging``, ``<prefix>events``, ``<prefix>clusters`` and ``<prefix>registration`` (prefix from
``workflow.paths.get_db_prefix``), creating them, in utf8mb4, on first use; it writes no file. A server
that refuses the connection raises ConnectionError saying what to set::

    from workflow.pipeline import clusters, events, imaging
    imaging.RecordingInfo.to_pandas()

This module is also the imaging schema's linking module: it provides ``Session``,
``Equipment``, ``AnatomicalLocation`` and the two root-directory functions.
"""

import sys

from element_calcium import clusters, events, imaging, registration
from workflow import session
from workflow.database import connect
from workflow.paths import get_db_prefix, get_processed_root_dir, get_raw_root_dirs, get_run_settings
from workflow.session import AnatomicalLocation, Equipment, Session, Subject

__all__ = [
    "AnatomicalLocation",
    "clusters",
    "Equipment",
    "Session",
    "Subject",
    "db_prefix",
    "events",
    "get_processed_root_dir",
    "get_raw_root_dirs",
    "get_run_settings",
    "imaging",
    "registration",
    "session",
]

connect()
db_prefix = get_db_prefix()
imaging.create_utf8mb4_schema(db_prefix + "session")
session.schema.activate(db_prefix + "session")
imaging.activate(db_prefix + "imaging", linking_module=sys.modules[__name__])
events.activate(db_prefix + "events")
clusters.activate(db_prefix + "clusters")
registration.activate(db_prefix + "registration")
