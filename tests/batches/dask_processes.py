"""A Dask cluster of real processes on 127.0.0.1: ``dask scheduler`` and ``dask worker`` s, as
users start them (no nanny, so a killed worker stays dead), each with one thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def kill(self, worker: int) -> int:
        """SIGKILL one worker; returns its pid."""
        proc = self.workers[worker]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return proc.pid


def _env() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _dask(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([str(Path(sys.executable).with_name("dask")), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


@contextmanager
def dask_cluster(workers: int, logs: Path, timeout: float = 60) -> Iterator[Cluster]:
    """Start a scheduler and ``workers`` workers; stop whatever is left of them at the end."""
    import distributed

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log=logs / "scheduler.log")]
    cluster = Cluster(address)
    try:
        for i in range(workers):
            cluster.workers.append(_dask("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                                         "--no-dashboard", "--name", f"w{i}", log=logs / f"worker-{i}.log"))
        with distributed.Client(address, timeout=timeout) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield cluster
    finally:
        for proc in [*cluster.workers, *procs]:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in [*cluster.workers, *procs]:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
