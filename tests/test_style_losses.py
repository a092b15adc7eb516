"""The style losses of --style-loss (painterly.losses.style_target / layer_style_loss)."""

import pytest
import torch

from painterly.config import StyleConfig, StyleLossKind
from painterly.losses import StyleLoss, layer_style_loss, style_target

KINDS = StyleLossKind.values()


def _features(seed: int, c: int = 6, h: int = 5, w: int = 7, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(1, c, h, w, generator=g, dtype=dtype) + 0.3)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_at_the_target_and_positive_elsewhere(kind):
    f, other = _features(0), _features(1)
    t = style_target(kind, f)
    # swd's target is the sorted projections resampled to SWD_QUANTILES: exact up to interpolation.
    assert float(layer_style_loss(kind, f, t)) == pytest.approx(0, abs=1e-6)
    assert float(layer_style_loss(kind, other, t)) > 1e3 * float(layer_style_loss(kind, f, t) + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_matches_finite_differences(kind):
    target = style_target(kind, _features(2))
    x = _features(3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: layer_style_loss(kind, f, target), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", ["gram", "meancov", "swd"])
def test_relative_losses_do_not_depend_on_the_features_scale(kind):
    f, other = _features(4), _features(5)
    a = layer_style_loss(kind, other, style_target(kind, f))
    b = layer_style_loss(kind, 100 * other, style_target(kind, 100 * f))
    assert float(a) == pytest.approx(float(b), rel=1e-6)


def test_swd_sees_what_a_gram_matrix_cannot():
    # Same second moments, different distributions: +-1 signs against a Gaussian, per channel.
    g = torch.Generator().manual_seed(6)
    signs = (torch.randint(0, 2, (1, 1, 40, 40), generator=g, dtype=torch.float64) * 2 - 1).expand(1, 3, 40, 40)
    gauss = torch.randn(1, 1, 40, 40, generator=g, dtype=torch.float64).expand(1, 3, 40, 40)
    gauss = gauss / gauss.pow(2).mean().sqrt()
    assert float(layer_style_loss("gram", gauss, style_target("gram", signs))) < 1e-3
    assert float(layer_style_loss("swd", gauss, style_target("swd", signs))) > 0.05


def test_swd_target_of_several_styles_is_their_quantile_average():
    a, b = _features(7), _features(8)
    ta, tb = style_target("swd", a), style_target("swd", b)
    loss = StyleLoss({"x": 0.25 * ta + 0.75 * tb}, {"x": 1.0}, kind="swd")
    assert float(loss({"x": a})) > 0 and float(loss({"x": b})) > 0


def test_masked_losses_see_only_their_region():
    f = _features(9, h=8, w=8)
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.float64)
    mask[..., :4] = 1
    region = f[..., :4].contiguous()
    for kind in ("meancov", "swd"):
        t = style_target(kind, region)
        changed = f.clone()
        changed[..., 4:] = 5.0  # outside the region
        assert float(layer_style_loss(kind, changed, t, mask)) == pytest.approx(0, abs=1e-6), kind
        assert float(layer_style_loss(kind, changed, t)) > 1e-2, kind


def test_each_loss_has_its_own_default_weight():
    assert StyleConfig().style_weight_in_use == 1e7
    assert StyleConfig(style_loss="classic").style_weight_in_use == 100
    assert StyleConfig(style_loss="classic", style_weight=3).style_weight_in_use == 3


@pytest.mark.slow
def test_swd_loss_falls_on_a_texture_synthesis(extractor, style_path):
    """Optimising noise for the sliced-Wasserstein style loss alone brings its distribution to the sample's."""
    from painterly.images import load_image, resize
    from painterly.objective import Objective, style_targets
    from painterly.optimize import optimize
    from painterly.quality import Evaluator

    sample = resize(load_image(style_path).rgb, (48, 64))
    cfg = StyleConfig(style_loss="swd", content_weight=0, seed=1)
    targets = style_targets(extractor, [sample], (48, 64), cfg)
    objective = Objective(extractor, None, targets, cfg)
    noise = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    start = float(objective(noise)[0])
    res = optimize(noise, objective, optimizer=cfg.solver, iterations=40, lr=cfg.lr, lbfgs_history=20,
                   tolerance=0, patience=40)
    assert res.loss < 0.2 * start
    ev = Evaluator(sample, sample, size=64)
    assert ev(res.image).swd < 0.6 * ev(noise).swd
    assert ev(res.image).color < 0.85 * ev(noise).color


def test_histogram_ranks_match_a_sort():
    """matched_quantiles pairs each value with the quantile at its rank; beyond SWD_EXACT values it
    takes the ranks from a histogram, which must give the sorted pairing's distance to within 1%
    (it assumes the values spread evenly within a bin: a spike of equal values would not)."""
    from painterly.losses import SWD_EXACT, matched_quantiles, resample_sorted

    g = torch.Generator().manual_seed(10)
    n = 4 * SWD_EXACT
    # Gaussian and skewed (log-normal) rows; projected VGG features agree to 0.03% (relu1_1, relu2_1).
    values = torch.cat([torch.randn(3, n, generator=g), torch.randn(3, n, generator=g).exp()])
    quantiles = (2 * torch.randn(6, 4096, generator=g) + 1).sort(dim=1).values
    exact = (values.sort(dim=1).values - resample_sorted(quantiles, n)).pow(2).mean(1)
    approx = (values - matched_quantiles(values, quantiles)).pow(2).mean(1)
    assert torch.allclose(approx, exact, rtol=0.01)
    small = values[:, :1000]
    exact_small = (small.sort(dim=1).values - resample_sorted(quantiles, 1000)).pow(2).mean(1)
    assert torch.allclose((small - matched_quantiles(small, quantiles)).pow(2).mean(1), exact_small, rtol=1e-5)
