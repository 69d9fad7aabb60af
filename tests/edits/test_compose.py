"""§3.4 gated editing through EditStack/render_edit on a tiny generator."""

import pytest
import torch

from sam_editor.edits import ganspace as gs
from sam_editor.edits.compose import Edit, EditStack, block_of_row, ganspace_edit, render_edit
from sam_editor.gan.layers import block_of_feature_index
from sam_editor.gan.networks import RenderCache


@pytest.fixture(scope="module")
def comps(tiny_G):
    return gs.compute_components(tiny_G, n_samples=1000, n_components=8, batch_size=500)


def _stack(G, comps, order):
    edits = {
        "a": ganspace_edit(G, comps, 0, (0, 3), 2.0, name="a"),
        "b": ganspace_edit(G, comps, 1, (2, 9), -1.3, name="b"),
        "c": Edit(
            "text: red", 0.37 * torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(5)), 0.7, kind="text"
        ),
    }
    return EditStack([edits[k] for k in order])


def test_zero_edit_is_the_reconstruction(tiny_G, tiny_phi, comps):
    G, (w, df, masks) = tiny_G, tiny_phi
    with torch.no_grad():
        rec = G.synthesize(w, df, masks)
    stack = EditStack()
    torch.testing.assert_close(render_edit(G, w, df, masks, stack), rec, rtol=0, atol=0)
    stack.add(ganspace_edit(G, comps, 0, None, 0.0))  # slider at 0
    stack.add(Edit("zero", torch.zeros(1, G.num_ws, G.w_dim), 3.0))  # δw+ = 0
    stack.add(ganspace_edit(G, comps, 1, None, 5.0, name="off"))
    stack.set_enabled("off", False)
    assert stack.total_delta_w() is None and stack.earliest_row() is None
    torch.testing.assert_close(render_edit(G, w, df, masks, stack), rec, rtol=0, atol=0)
    # An explicit zero δw+ through the gated edit path gives the same image.
    with torch.no_grad():
        torch.testing.assert_close(G.synthesize(w, df, masks, delta_w=torch.zeros_like(w)), rec, rtol=0, atol=1e-6)


def test_feature_region_unchanged_by_edit_up_to_its_layer(tiny_G, tiny_phi, comps):
    """Left half inverted in F4: an edit of rows ≤ 4 leaves its interior as reconstructed; the
    W+ quarter (top right) changes; an edit after row 4 does reach the F4 region."""
    G, (w, df, masks) = tiny_G, tiny_phi
    rec = render_edit(G, w, df, masks, EditStack())
    early = EditStack([ganspace_edit(G, comps, 0, (0, 4), 8.0)])
    assert early.earliest_row() == 0 and early.earliest_block(G) == 4
    diff = (render_edit(G, w, df, masks, early) - rec).abs().amax(dim=(0, 1))
    assert diff[:, :16].max() < 1e-5  # interior of the F4 region (m_4 = 1 up to x = 28; receptive field)
    assert diff[:28, 40:].mean() > 1e-2  # the W+ region is edited
    late = EditStack([ganspace_edit(G, comps, 0, (6, 9), 8.0)])
    assert late.earliest_block(G) == 32
    assert (render_edit(G, w, df, masks, late) - rec)[..., :16].abs().mean() > 1e-3


def test_composition_is_order_independent(tiny_G, tiny_phi, comps):
    G, (w, df, masks) = tiny_G, tiny_phi
    s1, s2 = _stack(G, comps, "abc"), _stack(G, comps, "cba")
    torch.testing.assert_close(s1.total_delta_w(), s2.total_delta_w(), rtol=0, atol=0)
    expected = sum(e.delta_w().double() for e in s1).float()
    torch.testing.assert_close(s1.total_delta_w(), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(render_edit(G, w, df, masks, s1), render_edit(G, w, df, masks, s2), rtol=0, atol=0)
    # Changing strengths in a different order ends in the same state.
    s1.set_strength("a", 0.5)
    s1.set_strength("b", 1.0)
    s2.set_strength("b", 1.0)
    s2.set_strength("a", 0.5)
    torch.testing.assert_close(render_edit(G, w, df, masks, s1), render_edit(G, w, df, masks, s2), rtol=0, atol=0)
    assert s1.earliest_row() == 0
    s1.set_enabled("a", False)
    assert s1.earliest_row() == 0  # the text edit touches every row
    s1.remove("text: red")
    assert s1.earliest_row() == 2
    with pytest.raises(ValueError, match="shape"):
        s1.add(Edit("bad", torch.zeros(1, 3, G.w_dim)))


def test_cached_render_equals_uncached_and_recomputes_from_first_changed_block(tiny_G, tiny_phi, comps):
    G, (w, df, masks) = tiny_G, tiny_phi
    stack = _stack(G, comps, "ab")
    stack.set_strength("a", 0.0)
    cache = RenderCache()

    def check() -> list[int]:
        """Render with the cache, compare with an uncached render, return the edit-path blocks
        that were recomputed (the reconstruction path must not be)."""
        cached = render_edit(G, w, df, masks, stack, cache)
        torch.testing.assert_close(cached, render_edit(G, w, df, masks, stack), rtol=0, atol=0)
        return [r for p, r in cache.computed_blocks if p == "edit"]

    render_edit(G, w, df, masks, stack, cache)
    # The reconstruction runs only up to the last gated space (F6 is block 32's output); past it,
    # the diverged edit needs none of it (the 64 px block is not run twice).
    assert block_of_feature_index(max(masks)) == 32
    assert [r for p, r in cache.computed_blocks if p == "rec"] == [4, 8, 16, 32]
    assert [r for p, r in cache.computed_blocks if p == "edit"] == [8, 16, 32, 64]  # rows 2–9
    assert check() == []
    assert stack.earliest_block(G) == block_of_row(G, 2) == 8
    stack.set_strength("b", 0.4)  # slider of an edit on rows 2–9
    assert check() == [8, 16, 32, 64] and all(p == "edit" for p, _ in cache.computed_blocks)
    late = ganspace_edit(G, comps, 3, (8, 9), 1.0, name="late")
    stack.add(late)
    assert check() == [64]  # rows 8, 9 belong to the last block only
    stack.set_strength("late", -2.0)
    assert check() == [64]
    assert check() == []  # nothing changed: nothing recomputed
    stack.set_strength("a", 1.0)  # rows 0–3
    assert check() == [4, 8, 16, 32, 64]


def test_a_ganspace_slider_of_value_s_moves_w_by_s_sigma_v_on_its_rows_only(tiny_G, comps):
    G = tiny_G
    for k, layers, s in ((0, (2, 5), 1.5), (3, (0, 0), -2.0), (1, (9, 9), 0.25)):
        e = ganspace_edit(G, comps, k, layers, s)
        expected = torch.zeros(1, G.num_ws, G.w_dim)
        expected[0, layers[0] : layers[1] + 1] = s * float(comps.stdev[k]) * comps.components[k]
        torch.testing.assert_close(e.delta_w(), expected, rtol=1e-6, atol=1e-7)
        assert e.kind == "ganspace" and e.info == {"component": k, "layers": layers}
        assert e.name == f"PC{k} [{layers[0]}-{layers[1]}]" and e.first_row() == layers[0]
        # strength −s is the inverse of +s: together they change nothing
        stack = EditStack([e, ganspace_edit(G, comps, k, layers, -s, name="undo")])
        assert not stack.total_delta_w().any()


def test_a_new_ganspace_slider_sits_at_zero_on_every_row(tiny_G, comps):
    G = tiny_G
    e = ganspace_edit(G, comps, 2)
    assert e.strength == 0 and not e.active
    assert e.name == f"PC2 [0-{G.num_ws - 1}]" and e.info == {"component": 2, "layers": (0, G.num_ws - 1)}
    rows = e.direction[0].abs().sum(dim=1) > 0
    assert rows.all()  # the first and the last row included
    e.strength = 1.0
    torch.testing.assert_close(e.delta_w()[0, -1], comps.stdev[2] * comps.components[2])


def test_a_disabled_edit_can_be_switched_back_on(tiny_G, comps):
    stack = _stack(tiny_G, comps, "abc")
    before = stack.total_delta_w()
    stack.set_enabled("b", False)
    assert [e.name for e in stack.active()] == ["a", "text: red"]
    stack.set_enabled("b", 1)  # any truthy value, as a check box gives it
    assert stack.get("b").enabled is True
    torch.testing.assert_close(stack.total_delta_w(), before, rtol=0, atol=0)


def test_edits_are_summed_in_double_precision(tiny_G):
    G = tiny_G
    one = torch.zeros(1, G.num_ws, G.w_dim)
    one[0, 0, 0] = 1.0
    big = one * 2.0**24  # float32 has no 2**24 + 1: a float32 running sum would lose the 1
    stack = EditStack([Edit("a", big), Edit("b", one), Edit("c", -big)])
    total = stack.total_delta_w()
    assert total.dtype == torch.float32 and total[0, 0, 0] == 1.0


def test_first_row_counts_small_changes_and_the_empty_stack_has_no_block(tiny_G):
    G = tiny_G
    d = torch.zeros(G.num_ws, G.w_dim)  # a 2-D δw+ is taken as (1, num_ws, w_dim)
    d[3, 5] = 0.01
    e = Edit("small", d)
    assert e.direction.shape == (1, G.num_ws, G.w_dim) and e.direction[0, 3, 5] == 0.01
    assert e.first_row() == 3 and EditStack([e]).earliest_block(G) == block_of_row(G, 3)
    assert Edit("zero", torch.zeros(G.num_ws, G.w_dim)).first_row() is None
    assert EditStack().earliest_block(G) is None


def test_stack_membership_names_and_bad_edits(tiny_G, comps):
    G = tiny_G
    stack = _stack(G, comps, "ca")
    assert "a" in stack and "b" not in stack and len(stack) == 2
    assert stack.names() == ["text: red", "a"]  # the order they were added in
    with pytest.raises(ValueError, match=r"edit 'bad': δw\+ must be \(1, num_ws, w_dim\), got \(2, 10, 32\)"):
        Edit("bad", torch.zeros(2, G.num_ws, G.w_dim))
    with pytest.raises(ValueError, match=r"got \(1, 1, 10, 32\)"):
        Edit("bad", torch.zeros(1, 1, G.num_ws, G.w_dim))
    with pytest.raises(ValueError, match="edit kind must be one of .* got 'paint'"):
        Edit("bad", torch.zeros(1, G.num_ws, G.w_dim), kind="paint")
    with pytest.raises(ValueError, match="style row 10 is outside 0-9"):
        block_of_row(G, G.num_ws)
