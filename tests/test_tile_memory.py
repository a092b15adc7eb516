"""What a tiled scale keeps of the whole picture, counted by the memory plan: an inventory of the tensors alive
while a tile is painted (real network, a real run), against :func:`painterly.tiles.whole_bytes`; and at print size,
where the whole picture is kept in mapped files instead (painterly.spill), none of it in memory.

The photo is loaded larger than the output (868x600 for 256 px) and the two largest scales are tiled, so that
the three sizes the plan must count differ: the scale's, the output's and the photo's as loaded.
"""

import gc

import pytest
import torch

from conftest import DATA, EXAMPLES
from painterly import engine, spill, tiles
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.pipeline import Painter


def whole_values(hw: tuple[int, int], in_memory: bool = False) -> dict[tuple[int, ...], int]:
    """The picture-shaped tensors alive now (batch 1, 1 or 3 channels) at least as large as ``hw``: values by shape,
    each storage counted once; ``in_memory``: only those not kept in mapped files (painterly.spill)."""
    seen: dict[int, tuple[tuple[int, ...], int]] = {}
    for o in gc.get_objects():
        if type(o) is torch.Tensor and o.dim() == 4 and o.shape[0] == 1 and o.shape[1] in (1, 3) \
                and o.shape[-2] * o.shape[-1] >= hw[0] * hw[1] and not (in_memory and spill.mapped(o)):
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
    # the count by the scale's pixels alone (WHOLE_VALUES_PER_PIXEL a pixel) falls short of the coarser scale's
    assert 4 * sum(alive[tiled[0]].values()) > 4 * tiles.WHOLE_VALUES_PER_PIXEL * tiled[0][0] * tiled[0][1]


@pytest.mark.slow
def test_a_spilled_scale_keeps_none_of_the_whole_picture_in_memory(monkeypatch: pytest.MonkeyPatch):
    """With pictures of more than 2**15 px kept in mapped files (painterly.spill; 2**21 in a real run), the 256 px
    scale's whole-picture buffers (start, blend, photo, result) are all in files: no picture of its size is alive in
    memory as its last tile starts, and what is (the 128 px scale's, the photo as loaded) is within the plan's count."""
    monkeypatch.setattr(spill, "SPILL_PIXELS", 2**15)
    photo, style = load_image(EXAMPLES / "building.jpg", what="content"), load_image(DATA / "style.png", what="style")
    painter = Painter(StyleConfig(size=256, iterations=1, seed=1, threads=1, tile_size=96))
    plan = painter.prepare(photo, [style])
    assert spill.large(plan.out_hw) and not spill.large(plan.scales[-2].hw)
    alive: dict[tuple[int, int], dict[tuple[int, ...], int]] = {}
    real = engine.Engine.paint_tile

    def counted(self, net, scale, window, report=None):  # type: ignore[no-untyped-def]
        if scale.hw == plan.out_hw and window.tile == window.blend.tiles[-1]:
            alive[scale.hw] = whole_values(scale.hw, in_memory=True)
            alive[(0, 0)] = whole_values(scale.hw)
        return real(self, net, scale, window, report)

    monkeypatch.setattr(engine.Engine, "paint_tile", counted)
    result = painter.run(plan)
    assert spill.mapped(result.image)
    in_files = {s[-2:] for s in alive[(0, 0)]}
    assert plan.out_hw in in_files  # the scale's buffers exist ...
    assert plan.out_hw not in {s[-2:] for s in alive[plan.out_hw]}  # ... and none of them in memory
    source = tuple(photo.rgb.shape[-2:])
    assert 4 * sum(alive[plan.out_hw].values()) <= tiles.whole_bytes(plan.out_hw, plan.out_hw, source, spilled=True)
