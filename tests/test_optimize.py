"""The optimisation loop on small analytic objectives (the network's end-to-end runs are elsewhere)."""

import torch

from painterly import optimize as optimize_module
from painterly.config import Optimizer
from painterly.optimize import optimize

TARGET = torch.linspace(0.2, 0.8, 2 * 3 * 4 * 4).view(1, 3, 4, 8)


def quadratic(spike_at: int | None = None, factor: float = 1e8):
    """Sum of squares to TARGET; the loss of call ``spike_at`` is scaled by ``factor`` (not its
    gradient), as when one step without line search lands far out and the next comes back."""
    calls = [0]

    def objective(x):
        calls[0] += 1
        loss = ((x - TARGET) ** 2).sum() * 100
        if calls[0] == spike_at:
            loss = loss + (factor - 1) * loss.detach()
        return loss, {"content": loss}

    return objective


def test_lbfgs_converges_on_a_quadratic():
    res = optimize(torch.full((1, 3, 4, 8), 0.5), quadratic(), optimizer=Optimizer.LBFGS, iterations=30, lr=1.0)
    assert res.loss < 1e-6 and torch.allclose(res.image, TARGET, atol=1e-3)


def test_lbfgs_rides_out_a_single_overshoot():
    # One wild step is normal without a line search (the content reconstructions in
    # test_explain make one of 1e5 times the loss): L-BFGS comes back at once, and nothing
    # below BLOWUP is undone.
    losses = []
    res = optimize(torch.full((1, 3, 4, 8), 0.5), quadratic(spike_at=2, factor=1e5), optimizer=Optimizer.LBFGS,
                   iterations=30, lr=1.0, report=lambda i, value, terms, img: losses.append(value))
    assert len(losses) == 30 and losses[1] > 1e4 * losses[0]
    assert res.loss < 1e-6 and torch.allclose(res.image, TARGET, atol=1e-3)


def quartic(x):
    """An ill-conditioned quadratic plus a quartic wall, like the Gram loss far from its target."""
    d = x - TARGET
    loss = (torch.logspace(0, 4, d.numel()).view_as(d) * d**2).sum() + 1e3 * (d**4).sum()
    return loss, {"style": loss}


def test_lbfgs_restarts_with_shorter_steps_when_it_blows_up(monkeypatch):
    # Steps 10 times too long run up the wall again and again; with the restarts disabled the
    # run ends where it first went off course (measured 3.1e3), with them far lower (144).
    def run():
        return optimize(torch.zeros(1, 3, 4, 8), quartic, optimizer=Optimizer.LBFGS, iterations=30, lr=10.0)

    with monkeypatch.context() as m:
        m.setattr(optimize_module, "MAX_RESTARTS", 0)
        stuck = run()
    res = run()
    assert stuck.loss > 3e3 and res.loss < 300 and res.iterations == 30


def test_adam_stops_on_a_non_finite_loss():
    res = optimize(torch.full((1, 3, 4, 8), 0.5), quadratic(spike_at=3, factor=float("inf")), optimizer=Optimizer.ADAM,
                   iterations=30, lr=0.01)
    assert res.iterations == 3 and res.loss < float("inf")


def clamped_cosine(x):
    """A bounded loss of the image seen clamped to [0, 1], like --method nnst's: a step that lands
    outside [0, 1] finds no gradient there, however far it went."""
    seen = x.clamp(0, 1).flatten()
    loss = 1 - torch.nn.functional.cosine_similarity(seen - 0.5, TARGET.flatten() - 0.5, dim=0)
    return loss, {"style": loss}


def test_a_step_that_leaves_a_bounded_loss_stuck_is_undone_with_a_small_blowup():
    # Steps 100 times too long send the image out of [0, 1]: the loss rises at most to 2 (so the
    # 1e6x guard never fires), and the pixels left outside get no gradient back (measured: 15% of the
    # start's loss after 30 iterations); a guard of 2x undoes such a step (0.2%).
    def run(**kw):
        return optimize(torch.full((1, 3, 4, 8), 0.45) + 0.1 * (TARGET - 0.5), clamped_cosine,
                        optimizer=Optimizer.LBFGS, iterations=30, lr=100.0, **kw)

    start = float(clamped_cosine(torch.full((1, 3, 4, 8), 0.45) + 0.1 * (TARGET - 0.5))[0])
    stuck, res = run(), run(blowup=2.0)
    assert stuck.loss > 0.1 * start and res.loss < 0.01 * start
