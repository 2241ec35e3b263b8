"""Benchmarks' own database schemas: dropped when a benchmark is done."""

from __future__ import annotations


def drop_schemas(prefix: str) -> None:
    """Drop every schema whose name starts with ``prefix`` (a benchmark's own prefix) on the configured server."""
    import datajoint as dj

    connection = dj.conn()
    pattern = prefix.replace("_", "\\_") + "%"
    names = [row[0] for row in connection.query("SHOW DATABASES LIKE %s", args=(pattern,)).fetchall()]
    connection.query("SET FOREIGN_KEY_CHECKS = 0")
    for name in names:
        connection.query(f"DROP DATABASE `{name}`")
    connection.query("SET FOREIGN_KEY_CHECKS = 1")
