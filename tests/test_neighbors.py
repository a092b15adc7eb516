"""Neural Neighbor Style Transfer's parts (painterly.neighbors): the search, the pyramid, the targets."""

import pytest
import torch

from conftest import DATA
from painterly import neighbors as nb
from painterly import pyramid as pyr
from painterly.turns import turned_crop, turned_hw


def _brute_force(queries: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """The centred cosine distance written out, one pair at a time."""
    q = queries - queries.mean(0)
    r = refs - refs.mean(0)
    dist = torch.empty(len(q), len(r))
    for i in range(len(q)):
        for j in range(len(r)):
            dist[i, j] = 1 - torch.dot(q[i], r[j]) / (q[i].norm() * r[j].norm())
    return dist.argmin(1)


@pytest.mark.parametrize("block", [1, 7, 2**24])
def test_nearest_matches_brute_force(block):
    g = torch.Generator().manual_seed(0)
    queries, refs = torch.randn(37, 11, generator=g), torch.randn(53, 11, generator=g) + 0.5
    assert torch.equal(nb.nearest(queries, refs, block=block), _brute_force(queries, refs))


def test_nearest_ignores_a_shared_offset_and_scale():
    """Centring each set on its own mean: a photo brighter overall still finds the same neighbours."""
    g = torch.Generator().manual_seed(1)
    queries, refs = torch.randn(20, 8, generator=g), torch.randn(30, 8, generator=g)
    assert torch.equal(nb.nearest(queries * 3 + 5, refs), nb.nearest(queries, refs))


def test_replacing_features_picks_rows_of_the_bank():
    g = torch.Generator().manual_seed(2)
    columns, colours = torch.randn(40, 16, generator=g), torch.rand(40, 3, generator=g)
    bank = nb.StyleBank.of_rows(columns, colours)
    order = torch.randperm(40, generator=g)
    queries = columns[order] * 2.0 + 0.01 * torch.randn(40, 16, generator=g)  # the same set, scaled and shuffled
    assert torch.equal(bank.replace(queries @ bank.axes, colours[order]), columns[order].half().float())  # the bank keeps float16


def test_among_features_alike_the_search_takes_the_row_of_the_querys_colour(monkeypatch):
    """A painting's smooth orange sky and smooth grey boardwalk have nearly the same features: a smooth query
    takes the marks of the region of its colour; by features alone (COLOUR_SHARE 0), the nearer one's."""
    g = torch.Generator().manual_seed(6)
    smooth, other = torch.randn(16, generator=g), torch.randn(38, 16, generator=g)
    sky, boardwalk = smooth + 0.2 * torch.randn(16, generator=g), smooth + 0.01 * torch.randn(16, generator=g)
    columns = torch.cat([sky[None], boardwalk[None], other])
    colours = torch.cat([torch.tensor([[0.9, 0.5, 0.2], [0.5, 0.5, 0.5]]), torch.rand(38, 3, generator=g)])
    queries, orange = torch.cat([smooth[None], other]), torch.cat([colours[:1], colours[2:]])
    bank = nb.StyleBank.of_rows(columns, colours)
    assert torch.equal(bank.replace(queries @ bank.axes, orange)[0], sky.half().float())
    monkeypatch.setattr(nb, "COLOUR_SHARE", 0.0)
    bank = nb.StyleBank.of_rows(columns, colours)
    assert torch.equal(bank.replace(queries @ bank.axes, orange)[0], boardwalk.half().float())


@pytest.mark.parametrize("hw", [(64, 64), (37, 50), (9, 200)])
def test_pyramid_round_trip(hw):
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(3))
    levels = pyr.pyramid(x, pyr.pyramid_levels(hw))
    assert len(levels) == pyr.pyramid_levels(hw) + 1
    assert torch.allclose(pyr.collapse(levels), x, atol=1e-6)
    coords = pyr.LaplacianCoordinates(hw)
    params = coords.encode(x)
    assert params.dim() == 1 and torch.allclose(coords.decode(params), x, atol=1e-6)


def test_pyramid_levels_stop_at_a_few_pixels():
    assert pyr.pyramid_levels((384, 512)) == 5  # 384 -> 12 px
    assert pyr.pyramid_levels((8, 8)) == 0


def test_coarse_coefficients_move_whole_regions():
    """A step on one coefficient of the coarsest level changes a whole region; one on the finest level, one pixel."""
    coords = pyr.LaplacianCoordinates((32, 32))
    base = coords.encode(torch.zeros(1, 3, 32, 32))
    coarse, fine = base.clone(), base.clone()
    coarse[-1] = 1.0
    fine[0] = 1.0
    assert (coords.decode(coarse) != 0).sum() >= 4 * 4  # a pixel of the 8x8 residual spans 4x4 pixels and more
    assert (coords.decode(fine) != 0).sum() == 1
    assert float(coords.decode(fine).sum()) == pytest.approx(pyr.LEVEL_STEPS[0])  # the finest level moves least


def test_principal_axes_are_orthonormal_and_deterministic():
    x = torch.randn(500, 64, generator=torch.Generator().manual_seed(4))
    a, b = nb.principal_axes(x, 16), nb.principal_axes(x, 16)
    assert a.shape == (64, 16) and torch.allclose(a.T @ a, torch.eye(16), atol=1e-4)
    assert torch.equal(a, b)


@pytest.mark.slow
def test_objective_falls_and_targets_come_from_the_painting(extractor):
    from painterly.images import load_image, resize

    content = resize(load_image(DATA / "content.png").rgb, (48, 64))
    style = resize(load_image(DATA / "style.png").rgb, (48, 64))
    bank = nb.StyleBank.of(extractor, [style], [1.0])
    assert bank.columns.shape[1] == sum(f.shape[1] for f in extractor(style, nb.HYPERCOLUMN_LAYERS).values())
    objective = nb.NeighborObjective(extractor, content, bank)
    x = content.clone().requires_grad_(True)
    first, _ = objective(x)
    first.backward()
    with torch.no_grad():
        x -= 0.05 * x.grad / x.grad.abs().max()
    assert float(objective(x)[0].detach()) < float(first.detach())
    assert objective.targets is not None and objective.targets.shape[-2:] == nb.column_size((48, 64))


def test_cosine_a_layer_at_a_time_is_the_cosine_of_the_stacked_hypercolumns():
    g = torch.Generator().manual_seed(5)
    feats = {k: torch.randn(1, nb.vgg.channels(k), 16 >> (nb.vgg.block(k) - 1), 12 >> (nb.vgg.block(k) - 1),
                            generator=g) for k in nb.HYPERCOLUMN_LAYERS}
    cols = nb.hypercolumns(feats, (4, 3))
    targets = torch.nn.functional.normalize(torch.randn(cols.shape, generator=g), dim=1)
    expected = (torch.nn.functional.normalize(cols, dim=1) * targets).sum(1)
    assert torch.allclose(nb.cosine_to(feats, targets), expected, atol=1e-5)


@pytest.mark.slow
def test_the_colour_correction_gives_the_paintings_colour_statistics():
    from painterly import color
    from painterly.config import StyleConfig
    from painterly.pipeline import Painter

    g = torch.Generator().manual_seed(6)
    output = (0.3 + 0.4 * torch.rand(1, 3, 40, 50, generator=g)).clamp(0, 1)  # a dull, greyish picture
    painting = torch.stack([0.2 + 0.5 * torch.rand(30, 30, generator=g), 0.3 * torch.rand(30, 30, generator=g),
                            0.6 + 0.3 * torch.rand(30, 30, generator=g)])[None]  # blue-violet
    corrected = Painter(StyleConfig(size=64)).finish_colours(output, [painting])
    mean, cov = color.color_stats(corrected)
    want_mean, want_cov = color.color_stats(painting)
    assert torch.allclose(mean, want_mean, atol=0.01) and torch.allclose(cov, want_cov, atol=0.003)
    kept = Painter(StyleConfig(size=64, preserve_colors="luminance")).finish_colours(output, [painting])
    assert torch.equal(kept, output)  # the photo's colours asked for: no correction


@pytest.mark.slow
def test_the_paintings_columns_read_in_blocks_are_the_whole_paintings(extractor, monkeypatch):
    """A painting read in 32 px blocks (a margin of 64 px around each) gives the hypercolumns of the whole painting
    read at once, cropped to multiples of 32 px, and keeps only the rows asked for: what bounds the bank's memory
    changes no target."""
    from painterly.images import load_image, resize

    painting = resize(load_image(DATA / "style.png").rgb, (100, 75))
    crop = painting[..., :96, :64]
    with torch.no_grad():
        whole = nb.hypercolumns(extractor(crop, nb.HYPERCOLUMN_LAYERS), nb.column_size((96, 64)))[0].flatten(1).T
    monkeypatch.setattr(nb, "BLOCK_PIXELS", 32 * 32)
    monkeypatch.setattr(nb, "WHOLE_PIXELS", 0)
    assert nb.blocks(96, 64) == [(t, t + 32, left, left + 32) for t in (0, 32, 64) for left in (0, 32)]
    blocked = nb.painting_columns(extractor, painting).float()
    assert blocked.shape == whole.shape
    assert float(torch.nn.functional.cosine_similarity(blocked, whole, dim=1).min()) > 0.999
    some = nb.painting_columns(extractor, painting, 100).float()  # evenly spaced, only these kept
    assert torch.allclose(some, blocked[torch.linspace(0, len(blocked) - 1, 100).long()])


@pytest.mark.parametrize("turn", range(4))
def test_a_turned_crop_is_that_crop_of_the_turned_image(turn):
    image = torch.arange(2 * 5 * 7.0).reshape(1, 2, 5, 7)
    whole = torch.rot90(image, turn, dims=(-2, -1))
    h, w = whole.shape[-2:]
    assert turned_hw(image.shape[-2:], turn) == (h, w)
    for top, bottom, left, right in [(0, h, 0, w), (1, 3, 2, w), (0, 1, 0, 1), (h - 2, h, w - 3, w - 1)]:
        assert torch.equal(turned_crop(image, turn, top, bottom, left, right), whole[..., top:bottom, left:right])


@pytest.mark.parametrize("in_blocks", [False, True])
def test_the_painting_turned_a_block_at_a_time_gives_the_turned_paintings_rows(extractor, monkeypatch, in_blocks):
    """The bank's four orientations, read without turning the whole painting: the rows and their colours are
    those of torch.rot90(painting), read whole and in blocks."""
    from painterly.images import load_image, resize

    painting = resize(load_image(DATA / "style.png").rgb, (100, 75))
    if in_blocks:
        monkeypatch.setattr(nb, "BLOCK_PIXELS", 32 * 32)
        monkeypatch.setattr(nb, "WHOLE_PIXELS", 0)
    for turn in range(4):
        turned = torch.rot90(painting, turn, dims=(-2, -1))
        rows, expected = nb.painting_columns(extractor, painting, 60, turn), nb.painting_columns(extractor, turned, 60)
        assert rows.shape == expected.shape and float((rows.float() - expected.float()).abs().max()) < 1e-3
        assert torch.allclose(nb.painting_colours(painting, 60, turn), nb.painting_colours(turned, 60), atol=1e-6)


def test_the_memory_plan_counts_a_block_with_its_margins():
    """A large painting is read in blocks of 256 px, each seen with BLOCK_MARGIN px around it, whatever its width."""
    assert nb.block_pixels(512, 512) == 512 * 512  # read whole
    assert nb.blocks(3840, 3840)[0] == (0, 256, 0, 256)
    assert nb.block_pixels(3840, 3840) == nb.block_pixels(7680, 7680) == (256 + 2 * nb.BLOCK_MARGIN) ** 2
