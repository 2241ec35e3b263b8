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
    table.insert_new_params("suite2p", 100, "suite2p results", {"modality": "2p"})
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
        imaging.ProcessingParamSet.insert_new_params("element_calcium", 103, "bad", {"modality": "1p", "gSig": 3})
    assert len(imaging.ProcessingParamSet()) == before


def test_unknown_processing_method_is_refused_and_not_added(pipeline):
    imaging = pipeline.imaging
    methods, before = len(imaging.ProcessingMethod()), len(imaging.ProcessingParamSet())
    with pytest.raises(ValueError, match=r"processing method 'newtool' is not one of ProcessingMethod "
                                         r"\(caiman, caltrig, element_calcium, minian, nwb, suite2p\)"):
        imaging.ProcessingParamSet.insert_new_params("newtool", 104, "a tool nobody wrote", {"modality": "1p"})
    assert (len(imaging.ProcessingMethod()), len(imaging.ProcessingParamSet())) == (methods, before)
    assert not imaging.ProcessingMethod & {"processing_method": "newtool"}


@pytest.mark.parametrize(("paramset_id", "description", "message"), [
    (40000, "fine", r"paramset_id must be an integer in \[-32768, 32767\], got 40000"),
    (True, "fine", r"paramset_id must be an integer in \[-32768, 32767\], got True"),
    (105, "d" * 300, r"paramset_desc 'd+'\.\.\. is 300 characters long; at most 255 fit"),
])
def test_id_and_description_that_do_not_fit_their_columns_are_refused(pipeline, paramset_id, description, message):
    imaging = pipeline.imaging
    before = len(imaging.ProcessingParamSet())
    with pytest.raises(ValueError, match=message):
        imaging.ProcessingParamSet.insert_new_params("element_calcium", paramset_id, description,
                                                     {"modality": "1p", "cell_diameter": 10.5})
    assert len(imaging.ProcessingParamSet()) == before


@pytest.mark.parametrize(("given", "message"), [
    ({"motion": {"max_shift": True}}, r"params motion\.max_shift must be in \(0, 8192\] pixels, got True"),
    ({"cell_diameter": 1e9}, r"params cell_diameter must be in \(0, 256\] pixels, got 1000000000\.0"),
    ({"dff": {"window_s": "30"}}, r"params dff\.window_s must be in \(0, 86400\] seconds, got '30'"),
])
def test_parameters_of_the_wrong_kind_or_size_are_refused_by_name(pipeline, given, message):
    imaging = pipeline.imaging
    before = len(imaging.ProcessingParamSet())
    with pytest.raises(ValueError, match=message):
        imaging.ProcessingParamSet.insert_new_params("element_calcium", 106, "bad", {"modality": "1p", **given})
    assert len(imaging.ProcessingParamSet()) == before
