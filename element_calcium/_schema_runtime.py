"""What every schema module shares: the linking module and run settings, column checks, the parameter-set insert,
the insert of a stage's rows, and populating the activated schemas in dependency order.

A schema module (`imaging`, `events`, `clusters`) records itself with `record_activated` when its schema is
activated; `populate_all` takes the schema modules to populate (by default those, in activation order), so no
module is found by its name.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import datajoint as dj
import numpy as np

from . import paramsets, reservations
from .progress import can_draw_bars, showing_progress
from .stages.rows import Rows

_linking_module: ModuleType | None = None
_activated: list[ModuleType] = []


# ---------------------------------------------------------------------------- linking module, run settings


def bind_linking_module(module: ModuleType) -> None:
    """Remember ``module`` as the pipeline's linking module (roots, upstream tables, run settings)."""
    global _linking_module
    _linking_module = module


def linking_module() -> ModuleType:
    """The linking module given to ``imaging.activate``.

    Raises:
        dj.DataJointError: the imaging schema is not activated yet.
    """
    if _linking_module is None:
        raise dj.DataJointError("activate the imaging schema first (imaging.activate(name, linking_module=...))")
    return _linking_module


def run_settings() -> dict[str, Any]:
    """Run settings (not hashed), e.g. ``device`` and ``chunk_frames``, from the linking module.

    A linking module without ``get_run_settings()`` leaves the stages' own defaults in force.
    """
    module = linking_module()
    return module.get_run_settings() if hasattr(module, "get_run_settings") else {}


def create_utf8mb4_schema(schema_name: str) -> None:
    """Create the schema ``schema_name`` on a MySQL/MariaDB server with the utf8mb4 character set, if it is absent.

    DataJoint creates a schema in the server's default character set, on older servers latin1, whose columns
    cannot hold names in other scripts; utf8mb4 holds every character. An existing schema is left as it is.
    """
    connection = dj.conn()
    if connection.adapter.backend == "mysql":
        name = connection.adapter.quote_identifier(schema_name)
        connection.query(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")


# ---------------------------------------------------------------------------- column checks

# Python codecs of the MySQL character sets whose repertoire is smaller than Unicode's. MySQL's latin1 is
# Windows-1252; utf8 (utf8mb3) and ucs2 hold the Basic Multilingual Plane only.
_BMP_ONLY = ("utf8", "utf8mb3", "ucs2")
_CODECS = {"latin1": "cp1252", "ascii": "ascii", "latin2": "iso8859_2", "greek": "iso8859_7", "cp1251": "cp1251"}
_INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}


def check_attribute(table: type[dj.Table], attribute: str, value: Any, *, what: str | None = None) -> None:
    """Refuse ``value`` for ``table``'s ``attribute`` before the server does, with a message instead of its error.

    Text must fit the column's ``varchar(N)`` (N characters) and its character set; integers the column's
    range (a bool is not an integer); floats must be finite.

    Raises:
        ValueError: naming ``what`` (default: the attribute), the value and what fits.
    """
    what = what or attribute
    sql_type = table.heading.attributes[attribute].type.lower()
    kind = sql_type.split("(")[0].split()[0]
    if kind in ("varchar", "char"):
        _check_text(table, attribute, value, what=what, length=int(sql_type.split("(")[1].split(")")[0]))
    elif kind in _INTEGER_BITS:
        bits = _INTEGER_BITS[kind] - ("unsigned" not in sql_type)
        low = 0 if "unsigned" in sql_type else -(2**bits)
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value < 2**bits:
            raise ValueError(f"{what} must be an integer in [{low}, {2**bits - 1}], got {value!r}")
    elif kind in ("float", "double", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")


def _check_text(table: type[dj.Table], attribute: str, value: Any, *, what: str, length: int) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {value!r}")
    if len(value) > length:
        raise ValueError(f"{what} {value[:40]!r}... is {len(value)} characters long; at most {length} fit")
    charset = table.connection.query(
        "SELECT CHARACTER_SET_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        args=(table.database, table.table_name, attribute),
    ).fetchone()
    charset = (charset[0] or "").lower() if charset else ""
    if charset in _BMP_ONLY:
        unstorable = [ch for ch in value if ord(ch) > 0xFFFF]
    elif charset in _CODECS:
        unstorable = [ch for ch in value if not _encodes(ch, _CODECS[charset])]
    else:
        unstorable = []
    if unstorable:
        raise ValueError(
            f"{what} {value!r} holds characters ({''.join(dict.fromkeys(unstorable))}) that the {charset} column "
            f"{table.database}.{table.table_name}.{attribute} cannot store; use other characters, or convert the "
            "pipeline's schemas to utf8mb4 (ALTER DATABASE/TABLE ... CONVERT TO CHARACTER SET utf8mb4)"
        )


def _encodes(character: str, codec: str) -> bool:
    try:
        character.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


# ---------------------------------------------------------------------------- parameter sets


def paramset_row(id_name: str, paramset_id: int, description: str, params: dict[str, Any], *,
                 purpose: dict[str, str], columns: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row of a parameter-set table: ``{id_name: paramset_id, **columns, "paramset_desc", "param_set_hash",
    "params"}``, the parameters validated and completed for ``purpose`` (`paramsets.prepare`)."""
    complete, param_hash = paramsets.prepare(purpose, params)
    return {id_name: paramset_id, **(columns or {}), "paramset_desc": description, "param_set_hash": param_hash,
            "params": complete}


def insert_paramset(table, row: dict[str, Any], id_name: str) -> None:
    """Insert the parameter-set ``row`` (with its ``param_set_hash``) into ``table``, keyed by ``id_name``.

    The same parameters under the same id are a no-op; the same parameters under another id, or other
    parameters under a taken id, raise ``dj.DataJointError`` naming the existing set.

    Raises:
        ValueError: the id or the ``paramset_desc`` does not fit its column (`check_attribute`).
    """
    check_attribute(table, id_name, row[id_name])
    check_attribute(table, "paramset_desc", row["paramset_desc"])
    same_params = table & {"param_set_hash": row["param_set_hash"]}
    if same_params:
        existing_id = same_params.fetch1(id_name)
        if existing_id == row[id_name]:
            return
        raise dj.DataJointError(
            f"these parameters are already stored as {id_name} {existing_id}; use that id instead of {row[id_name]}"
        )
    if table & {id_name: row[id_name]}:
        raise dj.DataJointError(f"{id_name} {row[id_name]} already holds different parameters; choose a free id")
    table.insert1(row)


# ---------------------------------------------------------------------------- inserting a stage's rows


def insert_rows(table: dj.Table, key: dict[str, Any], rows: Rows) -> None:
    """Insert a stage's ``rows`` under ``key``: the master row, then each part's rows in the order given.

    DataJoint's populate runs this inside the key's transaction, so all rows of a make land together or not at
    all. A part named ``"Block"`` is ``table.Block``.
    """
    table.insert1({**key, **rows.master})
    for part_name, part_rows in rows.parts.items():
        getattr(table, part_name).insert([{**key, **row} for row in part_rows])


class StageTable:
    """Mixin of an automatic table whose ``make_compute`` returns ``(Rows,)``: the one shared ``make_insert``."""

    def make_insert(self, key: dict[str, Any], rows: Rows) -> None:
        insert_rows(self, key, rows)


# ---------------------------------------------------------------------------- populate


def record_activated(module: ModuleType) -> None:
    """Record the schema module ``module`` as activated (its ``activate`` calls this), once, in order."""
    if module not in _activated:
        _activated.append(module)


def activated_schemas() -> list[ModuleType]:
    """The schema modules activated in this process, in activation order (upstream first)."""
    return [module for module in _activated if module.schema.is_activated()]


def master_tables(modules) -> list[type[dj.Table]]:
    """Master (non-Part) tables declared in ``modules`` (schema modules), in declaration order."""
    return [cls for module in modules for cls in vars(module).values()
            if inspect.isclass(cls) and issubclass(cls, dj.Table) and not issubclass(cls, dj.Part)
            and cls.__module__ == module.__name__]


def automatic_tables(modules) -> list[type[dj.Table]]:
    """Every Imported/Computed table of the schema ``modules``, upstream first."""
    tables = [table for table in master_tables(modules) if issubclass(table, (dj.Imported, dj.Computed))]
    if not tables:
        return []
    dependencies = tables[0].connection.dependencies
    dependencies.load()
    order = {name: index for index, name in enumerate(dependencies.topo_sort())}
    return sorted(tables, key=lambda table: order[table.full_table_name])


def fill_automatic_entries(modules) -> None:
    """Insert the automatic rows of the Manual tables of ``modules`` that define ``fill_automatic()`` (Curation 0)."""
    for table in master_tables(modules):
        if issubclass(table, dj.Manual) and hasattr(table, "fill_automatic"):
            table.fill_automatic()


def populate_all(
    schemas,
    *,
    display_progress: bool = True,
    reserve_jobs: bool = False,
    suppress_errors: bool = False,
    heartbeat_s: float = reservations.HEARTBEAT_S,
) -> dict[str, dict[str, Any]]:
    """Populate every automatic table of the schema modules ``schemas`` in dependency order (see
    ``imaging.populate_all``, which passes the activated schemas)."""
    results = {}
    with showing_progress(bar=display_progress and can_draw_bars()):
        for table in automatic_tables(schemas):
            fill_automatic_entries(schemas)
            if reserve_jobs:
                results[table.__name__] = reservations.populate_reserved(
                    table, display_progress=display_progress, suppress_errors=suppress_errors, heartbeat_s=heartbeat_s
                )
            else:
                results[table.__name__] = table.populate(display_progress=display_progress,
                                                         suppress_errors=suppress_errors)
    return results
