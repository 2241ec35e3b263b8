"""Paths stored in tables are relative to a root data directory; files under a root are written safely.

Two helpers replace what pipelines usually take from ``element-interface``: finding the
absolute path of a stored relative path among several roots, and turning an absolute path
back into one relative to the root that holds it. A relative path that climbs out of its root
(``../``) is refused, so the database can never point outside the data it manages.

A file is written under a hidden temporary name beside its final name (`temporary_path`, which
records the writing process) and then published (`publish`), never over an existing file: a
file that a stored row names is never replaced. Temporaries whose writer is gone are found by
`is_stale_temporary`.
"""

from __future__ import annotations

import errno
import glob
import os
import secrets
import socket
import time
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


def normalised_relative(relative_path: str | os.PathLike) -> str:
    """``relative_path`` in one spelling (``./a//b/`` -> ``a/b``), to compare stored paths.

    Raises:
        ValueError: the path is absolute or leaves its root.
    """
    return os.path.normpath(_checked_relative(relative_path).as_posix())


def find_full_path(roots, relative_path: str | os.PathLike) -> Path:
    """Return the absolute path of ``relative_path`` under the first root that holds it.

    Args:
        roots: one root directory or several, searched in order.
        relative_path: a path relative to one of the roots, without ``..``.

    Raises:
        ValueError: the path is absolute or leaves its root (``..``).
        FileNotFoundError: no root holds the path; the message says when a symbolic link leads out of a root.
    """
    relative = _checked_relative(relative_path)
    candidates = _normalised_roots(roots)
    for root in candidates:
        full = (root / relative).resolve()
        if full.exists() and full.is_relative_to(root):
            return full
        if full.exists():
            raise FileNotFoundError(f"{root / relative} is reached through a symbolic link that leads to {full}, outside "
                             f"its root {root}; move or copy it under the root")
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


# ---------------------------------------------------------------------------- files written under a root

TEMPORARY_MARK = ".partial-"
STALE_AFTER_S = 3600.0  # (s) a temporary unmodified this long has no live writer (one on another machine included)


def _machine() -> str:
    """This machine and process namespace, as a name part: host name (letters, digits, ``-``) and PID-namespace id."""
    host = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in socket.gethostname()) or "host"
    try:
        return f"{host}-{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return host


def temporary_path(final: str | os.PathLike) -> Path:
    """A new hidden name beside ``final`` to write it under: ``.{name}.partial-{token}.{pid}@{machine}``.

    The writer's process id and machine let `is_stale_temporary` tell at once when the writer is gone.
    """
    final = Path(final)
    return final.with_name(f".{final.name}{TEMPORARY_MARK}{secrets.token_hex(8)}.{os.getpid()}@{_machine()}")


def is_temporary(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named as a temporary of `temporary_path` (a hidden ``.partial-`` file)."""
    name = Path(path).name
    return name.startswith(".") and TEMPORARY_MARK in name


def _writer_gone(name: str) -> bool:
    """True when the temporary ``name`` was written by a process of this machine that no longer runs."""
    writer = name.rpartition(TEMPORARY_MARK)[2].partition(".")[2]
    pid, _, machine = writer.partition("@")
    if machine != _machine() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a live process of another user
        pass
    return False


def is_stale_temporary(path: str | os.PathLike, *, grace_s: float = STALE_AFTER_S, now: float | None = None) -> bool:
    """Whether the temporary ``path`` is left over: its writer on this machine has exited, or it was not modified
    for ``grace_s`` seconds (a writer on another machine, or one whose process id was reused)."""
    path = Path(path)
    if not is_temporary(path):
        return False
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > grace_s or _writer_gone(path.name)


def remove_stale_temporaries(
    folder: str | os.PathLike, *, names: Iterable[str] | None = None, grace_s: float = STALE_AFTER_S
) -> list[Path]:
    """Delete the stale temporaries (`is_stale_temporary`) in ``folder`` (not below it); returns those deleted.

    names: final file names whose temporaries are considered (e.g. one key's results files), a temporary
        of a temporary included; None: all.
    """
    folder = Path(folder)
    prefixes = None if names is None else tuple(f"{name}{TEMPORARY_MARK}" for name in names)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if prefixes is not None and not entry.name.lstrip(".").startswith(prefixes):
            continue
        if entry.is_file(follow_symlinks=False) and is_stale_temporary(entry.path, grace_s=grace_s):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def fresh_name(final: str | os.PathLike) -> Path:
    """Another name for ``final`` in its folder: ``{stem}-{token}{suffix}`` (e.g. ``motion_corrected-1f0c9a3e.h5``)."""
    final = Path(final)
    return final.with_name(f"{final.stem}-{secrets.token_hex(4)}{final.suffix}")


def versions(final: str | os.PathLike) -> list[Path]:
    """``final`` and its `fresh_name` versions that exist, in name order."""
    final = Path(final)
    found = [final] if final.exists() else []
    return found + sorted(final.parent.glob(f"{glob.escape(final.stem)}-{'[0-9a-f]' * 8}{glob.escape(final.suffix)}"))


def publish(temp: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Give the complete file ``temp`` the name ``final``, or a `fresh_name` when ``final`` exists; returns the name.

    Never replaces a file: a results file that a stored row names stays as it is, and a second computation
    of the same key appears under a new name that only its own rows would name. ``temp`` must be in the
    folder of ``final``; it is gone afterwards.
    """
    temp, final = Path(temp), Path(final)
    target = final
    while True:
        try:
            _link_new(temp, target)
            return target
        except FileExistsError:
            target = fresh_name(final)


def _link_new(temp: Path, target: Path) -> None:
    """Rename ``temp`` to ``target``, failing with FileExistsError when ``target`` exists (atomic either way)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))  # no hard links here: claim the name
        try:
            os.replace(temp, target)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return
    temp.unlink()
