"""The rules every parameter follows (the bounds and `check_number` of `element_calcium.compute.params`), and the
merging of a user's dictionary into the defaults."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

MAX_SIDE_PX = 8192
MAX_CELL_PX = 256
MAX_DURATION_S = 86_400.0
MAX_WINDOW_FRAMES = 100_000
MAX_TEMPLATE_FRAMES = 10_000
MAX_PERI_EVENT_S = 600.0
MAX_COUNT = 1_000_000


def require(condition: bool, message: str) -> None:
    """ValueError(``message``) unless ``condition``."""
    if not condition:
        raise ValueError(message)


def is_real(value: Any) -> bool:
    """A finite real number (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def is_whole(value: Any) -> bool:
    """An integer (Python's or NumPy's), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _text(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _range(low, high, low_open: bool, high_open: bool, integer: bool) -> str:
    """``"an integer >= 1 and <= 20"``, ``"in (0, 1]"``, ``"> 0"`` or ``"a finite number"``."""
    low_text = None if low is None else f"{'>' if low_open else '>='} {_text(low)}"
    high_text = None if high is None else f"{'<' if high_open else '<='} {_text(high)}"
    if integer:
        return " ".join(["an integer", " and ".join(t for t in (low_text, high_text) if t)]).rstrip()
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{_text(low)}, {_text(high)}{')' if high_open else ']'}"
    return low_text or high_text or "a finite number"


def check_number(
    where: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    null: bool = False,
    unit: str = "",
) -> None:
    """Refuse ``value`` unless it is a number in its range; the message names the parameter ``where``.

    A number is an int or a finite float, never a bool or a string; ``integer`` asks for an int.
    ``low``/``high`` bound it (``low_open``/``high_open``: the bound itself is excluded); ``null``
    lets None through; ``unit`` (e.g. ``"pixels"``) is named in the message.

    Raises:
        ValueError: ``"<where> must be <range> <unit>[ or null], got <value>"``.
    """
    if value is None and null:
        return
    fits = is_whole(value) if integer else is_real(value)
    if fits and low is not None:
        fits = value > low if low_open else value >= low
    if fits and high is not None:
        fits = value < high if high_open else value <= high
    if not fits:
        wanted = _range(low, high, low_open, high_open, integer) + (f" {unit}" if unit else "")
        raise ValueError(f"{where} must be {wanted}{' or null' if null else ''}, got {value!r}")


def check_flag(where: str, value: Any) -> None:
    require(isinstance(value, bool), f"{where} must be true or false, got {value!r}")


def check_pair(value: Any, where: str, *, low: int) -> tuple[int, int]:
    """Two integers (y, x) in [low, MAX_SIDE_PX] pixels."""
    require(
        isinstance(value, (list, tuple)) and len(value) == 2
        and all(is_whole(v) and low <= v <= MAX_SIDE_PX for v in value),
        f"{where} must be two integers (y, x) in [{low}, {MAX_SIDE_PX}] pixels, got {value!r}",
    )
    return int(value[0]), int(value[1])


def merge(defaults: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, Any]:
    """``defaults`` with the values of ``given`` put in, section by section; an unknown key is refused, naming
    ``where``."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} in {where}; known: {sorted(defaults)}")
    merged = dict(defaults)
    for name, value in given.items():
        if isinstance(defaults[name], dict):
            if not isinstance(value, dict):
                raise ValueError(f"parameter section {where}.{name} must be a dictionary")
            merged[name] = merge(defaults[name], value, f"{where}.{name}")
        else:
            merged[name] = value
    return merged


def as_dict(section) -> dict[str, Any]:
    """A parameter dataclass as a dictionary, its tuples as lists (as stored)."""
    return {name: list(v) if isinstance(v, tuple) else v for name, v in dataclasses.asdict(section).items()}
