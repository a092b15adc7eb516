"""See what the network sees: Figure 1 of Gatys, Ecker & Bethge (2016) for any pair of images.

Building blocks:

* :func:`reconstruct_content` optimises noise until one layer's activations match an
  image's: low layers give back the pixels, high layers keep the layout and lose the detail.
* :func:`synthesize_style` optimises noise until the Gram matrices of a set of layers
  match an image's (texture synthesis, :mod:`painterly.explain.texture`): growing layer sets
  reproduce the texture at growing scales.
* :func:`figure1` runs both for the paper's layers and lays the results out, labelled.
* :class:`LossRecorder` + :func:`plot_losses` draw the loss curves of any run (the
  ``--plot`` option), with Pillow alone (no plotting library).

Deviations from the paper: the content loss is a mean (not a sum) of squared differences
and the start is not full-range white noise: faint noise around grey for content
reconstructions, coarse noise for style reconstructions (:func:`painterly.explain.texture.noise`
says why).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from .. import vgg
from ..config import Method, StyleConfig
from ..engine import Engine
from ..errors import ConfigError
from ..events import Callback
from ..features import VGG19Features
from ..images import ImageSource, fit_long_edge, load_image, resize, to_pil
from ..losses import content_loss
from ..optimize import Interrupted, ObjectiveFn
from ..pipeline import get_extractor, resolve_device
from ..plan import thin_image_hint
from ..scales import plan_scales
from ..vgg import MIN_SIZE
from .texture import noise, synthesize_texture

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
                          f"on each side; {thin_image_hint(tuple(rgb.shape[-2:]), '--size')}")  # type: ignore[arg-type]
    return resize(rgb, hw)


def _check_layer(layer: str, option: str) -> None:
    if problem := vgg.unknown_layers((layer,)):
        raise ConfigError(f"{option}: {problem}")


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
    :class:`~painterly.events.Step` per iteration (with the image on the last one).
    """
    _check_layer(layer, "layer")
    cfg = (config or StyleConfig()).replace(iterations=iterations, seed=seed, method=Method.GATYS)  # the paper's
    device = resolve_device(cfg.device)
    target_img = fit_image(image, "content", size)
    hw: tuple[int, int] = tuple(target_img.shape[-2:])  # type: ignore[assignment]
    only = cfg.replace(content_layers=(layer,), content_layer_weights=(), style_layers=(), style_layer_weights=())
    scales = plan_scales([(hw, iterations)], only, device)  # the memory plan of that one layer's network
    net = get_extractor(cfg.weights, cfg.pooling.value, (vgg.network_depth((layer,)),), str(device))
    target_img = target_img.to(device)
    with torch.no_grad():
        target = net(target_img, (layer,))[layer]

    def objective_for(net: VGG19Features, hw: tuple[int, int]) -> ObjectiveFn:
        def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            loss = content_loss(net(x, (layer,))[layer], target)
            return loss, {f"content:{layer}": loss.detach()}

        return objective

    # Faint per-pixel noise: the content loss has no saddle at a grey image (unlike the
    # Gram loss, see painterly.explain.texture.noise), and high layers leave colour free, so a
    # grey start keeps the reconstruction's colours from being the noise's.
    init = noise(hw, torch.Generator().manual_seed(seed), cell=1, amplitude=CONTENT_NOISE)
    engine = Engine(net, cfg, device, callback, finish=lambda img: img.cpu())
    return engine.run(init, scales, objective_for).image


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
    its own scale up to 512 px (:data:`painterly.explain.texture.DEFAULT_SAMPLE_SIZE`). With
    ``tileable`` the output wraps seamlessly. Returns (1, 3, H, W) in [0, 1]. See
    :func:`painterly.explain.texture.synthesize_texture` for the details and the full options.
    """
    for layer in layers:
        _check_layer(layer, "layers")
    if not layers:
        raise ConfigError("layers: give at least one layer")
    sample = load_image(image, what="style").rgb
    # One scale, like the content reconstructions (and so that figure1's progress counts add up).
    cfg = (config or StyleConfig()).replace(iterations=iterations, seed=seed, style_layer_weights=(), multiscale=False,
                                            method=Method.GATYS)
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
    ``callback`` receives a :class:`~painterly.events.Step` per iteration; its ``scale``
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
