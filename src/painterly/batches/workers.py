"""Batch workers: where a job is painted, and what a worker keeps between jobs.

Every job runs through :func:`render`, whatever runs it: this process, a local pool of
spawned processes, or a Dask cluster (:mod:`painterly.pools`, shared with ``painterly video``).
A worker process keeps the network (cached by :func:`painterly.pipeline.get_extractor`),
decoded style images, and blended style targets (:class:`StyleTargetCache`) between jobs; it
receives file bytes and returns the image, so it needs no shared file system.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import Method, StyleConfig
from ..errors import ConfigError
from ..events import Step
from ..images import ImageError, Loaded, load_image
from ..neighbors import StyleBank
from ..pipeline import Painter
from ..plan import prepare
from ..pools import (  # noqa: F401  (where jobs run: shared with painterly video, and re-exported here)
    TRIES,
    DaskPool,
    InProcess,
    Pool,
    PoolError,
    ProcessPool,
    check_workers,
    cluster_plan,
    cpu_count,
    default_workers,
    local_pool,
)
from ..weights import WeightsError

BatchError = PoolError  # the batch as a whole cannot run (e.g. the Dask scheduler cannot be reached)


@dataclass(frozen=True)
class Spec:
    """What a worker needs besides the file bytes. ``style_keys`` (SHA-256 of each style file)
    key the worker's cache of decoded styles; names are used in messages only."""

    config: StyleConfig
    content_name: str
    style_names: tuple[str, ...]
    style_keys: tuple[str, ...]


@dataclass
class Rendered:
    """A worker's answer: the image ((1, 3, H, W) in [0, 1]) or a one-line ``error``."""

    image: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    config: StyleConfig | None = None
    seconds: float = 0.0
    iterations: int = 0
    loss: float = float("nan")
    error: str = ""
    worker: str = ""  # "host pid N": which process painted it


class StyleTargetCache:
    """A small, thread-safe LRU of what a scale is pulled towards (each style loss's blended statistic,
    or nnst's :class:`~painterly.neighbors.StyleBank`), so that images that share a style and an output
    size compute it once. Keyed by the style images' pixels, the network and every option it is made of
    (:func:`painterly.objective.target_fields`; for a bank, the size, blend weights and style scales).
    At most ``maxsize`` entries and ``max_bytes`` of tensors (a 512 px bank is about 400 MB)."""

    def __init__(self, maxsize: int = 32, max_bytes: int = 2**30):
        self.maxsize, self.max_bytes = maxsize, max_bytes
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = compute()  # outside the lock: two threads may both compute a new key, harmlessly
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > 1 and (len(self._items) > self.maxsize
                                            or sum(map(_nbytes, self._items.values())) > self.max_bytes):
                self._items.popitem(last=False)
        return value


def _nbytes(value: Any) -> int:
    """Bytes of the tensors in a cached value (a dict of targets, or a bank's fields)."""
    parts = value.values() if isinstance(value, dict) else vars(value).values()
    return sum(t.numel() * t.element_size() for t in parts if isinstance(t, torch.Tensor))


class CachingPainter(Painter):
    """A :class:`Painter` whose style targets come from a :class:`StyleTargetCache`.

    The key is :meth:`Painter.target_key`, made beside the targets from the fields they are made of, with a
    digest of the style tensors the pipeline actually passes (after any colour transform, which may depend
    on the content), not of the files, so a hit is always right.
    """

    def __init__(self, config: StyleConfig, cache: StyleTargetCache):
        super().__init__(config)
        self.cache = cache
        self._digests: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (tensor kept alive, digest)

    def _digest(self, x: torch.Tensor) -> str:
        if id(x) not in self._digests:  # one paint passes the same tensors at every scale
            data = x.detach().cpu().contiguous().float().numpy().tobytes()
            self._digests[id(x)] = (x, hashlib.blake2b(data, digest_size=16).hexdigest() + str(tuple(x.shape)))
        return self._digests[id(x)][1]

    def style_targets(self, styles: Sequence[torch.Tensor], hw: tuple[int, int],
                      cfg: StyleConfig) -> dict[str, torch.Tensor]:
        key = self.target_key(Method.GATYS, [self._digest(x) for x in styles], hw, cfg)
        return self.cache.get(key, lambda: Painter.style_targets(self, styles, hw, cfg))  # type: ignore[no-any-return]

    def style_bank(self, styles: Sequence[torch.Tensor], hw: tuple[int, int], cfg: StyleConfig) -> StyleBank:
        key = self.target_key(Method.NNST, [self._digest(x) for x in styles], hw, cfg)
        return self.cache.get(key, lambda: Painter.style_bank(self, styles, hw, cfg))  # type: ignore[no-any-return]


# Process-wide worker state: the network is cached by painterly.pipeline.get_extractor.
TARGETS = StyleTargetCache()
_STYLE_IMAGES: OrderedDict[str, Loaded] = OrderedDict()
_STYLE_LOCK = threading.Lock()


def _decode(data: bytes, name: str, what: str) -> Loaded:
    """load_image for bytes (via a temp file, so 16-bit and every check apply); errors name ``name``."""
    with tempfile.TemporaryDirectory(prefix="painterly-") as d:
        tmp = Path(d) / ("input" + Path(name).suffix)
        tmp.write_bytes(data)
        try:
            return load_image(tmp, what=what)
        except ImageError as e:
            raise ImageError(str(e).replace(str(tmp), name)) from None


def _style_image(key: str, data: bytes, name: str) -> Loaded:
    with _STYLE_LOCK:
        if key in _STYLE_IMAGES:
            _STYLE_IMAGES.move_to_end(key)
            return _STYLE_IMAGES[key]
    loaded = _decode(data, name, "style")
    with _STYLE_LOCK:
        _STYLE_IMAGES[key] = loaded
        while len(_STYLE_IMAGES) > 16:
            _STYLE_IMAGES.popitem(last=False)
    return loaded


def render(spec: Spec, content: bytes, *styles: bytes, callback: Callable[[Step], None] | None = None) -> Rendered:
    """Paint one job from its files' bytes. Runs on a worker: this process, a pool process or a
    Dask worker. Expected failures come back as ``Rendered.error``; Ctrl-C as :class:`Interrupted`."""
    try:
        loaded = _decode(content, spec.content_name, "content")
        style_imgs = [_style_image(k, d, n) for k, d, n in zip(spec.style_keys, styles, spec.style_names)]
        plan = prepare(loaded, style_imgs, spec.config)  # every check, before the network loads
        result = CachingPainter(spec.config, TARGETS).run(plan, callback=callback)
    except (ImageError, ConfigError, WeightsError) as e:
        return Rendered(error=str(e))
    except (MemoryError, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return Rendered(error=f"content {spec.content_name}: out of memory; lower --size")
    return Rendered(result.image.cpu(), None if result.alpha is None else result.alpha.cpu(), result.config,
                    result.seconds, result.iterations, result.loss, worker=f"{socket.gethostname()} pid {os.getpid()}")
