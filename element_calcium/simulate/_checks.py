"""Argument checks of the simulators and writers: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers


def check_name(name, value):
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value or "\\" in value:
        raise ValueError(f"{name} must be a folder name (no path separators), got {value!r}")


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_int(name, value, minimum, maximum=None):
    """`value` as an int; ValueError naming `name` unless an integer in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def check_number(name, value, minimum, maximum=math.inf, *, strict=False):
    """`value` as a float; ValueError naming `name` unless finite and in [minimum, maximum] (minimum excluded
    if `strict`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not minimum <= value <= maximum or (strict and value == minimum):
        bound = f"> {minimum}" if strict else f">= {minimum}"
        if maximum < math.inf:
            bound += f" and <= {maximum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)
