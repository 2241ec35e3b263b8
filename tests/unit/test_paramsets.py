import uuid

import numpy as np
import pytest

from element_calcium import paramsets
from element_calcium.compute import params


def test_hash_ignores_key_order_and_numpy_scalars():
    a = {"modality": "1p", "x": {"b": 1, "a": 2.5}}
    b = {"x": {"a": np.float64(2.5), "b": np.int64(1)}, "modality": "1p"}
    assert paramsets.dict_to_uuid(a) == paramsets.dict_to_uuid(b)
    assert isinstance(paramsets.dict_to_uuid(a), uuid.UUID)


def test_hash_changes_with_any_value():
    assert paramsets.dict_to_uuid({"modality": "1p"}) != paramsets.dict_to_uuid({"modality": "2p"})


def test_non_finite_and_unserialisable_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        paramsets.canonical_json({"a": float("nan")})
    with pytest.raises(ValueError, match="type JSON cannot hold"):
        paramsets.canonical_json({"a": object()})


def test_validate_fills_defaults_and_rejects_unknown_keys():
    assert params.validate({"modality": "2p"}) == params.default_params("2p")
    with pytest.raises(ValueError, match="unknown parameter"):
        params.validate({"modality": "2p", "nonsense": 1})
    with pytest.raises(ValueError, match="modality"):
        params.validate({"modality": "3p"})
    with pytest.raises(ValueError, match="modality"):
        params.validate({})
    with pytest.raises(ValueError, match="dictionary"):
        params.validate([("modality", "1p")])


def test_prepare_hashes_method_and_complete_params():
    complete, param_hash = paramsets.prepare({"processing_method": "element_calcium"}, {"modality": "1p"})
    assert complete == params.default_params("1p")
    assert param_hash == paramsets.dict_to_uuid({"processing_method": "element_calcium", "params": complete})
    assert paramsets.prepare({"processing_method": "suite2p"}, {"modality": "1p"})[1] != param_hash


def test_motion_section_partial_override_and_range_checks():
    complete = params.validate({"modality": "2p", "motion": {"strides": [64, 64]}})
    assert complete["motion"]["strides"] == [64, 64]
    assert complete["motion"]["overlaps"] == params.default_params("2p")["motion"]["overlaps"]
    assert params.ProcessingParams.from_dict(complete).motion.strides == (64, 64)
    with pytest.raises(ValueError, match="max_shift"):
        params.validate({"modality": "1p", "motion": {"max_shift": -1}})
    with pytest.raises(ValueError, match="strides"):
        params.validate({"modality": "1p", "motion": {"strides": [64]}})
    with pytest.raises(ValueError, match="unknown parameter"):
        params.validate({"modality": "1p", "motion": {"max_shifts": 3}})
    with pytest.raises(ValueError, match="must be a dictionary"):
        params.validate({"modality": "1p", "motion": 3})


def test_one_photon_defaults_register_a_high_passed_copy():
    one_photon, two_photon = params.default_params("1p"), params.default_params("2p")
    assert one_photon["motion"]["highpass"] and not two_photon["motion"]["highpass"]
    assert paramsets.canonical_json(one_photon) == paramsets.canonical_json(params.validate({"modality": "1p"}))
