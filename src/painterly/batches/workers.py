"""Batch workers: where a job is painted, and what a worker keeps between jobs.

Every job runs through :func:`render`, whatever runs it: this process, a local pool of
spawned processes, or a Dask cluster. A worker process keeps the network (cached by
:func:`painterly.pipeline.get_extractor`), decoded style images, and blended style targets
(:class:`StyleTargetCache`) between jobs; it receives file bytes and returns the image, so
it needs no shared file system.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import memory
from ..config import ConfigError, StyleConfig
from ..images import ImageError, Loaded, load_image
from ..optimize import Interrupted
from ..pipeline import Painter, Step, resolve_device
from ..weights import WeightsError


class BatchError(Exception):
    """The batch as a whole cannot run (e.g. the Dask scheduler cannot be reached)."""


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


class StyleTargetCache:
    """A small, thread-safe LRU of blended style targets (Gram matrices), so that images that
    share a style and an output size compute them once. Keyed by the style images' pixels, the
    size and the options that shape the targets."""

    def __init__(self, maxsize: int = 32):
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Any, dict[str, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        value = compute()  # outside the lock: two threads may both compute a new key, harmlessly
        with self._lock:
            self.misses += 1
            self._items[key] = value
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        return value


class CachingPainter(Painter):
    """A :class:`Painter` whose style targets come from a :class:`StyleTargetCache`.

    The key is a digest of the style tensors the pipeline actually passes (after any colour
    transform, which may depend on the content), not of the files, so a hit is always right.
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
        n = len(styles)
        key = (tuple(self._digest(x) for x in styles), tuple(hw), cfg.style_layers, tuple(cfg.blend_weights(n)),
               tuple(cfg.scales_for(n)), cfg.weights, cfg.pooling.value, str(self.device), self.bf16)
        return self.cache.get(key, lambda: Painter.style_targets(self, styles, hw, cfg))


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
        painter = CachingPainter(spec.config, TARGETS)
        result = painter.paint(loaded, style_imgs, callback=callback)
    except (ImageError, ConfigError, WeightsError) as e:
        return Rendered(error=str(e))
    except (MemoryError, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return Rendered(error=f"content {spec.content_name}: out of memory; lower --size")
    return Rendered(result.image.cpu(), None if result.alpha is None else result.alpha.cpu(), result.config,
                    result.seconds, result.iterations, result.loss)


def _init_pool_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    torch.set_num_threads(threads)


# Where the workers are ---------------------------------------------------------------------------
class InProcess:
    """This process: one job at a time, with step events."""

    slots = 1

    def submit(self, spec: Spec, content: bytes, styles: list[tuple[str, bytes]],
               on_step: Callable[[Step], None] | None) -> Future[Rendered]:
        fut: Future[Rendered] = Future()
        try:
            fut.set_result(render(spec, content, *(d for _, d in styles), callback=on_step))
        except Interrupted:
            raise KeyboardInterrupt from None
        except Exception as e:  # noqa: BLE001  (one job's bug fails that job only)
            fut.set_exception(e)
        return fut

    def wait(self, pending: set[Any]) -> set[Any]:
        return set(wait_futures(pending, return_when=FIRST_COMPLETED).done)

    def close(self, cancel: bool) -> None:
        pass


class ProcessPool(InProcess):
    """A local pool of spawned processes, ``threads`` torch threads each."""

    def __init__(self, workers: int, threads: int):
        self.slots, self.threads = workers, threads
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can hang
        return ProcessPoolExecutor(self.slots, mp_context=ctx, initializer=_init_pool_worker, initargs=(self.threads,))

    def submit(self, spec: Spec, content: bytes, styles: list[tuple[str, bytes]],
               on_step: Callable[[Step], None] | None) -> Future[Rendered]:
        try:
            return self.pool.submit(render, spec, content, *(d for _, d in styles))
        except BrokenProcessPool:  # a worker died (e.g. killed for memory): start afresh
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(render, spec, content, *(d for _, d in styles))

    def close(self, cancel: bool) -> None:
        if cancel:  # don't wait minutes for images nobody will write
            if hasattr(self.pool, "terminate_workers"):  # Python >= 3.14
                self.pool.terminate_workers()
            else:  # older: the executor's process table (private, stable since 3.2)
                for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class DaskPool:
    """A Dask distributed cluster. Each job runs ``render`` on a worker, which keeps the network
    and style targets in its process; workers that advertise a "GPU" resource get the jobs."""

    def __init__(self, address: str):
        try:
            import dask
            from distributed import Client, as_completed
        except ImportError:
            raise BatchError("--scheduler needs Dask: pip install 'painterly[dask]'") from None
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise BatchError(f"--scheduler {address}: cannot connect ({str(e).splitlines()[0]}); "
                             "start one with `dask scheduler` and check the address") from None
        try:
            workers = self._workers()
            if not workers:
                self.client.wait_for_workers(1, timeout=timeout)
                workers = self._workers()
        except (OSError, TimeoutError) as e:
            self.client.close()
            raise BatchError(f"--scheduler {address}: the cluster has no workers ({e}); "
                             f"start some with `dask worker {address}`") from None
        self.resources, slots = cluster_plan(workers)
        self.slots = 2 * slots  # one queued per busy slot, so no worker waits for the coordinator
        self._styles: dict[str, Any] = {}
        self._finished = as_completed(loop=self.client.loop)  # not distributed.wait: that wants a default client

    def _workers(self) -> dict[str, Any]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed: all workers by default
            info = self.client.scheduler_info()
        return dict(info.get("workers", {}))

    def submit(self, spec: Spec, content: bytes, styles: list[tuple[str, bytes]],
               on_step: Callable[[Step], None] | None) -> Any:
        for key, data in styles:
            if key not in self._styles:
                self._styles[key] = self.client.scatter(data, hash=True)
        data = self.client.scatter(content, hash=False)
        fut = self.client.submit(render, spec, data, *(self._styles[k] for k, _ in styles),
                                 pure=False, resources=self.resources)
        self._finished.add(fut)
        return fut

    def wait(self, pending: set[Any]) -> set[Any]:
        return {next(self._finished), *self._finished.next_batch(block=False)}

    def close(self, cancel: bool) -> None:
        self.client.close()


Pool = InProcess | DaskPool


def cluster_plan(workers: dict[str, Any]) -> tuple[dict[str, float] | None, int]:
    """(resources each job asks for, jobs the cluster runs at once), from the scheduler's
    ``scheduler_info()["workers"]``. Workers that advertise a "GPU" resource
    (``dask worker ... --resources GPU=1``) get every job, one per GPU; otherwise each worker
    thread runs one job."""
    gpus = sum(float((w.get("resources") or {}).get("GPU", 0)) for w in workers.values())
    if gpus:
        return {"GPU": 1}, max(1, int(gpus))
    return None, max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(config: StyleConfig, jobs: int) -> int:
    """Local worker processes for ``jobs`` images.

    On a GPU, one (it has the GPU to itself). On CPU, one single-threaded process per core, as
    far as memory allows (:func:`painterly.memory.process_bytes`): images are independent, so processes scale
    with cores, while torch's threads within one image scale poorly on small images and
    collapse when other programs compete for the cores (measurements in docs/batch.md). A
    process costs a few seconds to start, which real images (minutes each on CPU) repay.
    """
    if resolve_device(config.device).type == "cuda":
        return 1
    n = min(jobs, cpu_count(), int(0.8 * memory.available_bytes()) // memory.process_bytes(config))
    return max(1, n)


def local_pool(workers: int | None, config: StyleConfig, jobs: int) -> Pool:
    """This process (one worker) or a pool of ``workers`` processes (default :func:`default_workers`)."""
    resolve_device(config.device)  # --device cuda without a GPU: one usage error, not N failures
    n = min(workers or default_workers(config, jobs), jobs)
    if n <= 1:
        return InProcess()
    return ProcessPool(n, max(1, cpu_count() // n))
