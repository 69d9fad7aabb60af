"""The edit stack's layer fields (issue 31): a switched-off spec changes nothing, the order of
the layers does not change the sum, and files without the new fields read as before."""

import json

import torch

from sam_editor.edits.spec import EditSpec, resolve_edits
from sam_editor.schema import EditModel, RecipeEditModel


def _directions(G):  # noqa: ANN001, ANN202
    gen = torch.Generator().manual_seed(5)
    return {k: torch.randn(1, G.num_ws, G.w_dim, generator=gen) for k in (1, 2)}


def test_hidden_layers_change_nothing_and_order_does_not_matter(tiny_G):  # noqa: ANN001
    G, d = tiny_G, _directions(tiny_G)
    a = EditSpec("direction", "a", 1.5, (0, G.num_ws - 1), key=1)
    b = EditSpec("direction", "b", -0.5, (2, 5), key=2, label="Mine")
    both = resolve_edits(G, [a, b], None, d).total_delta_w()
    only_b = resolve_edits(G, [b], None, d).total_delta_w()
    hidden = resolve_edits(G, [EditSpec(**{**a.__dict__, "enabled": False}), b], None, d).total_delta_w()
    assert torch.equal(hidden, only_b) and not torch.allclose(hidden, both)
    assert torch.allclose(resolve_edits(G, [b, a], None, d).total_delta_w(), both, atol=1e-6)
    assert resolve_edits(G, [EditSpec(**{**b.__dict__, "enabled": False})], None, d).total_delta_w() is None
    assert b.title == "Mine" and a.title == "a"


def test_layer_fields_round_trip_and_old_files_read_as_before():
    e = EditSpec("ganspace", "PC 3", 2.0, (1, 4), component=3, enabled=False, label="Wider")
    assert EditSpec.from_json(EditModel.model_validate_json(json.dumps(e.to_json())).model_dump()) == e
    old = {"kind": "ganspace", "name": "PC 3", "strength": 2.0, "layers": [1, 4], "component": 3}
    for model in (EditModel, RecipeEditModel):
        spec = EditSpec.from_json(model.model_validate_json(json.dumps(old)).model_dump())
        assert spec.enabled is True and spec.label == "" and spec.title == "PC 3"
