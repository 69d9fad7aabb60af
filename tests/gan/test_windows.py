"""`Generator.synthesize` computes every block only on the rows/columns that reach the cropped
output (`plan_blocks`); that must equal the whole frame's synthesis cropped, with the edit, Δf,
soft masks and gradients, for any crop — and the windows must really be smaller than the frame."""

import pytest
import torch

from sam_editor.gan.networks import Generator, GeneratorConfig, plan_blocks
from sam_editor.gan.ops import modulated_conv, modulated_conv2d, needed_span, setup_filter, upfirdn2d, window_padding

TINY = dict(resolution=64, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32)
CROPS = [(8, 0, 48, 64), (5, 3, 37, 51), (31, 17, 1, 1), (60, 0, 4, 64), (0, 0, 64, 64)]


def _pair(crop) -> tuple[Generator, Generator]:
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(**TINY, crop=crop)).eval().requires_grad_(False)
    for name, p in G.named_parameters():  # every parameter matters in the comparison
        if name.endswith(("noise_strength", "bias")):
            p.normal_(0, 0.3)
    full = Generator(GeneratorConfig(**TINY)).eval().requires_grad_(False)
    full.load_state_dict(G.state_dict())
    return G, full


@pytest.mark.parametrize("crop", CROPS)
def test_windowed_synthesis_equals_the_whole_frame_cropped(crop) -> None:
    G, full = _pair(crop)
    gen = torch.Generator().manual_seed(1)
    w = G.map(torch.randn(2, TINY["z_dim"], generator=gen))
    masks = {i: torch.rand(1, 1, *G.feature_shape(i)[1:], generator=gen) for i in (4, 6, 8)}
    df = {i: torch.randn(2, *G.feature_shape(i), generator=gen) for i in (4, 6, 8)}
    dw = torch.randn(w.shape, generator=gen) * 0.5
    with torch.no_grad():
        for kwargs in ({}, {"delta_f": df, "masks": masks}, {"delta_f": df, "masks": masks, "delta_w": dw}):
            out = G.synthesize(w, **kwargs)
            assert out.shape == (2, 3, *G.cfg.output_size)
            torch.testing.assert_close(out, G.crop_output(full.synthesize(w, **kwargs)), rtol=0, atol=1e-6)


def test_windowed_gradients_equal_the_whole_frame() -> None:
    G, full = _pair((5, 3, 37, 51))
    gen = torch.Generator().manual_seed(2)
    target = torch.randn(1, 3, 37, 51, generator=gen)
    grads = []
    for net, crop in ((G, lambda x: x), (full, G.crop_output)):
        w = net.map(torch.randn(1, TINY["z_dim"], generator=torch.Generator().manual_seed(3))).requires_grad_(True)
        df = {6: torch.zeros(1, *net.feature_shape(6), requires_grad=True)}
        masks = {6: torch.ones(1, 1, *net.feature_shape(6)[1:])}
        (crop(net.synthesize(w, df, masks)) - target).square().mean().backward()
        grads.append((w.grad, df[6].grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_car_windows_are_the_crop_and_its_halo() -> None:
    """The config-f car crop (512×384 of 512²): the last block computes exactly the crop's rows,
    every earlier block a few rows more than half the next one's (the layers' reach)."""
    plans = plan_blocks(GeneratorConfig(crop=(64, 0, 384, 512)))
    assert [p.window[1] for p in plans] == [(0, r) for r in (4, 8, 16, 32, 64, 128, 256, 512)]  # all columns
    rows = [p.window[0] for p in plans]
    assert rows[-1] == (64, 448)
    for r, (lo, hi), (nlo, nhi) in zip((4, 8, 16, 32, 64, 128, 256), rows[:-1], rows[1:], strict=True):
        assert lo == 0 or nlo // 2 - 3 <= lo < nlo // 2  # a halo of 1–3 rows, or the frame's edge
        assert hi == r or nhi // 2 < hi <= nhi // 2 + 3
    assert rows[-4] != (0, 64)
    assert rows[-2][1] - rows[-2][0] < 0.8 * 256 and rows[-3][1] - rows[-3][0] < 0.85 * 128


def test_window_padding_is_the_layers_own_on_the_whole_frame_and_exact_inside() -> None:
    f = setup_filter()
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 4, 20, 20, generator=gen)
    weight = torch.randn(5, 4, 3, 3, generator=gen)
    styles = torch.rand(1, 4, generator=gen) + 0.5
    whole = modulated_conv2d(x, weight, styles, up=2, padding=1, resample_filter=f, demodulate=False)
    out = ((7, 30), (0, 40))  # rows 7…29 of the 40-row output, all columns
    reach = (1 + 2, f.shape[-1] - 1 - 1)  # transposed 3-tap conv then the FIR (padding 1)
    inp = tuple(needed_span(s, 20, 2, reach) for s in out)
    assert inp[0] != (0, 20) and inp[1] == (0, 20)
    pad = window_padding(inp, out, (1, 1), up=2)
    part = modulated_conv(x[:, :, inp[0][0] : inp[0][1]], weight, styles, up=2, padding=pad, resample_filter=f)
    torch.testing.assert_close(part, whole[:, :, 7:30], rtol=0, atol=1e-5)
    # One input row fewer than needed_span gives wrong rows at that edge: the span is tight.
    short = modulated_conv(x[:, :, inp[0][0] + 1 : inp[0][1]], weight, styles, up=2, padding=(pad[0], pad[1], pad[2] + 2, pad[3]), resample_filter=f)
    assert not torch.allclose(short, whole[:, :, 7:30], atol=1e-3)
    # On the whole frame the padding is the layer's own.
    assert window_padding(((0, 20), (0, 20)), ((0, 40), (0, 40)), (1, 1), up=2) == (1, 1, 1, 1)
    up = upfirdn2d(x, f, up=2, padding=window_padding(((0, 20), (0, 20)), ((0, 40), (0, 40)), (2, 1), up=2), gain=4)
    torch.testing.assert_close(up, upfirdn2d(x, f, up=2, padding=(2, 1, 2, 1), gain=4), rtol=0, atol=0)
