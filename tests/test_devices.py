"""--device (cuda:N, mps, refusals), the memory plan on a CUDA GPU from its free memory, and --threads.

There is no GPU where these run: torch.cuda's answers are patched, and the plan is checked from a
given free-memory figure. The CPU is the path the end-to-end tests run.
"""

from __future__ import annotations

import pytest
import torch

from painterly import devices, memory
from painterly.config import ConfigError, StyleConfig, parse_device
from painterly.scales import memory_plans, scale_schedule

GB = 2**30


@pytest.mark.parametrize("text, value", [("auto", "auto"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda:0"),
                                         ("cuda:12", "cuda:12"), ("Cuda:01", "cuda:1"), (" mps ", "mps")])
def test_device_values(text: str, value: str) -> None:
    assert parse_device(text) == value
    assert StyleConfig(device=text).device == value


@pytest.mark.parametrize("text", ["tpu", "cuda:x", "cuda:", "cuda:-1", "cuda:1:2", "gpu", "cuda 1", "cuda:99999"])
def test_unknown_devices_are_refused_naming_the_choices(text: str) -> None:
    with pytest.raises(ConfigError, match=r"--device: unknown device .*cuda:N"):
        StyleConfig(device=text)


def test_cuda_without_a_gpu_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for text in ("cuda", "cuda:1"):
        with pytest.raises(ConfigError, match=rf"^--device {text}: no CUDA GPU is available here .*use --device cpu$"):
            devices.resolve_device(text)
    assert devices.resolve_device("auto") == torch.device("cpu")


def test_cuda_index_is_checked_against_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert devices.resolve_device("cuda:1") == torch.device("cuda:1")
    assert devices.resolve_device("auto") == torch.device("cuda")
    with pytest.raises(ConfigError, match=r"^--device cuda:2: this machine has 2 CUDA GPUs \(cuda:0 \.\.\. cuda:1\)$"):
        devices.resolve_device("cuda:2")


def test_mps_is_refused_where_torch_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^--device mps: .*use --device cpu$"):
        devices.resolve_device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.resolve_device("mps") == torch.device("mps")


@pytest.mark.parametrize("threads", [0, -1, 10**6, 1.5, True])
def test_threads_out_of_range_are_refused(threads: object) -> None:
    with pytest.raises(ConfigError, match="--threads"):
        StyleConfig(threads=threads)  # type: ignore[arg-type]


def test_free_memory_is_the_budget_on_cuda() -> None:
    free = 6 * GB
    p = memory.plan((512, 512), "relu5_1", 100, free_bytes=free, base_bytes=memory.GPU_BASE_BYTES)
    assert p.budget_bytes == int(memory.BUDGET_SHARE * free) and not p.checkpoint
    assert memory.plan((512, 512), "relu5_1", 100, 2.0, free_bytes=free).budget_bytes == 2 * GB  # --max-memory wins
    # The CPU's base is larger than the GPU's (there the weights are already out of the free figure).
    assert p.estimate_bytes < memory.plan((512, 512), "relu5_1", 100, 8.0).estimate_bytes


def _gpu_plans(monkeypatch: pytest.MonkeyPatch, free: int, cfg: StyleConfig) -> dict:
    monkeypatch.setattr(devices, "free_bytes", lambda device: free)
    plans = memory_plans(scale_schedule((cfg.size, cfg.size), cfg), cfg, torch.device("cuda:0"))
    assert plans is not None
    return plans


def test_a_gpu_plan_checkpoints_the_scales_that_need_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = StyleConfig(size=2048, method="gatys")
    plans = _gpu_plans(monkeypatch, 12 * GB, cfg)
    assert all(p.budget_bytes == int(memory.BUDGET_SHARE * 12 * GB) for p in plans.values())
    assert plans[(2048, 2048)].checkpoint and not plans[(256, 256)].checkpoint
    assert all(p.estimate_bytes <= p.budget_bytes for p in plans.values())
    roomy = _gpu_plans(monkeypatch, 80 * GB, cfg)
    assert not any(p.checkpoint for p in roomy.values())


def test_a_gpu_too_small_refuses_with_a_size_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = StyleConfig(size=4096)
    with pytest.raises(ConfigError) as e:
        _gpu_plans(monkeypatch, 2 * GB, cfg)
    message = str(e.value)
    assert message.startswith("--size 4096: needs about") and "available on cuda:0; use --size " in message
    assert "--max-memory" not in message  # it cannot add to a GPU's free memory
    fits = int(message.split("use --size ")[1].split()[0])
    assert 256 <= fits < 4096
    _gpu_plans(monkeypatch, 2 * GB, cfg.replace(size=fits))  # and that size is planned without a refusal


def test_memory_is_not_planned_on_mps() -> None:
    assert memory_plans([((256, 256), 10)], StyleConfig(), torch.device("mps")) is None


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_use_threads_sets_torch(restore_threads: None) -> None:
    devices.use_threads(2)
    assert torch.get_num_threads() == 2
    devices.use_threads(None)  # torch's own choice is left alone
    assert torch.get_num_threads() == 2
    assert devices.describe(torch.device("cpu")) == {"device": "cpu", "threads": 2}


@pytest.mark.parametrize("size, gb", [(4096, 2.0), (2048, 1.5), (8192, 6.0)])
def test_the_size_a_cpu_refusal_names_is_accepted(size: int, gb: float) -> None:
    """The refusal's --size N is one that the plan then accepts (at N the last scale runs more iterations,
    so keeps a longer L-BFGS history, than at the size refused)."""
    cfg = StyleConfig(size=size, max_memory=gb)
    with pytest.raises(ConfigError, match=r"use --size (\d+) or less, or raise --max-memory") as e:
        memory_plans(scale_schedule((size, size), cfg), cfg)
    fits = int(str(e.value).split("use --size ")[1].split()[0])
    memory_plans(scale_schedule((fits, fits), cfg), cfg.replace(size=fits))
