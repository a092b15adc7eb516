"""painterly eval: the quality measures on known cases (painterly.quality, painterly.evaluate)."""

import json

import pytest
import torch

from painterly.cli import main
from painterly.images import load_image, resize
from painterly.quality import Evaluator, color_distance, layout_similarity, rgb_to_lab


@pytest.fixture(scope="module")
def pair(extractor):
    from pathlib import Path

    data = Path(__file__).parent / "data"
    content, style = load_image(data / "content.png").rgb, load_image(data / "style.png").rgb
    return content, style, Evaluator(content, style, size=96, extractor=extractor)


def test_lab_of_known_colours():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 3, 1)
    lab = rgb_to_lab(rgb)[0, :, :, 0].T
    assert lab[0].tolist() == pytest.approx([100, 0, 0], abs=0.05)
    assert lab[1].tolist() == pytest.approx([0, 0, 0], abs=0.05)
    assert lab[2].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.05)  # sRGB red


@pytest.mark.slow
def test_a_picture_against_itself_is_zero(pair):
    content, style, ev = pair
    r = ev(style)
    assert r.gram == pytest.approx(0, abs=1e-6) and r.swd == pytest.approx(0, abs=1e-6)
    assert r.color == pytest.approx(0, abs=1e-9) and r.color_rel == pytest.approx(0, abs=1e-9)
    assert r.layout_style == pytest.approx(1)
    c = ev(content)
    assert c.content == pytest.approx(0, abs=1e-6) and c.layout == pytest.approx(1) and c.color_rel == pytest.approx(1)


@pytest.mark.slow
def test_the_photo_is_far_from_the_painting(pair):
    content, style, ev = pair
    photo, painting = ev(content), ev(style)
    assert photo.gram > 0.5 and photo.swd > 0.3 and photo.color > 10
    assert painting.content > 0.8 and painting.layout < 0.7
    assert all(v > 0.1 for v in photo.swd_layers.values())


@pytest.mark.slow
def test_measures_do_not_depend_on_the_size_painted_at(pair):
    content, style, ev = pair
    blend = resize(0.5 * content + 0.5 * resize(style, content.shape[-2:]), (140, 200))
    small, large = ev(resize(blend, (70, 100))), ev(blend)
    for m in ("gram", "swd", "color", "color_rel", "content", "layout"):
        assert getattr(small, m) == pytest.approx(getattr(large, m), rel=0.12, abs=0.02), m


def test_colour_and_layout_measures():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, 40, 60, generator=g)
    assert color_distance(a, a) == 0
    assert color_distance(a, a.flip(-1)) == pytest.approx(0, abs=1e-6)  # a distribution: positions do not count
    assert color_distance(a, (a * 0.5)) > 5
    ramp = torch.linspace(0, 1, 60).expand(1, 3, 40, 60)
    assert layout_similarity(ramp, ramp.flip(-1)) == pytest.approx(-1, abs=1e-4)
    assert layout_similarity(ramp, 0.2 + 0.5 * ramp) == pytest.approx(1, abs=1e-4)


@pytest.mark.slow
def test_cli_table_and_json(tmp_path, capsys, content_path, style_path):
    out = tmp_path / "m.jsonl"
    assert main(["eval", str(content_path), str(style_path), str(style_path), str(content_path),
                 "--size", "64", "--json", str(out)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["output", "gram", "swd"] and len(table) == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["output"] for r in rows] == [str(style_path), str(content_path)]
    assert rows[0]["swd"] < 1e-6 < rows[1]["swd"] and set(rows[0]["swd_layers"]) == {
        "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}


@pytest.mark.parametrize("args, message", [
    (["{c}", "{s}", "missing.png"], "output missing.png: no such file"),
    (["{c}", "{s}", "{s}", "--size", "4"], "--size must be at least 16"),
    (["{c}", "{s}", "{s}", "--json", "{c}"], "is the input file"),
])
def test_cli_bad_input(capsys, content_path, style_path, args, message):
    assert main(["eval", *[a.format(c=content_path, s=style_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_library_entry_point(content_path, style_path):
    import painterly

    (r,) = painterly.evaluate(content_path, style_path, [style_path], size=48)
    assert isinstance(r, painterly.Report) and r.swd == pytest.approx(0, abs=1e-6)


def _shuffled_tiles(x: torch.Tensor, tile: int, seed: int = 0) -> torch.Tensor:
    """``x`` cut into ``tile`` px squares put back in random order: its texture, none of its objects."""
    h, w = (x.shape[-2] // tile) * tile, (x.shape[-1] // tile) * tile
    tiles = x[..., :h, :w].unfold(2, tile, tile).unfold(3, tile, tile)
    nh, nw = tiles.shape[2:4]
    order = torch.randperm(nh * nw, generator=torch.Generator().manual_seed(seed))
    flat = tiles.reshape(1, 3, nh * nw, tile, tile)[:, :, order]
    return flat.reshape(1, 3, nh, nw, tile, tile).permute(0, 1, 2, 4, 3, 5).reshape(1, 3, h, w)


@pytest.fixture(scope="module")
def examples(extractor):
    from conftest import EXAMPLES

    photo, painting = load_image(EXAMPLES / "building.jpg").rgb, load_image(EXAMPLES / "starry_night.jpg").rgb
    ev = Evaluator(photo, painting, size=256, extractor=extractor)
    p = resize(photo, (177, 256))
    return p, resize(painting, p.shape[-2:]), ev


@pytest.mark.slow
def test_copied_fires_on_a_pasted_patch_and_not_on_the_paintings_texture(examples):
    photo, painting, ev = examples
    h, w = photo.shape[-2:]
    pasted = photo.clone()
    pasted[..., : h // 2, : w // 3] = painting[..., h // 4: h // 4 + h // 2, w // 3: 2 * (w // 3)]
    own = ev(photo).copied
    texture = ev(_shuffled_tiles(painting, 16)).copied
    assert ev(pasted).copied > 0.25 > max(own, texture) + 0.15


@pytest.mark.slow
def test_photo_detail_and_colour_survival(examples):
    photo, painting, ev = examples
    h, w = photo.shape[-2:]
    kept = ev(photo)
    assert kept.photo_detail == pytest.approx(1, abs=1e-4) and kept.photo_color == pytest.approx(1, abs=1e-4)
    graded = (photo * torch.tensor([0.6, 0.9, 1.2]).view(1, 3, 1, 1) + 0.05).clamp(0, 1)  # a colour grade
    assert ev(graded).photo_color > 0.95 and ev(graded).photo_detail > 0.9
    repainted = ev(_shuffled_tiles(painting, 16))  # nothing of the photo's detail or colours
    assert abs(repainted.photo_detail) < 0.1 and repainted.photo_color < 0.1
    blurred = ev(resize(resize(photo, (h // 8, w // 8)), (h, w)))  # the detail gone, the colours kept
    assert blurred.photo_detail < 0.6 and blurred.photo_color > 0.9
