"""Registration schema: the same cells found again across sessions of one field of view.

Activate it after the imaging schema::

    registration.activate("ec_registration")

- `RegistrationGroup` (Manual) names the curations to register together: one subject and one field of view, any
  number of sessions (`RegistrationGroup.create`); its first member in key order is the reference.
- `RegistrationParamSet` holds validated, hashed parameters (`compute.registration.RegistrationParams`); set 0
  (the defaults) is built in.
- `Registration` aligns each member's summary image to the reference (similarity transform, optionally
  piecewise) and matches the cells of all members jointly (`stages.cross_session`): a global cell id for every
  (member, cell), a confidence, and how many sessions saw the cell; cells seen once keep an id of their own.

`cell_traces` returns one cell's traces across the sessions, side by side.
"""

from __future__ import annotations

import importlib
from typing import Any

import datajoint as dj
import numpy as np
import pandas as pd

from . import _schema_runtime, imaging, paramsets, stages
from ._fetched import pack, unpack
from ._schema_runtime import StageTable
from .compute.registration import RegistrationParams
from .stages import cross_session

schema = dj.Schema()

STEP = "registration"  # the name hashed with the parameters


def activate(schema_name: str, *, create_schema: bool = True, create_tables: bool = True) -> None:
    """Bind the registration tables to ``schema_name``; the imaging schema must be activated first."""
    if not imaging.schema.is_activated():
        raise dj.DataJointError("activate the imaging schema before the registration schema")
    if create_schema:
        imaging.create_utf8mb4_schema(schema_name)
    schema.activate(schema_name, create_schema=create_schema, create_tables=create_tables)
    _schema_runtime.record_activated(importlib.import_module(__name__))


@schema
class RegistrationGroup(dj.Manual):
    """Curations of one subject and field of view to register together, one per session.

    Attributes:
        registration_group_id: the group's id.
        group_desc: free text, e.g. the field of view's name.
        Member: one curation of the group; the first in key order (the earliest session) is the reference.
    """

    definition = """
    registration_group_id: int32
    ---
    group_desc='': varchar(255)
    """

    class Member(dj.Part):
        definition = """
        -> master
        -> imaging.Curation
        """

    @classmethod
    def create(cls, registration_group_id: int, curation_keys: list[dict[str, Any]], group_desc: str = "") -> None:
        """Insert a group of at least two curations of different recordings of one subject, with one frame size.

        Raises:
            ValueError: fewer than two curations, a curation that does not exist, two of one recording, more
                than one subject, or frames of different sizes.
        """
        _schema_runtime.check_attribute(cls, "registration_group_id", registration_group_id)
        _schema_runtime.check_attribute(cls, "group_desc", group_desc)
        keys = [(imaging.Curation & key).fetch1("KEY") if imaging.Curation & key else None for key in curation_keys]
        if len(keys) < 2:
            raise ValueError(f"a registration group needs at least two curations, got {len(keys)}")
        missing = [given for given, key in zip(curation_keys, keys) if key is None]
        if missing:
            raise ValueError(f"no curation {missing[0]}; create it (or populate its segmentation) first")
        recording_fields = [name for name in imaging.Recording.primary_key]
        recordings = {tuple(key[name] for name in recording_fields) for key in keys}
        if len(recordings) < len(keys):
            raise ValueError("a registration group takes one curation per recording; two curations share one")
        if "subject" in keys[0] and len({key["subject"] for key in keys}) > 1:
            raise ValueError(f"a registration group holds one subject, got {sorted({k['subject'] for k in keys})}")
        sizes = {tuple((imaging.RecordingInfo & key).fetch1("px_height", "px_width")) for key in keys}
        if len(sizes) > 1:
            raise ValueError(f"the curations' recordings have different frame sizes {sorted(sizes)}; a group is one "
                             "field of view imaged the same way")
        with cls.connection.transaction:
            cls.insert1({"registration_group_id": registration_group_id, "group_desc": group_desc})
            cls.Member.insert({"registration_group_id": registration_group_id, **key} for key in keys)


def _paramset_row(registration_paramset_id: int, description: str, params: dict[str, Any]) -> dict[str, Any]:
    complete = RegistrationParams.from_dict(params).to_dict()
    return {"registration_paramset_id": registration_paramset_id, "paramset_desc": description,
            "param_set_hash": paramsets.dict_to_uuid({"step": STEP, "params": complete}),
            "params": complete}


@schema
class RegistrationParamSet(dj.Lookup):
    """Parameter sets of cross-session registration.

    Attributes:
        registration_paramset_id: the set's id; 0 holds the defaults.
        paramset_desc: what the set is for.
        param_set_hash: MD5 UUID of the canonical JSON of the step name and the complete parameters.
        params: the complete parameters (`compute.registration.RegistrationParams`).
    """

    definition = """
    registration_paramset_id: int16
    ---
    paramset_desc: varchar(255)
    param_set_hash: uuid              # MD5 of the canonical JSON of step and params
    unique index (param_set_hash)
    params: json                      # complete parameters
    """
    contents = [_paramset_row(0, "cross-session registration, defaults", {})]

    @classmethod
    def insert_new_params(cls, registration_paramset_id: int, paramset_desc: str, params: dict[str, Any]) -> None:
        """Validate, hash and insert a parameter set.

        The same parameters under the same id are a no-op; the same parameters under another id, or other
        parameters under a taken id, raise ``dj.DataJointError``.

        Raises:
            ValueError: an unknown key or an out-of-range value.
        """
        _schema_runtime.insert_paramset(cls, _paramset_row(registration_paramset_id, paramset_desc, params),
                                "registration_paramset_id")


def _member_keys(key: dict[str, Any]) -> list[dict[str, Any]]:
    return (RegistrationGroup.Member & key).keys(order_by=list(RegistrationGroup.Member.primary_key))


@schema
class Registration(StageTable, dj.Computed):
    """The cells of a registration group's curations matched across sessions.

    Attributes:
        n_sessions: members registered.
        n_cells: distinct cells (global ids 0 .. n_cells - 1).
        n_matched: cells seen in two sessions or more.
        cell_diameter: (pixels) cell diameter used for the matching (given, or the footprints' median).
        wall_time: (s) time spent.
        Alignment: each member's field of view relative to the reference.
        Match: the global cell id and confidence of every cell of every member.
    """

    definition = """
    -> RegistrationGroup
    -> RegistrationParamSet
    ---
    n_sessions: int16
    n_cells: int32                    # distinct cells, global ids 0 .. n_cells - 1
    n_matched: int32                  # cells seen in two sessions or more
    cell_diameter: float32            # (pixels)
    wall_time: float32                # (s)
    """

    class Alignment(dj.Part):
        """A member's field of view relative to the reference: reference pixel (y, x, 1) -> ``transform`` @ it
        in the member; a similarity of ``rotation_deg``, ``scale`` and shift about the frame centre."""

        definition = """
        -> master
        -> RegistrationGroup.Member
        ---
        is_reference: bool
        rotation_deg: float32             # (degrees)
        scale: float32                    # magnification relative to the reference
        y_shift: float32                  # (pixels)
        x_shift: float32                  # (pixels)
        transform: <blob>                 # (2, 3) float64 reference pixel (y, x, 1) -> member pixel
        image_correlation: float32        # correlation of the band-passed summary images after alignment
        patch_shifts=null: <blob>         # (ny, nx, 2) float32 piecewise residual shifts (pixels); null: rigid
        """

    class Match(dj.Part):
        """One cell of a member and the global cell it is."""

        definition = """
        -> master
        -> RegistrationGroup.Member
        mask_id: int32
        ---
        global_cell_id: int32             # the same id in several members: one cell
        confidence: float32               # (0-1) matched: mean pair score with its other sessions; alone: 1 - best
        n_sessions_seen: int16            # members in which the cell was found
        center_y: float32                 # (pixels) centroid in the reference frame
        center_x: float32                 # (pixels)
        """

    def make_fetch(self, key: dict[str, Any]) -> tuple[Any]:
        params = (RegistrationParamSet & key).fetch1("params")
        column = cross_session.SUMMARY_COLUMNS[params["summary_image"]]
        members = _member_keys(key)
        inputs = cross_session.CrossSessionInputs(
            member_keys=[{name: m[name] for name in imaging.Curation.primary_key} for m in members],
            images=[(imaging.MotionCorrection.Summary & m).fetch1(column) for m in members],
            curations=[imaging.curation_inputs(m) for m in members],
            params=params,
        )
        return (pack(vars(inputs)),)

    def make_compute(self, key: dict[str, Any], inputs: Any) -> tuple[cross_session.Rows]:
        inputs = cross_session.CrossSessionInputs(**unpack(inputs))
        return (stages.run(Registration.__name__, inputs, settings=imaging.stage_settings()),)


def cell_traces(registration_key: dict[str, Any], global_cell_id: int, *, extraction_method: str | None = "dff"
                ) -> pd.DataFrame:
    """One cell's traces in every session that saw it, side by side (reference session first).

    Args:
        registration_key: a `Registration` key (group and parameter set).
        global_cell_id: the cell.
        extraction_method: the `imaging.Activity` trace (``"dff"``, ``"deconvolved"``, ...); None: the
            `imaging.Fluorescence` trace.

    Returns:
        One row per session: the member's key, ``mask_id``, ``confidence``, ``trace`` ((T,) float32) and
        ``time`` ((T,) seconds from the recording's start, from its frame rate).

    Raises:
        ValueError: no such registration or cell.
    """
    registration = Registration & registration_key
    if len(registration) != 1:
        raise ValueError(f"no single Registration matches {registration_key}; populate it or give its full key")
    matches = (Registration.Match & registration.fetch1("KEY") & {"global_cell_id": int(global_cell_id)}).to_dicts(
        order_by=list(Registration.Match.primary_key))
    if not matches:
        n_cells = registration.fetch1("n_cells")
        raise ValueError(f"global_cell_id {global_cell_id} is not a cell of this registration (0 .. {n_cells - 1})")
    rows = []
    for match in matches:
        member = {name: match[name] for name in imaging.Curation.primary_key}
        cell = {**member, "mask_id": match["mask_id"]}
        if extraction_method is None:
            trace = (imaging.Fluorescence.Trace & cell).fetch1("fluorescence")
        else:
            trace = (imaging.Activity.Trace & cell & {"extraction_method": extraction_method}).fetch1(
                "activity_trace")
        fps = (imaging.RecordingInfo & member).fetch1("fps")
        rows.append({**member, "mask_id": match["mask_id"], "confidence": match["confidence"],
                     "trace": np.asarray(trace), "time": np.arange(len(trace)) / float(fps)})
    return pd.DataFrame(rows)
