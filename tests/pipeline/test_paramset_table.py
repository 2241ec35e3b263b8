import datajoint as dj
import pytest

from element_calcium.compute.params import default_params


def test_default_paramsets_are_present(pipeline):
    imaging = pipeline.imaging
    for modality, paramset_id in imaging.DEFAULT_PARAMSET_ID.items():
        row = (imaging.ProcessingParamSet & {"paramset_id": paramset_id}).fetch1()
        assert row["params"] == default_params(modality)
        assert row["processing_method"] == imaging.DEFAULT_METHOD


def test_insert_dedupe_and_conflicts(pipeline):
    table = pipeline.imaging.ProcessingParamSet
    table.insert_new_params("suite2p", 100, "suite2p results", {"modality": "2p"}, processing_method_desc="s2p")
    stored = (table & {"paramset_id": 100}).fetch1()
    assert stored["params"] == default_params("2p")

    before = len(table())
    table.insert_new_params("suite2p", 100, "same set again", {"modality": "2p"})
    assert len(table()) == before

    with pytest.raises(dj.DataJointError, match="already stored as paramset_id 100"):
        table.insert_new_params("suite2p", 101, "a copy", {"modality": "2p"})
    with pytest.raises(dj.DataJointError, match="paramset_id 100 already holds different parameters"):
        table.insert_new_params("caiman", 100, "clash", {"modality": "2p", "dff": {"percentile": 9.5}})
    with pytest.raises(dj.DataJointError, match="already stored as paramset_id 0"):
        table.insert_new_params("element_calcium", 102, "defaults again", {"modality": "1p"})
    assert len(table()) == before
    assert not table & "paramset_id in (101, 102)"


def test_invalid_params_are_refused_before_insert(pipeline):
    imaging = pipeline.imaging
    before = len(imaging.ProcessingParamSet())
    with pytest.raises(ValueError, match="unknown parameter"):
        imaging.ProcessingParamSet.insert_new_params("newtool", 103, "bad", {"modality": "1p", "gSig": 3})
    assert len(imaging.ProcessingParamSet()) == before
    assert not imaging.ProcessingMethod & {"processing_method": "newtool"}
