"""PrairieView photostimulation protocols: MarkPoints series (``*_MarkPoints.xml``) and galvo point lists (``.gpl``).

A MarkPoints series file (root ``PVMarkPointSeriesElements``, or ``PVSavedMarkPointSeriesElements`` when saved
from the MarkPoints window) holds ``PVMarkPointElement`` entries (one stimulation each: ``Repetitions``,
``UncagingLaser``, ``UncagingLaserPower``, trigger settings, ``parameterSet``), each with one or more
``PVGalvoPointElement`` (``InitialDelay``, ``InterPointDelay``, ``Duration`` in ms, ``SpiralRevolutions``,
``AllPointsAtOnce``, ``Points`` such as ``"Point 1"`` or ``"Group 2"``, ``Indices`` such as ``"1-30"`` or
``"1, 3, 5"``) listing its targets as ``Point`` elements (``Index``, ``X`` and ``Y`` as fractions of the
field of view, ``IsSpiral``, ``SpiralWidth``, ``SpiralHeight``, ``SpiralSizeInMicrons``). These are the element
and attribute names CalSciPy's ``load_mark_points`` / ``load_saved_mark_points`` map onto its
``MarkPointSeriesElements``, ``MarkPointElement``, ``GalvoPointElement`` and ``Point`` dataclasses.

A galvo point list (root ``PVGalvoPointList``) holds ``PVGalvoPoint`` targets (``X``/``Y`` in galvo units,
``Name``, ``Index``, ``UncagingLaserPower``, ``Duration``, ``IsSpiral``, ``SpiralSize``, ``SpiralRevolutions``,
``Z``) and ``PVGalvoPointGroup`` groups of them (``Indices`` such as ``"0,1,4"``), as CalSciPy's
``load_galvo_point_list`` reads.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import xml.etree.ElementTree as ET

__all__ = [
    "GalvoPoint",
    "GalvoPointGroup",
    "GalvoPointList",
    "MarkPointElement",
    "MarkPointSeries",
    "StimulationPoint",
    "StimulationTargets",
    "read_galvo_point_list",
    "read_mark_points",
]

SERIES_ROOTS = ("PVMarkPointSeriesElements", "PVSavedMarkPointSeriesElements")


@dataclasses.dataclass(frozen=True)
class StimulationPoint:
    """One ``Point`` target of a MarkPoints series.

    Attributes:
        index: 1-based index in the galvo point list.
        x, y: position as a fraction (0-1) of the field of view's width and height.
        z: depth (um) when the file records it, else None.
        is_spiral: whether the target is scanned as a spiral.
        spiral_width, spiral_height: spiral size as a fraction of the field of view.
        spiral_size_um: spiral size in micrometres.
    """

    index: int
    x: float
    y: float
    z: float | None
    is_spiral: bool
    spiral_width: float | None
    spiral_height: float | None
    spiral_size_um: float | None

    def pixel_xy(self, *, width: int, height: int) -> tuple[float, float]:
        """(x, y) in pixels of a ``height`` x ``width`` frame (``x * width``, ``y * height``)."""
        return self.x * width, self.y * height


@dataclasses.dataclass(frozen=True)
class StimulationTargets:
    """One ``PVGalvoPointElement``: which targets are stimulated, and how.

    Attributes:
        initial_delay_ms: wait before the first target (ms).
        inter_point_delay_ms: wait between targets (ms).
        duration_ms: stimulation time per target (ms).
        spiral_revolutions: spiral turns per target.
        all_points_at_once: whether the targets are stimulated together.
        points: the point or group name, e.g. ``"Point 1"`` or ``"Group 2"``.
        indices: the 1-based indices ``Indices`` lists (``"1-30"`` gives 1 to 30).
        targets: the ``Point`` entries (empty in files saved without them).
    """

    initial_delay_ms: float
    inter_point_delay_ms: float
    duration_ms: float
    spiral_revolutions: float
    all_points_at_once: bool
    points: str
    indices: tuple[int, ...]
    targets: tuple[StimulationPoint, ...]


@dataclasses.dataclass(frozen=True)
class MarkPointElement:
    """One ``PVMarkPointElement``: a stimulation and its laser and trigger settings.

    Attributes:
        repetitions: times this stimulation repeats.
        uncaging_laser: the stimulation laser's name.
        uncaging_laser_power: its power setting (PrairieView's units).
        trigger_frequency, trigger_selection, async_sync_frequency: trigger settings as written (None if absent).
        trigger_count: triggers expected (None if absent).
        voltage_output_category_name, voltage_rec_category_name: linked voltage experiments (None if absent).
        parameter_set: PrairieView parameter set (None if absent).
        stimulations: the galvo point elements, in file order.
    """

    repetitions: int
    uncaging_laser: str | None
    uncaging_laser_power: float
    trigger_frequency: str | None
    trigger_selection: str | None
    trigger_count: int | None
    async_sync_frequency: str | None
    voltage_output_category_name: str | None
    voltage_rec_category_name: str | None
    parameter_set: str | None
    stimulations: tuple[StimulationTargets, ...]


@dataclasses.dataclass(frozen=True)
class MarkPointSeries:
    """A MarkPoints series file.

    Attributes:
        iterations: times the whole series runs.
        iteration_delay_ms: wait between iterations (ms).
        calc_funct_map: PrairieView's CalcFunctMap flag (None if absent).
        name, category: the series' name and category (None if absent).
        elements: the mark point elements, in file order.
        file: the XML read.
    """

    iterations: int
    iteration_delay_ms: float
    calc_funct_map: bool | None
    name: str | None
    category: str | None
    elements: tuple[MarkPointElement, ...]
    file: pathlib.Path


@dataclasses.dataclass(frozen=True)
class GalvoPoint:
    """One ``PVGalvoPoint`` of a galvo point list.

    Attributes:
        index: 0-based index in the list.
        name: its name (e.g. ``"ROI 3"``).
        x, y: position in galvo units (volts, as PrairieView scales them); z: depth (um) or None.
        uncaging_laser, uncaging_laser_power: stimulation laser and its power setting.
        duration_ms: stimulation time (ms).
        is_spiral, spiral_size, spiral_revolutions: spiral settings (size in PrairieView's units).
    """

    index: int
    name: str | None
    x: float
    y: float
    z: float | None
    uncaging_laser: str | None
    uncaging_laser_power: float | None
    duration_ms: float | None
    is_spiral: bool | None
    spiral_size: float | None
    spiral_revolutions: float | None


@dataclasses.dataclass(frozen=True)
class GalvoPointGroup:
    """One ``PVGalvoPointGroup``: points stimulated together.

    Attributes:
        index: the group's index in the list; name: its name (None if absent).
        members: 0-based indices of its `GalvoPoint` members.
        uncaging_laser_power, duration_ms, spiral_revolutions: the group's stimulation settings (None if absent).
    """

    index: int
    name: str | None
    members: tuple[int, ...]
    uncaging_laser_power: float | None
    duration_ms: float | None
    spiral_revolutions: float | None


@dataclasses.dataclass(frozen=True)
class GalvoPointList:
    """A ``.gpl`` galvo point list: its points and groups in file order, and the file read."""

    points: tuple[GalvoPoint, ...]
    groups: tuple[GalvoPointGroup, ...]
    file: pathlib.Path


def read_mark_points(path: str | os.PathLike) -> MarkPointSeries:
    """Parse a MarkPoints series XML into typed records.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable XML, another root element, or a missing or malformed attribute (names the
            file, the element and the attribute).
    """
    path, root = xml_root(path, SERIES_ROOTS)
    attr = _Attributes(path, root)
    elements = []
    for mark in root.iter("PVMarkPointElement"):
        mark_attr = _Attributes(path, mark)
        stimulations = tuple(_stimulation(path, galvo) for galvo in mark.iter("PVGalvoPointElement"))
        elements.append(MarkPointElement(
            repetitions=mark_attr.integer("Repetitions"),
            uncaging_laser=mark_attr.text("UncagingLaser"),
            uncaging_laser_power=mark_attr.number("UncagingLaserPower"),
            trigger_frequency=mark_attr.text("TriggerFrequency"),
            trigger_selection=mark_attr.text("TriggerSelection"),
            trigger_count=mark_attr.integer("TriggerCount", required=False),
            async_sync_frequency=mark_attr.text("AsyncSyncFrequency"),
            voltage_output_category_name=mark_attr.text("VoltageOutputCategoryName"),
            voltage_rec_category_name=mark_attr.text("VoltageRecCategoryName"),
            parameter_set=mark_attr.text("parameterSet"),
            stimulations=stimulations,
        ))
    if not elements:
        raise ValueError(f"{path}: no PVMarkPointElement (the series stimulates nothing)")
    return MarkPointSeries(
        iterations=attr.integer("Iterations"),
        iteration_delay_ms=attr.number("IterationDelay"),
        calc_funct_map=attr.flag("CalcFunctMap", required=False),
        name=attr.text("Name"),
        category=attr.text("Category"),
        elements=tuple(elements),
        file=path,
    )


def read_galvo_point_list(path: str | os.PathLike) -> GalvoPointList:
    """Parse a PrairieView galvo point list (``.gpl``) into points and groups.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable XML, another root element, a missing or malformed attribute, or a group that
            names a point the list does not hold (names the file and the element).
    """
    path, root = xml_root(path, ("PVGalvoPointList",))
    points, groups = [], []
    for element in root:
        attr = _Attributes(path, element)
        if element.tag == "PVGalvoPoint":
            points.append(GalvoPoint(
                index=attr.integer("Index"), name=attr.text("Name"), x=attr.number("X"), y=attr.number("Y"),
                z=attr.number("Z", required=False), uncaging_laser=attr.text("UncagingLaser"),
                uncaging_laser_power=attr.number("UncagingLaserPower", required=False),
                duration_ms=attr.number("Duration", required=False), is_spiral=attr.flag("IsSpiral", required=False),
                spiral_size=attr.number("SpiralSize", required=False),
                spiral_revolutions=attr.number("SpiralRevolutions", required=False),
            ))
        elif element.tag == "PVGalvoPointGroup":
            groups.append(GalvoPointGroup(
                index=attr.integer("Index"), name=attr.text("Name"), members=attr.indices("Indices"),
                uncaging_laser_power=attr.number("UncagingLaserPower", required=False),
                duration_ms=attr.number("Duration", required=False),
                spiral_revolutions=attr.number("SpiralRevolutions", required=False),
            ))
    known = {point.index for point in points}
    for group in groups:
        unknown = sorted(set(group.members) - known)
        if unknown:
            raise ValueError(f"{path}: PVGalvoPointGroup {group.index} names point(s) {unknown} the list does not hold")
    return GalvoPointList(points=tuple(points), groups=tuple(groups), file=path)


def parse_indices(text: str) -> tuple[int, ...]:
    """PrairieView's index lists: ``"1-30"`` (inclusive range), ``"1, 3, 5, 7"``, ``"0,"`` or ``"4"``."""
    indices: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        bounds = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if bounds:
            first, last = int(bounds[1]), int(bounds[2])
            if last < first:
                raise ValueError(f"range {part!r} runs backwards")
            indices.extend(range(first, last + 1))
        elif part.isdigit():
            indices.append(int(part))
        else:
            raise ValueError(f"{part!r} is neither an index nor a range such as 1-30")
    if not indices:
        raise ValueError("no index listed")
    return tuple(indices)


def _stimulation(path: pathlib.Path, galvo: ET.Element) -> StimulationTargets:
    attr = _Attributes(path, galvo)
    targets = []
    for point in galvo.iter("Point"):
        point_attr = _Attributes(path, point)
        targets.append(StimulationPoint(
            index=point_attr.integer("Index"), x=point_attr.number("X"), y=point_attr.number("Y"),
            z=point_attr.number("Z", required=False), is_spiral=bool(point_attr.flag("IsSpiral", required=False)),
            spiral_width=point_attr.number("SpiralWidth", required=False),
            spiral_height=point_attr.number("SpiralHeight", required=False),
            spiral_size_um=point_attr.number("SpiralSizeInMicrons", required=False),
        ))
    return StimulationTargets(
        initial_delay_ms=attr.number("InitialDelay"),
        inter_point_delay_ms=attr.number("InterPointDelay"),
        duration_ms=attr.number("Duration"),
        spiral_revolutions=attr.number("SpiralRevolutions"),
        all_points_at_once=bool(attr.flag("AllPointsAtOnce", required=False)),
        points=attr.text("Points") or "",
        indices=attr.indices("Indices"),
        targets=tuple(targets),
    )


class _Attributes:
    """Typed access to one element's attributes; every error names the file, the element and the attribute."""

    def __init__(self, path: pathlib.Path, element: ET.Element):
        self._path, self._element = path, element

    def _raw(self, key: str, required: bool) -> str | None:
        value = self._element.get(key)
        if value is None and required:
            raise ValueError(f"{self._path}: {self._element.tag} lacks the {key} attribute")
        return value

    def _bad(self, key: str, value: str, what: str) -> ValueError:
        return ValueError(f"{self._path}: {self._element.tag} {key}={value!r} is not {what}")

    def text(self, key: str) -> str | None:
        return self._element.get(key)

    def number(self, key: str, *, required: bool = True) -> float | None:
        value = self._raw(key, required)
        try:
            return None if value is None else float(value)
        except ValueError:
            raise self._bad(key, value, "a number") from None

    def integer(self, key: str, *, required: bool = True) -> int | None:
        number = self.number(key, required=required)
        if number is not None and not number.is_integer():
            raise self._bad(key, self._element.get(key), "a whole number")
        return None if number is None else int(number)

    def flag(self, key: str, *, required: bool = True) -> bool | None:
        value = self._raw(key, required)
        if value is None:
            return None
        if value.strip().lower() not in ("true", "false"):
            raise self._bad(key, value, "True or False")
        return value.strip().lower() == "true"

    def indices(self, key: str) -> tuple[int, ...]:
        value = self._raw(key, True)
        try:
            return parse_indices(value)
        except ValueError as error:
            raise ValueError(f"{self._path}: {self._element.tag} {key}={value!r}: {error}") from None


def xml_root(path: str | os.PathLike, roots: tuple[str, ...], *, kind: str = "") -> tuple[pathlib.Path, ET.Element]:
    """The path and root element of a PrairieView XML file whose root tag is one of ``roots``; FileNotFoundError or
    a one-line ValueError naming the file (and what it should have been, ``kind``) otherwise."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise ValueError(f"{path}: not readable XML ({error})") from error
    if root.tag not in roots:
        found = f"root element {root.tag}, expected {' or '.join(roots)}"
        raise ValueError(f"{path}: not a {kind} ({found})" if kind else f"{path}: {found}")
    return path, root
