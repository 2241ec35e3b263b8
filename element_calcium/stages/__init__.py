"""The stages and their registry: one pure module per automatic table, each ``run(inputs, *, settings) -> Rows``.

A table's ``make_fetch`` (its schema module) gathers the stage's inputs, the stage computes or loads the rows
(no database here), and the shared ``make_insert`` (`element_calcium._schema_runtime.insert_rows`) inserts them.

The registry:

- `STAGES`: automatic table -> its stage module.
- `METHODS`: processing method -> how each stage that depends on the method gets its result: the built-in method
  computes (the stage's ``run``), an external tool's results are loaded (the stage's ``load`` with that tool's
  loader). ``ProcessingMethod`` holds these methods. A new external tool is one loader and one line here.
- `PARAMETERS`: the parameter class of each step of a parameter set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from element_calcium.compute.params import (
    CellClusteringParams,
    EventClusteringParams,
    PeriEventParams,
    ProcessingParams,
    SpatialEventParams,
    TransientParams,
)
from element_calcium.loaders.caiman import load_caiman_extraction, load_caiman_motion
from element_calcium.loaders.caltrig import load_caltrig_extraction, load_caltrig_motion
from element_calcium.loaders.minian import load_minian_extraction, load_minian_motion
from element_calcium.loaders.nwb import load_nwb_extraction, load_nwb_motion
from element_calcium.loaders.suite2p import load_suite2p_extraction, load_suite2p_motion
from element_calcium.loaders.versions import results_version
from element_calcium.stages import (
    activity,
    cell_clustering,
    classification,
    cross_session,
    curated_transients,
    event_clustering,
    fluorescence,
    motion,
    peri_event,
    processing,
    recording_info,
    run_record,
    segmentation,
    spatial_events,
    transients,
)
from element_calcium.stages.rows import Rows, RunSettings

BUILT_IN = "element_calcium"


@dataclass(frozen=True)
class Method:
    """A processing method: what it is, and the loader of each stage it loads (none: it computes every stage).

    Attributes:
        description: one line for ``ProcessingMethod``.
        loaders: stage name (a key of `STAGES`) -> ``loader(output_dir) -> Loaded...`` (`element_calcium.loaders`).
    """

    description: str
    loaders: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def computes(self) -> bool:
        return not self.loaders


METHODS: dict[str, Method] = {
    BUILT_IN: Method("built-in: every stage computed by element_calcium"),
    "caiman": Method("load CaImAn results (HDF5)",
                     {"MotionCorrection": load_caiman_motion, "Segmentation": load_caiman_extraction}),
    "suite2p": Method("load suite2p results (output folder)",
                      {"MotionCorrection": load_suite2p_motion, "Segmentation": load_suite2p_extraction}),
    "minian": Method("load minian results (zarr or netCDF)",
                     {"MotionCorrection": load_minian_motion, "Segmentation": load_minian_extraction}),
    "caltrig": Method("load a CalTrig session (minian zarr folder with CalTrig's DFF)",
                      {"MotionCorrection": load_caltrig_motion, "Segmentation": load_caltrig_extraction}),
    "nwb": Method("load an NWB file's PlaneSegmentation and ROI response series",
                  {"MotionCorrection": load_nwb_motion, "Segmentation": load_nwb_extraction}),
}

STAGES: dict[str, ModuleType] = {
    "RecordingInfo": recording_info,
    "MotionCorrection": motion,
    "Segmentation": segmentation,
    "MaskClassification": classification,
    "Fluorescence": fluorescence,
    "Activity": activity,
    "Transients": transients,
    "CuratedTransients": curated_transients,
    "PeriEventWindow": peri_event,
    "SpatialEvents": spatial_events,
    "CellClustering": cell_clustering,
    "EventClustering": event_clustering,
    "Registration": cross_session,
    "Processing": processing,
}

PARAMETERS: dict[str, type] = {
    "processing": ProcessingParams,
    "transients": TransientParams,
    "peri_event": PeriEventParams,
    "spatial": SpatialEventParams,
    "cell_clustering": CellClusteringParams,
    "event_clustering": EventClusteringParams,
}


def run(table: str, inputs: Any, *, settings: RunSettings = RunSettings()) -> Rows:
    """The rows of ``table`` for ``inputs``: its stage's ``run``, or, for a stage whose inputs name a processing
    method and task mode, the method's way (compute, or load with the method's loader), its master row given the
    ``run_record`` of what produced it (`run_record`).

    Raises:
        ValueError: an unknown method, a method with no loader for this stage, or an external method triggered.
    """
    stage = STAGES[table]
    if not hasattr(inputs, "task_mode"):
        return stage.run(inputs, settings=settings)
    if inputs.method not in METHODS:
        raise ValueError(f"unknown processing method {inputs.method!r}; known: {sorted(METHODS)}")
    method = METHODS[inputs.method]
    if inputs.task_mode == "load":
        loadable = sorted(name for name, known in METHODS.items() if table in known.loaders)
        if table not in method.loaders:
            raise ValueError(f"no {table} loader for processing method {inputs.method!r}; load mode supports "
                             f"{loadable}")
        started = run_record.now()
        rows = stage.load(inputs, loader=method.loaders[table], settings=settings)
        return run_record.with_run_record(rows, started, software=inputs.method,
                                          version=results_version(inputs.method, inputs.output_dir))
    if not method.computes:
        raise ValueError(
            f"processing method {inputs.method!r} cannot be triggered here; use task_mode 'load' to read its "
            f"results, or a parameter set of method {BUILT_IN!r}"
        )
    started = run_record.now()
    rows = stage.run(inputs, settings=settings)
    return run_record.with_run_record(rows, started, software=BUILT_IN, version=run_record.element_calcium_version())


__all__ = ["BUILT_IN", "METHODS", "PARAMETERS", "STAGES", "Method", "Rows", "RunSettings", "run"]
