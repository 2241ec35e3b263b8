"""Shared test settings (tests and notebooks): data roots in a temporary folder and a database prefix per run.

Pipeline tests use the real MySQL/MariaDB server (DJ_HOST, DJ_USER, DJ_PASS; defaults
127.0.0.1, root, empty). Each run gets schemas of its own prefix, dropped at the end.
"""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

_DATA = Path(tempfile.mkdtemp(prefix="element-calcium-tests-"))
os.environ["EC_DB_PREFIX"] = f"ectest_{uuid.uuid4().hex[:8]}_"
os.environ["EC_RAW_ROOT"] = str(_DATA / "raw")
os.environ["EC_PROCESSED_ROOT"] = str(_DATA / "processed")
os.environ.setdefault("DJ_HOST", "127.0.0.1")
os.environ.setdefault("DJ_USER", "root")
os.environ.setdefault("DJ_PASS", "")
(_DATA / "raw").mkdir()
(_DATA / "processed").mkdir()

# Real recordings and other tools' real results (never copied into the repository): `../shared/realdata`
# beside the repository, or the folder named by EC_REALDATA.
REALDATA = Path(os.environ.get("EC_REALDATA", Path(__file__).resolve().parent.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real-data folder; tests that use it are skipped, with the reason, where it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real-data folder {REALDATA} is absent: set EC_REALDATA to a copy of shared/realdata to run")
    return REALDATA


def pytest_sessionfinish(session, exitstatus):
    """Remove the run's data roots and any schema of the run's prefix still on the server (notebooks make some)."""
    shutil.rmtree(_DATA, ignore_errors=True)
    try:
        import datajoint as dj

        connection = dj.conn()
    except Exception:  # no DataJoint or no database server: no test made a schema
        return
    prefix = os.environ["EC_DB_PREFIX"].replace("_", "\\_")
    names = [row[0] for row in connection.query("SHOW DATABASES LIKE %s", args=(prefix + "%",)).fetchall()]
    connection.query("SET FOREIGN_KEY_CHECKS = 0")
    for name in names:
        connection.query(f"DROP DATABASE `{name}`")
    connection.query("SET FOREIGN_KEY_CHECKS = 1")
