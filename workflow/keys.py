"""Primary keys as text, the ``attribute=value,...`` form that the command line prints and takes.

``format_key`` writes a key so that it can be pasted back as one shell word::

    subject=mouse1,session_datetime=2024-03-01T10:30:00,recording_id=0

``parse_key`` reads that form against a table: each attribute must be one of the table's, and each
value is converted to the attribute's type (integers, numbers, ISO-8601 dates and times), so a
misspelt attribute or a value of the wrong kind is refused instead of matching nothing or everything.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from element_calcium.progress import key_text

_PART = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")  # a comma that starts the next attribute=value


def format_key(key: Mapping[str, Any]) -> str:
    """``key`` as ``attribute=value,...``: dates and times in ISO-8601 (``2024-03-01T10:30:00``), numbers as
    written; the text `parse_key` reads back (`element_calcium.progress.key_text`, which the logs use)."""
    return key_text(dict(key))


def parse_key(text: str, table, *, what: str) -> dict[str, Any]:
    """The restriction ``text`` (``attribute=value,...``) gives on ``table``, with values of the attributes' types.

    Args:
        text: comma-separated ``attribute=value`` pairs; a value may hold commas unless they are followed by
            another ``attribute=``.
        table: the DataJoint table the key restricts.
        what: how the key is named to the user (e.g. ``--recording``), for the error messages.

    Raises:
        ValueError: one line naming ``what``: a part without ``=``, an attribute the table does not have (the
            message lists its primary key), the same attribute twice, or a value that is not of the attribute's
            type.
    """
    heading = table.heading
    key: dict[str, Any] = {}
    for part in _PART.split(text.strip()):
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name:
            raise ValueError(
                f"{what} {text!r}: {part!r} is not attribute=value; give comma-separated pairs, e.g. "
                f"{format_key({attribute: '...' for attribute in table.primary_key})}"
            )
        if name not in heading.names:
            raise ValueError(
                f"{what}: unknown attribute {name!r}; the key attributes are {', '.join(table.primary_key)}"
            )
        if name in key:
            raise ValueError(f"{what}: attribute {name!r} is given twice; give it once")
        key[name] = _typed(heading.attributes[name], value, what=what)
    return key


def _typed(attribute, value: str, *, what: str) -> Any:
    """``value`` converted to the type of ``attribute``; ValueError naming both when it is not of that type."""
    sql_type = attribute.type.lower()
    try:
        if attribute.numeric and "int" in sql_type:
            return int(value)
        if attribute.numeric:
            return float(value)
        if sql_type.startswith("datetime") or sql_type.startswith("timestamp"):
            return datetime.datetime.fromisoformat(value)
        if sql_type.startswith("date"):
            return datetime.date.fromisoformat(value)
    except ValueError:
        example = {"datetime": "2024-03-01T10:30:00", "date": "2024-03-01"}.get(sql_type.split("(")[0], "")
        kind = "an integer" if "int" in sql_type else "a number" if attribute.numeric else f"ISO-8601, e.g. {example}"
        raise ValueError(f"{what}: {attribute.name}={value!r} is not {kind}; give {attribute.name} as {kind}") from None
    return value


def one(table, text: str, *, what: str, noun: str) -> dict[str, Any]:
    """The primary key of the one entry of ``table`` that the key text ``text`` names (`parse_key`).

    Args:
        table: the table holding the entry.
        text: ``attribute=value,...``.
        what: how the key is named to the user (e.g. ``--recording``).
        noun: what an entry is, for the messages (e.g. ``recording``).

    Raises:
        ValueError: one line: ``text`` is malformed, or names no entry or several (listing some of them).
    """
    matches = (table & parse_key(text, table, what=what)).keys(order_by=table.primary_key)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = table.keys(order_by=table.primary_key)[:3]
        listed = "; ".join(format_key(key) for key in known) + ("; ..." if len(table()) > 3 else "")
        hint = f"e.g. {listed}" if known else "there is none yet (`element-calcium ingest` enters recordings)"
        raise ValueError(f"{what} {text}: no {noun} matches; give the key of one, {hint}")
    listed = "; ".join(format_key(key) for key in matches[:3]) + ("; ..." if len(matches) > 3 else "")
    raise ValueError(f"{what} {text}: {len(matches)} {noun}s match ({listed}); give a key that names one")
