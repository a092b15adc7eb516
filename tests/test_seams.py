"""The seam measure (painterly.seams): about 1 without a seam, well above 1.1 with one, and a small picture
painted in tiles scores within 1.1."""

import pytest
import torch

from conftest import EXAMPLES
from painterly import seams, tiles
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.pipeline import Painter


def grain(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(1, 3, h, w): grey with uniform grain, the same everywhere (no seam, no content)."""
    return 0.4 + 0.2 * torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_boundaries_are_where_the_blend_hands_over():
    """128 px in tiles of 96: spans 0-96 and 32-128, handing over at 64 on each axis, where the feathers
    cross; a coarser scale's boundaries scale to the picture; the inside strips keep away from them."""
    assert seams.boundaries((128, 128), 96) == ([64], [64])
    blend = tiles.Blend(torch.zeros(1, 3, 128, 128), 96)
    assert blend.owned(blend.tiles[0]).height == 64 and blend.owned(blend.tiles[-1]).top == 64
    assert abs(blend.rows[0][64].item() - 0.5) < 0.03  # the feathers cross at the boundary
    assert seams.boundaries((128, 128), 96, image_hw=(256, 384)) == ([128], [192])
    assert seams.inside_strips([64], 128) == [20, 28, 36, 44, 84, 92, 100, 108]


def test_a_picture_without_seams_scores_about_one():
    m = seams.measure(grain(192, 256), 96)
    assert m.boundaries == 3 + 5 and m.inside > 3 * m.boundaries
    assert 0.93 < m.energy < 1.07 and 0.93 < m.color < 1.07


def test_a_step_where_tiles_meet_is_a_seam():
    """Tiles of the same grain whose colours differ by 0.1, cut hard at the boundaries (no feather): the
    measure sees it in both statistics, far above 1.1."""
    image = grain(192, 256)
    rows, cols = seams.boundaries((192, 256), 96)
    bands = torch.bucketize(torch.arange(192), torch.tensor(rows))[:, None] + \
        torch.bucketize(torch.arange(256), torch.tensor(cols))[None, :]
    m = seams.measure(image + 0.1 * (bands % 2), 96)
    assert m.energy > 1.2 and m.color > 3
    assert all(e > 1.2 and c > 3 for e, c in m.by_axis.values())


def test_the_photos_own_edge_on_a_boundary_is_left_out_where_the_photo_is_flat():
    """A photo with a dark line along each boundary (a floor slab where tiles meet), painted as the photo plus
    grain with no seam: the strips alone score it as a seam; over the cells where the photo is flat, about 1.
    The same painting with a step between tiles along the boundaries' other half still scores as a seam."""
    rows, cols = seams.boundaries((192, 256), 96)
    photo = torch.full((1, 3, 192, 256), 0.5)
    photo[..., rows[0] - 1:rows[0] + 1, :] = 0.1
    photo[..., :, cols[1] - 1:cols[1] + 1] = 0.1
    painting = photo + grain(192, 256) - 0.5
    raw = seams.measure(painting, 96, content=photo)
    assert raw.energy > 1.5 and raw.flat is not None
    assert 0.93 < raw.flat[0] < 1.07 and 0.93 < raw.flat[1] < 1.07
    stepped = painting.clone()
    stepped[..., :96, cols[0]:] += 0.1  # the upper tiles' right part lighter: a step at cols[0], above the slab
    assert seams.measure(stepped, 96, content=photo).flat[1] > 1.5


def test_a_coarser_scales_boundaries_and_bad_arguments():
    image = grain(256, 256)
    image[..., 128:] += 0.1
    assert seams.measure(image, 96, hw=(128, 128)).by_axis["cols"][1] > 3  # the 128 px scale's boundary, at 128
    with pytest.raises(ValueError, match="single tile"):
        seams.measure(image, 256)
    with pytest.raises(ValueError, match="even"):
        seams.measure(image, 96, width=7)
    with pytest.raises(ValueError, match="the picture's size"):
        seams.measure(image, 96, content=image[..., :128])


@pytest.mark.slow
def test_a_picture_painted_in_tiles_shows_no_seam():
    """building.jpg at 192 px (192x133) in tiles of 96 px: the last scale is 3x4 tiles, with 5 boundaries.
    Measured 0.96 (energy) and 0.97 (colour); painted whole, 0.99 and 0.98."""
    photo, style = load_image(EXAMPLES / "building.jpg", what="content"), load_image(EXAMPLES / "starry_night.jpg")
    painter = Painter(StyleConfig(size=192, iterations=3, seed=3, threads=1, tile_size=96))
    plan = painter.prepare(photo, [style])
    assert plan.scales[-1].tile == 96 and len(plan.scales[-1].tiles) == 12
    m = seams.measure(painter.run(plan).image, 96)
    assert m.boundaries == 5
    assert m.energy <= 1.1 and m.color <= 1.1, m
