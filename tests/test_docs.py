"""docs/options.md documents every option the main command has, with the default the code uses."""

import re
from pathlib import Path

from painterly.cli import build_parser
from painterly.config import StyleConfig

OPTIONS = (Path(__file__).parent.parent / "docs" / "options.md").read_text()


def test_every_flag_is_documented():
    flags = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    missing = sorted(f for f in flags - {"--help", "--version", "--no-multiscale"} if f"`{f}" not in OPTIONS)
    assert not missing, f"docs/options.md lacks {missing}"


def test_documented_defaults_match_config():
    d = StyleConfig()
    for flag, value in (("--size, -s", d.size), ("--content-weight", d.content_weight),
                        ("--style-weight", d.style_strength), ("--tv-weight", d.tv_weight),
                        ("--iterations, -n", d.iterations), ("--min-scale-size", d.schedule.min_scale_size)):
        row = re.search(rf"^\| `{re.escape(flag)}` \| ([^|]+) \|", OPTIONS, re.MULTILINE)
        assert row and float(row.group(1)) == float(value), flag


def test_every_test_docs_reliability_names_exists():
    """docs/reliability.md points each promise at a test: each file and test named there exists."""
    root = Path(__file__).parent.parent
    text = (root / "docs" / "reliability.md").read_text()
    files = set(re.findall(r"tests/[\w/]+\.py", text))
    assert files and all((root / f).is_file() for f in files), files
    defined = {m for p in root.glob("tests/**/test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    named = set(re.findall(r"\b(test_\w+)\b", re.sub(r"tests/[\w/]+\.py", "", text)))
    assert named and named <= defined, sorted(named - defined)
