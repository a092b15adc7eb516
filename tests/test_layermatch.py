"""nnst's last pass (painterly.layermatch): each layer matched on its own to the painting's features."""

import pytest
import torch

from conftest import DATA
from painterly import layermatch as lm
from painterly import neighbors as nb


def _columns_and_feats(n: int, layers: tuple[str, ...], seed: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Random hypercolumns (n, sum C) of ``layers`` and a feature map per layer whose positions are those rows."""
    g = torch.Generator().manual_seed(seed)
    parts = [torch.randn(n, nb.vgg.channels(k), generator=g) for k in layers]
    return torch.cat(parts, 1), {k: p.T.reshape(1, -1, n, 1) for k, p in zip(layers, parts)}


def test_the_paintings_own_features_are_nearer_than_others():
    layers = ("relu1_1", "relu2_1")
    columns, own = _columns_and_feats(500, layers, 1)
    _, other = _columns_and_feats(500, layers, 2)
    match = lm.LayerMatch(columns, layers)
    assert float(match(own)) < 0.01 < 0.5 < float(match(other))  # not 0: each set is centred on its own mean


def test_only_the_shallow_blocks_are_matched_and_their_channels_found_among_all():
    layers = ("relu1_1", "relu3_1", "relu2_1")  # relu3_1's channels lie between the two matched layers'
    columns, own = _columns_and_feats(400, layers, 5)
    match = lm.LayerMatch(columns, layers)
    assert match.layers == ("relu1_1", "relu2_1") and lm.BLOCKS == 2
    assert float(match(own)) < 0.01


def test_the_draws_are_the_same_every_run_and_not_the_global_generators():
    layers = ("relu2_1",)
    columns, _ = _columns_and_feats(300, layers, 3)
    _, feats = _columns_and_feats(5000, layers, 4)
    a, b = lm.LayerMatch(columns, layers), lm.LayerMatch(columns, layers)
    torch.manual_seed(0)
    first = [float(a(feats)) for _ in range(3)]
    torch.manual_seed(1)
    assert [float(b(feats)) for _ in range(3)] == first
    assert first[0] != first[1]  # another draw of positions at each evaluation


@pytest.mark.slow
def test_the_last_scale_adds_the_layer_match_and_a_step_lowers_it(weights):
    from painterly.features import VGG19Features
    from painterly.images import load_image, resize

    extractor = VGG19Features(weights, nb.HYPERCOLUMN_LAYERS)
    content = resize(load_image(DATA / "content.png").rgb, (48, 64))
    bank = nb.StyleBank.of(extractor, [resize(load_image(DATA / "style.png").rgb, (48, 64))], [1.0])
    assert "layers" not in nb.NeighborObjective(extractor, content, bank)(content)[1]
    objective = nb.NeighborObjective(extractor, content, bank, final=True)
    x = content.clone().requires_grad_(True)
    loss, terms = objective(x)
    assert 0 < float(terms["layers"]) < loss.item()
    loss.backward()
    with torch.no_grad():
        x -= 0.05 * x.grad / x.grad.abs().max()
        again = lm.LayerMatch(bank.columns, nb.HYPERCOLUMN_LAYERS)(extractor(x.clamp(0, 1), nb.HYPERCOLUMN_LAYERS))
    assert float(again) < float(terms["layers"])
