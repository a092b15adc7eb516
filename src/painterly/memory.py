"""A memory plan made before any heavy work: will this size fit, and how?

The estimate counts what autograd keeps for the backward pass through VGG19 (each ReLU's and
pooling's output, float32), the gradients alive at the widest layer, the L-BFGS history
(2 vectors of the image's size per step kept) and a fixed base (the interpreter, torch, the
weights). When it does not fit in the budget (``--max-memory``, else 85% of the memory
available now), the plan switches on gradient checkpointing per VGG block (one extra forward
pass, activations of one block alive), then shortens the L-BFGS history; if it still does not
fit it refuses with the size that would. On a CUDA GPU the same plan is made from the GPU's free
memory (``torch.cuda.mem_get_info``, read after the network is on the GPU, so the weights and
CUDA's context are already counted out) and a smaller fixed base (:data:`GPU_BASE_BYTES`).

``heap_has_room`` says whether a plan leaves room for malloc to keep freed memory for
reuse (painterly.allocator; its cost and gain are in docs/performance.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import vgg
from .config import StyleConfig, StyleLossKind
from .errors import ConfigError
from .vgg import LAYER_NAMES, MIN_SIZE, RELU_LAYERS

BASE_BYTES = 700 * 2**20
# On a GPU: cuDNN's workspaces and the caching allocator's slack. A margin, not a measurement:
# no GPU was at hand where this was written (docs/performance.md says what has been measured).
GPU_BASE_BYTES = 512 * 2**20
BUDGET_SHARE = 0.85  # of the memory available (or free on the GPU) when --max-memory is not given
# Peak RSS with painterly.allocator.keep_freed_memory on can exceed the plan's estimate (up to 1.54x
# measured at 4K: docs/performance.md). With margin:
HEAP_SLACK = 1.6


@dataclass(frozen=True)
class MemoryPlan:
    """How a scale runs within ``budget_bytes``: gradient checkpointing or not, the L-BFGS history, the
    estimated peak, and ``tile``: None for the whole scale at once, else the tile size (px) it is painted in
    (painterly.tiles), the estimate being one tile's work and the whole picture's buffers."""

    checkpoint: bool
    lbfgs_history: int
    estimate_bytes: int
    budget_bytes: int
    tile: int | None = None


def available_bytes() -> int:
    """Memory available to this process now (MemAvailable, capped by a cgroup limit if any)."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
            if text.isdigit():
                avail = min(avail, int(text))
        except OSError:
            pass
    return avail


def _side(n: int, halvings: int) -> int:  # the network pools with ceil_mode
    return -(-n // (1 << halvings))


def layer_values(layer: str, hw: tuple[int, int]) -> int:
    """Values in ``layer``'s output for an input of ``hw``."""
    b = vgg.block(layer)
    return vgg.channels(layer) * _side(hw[0], b - 1) * _side(hw[1], b - 1)


def targets_pass_bytes(hw: tuple[int, int], layers: tuple[str, ...]) -> int:
    """Bytes of a pass without gradients over an image of ``hw`` that keeps ``layers``' outputs (a painting's style
    targets): those outputs, and the widest layer's input and output alive together (64 channels at full size)."""
    return 4 * (sum(layer_values(k, hw) for k in layers) + 2 * 64 * hw[0] * hw[1])


def activation_bytes(hw: tuple[int, int], deepest: str, checkpoint: bool) -> int:
    """Bytes of activations kept for the backward pass (float32, batch 1)."""
    h, w = hw
    stop = LAYER_NAMES.index(deepest)

    per_block: dict[int, int] = {}
    for name in RELU_LAYERS:
        if LAYER_NAMES.index(name) <= stop:
            b = vgg.block(name)
            per_block[b] = per_block.get(b, 0) + layer_values(name, hw)
    pools = sum(vgg.CHANNELS[b - 1] * _side(h, b) * _side(w, b) for b in per_block if b < max(per_block))
    widest = 2 * vgg.CHANNELS[0] * h * w  # gradient and activation alive at the first block
    kept = (max(per_block.values()) + pools) if checkpoint else sum(per_block.values()) + pools
    return 4 * (kept + 2 * widest)


def style_loss_bytes(hw: tuple[int, int], layers: tuple[str, ...], kind: StyleLossKind) -> int:
    """Bytes the style loss adds to the network's: for ``swd``, one gradient map per style layer
    kept for the backward pass, and a block of projections (painterly.losses: at most 2**22
    values, and their goal and ranks) while it is computed. The Gram losses' C x C matrices
    are small."""
    if StyleLossKind(kind) is not StyleLossKind.SWD:
        return 0
    sizes = [layer_values(k, hw) for k in layers]
    return 4 * (sum(sizes) + 6 * min(max(sizes, default=0), 2**22))


def budget_bytes(max_memory_gb: float | None, free_bytes: int | None = None) -> int:
    """``--max-memory`` in bytes if given, else :data:`BUDGET_SHARE` of ``free_bytes`` (a GPU's free
    memory) or, where that is None, of the memory available to this process (:func:`available_bytes`)."""
    if max_memory_gb:
        return int(max_memory_gb * 2**30)
    return int(BUDGET_SHARE * (free_bytes if free_bytes is not None else available_bytes()))


def plan(hw: tuple[int, int], deepest: str, history: int, max_memory_gb: float | None = None,
         extra_bytes: int = 0, *, free_bytes: int | None = None, base_bytes: int = BASE_BYTES,
         where: str = "", needs: Callable[[tuple[int, int]], tuple[int, int]] | None = None,
         run_fits: Callable[[int], bool] | None = None) -> MemoryPlan:
    """The plan for a scale of ``hw``; ``extra_bytes``: what the losses add (:func:`style_loss_bytes`);
    ``free_bytes``, ``base_bytes``: a GPU's free memory and fixed base (the CPU's when not given);
    ``where``: the device, for the refusal (`` on cuda:0``). A refusal names the largest ``--size`` whose
    plan fits; ``needs(hw)``: the history and extra bytes of a run at that size (default: this scale's
    history, and extra bytes in proportion to the pixels); ``run_fits(n)``: whether a run at ``--size n`` fits at
    every scale, where the refusal's size must hold for the whole run (:func:`largest_run`)."""
    budget = budget_bytes(max_memory_gb, free_bytes)
    fitted = _fit(hw, deepest, history, budget, base_bytes, extra_bytes)
    if fitted is not None:
        return fitted
    needs = needs or (lambda s: (history, extra_bytes * s[0] * s[1] // max(hw[0] * hw[1], 1)))

    def fits_at(size: tuple[int, int]) -> bool:
        size_history, size_extra = needs(size)
        return _fit(size, deepest, size_history, budget, base_bytes, size_extra) is not None

    fits = largest_run(_largest_fitting(hw, fits_at), run_fits)
    need = activation_bytes(hw, deepest, True) + extra_bytes
    least = base_bytes + need + 2 * 4 * 3 * hw[0] * hw[1] * min(history, 5)  # checkpointed, shortest L-BFGS history
    if free_bytes is not None and not max_memory_gb:  # a GPU's free memory: --max-memory cannot add to it
        what = f"use --size {fits} or less" if fits else "free memory on that GPU, or use --device cpu"
    else:
        what = f"use --size {fits} or less, or raise --max-memory" if fits else \
            f"raise --max-memory to {least / 2**30:.2g} or more"
    raise ConfigError(f"--size {max(hw)}: needs about {least / 2**30:.2g} GB, "
                      f"but only {budget / 2**30:.1f} GB is available{where}; {what}")


def tile_plan(hw: tuple[int, int], deepest: str, history: int, max_memory_gb: float | None,
              tile_extra: Callable[[tuple[int, int], tuple[int, int]], int], whole: Callable[[tuple[int, int]], int], *,
              tile: int | None = None, smallest: int, align: int, free_bytes: int | None = None,
              base_bytes: int = BASE_BYTES, where: str = "", run_fits: Callable[[int], bool] | None = None) -> MemoryPlan:
    """The plan of a scale of ``hw`` painted in tiles: of ``tile`` px (``--tile-size``), else the largest
    multiple of ``align`` px, at least ``smallest``, whose plan fits. A tile's plan is :func:`plan`'s for
    the tile (``align`` px larger: the last tile's reach), with ``tile_extra(scale_hw, tile_hw)`` for its losses,
    over a base raised by ``whole(hw)``: the whole picture's buffers. Raises :class:`ConfigError` when
    no tile fits, naming the ``--size`` (or ``--tile-size``) that would (``run_fits``: as :func:`plan`'s)."""
    budget = budget_bytes(max_memory_gb, free_bytes)

    def fit(size: tuple[int, int], t: int) -> MemoryPlan | None:
        th = (min(size[0], t + align), min(size[1], t + align))
        fitted = _fit(th, deepest, history, budget, base_bytes + whole(size), tile_extra(size, th))
        return None if fitted is None else replace(fitted, tile=t)

    if tile is not None:
        fitted = fit(hw, tile)
        if fitted is None:
            smaller = _largest_fitting((tile, tile), lambda s: fit(hw, s[0]) is not None)
            what = f"use --tile-size {smaller // align * align} or less" if smaller and smaller >= smallest else \
                "raise --max-memory or lower --size"
            raise ConfigError(f"--tile-size {tile}: a {hw[1]}x{hw[0]} px scale in tiles of {tile} px needs more than "
                              f"the {budget / 2**30:.1f} GB available{where}; {what}")
        return fitted
    largest = _largest_fitting((max(hw), max(hw)), lambda s: fit(hw, s[0]) is not None)
    if largest is not None and largest >= smallest:
        fitted = fit(hw, max(smallest, largest // align * align))
        assert fitted is not None
        return fitted
    fits = largest_run(_largest_fitting(hw, lambda s: fit(s, smallest) is not None), run_fits)
    th = (smallest + align, smallest + align)
    least = (base_bytes + whole(hw) + activation_bytes(th, deepest, True) + tile_extra(hw, th)
             + 2 * 4 * 3 * th[0] * th[1] * min(history, 5))
    what = f"use --size {fits} or less, or raise --max-memory" if fits else \
        f"raise --max-memory to {least / 2**30:.2g} or more"
    raise ConfigError(f"--size {max(hw)}: needs about {least / 2**30:.2g} GB even in tiles of {smallest} px (what the "
                      f"scale needs whole: the picture's buffers, the painting's features), but only "
                      f"{budget / 2**30:.1f} GB is available{where}; {what}")


def _fit(hw: tuple[int, int], deepest: str, history: int, budget: int, base: int, extra: int) -> MemoryPlan | None:
    """Plain if it fits, else checkpointed, each with the L-BFGS history shortened to what fits (at least
    5, or ``history`` if less); None if neither fits ``budget``."""
    pixels = 3 * hw[0] * hw[1]
    for checkpoint in (False, True):
        acts = activation_bytes(hw, deepest, checkpoint) + extra
        room = budget - base - acts
        if room <= 0:
            continue
        fit_history = min(history, room // (2 * 4 * pixels + 1))
        if fit_history >= min(history, 5):
            return MemoryPlan(checkpoint, int(fit_history), base + acts + 2 * 4 * pixels * fit_history, budget)
    return None


def largest_run(size: int | None, run_fits: Callable[[int], bool] | None, step: float = 0.98) -> int | None:
    """``size`` (a scale's own answer: the largest that fits at that scale) if no ``run_fits`` is given, else the
    first of ``size``, ``step`` times it, and so on down to MIN_SIZE, whose whole run fits. A scan, not a bisection:
    a smaller run does not always fit where a larger one does (a coarser scale below painterly.spill's size is held
    in memory where a larger one is kept in mapped files; nnst reads a painting in one piece below
    neighbors.WHOLE_PIXELS, in blocks above it)."""
    if size is None or run_fits is None:
        return size
    while size >= MIN_SIZE:
        if run_fits(size):
            return size
        size = int(size * step)
    return None


def _largest_fitting(hw: tuple[int, int], fits: Callable[[tuple[int, int]], bool]) -> int | None:
    """The largest long edge (of ``hw``'s shape, at least MIN_SIZE on the short side's scale) that ``fits``;
    None if none does. Memory grows with the size, so a bisection finds it."""
    def shape(long: int) -> tuple[int, int]:
        return (max(1, round(hw[0] * long / max(hw))), max(1, round(hw[1] * long / max(hw))))

    low, high = MIN_SIZE, max(hw) - 1
    if high < low or not fits(shape(low)):
        return None
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(shape(mid)) else (low, mid - 1)
    return low


def out_of_memory(hw: tuple[int, int], where: str, p: MemoryPlan | None) -> str:
    """The one line for a device that ran out of memory mid-run at a scale of ``hw`` although its plan
    ``p`` said it fits (another process took memory, or the estimate was short): a size with half
    the pixels, and the lever that makes the plan checkpoint sooner."""
    expected = (f" (its plan expected about {p.estimate_bytes / 2**30:.2g} of {p.budget_bytes / 2**30:.2g} GB)"
                if p is not None else "")
    fits = int(max(hw) * 0.5**0.5)
    what = f"use --size {fits} or less, or" if fits >= MIN_SIZE else "free memory on it, or use"
    return (f"out of memory on {where} at the {hw[1]}x{hw[0]} px scale{expected}; {what} "
            "a smaller --max-memory (GB) so that gradient checkpointing starts sooner")


def process_bytes(cfg: StyleConfig) -> int:
    """The peak of one process painting ``cfg`` at its largest scale, taken square (the worst case),
    with malloc keeping freed memory (:data:`HEAP_SLACK`): what a pool of workers must leave room for, each."""
    hw = (cfg.size, cfg.size)
    deepest = vgg.deepest(cfg.style_layers + cfg.content_layers)
    history = cfg.history
    plan = (BASE_BYTES + activation_bytes(hw, deepest, False) + style_loss_bytes(hw, cfg.style_layers, cfg.style_loss)
            + 2 * 4 * 3 * hw[0] * hw[1] * history)
    return int(HEAP_SLACK * plan)


def heap_has_room(p: MemoryPlan) -> bool:
    """Whether the scale fits its budget with malloc's heap keeping freed memory (no
    checkpointing, and ``HEAP_SLACK`` times the estimate within the budget)."""
    return not p.checkpoint and p.estimate_bytes * HEAP_SLACK <= p.budget_bytes
