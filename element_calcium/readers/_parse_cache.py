"""Parse a recording's metadata once per process: a small cache keyed by the folder and its files' identity.

Opening a recording parses its metadata and frame times and probes every movie file (header, last frame); the
pipeline opens the same recording several times per key (the recording's information, motion correction, ...).
The cache keeps what a parse learned, keyed by the folders it read and, for every file in them, its name, size,
modification time (ns) and inode: a file that is rewritten, added or removed is parsed again. The warnings
the parse gave are given again on every use.
"""

from __future__ import annotations

import os
import pathlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_ENTRIES = 16  # recordings remembered (least recently used dropped first)

_entries: OrderedDict[tuple, tuple[Any, list[warnings.WarningMessage]]] = OrderedDict()
_lock = threading.Lock()


def folder_signature(folders: tuple[pathlib.Path, ...]) -> tuple:
    """(folder, ((name, size, mtime_ns, inode), ...)) of the files directly in each of ``folders``."""
    signature = []
    for folder in folders:
        files = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file():
                    stat = entry.stat()
                    files.append((entry.name, stat.st_size, stat.st_mtime_ns, stat.st_ino))
        signature.append((str(folder.resolve()), tuple(sorted(files))))
    return tuple(signature)


def parsed(kind: str, folders: tuple[pathlib.Path, ...], parse: Callable[[], Any]) -> Any:
    """What ``parse()`` returns for the recording in ``folders`` (the folders whose files it reads), from the
    cache when none of their files changed since; ``kind`` names the parser. Its warnings are re-issued; an
    exception of ``parse`` propagates (after its warnings) and nothing is cached."""
    key = (kind, folder_signature(folders))
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
    if entry is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = parse()
            except BaseException:
                _reissue(caught)
                raise
        entry = (value, caught)
        with _lock:
            _entries[key] = entry
            while len(_entries) > MAX_ENTRIES:
                _entries.popitem(last=False)
    _reissue(entry[1])
    return entry[0]


def clear() -> None:
    """Forget every parsed recording."""
    with _lock:
        _entries.clear()


def _reissue(caught: list[warnings.WarningMessage]) -> None:
    for message in caught:
        warnings.warn_explicit(message.message, message.category, message.filename, message.lineno)
