"""Tiled scales (painterly.tiles, the engine's tiled runs and their memory plans)."""

import math
import re

import pytest
import torch

from painterly import tiles
from painterly.config import StyleConfig
from painterly.errors import ConfigError
from painterly.neighbors import search_image
from painterly.scales import memory_plans, plan_scales, scale_schedule


@pytest.mark.parametrize("hw, tile", [((128, 128), 96), ((160, 111), 96), ((1000, 1501), 256), ((777, 300), 512),
                                      ((96, 97), 96), ((4001, 2999), 1000)])
def test_the_grid_covers_every_pixel_and_the_feathers_sum_to_one(hw, tile):
    blend = tiles.Blend(torch.zeros(1, 3, *hw), tile)
    cover = torch.zeros(hw)
    total = torch.zeros(hw, dtype=torch.float64)
    for t in blend.tiles:
        assert t.top % tiles.ALIGN == 0 and t.left % tiles.ALIGN == 0
        assert t.height <= max(tile, hw[0]) + tiles.ALIGN and t.width <= max(tile, hw[1]) + tiles.ALIGN
        w = blend.weights(t)[0, 0]
        assert w.shape == t.hw and w.min() > 0
        t.crop(cover).add_(1)
        t.crop(total).add_(w.double())
    assert cover.min() >= 1
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)


@pytest.mark.parametrize("length, tile", [(128, 96), (1000, 256), (5000, 1024), (4001, 1000)])
def test_neighbouring_tiles_overlap_by_an_eighth_and_at_least_64_px(length, tile):
    parts = tiles.spans(length, tile)
    assert parts[0][0] == 0 and parts[-1][1] == length
    for (s0, e0), (s1, _) in zip(parts, parts[1:]):
        assert s0 < s1 and e0 - s1 >= tiles.overlap(tile) - tiles.ALIGN + 1
    assert tiles.overlap(96) == 64 and tiles.overlap(1024) == 128


def test_feathers_are_smooth_across_the_overlap():
    blend = tiles.Blend(torch.zeros(1, 1, 8, 1000), 256)
    row = torch.zeros(1000)
    for t in blend.tiles:
        if t.left == 0:
            row[:t.width] = blend.weights(t)[0, 0, 0]
    steps = row[1:].sub(row[:-1]).abs()
    assert steps.max() < 2 * math.pi / tiles.overlap(256)  # no jump: the raised cosine's slope at most


def test_a_blend_of_copies_is_the_picture_and_an_empty_blend_is_the_start():
    picture, start = torch.rand(1, 3, 150, 230), torch.rand(1, 3, 150, 230)
    blend = tiles.Blend(start, 96)
    assert torch.equal(blend.image(), start)
    for t in blend.tiles:
        blend.add(t, t.crop(picture))
    assert torch.allclose(blend.image(), picture, atol=1e-5)


def test_a_margin_holds_the_tile_on_its_grid():
    hw = (300, 500)
    for t in tiles.grid(hw, 128):
        outer, inner = tiles.margin(t, hw, 64)
        assert 0 <= outer.top and outer.top + outer.height <= hw[0] and outer.left + outer.width <= hw[1]
        assert inner.top % tiles.ALIGN == 0 and inner.left % tiles.ALIGN == 0
        image = torch.rand(1, 3, *hw)
        assert torch.equal(inner.crop(outer.crop(image)), t.crop(image))


def test_the_search_image_of_a_crop_is_the_crop_of_the_whole_ones():
    """What lets a tile search the whole picture's search image without making it: away from the crop's
    edge (the margin) the two agree."""
    content, start = torch.rand(1, 3, 200, 240), torch.rand(1, 3, 200, 240)
    whole = search_image(content, start)
    t = tiles.Tile(64, 96, 96, 96)
    outer, inner = tiles.margin(t, (200, 240), 64)
    crop = search_image(outer.crop(content), outer.crop(start))
    assert torch.allclose(inner.crop(crop), t.crop(whole), atol=1e-5)


# Memory plans ----------------------------------------------------------------------------------
def test_a_small_budget_paints_a_large_size_in_tiles_that_fit():
    cfg = StyleConfig(size=2400, max_memory=2.0)  # 2 GB holds nnst's whole-picture buffers up to about 2670 px
    plans = memory_plans([((1600, 2400), 10)], cfg, tileable=True)
    assert plans is not None
    p = plans[(1600, 2400)]
    assert p.tile is not None and tiles.MIN_TILE <= p.tile < 2400 and p.tile % tiles.ALIGN == 0
    assert p.estimate_bytes <= p.budget_bytes == 2 * 2**30
    # the largest that fits: a tile a quarter larger does not
    bigger = cfg.replace(tile_size=int(p.tile * 1.25))
    with pytest.raises(ConfigError, match=r"^--tile-size \d+: .* use --tile-size \d+ or less"):
        memory_plans([((1600, 2400), 10)], bigger, tileable=True)


def named_size(refusal: pytest.ExceptionInfo[ConfigError]) -> int:
    """The ``--size`` a refusal tells the user to use."""
    found = re.search(r"use --size (\d+)", str(refusal.value))
    assert found, refusal.value
    return int(found.group(1))


def test_a_size_past_what_the_budget_holds_in_tiles_is_refused_with_a_size_that_fits():
    """What stays in memory of a print-size run grows with the photo as loaded (here at the output's size, the
    default; the rest of the whole picture is kept in mapped files, painterly.spill): the refusal names the largest
    size whose run fits at every scale, and that run is planned."""
    cfg = StyleConfig(size=30000, max_memory=2.0)
    with pytest.raises(ConfigError, match=r"^--size 30000: .* even in tiles .* use --size \d+ or less") as refused:
        memory_plans([((20000, 30000), 1)], cfg, tileable=True)
    fits = named_size(refused)

    def run(long: int) -> dict:
        hw = (round(long * 2 / 3), long)
        plans = memory_plans(scale_schedule(hw, cfg.replace(size=long)), cfg.replace(size=long), tileable=True)
        assert plans is not None
        return plans

    plans = run(fits)
    assert max(p.estimate_bytes for p in plans.values()) <= 2 * 2**30 and plans[max(plans)].tile is not None
    with pytest.raises(ConfigError):
        run(int(fits * 1.05))


def test_a_coarser_scale_that_cannot_fit_names_the_size_of_a_run_that_can():
    """At 1.8 GB a 2928 px picture's full size fits in tiles (its whole picture kept in mapped files: painterly.spill),
    but its 1464 px scale, held in memory, does not: the refusal names the run's --size, that scale, and a --size
    whose every scale fits."""
    cfg = StyleConfig(size=2928, max_memory=1.8)
    with pytest.raises(ConfigError, match=r"^--size 2928: its 1464x976 px scale .* use --size \d+ or less") as refused:
        memory_plans(scale_schedule((1952, 2928), cfg), cfg, tileable=True)
    fits = named_size(refused)
    assert fits < 2928
    hw = (round(fits * 2 / 3), fits)
    assert memory_plans(scale_schedule(hw, cfg.replace(size=fits)), cfg.replace(size=fits), tileable=True)


def test_whole_scales_and_other_callers_still_refuse_what_cannot_fit():
    cfg = StyleConfig(size=3000, max_memory=2.0)
    with pytest.raises(ConfigError, match=r"^--size 3000: .* use --size \d+ or less"):
        memory_plans([((2000, 3000), 10)], cfg)  # a caller that cannot paint tiles
    with pytest.raises(ConfigError, match=r"^--size 3000: .* use --size \d+ or less"):
        memory_plans([((2000, 3000), 10)], cfg.replace(method="gatys", style_loss="gram"), tileable=True)
    gatys = memory_plans([((666, 1000), 10)], cfg.replace(method="gatys"), tileable=True)  # swd: its tiles' shares
    assert gatys is not None and gatys[(666, 1000)].tile is not None
    with pytest.raises(ConfigError, match=r"^--size 20000: needs about ([\d.]+) GB even in tiles .* 2.0 GB .*"
                       r"use --size \d+ or less") as refused:
        memory_plans([((13333, 20000), 10)], cfg.replace(size=20000), tileable=True)  # the photo as loaded
    assert float(refused.value.args[0].split("about ")[1].split(" GB")[0]) > 2


def test_coarse_scales_stay_whole_and_the_tile_size_is_the_users():
    cfg = StyleConfig(size=1024, tile_size=512, seed=1)
    scales = plan_scales([((96, 128), 40), ((384, 512), 20), ((768, 1024), 10)], cfg, torch.device("cpu"),
                         tileable=True)
    assert [s.tile for s in scales] == [None, None, 512]
    assert scales[2].work == 10 * len(scales[2].tiles) == 10 * 3 * 2  # 1024: 3 tiles (64 px overlap), 768: 2


def test_tiles_need_nnst_or_swd_and_a_caller_that_paints_them():
    with pytest.raises(ConfigError, match="^--tile-size: painting in tiles with --method gatys needs --style-loss swd"):
        StyleConfig(tile_size=512, method="gatys", style_loss="meancov")
    with pytest.raises(ConfigError, match="^--tile-size must be a whole number of at least 96"):
        StyleConfig(tile_size=64)
    with pytest.raises(ConfigError, match="^--tile-size: this command paints each scale whole"):
        plan_scales([((384, 512), 20)], StyleConfig(tile_size=256), torch.device("cpu"))


def test_a_video_or_masks_refuse_tiles_before_any_work():
    from painterly.images import load_image
    from painterly.plan import prepare

    photo, style = load_image(torch.rand(1, 3, 60, 80)), load_image(torch.rand(1, 3, 40, 40))
    cfg = StyleConfig(size=256, tile_size=128, seed=1)
    assert prepare(photo, [style], cfg, device=torch.device("cpu")).scales[-1].tile == 128
    with pytest.raises(ConfigError, match="^--tile-size: this command paints each scale whole"):
        prepare(photo, [style], cfg, device=torch.device("cpu"), tileable=False)  # a video's frames
    with pytest.raises(ConfigError, match="^--tile-size: masks paint each scale whole"):
        prepare(photo, [style], cfg.replace(method="gatys"), device=torch.device("cpu"), masks=[torch.ones(1, 1, 60, 80)])


def test_the_progress_line_counts_tiles():
    from painterly.cli.progress import ProgressBar
    from painterly.events import Step

    with ProgressBar(enabled=False) as bar:
        bar.update(Step(3, 10, 2, 3, (265, 384), 4.2, {"style": 4.0}, 53, 100, 9.0, None, 2, 4))
        task = bar.progress.tasks[0]
        assert "scale 3/3 384x265 tile 2/4" in task.fields["info"] and (task.completed, task.total) == (53, 100)
        bar.update(Step(10, 10, 2, 3, (265, 384), 4.2, {}, 100, 100, 20.0, None, 4, 4))
        assert bar.progress.tasks[0].fields["info"].endswith("loss 4.2")
