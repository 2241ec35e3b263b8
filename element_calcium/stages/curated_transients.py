"""The stage of CuratedTransients: the automatic transients less those a curator rejected, plus those marked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from element_calcium.compute import events as event_compute
from element_calcium.compute.params import TransientParams
from element_calcium.stages.rows import Rows, RunSettings
from element_calcium.stages.transients import TraceInputs, stats_rows, transient_rows

STORED_TRANSIENT_COLUMNS = ("start_frame", "onset_frame", "peak_frame", "end_frame", "peak_dff", "amplitude",
                            "snr", "rise_s", "decay_s", "area")


@dataclass(frozen=True)
class CurationInputs:
    """What the stage needs.

    Attributes:
        traces: the Activity traces and the transient parameters (`TraceInputs`).
        stored: the stored Transients.Transient columns (``mask_id``, ``transient_id``,
            `STORED_TRANSIENT_COLUMNS`), each an array ordered by mask and transient id.
        cells: the TransientCuration.Cell rows (``mask_id``, ``merge_mode``, ``rejected_ids``, ``marked_peaks``).
    """

    traces: TraceInputs
    stored: dict[str, np.ndarray]
    cells: list[dict[str, Any]]


def run(inputs: CurationInputs, *, settings: RunSettings = RunSettings()) -> Rows:
    """The CuratedTransients row (``transient_count``), its ``Transient`` part (with ``added``: marked by the
    curator) and ``CellStats``."""
    mask_ids, traces, fps = inputs.traces.mask_ids, inputs.traces.traces, inputs.traces.fps
    params = TransientParams(**inputs.traces.params)
    rows = {int(m): n for n, m in enumerate(mask_ids)}
    table = _transients_table(pd.DataFrame(inputs.stored), rows)
    edits = {int(cell["mask_id"]): cell for cell in inputs.cells}
    curated = []
    for mask_id, row in rows.items():
        mine = table[table["cell"] == row].set_index("transient_id")
        edit = edits.get(mask_id)
        if edit is None:
            curated.append(mine.assign(added=False).reset_index(drop=True))
            continue
        marked = event_compute.measure_transients(traces[row], edit["marked_peaks"], fps=fps, params=params)
        result = event_compute.curate_transients(mine, rejected=edit["rejected_ids"],
                                                 marked=marked.assign(cell=row), mode=edit["merge_mode"])
        curated.append(result)
    combined = pd.concat(curated, ignore_index=True) if curated else table.assign(added=False)
    stats = event_compute.transient_statistics(traces, combined, fps=fps, params=params)
    transient_part = list(transient_rows(combined.drop(columns="added"), mask_ids, inputs.traces.frame_times))
    ordered = combined.sort_values(["cell", "onset"], kind="stable")
    return Rows(master={"transient_count": len(combined)}, parts={
        "Transient": [{**row, "added": bool(added)} for row, added in zip(transient_part, ordered["added"])],
        "CellStats": list(stats_rows(stats, mask_ids)),
    })


def _transients_table(detected: pd.DataFrame, rows: dict[int, int]) -> pd.DataFrame:
    """Stored transients back in the columns of `detect_transients` (``cell`` = row of the traces)."""
    columns = {"start_frame": "start", "onset_frame": "onset", "peak_frame": "peak", "end_frame": "end"}
    if detected.empty:
        return pd.DataFrame(columns=["transient_id", *event_compute.TRANSIENT_COLUMNS])
    table = detected.rename(columns=columns)
    table["cell"] = table["mask_id"].map(rows)
    return table[["transient_id", *event_compute.TRANSIENT_COLUMNS]]
