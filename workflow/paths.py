"""Where the data lives and which database prefix to use.

Settings come, in order of precedence, from environment variables, from a JSON settings
file, and from defaults:

=================  ======================  ===================  =========================
setting            environment variable    settings file key    default
=================  ======================  ===================  =========================
raw roots          ``EC_RAW_ROOT``         ``raw_roots``        ``./data/raw``
processed root     ``EC_PROCESSED_ROOT``   ``processed_root``   ``./data/processed``
database prefix    ``EC_DB_PREFIX``        ``db_prefix``        ``ec_``
compute device     ``EC_DEVICE``           ``device``           ``auto`` (GPU if CuPy sees one)
frames per chunk   ``EC_CHUNK_FRAMES``     ``chunk_frames``     ``200``
worker threads     ``EC_WORKERS``          ``workers``          the cores available (1: serial)
setup-db's server  ``EC_DB_DIR``           ``db_dir``           ``~/.local/share/element-calcium/mariadb``
=================  ======================  ===================  =========================

``EC_RAW_ROOT`` may list several roots separated by ``os.pathsep`` (``:`` on Linux). The
settings file is ``element_calcium.json`` in the working directory, or the file named by
``EC_CONFIG``; relative paths in it are taken relative to the file. Database credentials are
DataJoint's own (``datajoint.json``, ``DJ_HOST``, ``DJ_USER``, ``DJ_PASS``, ``DJ_PORT``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

SETTINGS_FILE = "element_calcium.json"


def _settings_file() -> Path | None:
    named = os.environ.get("EC_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"EC_CONFIG names {path}, which is not a file")
        return path
    local = Path.cwd() / SETTINGS_FILE
    return local if local.is_file() else None


def load_settings() -> dict[str, Any]:
    """The settings file's content, or an empty dictionary when there is none."""
    path = _settings_file()
    if path is None:
        return {}
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return {"_base": path.parent.resolve(), **settings}


def _resolve(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def get_raw_root_dirs() -> list[Path]:
    """Root directories holding raw recordings."""
    if os.environ.get("EC_RAW_ROOT"):
        return [_resolve(part, Path.cwd()) for part in os.environ["EC_RAW_ROOT"].split(os.pathsep) if part]
    settings = load_settings()
    if "raw_roots" in settings:
        roots = settings["raw_roots"]
        return [_resolve(root, settings["_base"]) for root in ([roots] if isinstance(roots, str) else roots)]
    return [_resolve("data/raw", Path.cwd())]


def get_processed_root_dir() -> Path:
    """Root directory for processing output (motion-corrected movies, results)."""
    if os.environ.get("EC_PROCESSED_ROOT"):
        return _resolve(os.environ["EC_PROCESSED_ROOT"], Path.cwd())
    settings = load_settings()
    if "processed_root" in settings:
        return _resolve(settings["processed_root"], settings["_base"])
    return _resolve("data/processed", Path.cwd())


def check_writable(folder: Path) -> None:
    """Refuse a processed root where results cannot be written, before any is computed.

    Raises:
        PermissionError: naming ``folder`` and why (read-only file system, permissions, not a folder).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PermissionError(
            f"the processed root {folder} is not writable ({error.strerror or error}); results are written there: "
            "make it writable, or set EC_PROCESSED_ROOT to a folder that is"
        ) from None


def get_db_prefix() -> str:
    """Prefix of the pipeline's database schema names."""
    return os.environ.get("EC_DB_PREFIX") or load_settings().get("db_prefix", "ec_")


def get_db_dir() -> Path:
    """The folder of the MariaDB server that ``element-calcium setup-db`` creates (data, socket, log)."""
    if os.environ.get("EC_DB_DIR"):
        return _resolve(os.environ["EC_DB_DIR"], Path.cwd())
    settings = load_settings()
    if "db_dir" in settings:
        return _resolve(settings["db_dir"], settings["_base"])
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return _resolve(str(data_home / "element-calcium" / "mariadb"), Path.cwd())


def get_run_settings() -> dict[str, Any]:
    """Run settings, never part of a parameter set: compute ``device``, ``chunk_frames`` and ``workers`` (left
    out when not set: the stages then use the cores available)."""
    settings = load_settings()
    device = os.environ.get("EC_DEVICE") or settings.get("device", "auto")
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    chunk_frames = int(os.environ.get("EC_CHUNK_FRAMES") or settings.get("chunk_frames", 200))
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    workers = os.environ.get("EC_WORKERS") or settings.get("workers")
    if workers is None:
        return {"device": device, "chunk_frames": chunk_frames}
    if not str(workers).isdigit() or int(workers) < 1:
        raise ValueError(f"workers (EC_WORKERS) must be an integer >= 1 (1 runs serially), got {workers!r}")
    return {"device": device, "chunk_frames": chunk_frames, "workers": int(workers)}
