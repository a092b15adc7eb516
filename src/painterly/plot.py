"""Loss curves of a run as a PNG: what ``--plot`` writes for painting, texture and explain."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .events import Step
from .images import check_output_path, write_bytes_atomic


class LossRecorder:
    """A callback that records every :class:`~painterly.events.Step`'s loss terms.

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
    """{name: [(iteration, value)]} for total, content, style (per layer, or nnst's hypercolumn term and its last
    scale's layer-by-layer term) and TV, in that order."""
    keys: list[str] = []
    for h in history:
        keys.extend(k for k in h if k not in keys)
    style = [k for k in keys if k.startswith("style:")] or [k for k in keys if k in ("style", "layers")]
    wanted = ["loss"] + [k for k in keys if k == "content" or k.startswith("content:")] + style \
        + [k for k in keys if k == "tv"]
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


def _colours(series: Mapping[str, object]) -> dict[str, tuple[int, int, int]]:
    """Fixed colours for total, content and TV; the layers take the palette in turn."""
    colours: dict[str, tuple[int, int, int]] = {}
    for name in series:
        colours[name] = _COLOURS.get(name) or _LAYER_COLOURS[sum(n not in _COLOURS for n in colours)
                                                            % len(_LAYER_COLOURS)]
    return colours


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
    colours = _colours(series)
    for name in reversed(list(series)):
        _polyline(d, [(px(x), py(y)) if y > 0 and math.isfinite(y) else None for x, y in series[name]],
                  colours[name], 3 * ss if name == "loss" else 2 * ss)
    for k, name in enumerate(series):
        ly, lx = top + 10 * ss + k * 22 * ss, left + pw + 16 * ss
        d.line([(lx, ly), (lx + 26 * ss, ly)], fill=colours[name], width=3 * ss if name == "loss" else 2 * ss)
        d.text((lx + 34 * ss, ly), "total" if name == "loss" else name, fill="black", font=font, anchor="lm")
    return img.resize(size, Image.Resampling.LANCZOS)
