"""Where a key's results go and whom they belong to: the default output folder of a processing task, and the
owner record a table's results file carries.

A default folder keeps the session's key values readable and adds a digest of the whole session key
(`storage.key_digest`), so two sessions never map to one folder.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import results_file, storage

_READABLE_CHARS = 100  # readable part of a default output folder name; the digest keeps longer keys apart
DEFAULTED_KEY = {"plane": 0}  # key attributes declared with a default, and that default


def key_of(names, key: dict[str, Any]) -> dict[str, Any]:
    """``key`` restricted to the attributes ``names`` (a table's primary key), with an attribute of
    `DEFAULTED_KEY` that ``key`` leaves out at its default (a key written before ``plane`` joined the task key
    is plane 0's). A missing attribute without a default raises KeyError naming it."""
    return {name: key[name] if name in key or name not in DEFAULTED_KEY else DEFAULTED_KEY[name] for name in names}


def default_output_dir(session_key: dict[str, Any], *, recording_id: int, paramset_id: int,
                       plane: int | None = None) -> str:
    """A folder no other task maps to, relative to the processed root:
    ``<session key values>-<digest>/recording<recording_id>/paramset<paramset_id>``, and
    ``.../paramset<paramset_id>-plane<plane>`` for a plane of a multi-plane recording (``plane`` None: the
    one plane of a single-plane recording). The planes' folders lie side by side, none inside another.

    The session's values stay readable (characters other than letters, digits and ``-_.`` become
    ``-``; times ``YYYYmmdd_HHMMSS_mmm``, milliseconds kept); the digest (`storage.key_digest` of the
    whole ``session_key``) tells apart sessions whose readable forms agree (subjects ``m 1`` and ``m-1``).
    """
    readable = "_".join(_path_safe(value) for value in session_key.values())[:_READABLE_CHARS]
    folder = f"{readable}-{storage.key_digest(session_key)}/recording{recording_id}/paramset{paramset_id}"
    return folder if plane is None else f"{folder}-plane{plane}"


def _path_safe(value: Any) -> str:
    if isinstance(value, datetime):
        text = value.strftime("%Y%m%d_%H%M%S_%f")
        text = text[:-3] if text.endswith("000") else text
    elif hasattr(value, "strftime"):
        text = value.strftime("%Y%m%d")
    else:
        text = str(value)
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


def results_owner(table: type, key: dict[str, Any]) -> str:
    """What a results file of the row ``key`` of ``table`` (a table class) records as its owner
    (`results_file.owner_text` of its schema, class name and primary key).

    A key attribute that holds the default of `DEFAULTED_KEY` (``plane`` 0) is left out, so the results
    files written before the attribute joined the key still belong to their key, and one-plane keys read
    as they always did."""
    owned = {name: value for name, value in key_of(table.primary_key, key).items()
             if not (name in DEFAULTED_KEY and value == DEFAULTED_KEY[name])}
    return results_file.owner_text(schema=table.database, table=table.__name__, key=owned)
