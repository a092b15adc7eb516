"""The engine under every command: shared state and the one call of the optimiser."""

import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from painterly import Painter, StyleConfig, load_image
from painterly.scales import memory_plans

SRC = Path(__file__).parent.parent / "src" / "painterly"


def _checkpointing_budget(cfg: StyleConfig, hw: tuple[int, int]) -> float:
    """A --max-memory (GB) at which a scale of ``hw`` fits only with gradient checkpointing."""
    for gb in np.arange(0.6, 2.0, 0.002):
        try:
            if memory_plans([(hw, cfg.iterations)], cfg.replace(max_memory=float(gb)))[hw].checkpoint:
                return float(gb)
        except Exception:  # refused: too little memory even with checkpointing
            continue
    pytest.fail("no --max-memory makes this size checkpoint: the memory model changed; adjust the search")


@pytest.mark.slow
def test_two_painters_in_two_threads_do_not_interfere(content_path, style_path):
    content, style = load_image(content_path), load_image(style_path)
    plain = StyleConfig(size=64, iterations=6, multiscale=False, seed=2)
    hw = (48, 64) if content.rgb.shape[-1] > content.rgb.shape[-2] else (64, 48)
    ckpt = plain.replace(max_memory=_checkpointing_budget(plain, hw), seed=3)
    a, b = Painter(plain), Painter(ckpt)
    assert a.extractor is b.extractor  # one cached network, shared
    alone = [a.paint(content, [style]).image, b.paint(content, [style]).image]
    together: list[torch.Tensor | None] = [None, None]

    def run(i: int, painter: Painter) -> None:
        together[i] = painter.paint(content, [style]).image

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not a.extractor.checkpoint  # checkpointing ran on a view; the shared network is unchanged
    for got, want in zip(together, alone):
        assert got is not None and torch.equal(got, want)


def test_the_optimiser_is_called_from_the_engine_only():
    callers = [p.name for p in SRC.rglob("*.py") if re.search(r"\boptimize\(", p.read_text()) and p.name != "optimize.py"]
    assert callers == ["engine.py"]
