"""TinyInvertibilityNet, save/load, preprocess and predict pinned from a whole-module mutation run of
invertibility/predictor.py (issue 36)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sam_editor.invertibility.predictor import (
    TinyInvertibilityNet,
    load_predictor,
    predict,
    preprocess,
    save_predictor,
)

torch.set_num_threads(1)


def _convs(seq: nn.Module) -> list[nn.Conv2d]:
    return [m for m in seq.modules() if isinstance(m, nn.Conv2d)]


def test_tiny_layer_settings_by_hand() -> None:
    w = 3
    net = TinyInvertibilityNet(width=w, spaces=("Z+", "F2"))
    # (cin, cout, kernel, stride, padding, dilation, has bias) written from the design: stem /2,
    # down2 /2 then 3×3, down3 /2 then dilations 2 and 4, 1×1 context, fuse 6w→2w→2w, heads 3×3 → 1×1.
    cbr = lambda cin, cout, s=1, d=1: (cin, cout, (3, 3), (s, s), (d, d), (d, d), False)  # noqa: E731
    expected = {
        "stem": [cbr(3, w, 2)],
        "down2": [cbr(w, 2 * w, 2), cbr(2 * w, 2 * w)],
        "down3": [cbr(2 * w, 4 * w, 2), cbr(4 * w, 4 * w, 1, 2), cbr(4 * w, 4 * w, 1, 4)],
        "context": [(4 * w, 4 * w, (1, 1), (1, 1), (0, 0), (1, 1), True)],
        "fuse": [cbr(6 * w, 2 * w), cbr(2 * w, 2 * w)],
    }
    for name, want in expected.items():
        got = [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.bias is not None)
               for c in _convs(getattr(net, name))]  # fmt: skip
        assert got == want, name
    # every conv of a conv-BN-ReLU block is followed by BN(cout) and a ReLU
    for name in ("stem", "down2", "down3", "fuse"):
        blocks = [m for m in getattr(net, name).modules() if isinstance(m, nn.Sequential) and isinstance(m[0], nn.Conv2d)]
        for b in blocks:
            assert [type(m) for m in b] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU]
            assert b[1].num_features == b[0].out_channels
    assert len(net.heads) == 2 and net.space_names == ("Z+", "F2")
    for head in net.heads:
        got = [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.bias is not None)
               for c in _convs(head)]  # fmt: skip
        assert got == [(2 * w, 8, (3, 3), (1, 1), (1, 1), (1, 1), True), (8, 1, (1, 1), (1, 1), (0, 0), (1, 1), True)]
        assert [type(m) for m in head] == [nn.Conv2d, nn.ReLU, nn.Conv2d]


def test_tiny_spaces_refused_with_message_and_no_input_size() -> None:
    with pytest.raises(ValueError, match=re.escape("a predictor needs one head per distinct space, got ['F4', 'F4']")):
        TinyInvertibilityNet(spaces=("F4", "F4"))
    with pytest.raises(ValueError, match=re.escape("a predictor needs one head per distinct space, got []")):
        TinyInvertibilityNet(spaces=())
    net = TinyInvertibilityNet(width=2, input_size=None)
    assert net.input_size is None
    assert net.config() == {"width": 2, "input_size": None}
    assert TinyInvertibilityNet(width=2, input_size=(6, 10)).config() == {"width": 2, "input_size": [6, 10]}


def _cbr_ref(x: torch.Tensor, block: nn.Sequential) -> torch.Tensor:
    conv, bn = block[0], block[1]
    y = F.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation)
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    return torch.clamp(y * bn.weight[:, None, None] + bn.bias[:, None, None], min=0)


def _bilinear_half_pixel(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize with half-pixel centres (align_corners=False), written out by hand."""
    H, W = x.shape[-2:]
    h, w = size

    def idx(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * n_in / n_out - 0.5).clamp(min=0)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0).to(x.dtype)

    y0, y1, fy = idx(H, h)
    x0, x1, fx = idx(W, w)
    rows = x[..., y0, :] * (1 - fy)[:, None] + x[..., y1, :] * fy[:, None]
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


def test_tiny_forward_matches_a_reference_in_plain_torch() -> None:
    torch.manual_seed(0)
    net = TinyInvertibilityNet(width=2, input_size=None, spaces=("W+", "F4", "F6"))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # non-trivial running statistics and affine
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.3)
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.uniform_(-0.3, 0.3)
    net.eval()
    x = torch.rand(1, 3, 18, 22, dtype=torch.float64) * 2 - 1
    net = net.double()
    with torch.no_grad():
        s2 = _cbr_ref(x, net.stem)
        s4 = _cbr_ref(_cbr_ref(s2, net.down2[0]), net.down2[1])
        s8 = s4
        for b in net.down3:
            s8 = _cbr_ref(s8, b)
        ctx = net.context[1]
        pooled = s8.mean(dim=(2, 3), keepdim=True)
        s8 = s8 + torch.clamp(F.conv2d(pooled, ctx.weight, ctx.bias), min=0)
        f = torch.cat([_bilinear_half_pixel(s8, tuple(s4.shape[-2:])), s4], 1)
        f = _cbr_ref(_cbr_ref(f, net.fuse[0]), net.fuse[1])
        outs = []
        for head in net.heads:
            h = torch.clamp(F.conv2d(f, head[0].weight, head[0].bias, padding=1), min=0)
            outs.append(F.conv2d(h, head[2].weight, head[2].bias))
        ref = _bilinear_half_pixel(torch.cat(outs, 1), (18, 22))
        ref = torch.log1p(torch.exp(ref))  # softplus
        got = net(x)
    assert s4.shape[-2:] == (5, 6) and s8.shape[-2:] == (3, 3)  # strides 2·2 and 2 more, ceil
    assert got.shape == (1, 3, 18, 22)
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-10)


def test_save_load_round_trip_spaces_meta_and_device(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = TinyInvertibilityNet(width=2, input_size=(10, 12), spaces=("Z+", "F2"))
    p = save_predictor(net, tmp_path / "sub" / "tiny.pt", meta={"epochs": 3})
    back = load_predictor(p, spaces=("Z+", "F2"))
    assert back.space_names == ("Z+", "F2") and len(back.heads) == 2
    assert back.input_size == (10, 12) and back.meta == {"epochs": 3} and not back.training
    for k, v in net.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    on_meta = load_predictor(p, device="meta", spaces=("Z+", "F2"))
    assert all(q.is_meta for q in on_meta.parameters())
    # a file written before the "meta" field existed loads with empty metadata
    payload = torch.load(p, weights_only=True)
    del payload["meta"]
    torch.save(payload, tmp_path / "old.pt")
    assert load_predictor(tmp_path / "old.pt", spaces=("Z+", "F2")).meta == {}


def test_save_and_load_refusals_matched_by_message(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="^only TinyInvertibilityNet is saved in the sam_editor format$"):
        save_predictor(nn.Conv2d(1, 1, 1), tmp_path / "x.pt")  # type: ignore[arg-type]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file at all" * 4)
    with pytest.raises(Exception, match="“junk.pt” is not a readable predictor "):
        load_predictor(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(1)}, other)
    with pytest.raises(ValueError, match=re.escape(f"{other} is neither a sam_editor predictor nor an official SAM checkpoint")):
        load_predictor(other)


def _paren_detail(msg: str, exc_name: str) -> str:
    start = msg.index(f"({exc_name}: ") + len(exc_name) + 3
    assert msg.endswith(")")
    return msg[start:-1]


def test_damaged_files_quote_exactly_200_characters_of_the_cause(tmp_path: Path) -> None:
    net = TinyInvertibilityNet(width=2, input_size=(8, 8))
    p = save_predictor(net, tmp_path / "tiny.pt")
    payload = torch.load(p, weights_only=True)
    payload["state_dict"] = {f"not_a_layer_with_a_long_name_{i}": torch.zeros(1) for i in range(20)}
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"^bad\.pt: a damaged SAM Editor predictor \(RuntimeError: ") as info:
        load_predictor(tmp_path / "bad.pt")
    assert len(_paren_detail(str(info.value), "RuntimeError")) == 200
    official = {"sd_base": {f"long_unexpected_key_number_{i}": torch.zeros(1) for i in range(20)}}
    official.update({s: {} for s in ("W+", "F4", "F6", "F8", "F10")})
    torch.save(official, tmp_path / "off.pt")
    with pytest.raises(ValueError, match=r"^off\.pt: not a usable official SAM predictor \(RuntimeError: ") as info:
        load_predictor(tmp_path / "off.pt")
    assert len(_paren_detail(str(info.value), "RuntimeError")) == 200


def test_preprocess_resize_and_normalisation_by_hand() -> None:
    img = np.array([[[0, 255, 51]]], dtype=np.uint8).repeat(2, 0).repeat(4, 1)  # (2, 4, 3) uniform
    img[0, 0] = (127, 128, 10)
    same = preprocess(img, (2, 4))  # exactly the size: no resize, (x/255 − 0.5)/0.5 per pixel
    want = torch.from_numpy(img.astype(np.float64) / 127.5 - 1).permute(2, 0, 1)[None].float()
    assert same.shape == (1, 3, 2, 4) and same.dtype == torch.float32
    torch.testing.assert_close(same, want, rtol=0, atol=1e-6)
    # shrink 2×4 → 1×2 by area: each output pixel is the mean of a 2×2 block
    area = preprocess(img, (1, 2))
    mean_block = img.astype(np.float64).reshape(1, 2, 2, 2, 3).mean(axis=(1, 3))  # (1, 2, 3)
    torch.testing.assert_close(area, torch.from_numpy(mean_block / 127.5 - 1).permute(2, 0, 1)[None].float(),
                               rtol=0, atol=1 / 127.5 + 1e-6)  # uint8 rounding of the mean  # fmt: skip
    # one pixel more in width (4 → 5): bilinear enlargement keeps a uniform row uniform
    row = np.full((1, 4, 3), 200, np.uint8)
    up = preprocess(row, (1, 5))
    assert up.shape == (1, 3, 1, 5)
    torch.testing.assert_close(up, torch.full((1, 3, 1, 5), 200 / 127.5 - 1), rtol=0, atol=1e-6)
    assert preprocess(img, None).shape == (1, 3, 2, 4)


class _Recorder(nn.Module):
    """A model whose one parameter lives on the meta device: predict must send x there."""

    input_size = None
    space_names = ("a", "b")

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.empty(1, device="meta"))
        self.seen: list[torch.device] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.device)
        n, _, h, w = x.shape
        return torch.ones(n, 2, h, w)


def test_predict_sends_the_image_to_the_models_device() -> None:
    rec = _Recorder()
    predict(rec, np.zeros((3, 4, 3), np.uint8))  # type: ignore[arg-type]
    assert rec.seen == [torch.device("meta")]


def test_predict_output_size_and_range() -> None:
    torch.manual_seed(2)
    net = TinyInvertibilityNet(width=2, input_size=(16, 16)).train()
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    y = predict(net, img)
    assert y.shape == (5, 20, 24) and y.dtype == np.float32 and y.flags.c_contiguous
    assert np.isfinite(y).all() and (y > 0).all()  # softplus: strictly positive errors
    assert net.training  # the caller's mode is restored
    y2 = predict(net, img, out_size=(7, 9))
    assert y2.shape == (5, 7, 9) and (y2 > 0).all()
    # maps at the model's own size are returned as computed: softplus of the forward
    with torch.no_grad():
        direct = net.eval()(preprocess(img, (16, 16)))[0].numpy()
    np.testing.assert_allclose(predict(net, img, out_size=(16, 16)), direct, rtol=1e-6, atol=1e-7)
