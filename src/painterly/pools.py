"""Where work runs: this process, a local pool of spawned processes, or a Dask cluster.

The shells that spread work over workers (``painterly batch``: one image per task; ``painterly
video``: one chunk of a clip per task; a tiled painting: one tile per task, painterly.tilepool) share
these pools. A task is a plain function and its arguments, which must pickle; each pool has
``slots`` (tasks worth keeping in flight), ``submit(fn, *args, callback=None)`` (a future),
``wait(pending, timeout)`` (the futures that finished), ``reruns(future)`` (how often its worker
was lost and the task ran again) and ``close(cancel)``. Only :class:`InProcess` passes ``callback`` on (progress needs no pickling
there); the task function takes it as a keyword.

A task carries all its data, shared inputs (a batch's style images) included: nothing is
scattered ahead. Dask's scheduler keeps a task's data, so when a worker is lost its tasks run
again on the others by themselves (up to ``distributed.scheduler.allowed-failures`` times).
Scattered data has a holder and dies with it (the scheduler: "caused the cluster to lose
scattered data, which can't be recovered", and every task that needs it fails), and the
scheduler places the tasks that need it on that holder; a batch's style files are small next
to minutes of painting (docs/batch.md has the measurements). On a local pool, the coordinators
submit again a task whose process died, up to :data:`TRIES` times (:func:`complete`, where the
coordinator has no other reason to hold a task back).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch

from . import memory
from .config import StyleConfig
from .errors import ConfigError
from .optimize import Interrupted
from .pipeline import resolve_device

TRIES = 3  # a task whose worker is lost this often fails (Dask's distributed.scheduler.allowed-failures is 3 too)


class PoolError(Exception):
    """The work as a whole cannot run (e.g. the Dask scheduler cannot be reached)."""


_ADDRESS = re.compile(r"^\S+$")  # no blanks: anything else is left to Dask (an unreachable address exits 1)


def check_workers(workers: int | None, scheduler: str | None, what: str) -> None:
    """Refuse, with a :class:`ConfigError` naming the option, ``--workers`` below 1, with
    ``--scheduler``, and a scheduler that is not an address (``what``: what the workers run)."""
    if scheduler is not None and workers is not None:
        raise ConfigError(f"--workers is for local runs; with --scheduler the cluster's workers run the {what} "
                          "(start more with `dask worker`)")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if scheduler is not None and not _ADDRESS.match(scheduler):
        raise ConfigError(f"--scheduler must be a Dask scheduler's address such as tcp://HOST:8786, got {scheduler!r}")


def _init_pool_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle
    torch.set_num_threads(threads)


class InProcess:
    """This process: one task at a time, run inside ``submit``, with progress callbacks."""

    slots = 1

    def submit(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None] | None = None) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, callback=callback))
        except Interrupted:
            raise KeyboardInterrupt from None
        except Exception as e:  # noqa: BLE001  (one task's bug fails that task only)
            fut.set_exception(e)
        return fut

    def wait(self, pending: set[Any], timeout: float | None = None) -> set[Any]:
        return set(wait_futures(pending, timeout=timeout, return_when=FIRST_COMPLETED).done)

    def reruns(self, future: Any) -> int:
        """Local pools run a task once; a lost process shows as the future's exception."""
        return 0

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

    def submit(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None] | None = None) -> Future[Any]:
        try:
            return self.pool.submit(fn, *args)
        except BrokenProcessPool:  # a worker died (killed for memory, or by hand): start afresh
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._start()
            return self.pool.submit(fn, *args)

    def close(self, cancel: bool) -> None:
        if cancel:  # don't wait minutes for results nobody will write
            if hasattr(self.pool, "terminate_workers"):  # Python >= 3.14
                self.pool.terminate_workers()
            else:  # older: the executor's process table (private, stable since 3.2)
                for proc in list((getattr(self.pool, "_processes", None) or {}).values()):
                    proc.terminate()
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class DaskPool:
    """A Dask distributed cluster. Tasks run on its workers, which keep the network in their
    process between tasks; workers that advertise a "GPU" resource get the tasks."""

    def __init__(self, address: str):
        try:
            import dask
            from distributed import Client, as_completed
        except ImportError:
            raise PoolError("--scheduler needs Dask: pip install 'painterly[dask]'") from None
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise PoolError(f"--scheduler {address}: cannot connect ({str(e).splitlines()[0]}); "
                            "start one with `dask scheduler` and check the address") from None
        try:
            workers = self._workers()
            if not workers:
                self.client.wait_for_workers(1, timeout=timeout)
                workers = self._workers()
        except (OSError, TimeoutError) as e:
            self.client.close()
            raise PoolError(f"--scheduler {address}: the cluster has no workers ({e}); "
                            f"start some with `dask worker {address}`") from None
        self.resources, slots = cluster_plan(workers)
        self.slots = 2 * slots  # one queued per busy slot, so no worker waits for the coordinator
        self._finished = as_completed(loop=self.client.loop)  # not distributed.wait: that wants a default client

    def _workers(self) -> dict[str, Any]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed: all workers by default
            info = self.client.scheduler_info()
        return dict(info.get("workers", {}))

    def submit(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Any], None] | None = None) -> Any:
        # The arguments travel with the task, not scattered ahead: the scheduler keeps them, so when a
        # worker is lost its task runs again on another (scattered data would be lost with the worker).
        fut = self.client.submit(fn, *args, pure=False, resources=self.resources)
        self._finished.add(fut)
        return fut

    def wait(self, pending: set[Any], timeout: float | None = None) -> set[Any]:
        if timeout is None:
            return {next(self._finished), *self._finished.next_batch(block=False)}
        deadline = time.monotonic() + timeout
        while True:
            done = set(self._finished.next_batch(block=False))
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.05)

    def reruns(self, future: Any) -> int:
        """How many times the scheduler ran ``future``'s task again after losing the worker that had it
        (0 when the scheduler's record of it cannot be read): its transitions into "processing", less one."""
        try:
            story = self.client.sync(self.client.scheduler.get_story, keys_or_stimuli=[future.key])
        except Exception:  # noqa: BLE001  (a record for the summary only: never fail the task over it)
            return 0
        return max(0, sum(1 for t in story if len(t) > 2 and t[2] == "processing") - 1)

    def close(self, cancel: bool) -> None:
        self.client.close()


Pool = InProcess | DaskPool


def cluster_plan(workers: dict[str, Any]) -> tuple[dict[str, float] | None, int]:
    """(resources each task asks for, tasks the cluster runs at once), from the scheduler's
    ``scheduler_info()["workers"]``. Workers that advertise a "GPU" resource
    (``dask worker ... --resources GPU=1``) get every task, one per GPU; otherwise each worker
    thread runs one task."""
    gpus = sum(float((w.get("resources") or {}).get("GPU", 0)) for w in workers.values())
    if gpus:
        return {"GPU": 1}, max(1, int(gpus))
    return None, max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_workers(config: StyleConfig, jobs: int) -> int:
    """Local worker processes for ``jobs`` tasks.

    On a GPU, one (it has the GPU to itself). On CPU, one single-threaded process per core, as
    far as memory allows (:func:`painterly.memory.process_bytes`): tasks are independent, so processes scale
    with cores, while torch's threads within one image scale poorly on small images and
    collapse when other programs compete for the cores (measurements in docs/batch.md). A
    process costs a few seconds to start, which real images (minutes each on CPU) repay.
    """
    if resolve_device(config.device).type == "cuda":
        return 1
    n = min(jobs, cpu_count(), int(0.8 * memory.available_bytes()) // memory.process_bytes(config))
    return max(1, n)


def start_pool(workers: int | None, scheduler: str | None, config: StyleConfig, jobs: int) -> Pool:
    """The Dask cluster at ``scheduler`` (a :class:`PoolError` when it cannot be used), or ``workers`` local
    processes for ``jobs`` tasks (:func:`local_pool`; one: this process)."""
    if scheduler is not None:
        return DaskPool(scheduler)
    return local_pool(workers, config, jobs)


def local_pool(workers: int | None, config: StyleConfig, jobs: int) -> Pool:
    """This process (one worker) or a pool of ``workers`` processes (default :func:`default_workers`)."""
    resolve_device(config.device)  # --device cuda without a GPU: one usage error, not N failures
    n = min(workers or default_workers(config, jobs), jobs)
    if n <= 1:
        return InProcess()
    return ProcessPool(n, max(1, cpu_count() // n))


Task = tuple[Any, Callable[..., Any], tuple[Any, ...]]  # (the caller's key, the function, its arguments)


def complete(pool: Pool, tasks: Iterable[Task], *,
             callback: Callable[[Any], Callable[[Any], None] | None] | None = None) -> Iterator[tuple[Any, Any, int]]:
    """Run ``tasks`` on ``pool`` and yield each as it finishes: (its key, its future, reruns). At most
    ``pool.slots`` are in flight, so memory stays bounded however many there are (``tasks`` is read as slots
    free up). A task whose local worker process died (``BrokenProcessPool``) is submitted again, before new
    ones, until it has died :data:`TRIES` times (that last future is yielded, its exception with it); a Dask
    scheduler runs a lost worker's task again by itself. ``reruns`` counts both. ``callback(key)``: the
    progress callback the task's function takes (an :class:`InProcess` pool only passes it on)."""
    queue = iter(tasks)
    again: list[tuple[Task, int]] = []  # tasks whose local worker process died, and how often
    pending: dict[Any, tuple[Task, int]] = {}
    while True:
        while len(pending) < pool.slots:
            if again:
                task, lost = again.pop(0)
            else:
                task, lost = next(queue, None), 0  # type: ignore[assignment]
                if task is None:
                    break
            key, fn, args = task
            pending[pool.submit(fn, *args, callback=callback(key) if callback else None)] = (task, lost)
        if not pending:
            return
        for fut in pool.wait(set(pending)):
            task, lost = pending.pop(fut)
            if isinstance(fut.exception(), BrokenProcessPool):
                lost += 1
                if lost < TRIES:
                    again.append((task, lost))
                    continue
            yield task[0], fut, lost + pool.reruns(fut)
