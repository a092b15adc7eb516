"""See what the network sees: Figure 1 of Gatys, Ecker & Bethge (2016) for any pair of images.

Building blocks:

* :func:`reconstruct_content` optimises noise until one layer's activations match an
  image's: low layers give back the pixels, high layers keep the layout and lose the detail.
* :func:`synthesize_style` optimises noise until the Gram matrices of a set of layers
  match an image's (texture synthesis, :mod:`painterly.texture`): growing layer sets
  reproduce the texture at growing scales.
* :func:`figure1` runs both for the paper's layers and lays the results out, labelled.
* :class:`LossRecorder` + :func:`plot_losses` draw the loss curves of any run (the
  ``--plot`` option), with Pillow alone (no plotting library).

Deviations from the paper: the content loss is a mean (not a sum) of squared differences
and the start is not full-range white noise: faint noise around grey for content
reconstructions, coarse noise for style reconstructions (:func:`painterly.texture.noise`
says why).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont

from .config import LAYER_NAMES, MIN_SIZE, ConfigError, StyleConfig
from .images import ImageSource, check_output_path, fit_long_edge, load_image, resize, to_pil, write_bytes_atomic
from .losses import content_loss
from .optimize import Interrupted, optimize
from .pipeline import Step, get_extractor, resolve_device
from .texture import noise, synthesize_texture

Callback = Callable[[Step], None]

# Defaults of the reconstructions (not StyleConfig's, which are for painting from the
# content image: starting from noise needs more iterations, and ten panels a smaller size).
RECONSTRUCTION_ITERATIONS = 200
FIGURE1_SIZE = 256
CONTENT_NOISE = 0.02  # amplitude of the content reconstructions' starting noise around grey
FIGURE1_CONTENT_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
FIGURE1_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# Panel names in the order figure1 computes them; Step.scale indexes this tuple.
FIGURE1_PANELS: tuple[str, ...] = (
    *(f"content {layer}" for layer in FIGURE1_CONTENT_LAYERS),
    *(f"style {'+' if i else ''}{layer}" for i, layer in enumerate(FIGURE1_STYLE_LAYERS)),
)


def fit_image(source: ImageSource, what: str, size: int) -> torch.Tensor:
    """Load ``source`` and resize it to ``size`` on its long edge, checking VGG19's minimum side."""
    rgb = load_image(source, what=what).rgb
    hw = fit_long_edge(tuple(rgb.shape[-2:]), size)  # type: ignore[arg-type]
    if min(hw) < MIN_SIZE:
        raise ConfigError(f"--size {size}: the {what} image would be {hw[1]}x{hw[0]} px; VGG19 needs {MIN_SIZE}+ px "
                          "on each side; raise --size")
    return resize(rgb, hw)


def _check_layer(layer: str, option: str) -> None:
    if layer not in LAYER_NAMES:
        raise ConfigError(f"{option}: unknown layer {layer!r}; layers are named like relu4_2 (conv1_1 ... relu5_4)")


# Building blocks ---------------------------------------------------------------------
def reconstruct_content(
    image: ImageSource,
    layer: str,
    *,
    size: int = FIGURE1_SIZE,
    iterations: int = RECONSTRUCTION_ITERATIONS,
    seed: int = 0,
    config: StyleConfig | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Optimise noise until its ``layer`` activations match ``image``'s; only that layer.

    ``image`` is a path, PIL image or tensor in [0, 1], resized to ``size`` on its long
    edge. ``config`` supplies the network and optimiser options (``pooling``, ``weights``,
    ``optimizer``, ``learning_rate``, ``tolerance``, ``device``). Returns (1, 3, H, W) in
    [0, 1] at the resized image's size. ``callback`` receives a
    :class:`~painterly.pipeline.Step` per iteration (with the image on the last one).
    """
    _check_layer(layer, "layer")
    cfg = (config or StyleConfig()).replace(iterations=iterations, seed=seed)
    device = resolve_device(cfg.device)
    deepest = max((layer, "relu5_1"), key=LAYER_NAMES.index)
    net = get_extractor(cfg.weights, cfg.pooling.value, (deepest,), str(device))
    target_img = fit_image(image, "content", size).to(device)
    with torch.no_grad():
        target = net(target_img, (layer,))[layer]

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = content_loss(net(x, (layer,))[layer], target)
        return loss, {f"content:{layer}": loss.detach()}

    hw = tuple(target_img.shape[-2:])
    # Faint per-pixel noise: the content loss has no saddle at a grey image (unlike the
    # Gram loss, see painterly.texture.noise), and high layers leave colour free, so a
    # grey start keeps the reconstruction's colours from being the noise's.
    init = noise(hw, torch.Generator().manual_seed(seed), cell=1, amplitude=CONTENT_NOISE).to(device)  # type: ignore[arg-type]
    start = time.perf_counter()

    def report(i: int, value: float, terms: dict[str, float], img: torch.Tensor) -> None:
        if callback is not None:
            callback(Step(i, iterations, 0, 1, hw, value, terms, i, iterations,  # type: ignore[arg-type]
                          time.perf_counter() - start, img.clamp(0, 1).cpu() if i == iterations else None))

    res = optimize(init, objective, optimizer=cfg.optimizer, iterations=iterations, lr=cfg.lr,
                   lbfgs_history=cfg.lbfgs_history, tolerance=cfg.tolerance, patience=cfg.patience, report=report)
    return res.image.cpu()


def synthesize_style(
    image: ImageSource,
    layers: Sequence[str],
    *,
    size: tuple[int, int] | None = None,
    iterations: int = RECONSTRUCTION_ITERATIONS,
    seed: int = 0,
    tileable: bool = False,
    config: StyleConfig | None = None,
    callback: Callback | None = None,
) -> torch.Tensor:
    """Optimise noise until the Gram matrices of ``layers`` match ``image``'s (style only).

    ``size`` is the output's (H, W) (default: the image's own size); the image is used at
    its own scale up to 512 px (:data:`painterly.texture.DEFAULT_SAMPLE_SIZE`). With
    ``tileable`` the output wraps seamlessly. Returns (1, 3, H, W) in [0, 1]. See
    :func:`painterly.texture.synthesize_texture` for the details and the full options.
    """
    for layer in layers:
        _check_layer(layer, "layers")
    if not layers:
        raise ConfigError("layers: give at least one layer")
    sample = load_image(image, what="style").rgb
    # One scale, like the content reconstructions (and so that figure1's progress counts add up).
    cfg = (config or StyleConfig()).replace(iterations=iterations, seed=seed, style_layer_weights=(), multiscale=False)
    hw = size or tuple(sample.shape[-2:])
    return synthesize_texture(sample, hw, config=cfg, tileable=tileable, layers=tuple(layers),  # type: ignore[arg-type]
                              callback=callback).image


# Figure 1 ----------------------------------------------------------------------------
def figure1(
    content: ImageSource,
    style: ImageSource,
    *,
    size: int = FIGURE1_SIZE,
    iterations: int = RECONSTRUCTION_ITERATIONS,
    seed: int = 0,
    config: StyleConfig | None = None,
    callback: Callback | None = None,
) -> Image.Image:
    """The paper's Figure 1 for ``content`` and ``style``, as one labelled picture.

    Top row: the content image, then reconstructions from ``relu1_2 .. relu5_2`` alone.
    Bottom row: the style image, then style reconstructions from ``relu1_1``,
    ``+relu2_1``, ... ``+relu5_1``. Both images are resized to ``size`` on their long edge.
    ``callback`` receives a :class:`~painterly.pipeline.Step` per iteration; its ``scale``
    indexes :data:`FIGURE1_PANELS` and ``done``/``total`` count over the whole figure.
    Ctrl-C raises :class:`~painterly.optimize.Interrupted` whose image is the figure so far
    ((1, 3, H, W); unfinished panels show their best image so far, or stay blank).
    """
    c_img, s_img = fit_image(content, "content", size), fit_image(style, "style", size)
    panels: dict[str, torch.Tensor] = {}
    total = iterations * len(FIGURE1_PANELS)
    start = time.perf_counter()

    def relay(k: int) -> Callback | None:
        if callback is None:
            return None
        return lambda step: callback(dataclasses.replace(  # type: ignore[misc]
            step, scale=k, scales=len(FIGURE1_PANELS), done=k * iterations + step.done, total=total,
            elapsed=time.perf_counter() - start))

    jobs: list[Callable[[Callback | None], torch.Tensor]] = [
        *(lambda cb, layer=layer: reconstruct_content(c_img, layer, size=size, iterations=iterations, seed=seed,
                                                      config=config, callback=cb)
          for layer in FIGURE1_CONTENT_LAYERS),
        *(lambda cb, n=n: synthesize_style(s_img, FIGURE1_STYLE_LAYERS[:n], iterations=iterations, seed=seed,
                                           config=config, callback=cb)
          for n in range(1, len(FIGURE1_STYLE_LAYERS) + 1)),
    ]
    for k, (name, job) in enumerate(zip(FIGURE1_PANELS, jobs)):
        try:
            panels[name] = job(relay(k))
        except (Interrupted, KeyboardInterrupt) as e:  # Ctrl-C inside a panel's loop, or between them
            if isinstance(e, Interrupted):
                panels[name] = e.image
            raise Interrupted(_pil_to_tensor(render_figure1(c_img, s_img, panels))) from None
    return render_figure1(c_img, s_img, panels)


def render_figure1(content: torch.Tensor, style: torch.Tensor, panels: Mapping[str, torch.Tensor]) -> Image.Image:
    """Lay out :func:`figure1`'s panels (missing ones blank) under two row titles."""
    def row(first: tuple[str, torch.Tensor], names: Sequence[str], labels: Sequence[str]) -> list[tuple[str, Image.Image]]:
        ref = to_pil(first[1])
        cells = [(first[0], ref)]
        for name, label in zip(names, labels):
            img = panels.get(name)
            cells.append((label, to_pil(img) if img is not None else Image.new("RGB", ref.size, (235, 235, 235))))
        return cells

    c_names = FIGURE1_PANELS[:len(FIGURE1_CONTENT_LAYERS)]
    s_names = FIGURE1_PANELS[len(FIGURE1_CONTENT_LAYERS):]
    s_labels = [("+" if i else "") + layer for i, layer in enumerate(FIGURE1_STYLE_LAYERS)]
    rows = [
        ("Content reconstructions: noise optimised to match one layer's activations",
         row(("content", content), c_names, FIGURE1_CONTENT_LAYERS)),
        ("Style reconstructions: noise optimised to match the Gram matrices of growing layer sets",
         row(("style", style), s_names, s_labels)),
    ]
    return _grid(rows)


def _grid(rows: Sequence[tuple[str, Sequence[tuple[str, Image.Image]]]], *, height: int = 160, gap: int = 8) -> Image.Image:
    title_font = ImageFont.load_default(size=16)
    font = ImageFont.load_default(size=14)
    title_h, label_h = 26, 20
    height = max(height, max(im.height for _, cells in rows for _, im in cells))
    scaled = [[(label, im.convert("RGB").resize((max(1, round(im.width * height / im.height)), height),
                                                 Image.Resampling.LANCZOS)) for label, im in cells]
              for _, cells in rows]
    width = max(sum(im.width for _, im in cells) + gap * (len(cells) + 1) for cells in scaled)
    sheet = Image.new("RGB", (width, len(rows) * (title_h + label_h + height + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    y = gap
    for (title, _), cells in zip(rows, scaled):
        draw.text((gap, y), title, fill="black", font=title_font)
        y += title_h
        x = gap
        for label, im in cells:
            draw.text((x, y), label, fill=(60, 60, 60), font=font)
            sheet.paste(im, (x, y + label_h))
            x += im.width + gap
        y += label_h + height + gap
    return sheet


def _pil_to_tensor(pil: Image.Image) -> torch.Tensor:
    return load_image(pil, what="figure").rgb


# Measurements -------------------------------------------------------------------------
def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] of the same shape."""
    mse = float((a.float() - b.float()).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def layout_correlation(a: torch.Tensor, b: torch.Tensor, *, cells: int = 8) -> float:
    """Pearson correlation of ``a`` and ``b`` averaged down to ``cells`` px on the long edge.

    A measure of layout without detail: high when the big coloured, light and dark regions
    sit in the same places. Images are (1, 3, H, W) in [0, 1]; ``b`` is resized to ``a``'s
    size first; all three channels count.
    """
    b = resize(b.float().cpu(), a.shape[-2:])
    hw = fit_long_edge(tuple(a.shape[-2:]), cells)  # type: ignore[arg-type]

    def coarse(x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.adaptive_avg_pool2d(x.float().cpu(), hw).flatten()
        return y - y.mean()

    ca, cb = coarse(a), coarse(b)
    return float((ca * cb).sum() / (ca.norm() * cb.norm()).clamp_min(1e-12))


# Loss curves -------------------------------------------------------------------------
class LossRecorder:
    """A callback that records every :class:`~painterly.pipeline.Step`'s loss terms.

    ``recorder = LossRecorder(path)`` checks ``path`` at once (like ``--output``); call
    ``recorder(step)`` from the run's callback and ``recorder.write()`` at the end. With
    ``path=None`` it only records and ``write`` does nothing.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, option: str = "--plot"):
        self.path = check_output_path(path, option=option) if path is not None else None
        self.history: list[dict[str, float]] = []

    def __call__(self, step: Step) -> None:
        self.history.append({"iteration": float(step.done), "scale": float(step.scale), "loss": step.loss,
                             **step.terms})

    def write(self) -> None:
        if self.path is not None and self.history:
            plot_losses(self.history, self.path)


_COLOURS = {
    "loss": (20, 20, 20), "content": (31, 119, 180), "tv": (44, 160, 44),
}
_LAYER_COLOURS = [(255, 127, 14), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
                  (188, 189, 34), (23, 190, 207), (127, 127, 127)]


def _series(history: Sequence[Mapping[str, float]]) -> dict[str, list[tuple[float, float]]]:
    """{name: [(iteration, value)]} for total, content, style per layer and TV (in that order)."""
    keys: list[str] = []
    for h in history:
        keys.extend(k for k in h if k not in keys)
    wanted = ["loss"] + [k for k in keys if k == "content" or k.startswith("content:")] \
        + [k for k in keys if k.startswith("style:")] + [k for k in keys if k == "tv"]
    if not any(k.startswith("style:") for k in keys) and "style" in keys:
        wanted.insert(-1 if "tv" in keys else len(wanted), "style")
    out: dict[str, list[tuple[float, float]]] = {}
    for i, h in enumerate(history):
        x = float(h.get("iteration", i + 1))
        for k in wanted:
            if k in h:
                out.setdefault(k, []).append((x, float(h[k])))
    return out


def plot_losses(history: Sequence[Mapping[str, Any]] | LossRecorder, path: str | os.PathLike, *,
                title: str = "loss per iteration") -> None:
    """Write the loss curves of a run as a PNG (log scale; total, content, style per layer, TV).

    ``history`` is a :class:`LossRecorder` or its ``history``: one mapping per iteration
    with ``iteration`` (counted over the whole run), ``scale``, ``loss`` and the
    objective's terms (``content``, ``style:<layer>``, ``tv``). Scale changes of a
    coarse-to-fine run are marked with dashed lines. Drawn with Pillow at twice the size
    and scaled down, for smooth lines.
    """
    if isinstance(history, LossRecorder):
        history = history.history
    out = check_output_path(path, option="--plot")
    if not history:
        raise ValueError("plot_losses: the history is empty")
    series = _series(history)
    if not series:
        raise ValueError("plot_losses: the history holds no 'loss' values")
    img = _draw_plot(series, _scale_starts(history), title)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    write_bytes_atomic(out, buf.getvalue())


def _scale_starts(history: Sequence[Mapping[str, Any]]) -> list[tuple[float, int]]:
    starts, last = [], None
    for i, h in enumerate(history):
        s = int(h.get("scale", 0))
        if last is not None and s != last:
            starts.append((float(h.get("iteration", i + 1)), s))
        last = s
    return starts


def _polyline(d: ImageDraw.ImageDraw, points: list[tuple[float, float] | None], colour: tuple[int, int, int],
              width: int) -> None:
    """Draw ``points`` as lines; ``None`` (a value a log axis cannot show) breaks the line."""
    segment: list[tuple[float, float]] = []
    for p in points + [None]:
        if p is not None:
            segment.append(p)
            continue
        if len(segment) > 1:
            d.line(segment, fill=colour, width=width, joint="curve")
        elif segment:
            (cx, cy), r = segment[0], width
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        segment = []


def _nice_step(span: float, target: int = 6) -> float:
    raw = span / max(1, target)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _draw_plot(series: Mapping[str, list[tuple[float, float]]], scale_starts: list[tuple[float, int]],
               title: str, *, size: tuple[int, int] = (900, 520), ss: int = 2) -> Image.Image:
    W, H = size[0] * ss, size[1] * ss
    left, right, top, bottom = 80 * ss, 190 * ss, 40 * ss, 50 * ss
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=13 * ss)
    big = ImageFont.load_default(size=16 * ss)
    points = [p for pts in series.values() for p in pts]
    xs = [x for x, _ in points]
    ys = [y for _, y in points if y > 0 and math.isfinite(y)]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x1 = x0 + 1
    lo = math.floor(math.log10(min(ys))) if ys else 0
    hi = math.ceil(math.log10(max(ys))) if ys else 1
    if hi == lo:
        hi = lo + 1
    pw, ph = W - left - right, H - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + (hi - math.log10(y)) / (hi - lo) * ph

    d.text((left, 10 * ss), title, fill="black", font=big)
    # Grid and axes.
    every = max(1, math.ceil((hi - lo) / 10))  # at most about ten labelled decades
    for e in range(lo, hi + 1):
        y = py(10.0 ** e)
        d.line([(left, y), (left + pw, y)], fill=(225, 225, 225), width=ss)
        if (e - lo) % every == 0:
            d.text((left - 8 * ss, y), f"1e{e}", fill="black", font=font, anchor="rm")
    step = max(1.0, _nice_step(x1 - x0))  # iterations are whole numbers
    t = math.ceil(x0 / step) * step
    while t <= x1 + 1e-9:
        x = px(t)
        d.line([(x, top + ph), (x, top + ph + 5 * ss)], fill="black", width=ss)
        d.text((x, top + ph + 8 * ss), f"{t:g}", fill="black", font=font, anchor="mt")
        t += step
    d.text((left + pw / 2, H - 14 * ss), "iteration", fill="black", font=font, anchor="mm")
    for x_at, s in scale_starts:
        x = px(x_at)
        for y in range(top, top + ph, 12 * ss):
            d.line([(x, y), (x, min(y + 6 * ss, top + ph))], fill=(150, 150, 150), width=ss)
        d.text((x + 4 * ss, top + 4 * ss), f"scale {s + 1}", fill=(110, 110, 110), font=font)
    d.rectangle([left, top, left + pw, top + ph], outline="black", width=ss)
    # Curves (the total last, on top) and the legend (the total first).
    colours: dict[str, tuple[int, int, int]] = {}
    for name in series:
        colours[name] = _COLOURS.get(name) or _LAYER_COLOURS[sum(n not in _COLOURS for n in colours)
                                                            % len(_LAYER_COLOURS)]
    for name in reversed(list(series)):
        _polyline(d, [(px(x), py(y)) if y > 0 and math.isfinite(y) else None for x, y in series[name]],
                  colours[name], 3 * ss if name == "loss" else 2 * ss)
    for k, name in enumerate(series):
        ly, lx = top + 10 * ss + k * 22 * ss, left + pw + 16 * ss
        d.line([(lx, ly), (lx + 26 * ss, ly)], fill=colours[name], width=3 * ss if name == "loss" else 2 * ss)
        d.text((lx + 34 * ss, ly), "total" if name == "loss" else name, fill="black", font=font, anchor="lm")
    return img.resize(size, Image.Resampling.LANCZOS)
