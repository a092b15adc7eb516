"""gatys's sliced-Wasserstein loss for one tile (painterly.tilestyle): the whole picture's ranks, not the tile's."""

import pytest
import torch

from conftest import sky_and_wall
from painterly import tiles
from painterly.config import StyleConfig
from painterly.errors import ConfigError
from painterly.losses import StyleLoss, style_target
from painterly.tilestyle import TileStyleLoss, ranked_goal, whole_projections

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def test_a_value_goes_to_the_paintings_value_at_its_rank_in_the_picture():
    whole = torch.linspace(0, 1, 101)[None]  # the picture: uniform on [0, 1]
    painting = torch.linspace(10, 20, 51)[None]  # the painting's quantiles: uniform on [10, 20]
    values = torch.tensor([[0.0, 0.25, 0.5, 0.9, 1.0, -3.0, 7.0]])
    goal = ranked_goal(values, whole, painting)
    assert torch.allclose(goal, torch.tensor([[10.0, 12.5, 15.0, 19.0, 20.0, 10.0, 20.0]]), atol=1e-4)
    same = ranked_goal(values[:, :5], whole, whole)  # the painting is the picture: nothing moves
    assert torch.allclose(same, values[:, :5], atol=1e-5)


def test_the_tiles_own_parts_partition_the_picture():
    for hw, tile in (((128, 224), 96), ((300, 1000), 256)):
        blend = tiles.Blend(torch.zeros(1, 3, *hw), tile)
        count = torch.zeros(hw)
        for t in blend.tiles:
            own = blend.owned(t)
            assert t.top <= own.top and own.top + own.height <= t.top + t.height
            own.crop(count).add_(1)
        assert torch.equal(count, torch.ones(hw))


def test_gatys_tiles_need_the_swd_loss():
    assert StyleConfig(method="gatys", tile_size=256).tileable
    with pytest.raises(ConfigError, match="^--tile-size: painting in tiles with --method gatys needs --style-loss swd"):
        StyleConfig(method="gatys", style_loss="gram", tile_size=256)


@pytest.mark.slow
def test_a_tile_of_a_picture_that_is_already_the_painting_is_left_alone(extractor):
    """The painting is the picture itself (half sky, half wall), so the whole picture's loss is 0. Each tile's loss
    is near 0 too (its values already sit at their ranks' quantiles; what remains is the tile's edges, which
    the network sees without their surroundings), while the plain loss per tile, which pulls a tile to the whole
    painting's distribution, is many times larger."""
    picture = torch.nn.functional.interpolate(sky_and_wall(128), (128, 224), mode="bilinear")
    with torch.no_grad():
        feats = extractor(picture, LAYERS)
        targets = {k: style_target("swd", feats[k]) for k in LAYERS}
        weights = dict.fromkeys(LAYERS, 1.0)
        blend = tiles.Blend(picture, 96)
        whole = whole_projections(extractor, LAYERS, blend)
        assert float(StyleLoss(targets, weights, kind="swd")(feats)) < 1e-3
        for t in blend.tiles:
            tile_feats = extractor(t.crop(picture).contiguous(), LAYERS)
            shared = float(TileStyleLoss(targets, weights, whole, tile_feats)(tile_feats))
            plain = float(StyleLoss(targets, weights, kind="swd")(tile_feats))
            assert shared < 0.1 * plain, (t, shared, plain)  # measured: 0.03 to 0.05 of it
