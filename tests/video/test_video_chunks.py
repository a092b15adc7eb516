"""A clip in chunks at once (painterly.video.chunks / .parallel): the plan, the seams, a lost
worker, a Dask cluster on 127.0.0.1, progress, and the command line's refusals.

Runs paint tests/data/clip.mp4 (36 frames, one shot) small: the properties under test are the
chunking's (frames, audio, seams, resuming), not the look.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")

from conftest import DATA
from painterly.config import StyleConfig
from painterly.images import load_image
from painterly.video import FrameStep, VideoConfig, stylize_video, work_folder_for
from painterly.video.chunks import Chunk, ClipSpec, as_tensor, fade_weight, paint_chunk, plan_chunks, seam_pairs, sync_prior
from painterly.video.cli import describe_step, main
from painterly.video.io import plan_frames, probe, read_frames
from painterly.video.parallel import as_bytes, portable
from painterly.video.temporal import warping_error

CLIP = DATA / "clip.mp4"
STYLE = DATA / "style.png"
TINY = StyleConfig(size=32, iterations=2, multiscale=False, seed=1)


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def _video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# The plan ---------------------------------------------------------------------------------------
def test_plan_splits_at_cuts_and_overlaps_long_shots():
    chunks = plan_chunks(32, {0, 20}, chunk_frames=8, overlap=3)
    assert chunks == [Chunk(0, 0, 0, 8, 3, None), Chunk(0, 5, 8, 16, 3, 0), Chunk(0, 13, 16, 20, 0, 5),
                      Chunk(20, 20, 20, 28, 3, None), Chunk(20, 25, 28, 32, 0, 20)]
    # Every frame is one chunk's own, and each overlap is one chunk's lead-in and the one before's tail.
    own = sorted(k for c in chunks for k in range(c.start, c.end))
    assert own == list(range(32))
    for before, after in zip(chunks, chunks[1:]):
        if after.sync is None:  # a cut: nothing overlaps
            assert after.first == before.end and before.tail == 0
            continue
        assert [before.role(k) for k in range(after.first, after.start)] == ["tail"] * 3
        assert [after.role(k) for k in range(after.first, after.start)] == ["lead"] * 3
        assert after.sync == before.first and after.reads_from == before.first
    assert [fade_weight(chunks[1], k) for k in (5, 6, 7)] == [0.25, 0.5, 0.75]  # linear, never 0 or 1
    assert plan_chunks(5, {0}, 8, 3) == [Chunk(0, 0, 0, 5)]  # a short clip is one chunk
    assert plan_chunks(10, {0}, 8, 3) == [Chunk(0, 0, 0, 10)]  # and so is a shot that ends within the overlap
    # Without overlap a chunk continues from the last frame of the one before (after it: no seam).
    assert plan_chunks(20, {0}, 8, 0) == [Chunk(0, 0, 0, 8), Chunk(0, 8, 8, 16, 0, 7), Chunk(0, 16, 16, 20, 0, 15)]


def test_chunks_overlap_by_half_unless_told():
    """Half a chunk: a fade of 12 frames in 48 showed (docs/video.md, benchmarks/video_chunks.py)."""
    assert VideoConfig().overlap == 24 and VideoConfig(chunk_frames=10).overlap == 5
    assert VideoConfig(chunk_frames=10, chunk_overlap=0).overlap == 0


def test_a_synced_start_follows_the_motion_to_the_chunk_s_first_frame(content_path):
    """A camera panning 2 px a frame: frame 0 carried along the flow to frame 4 is frame 4 where the
    flow holds (it samples once: as sharp as the frame), and the strip that came into view is free."""
    photo = load_image(content_path).rgb[..., :64, :]
    frames = [photo[..., 2 * k:2 * k + 64] for k in range(5)]
    prior = sync_prior(frames, frames[0], StyleConfig())
    held = prior.mask[0, 0] > 0
    assert 0.7 < float(held.float().mean()) < 0.95 and not held[:, -4:].any()  # the new strip on the right
    err = (prior.warped - frames[4]).abs().mean(1)[0]
    assert float(err[held].mean()) < 0.02 and float(err[held].mean()) < 0.2 * float((frames[0] - frames[4]).abs().mean())


def test_progress_line_says_done_pace_and_eta():
    step = FrameStep(4, 36, 3, 6, 12.5, {}, 4, 30, reliable=0.8, done=10, seconds_per_frame=2.5, eta=65.0)
    done, info = describe_step(step)
    assert done == 10.5
    assert info == "frame 5/36 (80% tracked)  loss 12.5  2.5 s/frame, eta 0:01:05"
    first = FrameStep(0, 36, 1, 20, float("nan"), {}, 0, 36, shot_start=True)
    assert describe_step(first)[1] == "frame 1/36 (first of shot)  timing the first frame"


# One piece and chunks -----------------------------------------------------------------------------
TINY_VIDEO = VideoConfig(duration=0.5, frame_iterations=1, chunk_frames=4, chunk_overlap=2)  # 12 frames, 3 chunks


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """The same 12 frames in one piece and in three chunks painted one after another in this
    process: (results, their steps, the chunked run's PNGs)."""
    tmp = tmp_path_factory.mktemp("tiny")
    steps: dict[str, list[FrameStep]] = {"whole": [], "chunked": []}
    results = {name: stylize_video(CLIP, [STYLE], tmp / f"{name}.mp4", TINY, TINY_VIDEO, keep_frames=True,
                                   callback=steps[name].append, workers=1 if name == "chunked" else None)
               for name in steps}
    pngs = {p.name: p.read_bytes() for p in work_folder_for(results["chunked"].output).glob("*.png")}
    return results, steps, pngs


@pytest.mark.slow
def test_chunked_run_agrees_with_the_whole_run(tiny_runs):
    whole, chunked = tiny_runs[0]["whole"], tiny_runs[0]["chunked"]
    assert (chunked.frames, chunked.rate, chunked.size) == (whole.frames, whole.rate, whole.size) == (12, "2997/125",
                                                                                                   (22, 32))
    assert _video_frames(chunked.output) == _video_frames(whole.output) == 12
    assert _audio_packets(chunked.output) == _audio_packets(whole.output) != []  # the audio, copied as before
    assert chunked.shots == whole.shots == [0] and chunked.retried == []
    assert (chunked.painted, chunked.resumed) == (12, 0)
    names = sorted(tiny_runs[2])
    assert names[:12] == [f"frame_{k:06d}.png" for k in range(12)]
    assert names[12:] == [f"{role}_{k:06d}.png" for role in ("lead", "tail") for k in (2, 3, 6, 7)]


@pytest.mark.slow
def test_both_ways_report_frames_done_seconds_per_frame_and_eta(tiny_runs):
    for name, steps in tiny_runs[1].items():
        finished = [s for s in steps if s.finished]
        assert sorted(s.frame for s in finished) == list(range(12)), name
        assert [s.done for s in finished] == list(range(1, 13)), name
        assert all(s.seconds_per_frame > 0 and math.isfinite(s.eta) for s in finished), name
        assert finished[-1].eta == 0 and finished[0].eta > finished[-2].eta, name
        assert all(s.image is not None and s.image.shape == (1, 3, 22, 32) for s in finished), name
        assert any(s.iterations for s in steps), name  # in this process, the iterations of each frame too


@pytest.mark.slow
def test_without_overlap_the_chunks_continue_one_chain(tiny_runs, tmp_path):
    """``chunk_overlap=0``: each chunk starts from the last frame of the one before (and so waits for
    it): the frames are the one-piece run's, up to the 8-bit inputs the chunks are sent, and no
    boundary (frames 4 and 8) differs more than the frames around it."""
    result = stylize_video(CLIP, [STYLE], tmp_path / "chain.mp4", TINY, TINY_VIDEO.replace(chunk_overlap=0),
                           keep_frames=True, workers=1)
    assert result.shots == [0] and result.painted == 12
    whole = tiny_runs[0]["whole"].output
    diffs = []
    for k in range(12):
        a, b = (np.asarray(Image.open(work_folder_for(out) / f"frame_{k:06d}.png"), np.int16)
                for out in (whole, result.output))
        diffs.append(np.abs(a - b).mean())
        # A few pixels follow the 8-bit input: Adam (nnst's optimiser) moves a coefficient by up to its step
        # whatever the size of its gradient, so the rounding shows (measured: 99th percentile 11 of 255 on
        # every frame, mean 0.7 at frame 0 rising to 1.1 at frame 11; the bounds were 8 and 1 with L-BFGS).
        assert np.percentile(np.abs(a - b), 99) <= 14, k
    assert max(diffs) < 1.5 and diffs[4] < 1.5 * diffs[3] and diffs[8] < 1.5 * diffs[7]
    assert sorted(p.name for p in work_folder_for(result.output).glob("*.png")) == [
        f"frame_{k:06d}.png" for k in range(12)]


def _seam_errors(out: Path, duration: float, hw: tuple[int, int], chunks: list[Chunk]) -> tuple[list[float], list[float]]:
    """Warping errors of consecutive frames across chunk boundaries (every pair of a cross-fade, and
    the one into the chunk's own frames) and inside chunks, on the 8-bit inputs the workers saw."""
    info = probe(CLIP)
    frames = [as_tensor(as_bytes(f)) for f in read_frames(info, plan_frames(info, duration=duration), hw)]
    outs = [load_image(work_folder_for(out) / f"frame_{k:06d}.png").rgb for k in range(len(frames))]
    window = seam_pairs(chunks)
    errors: dict[bool, list[float]] = {True: [], False: []}
    for k in range(1, len(frames)):
        errors[k in window].append(warping_error(outs[k - 1], outs[k], frames[k - 1], frames[k]))
    return errors[True], errors[False]


@pytest.mark.slow
def test_no_seam_shows_where_chunks_meet(tmp_path):
    """Three chunks of 6 frames, each after the first fading in over 3: the warping error across
    the boundaries is no worse than 1.5 times the error inside the chunks. (Measured: 0.60 times;
    with the lead-in started like a shot's first frame instead of from the chunk before, 3.0 times.)"""
    cfg = StyleConfig(size=64, iterations=10, multiscale=False, seed=1)
    video = VideoConfig(duration=0.75, frame_iterations=5, chunk_frames=6, chunk_overlap=3)  # 18 frames
    result = stylize_video(CLIP, [STYLE], tmp_path / "seams.mp4", cfg, video, keep_frames=True, workers=1)
    boundary, inside = _seam_errors(result.output, 0.75, result.size, plan_chunks(18, {0}, 6, 3))
    assert len(boundary) == 8 and len(inside) == 9
    ratio = np.mean(boundary) / np.mean(inside)
    print(f"warping error: boundary {np.mean(boundary):.3g} (max {max(boundary):.3g}), inside {np.mean(inside):.3g} "
          f"(max {max(inside):.3g}), ratio {ratio:.2f}")
    assert ratio <= 1.5 and max(boundary) <= 1.5 * max(inside)


# Workers ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_killed_worker_s_chunk_is_painted_again(tmp_path, style_path, tiny_runs):
    out = tmp_path / "killed.mp4"
    folder = work_folder_for(out)
    kept: dict[str, bytes] = {}

    def kill_a_worker(step: FrameStep) -> None:
        if step.finished and not kept:
            kept.update({p.name: p.read_bytes() for p in folder.glob("*.png")})
            victim = multiprocessing.active_children()[0]  # a pool process painting a chunk
            os.kill(victim.pid, signal.SIGKILL)

    result = stylize_video(CLIP, [style_path], out, TINY, TINY_VIDEO, keep_frames=True, workers=2,
                           callback=kill_a_worker)
    assert kept and result.retried  # a chunk was lost with its worker and painted again
    assert result.frames == 12 == _video_frames(out)
    got = {p.name: p.read_bytes() for p in folder.glob("*.png")}
    assert all(got[name] == data for name, data in kept.items())  # what was kept was not painted again
    assert got == tiny_runs[2]  # the same frames as chunks painted one after another in this process


@pytest.mark.slow
def test_a_dask_cluster_on_localhost_paints_the_chunks(tmp_path, style_path, tiny_runs):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "cluster.mp4"
    # Two workers as threads of this process (quick to start; the batch tests start worker processes),
    # reached over TCP on 127.0.0.1 as a real cluster is.
    with distributed.LocalCluster(host="127.0.0.1", protocol="tcp://", n_workers=2, threads_per_worker=1,
                                  processes=False, dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        result = stylize_video(CLIP, [style_path], out, TINY, TINY_VIDEO, keep_frames=True,
                               scheduler=cluster.scheduler_address)
    assert result.frames == 12 == _video_frames(out) and result.retried == []
    assert {p.name: p.read_bytes() for p in work_folder_for(out).glob("*.png")} == tiny_runs[2]


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_folder_sends_its_frames_back(tmp_path, style_path):
    info = probe(CLIP)
    hw = (22, 32)
    frames = np.stack([as_bytes(f) for f in read_frames(info, plan_frames(info, duration=0.1), hw)])
    spec = ClipSpec(TINY, TINY_VIDEO, [load_image(style_path)], portable({"masks": None, "coarse_style": None,
                    "fine_style": None}), hw, str(tmp_path / "elsewhere.frames"), "key")
    done = paint_chunk(spec, Chunk(0, 0, 0, 3, 1), frames, frames[0], None)
    assert not done.error and done.painted == [0, 1, 2]
    assert sorted(done.files) == ["frame_000000.png", "frame_000001.png", "tail_000002.png"]
    assert all(png.startswith(b"\x89PNG") for png in done.files.values())
    assert not (tmp_path / "elsewhere.frames").exists()


# The command line -------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, message", [
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--workers is for local runs"),
    (["--scheduler", "my laptop"], "--scheduler must be a Dask scheduler's address"),
    (["--workers", "2", "--chunk-frames", "1"], "--chunk-frames must be a whole number of at least 2"),
    (["--workers", "2", "--chunk-frames", "8", "--chunk-overlap", "8"], "--chunk-overlap must be a whole number"),
    (["--workers", "2", "--chunk-overlap", "-1"], "--chunk-overlap"),
    (["--chunk-frames", "24"], "--chunk-frames splits the clip for --workers N or --scheduler"),
])
def test_bad_chunk_options_one_line_exit_2(tmp_path, capsys, style_path, extra, message):
    out = tmp_path / "o.mp4"
    assert main([str(CLIP), str(style_path), "-o", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not work_folder_for(out).exists()


@pytest.mark.slow
def test_unreachable_scheduler_fails_with_one_line_and_creates_nothing(tmp_path, capsys, style_path):
    dask = pytest.importorskip("dask")
    out = tmp_path / "o.mp4"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        rc = main([str(CLIP), str(style_path), "-o", str(out), "--quiet", "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "cannot connect" in err and "dask scheduler" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not work_folder_for(out).exists()
