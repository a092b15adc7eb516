"""Neural Neighbor Style Transfer's last pass: the output's features matched layer by layer.

At the last scale (the output's size), Kolkin et al. (2022) match each layer's features on their own
("feature splitting") instead of whole hypercolumns: every position of a layer is pulled towards its
nearest (centred cosine) among the painting's features of that layer, found again at every step. A
hypercolumn's neighbour must agree with the photo at every depth at once; a layer alone is free to
take the painting's own fine marks where the hypercolumn took a compromise (a smooth sky's one
repeated column, which the optimiser can only meet with a periodic speckle). Only the shallow layers
(:data:`BLOCKS`): the deep ones, matched alone, rebuild the painting's objects.

Deviations from the paper's code, for a CPU: the painting's features are the scale's bank's
(painterly.neighbors.StyleBank: its hypercolumns split back into layers, the same positions and
rotations), at most :data:`SAMPLES` of them, evenly spaced; each evaluation compares :data:`QUERIES` of
the output's positions per layer, drawn by a generator of its own (the same draws every run, whichever
thread paints); the term is added to the hypercolumn term of the last scale rather than run after it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from . import vgg

# The layers matched on their own: blocks 1 and 2 (the painting's brush marks and grain). Blocks 3 and 4
# matched alone rebuild the painting's objects: the bundled building's window panels, bright squares on a
# dark grid, became The Starry Night's stars, crisp, with blocks 1-4 (soft glows with blocks 1-2, as without
# the pass), and the photo drifted (eval's content 0.73 against neural-style's 0.61 on Golden Gate x The Scream).
BLOCKS = 2
SAMPLES = 2048  # the painting's features per layer compared
QUERIES = 1024  # the output's positions per layer compared at each evaluation
# The term's weight against the hypercolumn term (both a mean cosine distance, so at most 2).
WEIGHT = 1.0


def work_bytes(channels: int) -> int:
    """What the match of hypercolumns of ``channels`` holds (the painting's features, float32) and makes at an
    evaluation (the distances and their gradient, a layer at a time), for the memory plan."""
    return 4 * (SAMPLES * channels + 2 * QUERIES * SAMPLES)


def unit_centred(x: torch.Tensor, centre: torch.Tensor | None = None) -> torch.Tensor:
    """The rows of ``x`` (N, D) centred on their mean (or on ``centre``, (D,)) and scaled to unit length: their
    dot products are the centred cosine similarity that the hypercolumn search (painterly.neighbors.nearest)
    and this match compare by."""
    x = x - (x.mean(0, keepdim=True) if centre is None else centre.reshape(1, -1).to(x))
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)


class LayerMatch:
    """``match(feats) -> loss``: the mean over the layers of ``layers`` in :data:`BLOCKS` of the centred cosine
    distance from sampled positions of each layer of ``feats`` to their nearest among the painting's features
    of that layer, taken from ``columns`` (M, sum C): hypercolumns whose channels are ``layers``' in order."""

    def __init__(self, columns: torch.Tensor, layers: Sequence[str]):
        rows = columns[torch.linspace(0, len(columns) - 1, min(SAMPLES, len(columns))).long()]
        self.layers: tuple[str, ...] = ()
        self.refs: list[torch.Tensor] = []
        start = 0
        for k in layers:
            if vgg.block(k) <= BLOCKS:
                self.layers += (k,)
                self.refs.append(unit_centred(rows[:, start:start + vgg.channels(k)].float()))
            start += vgg.channels(k)
        self.draws = torch.Generator().manual_seed(0)

    def __call__(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros((), device=self.refs[0].device)
        for k, ref in zip(self.layers, self.refs):
            f = feats[k][0].flatten(1)  # (C, N)
            at = torch.randint(0, f.shape[1], (min(QUERIES, f.shape[1]),), generator=self.draws).to(f.device)
            q = unit_centred(f[:, at].T.float())
            total = total + (1 - (q @ ref.to(q).T).amax(1)).mean()
        return total / len(self.layers)
