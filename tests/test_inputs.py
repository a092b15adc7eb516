"""painterly.inputs: the one reader of input files (regular files only, the size checked before reading)."""

import os
import re
import time

import pytest

from painterly.errors import ImageError
from painterly.inputs import check_input, read_input


def test_reads_a_regular_file_whole(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x" * 1000)
    assert read_input(tmp_path / "a.png", "photo", error=ImageError) == b"x" * 1000
    assert check_input(str(tmp_path / "a.png"), "photo", error=ImageError).st_size == 1000


def test_refuses_what_is_not_a_regular_file_at_once_and_unread(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")  # opening it for reading would block until a writer comes
    (tmp_path / "link.png").symlink_to(tmp_path / "pipe.png")
    (tmp_path / "gone.png").symlink_to(tmp_path / "deleted.png")
    started = time.perf_counter()
    for path, message in [(tmp_path / "pipe.png", "not a regular file"), (tmp_path / "link.png", "not a regular file"),
                          ("/dev/zero", "not a regular file"), (tmp_path, "is a folder"),
                          (tmp_path / "nope.png", "no such file; check the path"),
                          (tmp_path / "gone.png", "no such file (a broken symbolic link)")]:
        with pytest.raises(ImageError, match="^" + re.escape(f"style {path}: {message}")):
            read_input(path, "style", error=ImageError)
    assert time.perf_counter() - started < 5


def test_the_size_limit_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as f:  # sparse: 3 GB that take no room
        f.truncate(3 * 2**30)
    with pytest.raises(ImageError, match="more than the 2,048 MB an input may have"):
        read_input(big, "photo", error=ImageError)
    (tmp_path / "small.toml").write_bytes(b"x" * 2000)
    with pytest.raises(ValueError, match="--preset .*small.toml: 0 MB is more than the 0 MB"):
        read_input(tmp_path / "small.toml", "--preset", limit=1000, error=ValueError)
