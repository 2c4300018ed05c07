"""The speed run's parts: whitening initialisation, translation, the network's shapes."""

from __future__ import annotations

import torch

import zoo
from training import speedrun
from zoo.models.speedrun import init_whitening


def test_whitening_stem_whitens_patches():
    torch.manual_seed(0)
    mix = torch.tensor([[1.0, 0.5, 0.2], [0.0, 1.0, 0.7], [0.0, 0.0, 0.3]])
    images = torch.einsum("dc,nchw->ndhw", mix, torch.randn(64, 3, 16, 16))
    model = zoo.create_model("cifar_speedrun", widths=(8, 8, 8))
    init_whitening(model, images, eps=0.0)
    out = torch.nn.functional.conv2d(images, model.whiten.weight[:12])  # the + half of the 24 filters
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = flat.T @ flat / len(flat)
    torch.testing.assert_close(cov, torch.eye(12), atol=2e-3, rtol=0)
    assert not model.whiten.weight.requires_grad


def test_network_shapes_and_trainable_parts():
    model = zoo.create_model("cifar_speedrun", widths=(16, 32, 32))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "whiten.weight" in frozen and all(n.endswith(".weight") for n in frozen)  # BN scales are fixed
    assert zoo.get_spec("cifar_speedrun").input_size == (3, 32, 32)


def test_batch_translate_moves_by_at_most_pad():
    x = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).view(4, 3, 8, 8)
    out = speedrun.batch_translate(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    # the centre 4x4 of every output is a shifted window of its own input
    for i in range(4):
        vals = set(out[i, 0, 2:6, 2:6].flatten().tolist())
        assert vals <= set(x[i, 0].flatten().tolist())


def test_predict_mirror_tta_is_flip_invariant():
    model = zoo.create_model("cifar_speedrun", widths=(8, 8, 8)).eval()
    images = torch.randint(0, 255, (4, 3, 32, 32), dtype=torch.uint8)
    a = speedrun.predict(model, images, 1, torch.device("cpu"), False)
    b = speedrun.predict(model, images.flip(-1), 1, torch.device("cpu"), False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
