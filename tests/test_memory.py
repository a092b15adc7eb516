import sys

import pytest

from painterly.config import ConfigError
from painterly.memory import activation_bytes, plan


def test_estimate_grows_with_pixels_and_checkpointing_saves():
    small, big = activation_bytes((256, 256), "relu5_1", False), activation_bytes((512, 512), "relu5_1", False)
    assert 3.9 < big / small < 4.1
    assert activation_bytes((512, 512), "relu5_1", True) < big
    assert activation_bytes((512, 512), "relu2_1", False) < big


def test_plan_fits_small_images_plainly():
    p = plan((512, 512), "relu5_1", 100, max_memory_gb=8)
    assert not p.checkpoint and p.lbfgs_history == 100 and p.estimate_bytes <= p.budget_bytes


def test_plan_switches_to_checkpointing_then_refuses():
    hw = (2160, 3840)
    plain = plan(hw, "relu5_1", 100, max_memory_gb=64)
    assert not plain.checkpoint
    tight = plan(hw, "relu5_1", 100, max_memory_gb=15)
    assert tight.checkpoint and tight.estimate_bytes <= tight.budget_bytes
    with pytest.raises(ConfigError, match=r"--size 3840: needs about .* use --size \d+ or less"):
        plan(hw, "relu5_1", 100, max_memory_gb=2)


@pytest.mark.slow
def test_cli_refuses_before_heavy_work(tmp_path, capsys, content_path, style_path):
    from painterly.cli import main

    out = tmp_path / "o.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "6000", "--max-memory", "1",
                 "--quiet"]) == 2
    assert "--size 6000: needs about" in capsys.readouterr().err and not out.exists()


def test_heap_keeps_freed_memory_only_where_the_plan_has_room():
    from painterly.memory import heap_has_room

    assert heap_has_room(plan((512, 512), "relu5_1", 100, 8))
    roomy = plan((2160, 3840), "relu5_1", 100, max_memory_gb=64)
    assert heap_has_room(roomy)
    assert not heap_has_room(plan((2160, 3840), "relu5_1", 100, max_memory_gb=15))  # checkpoints
    # Fits plainly, but not with the heap's fragmentation on top.
    snug = plan((2160, 3840), "relu5_1", 100, max_memory_gb=roomy.estimate_bytes * 1.1 / 2**30)
    assert not snug.checkpoint and not heap_has_room(snug)


# Run in a fresh process: in a test worker, what earlier tests left on malloc's heap (and threads that
# share its main arena) would decide the faults. It measures an iteration, as the engine's loop has:
# a lone tensor freed and made again may not fit its own hole (PyTorch asks posix_memalign for a
# little more than the block), but an iteration's neighbouring freed blocks merge and are reused.
_KEEP_FREED_IN_CHILD = """
import json, os, resource
import torch
from painterly import allocator

torch.set_num_threads(1)
conv = torch.nn.Conv2d(32, 32, 3, padding=1)
x = torch.rand(1, 32, 512, 512, requires_grad=True)  # 32 MB activations: glibc would mmap each

def faults_per_iteration():
    counts = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        conv(torch.relu(conv(x))).square().sum().backward()
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return counts[2:]  # the steady state, after the first iterations have grown the heap

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

faults = {"glibc": faults_per_iteration()}
took = [allocator.keep_freed_memory(True)]
faults["kept"] = faults_per_iteration()
given_back = []
for then in (True, False):  # the next scale, or the end of the run
    torch.ones(128, 1024, 1024)  # 512 MB, freed: kept by malloc
    kept = rss_mb()
    took.append(allocator.keep_freed_memory(then))
    given_back.append(kept - rss_mb())
print(json.dumps({"took": took, "faults": faults, "given_back_mb": given_back}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_kept_memory_is_reused_without_page_faults_and_given_back_after():
    import json
    import subprocess

    child = subprocess.run([sys.executable, "-c", _KEEP_FREED_IN_CHILD], capture_output=True, text=True, check=True)
    seen = json.loads(child.stdout.splitlines()[-1])
    assert seen["took"] == [True, True, True]
    glibc, kept = seen["faults"]["glibc"], seen["faults"]["kept"]
    assert min(glibc) > 8192 * 8  # every 32 MB block's pages faulted in, each iteration
    assert sum(kept) < sum(glibc) / 8  # the freed blocks reused, their pages still there (now and then one is not)
    assert all(mb > 400 for mb in seen["given_back_mb"])  # given back, at the next scale and at the end


def test_the_sliced_wasserstein_loss_memory_is_planned():
    from painterly.config import DEFAULT_STYLE_LAYERS, StyleLossKind
    from painterly.memory import style_loss_bytes

    hw = (512, 512)
    assert style_loss_bytes(hw, DEFAULT_STYLE_LAYERS, StyleLossKind.GRAM) == 0
    extra = style_loss_bytes(hw, DEFAULT_STYLE_LAYERS, StyleLossKind.SWD)
    relu1_1 = 4 * 64 * 512 * 512
    assert 1.9 * relu1_1 < extra < 4 * relu1_1  # one gradient map per layer, and a block of projections meanwhile
    hw4k = (2160, 3840)  # a 4K scale gets a few iterations, so a short history
    assert not plan(hw4k, "relu5_1", 3, max_memory_gb=20).checkpoint
    swd_bytes = style_loss_bytes(hw4k, DEFAULT_STYLE_LAYERS, StyleLossKind.SWD)
    with_swd = plan(hw4k, "relu5_1", 3, max_memory_gb=20, extra_bytes=swd_bytes)
    assert with_swd.checkpoint and with_swd.estimate_bytes <= with_swd.budget_bytes


def test_batch_workers_fit_the_memory_the_plan_says_one_needs(monkeypatch):
    from painterly import StyleConfig, memory
    from painterly.batches.workers import cpu_count, default_workers

    cfg = StyleConfig(size=512, device="cpu")
    one = memory.process_bytes(cfg)
    assert memory.process_bytes(cfg.replace(size=1024)) > 2 * one  # activations grow with the pixels
    monkeypatch.setattr(memory, "available_bytes", lambda: int(2.6 * one))  # e.g. a cgroup limit
    assert default_workers(cfg, jobs=8) == min(2, cpu_count())
    monkeypatch.setattr(memory, "available_bytes", lambda: one // 2)
    assert default_workers(cfg, jobs=8) == 1  # never none
