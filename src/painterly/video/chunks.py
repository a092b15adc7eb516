"""Chunks of a clip: how a clip is cut into pieces that workers paint at once, and one piece's painting.

A clip is cut at every shot cut (a frame less than ``scene_cut`` of which follows from the one
before: a new shot is painted afresh anyway, so no seam can show there), and a shot longer
than ``chunk_frames`` into chunks of that many frames. Two chunks of one shot are two
temporal chains, and two chains that start apart stay apart (the temporal loss holds each
frame to its own chain), so where they meet the picture would jump. Two things hide the seam:

- **A synced start.** A chunk after a shot's first starts ``VideoConfig.overlap`` frames early (its
  lead-in) from the previous chunk's first painted frame, carried along the flow to its own
  first frame (:func:`sync_prior`) and optimised there like any later frame. The two chains then
  differ by what the frames between changed, not by two unrelated paintings (measured on the test
  clip: a quarter to a seventh of the boundary error of lead-ins started like a shot's first
  frame; docs/video.md).
  The chunk waits for that frame only, so chunks still run at once.
- **A cross-fade.** Over the lead-in the earlier chunk's frames (kept as ``tail_*.png``) fade
  into the later chunk's (``lead_*.png``) linearly, so each step carries
  ``1 / (chunk_overlap + 1)`` of the difference.

With ``chunk_overlap=0`` a chunk starts from the previous chunk's *last* frame instead, and so
runs after it: one chain through the shot, no seam (shots still run at once).

:func:`paint_chunk` runs on a worker; :mod:`.parallel` plans and schedules the chunks.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import StyleConfig
from ..errors import ConfigError
from ..images import ImageError, Loaded, to_pil
from ..weights import WeightsError
from .config import VideoConfig
from .frames import FrameRenderer, paint_frames, quantise, work_space
from .io import VideoError
from .progress import FrameStep, Pace
from .temporal import FramePrior, Motion, warp
from .work import FRAME_NAME, WorkFolder


@dataclass(frozen=True)
class Chunk:
    """Frames ``first`` .. ``end - 1`` of the shot that starts at ``shot``, painted as one chain.

    Frames before ``start`` are the lead-in (cross-faded with the previous chunk's last frames);
    the last ``tail`` frames are the part the next chunk's lead-in overlaps. ``sync`` is the
    previous chunk's frame this chunk starts from: its first (its last without overlap; None:
    the shot's first chunk, whose first frame is painted like an image)."""

    shot: int
    first: int
    start: int
    end: int
    tail: int = 0
    sync: int | None = None

    @property
    def lead(self) -> int:
        return self.start - self.first

    def role(self, k: int) -> str:
        """How frame ``k`` of this chunk is kept (:data:`painterly.video.work.ROLES`)."""
        return "lead" if k < self.start else "tail" if k >= self.end - self.tail else "frame"

    @property
    def reads_from(self) -> int:
        """The first input frame the chunk needs."""
        return self.first if self.sync is None else self.sync


class Planner:
    """Cuts a clip into :class:`Chunk` s as its frames arrive (so that painting starts before the
    whole clip is decoded): :meth:`add` each frame with whether it starts a shot, then :meth:`close`.

    A full chunk is closed only once ``overlap`` more frames of its shot have arrived, so that a
    shot that ends sooner is finished by that chunk rather than by one of fewer frames than its
    own lead-in."""

    def __init__(self, chunk_frames: int, overlap: int):
        self.size, self.overlap = chunk_frames, overlap
        self.current: Chunk | None = None

    def add(self, k: int, cut: bool) -> list[Chunk]:
        """Frame ``k``; the chunks it completes (at most one)."""
        c = self.current
        if c is None or cut:
            self.current = Chunk(k, k, k, k)
            return [] if c is None else [Chunk(c.shot, c.first, c.start, k, 0, c.sync)]
        if k - c.start < self.size + self.overlap:
            return []
        end = c.start + self.size
        # The next chunk starts from this one's first frame (it runs at once), or with no overlap
        # from its last (it runs after this one, continuing its chain: no seam at all).
        self.current = Chunk(c.shot, end - self.overlap, end, end, 0, c.first if self.overlap else end - 1)
        return [Chunk(c.shot, c.first, c.start, end, self.overlap, c.sync)]

    def close(self, frames: int) -> list[Chunk]:
        c, self.current = self.current, None
        return [] if c is None else [Chunk(c.shot, c.first, c.start, frames, 0, c.sync)]


def plan_chunks(frames: int, cuts: set[int], chunk_frames: int, overlap: int) -> list[Chunk]:
    """All chunks of a clip of ``frames`` frames whose shots start at ``cuts`` (and at 0)."""
    planner = Planner(chunk_frames, overlap)
    chunks = [c for k in range(frames) for c in planner.add(k, k in cuts)]
    return chunks + planner.close(frames)


def seam_pairs(chunks: list[Chunk]) -> set[int]:
    """The frames ``k`` whose pair (``k - 1``, ``k``) crosses where two chunks of a shot meet: every
    frame of a fade and the first of the later chunk's own (where a seam would show)."""
    return {k for c in chunks if c.sync is not None for k in range(c.first, c.start + 1)}


def fade_weight(chunk: Chunk, k: int) -> float:
    """How much of lead-in frame ``k`` comes from ``chunk`` (the rest from the previous chunk's tail)."""
    return (k - chunk.first + 1) / (chunk.lead + 1)


def sync_prior(frames: list[torch.Tensor], image: torch.Tensor, cfg: StyleConfig,
               motions: list[Motion] | None = None) -> FramePrior:
    """``image`` (painted for ``frames[0]``) carried to ``frames[-1]`` along the flow between each
    pair of frames (``motions[i]``: from ``frames[i]`` to ``frames[i + 1]``, computed here when not
    given), with the pixels that any step cannot trust left free.

    The flows are composed and ``image`` is sampled once at the end: warping it frame after frame
    would blur it a little at every step (bilinear), and a chain's frames stay sharp (each is
    painted again), so a blurred start would differ from the chain before it by more than the
    motion. The map (source coordinates, scaled to [0, 1]) and the mask ride through
    :meth:`Motion.prior` as the channels of the "painted" frame."""
    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    carried = torch.stack([xs, ys, torch.ones_like(xs)])[None]
    for i, (prev, frame) in enumerate(zip(frames, frames[1:])):
        prior = (motions[i] if motions is not None else Motion.between(prev, frame)).prior(prev, frame, carried)
        carried = torch.cat([prior.warped[:, :2], prior.warped[:, 2:] * prior.mask], 1)
    at = carried[0, :2].permute(1, 2, 0).numpy() * np.array([w - 1, h - 1], np.float32)
    flow = at - np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    return FramePrior(warp(work_space(image, cfg), flow, cubic=True).clamp(0, 1), carried[:, 2:])  # as Motion.prior(sharp=True)


# On a worker ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClipSpec:
    """What every chunk of a clip shares (the controls loaded, so that no path needs to exist on the worker)."""

    cfg: StyleConfig  # seed resolved
    vcfg: VideoConfig
    styles: list[Loaded]
    controls: dict[str, Any]
    hw: tuple[int, int]
    folder: str
    key: str


@dataclass
class ChunkDone:
    """A worker's answer: the frames it painted; their PNGs (by file name) when it could not see
    the work folder; or a one-line ``error``."""

    painted: list[int] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


class ChunkStore:
    """A chunk's frames, kept as their roles say: in the work folder when this process sees it,
    else in memory (PNG bytes) for the coordinator to write. The manifest is the coordinator's."""

    def __init__(self, chunk: Chunk, folder: WorkFolder | None):
        self.chunk, self.folder = chunk, folder
        self.files: dict[str, bytes] = {}

    @property
    def shots(self) -> list[int]:
        return [self.chunk.shot]

    def load(self, k: int, hw: tuple[int, int]) -> torch.Tensor | None:
        return self.folder.load(k, hw, self.chunk.role(k)) if self.folder is not None else None

    def save(self, k: int, x: torch.Tensor) -> None:
        role = self.chunk.role(k)
        if self.folder is not None:
            self.folder.save(k, x, role)
            return
        buf = io.BytesIO()
        to_pil(x).save(buf, format="PNG")
        self.files[FRAME_NAME.replace("frame", role).format(k)] = buf.getvalue()

    def add_shot(self, k: int) -> None:
        pass


def as_tensor(frame: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).unsqueeze(0).float().div(255)


def paint_chunk(clip: ClipSpec, chunk: Chunk, frames: np.ndarray, shot_frame: np.ndarray, sync: np.ndarray | None,
                motions: list[Motion] | None = None, callback: Callable[[FrameStep], None] | None = None) -> ChunkDone:
    """Paint ``chunk`` on a worker. ``frames``: input frames ``chunk.reads_from`` .. ``chunk.end - 1``
    ((N, H, W, 3) uint8); ``shot_frame``: the shot's first; ``sync``: the previous chunk's first
    painted frame (when ``chunk.sync``); ``motions``: each of those frames' :class:`Motion` from the
    one before (N - 1, as the coordinator found the cuts with them; computed here when None). Frames
    already in the work folder are kept (a chunk painted again continues where it stopped).
    Expected failures come back as ``ChunkDone.error``."""
    started = time.perf_counter()
    try:
        renderer = FrameRenderer(clip.cfg, clip.vcfg, clip.styles, clip.controls)
        renderer.seed(clip.cfg.seed)  # type: ignore[arg-type]
        store = ChunkStore(chunk, WorkFolder.attach(Path(clip.folder), clip.key))
        inputs = [as_tensor(f) for f in frames]
        prior = None
        lead = chunk.first - chunk.reads_from
        if sync is not None and store.load(chunk.first, clip.hw) is None:
            prior = sync_prior(inputs[: lead + 1], as_tensor(sync), renderer.cfg, motions[:lead] if motions else None)
        todo = range(chunk.first, chunk.end)
        pace = Pace(len(todo), len(todo), started)
        by_frame = None if motions is None else {chunk.reads_from + 1 + i: m for i, m in enumerate(motions)}
        done = paint_frames(renderer, store, ((k, inputs[k - chunk.reads_from]) for k in todo), clip.hw, pace,
                            callback, shot_frame=as_tensor(shot_frame), start_prior=prior, motions=by_frame)
    except (ImageError, ConfigError, WeightsError, VideoError) as e:
        return ChunkDone(error=str(e))
    except (MemoryError, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return ChunkDone(error="out of memory; lower --size")
    return ChunkDone(done.painted, store.files, time.perf_counter() - started)


def cross_fade(folder: WorkFolder, chunk: Chunk, k: int, hw: tuple[int, int]) -> torch.Tensor | None:
    """Lead-in frame ``k`` of ``chunk`` as the video shows it: the previous chunk's tail faded into
    this chunk's lead-in; None until both are painted."""
    tail, lead = folder.load(k, hw, "tail"), folder.load(k, hw, "lead")
    if tail is None or lead is None:
        return None
    w = fade_weight(chunk, k)
    return quantise((1 - w) * tail + w * lead)
