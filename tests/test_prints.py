"""Print sizes (painterly.prints) and the DPI written into the files (painterly.images.save_image)."""

import pytest
import torch
from PIL import Image

from painterly.errors import ConfigError
from painterly.images import save_image
from painterly.prints import PrintSize, check_dpi


def test_inches_at_300_dpi_fill_a_print_of_the_photos_shape():
    p = PrintSize.parse("24x36in")
    assert p.box(300) == (10800, 7200)
    assert p.long_edge((2000, 3000), 300) == 10800  # 3:2 landscape: 10800x7200 exactly
    assert p.long_edge((3000, 2000), 300) == 10800  # portrait: the print turns with the photo
    assert PrintSize.parse("36x24in") == PrintSize(36.0, 24.0)
    assert PrintSize.parse("36x24in").long_edge((2000, 3000), 300) == 10800  # either order, same print


def test_a_squarer_photo_is_limited_by_the_short_side():
    p = PrintSize.parse("24x36in")
    assert p.long_edge((3000, 4000), 300) == 9600  # 4:3 -> 9600x7200, inside 10800x7200
    assert p.long_edge((1000, 1000), 300) == 7200  # square -> 7200x7200
    # rounding down keeps the short side inside the box: 7200 * 1.5003 = 10802.2 -> long 10800
    assert p.long_edge((1999, 2999), 300) == 10800


def test_centimetres_and_millimetres_round_to_the_nearest_pixel():
    assert PrintSize.parse("30x40cm").box(300) == (round(40 / 2.54 * 300), round(30 / 2.54 * 300)) == (4724, 3543)
    assert PrintSize.parse("210x297mm").box(300) == (3508, 2480)  # A4 at 300 dpi, as printers list it
    assert PrintSize.parse("8.5 x 11 IN").box(100) == (1100, 850)
    assert PrintSize.parse("30x40cm").long_edge((3000, 4000), 254) == 4000  # 40 cm at 254 dpi = 4000 px


@pytest.mark.parametrize("text", ["24x36", "24in", "x36in", "24x36ft", "0x36in", "-4x6in", "24x36inches", ""])
def test_bad_print_sizes_name_the_option(text):
    with pytest.raises(ConfigError, match=r"^--print"):
        PrintSize.parse(text)


def test_sizes_past_the_largest_or_below_the_smallest_name_print_and_dpi():
    with pytest.raises(ConfigError, match=r"--print .* --dpi .*past the largest size .* lower --dpi to 273 or less"):
        PrintSize.parse("120x80in").long_edge((2000, 3000), 300)
    with pytest.raises(ConfigError, match="under 16 px"):
        PrintSize.parse("1x1cm").long_edge((100, 100), 10)
    for bad in (0, -3, float("nan"), 20000):
        with pytest.raises(ConfigError, match="^--dpi"):
            check_dpi(bad)


@pytest.mark.parametrize("name, bits", [("o.png", 8), ("o.png", 16), ("o.tif", 8), ("o.tif", 16), ("o.jpg", 8)])
def test_dpi_is_written_into_the_file(tmp_path, name, bits):
    out = save_image(torch.rand(1, 3, 12, 20), tmp_path / name, bit_depth=bits, dpi=300)
    with Image.open(out) as im:
        assert im.info["dpi"] == pytest.approx((300, 300), abs=0.01)  # PNG keeps whole pixels per metre
        assert im.size == (20, 12)


def test_no_dpi_unless_asked(tmp_path):
    with Image.open(save_image(torch.rand(1, 3, 8, 8), tmp_path / "o.png")) as im:
        assert "dpi" not in im.info


CLI_FAST = ["--iterations", "2", "--no-multiscale", "--seed", "1", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["out.png", "out.tif"])
def test_the_command_paints_a_print_and_writes_its_dpi(tmp_path, content_path, style_path, name):
    from painterly.cli import main

    out = tmp_path / name
    # content.png is 64x44: a 2x3 cm print at 60 dpi is a 71x47 px box; 47 px high -> 68x47 px
    assert main([str(content_path), str(style_path), "-o", str(out), "--print", "2x3cm", "--dpi", "60", *CLI_FAST]) == 0
    with Image.open(out) as im:
        assert im.size == (68, 47)
        assert im.info["dpi"] == pytest.approx((60, 60), abs=0.01)


@pytest.mark.parametrize("args, message", [
    (["--print", "24x36in", "--size", "64"], "--print 24x36in and --size 64 both set the output's size"),
    (["--print", "24by36in"], "--print expects WIDTHxHEIGHT with a unit"),
    (["--print", "2x3cm", "--dpi", "0"], "--dpi must be greater than 0"),
    (["--dpi", "1e9"], "--dpi must be at most 10000"),
])
def test_bad_print_options_are_one_line_and_exit_2(tmp_path, capsys, content_path, style_path, args, message):
    from painterly.cli import main

    assert main([str(content_path), str(style_path), "-o", str(tmp_path / "o.png"), *args, *CLI_FAST]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()
