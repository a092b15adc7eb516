"""Painting a clip in chunks at once, on a local pool of processes or a Dask cluster.

This process (the coordinator) decodes the clip, finds the cuts and plans the chunks as the
frames arrive (:class:`painterly.video.chunks.Planner`), and sends each chunk's input frames
(8-bit) and the motion between each pair of them (:class:`painterly.video.temporal.Motion`: the
flows, computed once, here, to find the cuts) to a worker (:func:`painterly.video.chunks.paint_chunk`; the pools are
:mod:`painterly.pools`, shared with ``painterly batch``). A chunk after a shot's first waits
only for the previous chunk's first frame, which it starts from. Workers that see the work
folder (the same path: a local pool, or a cluster on a shared file system) write each frame
into it as it is finished; others send the chunk's frames back when it is done, and then the
chunks of one shot run one after another. The coordinator watches the folder, cross-fades
the overlaps and reports each finished frame with the pace. When a worker is lost, its chunk
is painted again, continuing from the frames it kept: a Dask scheduler reruns the task on
another worker by itself (the task carries its data); for a local pool the coordinator
submits it again, up to :data:`TRIES` times.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from ..events import draw_seed
from ..images import Loaded, load_image, write_bytes_atomic
from ..masks import load_mask
from ..pools import TRIES, Pool, PoolError, check_workers, start_pool
from .chunks import Chunk, ChunkDone, ClipSpec, Planner, as_tensor, cross_fade, paint_chunk
from .config import VideoConfig
from .frames import Clip, Painted
from .progress import FrameCallback, FrameStep, Pace, VideoInterrupted
from .temporal import Motion
from .work import WorkFolder

POLL = 0.5  # seconds between looks at the work folder

__all__ = ["check_workers", "paint_chunked", "start_pool"]

ChunkInputs = tuple[np.ndarray, np.ndarray, list[Motion]]  # a chunk's frames, its shot's first, their motions


def portable(controls: dict[str, Any]) -> dict[str, Any]:
    """The controls with files read, so that a worker on another machine needs none of them."""
    masks = controls["masks"]
    return {"masks": None if masks is None else [None if m is None else load_mask(m) for m in masks],
            **{k: None if controls[k] is None or isinstance(controls[k], Loaded) else load_image(controls[k], what=w)
               for k, w in (("coarse_style", "--coarse-style"), ("fine_style", "--fine-style"))}}


def as_bytes(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H, W, 3) uint8, as frames travel to workers."""
    return x[0].permute(1, 2, 0).mul(255).round().clamp(0, 255).to(torch.uint8).numpy()


def paint_chunked(pool: Pool, work: WorkFolder, clip: Clip, vcfg: VideoConfig, callback: FrameCallback | None,
                  started: float) -> Painted:
    """Paint ``clip`` into ``work`` in chunks on ``pool`` (closed here). Ctrl-C raises
    :class:`VideoInterrupted` with the finished frames kept."""
    cancel = True
    try:
        work.open(clip.frames, draw_seed(clip.cfg.seed))
        spec = ClipSpec(clip.cfg.replace(seed=work.seed), vcfg, clip.styles, portable(clip.controls), clip.hw,
                        str(work.path), work.key)
        run = _Coordinator(pool, work, spec, clip, callback, started)
        run.run()
        cancel = False
    except KeyboardInterrupt:
        done = sum(1 for k in range(clip.frames) if work.frame(k).is_file())
        raise VideoInterrupted(done, clip.frames, work.path) from None
    finally:
        pool.close(cancel)
    return run.result


class _Coordinator:
    """One chunked run: plan, submit, collect, cross-fade, report."""

    def __init__(self, pool: Pool, work: WorkFolder, spec: ClipSpec, clip: Clip, callback: FrameCallback | None,
                 started: float):
        self.pool, self.work, self.spec, self.clip = pool, work, spec, clip
        self.emit = callback or (lambda step: None)
        self.inputs: Iterator[tuple[int, np.ndarray, Motion | None]] | None = self._frames()
        self.buffer: dict[int, np.ndarray] = {}  # input frames that planned chunks may still need
        self.motions: dict[int, Motion] = {}  # frame k's motion from frame k - 1, while planned chunks may need it
        self.planner = Planner(spec.vcfg.chunk_frames, spec.vcfg.overlap)
        self.painter_of: dict[int, Chunk] = {}  # first and last frame -> the chunk that paints it
        self.queue: list[tuple[Chunk, ChunkInputs, int]] = []  # (chunk, (frames, shot frame, motions), tries)
        self.pending: dict[Any, tuple[Chunk, ChunkInputs, int]] = {}
        self.watching: dict[int, Chunk | None] = {}  # unfinished frames -> the chunk whose lead-in fades there
        self.result = Painted()
        missing = sum(1 for k in range(clip.frames) if not work.frame(k).is_file())
        self.pace = Pace(clip.frames, missing, started)

    def run(self) -> None:
        while True:
            self._plan_ahead()
            self._submit_ready()
            if not self.pending:
                if self.queue:  # cannot happen: a waiting chunk waits for one submitted before it
                    raise PoolError(f"frames {self.queue[0][0].first}-: waiting for a chunk that is not running")
                break
            for fut in self.pool.wait(set(self.pending), timeout=POLL):
                self._collect(fut)
            self._scan()
        self._scan()
        missing = [k for k in range(self.clip.frames) if not self.work.frame(k).is_file()]
        if missing:
            raise PoolError(f"frames {missing[0]}..{missing[-1]} were not painted ({len(missing)} frames)")

    # Planning ---------------------------------------------------------------------------------
    def _frames(self) -> Iterator[tuple[int, np.ndarray, Motion | None]]:
        """(index, 8-bit frame, its motion from the frame before; None for the first): frames travel to
        workers in 8 bits, and the motions are found on the same pixels the workers see, so both agree
        on the cuts, and the workers need not compute the flows again."""
        prev: torch.Tensor | None = None
        for k, x in enumerate(self.clip.read()):
            frame = as_bytes(x)
            here = as_tensor(frame)
            yield k, frame, None if prev is None else Motion.between(prev, here)
            prev = here

    def _plan_ahead(self) -> None:
        """Decode and plan until enough chunks wait to keep the pool busy (so memory stays bounded)."""
        while len(self.queue) < self.pool.slots + 1 and self.inputs is not None:
            item = next(self.inputs, None)
            if item is None:
                self.inputs = None
                self._enqueue(self.planner.close(self.clip.frames))
                break
            k, frame, motion = item
            self._enqueue(self.planner.add(k, motion is None or motion.reliable < self.spec.vcfg.scene_cut))
            self.buffer[k] = frame
            if motion is not None:
                self.motions[k] = motion

    def _enqueue(self, chunks: list[Chunk]) -> None:
        buffer = self.buffer
        for c in chunks:
            self.painter_of[c.first] = self.painter_of[c.end - 1] = c
            if c.sync is None:
                self.work.add_shot(c.shot)
                self.result.starts.append(c.shot)
            for k in range(c.start if c.lead else c.first, c.end):  # lead-in frames: watched as the fade
                if not self.work.frame(k).is_file():
                    self.watching[k] = None
            for k in range(c.first, c.start):
                if not self.work.frame(k).is_file():
                    self.watching[k] = c
            if not all(self.work.frame(k, c.role(k)).is_file() for k in range(c.first, c.end)):  # else: kept
                frames = np.stack([buffer[k] for k in range(c.reads_from, c.end)])
                motions = [self.motions[k] for k in range(c.reads_from + 1, c.end)]
                self.queue.append((c, (frames, buffer[c.shot], motions), 0))
            for k in [k for k in buffer if k < c.first and k != c.shot]:
                del buffer[k]  # the next chunk reads from this one's first frame on
            for k in [k for k in self.motions if k <= c.first]:
                del self.motions[k]

    # Running ----------------------------------------------------------------------------------
    def _sync_role(self, c: Chunk) -> str:
        assert c.sync is not None
        return self.painter_of[c.sync].role(c.sync)

    def _submit_ready(self) -> None:
        waiting = []
        for c, data, tries in self.queue:
            ready = c.sync is None or self.work.frame(c.sync, self._sync_role(c)).is_file()
            if not ready or len(self.pending) >= self.pool.slots:
                waiting.append((c, data, tries))
                continue
            sync = None
            if c.sync is not None:
                image = self.work.load(c.sync, self.spec.hw, self._sync_role(c))
                if image is None:  # damaged: the chunk before is painted again, then this one
                    waiting.append((c, data, tries))
                    continue
                sync = as_bytes(image)
            fut = self.pool.submit(paint_chunk, self.spec, c, data[0], data[1], sync, data[2], callback=self._relay)
            self.pending[fut] = (c, data, tries)
        self.queue = waiting

    def _collect(self, fut: Any) -> None:
        c, data, tries = self.pending.pop(fut)
        try:
            got: ChunkDone = fut.result()
        except Exception as e:  # noqa: BLE001  (a lost worker, a cluster failure: paint the chunk again)
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
            if tries + 1 >= TRIES:
                raise PoolError(f"frames {c.first}-{c.end - 1}: the worker failed {TRIES} times ({reason})") from None
            self.result.retried.append(c.first)
            self.queue.insert(0, (c, data, tries + 1))
            return
        if self.pool.reruns(fut):  # its worker was lost, and the Dask scheduler ran it again by itself
            self.result.retried.append(c.first)
        if got.error:
            raise PoolError(f"frames {c.first}-{c.end - 1}: {got.error}")
        for name, png in got.files.items():  # a worker that could not see the folder
            write_bytes_atomic(self.work.path / name, png)

    def _relay(self, step: FrameStep) -> None:
        """Events of a chunk painted in this process: finished frames are counted from the folder."""
        if step.finished:
            self._scan()
            return
        self.emit(self.pace.step(step.frame, iteration=step.iteration, iterations=step.iterations, loss=step.loss,
                                 terms=step.terms, shot_start=step.shot_start, reliable=step.reliable))

    def _scan(self) -> None:
        """Cross-fade the overlaps that both chunks have painted; report the frames finished since the last look."""
        for k in sorted(self.watching):
            fade = self.watching[k]
            image = self.work.load(k, self.spec.hw) if fade is None else cross_fade(self.work, fade, k, self.spec.hw)
            if image is None:
                continue
            if fade is not None:
                self.work.save(k, image)
            del self.watching[k]
            self.pace.finish()
            self.result.painted.append(k)
            self.emit(self.pace.step(k, finished=True, shot_start=k in self.result.starts, image=image))
