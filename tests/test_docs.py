"""The docs are true: every option and default they name is the code's, every example command parses with
the real parsers, and every example that can run in about a second runs, at a tiny size."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from conftest import EXAMPLES, ROOT
from painterly.cli import COMMANDS, build_parser, main
from painterly.config import OPTIMIZERS, SCHEDULES, STYLE_WEIGHTS, Method, StyleConfig
from painterly.scales import scale_schedule

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXT = {p.relative_to(ROOT).as_posix(): p.read_text() for p in PAGES}
OPTIONS = TEXT["docs/options.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def parser_for(command: str):  # type: ignore[no-untyped-def]
    """The parser of ``painterly COMMAND`` (``""``: the one-image command)."""
    from painterly.batches.cli import build_parser as batch
    from painterly.cli.again import build_parser as again
    from painterly.cli.eval import build_parser as evaluate
    from painterly.explain.cli import build_explain_parser, build_texture_parser
    from painterly.server.cli import build_parser as serve
    from painterly.video.cli import build_parser as video

    return {"": build_parser, "video": video, "batch": batch, "serve": serve, "explain": build_explain_parser,
            "texture": build_texture_parser, "eval": evaluate, "again": again}[command]()


def flags(parser) -> set[str]:  # type: ignore[no-untyped-def]
    return {s for a in parser._actions for s in a.option_strings}


# -- options and defaults ------------------------------------------------------------------------------------


def test_every_flag_is_documented():
    missing = sorted(f for f in flags(build_parser()) - {"--help", "-h", "--version", "--no-multiscale",
                                                          "--no-compile"} if f.startswith("--") and f"`{f}" not in OPTIONS)
    assert not missing, f"docs/options.md lacks {missing}"


def table_rows(text: str) -> dict[str, list[str]]:
    """The rows of a page's option tables (headed ``option`` or ``flag``): the first cell -> the other cells."""
    rows = {}
    for table in re.findall(r"^\| (?:option|flag) \|.*\n(?:\|.*\n?)+", text, re.M):
        for first, rest in re.findall(r"^\| (`-[^|]*?) \|(.*)\|$", table, re.M):
            rows[first] = [c.strip() for c in rest.split(" | ")]
    return rows


def documented_flags(cell: str) -> list[str]:
    return re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", cell)


@pytest.mark.parametrize("page, command", [("docs/options.md", ""), ("docs/video.md", "video"),
                                           ("docs/batch.md", "batch"), ("docs/web.md", "serve")])
def test_every_option_in_a_table_exists(page: str, command: str):
    """Each option a table documents is one the command takes."""
    known = flags(parser_for(command)) | ({"--no-multiscale", "--no-compile"} if not command else set())
    named = {f for cell in table_rows(TEXT[page]) for f in documented_flags(cell)}
    assert named and not named - known, f"{page}: {sorted(named - known)} are not options of painterly {command}"


def sci(x: float) -> str:
    """1e7, 1e-4: a number as the docs write it."""
    return re.sub(r"e\+?(-?)0*", r"e\1", f"{x:.0e}")


def _defaults() -> dict[str, str]:
    """options.md's default column, as the code makes it."""
    d, nnst, gatys = StyleConfig(), Method.NNST, Method.GATYS
    lr = {o.value: StyleConfig(optimizer=o).lr for o in OPTIMIZERS.values()}
    return {"`--size, -s`": f"{d.size}", "`--style-scale S[,S...]`": f"{d.style_scale}",
            "`--method`": d.method.value, "`--content-weight`": f"{d.content_weight}",
            "`--style-loss`": d.style_loss.value, "`--style-weight`": sci(STYLE_WEIGHTS[d.style_loss]),
            "`--tv-weight`": f"{d.tv_weight:g}", "`--content-layers`": ",".join(d.content_layers),
            "`--style-layers`": ",".join(d.style_layers),
            "`--optimizer`": f"{OPTIMIZERS[nnst].value} (`nnst`), {OPTIMIZERS[gatys].value} (`gatys`)",
            "`--iterations, -n`": f"{d.iterations}",
            "`--learning-rate`": f"{lr['lbfgs']} (lbfgs), {lr['adam']} (adam)",
            "`--init`": d.init.value, "`--tolerance`, `--patience`": f"{sci(d.tolerance)}, {d.patience}",
            "`--multiscale / --no-multiscale`": "on" if d.multiscale else "off",
            "`--min-scale-size`": f"{SCHEDULES[d.method].min_scale_size}", "`--pooling`": d.pooling.value,
            "`--preserve-colors`": d.preserve_colors.value, "`--color-match`": d.color_match.value,
            "`--device`": d.device, "`--precision`": d.precision.value,
            "`--compile`, `--no-compile`": "on" if d.compile else "off", "`--coarse-layer`": d.coarse_layer}


def test_documented_defaults_match_the_code():
    """Every default in options.md's table that the code sets, as the code sets it (and 'equal' for weights)."""
    from painterly.images import DEFAULT_QUALITY
    from painterly.memory import BUDGET_SHARE

    rows = table_rows(OPTIONS)
    expected = {**_defaults(), "`--quality Q`": f"{DEFAULT_QUALITY}", "`--bit-depth`": "8",
                "`--max-memory GB`": f"{BUDGET_SHARE:.0%} of available",
                "`--workers N`": f"{parser_for('')._option_string_actions['--workers'].default or 1}"}
    wrong = {k: (rows[k][0] if k in rows else "(no row)", v) for k, v in expected.items()
             if k not in rows or rows[k][0] != v}
    assert not wrong, f"docs/options.md: default as documented vs as the code makes it: {wrong}"
    for weights in ("`--content-layer-weights`, `--style-layer-weights`", "`--style-blend-weights`"):
        assert rows[weights][0] == "equal" and not StyleConfig().style_blend_weights


def test_video_serve_and_explain_defaults_match_the_code():
    from painterly.explain.cli import DEFAULT_SAMPLE_SIZE, FIGURE1_SIZE, RECONSTRUCTION_ITERATIONS, TEXTURE_ITERATIONS
    from painterly.video import VideoConfig

    v, video = VideoConfig(), table_rows(TEXT["docs/video.md"])
    assert [video[k][0] for k in ("`--temporal-weight W`", "`--scene-cut FRACTION`", "`--crf N`", "`--chunk-frames N`")] \
        == [sci(v.temporal_weight), f"{v.scene_cut}", f"{v.crf}", f"{v.chunk_frames}"]
    assert f"({v.chunk_frames // 2})" in video["`--chunk-overlap N`"][0]
    serve = {a.option_strings[0]: a.default for a in parser_for("serve")._actions}
    rows = table_rows(TEXT["docs/web.md"])
    assert [rows[k][0] for k in ("`--host`", "`--port`", "`--output-dir DIR`", "`--max-size PX`")] == \
        [f"`{serve['--host']}`", f"`{serve['--port']}`", f"`./{serve['--output-dir']}`", f"`{serve['--max-size']}`"]
    explain = " ".join(TEXT["docs/explain.md"].split())
    assert f"`--size N` (long edge of each panel, default {FIGURE1_SIZE})" in explain
    assert f"`--iterations/-n` (per panel, default {RECONSTRUCTION_ITERATIONS})" in explain
    assert f"default {TEXTURE_ITERATIONS} for a 512 px scale" in explain
    assert f"(default {DEFAULT_SAMPLE_SIZE} px on the long edge" in explain


def test_the_schedules_the_docs_quote_are_the_codes():
    """README's scales of a 512 px painting, the presets' iterations in web.md."""
    from painterly.options import PRESETS, config_from_options

    nnst = [(max(hw), n) for hw, n in scale_schedule((354, 512), StyleConfig())]
    assert nnst == [(64, 40), (128, 40), (256, 40), (512, 20)]
    assert "runs 40, 40, 40 and 20 iterations at its four scales (64 to 512 px)" in " ".join(TEXT["README.md"].split())
    gatys = [(max(hw), n) for hw, n in scale_schedule((354, 512), StyleConfig(method="gatys"))]
    assert gatys == [(256, 40), (362, 28), (512, 20)]
    assert "(with the defaults 40, 40, 40 and 20 at 64, 128, 256 and 512 px; `--method gatys`: 40, 28 and 20 at " \
        "256, 362 and 512 px)" in OPTIONS
    render = [(max(hw), n) for hw, n in scale_schedule((1024, 1024), StyleConfig())]
    gatys = [(max(hw), n) for hw, n in scale_schedule((1024, 1024), StyleConfig(method="gatys"))]
    assert render == [(64, 40), (128, 40), (256, 40), (512, 20), (1024, 10)]
    assert gatys == [(256, 40), (362, 28), (512, 20), (724, 14), (1024, 10)]
    controls = " ".join(TEXT["docs/controls.md"].split())
    assert "40 iterations at each of 64, 128 and 256 px" in controls and "(20 and 10 iterations at 512 and 1024 px; " \
        "`--method gatys`: 40 at 256 px, then 28, 20, 14 and 10 at 362, 512, 724 and 1024 px)" in controls
    web = table_rows(TEXT["docs/web.md"]) | {r.split(" |")[0]: r for r in re.findall(r"^\| (\w+.*)$", TEXT["docs/web.md"], re.M)}
    for name in PRESETS:
        cfg = config_from_options({"preset": name})
        row = next(v for k, v in web.items() if isinstance(v, str) and k.startswith(name))
        counts = [str(n) for _, n in scale_schedule((cfg.size, cfg.size), cfg)]
        assert f"| {cfg.size} | {cfg.iterations} (" in row and all(c in row for c in counts), (name, counts, row)


def test_every_flag_the_docs_name_exists():
    """A backticked ``--flag`` anywhere in README and docs/ is an option of a painterly command or of the
    benchmark script, dask or curl line that names it."""
    known = set().union(*(flags(parser_for(c)) for c in ("", *COMMANDS)))
    known |= {"--no-multiscale", "--no-compile", "--debug"}
    scripts = [*ROOT.glob("benchmarks/*.py"), *ROOT.glob("docs/*.py")]
    known |= {f for s in scripts for f in re.findall(r"add_argument\(\s*\"(--[\w-]+)\"", s.read_text())}
    known |= {"--nworkers", "--nthreads", "--resources", "--tls-ca-file", "--host", "--path", "--meta", "--config"}
    unknown = {}
    for page, text in TEXT.items():
        for code in re.findall(r"`([^`\n]+)`", FENCE.sub("", text)) + [b for _, b in FENCE.findall(text)]:
            for f in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", code):
                if f not in known:
                    unknown.setdefault(page, set()).add(f)
    assert not unknown, unknown


def test_every_test_docs_reliability_names_exists():
    """docs/reliability.md points each promise at a test: each file and test named there exists."""
    text = TEXT["docs/reliability.md"]
    files = set(re.findall(r"tests/[\w/]+\.py", text))
    assert files and all((ROOT / f).is_file() for f in files), files
    defined = {m for p in ROOT.glob("tests/**/test_*.py") for m in re.findall(r"^def (test_\w+)", p.read_text(), re.M)}
    named = set(re.findall(r"\b(test_\w+)\b", re.sub(r"tests/[\w/]+\.py", "", text)))
    assert named and named <= defined, sorted(named - defined)


# -- example commands -----------------------------------------------------------------------------------------


def command_lines() -> list[tuple[str, str]]:
    """(page, line) for every ``painterly ...`` line of a shell block, continuations joined, comments dropped."""
    out = []
    for page, text in TEXT.items():
        for lang, body in FENCE.findall(text):
            if lang not in ("", "bash", "sh"):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("painterly ") and "[" not in line:  # "[options]": a synopsis, not an example
                    out.append((page, line))
    return out


def inline_commands() -> list[tuple[str, str]]:
    """(page, command) for every whole ``painterly ... -o ...`` command in the prose, placeholders for numbers
    (N, PX, GB) as numbers."""
    return [(page, re.sub(r" (N|PX|GB)\b", " 2", c)) for page, text in TEXT.items()
            for c in re.findall(r"`(painterly [^`]+)`", FENCE.sub("", text)) if " -o " in c and "[" not in c]


LINES = command_lines()


def split(line: str) -> tuple[str, list[str]]:
    argv = shlex.split(line)[1:]
    return (argv[0], argv[1:]) if argv and argv[0] in COMMANDS else ("", argv)


@pytest.mark.parametrize("page, line", LINES + inline_commands())
def test_an_example_command_parses(page: str, line: str):
    command, argv = split(line)
    parser_for(command).parse_args(argv)


# What each command needs to run in about a second; the flags come after the example's, so they win.
TINY = {"": ["--size", "32", "-n", "2", "-q"], "again": ["--size", "32", "-q"], "eval": ["--size", "32"],
        "explain": ["--size", "32", "-n", "1", "-q"], "texture": ["--size", "32x32", "--sample-size", "64", "-n", "2", "-q"],
        "batch": ["--size", "32", "-n", "2", "-q", "--workers", "1"],
        "video": ["--size", "32", "-n", "2", "--frame-iterations", "1", "--start", "0", "--duration", "0.2", "-q"]}
NOT_RUN = ("--scheduler", "--workers", "painterly serve")  # a cluster, processes, a server: parsed only
RUN = [(p, line) for p, line in LINES if not any(s in line for s in NOT_RUN)]


def _picture(path: Path, source: Path, long: int = 96) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(source).convert("RGB")
    image.thumbnail((long, long))
    image.save(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding every file the examples name: small copies of the bundled pictures, masks, a clip."""
    d = tmp_path_factory.mktemp("examples")
    photos = {"building": ["photo.jpg", "photo2.jpg", "building.jpg", "photos/a.jpg", "photos/b.jpg",
                           "shoot/day1/x.jpg", "more/m.png", "extra.png", "a.png", "other.png"],
              "fruits": ["fruits.jpg", "b.png"],
              "starry_night": ["starry.jpg", "starry_night.jpg", "painting.jpg", "a.jpg"],
              "graf1": ["graf.jpg", "graf1.jpg", "b.jpg"]}
    for source, names in photos.items():
        for name in names:
            _picture(d / name, EXAMPLES / f"{source}.jpg")
    (d / "examples").symlink_to(EXAMPLES)
    for name, like in (("left.png", "building.jpg"), ("oval.png", "fruits.jpg")):
        mask = Image.new("L", Image.open(d / like).size)
        w, h = mask.size
        ImageDraw.Draw(mask).rectangle((0, 0, w // 2, h), fill=255) if name == "left.png" else \
            ImageDraw.Draw(mask).ellipse((w // 6, h // 6, 5 * w // 6, 5 * h // 6), fill=255)
        mask.save(d / name)
    for name in ("clip.mp4", "talk.mov"):
        shutil.copy(ROOT / "tests" / "data" / "clip.mp4", d / name)
    return d


def _main(argv: list[str]) -> int:
    try:
        return main(argv)
    finally:
        torch.set_num_threads(1)  # an example's --threads sets the process's


@pytest.fixture
def inside(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(workdir)
    if not (workdir / "out.png").exists():  # what `painterly again out.png` reads
        assert _main(["photo.jpg", "starry.jpg", "-o", "out.png", "--seed", "7", *TINY[""]]) == 0
    return workdir


@pytest.mark.parametrize("page, line", RUN)
def test_an_example_command_runs(page: str, line: str, inside: Path):
    if "video" in line:
        pytest.importorskip("av")
    command, argv = split(line)
    assert _main(([command] if command else []) + argv + TINY[command]) == 0, f"{page}: {line}"


# -- Python examples ---------------------------------------------------------------------------------------------

PY_NOT_RUN = {"scheduler=": "a Dask cluster", "painterly_client": "a generated client and a running server"}
PY = [(page, body) for page, text in TEXT.items() for lang, body in FENCE.findall(text) if lang == "python"]
# Calls given a tiny size and few iterations where the example has none (sizes and counts it has are rewritten).
TINY_CALLS = {"stylize": ("size=32", "iterations=2"), "StyleConfig": ("size=32", "iterations=2"),
              "figure1": ("iterations=2",), "reconstruct_content": ("iterations=2",),
              "synthesize_style": ("iterations=2",), "evaluate": ("size=32",)}


def tiny_python(code: str) -> str:
    """The example at 32 px and 2 iterations (:data:`TINY_CALLS`), a clip read from its start, a batch in this
    process."""
    code = re.sub(r"(?<![\w.])iterations=\d+", "iterations=2", code)
    code = re.sub(r"\bsize=\(\d+, \d+\)", "size=(32, 32)", code)
    code = re.sub(r"\bsize=\d+", "size=32", code)
    code = code.replace("start=2, duration=5", "start=0, duration=0.2").replace("workers=None", "workers=1")
    out, i = [], 0
    for m in re.finditer(rf"\b({'|'.join(TINY_CALLS)})\(", code):
        depth, j = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(code[j], 0)
            j += 1
        call = code[m.end():j - 1]
        extra = "".join(f", {kw}" for kw in TINY_CALLS[m.group(1)] if kw.split("=")[0] + "=" not in call)
        out.append(code[i:j - 1] + extra)
        i = j - 1
    return "".join(out) + code[i:]


@pytest.mark.parametrize("page, code", PY)
def test_a_python_example_runs(page: str, code: str, inside: Path):
    skip = [why for key, why in PY_NOT_RUN.items() if key in code]
    if skip:
        pytest.skip(f"needs {skip[0]}")
    if "painterly.video" in code:
        pytest.importorskip("av")
    pictures = {n: Image.open(inside / f) for n, f in (("pil_image", "photo.jpg"), ("style_a", "starry.jpg"),
                                                       ("style_b", "graf.jpg"), ("content", "photo.jpg"),
                                                       ("style", "starry.jpg"))}
    exec(compile(tiny_python(code), page, "exec"), {**pictures, "cfg": StyleConfig(size=32, iterations=2, seed=1)})


def test_enough_examples_run():
    """The examples above are found: a change to the pages' code blocks that hides them fails here."""
    assert len(RUN) >= 18 and len(LINES) >= 25
    assert sum(not any(k in c for k in PY_NOT_RUN) for _, c in PY) >= 7


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_pages_resolves():
    """A relative link names a file that exists, and a #section a heading of that page."""
    broken = []
    for page, text in TEXT.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", text)):
            if re.match(r"\w+://", target):
                continue
            path, _, section = target.partition("#")
            file = (ROOT / page).parent / path if path else ROOT / page
            if not file.exists():
                broken.append((page, target))
            elif section and file.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", FENCE.sub("", file.read_text()), re.M)
                if section not in {anchor(h) for h in headings}:
                    broken.append((page, target))
    assert not broken, broken


def test_batch_md_quotes_the_memory_a_worker_plans():
    from painterly.memory import process_bytes

    text = " ".join(TEXT["docs/batch.md"].split())
    for size in (512, 1024):
        assert f"~{process_bytes(StyleConfig(size=size)) / 2**30:.1f} GB at {size} px" in text, size
