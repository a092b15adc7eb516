"""What a tiled scale keeps of the whole picture, counted by the memory plan: an inventory of the tensors alive
while a tile is painted (real network, a real run), against :func:`painterly.tiles.whole_bytes`.

The photo is loaded larger than the output (868x600 for 256 px) and the two largest scales are tiled, so that
the three sizes the plan must count differ: the scale's, the output's and the photo's as loaded.
"""

import gc

import pytest
import torch

from conftest import DATA, EXAMPLES
from painterly import engine, tiles
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.pipeline import Painter


def whole_values(hw: tuple[int, int]) -> dict[tuple[int, ...], int]:
    """The picture-shaped tensors alive now (batch 1, 1 or 3 channels) at least as large as ``hw``: values by shape,
    each storage counted once."""
    seen: dict[int, tuple[tuple[int, ...], int]] = {}
    for o in gc.get_objects():
        if type(o) is torch.Tensor and o.dim() == 4 and o.shape[0] == 1 and o.shape[1] in (1, 3) \
                and o.shape[-2] * o.shape[-1] >= hw[0] * hw[1]:
            seen[o.untyped_storage().data_ptr()] = (tuple(o.shape), o.untyped_storage().nbytes() // o.element_size())
    out: dict[tuple[int, ...], int] = {}
    for shape, n in seen.values():
        out[shape] = out.get(shape, 0) + n
    return out


@pytest.mark.slow
def test_the_plan_counts_what_a_tiled_scale_keeps_of_the_whole_picture(monkeypatch: pytest.MonkeyPatch):
    photo, style = load_image(EXAMPLES / "building.jpg", what="content"), load_image(DATA / "style.png", what="style")
    cfg = StyleConfig(size=256, iterations=1, seed=1, threads=1, tile_size=96)
    painter = Painter(cfg)
    plan = painter.prepare(photo, [style])
    tiled = [s.hw for s in plan.scales if s.tile]
    assert len(tiled) == 2 and tiled[-1] == plan.out_hw  # a coarser scale tiled too
    alive: dict[tuple[int, int], dict[tuple[int, ...], int]] = {}
    real = engine.Engine.paint_tile

    def counted(self, net, scale, window, report=None):  # type: ignore[no-untyped-def]
        if window.tile == window.blend.tiles[-1]:  # as the scale's last tile starts: its photo and blend made
            alive[scale.hw] = whole_values(scale.hw)
        return real(self, net, scale, window, report)

    monkeypatch.setattr(engine.Engine, "paint_tile", counted)
    painter.run(plan)
    source = tuple(photo.rgb.shape[-2:])
    for hw in tiled:
        kept = sum(alive[hw].values())
        assert source in {s[-2:] for s in alive[hw]} and plan.out_hw in {s[-2:] for s in alive[hw]}, alive[hw]
        assert 4 * kept <= tiles.whole_bytes(hw, plan.out_hw, source), (hw, alive[hw])
    # the count by the scale's pixels alone (20 values a pixel) falls short of the coarser scale's
    assert 4 * sum(alive[tiled[0]].values()) > 4 * tiles.WHOLE_VALUES_PER_PIXEL * tiled[0][0] * tiled[0][1]
