"""Every database query and every call into the pipeline's public functions that the app's pages make (those of
transients, events and clusters in `event_data`, mixed into `AppData`).

Pages never build a query: they name recordings, curations and cells by values this module gave them, and
each value coming back from a browser is looked up among the rows read from the database (never written into
SQL). Results that do not change while a page is open (a curation's cells, a recording's frame times) are
cached per key.

    data = AppData(pipeline)          # a module with activated ``imaging``, ``events`` and ``clusters``
    table = data.recordings()         # one row per processing task, with each stage's status
    task = data.task_key(table.task_id[0])
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
from skimage import measure

from element_calcium import curation, storage
from element_calcium.app.event_data import EventQueries
from element_calcium.output_dirs import key_of
from element_calcium.paths import find_full_path
from element_calcium.progress import key_text, running_keys

STAGES = ("MotionCorrection", "Segmentation", "MaskClassification", "Fluorescence", "Activity", "Transients",
          "PeriEventWindow", "CellClustering", "SpatialEvents")
TRACE_METHODS = ("dff", "denoised", "deconvolved")
NEW_CELL_CLASS = "curated"


class StaleCuration(ValueError):
    """The curation a page acted on changed (another curator derived from it) after the page read it."""


class AppData(EventQueries):
    """The app's view of one activated pipeline (the transient, event and cluster queries are in
    `event_data.EventQueries`).

    Args:
        pipeline: a module (or namespace) whose ``imaging``, ``events`` and ``clusters`` are the activated
            element_calcium schema modules.
    """

    def __init__(self, pipeline: Any):
        missing = [name for name in ("imaging", "events", "clusters") if not hasattr(pipeline, name)]
        if missing:
            raise ValueError(f"the pipeline given to the app lacks {missing}: pass the module that activates the "
                             "imaging, events and clusters schemas (e.g. workflow.pipeline)")
        self.imaging, self.events, self.clusters = pipeline.imaging, pipeline.events, pipeline.clusters
        self._cells = functools.lru_cache(maxsize=16)(self._read_cells)
        self._frame_times = functools.lru_cache(maxsize=16)(self._read_frame_times)

    # ------------------------------------------------------------------ keys from the browser

    def task_id(self, key: dict[str, Any]) -> str:
        """A short id of the processing task of ``key`` (`storage.key_digest` of its primary key)."""
        return storage.key_digest(key_of(self.imaging.ProcessingTask.primary_key, key))

    def task_keys(self) -> list[dict[str, Any]]:
        return self.imaging.ProcessingTask.keys(order_by="subject, session_datetime, recording_id, paramset_id")

    def task_key(self, task_id: str) -> dict[str, Any]:
        """The processing task whose `task_id` is ``task_id``; ValueError when no task has it."""
        for key in self.task_keys():
            if self.task_id(key) == task_id:
                return key
        raise ValueError(f"no recording has the id {task_id!r}; open one from the recordings page")

    def curation_key(self, task_key: dict[str, Any], curation_id) -> dict[str, Any]:
        """The curation ``curation_id`` of the task; ValueError when the task has none of that id."""
        for key in (self.imaging.Curation & task_key).keys():
            if str(key["curation_id"]) == str(curation_id):
                return key
        raise ValueError(f"curation {curation_id!r} is not a curation of this recording")

    def checked_cells(self, curation_key: dict[str, Any], ids) -> list[int]:
        """``ids`` as ints, each a cell of the curation; ValueError naming those that are not."""
        known = set(self.cells(curation_key)["mask_id"].tolist())
        try:
            chosen = sorted({int(i) for i in ids})
        except (TypeError, ValueError) as error:
            raise ValueError(f"cell ids must be whole numbers, got {ids!r}") from error
        if set(chosen) - known:
            raise ValueError(f"cell(s) {sorted(set(chosen) - known)} are not cells of curation "
                             f"{curation_key['curation_id']}")
        return chosen

    # ------------------------------------------------------------------ recordings and jobs

    def recordings(self, *, subject: str | None = None, date=None) -> pd.DataFrame:
        """One row per processing task: ``task_id``, subject, session, recording, parameter set, frames, cells and
        one column per stage (done, pending, running, error: message, or empty where it does not apply)."""
        imaging = self.imaging
        tasks = (imaging.ProcessingTask * imaging.ProcessingParamSet.proj("processing_method", "paramset_desc")
                 * imaging.RecordingInfo.proj("nframes", "fps")).to_pandas().reset_index()
        if tasks.empty:
            return pd.DataFrame(columns=["task_id", "subject", "session_datetime", *STAGES])
        if subject:
            tasks = tasks[tasks["subject"] == subject]
        if date is not None:
            tasks = tasks[pd.to_datetime(tasks["session_datetime"]).dt.date == date]
        counts = {self.task_id(row): int(row["mask_count"]) for row in
                  (imaging.Segmentation.proj("mask_count")).to_dicts()}
        rows = []
        statuses = self._stage_statuses()
        for task in tasks.to_dict("records"):
            key = {name: task[name] for name in imaging.ProcessingTask.primary_key}
            task_id = self.task_id(key)
            rows.append({"task_id": task_id, "subject": task["subject"], "session_datetime": task["session_datetime"],
                         "recording_id": task["recording_id"], "paramset": f"{task['paramset_id']}: "
                         f"{task['processing_method']} ({task['paramset_desc']})", "mode": task["task_mode"],
                         "frames": int(task["nframes"]), "cells": counts.get(task_id),
                         **{stage: statuses[stage].get(task_id, "") for stage in STAGES}})
        return pd.DataFrame(rows)

    def _tables(self) -> dict[str, Any]:
        modules = (self.imaging, self.events, self.clusters)
        return {name: getattr(module, name) for name in STAGES for module in modules if hasattr(module, name)}

    def _stage_statuses(self) -> dict[str, dict[str, str]]:
        """Per stage: task id -> status, for the tasks the stage has work or results for."""
        statuses = {}
        for name, table in self._tables().items():
            status: dict[str, str] = {}
            for key in (table().key_source.proj() - table.proj()).to_dicts():
                status[self.task_id(key)] = "pending"
            for key in table.proj().to_dicts():
                status[self.task_id(key)] = "done"
            if table.jobs.is_declared:
                for job in table.jobs.reserved.to_dicts():
                    status[self.task_id(job)] = "running"
                for job in table.jobs.errors.to_dicts():
                    status[self.task_id(job)] = "error: " + self.without_roots(
                        job["error_message"])
            statuses[name] = status
        return statuses

    def job_queue(self) -> pd.DataFrame:
        """What runs now (table, key, worker, progress) and, per stage, how many keys wait or failed."""
        running = [{"table": entry["table"], "key": key_text(entry["key"]), "state": "running",
                    "worker": f"{entry['host']} process {entry['pid']}",
                    "progress": "" if entry["progress"] is None else
                    f"{entry['progress']['step']} {entry['progress']['done']}/{entry['progress']['total']}"}
                   for entry in running_keys(self.imaging.automatic_tables())]
        waiting = []
        for name, table in self._tables().items():
            pending = len(table().key_source.proj() - table.proj())
            errors = len(table.jobs.errors) if table.jobs.is_declared else 0
            if pending:
                waiting.append({"table": name, "key": f"{pending} key(s)", "state": "waiting or failed",
                                "worker": "", "progress": f"{errors} failed" if errors else ""})
        return pd.DataFrame(running + waiting, columns=["table", "key", "state", "worker", "progress"])

    def retry(self, task_id: str, stage: str) -> int:
        """Clear the failed jobs of ``stage`` for the task, so that the next worker runs them again; the count."""
        tables = self._tables()
        if stage not in tables:
            raise ValueError(f"unknown stage {stage!r}; stages: {list(tables)}")
        key = self.task_key(task_id)
        table = tables[stage]
        return table.jobs.errors.restrict(key).delete_quick(get_count=True) if table.jobs.is_declared else 0

    def without_roots(self, text: str) -> str:
        """``text`` with the absolute raw and processed roots replaced by their names (no host paths in pages)."""
        roots = [(str(self.imaging.get_processed_root_dir()), "<processed root>")]
        roots += [(str(root), "<raw root>") for root in self.imaging.get_raw_root_dirs()]
        for absolute, name in sorted(roots, key=lambda pair: -len(pair[0])):
            text = text.replace(absolute, name)
        return text

    # ------------------------------------------------------------------ one recording

    def recording_info(self, task_key: dict[str, Any]) -> dict[str, Any]:
        """Frames, size (pixels), fps (Hz), duration (s) and the parameter set of a task."""
        info = (self.imaging.RecordingInfo & task_key).fetch1("nframes", "px_height", "px_width", "fps",
                                                               "recording_duration")
        method, description = (self.imaging.ProcessingParamSet & task_key).fetch1("processing_method",
                                                                                 "paramset_desc")
        return {"title": key_text(task_key), "nframes": int(info[0]), "height": int(info[1]), "width": int(info[2]),
                "fps": float(info[3]), "duration_s": float(info[4]), "paramset": f"{method}: {description}"}

    def motion(self, task_key: dict[str, Any]) -> dict[str, Any] | None:
        """Rigid shifts (T,) pixels, outlier frames (T,) bool, template correlation (T,) and the quality row."""
        imaging = self.imaging
        if not imaging.MotionCorrection & task_key:
            return None
        rigid = (imaging.MotionCorrection.RigidMotionCorrection & task_key).fetch1()
        quality = (imaging.MotionCorrection & task_key).fetch1(
            "raw_mean_correlation", "corrected_mean_correlation", "improved_fraction", "quality_warning")
        n_frames = len(rigid["y_shifts"])
        outliers = rigid["outlier_frames"] if rigid["outlier_frames"] is not None else np.zeros(n_frames, bool)
        return {"y_shifts": np.asarray(rigid["y_shifts"]), "x_shifts": np.asarray(rigid["x_shifts"]),
                "outliers": np.asarray(outliers, bool), "template_correlation": rigid["template_correlation"],
                "quality": dict(zip(("raw_mean_correlation", "corrected_mean_correlation", "improved_fraction",
                                     "quality_warning"), quality))}

    def summary_images(self, task_key: dict[str, Any]) -> dict[str, np.ndarray]:
        """The (H, W) summary images the motion correction stored (average, correlation, maximum, ...)."""
        if not self.imaging.MotionCorrection.Summary & task_key:
            return {}
        row = (self.imaging.MotionCorrection.Summary & task_key).fetch1()
        names = ("average_image", "correlation_image", "max_proj_image", "ref_image")
        return {name: np.asarray(row[name], np.float32) for name in names if row.get(name) is not None}

    def frame_times(self, task_key: dict[str, Any]) -> np.ndarray:
        """(T,) float64 seconds from the first frame."""
        return self._frame_times(self.task_id(task_key))

    def _read_frame_times(self, task_id: str) -> np.ndarray:
        return np.asarray((self.imaging.RecordingInfo.Timestamps & self.task_key(task_id)).fetch1("frame_times"))

    def movie_sources(self, task_key: dict[str, Any]) -> dict[str, Any]:
        """Where the movie viewer reads frames: the raw recording folder, its software and frame rate, the
        motion-corrected movie file (or None) and the owner it records."""
        imaging = self.imaging
        software, directory, frame_rate = (imaging.Recording & task_key).fetch1(
            "acquisition_software", "recording_directory", "frame_rate")
        corrected = (imaging.MotionCorrection & task_key).fetch1("corrected_movie")
        return {"raw_folder": find_full_path(imaging.get_raw_root_dirs(), directory), "software": software,
                "frame_rate": frame_rate,
                "corrected": None if corrected is None else find_full_path(imaging.get_processed_root_dir(),
                                                                           corrected),
                "corrected_owner": imaging.results_owner(imaging.MotionCorrection, task_key)}

    def curated_sources(self, curation_key: dict[str, Any]):
        """Footprints and traces of the curation's cells (`imaging.curated_sources`); reads the results file."""
        return self.imaging.curated_sources(curation_key)

    # ------------------------------------------------------------------ curations and cells

    def curations(self, task_key: dict[str, Any]) -> pd.DataFrame:
        """Every curation of the task's segmentation, oldest first, with what each changed from its parent."""
        imaging = self.imaging
        rows = (imaging.Curation & task_key).to_dicts(order_by="curation_id")
        for row in rows:
            key = {name: row[name] for name in imaging.Curation.primary_key}
            row["changes"] = self._changes(key, row["parent_curation_id"])
        columns = ["curation_id", "parent_curation_id", "curator", "curation_time", "curation_note", "changes"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["parent_curation_id"] = frame["parent_curation_id"].astype("Int64")
        return frame

    def _changes(self, key: dict[str, Any], parent_id) -> str:
        imaging = self.imaging
        parts = []
        rejected = (imaging.Curation.Rejected & key).to_arrays("mask_id").tolist()
        if rejected:
            parts.append(f"rejected {rejected}")
        for mask_id, merged in zip(*(imaging.Curation.Merged & key).to_arrays("mask_id", "merged_ids")):
            parts.append(f"merged {np.asarray(merged).tolist()} into {int(mask_id)}")
        added = (imaging.Curation.Added & key).to_arrays("mask_id").tolist()
        if added:
            parts.append(f"drew {added}")
        verified = sorted((imaging.Curation.Verified & key).to_arrays("mask_id").tolist())
        groups = curation.cell_groups(key)
        if verified:
            parts.append(f"verified {verified}")
        parts += [f"group {name!r}: {sorted(ids)}" for name, ids in sorted(groups.items())]
        if parts:
            return "; ".join(parts)
        return "as segmented" if parent_id is None else "no change"

    def populated_curation(self, curation_key: dict[str, Any]) -> dict[str, Any]:
        """``curation_key`` if its traces are computed, else its nearest ancestor whose traces are (curation 0
        when none is)."""
        for link in reversed(self.imaging.curation_chain(curation_key)):
            if self.imaging.Activity & link:
                return link
        return self.imaging.curation_chain(curation_key)[0]

    def children(self, curation_key: dict[str, Any]) -> set[int]:
        """Ids of the curations derived from ``curation_key``."""
        segmentation = key_of(self.imaging.Segmentation.primary_key, curation_key)
        return set((self.imaging.Curation & segmentation
                    & {"parent_curation_id": curation_key["curation_id"]}).to_arrays("curation_id").tolist())

    def cells(self, curation_key: dict[str, Any]) -> pd.DataFrame:
        """The curation's cells: ``mask_id``, ``x``, ``y`` (centroid, pixels), ``cell_class``, ``groups`` (text),
        ``verified`` and ``contour_x``/``contour_y`` (pixel outlines at half the peak weight)."""
        names = self.imaging.Curation.primary_key
        return self._cells(tuple(key_of(names, curation_key).values())).copy()

    def _read_cells(self, values: tuple) -> pd.DataFrame:
        imaging = self.imaging
        key = dict(zip(imaging.Curation.primary_key, values))
        ids = set(curation.cell_ids(key).tolist())
        height, width = (imaging.RecordingInfo & key).fetch1("px_height", "px_width")
        attributes = ("mask_id", "mask_center_x", "mask_center_y", "mask_xpix", "mask_ypix", "mask_weights")
        segmentation = key_of(imaging.Segmentation.primary_key, key)
        rows = [row for row in (imaging.Segmentation.Mask & segmentation).proj(*attributes[1:]).to_dicts()
                if row["mask_id"] in ids]
        classes = dict(zip(*(imaging.MaskClassification.MaskType & segmentation).to_arrays("mask_id", "mask_type")))
        for part in (imaging.Curation.Merged, imaging.Curation.Added):
            for row in (part & segmentation).proj(*attributes[1:]).to_dicts():
                if row["mask_id"] in ids and all(r["mask_id"] != row["mask_id"] for r in rows):
                    rows.append(row)
        groups = curation.cell_groups(key)
        verified = set((imaging.Curation.Verified & key).to_arrays("mask_id").tolist())
        cells = []
        for row in sorted(rows, key=lambda r: r["mask_id"]):
            mask_id = int(row["mask_id"])
            contour_y, contour_x = _outline(row["mask_ypix"], row["mask_xpix"], row["mask_weights"],
                                            (int(height), int(width)))
            cells.append({"mask_id": mask_id, "x": float(row["mask_center_x"]), "y": float(row["mask_center_y"]),
                          "cell_class": str(classes.get(mask_id, NEW_CELL_CLASS)),
                          "groups": ", ".join(sorted(name for name, members in groups.items() if mask_id in members)),
                          "verified": mask_id in verified, "contour_x": contour_x, "contour_y": contour_y})
        return pd.DataFrame(cells, columns=["mask_id", "x", "y", "cell_class", "groups", "verified", "contour_x",
                                            "contour_y"])

    def cell_traces(self, curation_key: dict[str, Any], mask_id: int) -> tuple[dict[str, np.ndarray], int]:
        """The cell's fluorescence and activity traces, (T,) float32 each, by name (``fluorescence``, ``dff``,
        ``denoised``, ``deconvolved``; those computed), and the curation they come from: the curation itself, or
        where it is not populated yet, its nearest ancestor holding the cell (the same traces), or for a cell it
        added, its estimate from the movie."""
        (mask_id,) = self.checked_cells(curation_key, [mask_id])
        imaging = self.imaging
        for link in reversed(imaging.curation_chain(curation_key)):
            cell = {**link, "mask_id": mask_id}
            fluorescence = (imaging.Fluorescence.Trace & cell).to_arrays("fluorescence")
            if len(fluorescence):
                methods, values = (imaging.Activity.Trace & cell).to_arrays("extraction_method", "activity_trace")
                traces = {"fluorescence": fluorescence, **dict(zip(methods, values))}
                return {str(name): _one_trace(found) for name, found in traces.items()}, int(link["curation_id"])
            for part in (imaging.Curation.Merged, imaging.Curation.Added):
                found = (part & cell).to_arrays("fluorescence")
                if len(found):
                    return {"fluorescence": _one_trace(found)}, int(link["curation_id"])
        return {}, int(curation_key["curation_id"])

    def apply_curation(self, action: str, curation_key: dict[str, Any], *, seen_children: set[int],
                       curator: str = "", note: str = "", ids=(), name: str = "", mask=None) -> dict[str, Any]:
        """Derive a new curation from ``curation_key`` with `element_calcium.curation`; returns its key.

        Args:
            action: reject, merge, verify, group, ungroup or draw (``mask`` (H, W) bool).
            seen_children: the curations derived from ``curation_key`` when the page read it. Others derived
                since do not stop the action (its result is a sibling of theirs); the returned key then carries
                ``stale`` naming them, for the page to say so.
        """
        if not self.imaging.Curation & curation_key:
            raise StaleCuration(f"curation {curation_key['curation_id']} no longer exists; reload the page")
        newer = sorted(self.children(curation_key) - set(seen_children))
        edits = {"reject": lambda: curation.reject(curation_key, ids, note=note, curator=curator),
                 "merge": lambda: curation.merge(curation_key, ids, note=note, curator=curator),
                 "verify": lambda: curation.verify(curation_key, ids, note=note, curator=curator),
                 "group": lambda: curation.group(curation_key, name, ids, note=note, curator=curator),
                 "ungroup": lambda: curation.ungroup(curation_key, name, ids, note=note, curator=curator),
                 "draw": lambda: curation.add_missed(curation_key, mask, note=note, curator=curator)}
        if action not in edits:
            raise ValueError(f"unknown curation action {action!r}; actions: {sorted(edits)}")
        if action != "draw":
            ids = self.checked_cells(curation_key, ids)
        new_key = edits[action]()
        return {"key": new_key, "stale": newer}


def _one_trace(found) -> np.ndarray:
    """(T,) float32 from a trace as fetched: the array itself, or a one-row stack of it."""
    trace = np.asarray(found[0] if isinstance(found, np.ndarray) and found.dtype == object else found, np.float32)
    return trace[0] if trace.ndim == 2 else trace


def _outline(ypix, xpix, weights, shape: tuple[int, int]) -> tuple[list[float], list[float]]:
    """The longest outline of a footprint at half its peak weight, as (rows, columns) in pixels."""
    ypix, xpix, weights = (np.asarray(a) for a in (ypix, xpix, weights))
    if not len(weights):
        return [], []
    y0, x0 = int(ypix.min()) - 1, int(xpix.min()) - 1
    box = np.zeros((int(ypix.max()) - y0 + 2, int(xpix.max()) - x0 + 2), np.float32)
    box[ypix - y0, xpix - x0] = weights
    contours = measure.find_contours(box, 0.5 * float(box.max()))
    if not contours:
        return [float(ypix.mean())], [float(xpix.mean())]
    longest = max(contours, key=len)
    return (longest[:, 0] + y0).tolist(), (longest[:, 1] + x0).tolist()
