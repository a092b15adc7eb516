"""The VGG19 feature extractor: a frozen, pure function from images to named activations.

Input is the package convention (float32 RGB in [0, 1], (B, 3, H, W)); the network's own
preprocessing (Caffe: BGR, 0-255, mean pixel subtracted; or torchvision: mean/std) happens
here and nowhere else. Only the layers up to the deepest one asked for are built and run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from . import spill, vgg
from .config import Pooling
from .vgg import CONV_NAMES, LAYER_NAMES, MIN_SIZE, position, unknown_layers
from .weights import Preprocessing, VGGWeights

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """VGG19 truncated at the deepest of ``layers``; ``forward`` returns ``{layer: activation}``.

    Layer names are ``conv<block>_<i>`` / ``relu<block>_<i>``. With ``pooling="avg"`` the max
    pooling layers are replaced by average pooling, as Gatys et al. (2016) recommend.
    Parameters are frozen; gradients flow only to the input.
    """

    def __init__(self, weights: VGGWeights, layers: Iterable[str], pooling: Pooling | str = Pooling.MAX):
        super().__init__()
        layers = list(layers)
        problem = unknown_layers(layers) if layers else "give at least one layer"
        if problem:
            raise ValueError(problem)
        self.layers = tuple(layers)
        self.deepest = max(LAYER_NAMES.index(n) for n in layers)
        pooling = Pooling(pooling)
        self.preprocessing = weights.preprocessing
        self.scale: torch.Tensor
        self.shift: torch.Tensor
        if weights.preprocessing is Preprocessing.CAFFE:
            # RGB [0,1] -> BGR [0,255] - mean, folded into a per-channel scale and shift.
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0))
            self.register_buffer("shift", -torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1))
        else:
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            self.register_buffer("scale", 1 / std)
            self.register_buffer("shift", -torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) / std)
        self.names: list[str] = []
        self.ops = nn.ModuleList()
        for name in LAYER_NAMES[: self.deepest + 1]:
            if name in CONV_NAMES:
                block, idx = position(name)
                if idx == 1 and block != 1:
                    # ceil_mode: with an odd side the last row/column still reaches the deeper
                    # layers (floor would leave it to relu1-2 alone, which paints a rim).
                    pool: nn.Module = (nn.MaxPool2d(2, 2, ceil_mode=True) if pooling is Pooling.MAX
                                       else nn.AvgPool2d(2, 2, ceil_mode=True))
                    self.ops.append(pool)
                    self.names.append(f"pool{block - 1}")
                w, b = weights.convs[name]
                conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
                conv.weight.data.copy_(w)
                assert conv.bias is not None
                conv.bias.data.copy_(b)
                self.ops.append(conv)
            else:
                self.ops.append(nn.ReLU())
            self.names.append(name)
        if weights.preprocessing is Preprocessing.CAFFE:
            # Caffe expects BGR: permute the first conv's input channels instead of the image.
            first = self.ops[0]
            assert isinstance(first, nn.Conv2d)
            first.weight.data = first.weight.data.flip(1).contiguous()
        self.requires_grad_(False)
        self.eval()
        # Gradient checkpointing per block: only on the view :meth:`checkpointed` returns, so that the
        # network shared by every Painter (pipeline.get_extractor caches it) is never changed.
        self.checkpoint = False
        self._checkpointed: VGG19Features | None = None

    def checkpointed(self) -> VGG19Features:
        """This network (the same modules and weights) run with gradient checkpointing per block,
        for scales whose memory plan asks for it."""
        view = self._checkpointed
        if view is None:
            view = copy.copy(self)
            view.__dict__["checkpoint"] = True
            view.__dict__["_checkpointed"] = view
            self.__dict__["_checkpointed"] = view  # a plain attribute, not a registered submodule
        return view

    def _forward_checkpointed(self, h: torch.Tensor, wanted: set[str], out: dict[str, torch.Tensor]) -> None:
        """Run block by block, keeping only block boundaries (and wanted layers) for the backward pass;
        each block's activations are recomputed there. Memory falls to about one block's worth at a
        cost of one extra forward pass."""
        from torch.utils.checkpoint import checkpoint

        blocks: list[list[int]] = [[]]
        for i, name in enumerate(self.names):
            if name.startswith("pool"):
                blocks.append([])
            blocks[-1].append(i)
        for idx in blocks:
            names = [self.names[i] for i in idx]
            keep = [n for n in names if n in wanted]

            def run(t: torch.Tensor, idx: list[int] = idx, keep: list[str] = keep) -> tuple[torch.Tensor, ...]:
                kept = []
                for i in idx:
                    t = self.ops[i](t)
                    if self.names[i] in keep:
                        kept.append(t)
                return (t, *kept)

            h, *kept = checkpoint(run, h, use_reentrant=False)
            out.update(zip(keep, kept))
            if len(out) == len(wanted):
                return

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] -> the network's input space (channel order handled by the first conv)."""
        return x * self.scale + self.shift

    def deprocess(self, y: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`preprocess`."""
        return (y - self.shift) / self.scale

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        wanted = set(self.layers if layers is None else layers)
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"image of {tuple(x.shape[-2:])} px is too small for VGG19; each side needs {MIN_SIZE}+")
        out: dict[str, torch.Tensor] = {}
        h = self.preprocess(x)
        if self.checkpoint and torch.is_grad_enabled() and h.requires_grad:
            self._forward_checkpointed(h, wanted, out)
        else:
            for name, op in zip(self.names, self.ops):
                h = op(h)
                if name in wanted:
                    out[name] = h
                    if len(out) == len(wanted):
                        break
        missing = wanted - out.keys()
        if missing:
            raise ValueError(f"layers {sorted(missing)} lie beyond this extractor's deepest layer {LAYER_NAMES[self.deepest]}")
        return out


# A painting larger than this many pixels has its statistics taken from a sample of positions, read in blocks
# (:func:`sampled_features`): its whole pass needs about 1 kB a pixel (0.5 GB here; a gatys tile's targets at print size).
BLOCKWISE_PIXELS = 2**19
BLOCK, BLOCK_MARGIN = 512, 96  # px, multiples of 32 (block 5's pooling grid): a block, and the margin it is seen with
SAMPLE_POSITIONS = 2**15  # positions kept per layer (at least 8 a quantile of the swd's 4096), evenly spaced


@torch.no_grad()
def sampled_features(extractor: VGG19Features, image: torch.Tensor, layers: Iterable[str],
                     positions: int = SAMPLE_POSITIONS) -> dict[str, torch.Tensor]:
    """Each of ``layers``' activations of ``image`` (1, 3, H, W, in memory or a mapped file: painterly.spill) at
    about ``positions`` evenly spaced positions of the whole image, as (1, C, 1, N): read a block of :data:`BLOCK`
    px at a time, each seen with :data:`BLOCK_MARGIN` px all round, so that memory is a block's at any size. The
    activations near a block's edge differ from the whole image's only where the margin is narrower than the layer's
    reach (the deepest layers): a distribution's statistics (the swd quantiles) barely move."""
    layers = list(layers)
    h, w = image.shape[-2:]
    device = next(extractor.buffers()).device
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in layers}
    for top in range(0, h, BLOCK):
        for left in range(0, w, BLOCK):
            t0, l0 = max(0, top - BLOCK_MARGIN), max(0, left - BLOCK_MARGIN)
            seen = image[..., t0:min(h, top + BLOCK + BLOCK_MARGIN), l0:min(w, left + BLOCK + BLOCK_MARGIN)]
            feats = extractor(seen.to(device), layers)
            for k in layers:
                f, (s, step) = feats[k][0].float(), sample_grid((h, w), k, positions)  # one grid over the whole image
                rows = _on_grid(top // s, min(h, top + BLOCK) // s, step) - t0 // s
                cols = _on_grid(left // s, min(w, left + BLOCK) // s, step) - l0 // s
                rows, cols = rows[rows < f.shape[1]], cols[cols < f.shape[2]]
                parts[k].append(f[:, rows][:, :, cols].flatten(1))
            spill.trim()
    return {k: torch.cat(p, 1)[None, :, None] for k, p in parts.items()}


def sample_grid(hw: tuple[int, int], layer: str, positions: int) -> tuple[int, int]:
    """(the stride of ``layer`` in px, the step between samples, in its positions, of an even grid of about
    ``positions`` over a picture of ``hw``)."""
    s = 2 ** (vgg.block(layer) - 1)
    return s, max(1, round((hw[0] * hw[1] / s**2 / positions) ** 0.5))


def _on_grid(start: int, stop: int, step: int) -> torch.Tensor:
    """The multiples of ``step`` in ``start..stop``."""
    return torch.arange(-(-start // step) * step, stop, step)
