"""VGG19's topology, in one place: its layers' names, blocks and channels.

Layer names follow the VGG paper and Gatys et al.: ``conv<block>_<i>`` and ``relu<block>_<i>``,
five blocks of 2, 2, 4, 4 and 4 convolutions with 64, 128, 256, 512 and 512 channels, a 2x2
pooling before every block but the first. The feature extractor, the weights reader, the memory
model and the mask pyramid read the network's shape from here.
"""

from __future__ import annotations

from collections.abc import Iterable

BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block
CHANNELS = (64, 128, 256, 512, 512)  # per block
LAYER_NAMES: tuple[str, ...] = tuple(
    f"{kind}{b + 1}_{i + 1}" for b, n in enumerate(BLOCKS) for i in range(n) for kind in ("conv", "relu"))
RELU_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("relu"))
CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))
# The smallest side the network accepts: the last block sits behind four 2x2 poolings, so a
# side below 16 px leaves it with no positions at all.
MIN_SIZE = 2 ** (len(BLOCKS) - 1)
# The deepest layer every network is built to, so that all commands share one cached network.
SHARED_DEPTH = "relu5_1"


def unknown_layers(layers: Iterable[str]) -> str | None:
    """What is wrong with these layer names, for a message (``unknown layer 'relu9_9'; layers are named like
    ...``), or None when every one is VGG19's: the one check of a user's layer names."""
    bad = [name for name in layers if name not in LAYER_NAMES]
    if not bad:
        return None
    listed = ", ".join(repr(name) for name in bad)
    return f"unknown layer{'s' if len(bad) > 1 else ''} {listed}; layers are named like relu4_2 (conv1_1 ... relu5_4)"


def position(layer: str) -> tuple[int, int]:
    """(block, index in the block), both 1-based, of a layer name: ``relu3_2`` -> (3, 2). The one
    place a name is taken apart."""
    if layer not in LAYER_NAMES:
        raise ValueError(f"not a VGG19 layer name: {layer!r}")
    b, i = layer.rsplit("_", 1)
    return int(b[-1]), int(i)


def block(layer: str) -> int:
    """1-based block of a layer name (``relu3_1`` -> 3): the number of poolings before it, plus 1."""
    return position(layer)[0]


def channels(layer: str) -> int:
    """Channels of a layer's output (``relu3_1`` -> 256)."""
    return CHANNELS[block(layer) - 1]


def conv_shapes() -> dict[str, tuple[int, int]]:
    """(out, in) channels of each convolution, in order."""
    shapes, c = {}, 3
    for name in CONV_NAMES:
        shapes[name] = (channels(name), c)
        c = channels(name)
    return shapes


def deepest(layers: Iterable[str]) -> str:
    """The deepest of these layers: where a forward pass for them stops."""
    return max(layers, key=LAYER_NAMES.index)


def network_depth(layers: Iterable[str]) -> str:
    """The depth to build a network to for these layers: their deepest, and at least :data:`SHARED_DEPTH`,
    so that every command's network is the same cached one."""
    return deepest((*layers, SHARED_DEPTH))
