"""The imaging schema's record of what ran for each processing task: element-miniscope's ``Processing``.

Declared on the imaging schema (`imaging.schema`) and used as ``imaging.Processing``; `imaging.activate` binds it
with the rest of the schema. It depends on the task's Segmentation, so populating in dependency order fills it
after the stages it describes, from the run records those stages wrote (`stages.run_record`), whichever worker
ran them or fills it.
"""

from __future__ import annotations

from typing import Any

import datajoint as dj

from . import stages
from ._schema_runtime import StageTable
from .imaging_processing import MotionCorrection, Segmentation
from .imaging_recordings import schema
from .stages.processing import TASK_STAGES, ProcessingInputs

_TABLES = {"MotionCorrection": MotionCorrection, "Segmentation": Segmentation}


@schema
class Processing(StageTable, dj.Computed):
    """What ran for a processing task (its motion correction and segmentation): when, with which software, where
    (`stages.processing`). element-miniscope's ``Processing`` with the start and the host added.

    Attributes:
        Segmentation (foreign key): the task's segmentation (its key is the ProcessingTask's).
        processing_start: (UTC) when the first stage (motion correction) began.
        processing_time: (UTC) when the last stage (segmentation) finished: when the results were made.
        software: ``element_calcium`` for a computed task; for a loaded one the tool whose results were read
            (``minian``, ``caiman``, ``suite2p``, ``nwb``, ``caltrig``).
        package_version: that software's version; null where the loaded results record none.
        host: the machine the stages ran on (several, comma-separated in stage order, when they differ).
        Stage: one row per stage: its start and end (UTC), software and version, host, and the version of
            element_calcium that ran it.
    """

    definition = """
    # what ran for a processing task (motion correction and segmentation): when, with which software, where
    -> Segmentation
    ---
    processing_start: datetime(6)      # (UTC) when the first stage began
    processing_time: datetime(6)       # (UTC) when the last stage finished: when the results were made
    software: varchar(32)              # element_calcium, or the tool whose results were loaded
    package_version=null: varchar(64)  # its version; null where the loaded results record none
    host: varchar(255)                 # the machine(s) the stages ran on
    """

    class Stage(dj.Part):
        """One stage of the task as it ran.

        Attributes:
            stage: ``MotionCorrection`` or ``Segmentation``.
            stage_start, stage_end: (UTC) when it began and finished.
            software, package_version: as in the master row, for this stage.
            host: the machine it ran on.
            element_calcium_version: the version of element_calcium that computed or loaded it.
        """

        definition = """
        -> master
        stage: varchar(32)                 # MotionCorrection | Segmentation
        ---
        stage_start: datetime(6)           # (UTC)
        stage_end: datetime(6)             # (UTC)
        software: varchar(32)
        package_version=null: varchar(64)
        host: varchar(255)
        element_calcium_version=null: varchar(64)
        """

    @property
    def key_source(self):
        return (Segmentation & "run_record is not null") & (MotionCorrection & "run_record is not null").proj()

    def make_fetch(self, key: dict[str, Any]) -> tuple[ProcessingInputs]:
        return (ProcessingInputs(runs={name: (_TABLES[name] & key).fetch1("run_record") for name in TASK_STAGES}),)

    def make_compute(self, key: dict[str, Any], inputs: ProcessingInputs) -> tuple[stages.Rows]:
        return (stages.run(Processing.__name__, inputs),)
