import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from painterly.losses import ContentLoss, StyleLoss, content_loss, gram_matrix, style_loss, tv_loss


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 8), h=st.integers(1, 9), w=st.integers(1, 9), seed=st.integers(0, 10_000))
def test_gram_symmetric_psd(c, h, w, seed):
    f = torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))
    g = gram_matrix(f)[0]
    assert torch.allclose(g, g.T, atol=1e-6)
    assert torch.linalg.eigvalsh(g.double()).min() > -1e-6


def test_gram_is_size_independent_for_repeated_texture():
    f = torch.randn(1, 4, 5, 5)
    big = f.repeat(1, 1, 3, 3)  # the same statistics over 9x the positions
    assert torch.allclose(gram_matrix(f), gram_matrix(big), rtol=1e-5, atol=1e-6)


def test_gram_full_mask_equals_plain():
    f = torch.randn(1, 3, 6, 7)
    assert torch.allclose(gram_matrix(f, torch.ones(1, 1, 6, 7)), gram_matrix(f), atol=1e-6)


def test_content_loss_zero_at_target_positive_elsewhere():
    t = torch.randn(1, 8, 4, 4)
    assert content_loss(t, t) == 0
    assert content_loss(t + 0.1, t) > 0


def test_style_loss_is_the_squared_relative_gram_error():
    g, t = torch.rand(1, 8, 8), torch.rand(1, 8, 8) + 0.5
    want = float((g - t).norm() ** 2 / t.norm() ** 2)
    assert abs(float(style_loss(g, t)) - want) < 1e-5 * want
    assert style_loss(t, t) == 0


def test_style_layers_pull_alike_whatever_their_magnitude():
    """Layers whose activations differ by orders of magnitude (relu1_1 vs relu4_1 on the
    Caffe VGG19) give equal losses for equal relative errors, so equal weights mean equal pull."""
    g, t = torch.rand(1, 8, 8), torch.rand(1, 8, 8) + 0.5
    for scale in (1e-3, 1e3, 1e6):
        assert torch.allclose(style_loss(scale * g, scale * t), style_loss(g, t), rtol=1e-4)


def test_tv_zero_for_constant_positive_for_noise():
    assert tv_loss(torch.full((1, 3, 10, 10), 0.3)) == 0
    assert tv_loss(torch.rand(1, 3, 10, 10)) > 0


def test_modules_equal_functions():
    a, b = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    cl = ContentLoss({"x": b}, {"x": 2.0})
    assert torch.allclose(cl({"x": a}), 2.0 * content_loss(a, b))
    sl = StyleLoss({"x": gram_matrix(b)}, {"x": 3.0})
    assert torch.allclose(sl({"x": a}), 3.0 * style_loss(gram_matrix(a), gram_matrix(b)))
