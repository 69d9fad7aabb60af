"""Batches made ahead come back in step order whoever makes them; checkpoints hold CPU tensors."""

import itertools
import operator

import pytest
import torch

from sam_editor.demo.pipeline import prefetch, to_cpu


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_prefetch_yields_make_of_each_step_in_order(workers):
    gen = prefetch(operator.neg, start=5, workers=workers)  # a builtin: picklable for processes
    assert list(itertools.islice(gen, 7)) == [-5, -6, -7, -8, -9, -10, -11]
    gen.close()


def test_to_cpu_keeps_the_structure():
    state = {"a": torch.ones(2), "b": [torch.zeros(1), 3], "c": ({"d": torch.ones(1)},), "e": "x"}
    out = to_cpu(state)
    assert out["b"][1] == 3 and out["e"] == "x" and isinstance(out["c"], tuple)
    assert torch.equal(out["c"][0]["d"], torch.ones(1)) and out["a"].device.type == "cpu"
