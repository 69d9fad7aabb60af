"""TorchvisionSemanticSegmenter: local-weights loading path and output contract (random weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models.segmentation import deeplabv3_resnet50

from sam_editor.invertibility.segmenters import TorchvisionSemanticSegmenter, make_segmenter


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    torch.manual_seed(0)
    with torch.device("meta"):
        model = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    gen = torch.Generator().manual_seed(0)
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=gen) + 0.5
        else:
            state[k] = torch.randn(v.shape, generator=gen) * 0.05
    path = tmp_path_factory.mktemp("deeplab") / "deeplabv3_resnet50_voc.pth"
    torch.save({"state_dict": state}, path)  # wrapped, with the aux classifier, like many exports
    return path


def test_loads_local_weights_and_returns_connected_segments(random_weights) -> None:
    seg = TorchvisionSemanticSegmenter(random_weights, size=48)
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    classes = seg.class_map(image)
    assert classes.shape == (48, 64) and classes.min() >= 0 and classes.max() < 21
    labels = seg.segment(image)
    assert labels.dtype == np.int32 and labels.shape == (48, 64)
    assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))
    # every segment lies inside one class
    for k in range(labels.max() + 1):
        assert np.unique(classes[labels == k]).size == 1
    assert isinstance(make_segmenter("deeplab", random_weights, size=32), TorchvisionSemanticSegmenter)


def test_missing_weights_never_download(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        TorchvisionSemanticSegmenter(tmp_path / "absent.pth")
