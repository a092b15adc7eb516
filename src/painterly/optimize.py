"""The single-scale optimisation loop. It reports each iteration through a callback and
never talks to the terminal; Ctrl-C surfaces as :class:`Interrupted` carrying the best
image so far."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from .config import Optimizer

# objective(image) -> (total loss, {term name: value})
ObjectiveFn = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
# report(iteration, loss, terms, current image)
ReportFn = Callable[[int, float, dict[str, float], torch.Tensor], None]


class Coordinates(Protocol):
    """What the optimiser moves instead of the pixels (painterly.pyramid.LaplacianCoordinates):
    ``decode(encode(image)) == image``."""

    def encode(self, image: torch.Tensor) -> torch.Tensor: ...

    def decode(self, params: torch.Tensor) -> torch.Tensor: ...


class _Pixels:
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return image

    def decode(self, params: torch.Tensor) -> torch.Tensor:
        return params


# Without a line search an L-BFGS step can overshoot by orders of magnitude. Most such steps
# are harmless: the curvature pair they leave teaches L-BFGS the scale and the next step comes
# back (a content reconstruction from noise: 1e5 times the loss, then on). On the quartic Gram
# loss a step can land so far out that the pair it leaves makes every later step tiny (a masked
# style transfer: 2e22 times the loss, then stuck at the content), and on the sliced-Wasserstein
# loss the second step from a photo lands 1e9 times the loss out and takes more than 20 steps
# to come back (Tuebingen x The Scream, 256 px). Such a step is undone and L-BFGS starts
# afresh with shorter steps.
BLOWUP = 1e6
MAX_RESTARTS = 5


class Interrupted(Exception):
    """Raised when the user interrupts (Ctrl-C); ``image`` is the best image so far."""

    def __init__(self, image: torch.Tensor):
        super().__init__("interrupted")
        self.image = image


@dataclass(frozen=True)
class OptimizeResult:
    image: torch.Tensor  # the best iterate, clamped to [0, 1]
    loss: float
    iterations: int
    stopped_early: bool


def optimize(
    init: torch.Tensor,
    objective: ObjectiveFn,
    *,
    optimizer: Optimizer,
    iterations: int,
    lr: float,
    lbfgs_history: int = 100,
    tolerance: float = 1e-4,
    patience: int = 20,
    report: ReportFn | None = None,
    coordinates: Coordinates | None = None,
    blowup: float = BLOWUP,
) -> OptimizeResult:
    """Minimise ``objective`` over the pixels of ``init`` ((1, 3, H, W) in [0, 1]).

    Stops after ``iterations``, or earlier when the loss improved by less than
    ``tolerance`` (relative) over the last ``patience`` iterations. L-BFGS runs without a
    line search (one function evaluation per iteration), as in jcjohnson/neural-style;
    when the loss becomes non-finite or ``blowup`` times the best so far, the image
    goes back to the best iterate and L-BFGS forgets its curvature pairs and halves its
    step length, at most :data:`MAX_RESTARTS` times. Adam clamps to [0, 1] after each step.
    With ``coordinates`` the optimiser moves ``coordinates.encode(init)`` instead of the pixels
    (nothing is clamped but the images it reports and returns). A bounded loss wants a smaller
    ``blowup`` (:data:`painterly.neighbors.BLOWUP`).
    """
    coords = coordinates or _Pixels()
    x = coords.encode(init.detach()).clone(memory_format=torch.contiguous_format).requires_grad_(True)
    opt = _make_optimizer(optimizer, x, lr, lbfgs_history)
    ev = _Evaluations(x, objective, opt, coords)
    history: list[float] = []

    done = restarts = 0
    stopped_early = False
    try:
        for i in range(1, iterations + 1):
            opt.step(ev)  # type: ignore[arg-type]  # torch's stub says float; a tensor is what it uses
            if optimizer is Optimizer.ADAM and coordinates is None:
                with torch.no_grad():
                    x.clamp_(0, 1)
            done = i
            value = ev.last["loss"]
            if not math.isfinite(value) or value > blowup * ev.best_loss:
                if optimizer is not Optimizer.LBFGS or restarts == MAX_RESTARTS:
                    break
                restarts += 1
                _restart(opt, x, coords.encode(ev.best))
                continue
            history.append(value)
            if report is not None:
                report(i, value, {k: v for k, v in ev.last.items() if k != "loss"}, coords.decode(x.detach()))
            if _stalled(history, patience, tolerance):
                stopped_early = True
                break
    except KeyboardInterrupt:
        raise Interrupted(ev.best) from None
    if iterations == 0:
        ev.best_loss = float(objective(coords.decode(x.detach()))[0])
    return OptimizeResult(ev.best, ev.best_loss, done, stopped_early)


class _Evaluations:
    """The closure the optimisers call: one evaluation of the objective and its gradient, keeping
    the best iterate so far and the last evaluation's terms."""

    def __init__(self, x: torch.Tensor, objective: ObjectiveFn, opt: torch.optim.Optimizer, coords: Coordinates):
        self.x, self.objective, self.opt, self.coords = x, objective, opt, coords
        self.best_loss, self.best = math.inf, coords.decode(x.detach()).clamp(0, 1)
        self.last: dict[str, float] = {}

    def __call__(self) -> torch.Tensor:
        self.opt.zero_grad(set_to_none=True)
        image = self.coords.decode(self.x)
        loss, terms = self.objective(image)
        loss.backward()
        value = float(loss.detach())
        if value < self.best_loss and math.isfinite(value):
            self.best_loss, self.best = value, image.detach().clamp(0, 1)
        self.last = {k: float(v.detach()) for k, v in terms.items()}
        self.last["loss"] = value
        return loss


def _make_optimizer(optimizer: Optimizer, x: torch.Tensor, lr: float, lbfgs_history: int) -> torch.optim.Optimizer:
    if optimizer is Optimizer.LBFGS:
        return torch.optim.LBFGS([x], lr=lr, max_iter=1, history_size=lbfgs_history,
                                 tolerance_grad=0.0, tolerance_change=0.0)
    return torch.optim.Adam([x], lr=lr)


def _restart(opt: torch.optim.Optimizer, x: torch.Tensor, best: torch.Tensor) -> None:
    """Back to the best iterate, and a fresh L-BFGS with steps half as long."""
    with torch.no_grad():
        x.copy_(best)
    opt.state.clear()
    for group in opt.param_groups:
        group["lr"] *= 0.5


def _stalled(history: list[float], patience: int, tolerance: float) -> bool:
    """The loss improved by less than ``tolerance`` (relative) over the last ``patience`` iterations."""
    if len(history) <= patience:
        return False
    past = history[-patience - 1]
    return past > 0 and (past - min(history[-patience:])) / past < tolerance
