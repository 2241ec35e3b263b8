"""Files under the processed root that nothing needs any more: stale temporaries and results no row names.

- `remove_stale_temporaries(root)`: cheap (one walk of the folders, no database); a worker calls it
  every cycle. It deletes the hidden ``.partial-`` temporaries (`paths.temporary_path`) whose writer
  has exited on this machine, or that were not modified for ``grace_s`` (a writer elsewhere).
- `unreferenced_files()` and `remove` (the ``element-calcium cleanup`` command): the pipeline's own
  files that no row references and that were not modified within a grace period: stale temporaries,
  results files (HDF5 files recording an owner in this pipeline's schemas, `results_file.owner_text`) and
  the files of the array store in this pipeline's schema sections (PeriEventWindow's ``.npy`` of an
  insert that was rolled back, DataJoint's ``.saving`` temporaries).

A file a row references is never deleted, nor one modified within the grace period: a computation
publishes its file and then inserts the row naming it, and the files are listed before the rows are
read, so a file named meanwhile is kept. Other files (another tool's results in a load-mode folder,
reports, videos, files of other pipelines sharing the root) are never touched. Symbolic links are not
followed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import datajoint as dj

from . import _schema_runtime, events, extraction_file, imaging, paths, results_file, storage

DEFAULT_GRACE_S = 24 * 3600.0
_RESULTS_FORMATS = (storage.FORMAT, extraction_file.FORMAT)
_STORE_TEMPORARY = ".saving"  # DataJoint's name for a store file being written


@dataclass(frozen=True)
class Unreferenced:
    """A file no row needs: ``kind`` is ``"temporary"``, ``"results file"`` or ``"array store"``; ``size`` in bytes."""

    path: Path
    size: int
    kind: str


def _files(root: Path) -> Iterable[os.DirEntry]:
    """Every regular file below ``root``, without following symbolic links or entering zarr stores."""
    pending = [root]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not entry.name.endswith(".zarr"):
                    pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield entry


def remove_stale_temporaries(root: str | os.PathLike, *, grace_s: float = paths.STALE_AFTER_S) -> list[Path]:
    """Delete the stale temporaries below ``root`` (`paths.is_stale_temporary`); returns those deleted.

    For a worker's cycle: no database, one walk of the folders (zarr stores are not entered).
    """
    removed = []
    for entry in _files(Path(root)):
        if paths.is_stale_temporary(entry.path, grace_s=grace_s):
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


def _old(entry: os.DirEntry, grace_s: float, now: float) -> bool:
    return now - entry.stat(follow_symlinks=False).st_mtime > grace_s


def _is_pipeline_results(path: str, schemas: set[str]) -> bool:
    """Whether ``path`` is a results file of this package whose owner's schema is one of ``schemas``."""
    try:
        found_format, owner = results_file.read_owner(path)
    except ValueError:
        return False
    return found_format in _RESULTS_FORMATS and owner is not None and results_file.owner_schema(owner) in schemas


def find_unreferenced(
    root: str | os.PathLike,
    *,
    schemas: Iterable[str],
    referenced: Callable[[], Iterable[str]],
    grace_s: float = DEFAULT_GRACE_S,
    exclude: Iterable[str | os.PathLike] = (),
    now: float | None = None,
) -> list[Unreferenced]:
    """The stale temporaries and unreferenced results files below ``root`` not modified for ``grace_s`` seconds.

    Args:
        root: the processed root.
        schemas: database schemas whose results files are considered (others are left alone).
        referenced: returns the paths, relative to ``root``, that rows name; called after the files are listed.
        grace_s: (s) files modified more recently are kept.
        exclude: folders below ``root`` not looked into (the array store, handled by `find_unreferenced_in_store`).
        now: the current time (s since the epoch); None: the clock.
    """
    root = Path(root).resolve()
    now = time.time() if now is None else now
    schemas = set(schemas)
    excluded = tuple(str(Path(folder).resolve()) + os.sep for folder in exclude)
    found = []
    for entry in _files(root):
        if excluded and entry.path.startswith(excluded):
            continue
        try:
            if paths.is_temporary(entry.path):
                if paths.is_stale_temporary(entry.path, grace_s=grace_s, now=now):
                    found.append(Unreferenced(Path(entry.path), entry.stat(follow_symlinks=False).st_size,
                                              "temporary"))
            elif entry.name.endswith(".h5") and _old(entry, grace_s, now) and _is_pipeline_results(entry.path,
                                                                                                  schemas):
                found.append(Unreferenced(Path(entry.path), entry.stat(follow_symlinks=False).st_size,
                                          "results file"))
        except FileNotFoundError:  # removed meanwhile (a temporary published by its writer)
            continue
    named = {paths.normalised_relative(path) for path in referenced()}
    return [file for file in found if file.kind == "temporary" or
            paths.normalised_relative(file.path.relative_to(root)) not in named]


def find_unreferenced_in_store(
    location: str | os.PathLike,
    *,
    sections: Iterable[str],
    referenced: Callable[[], Iterable[str]],
    grace_s: float = DEFAULT_GRACE_S,
    now: float | None = None,
) -> list[Unreferenced]:
    """Files of a DataJoint file store in ``sections`` (folders relative to ``location``, e.g.
    ``_schema/<schema>``) that no row names (``referenced``: store-relative paths, called after the
    listing) and that were not modified for ``grace_s`` seconds."""
    location = Path(location).resolve()
    now = time.time() if now is None else now
    found = []
    for section in sections:
        for entry in _files(location / section):
            try:
                if _old(entry, grace_s, now):
                    found.append(Unreferenced(Path(entry.path), entry.stat(follow_symlinks=False).st_size,
                                              "array store"))
            except FileNotFoundError:
                continue
    named = set(referenced())
    return [file for file in found if file.path.relative_to(location).as_posix() not in named]


def _referenced_results() -> set[str]:
    """Paths (relative to the processed root) of the results files that rows of the activated schemas name."""
    columns = [(imaging.MotionCorrection, "corrected_movie"), (imaging.Segmentation, "results_file")]
    if events.schema.is_activated():
        columns += [(events.SpatialEvents, "event_map"), (events.SpatialEvents, "corrected_movie")]
    named = set()
    for table, column in columns:
        named.update(path for path in (table & f"{column} is not null").to_arrays(column))
    return named


def _referenced_in_store(schemas: list, store: str) -> set[str]:
    """Store-relative paths that rows of ``schemas`` name in ``store``: every schema-addressed column (``<npy@>``,
    ``<object@>``) of every table. A table that cannot be read raises: nothing is deleted on a partial list."""
    named = set()
    for schema in schemas:
        for name in schema.list_tables():
            table = schema.get_table(name)
            for attribute in table.heading.schema_objects:
                codec = table.heading.attributes[attribute].codec
                for row in table.proj(attribute).cursor(as_dict=True):
                    named.update(path for path, in_store in codec.referenced_paths(row[attribute])
                                 if in_store == store)
    return named


def _schemas() -> list:
    """The activated schemas of the pipeline's schema modules, each once (imaging's tables span three modules
    on one schema)."""
    return list({id(module.schema): module.schema for module in _schema_runtime.activated_schemas()}.values())


def unreferenced_files(*, grace_s: float = DEFAULT_GRACE_S) -> list[Unreferenced]:
    """The pipeline's files under the processed root (and in its array store) that no row of the activated
    schemas references and that were not modified for ``grace_s`` seconds (`find_unreferenced`,
    `find_unreferenced_in_store`)."""
    root = imaging.get_processed_root_dir()
    schemas = _schemas()
    store = None
    if events.schema.is_activated() and events.ARRAY_STORE in dj.config.stores:
        spec = dj.config.get_store_spec(events.ARRAY_STORE)
        store = spec if spec.get("protocol") == "file" else None
    found = find_unreferenced(root, schemas=[schema.database for schema in schemas], referenced=_referenced_results,
                              grace_s=grace_s, exclude=[store["location"]] if store else [])
    if store is not None:
        prefix = store["schema_prefix"].strip("/")
        found += find_unreferenced_in_store(
            store["location"], sections=[f"{prefix}/{schema.database}".lstrip("/") for schema in schemas],
            referenced=lambda: _referenced_in_store(schemas, events.ARRAY_STORE), grace_s=grace_s)
    return found


def remove(files: Iterable[Unreferenced], *, grace_s: float = DEFAULT_GRACE_S) -> list[Unreferenced]:
    """Delete ``files`` (from `unreferenced_files`) except those modified within ``grace_s`` seconds since they
    were listed (a temporary: unless it is still stale); returns those deleted."""
    removed = []
    for file in files:
        try:
            if file.kind == "temporary":
                if not paths.is_stale_temporary(file.path, grace_s=grace_s):
                    continue
            elif time.time() - file.path.lstat().st_mtime <= grace_s:
                continue
            file.path.unlink()
        except FileNotFoundError:
            continue
        removed.append(file)
    return removed
