"""The channel options of a processing parameter set: checked, and absent from the stored content (and the hash)
while they hold their defaults, so parameter sets stored before they existed keep their hash."""

import pytest

from element_calcium import paramsets
from element_calcium.compute.params import ProcessingParams, default_params, validate

PURPOSE = {"processing_method": "element_calcium"}


@pytest.mark.parametrize("modality", ["1p", "2p"])
def test_defaults_store_no_channel_keys_and_keep_their_hash(modality):
    stored_before = default_params(modality)  # a complete set as stored before the channel options existed
    assert "functional_channel" not in stored_before and "align_channel" not in stored_before
    complete, param_hash = paramsets.prepare(PURPOSE, stored_before)
    assert complete == stored_before
    assert param_hash == paramsets.dict_to_uuid({**PURPOSE, "params": stored_before})
    explicit = {**stored_before, "functional_channel": 0, "align_channel": None}
    assert paramsets.prepare(PURPOSE, explicit) == (complete, param_hash)
    params = ProcessingParams.from_dict(complete)
    assert (params.functional_channel, params.align_channel, params.reference_channel) == (0, None, 0)


def test_channels_other_than_the_defaults_are_stored_and_hashed():
    complete, param_hash = paramsets.prepare(PURPOSE, {"modality": "2p", "functional_channel": 1, "align_channel": 0})
    assert (complete["functional_channel"], complete["align_channel"]) == (1, 0)
    assert param_hash != paramsets.prepare(PURPOSE, {"modality": "2p", "functional_channel": 1})[1]
    params = ProcessingParams.from_dict(complete)
    assert params.reference_channel == 0
    assert ProcessingParams.from_dict(validate({"modality": "2p", "functional_channel": 2})).reference_channel == 2


@pytest.mark.parametrize(("given", "message"), [
    ({"functional_channel": 4}, r"params functional_channel must be an integer >= 0 and <= 3, got 4"),
    ({"functional_channel": None}, r"params functional_channel must be an integer >= 0 and <= 3, got None"),
    ({"align_channel": -1}, r"params align_channel must be an integer >= 0 and <= 3 or null, got -1"),
    ({"align_channel": True}, r"params align_channel must be an integer >= 0 and <= 3 or null, got True"),
])
def test_bad_channels_are_refused(given, message):
    with pytest.raises(ValueError, match=message):
        validate({"modality": "2p", **given})
