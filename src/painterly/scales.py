"""The scales of a painting: the schedule from coarse to fine, and each scale's memory plan.

:func:`scale_schedule` gives the sizes and iterations; :func:`plan_scales` gives each its memory plan
(:func:`memory_plans`: painterly.memory's estimate, made before the network loads) and, where the plan or
``--tile-size`` says so, the tile size it is painted in (painterly.tiles). :class:`Scale` is what the engine
(painterly.engine) runs; :func:`plan_scales` is the one way to make one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from . import devices, memory, neighbors, spill, tiles, tilestyle, vgg
from .config import ITERATION_REFERENCE_SIZE, Method, StyleConfig
from .errors import ConfigError
from .features import BLOCK, BLOCK_MARGIN, BLOCKWISE_PIXELS, SAMPLE_POSITIONS
from .images import fit_long_edge
from .objective import style_long_edge

Size = tuple[int, int]
Schedule = Sequence[tuple[Size, int]]  # [((H, W), iterations), ...] from coarse to fine


def scale_schedule(hw: tuple[int, int], cfg: StyleConfig) -> list[tuple[tuple[int, int], int]]:
    """[((H, W), iterations), ...] from coarse to fine, ending at ``hw``.

    Sizes shrink by ``scale_factor`` from the output down to ``min_scale_size`` (long
    edge). Each scale's budget depends on its own size only: ``iterations`` at a 512 px
    long edge (:data:`ITERATION_REFERENCE_SIZE`), and in proportion to 1/long edge
    elsewhere (scales below the method's budget floor, else ``min_scale_size``, count as that
    size: :data:`painterly.config.SCHEDULES`). So most iterations
    run at the cheap sizes, the finest scales of a large render only refine, and a
    256 px preview is exactly the first stage of any larger render of the same options:
    it shows the look the full render starts from and keeps. A single scale
    (``multiscale=False``) gets exactly ``iterations``.
    """
    plan = cfg.schedule
    if not cfg.multiscale:
        return [(hw, cfg.iterations)]
    sizes = [hw]
    long = max(hw) / plan.scale_factor
    while long >= plan.min_scale_size - 0.5:
        sizes.append(fit_long_edge(hw, round(long)))
        long /= plan.scale_factor
    sizes.reverse()
    ref = ITERATION_REFERENCE_SIZE * cfg.iterations
    floor = plan.budget_floor or plan.min_scale_size
    return [(s, max(min(cfg.iterations, 1), round(ref / max(*s, floor)))) for s in sizes]


def memory_plans(schedule: Sequence[tuple[tuple[int, int], int]], cfg: StyleConfig,
                 device: torch.device | None = None, *, tileable: bool = False, source_hw: Size | None = None,
                 name_a_size: bool = True) -> dict[tuple[int, int], memory.MemoryPlan] | None:
    """One memory plan per scale, on the CPU (``device`` None or cpu) and on a CUDA GPU (from its free
    memory now); None elsewhere (MPS: not planned). Refuses a size that cannot fit before any work, and
    checkpoints / shortens the L-BFGS history only at the scales that need it. Built from the
    full size down, so that a refusal names the size the user asked for. L-BFGS keeps at most
    one history pair per iteration, so a short scale needs no more. ``tileable`` (a caller that paints
    tiles, with options that can: :attr:`StyleConfig.tileable`): a scale larger than ``--tile-size``, or
    that does not fit whole, is planned in tiles (:func:`memory.tile_plan`), counting the whole picture's buffers
    at the scale's size, the output's (the schedule's last) and the photo's as loaded (``source_hw``:
    :func:`tiles.whole_bytes`). A coarser scale that cannot fit is refused with the largest ``--size`` whose
    every scale fits (``name_a_size``)."""
    if device is None or device.type == "cpu":
        free, base, where = None, memory.BASE_BYTES, ""
    elif device.type == "cuda":
        free, base, where = devices.free_bytes(device), memory.GPU_BASE_BYTES, f" on {devices.name(device)}"
    else:
        return None
    spilled = free is None  # on the CPU: large pictures are kept in mapped files (painterly.spill)
    tileable, out_hw, (deepest, extra) = tileable and cfg.tileable, schedule[-1][0], _losses(cfg, spilled)
    run_fits = _run_fits(out_hw, cfg, device, tileable, source_hw) if name_a_size else None

    def needs(hw: Size) -> tuple[int, int]:  # a run at --size max(hw): its last scale's history and extra bytes
        return min(cfg.history, max(scale_schedule(hw, cfg)[-1][1], 1)), extra(hw, hw)

    def planned(hw: Size, n: int) -> memory.MemoryPlan:
        history = min(cfg.history, max(n, 1))

        def whole(size: Size) -> int:  # at another size: a run whose output is that size (a refusal's --size)
            return tiles.whole_bytes(size, out_hw if size == hw else size, source_hw, spilled)

        refusing = run_fits if hw == out_hw else None  # a coarser scale's refusal is replaced below
        chosen = tile_for(hw, cfg) if tileable else None
        if chosen is None:
            try:
                return memory.plan(hw, deepest, history, cfg.max_memory, extra(hw, hw), free_bytes=free, base_bytes=base,
                                   where=where, needs=needs, run_fits=None if tileable else refusing)  # tiles may fit
            except ConfigError:
                if not tileable:
                    raise
        return memory.tile_plan(hw, deepest, history, cfg.max_memory,
                                lambda size, t: extra(size, t) + _whole_pass(cfg, t), whole, tile=chosen,
                                smallest=tiles.MIN_TILE, align=tiles.ALIGN, free_bytes=free, base_bytes=base, where=where,
                                run_fits=refusing)

    plans = {}
    for hw, n in reversed(schedule):
        try:
            plans[hw] = planned(hw, n)
        except ConfigError:
            if hw == out_hw or run_fits is None:  # the full size's refusal names a size whose run fits already
                raise
            size = memory.largest_run(int(max(out_hw) * 0.98), run_fits)
            what = f"use --size {size} or less, or raise --max-memory" if size else "raise --max-memory"
            raise ConfigError(f"--size {max(out_hw)}: its {hw[1]}x{hw[0]} px scale needs more than the "
                              f"{memory.budget_bytes(cfg.max_memory, free) / 2**30:.1f} GB available{where}, "
                              f"even in tiles; {what}") from None
    return plans


def _run_fits(out_hw: Size, cfg: StyleConfig, device: torch.device | None, tileable: bool,
              source_hw: Size | None) -> Callable[[int], bool]:
    """Whether a run like this one (its output's shape, options, device and photo) at ``--size n`` fits at every
    scale: what a refusal's ``--size`` must hold for."""
    def fits(long: int) -> bool:
        try:
            memory_plans(scale_schedule(fit_long_edge(out_hw, long), cfg), cfg, device, tileable=tileable,
                         source_hw=source_hw, name_a_size=False)
            return True
        except ConfigError:
            return False

    return fits


def _whole_pass(cfg: StyleConfig, tile_hw: Size) -> int:
    """Bytes of a tiled scale's pass over the whole picture (and gatys's goals) for a tile of ``tile_hw``."""
    if cfg.method is Method.NNST:
        return tiles.hypercolumn_pass_bytes(tile_hw)
    return tiles.search_bytes(tile_hw) + tilestyle.sample_bytes(cfg.style_layers) + \
        tilestyle.goal_bytes(tile_hw, cfg.style_layers)


def _losses(cfg: StyleConfig, spilled: bool) -> tuple[str, Callable[[Size, Size], int]]:
    """The deepest layer the objective reads, and ``extra(scale_hw, hw)``: the bytes its losses add at a scale
    of ``scale_hw`` for an image (the scale, or a tile of it) of ``hw`` (``spilled``: large paintings resized to it
    are kept in mapped files, painterly.spill)."""
    def edges(scale_hw: Size) -> list[int]:  # the paintings' long edges at that scale
        return [style_long_edge(s, scale_hw) for s in cfg.style_scales or (cfg.style_scale,)]

    if cfg.method is Method.NNST:
        def bank(scale_hw: Size, hw: Size) -> int:
            return neighbors.bank_bytes(hw, edges(scale_hw), spilled)

        return vgg.deepest(neighbors.HYPERCOLUMN_LAYERS), bank

    def style(scale_hw: Size, hw: Size) -> int:
        own = memory.style_loss_bytes(hw, cfg.style_layers, cfg.style_loss)
        if hw == scale_hw:  # a whole scale: its targets' pass, before the optimisation, is smaller than the optimisation
            return own
        return own + max(_targets_bytes(e, cfg.style_layers) for e in edges(scale_hw))  # a tile: the painting's

    return vgg.deepest(cfg.style_layers + cfg.content_layers), style


def _targets_bytes(edge: int, layers: tuple[str, ...]) -> int:
    """Bytes of a gatys tile's targets: the whole painting's at the scale's size (long edge ``edge``, taken square),
    resized (a large one in a mapped file: painterly.spill) and read in one pass or, if large, a block at a time into
    a sample of positions (:func:`painterly.features.sampled_features`)."""
    pixels = min(edge * edge, BLOCKWISE_PIXELS)  # a painting of that long edge may be narrower, and read whole
    side = int(pixels**0.5)
    whole = 4 * 3 * pixels + memory.targets_pass_bytes((side, side), layers)
    if edge * edge <= BLOCKWISE_PIXELS:
        return whole
    sample = sum(min(SAMPLE_POSITIONS, memory.layer_values(k, (edge, edge)) // vgg.channels(k)) * vgg.channels(k)
                 for k in layers)
    seen = BLOCK + 2 * BLOCK_MARGIN
    blocks = 4 * 3 * min(edge * edge, spill.SPILL_PIXELS) + memory.targets_pass_bytes((seen, seen), layers) + 2 * 4 * sample
    return max(whole, blocks)


def tile_for(hw: Size, cfg: StyleConfig) -> int | None:
    """``--tile-size`` where a scale of ``hw`` is larger than it, else None."""
    return cfg.tile_size if cfg.tile_size and max(hw) > cfg.tile_size else None


@dataclass(frozen=True)
class Scale:
    """One scale of a schedule: its size (H, W), its iterations, its memory plan (None off the CPU and CUDA,
    where memory is not planned) and ``tile``: None to paint it whole, else the tile size (px) it is painted
    in (painterly.tiles), each tile for ``iterations``."""

    hw: Size
    iterations: int
    memory: memory.MemoryPlan | None = None
    tile: int | None = None

    @property
    def tiles(self) -> list[tiles.Tile]:
        """The tiles it is painted in (one, the whole scale, when it is not tiled)."""
        return tiles.grid(self.hw, self.tile or max(self.hw))

    @property
    def work(self) -> int:
        """Iterations over all its tiles: what the run's progress counts."""
        return self.iterations * len(self.tiles)


def plan_scales(schedule: Schedule, cfg: StyleConfig, device: torch.device, *, tileable: bool = False,
                source_hw: Size | None = None) -> tuple[Scale, ...]:
    """``schedule`` with each scale's memory plan (:func:`memory_plans`, on the CPU and CUDA): refuses a size
    that cannot fit before any work. The one way to make the scales :meth:`Engine.run` takes. ``tileable``: the
    caller paints tiles (:attr:`Engine.tile_objective`), so that a scale may be tiled (:attr:`StyleConfig.tileable`);
    ``source_hw``: the photo's size as loaded, which a tiled scale keeps besides its own."""
    if cfg.tile_size is not None and not tileable:
        raise ConfigError(": this command paints each scale whole; only images are painted in tiles so far",
                          "tile_size")
    plans = memory_plans(schedule, cfg, device, tileable=tileable, source_hw=source_hw) or {}
    tileable = tileable and cfg.tileable

    def tile(hw: Size) -> int | None:
        p = plans.get(hw)
        return p.tile if p is not None else tile_for(hw, cfg) if tileable else None

    return tuple(Scale(hw, n, plans.get(hw), tile(hw)) for hw, n in schedule)


def describe_tiles(scales: Sequence[Scale]) -> list[str]:
    """One line per tiled scale, for a shell to show before the run starts."""
    return [f"the {s.hw[1]}x{s.hw[0]} px scale is painted in {len(s.tiles)} tiles of {s.tile} px"
            + (f" (memory budget {s.memory.budget_bytes / 2**30:.1f} GB)" if s.memory else "")
            for s in scales if s.tile]

