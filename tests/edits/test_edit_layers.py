"""The edit stack's layer fields (issue 31): a switched-off spec changes nothing, the order of
the layers does not change the sum, and files without the new fields read as before."""

import json

import pytest
import torch

from sam_editor.edits import ganspace as gs
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


# ---- resolve_edits against hand-built δw+ (issue 36: mutation testing) ---------------------------
@pytest.fixture(scope="module")
def comps(tiny_G):  # noqa: ANN001, ANN201
    return gs.compute_components(tiny_G, n_samples=600, n_components=6, batch_size=300, stop_when_settled=False)


def test_each_kind_resolves_to_its_hand_built_delta(tiny_G, comps):  # noqa: ANN001
    G, d = tiny_G, _directions(tiny_G)
    specs = [
        EditSpec("ganspace", "PC 2", -1.5, (3, 6), component=2),
        EditSpec("styleclip", "red", 0.7, (1, 2), text="a red car", key=1),
        EditSpec("direction", "wheels", 2.0, (0, 0), key=2, enabled=False),
        EditSpec("direction", "tilt", 0.5, (8, 9), key=2),
    ]
    stack = resolve_edits(G, specs, comps, d, device="cpu")
    assert stack.names() == ["00 PC 2", "01 red", "03 tilt"]  # the index in the list, hidden layers counted
    pc = torch.zeros(1, G.num_ws, G.w_dim)
    pc[0, 3:7] = -1.5 * float(comps.stdev[2]) * comps.components[2]
    torch.testing.assert_close(stack.get("00 PC 2").delta_w(), pc, rtol=1e-6, atol=1e-7)
    red = torch.zeros(1, G.num_ws, G.w_dim)
    red[0, 1:3] = 0.7 * d[1][0, 1:3]
    torch.testing.assert_close(stack.get("01 red").delta_w(), red, rtol=1e-6, atol=0)
    tilt = torch.zeros(1, G.num_ws, G.w_dim)
    tilt[0, 8:10] = 0.5 * d[2][0, 8:10]
    torch.testing.assert_close(stack.get("03 tilt").delta_w(), tilt, rtol=1e-6, atol=0)
    torch.testing.assert_close(stack.total_delta_w(), pc + red + tilt, rtol=1e-6, atol=1e-6)
    assert [stack.get(n).kind for n in stack.names()] == ["ganspace", "text", "official"]
    assert stack.get("01 red").info == {"text": "a red car"} and stack.get("00 PC 2").info["component"] == 2
    # switched back on, the hidden layer adds its own rows
    specs[2] = EditSpec(**{**specs[2].__dict__, "enabled": True})
    again = resolve_edits(G, specs, comps, d)
    wheels = torch.zeros(1, G.num_ws, G.w_dim)
    wheels[0, 0] = 2.0 * d[2][0, 0]
    torch.testing.assert_close(again.total_delta_w(), pc + red + tilt + wheels, rtol=1e-6, atol=1e-6)


def test_an_edit_whose_source_is_missing_is_left_out(tiny_G, comps):  # noqa: ANN001
    G, d = tiny_G, _directions(tiny_G)
    pc = EditSpec("ganspace", "PC 0", 1.0, (0, 9), component=0)
    lost = EditSpec("direction", "lost", 1.0, (0, 9), key=7)  # no direction 7 held
    kept = EditSpec("direction", "kept", 1.0, (0, 9), key=1)
    assert resolve_edits(G, [pc, lost, kept], None, d).names() == ["02 kept"]  # no GANSpace yet
    assert resolve_edits(G, [pc, lost, kept], comps, d).names() == ["00 PC 0", "02 kept"]


def test_spec_fields_strength_and_json():
    e = EditSpec("styleclip", "red", 1, (2, 5), text="a red car", key=3)
    stronger = e.with_strength(-2)
    assert stronger.strength == -2.0 and isinstance(stronger.strength, float) and stronger.text == "a red car"
    assert e.strength == 1  # frozen: a new spec
    d = e.to_json()
    assert d == {"kind": "styleclip", "name": "red", "strength": 1, "layers": [2, 5], "component": -1,
                 "text": "a red car", "key": 3, "enabled": True, "label": ""}
    assert EditSpec.from_json(d) == e
    minimal = EditSpec.from_json({"kind": "direction", "name": "x", "strength": "0.5", "layers": ["1", 4]})
    assert minimal == EditSpec("direction", "x", 0.5, (1, 4))
    assert (minimal.component, minimal.text, minimal.key, minimal.enabled, minimal.label) == (-1, "", 0, True, "")
    with pytest.raises(ValueError, match="edit kind must be one of .* got 'paint'"):
        EditSpec("paint", "x", 1.0, (0, 1))


def test_directions_are_moved_to_the_device_asked_for(tiny_G):  # noqa: ANN001
    # 'meta' stands in for a GPU on the CPU-only test machines: mixing it with CPU tensors raises
    G, d = tiny_G, _directions(tiny_G)
    spec = EditSpec("direction", "a", 1.0, (2, 3), key=1)
    assert resolve_edits(G, [spec], None, d, device="meta").get("00 a").direction.device.type == "meta"
    assert resolve_edits(G, [spec], None, d).get("00 a").direction.device == G.mapping.w_avg.device
