"""Behaviour event files: event tables (CSV) and Bruker PrairieView voltage recordings.

- `read_event_csv`: a CSV with the columns ``time`` (seconds in the recording's clock: 0 is the
  first frame) and ``event_type`` (a name such as ``lever`` or ``reward``); other columns are
  ignored. Rows come back sorted by time.
- `read_voltage_recording`: PrairieView's ``*_VoltageRecording_NNN.csv`` (a ``Time(ms)`` column,
  then one column per recorded input, named as in the acquisition software) and, when it lies
  beside the CSV, its ``.xml`` (root ``VRecSessionEntry``: ``Experiment/Rate`` in samples per
  second and ``Experiment/SignalList/VRecSignal`` entries with ``Name`` and ``Enabled``). Values
  are returned as the CSV holds them (volts, or the units the acquisition software scaled to).

Every malformed file is refused with a ValueError that names it and says what is wrong.
"""

from __future__ import annotations

import dataclasses
import pathlib
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd

__all__ = ["VoltageRecording", "read_event_csv", "read_voltage_recording"]

EVENT_COLUMNS = ("time", "event_type")
_TIME_COLUMN = "Time(ms)"
_RATE_TOLERANCE = 1e-3  # relative disagreement allowed between the XML's rate and the CSV's time column


@dataclasses.dataclass(frozen=True)
class VoltageRecording:
    """Analog inputs sampled with the imaging.

    Attributes:
        times: (n,) float64 seconds from the start of the voltage recording.
        signals: input name -> (n,) float64 samples.
        rate: samples per second.
        file: the CSV file read.
    """

    times: np.ndarray
    signals: dict[str, np.ndarray]
    rate: float
    file: pathlib.Path


def read_event_csv(path: str | pathlib.Path) -> pd.DataFrame:
    """Behaviour events from a CSV file with ``time`` (s) and ``event_type`` columns.

    Returns:
        DataFrame with columns ``time`` (float64 seconds) and ``event_type`` (str), sorted by time.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable CSV, a missing column, a time that is not a finite number, an empty
            event type, or the same event type twice at the same time (names the rows).
    """
    path = _existing_file(path)
    table = _read_csv(path)
    table.columns = [str(column).strip() for column in table.columns]
    missing = [column for column in EVENT_COLUMNS if column not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")
    times = pd.to_numeric(table["time"], errors="coerce")
    bad = ~np.isfinite(times.to_numpy(dtype=np.float64))
    if bad.any():
        raise ValueError(f"{path}: 'time' is not a finite number in data row(s) {_rows(bad)}")
    types = table["event_type"].astype("string").str.strip()
    empty = (types.isna() | (types == "")).to_numpy()
    if empty.any():
        raise ValueError(f"{path}: 'event_type' is empty in data row(s) {_rows(empty)}")
    events = pd.DataFrame({"time": times.astype(np.float64), "event_type": types.astype(str)})
    duplicated = events.duplicated(keep=False).to_numpy()
    if duplicated.any():
        raise ValueError(f"{path}: the same event type at the same time in data rows {_rows(duplicated)}")
    return events.sort_values(["time", "event_type"], kind="stable").reset_index(drop=True)


def read_voltage_recording(path: str | pathlib.Path) -> VoltageRecording:
    """A PrairieView voltage recording (CSV, with its XML when present).

    Raises:
        FileNotFoundError: no such CSV file.
        ValueError: no ``Time(ms)`` column or no input column, non-numeric samples, times that do
            not increase, or an XML that disagrees with the CSV (inputs or sampling rate).
    """
    path = _existing_file(path)
    table = _read_csv(path)
    table.columns = [str(column).strip() for column in table.columns]
    if _TIME_COLUMN not in table.columns:
        raise ValueError(f"{path}: no '{_TIME_COLUMN}' column; found {list(table.columns)}")
    names = [column for column in table.columns if column != _TIME_COLUMN]
    if not names:
        raise ValueError(f"{path}: no input column beside '{_TIME_COLUMN}'")
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise ValueError(f"{path}: non-numeric or missing samples in data row(s) {_rows(bad)}")
    times = values[:, table.columns.get_loc(_TIME_COLUMN)] / 1000.0
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"{path}: '{_TIME_COLUMN}' must hold at least two strictly increasing times")
    rate = (len(times) - 1) / (times[-1] - times[0])
    xml_path = path.with_suffix(".xml")
    if xml_path.is_file():
        _check_against_xml(xml_path, names, rate)
    signals = {name: values[:, table.columns.get_loc(name)] for name in names}
    return VoltageRecording(times=times, signals=signals, rate=float(rate), file=path)


def _check_against_xml(xml_path: pathlib.Path, names: list[str], rate: float) -> None:
    """Refuse a CSV whose inputs or sampling rate differ from its XML's."""
    try:
        experiment = ET.parse(xml_path).getroot().find("Experiment")
    except ET.ParseError as error:
        raise ValueError(f"{xml_path}: not readable XML ({error})") from error
    if experiment is None:
        raise ValueError(f"{xml_path}: no Experiment element (not a PrairieView voltage recording)")
    enabled = [
        (signal.findtext("Name") or "").strip()
        for signal in experiment.iterfind("SignalList/VRecSignal")
        if (signal.findtext("Enabled") or "").strip().lower() == "true"
    ]
    if sorted(enabled) != sorted(names):
        raise ValueError(f"{xml_path}: enabled inputs {enabled} differ from the CSV's columns {names}")
    xml_rate = _float(experiment.findtext("Rate"))
    if xml_rate is None or xml_rate <= 0:
        raise ValueError(f"{xml_path}: Experiment/Rate is not a positive number")
    if abs(rate - xml_rate) > _RATE_TOLERANCE * xml_rate:
        raise ValueError(f"{xml_path}: Rate {xml_rate} Hz, but the CSV's time column gives {rate:.3f} Hz")


def _existing_file(path: str | pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    return path


def _read_csv(path: pathlib.Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    if table.empty:
        raise ValueError(f"{path}: no data rows")
    return table


def _rows(mask: np.ndarray) -> str:
    """1-based data-row numbers where ``mask`` holds, the first few."""
    rows = np.flatnonzero(mask) + 1
    return ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
