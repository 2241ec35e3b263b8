"""Every parameter of every parameter set is checked by the same rules: a bool, a string or a non-finite value
where a number is expected is refused with the parameter's name, and so is a value beyond its documented bound."""

import math

import numpy as np
import pytest

from element_calcium import paramsets
from element_calcium.compute import params


def _numeric_fields(defaults: dict, prefix: str = ""):
    for name, value in defaults.items():
        if isinstance(value, dict):
            yield from _numeric_fields(value, f"{prefix}{name}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield prefix + name


def _nested(path: str, value) -> dict:
    section, _, name = path.rpartition(".")
    return {section: {name: value}} if section else {name: value}


PROCESSING_FIELDS = list(_numeric_fields(params.default_params("1p")))
STEP_FIELDS = [(step, name) for step in params.STEP_PARAMS
               for name in _numeric_fields(params.default_step_params(step))]


@pytest.mark.parametrize("bad", [True, "3", float("nan"), float("inf"), [3], {"value": 3}], ids=repr)
@pytest.mark.parametrize("path", PROCESSING_FIELDS)
def test_processing_parameter_that_is_not_a_number_is_refused_by_name(path, bad):
    name = path.rpartition(".")[2]
    with pytest.raises(ValueError, match=rf"^params {'' if '.' not in path else path.split('.')[0] + '.'}{name} "
                                         r"must be .*, got "):
        paramsets.prepare({"processing_method": "element_calcium"}, {"modality": "1p", **_nested(path, bad)})


@pytest.mark.parametrize("bad", [True, "3", float("nan"), float("-inf")], ids=repr)
@pytest.mark.parametrize(("step", "name"), STEP_FIELDS)
def test_step_parameter_that_is_not_a_number_is_refused_by_name(step, name, bad):
    with pytest.raises(ValueError, match=rf"^params \w+\.{name}\b.* must be "):
        paramsets.prepare({"step": step}, {name: bad})


@pytest.mark.parametrize(("given", "message"), [
    ({"cell_diameter": 1e9}, r"params cell_diameter must be in \(0, 256\] pixels, got 1000000000\.0"),
    ({"motion": {"max_shift": 1e6}}, r"params motion\.max_shift must be in \(0, 8192\] pixels"),
    ({"motion": {"template_frames": 10**8}}, r"params motion\.template_frames must be an integer >= 1 and <= 10000"),
    ({"motion": {"strides": [64, 10**6]}}, r"params motion\.strides must be two integers \(y, x\) in \[8, 8192\]"),
    ({"extraction": {"gSig": 1e5}}, r"params extraction\.gSig must be in \(0, 256\] pixels or null"),
    ({"extraction": {"gSiz": 10**6 + 1}}, r"params extraction\.gSiz must be an integer >= 3 and <= 513"),
    ({"extraction": {"patch_size": 10**6}}, r"params extraction\.patch_size must be an integer >= 32 and <= 8192"),
    ({"dff": {"window_s": 1e7}}, r"params dff\.window_s must be in \(0, 86400\] seconds"),
])
def test_processing_values_beyond_their_bound_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        params.validate({"modality": "1p", **given})


@pytest.mark.parametrize(("step", "given", "message"), [
    ("spatial", {"smooth_radius": 10**6}, r"spatial_events\.smooth_radius must be an integer >= 1 and <= 256"),
    ("spatial", {"window": 10**9}, r"spatial_events\.window must be an integer >= 2 and <= 100000 frames"),
    ("peri_event", {"pre_s": 1e6}, r"peri_event\.pre_s must be in \(0, 600\] seconds"),
    ("peri_event", {"n_shuffles": 10**9}, r"peri_event\.n_shuffles must be an integer >= 1 and <= 1000000"),
    ("event_clustering", {"length": 10**9}, r"event_clustering\.length must be an integer >= 2 and <= 100000 frames"),
    ("cell_clustering", {"max_clusters": 10**7}, r"cell_clustering\.max_clusters must be an integer >= 2 and <= 1000"),
    ("transients", {"noise_window_s": 1e9}, r"transients\.noise_window_s must be in \(0, 86400\] seconds"),
])
def test_step_values_beyond_their_bound_are_refused(step, given, message):
    with pytest.raises(ValueError, match=message):
        params.validate_step_params(step, given)


def test_bools_are_not_numbers_and_numbers_are_not_bools():
    with pytest.raises(ValueError, match=r"params motion\.max_shift must be in \(0, 8192\] pixels, got True"):
        params.validate({"modality": "1p", "motion": {"max_shift": True}})
    with pytest.raises(ValueError, match=r"params deconvolution\.p must be 0, 1 or 2, got True"):
        params.validate({"modality": "1p", "deconvolution": {"p": True}})
    with pytest.raises(ValueError, match=r"params motion\.pw_rigid must be true or false, got 1"):
        params.validate({"modality": "1p", "motion": {"pw_rigid": 1}})
    with pytest.raises(ValueError, match=r"params deconvolution\.noise_range must be two numbers"):
        params.validate({"modality": "1p", "deconvolution": {"noise_range": [True, 0.5]}})


def test_numpy_numbers_and_values_at_their_bounds_are_accepted():
    complete = params.validate({"modality": "2p", "cell_diameter": np.float64(params.MAX_CELL_PX),
                                "motion": {"template_frames": np.int64(params.MAX_TEMPLATE_FRAMES)}})
    assert complete["cell_diameter"] == params.MAX_CELL_PX
    assert complete["motion"]["template_frames"] == params.MAX_TEMPLATE_FRAMES
    assert params.validate_step_params("peri_event", {"pre_s": params.MAX_PERI_EVENT_S})["pre_s"] == 600.0


def test_check_number_states_the_range_it_wants():
    cases = [
        (dict(low=1, high=20, integer=True), "x must be an integer >= 1 and <= 20, got 'a'"),
        (dict(low=0, low_open=True, high=1, unit="s"), "x must be in (0, 1] s, got 'a'"),
        (dict(low=0, null=True), "x must be >= 0 or null, got 'a'"),
        (dict(), "x must be a finite number, got 'a'"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError) as raised:
            params.check_number("x", "a", **options)
        assert str(raised.value) == message
    params.check_number("x", None, null=True)
    params.check_number("x", math.pi, low=3, high=4)
