"""Video: probe and plan, end-to-end through the CLI on a real clip, resume, errors (painterly.video).

tests/data/clip.mp4 is 1.5 s of OpenCV's Megamind.avi (36 frames at 2997/125 fps, 96x70,
H.264 + AAC stereo). Runs paint at 32 px with a few iterations: the properties under test
are the container's (frames, rate, duration, audio), the resume logic and the colour path,
not the look.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av")

from conftest import DATA, ROOT
from painterly.color import chroma
from painterly.config import ConfigError, StyleConfig
from painterly.video import FrameStep, VideoConfig, VideoInterrupted, stylize_video, work_folder_for
from painterly.video.cli import main
from painterly.video.io import VideoError, output_size, plan_frames, probe, read_frames

CLIP = DATA / "clip.mp4"
RATE = Fraction(2997, 125)  # 23.976 fps, as Megamind.avi declares it
FAST = ["--size", "32", "--iterations", "2", "--frame-iterations", "1", "--no-multiscale", "--seed", "1"]
TINY = StyleConfig(size=32, iterations=3, multiscale=False, seed=1)


def streams(path: Path) -> dict:
    """Frame count, rate, size, duration and the audio packets' bytes of a video file."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        info = {"codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "rate": v.average_rate,
                "size": (v.codec_context.width, v.codec_context.height), "audio": None}
        a = c.streams.audio[0] if c.streams.audio else None
        if a is not None:
            info["audio"] = {"codec": a.codec_context.name, "rate": a.codec_context.sample_rate,
                             "channels": a.codec_context.channels}
        frames, packets = 0, []
        for packet in c.demux():
            if packet.stream.type == "video":
                frames += len(packet.decode())
            elif packet.size:
                packets.append(bytes(packet))
        info["frames"], info["packets"] = frames, packets
        info["duration"] = frames / float(v.average_rate)
        info["audio_seconds"] = sum(1024 for _ in packets) / a.codec_context.sample_rate if a else 0.0
    return info


# Probe and plan (no painting) ------------------------------------------------------------------
def test_probe_reads_the_clip():
    info = probe(CLIP)
    assert (info.frames, info.rate, info.width, info.height) == (36, RATE, 96, 70)
    assert info.codec == "h264" and info.audio_codec == "aac"
    assert info.duration == pytest.approx(36 / float(RATE), abs=1e-3)
    assert all(b > a for a, b in zip(info.times, info.times[1:]))


def test_plan_selects_ranges_and_resamples():
    info = probe(CLIP)
    assert plan_frames(info).sources == tuple(range(36))
    part = plan_frames(info, start=0.5, duration=0.5)
    assert len(part.sources) == 12 and part.sources[0] == 12 and part.rate == RATE
    half = plan_frames(info, fps=12)
    assert len(half.sources) == 18 and half.sources[:3] == (0, 2, 4) and half.rate == 12
    double = plan_frames(info, duration=0.25, fps=48)
    assert double.sources == (0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5)
    assert output_size(info, 33) == (24, 32)  # both sides even for yuv420p


def test_frames_are_tensors_in_the_package_convention():
    info = probe(CLIP)
    frames = list(read_frames(info, plan_frames(info, duration=0.1), (22, 32)))
    assert len(frames) == 3
    assert all(f.shape == (1, 3, 22, 32) and f.dtype == torch.float32 for f in frames)
    assert 0 <= float(frames[0].min()) and float(frames[0].max()) <= 1 and float(frames[0].std()) > 0.05


@pytest.mark.parametrize("kw, flag", [({"duration": 0}, "--duration"), ({"start": -1}, "--start"),
                                      ({"fps": 0}, "--fps"), ({"temporal_weight": -1}, "--temporal-weight"),
                                      ({"frame_iterations": 0}, "--frame-iterations"), ({"crf": 60}, "--crf")])
def test_video_config_validates(kw, flag):
    with pytest.raises(ConfigError, match=flag):
        VideoConfig(**kw)


# End to end ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_each_shot_is_prepared_once(tmp_path, style_path, prepares):
    """The clip's check prepares the first shot's painting, which paints it; every later shot is
    prepared once, at its first frame (--scene-cut 0.93 makes five shots of its first ten frames)."""
    result = stylize_video(CLIP, [style_path], tmp_path / "out.mp4", TINY,
                           VideoConfig(duration=0.4, frame_iterations=1, scene_cut=0.93))
    assert 1 < len(result.shots) < result.frames  # several shots, with later frames in them
    assert len(prepares) == len(result.shots)


@pytest.mark.slow
def test_cli_keeps_frames_rate_duration_and_audio(tmp_path, style_path, capsys):
    out = tmp_path / "out.mp4"
    assert main([str(CLIP), str(style_path), "-o", str(out), *FAST]) == 0
    src, got = streams(CLIP), streams(out)
    assert got["frames"] == src["frames"] == 36
    assert got["rate"] == src["rate"] == RATE
    assert got["duration"] == pytest.approx(src["duration"], abs=1e-6)
    assert (got["codec"], got["pix_fmt"], got["size"]) == ("h264", "yuv420p", (32, 22))
    assert got["audio"] == src["audio"] == {"codec": "aac", "rate": 48000, "channels": 2}
    assert got["packets"] == src["packets"]  # the audio is copied, not re-encoded
    side = json.loads((tmp_path / "out.mp4.json").read_text())
    assert side["frames"] == 36 and side["config"]["seed"] == 1 and side["inputs"]["video"]["sha256"]
    assert not work_folder_for(out).exists()
    assert "wrote" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_start_duration_fps(tmp_path, style_path):
    out = tmp_path / "part.mkv"
    assert main([str(CLIP), str(style_path), "-o", str(out), *FAST, "--start", "0.5", "--duration", "0.5",
                 "--fps", "12", "--quiet"]) == 0
    src, got = streams(CLIP), streams(out)
    assert got["frames"] == 6 and got["rate"] == 12
    assert got["audio_seconds"] == pytest.approx(0.5, abs=0.03)
    n = len(got["packets"])  # a contiguous run of the source's packets, from about 0.5 s
    i = src["packets"].index(got["packets"][0])
    assert src["packets"][i:i + n] == got["packets"] and abs(i * 1024 / 48000 - 0.5) < 0.03


@pytest.mark.slow
def test_interrupted_run_resumes_without_repainting(tmp_path, style_path):
    out = tmp_path / "r.mp4"
    video = VideoConfig(duration=0.3, frame_iterations=2)  # 7 frames (0 .. 6/23.976 s)
    events: list[FrameStep] = []

    def stop_after_three(step: FrameStep) -> None:
        if step.finished and step.frame == 2:
            raise KeyboardInterrupt

    with pytest.raises(VideoInterrupted) as e:
        stylize_video(CLIP, [style_path], out, TINY, video, callback=stop_after_three)
    folder = work_folder_for(out)
    assert (e.value.done, e.value.frames, e.value.folder) == (3, 7, folder)
    assert not out.exists()
    kept = {p.name: p.read_bytes() for p in folder.glob("frame_*.png")}
    assert sorted(kept) == [f"frame_00000{k}.png" for k in range(3)]

    result = stylize_video(CLIP, [style_path], out, TINY, video, callback=events.append, keep_frames=True)
    assert (result.frames, result.painted, result.resumed) == (7, 4, 3)
    assert sorted(s.frame for s in events if s.resumed) == [0, 1, 2]
    assert sorted(s.frame for s in events if s.finished and not s.resumed) == [3, 4, 5, 6]
    assert all(s.frame >= 3 for s in events if s.iterations)  # no optimiser step on a kept frame
    assert all((folder / name).read_bytes() == data for name, data in kept.items())
    assert streams(out)["frames"] == 7

    # The same frames as one uninterrupted run: resuming continues from the stored pixels.
    whole = stylize_video(CLIP, [style_path], tmp_path / "w.mp4", TINY, video, keep_frames=True)
    assert whole.painted == 7
    for k in range(7):
        a = (folder / f"frame_{k:06d}.png").read_bytes()
        b = (work_folder_for(whole.output) / f"frame_{k:06d}.png").read_bytes()
        assert a == b, k


@pytest.mark.slow
def test_ctrl_c_keeps_finished_frames_and_says_how_to_resume(tmp_path, style_path):
    out = tmp_path / "i.mp4"
    cmd = [sys.executable, "-m", "painterly", "video", str(CLIP), str(style_path), "-o", str(out), "--size", "32",
           "--iterations", "2", "--frame-iterations", "400", "--tolerance", "0", "--no-multiscale", "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    folder = work_folder_for(out)
    deadline = time.time() + 120
    while not (folder / "frame_000000.png").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # into frame 1's 400 iterations
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "1 of 36 frames are kept" in err
    assert "run the same command again to resume" in err and "Traceback" not in err
    assert (folder / "frame_000000.png").exists() and (folder / "manifest.json").exists()
    assert not out.exists()


@pytest.mark.slow
def test_changed_options_start_the_frames_afresh(tmp_path, style_path):
    out = tmp_path / "c.mp4"
    video = VideoConfig(duration=0.1, frame_iterations=1)
    stylize_video(CLIP, [style_path], out, TINY, video, keep_frames=True)
    again = stylize_video(CLIP, [style_path], out, TINY.replace(style_weight=50.0), video, keep_frames=True)
    assert again.painted == again.frames == 3


@pytest.mark.slow
def test_a_cut_starts_a_new_shot(tmp_path, style_path, content_path):
    """Frames 0-3 of the clip, then a slow pan over another picture: frame 4 cannot be traced to frame 3."""
    from PIL import Image

    cut = tmp_path / "cut.mp4"
    with av.open(str(CLIP)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(4), c.decode(video=0))]
    other = np.asarray(Image.open(content_path).convert("RGB").resize((100, 70)))
    frames += [other[:, k:k + 96] for k in range(4)]
    with av.open(str(cut), "w") as o:
        v = o.add_stream("libx264", rate=RATE)
        v.width, v.height, v.pix_fmt = 96, 70, "yuv420p"
        for k, arr in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
            f.pts = k
            o.mux(v.encode(f))
        o.mux(v.encode(None))
    events: list[FrameStep] = []
    result = stylize_video(cut, [style_path], tmp_path / "o.mp4", TINY, VideoConfig(frame_iterations=1),
                           callback=events.append)
    assert result.shots == [0, 4]
    tracked = [s.reliable for s in events if s.finished and not s.shot_start]
    assert len(tracked) == 6 and min(tracked) > 0.5


@pytest.mark.slow
def test_luminance_mode_keeps_each_frames_colours(tmp_path, style_path):
    out = tmp_path / "lum.mp4"
    cfg = TINY.replace(preserve_colors="luminance")
    result = stylize_video(CLIP, [style_path], out, cfg, VideoConfig(duration=0.1, frame_iterations=2),
                           keep_frames=True)
    info = probe(CLIP)
    frames = list(read_frames(info, plan_frames(info, duration=0.1), result.size))
    folder = work_folder_for(out)
    for k, frame in enumerate(frames):
        from PIL import Image

        got = torch.from_numpy(np.asarray(Image.open(folder / f"frame_{k:06d}.png"), np.float32) / 255)
        got = got.permute(2, 0, 1)[None]
        assert float((chroma(got) - chroma(frame)).abs().mean()) < 0.01, k


# Errors: one line, exit 2, nothing written ---------------------------------------------------
def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as o:
        a = o.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        o.mux(a.encode(frame))
        o.mux(a.encode(None))
    return path


def _unknown_codec(path: Path) -> Path:
    """A real AVI whose video FourCC is replaced by one no decoder knows."""
    tmp = path.with_suffix(".tmp.avi")
    with av.open(str(tmp), "w") as o:
        v = o.add_stream("mpeg4", rate=10)
        v.width = v.height = 32
        v.pix_fmt = "yuv420p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            f.pts = i
            o.mux(v.encode(f))
        o.mux(v.encode(None))
    path.write_bytes(tmp.read_bytes().replace(b"FMP4", b"QZX9"))
    return path


BAD = [
    (lambda d: d / "missing.mp4", [], "no such file"),
    (lambda d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4", [], "not a video file"),
    (lambda d: _audio_only(d / "sound.m4a"), [], "has no video stream"),
    (lambda d: _unknown_codec(d / "odd.avi"), [], "video codec is unknown"),
    (lambda d: CLIP, ["--duration", "0"], "--duration must be more than 0"),
    (lambda d: CLIP, ["--start", "3"], "is only 1.50 s long"),
    (lambda d: CLIP, ["--start", "1", "--duration", "0.01"], "no frame starts in that range"),
    (lambda d: CLIP, ["--fps", "-5"], "--fps"),
    (lambda d: CLIP, ["--start", "soon"], "--start"),
]


@pytest.mark.parametrize("make, extra, message", BAD)
def test_bad_input_one_line_exit_2(tmp_path, capsys, style_path, make, extra, message):
    src = make(tmp_path)
    out = tmp_path / "o.mp4"
    assert main([str(src), str(style_path), "-o", str(out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and not work_folder_for(out).exists()


def test_bad_output_type(tmp_path, capsys, style_path):
    assert main([str(CLIP), str(style_path), "-o", str(tmp_path / "o.gif"), "--quiet"]) == 2
    assert "unknown video type '.gif'" in capsys.readouterr().err


def test_probe_error_is_a_video_error(tmp_path):
    with pytest.raises(VideoError, match="has no video stream"):
        probe(_audio_only(tmp_path / "a.m4a"))


def test_every_video_flag_and_default_is_documented():
    from painterly.video.cli import build_parser

    doc = (ROOT / "docs" / "video.md").read_text()
    parser = build_parser()
    image_flags = {s for g in parser._action_groups if g.title not in ("video",) for a in g._group_actions
                   for s in a.option_strings}
    video_flags = {s for a in parser._actions for s in a.option_strings if s.startswith("--")} - image_flags
    missing = sorted(f for f in video_flags if f"`{f}" not in doc)
    assert not missing, f"docs/video.md lacks {missing}"
    d = VideoConfig()
    for flag, value in (("--temporal-weight W", d.temporal_weight), ("--scene-cut FRACTION", d.scene_cut),
                        ("--crf N", d.crf)):
        row = re.search(rf"^\| `{re.escape(flag)}` \| ([^|]+) \|", doc, re.MULTILINE)
        assert row and float(row.group(1)) == float(value), flag
