"""The stage of Processing: what ran for a processing task, from the run records of its stages.

The stages a processing method computes or loads, motion correction and segmentation (`TASK_STAGES`), record in
their master rows when they began and finished, on which host and with which software (`run_record`). A task's
Processing row summarises them as element-miniscope's ``Processing`` does (``processing_time``, the time the
results were made, and ``package_version``), with the start, the host and one ``Stage`` row per stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from element_calcium.stages.rows import Rows, RunSettings
from element_calcium.stages.run_record import parse_time

TASK_STAGES = ("MotionCorrection", "Segmentation")  # in the order they run; the last one made the results
HOST_LENGTH = 255  # characters the host column holds


@dataclass(frozen=True)
class ProcessingInputs:
    """The run records of the task's stages: `TASK_STAGES` name -> the master row's ``run_record``."""

    runs: dict[str, dict[str, Any]]


def run(inputs: ProcessingInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The Processing row (start of the first stage, end of the last, the software that made the results and its
    version, the hosts) and one ``Stage`` row per stage.

    Raises:
        ValueError: a stage without a run record, or one that finished before it began.
    """
    stage_rows = []
    for stage in TASK_STAGES:
        record = inputs.runs.get(stage)
        if not record:
            raise ValueError(f"the task's {stage} row has no run record (made before runs were recorded); "
                             "recompute it to fill Processing")
        start, end = parse_time(record["started"]), parse_time(record["finished"])
        if end < start:
            raise ValueError(f"the {stage} run record ends ({end}) before it begins ({start})")
        stage_rows.append({"stage": stage, "stage_start": start, "stage_end": end, "software": record["software"],
                           "package_version": record["version"], "host": record["host"][:HOST_LENGTH],
                           "element_calcium_version": record.get("element_calcium_version")})
    results = stage_rows[-1]  # the last stage made the task's results
    hosts = ", ".join(dict.fromkeys(row["host"] for row in stage_rows))
    master = {
        "processing_start": min(row["stage_start"] for row in stage_rows),
        "processing_time": max(row["stage_end"] for row in stage_rows),
        "software": results["software"],
        "package_version": results["package_version"],
        "host": hosts[:HOST_LENGTH],
    }
    return Rows(master=master, parts={"Stage": stage_rows})
