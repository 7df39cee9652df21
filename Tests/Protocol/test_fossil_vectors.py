"""The Fossil deltas Switchboard makes (Tests/SwitchboardTests/Fixtures/fossil-vectors.json, written
and checked by FossilDeltaTests) are applied by centrifuge-python's own apply_delta, as the SDK
applies a delta publication, and give the target byte for byte."""

import json
import os

from centrifuge.fossil import apply_delta

VECTORS = os.path.join(os.path.dirname(__file__), "..", "SwitchboardTests", "Fixtures", "fossil-vectors.json")


def test_centrifuge_python_applies_every_delta_switchboard_makes():
    with open(VECTORS) as file:
        vectors = json.load(file)
    assert len(vectors) >= 7
    for vector in vectors:
        source = vector["source"].encode()
        target = vector["target"].encode()
        delta = vector["delta"].encode()
        assert apply_delta(source, delta) == target, vector["name"]
        if len(target) > 200 and vector["name"] != "unrelated":
            assert len(delta) < len(target) / 3, (vector["name"], len(delta), len(target))
