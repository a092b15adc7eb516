"""The options video adds to a painting's (:class:`painterly.config.StyleConfig`), with their defaults."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..config import StyleConfig
from ..errors import ConfigError

# A later frame starts from the previous one warped onto it (sharply: temporal.frame_prior), so
# it needs a few iterations where a still needs a schedule: 3 of the default 20 cost 0.08 of a still
# at 256 and 512 px and keep the painting's look (docs/video.md, benchmarks/video_cost.py).
LATER_FRAME_SHARE = 0.15


@dataclass(frozen=True)
class VideoConfig:
    """The options video adds to :class:`StyleConfig` (validated; messages name the flag).

    ``temporal_weight`` scales the temporal loss (mean squared RGB difference, values in
    [0, 1], over the reliable pixels) against the image objective's terms;
    ``frame_iterations`` is the optimiser budget of every frame after a shot's first (None:
    :data:`LATER_FRAME_SHARE` of ``StyleConfig.iterations``: 3 of the default 20), which starts from the warped, already painted
    previous frame and so needs neither the coarse-to-fine schedule nor the full budget.
    """

    start: float = 0.0  # seconds into the input
    duration: float | None = None  # seconds; None: to the end
    fps: float | None = None  # output frame rate; None: the source's
    temporal_weight: float = 1e4
    frame_iterations: int | None = None
    scene_cut: float = 0.3  # a frame with less than this fraction traced to the previous starts a shot
    crf: int = 18  # libx264 quality (0 lossless .. 51 worst)
    audio: bool = True  # copy the source's audio

    # Chunked runs (--workers / --scheduler, docs/video.md): shots longer than chunk_frames are split
    # into chunks painted in parallel; each chunk after a shot's first starts chunk_overlap frames
    # early and is cross-faded over them with the chunk before it. None: half a chunk (with 12 of 48 the
    # fade showed: benchmarks/video_chunks.py, 2.6 times one piece's warping error where chunks met; 1.2 with 24).
    chunk_frames: int = 48
    chunk_overlap: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise ConfigError(f"--start must be 0 or more seconds, got {self.start}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise ConfigError(f"--duration must be more than 0 seconds (a zero-length range has no frames), "
                              f"got {self.duration}")
        if self.fps is not None and not (math.isfinite(self.fps) and 0 < self.fps <= 240):
            raise ConfigError(f"--fps must be more than 0 and at most 240, got {self.fps}")
        if not (math.isfinite(self.temporal_weight) and self.temporal_weight >= 0):
            raise ConfigError(f"--temporal-weight must be a finite number of 0 or more, got {self.temporal_weight}")
        if self.frame_iterations is not None and (not isinstance(self.frame_iterations, int)
                                                  or self.frame_iterations < 1):
            raise ConfigError(f"--frame-iterations must be a whole number of at least 1, got {self.frame_iterations!r}")
        if not 0 <= self.scene_cut <= 1:
            raise ConfigError(f"--scene-cut must be between 0 and 1, got {self.scene_cut}")
        if not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ConfigError(f"--crf must be a whole number from 0 to 51, got {self.crf!r}")
        self._check_chunks()

    def _check_chunks(self) -> None:
        if not isinstance(self.chunk_frames, int) or self.chunk_frames < 2:
            raise ConfigError(f"--chunk-frames must be a whole number of at least 2, got {self.chunk_frames!r}")
        if self.chunk_overlap is not None and (not isinstance(self.chunk_overlap, int)
                                               or not 0 <= self.chunk_overlap < self.chunk_frames):
            raise ConfigError(f"--chunk-overlap must be a whole number from 0 to --chunk-frames - 1 "
                              f"({self.chunk_frames - 1}), got {self.chunk_overlap!r}")

    @property
    def overlap(self) -> int:
        """Frames over which a chunk fades into the next: ``chunk_overlap``, or half a chunk."""
        return self.chunk_frames // 2 if self.chunk_overlap is None else self.chunk_overlap

    def replace(self, **changes: Any) -> VideoConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown video option(s): {', '.join(unknown)}")
        return cls(**data)

    def iterations_after_first(self, cfg: StyleConfig) -> int:
        if self.frame_iterations is not None:
            return self.frame_iterations
        return max(1, round(LATER_FRAME_SHARE * cfg.iterations))
