"""nnst's default optimiser (config.OPTIMIZERS): Adam, whose steps are bounded per coefficient."""

import pytest

from conftest import EXAMPLES
from painterly import neighbors as nb
from painterly.config import Optimizer, StyleConfig
from painterly.images import load_image, resize
from painterly.optimize import optimize
from painterly.pyramid import LaplacianCoordinates

HW = (48, 64)  # the first scale of a 512 px run of the bundled photo


@pytest.mark.slow
def test_the_default_optimiser_paints_nnsts_first_scale(extractor):
    """Adam at its default step, in Laplacian coordinates, from the photo: 20 iterations take the loss to
    0.73x the start's (measured; the finest levels move by a fraction of the step), where a scale that stays
    at its start would be 1x."""
    cfg = StyleConfig()
    assert cfg.solver is Optimizer.ADAM and cfg.history == 1
    photo = resize(load_image(EXAMPLES / "building.jpg").rgb, HW)
    style = resize(load_image(EXAMPLES / "starry_night.jpg").rgb, HW)
    objective = nb.NeighborObjective(extractor, photo, nb.StyleBank.of(extractor, [style], [1.0]),
                                     weight=cfg.style_weight_in_use, content_weight=cfg.content_weight * nb.CONTENT_SCALE)
    start = float(objective(photo)[0])
    res = optimize(photo, objective, optimizer=cfg.solver, iterations=20, lr=cfg.lr, patience=cfg.patience,
                   coordinates=LaplacianCoordinates(HW), blowup=nb.BLOWUP)
    assert res.iterations == 20 and res.loss < 0.8 * start
