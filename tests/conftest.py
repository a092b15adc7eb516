from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True, scope="session")
def _threads() -> None:
    # The tests run small images: one thread is as fast as two there, and several times faster
    # when the other core is busy (OpenMP workers spin-wait against other processes).
    torch.set_num_threads(1)


@pytest.fixture
def content_path() -> Path:
    return DATA / "content.png"


@pytest.fixture
def style_path() -> Path:
    return DATA / "style.png"


@pytest.fixture
def style2_path() -> Path:
    return DATA / "style2.png"


@pytest.fixture(scope="session")
def weights():
    from painterly.weights import load_weights

    return load_weights()


@pytest.fixture(scope="session")
def extractor(weights):
    from painterly.features import VGG19Features

    return VGG19Features(weights, ["relu5_1"])


@pytest.fixture
def tiny():
    """Options for fast end-to-end runs with the real network."""
    from painterly.config import StyleConfig

    return StyleConfig(size=64, iterations=15, multiscale=False, seed=1)


@pytest.fixture
def prepares(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every call of ``Controls.prepare`` (the real one runs), as the content's (H, W): a painting is
    prepared once, and nothing downstream prepares it again."""
    from painterly.controls import Controls

    calls: list[tuple[int, int]] = []
    real = Controls.prepare.__func__  # type: ignore[attr-defined]

    def counted(cls, content, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(tuple(content.shape[-2:]))
        return real(cls, content, *args, **kwargs)

    monkeypatch.setattr(Controls, "prepare", classmethod(counted))
    return calls


def sky_and_wall(size: int) -> torch.Tensor:
    """A size x size picture: a blue sky over a brick wall, with grain."""
    y = torch.linspace(0, 1, size)[:, None].expand(size, size)
    x = torch.linspace(0, 1, size)[None, :].expand(size, size)
    sky = torch.stack([0.35 + 0.2 * y, 0.55 + 0.2 * y, 0.95 - 0.1 * x])
    rows, cols = torch.arange(size)[:, None] % 12, (torch.arange(size)[None, :] + 12 * (torch.arange(size)[:, None] // 12 % 2)) % 24
    mortar = ((rows < 2) | (cols < 2)).float()
    wall = torch.stack([0.65 - 0.4 * mortar * -1, 0.25 + 0.5 * mortar, 0.2 + 0.55 * mortar]).clamp(0, 1)
    top = (torch.arange(size) < size // 2).float()[:, None]
    # Grain: on flat colours the optimiser stalls at 128 px (L-BFGS's third step overshoots and the best
    # iterate stays the start, painted whole or tiled), which would leave nothing to compare.
    grain = 0.06 * torch.randn(3, size, size, generator=torch.Generator().manual_seed(0))
    return (top * sky + (1 - top) * wall + grain).clamp(0, 1)[None]
