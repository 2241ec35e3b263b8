"""Fixtures for tests against the database: the activated pipeline and recording folders."""

import itertools
import os
from pathlib import Path

import pytest

_names = itertools.count()


@pytest.fixture(scope="session")
def pipeline():
    """The activated ``workflow.pipeline`` module; its schemas are dropped after the run."""
    import datajoint as dj

    dj.config["safemode"] = False
    from workflow import pipeline as activated

    yield activated
    activated.registration.schema.drop(prompt=False)
    activated.clusters.schema.drop(prompt=False)
    activated.events.schema.drop(prompt=False)
    activated.imaging.schema.drop(prompt=False)
    activated.session.schema.drop(prompt=False)


@pytest.fixture
def raw_root() -> Path:
    return Path(os.environ["EC_RAW_ROOT"])


@pytest.fixture
def new_folder(raw_root):
    """A factory of fresh, not yet existing folders under the raw root."""

    def make(label: str = "rec") -> Path:
        return raw_root / f"{label}_{next(_names)}"

    return make


@pytest.fixture
def subject_name(request, pipeline) -> str:
    """A subject name unique to the test; its rows (and their jobs) are deleted afterwards."""
    name = f"s{next(_names)}_{request.node.name[:40]}"
    yield name
    (pipeline.Subject & {"subject": name}).delete(prompt=False)
    for table in pipeline.imaging.automatic_tables():
        if table.jobs.is_declared:
            (table.jobs & {"subject": name}).delete_quick()
