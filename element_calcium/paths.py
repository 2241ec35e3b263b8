"""Paths stored in tables are relative to a root data directory.

Two helpers replace what pipelines usually take from ``element-interface``: finding the
absolute path of a stored relative path among several roots, and turning an absolute path
back into one relative to the root that holds it. A relative path that climbs out of its root
(``../``) is refused, so the database can never point outside the data it manages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath


def _normalised_roots(roots: Iterable[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    normalised = [Path(root).expanduser().resolve() for root in roots]
    if not normalised:
        raise ValueError("no root data directory is configured")
    return normalised


def _checked_relative(relative_path: str | os.PathLike) -> PurePosixPath:
    relative = PurePosixPath(Path(relative_path).as_posix())
    if relative.is_absolute():
        raise ValueError(f"stored path {str(relative_path)!r} must be relative to a root data directory")
    if ".." in relative.parts:
        raise ValueError(f"stored path {str(relative_path)!r} leaves its root directory ('..')")
    return relative


def find_full_path(roots, relative_path: str | os.PathLike) -> Path:
    """Return the absolute path of ``relative_path`` under the first root that holds it.

    Args:
        roots: one root directory or several, searched in order.
        relative_path: a path relative to one of the roots, without ``..``.

    Raises:
        ValueError: the path is absolute or leaves its root.
        FileNotFoundError: no root holds the path.
    """
    relative = _checked_relative(relative_path)
    candidates = _normalised_roots(roots)
    for root in candidates:
        full = (root / relative).resolve()
        if full.exists() and full.is_relative_to(root):
            return full
    searched = ", ".join(str(root) for root in candidates)
    raise FileNotFoundError(f"{relative} does not exist under any root data directory ({searched})")


def find_root_directory(roots, full_path: str | os.PathLike) -> Path:
    """Return the root directory that contains the absolute ``full_path``.

    Raises:
        ValueError: no root contains the path.
    """
    full = Path(full_path).expanduser().resolve()
    for root in _normalised_roots(roots):
        if full.is_relative_to(root):
            return root
    raise ValueError(f"{full} is not under any root data directory")


def relative_to_root(roots, full_path: str | os.PathLike) -> str:
    """Return ``full_path`` relative to the root that contains it, as a POSIX string."""
    full = Path(full_path).expanduser().resolve()
    return full.relative_to(find_root_directory(roots, full)).as_posix()


def path_under_root(root: str | os.PathLike, relative_path: str | os.PathLike) -> Path:
    """``root / relative_path`` for a path that may not exist yet (an output folder).

    Raises:
        ValueError: the path is absolute or leaves the root.
    """
    return Path(root).expanduser().resolve() / _checked_relative(relative_path)
