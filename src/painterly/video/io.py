"""Reading and writing video with PyAV (FFmpeg): probe, frame selection, decode, encode.

Frames cross this module's boundary in the package convention, float32 RGB in [0, 1] of
shape (1, 3, H, W). The output is H.264 (libx264, yuv420p, so both sides even) at a
constant frame rate; the source's audio packets are copied through unchanged (no
re-encoding), trimmed to the selected time range at packet granularity.

Timestamps: some containers (AVI with "packed B-frames", such as OpenCV's Megamind.avi)
stamp decoded frames with *decode* timestamps, out of order. Decoders always return frames
in display order, so the i-th decoded frame is given the i-th smallest timestamp.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from ..images import ImageError, check_writable, fit_long_edge, resize
from ..inputs import check_input
from ..vgg import MIN_SIZE

log = logging.getLogger("painterly.video")

OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


class VideoError(ImageError):
    """A video cannot be read, or cannot be written as asked. The message names the file and what to do."""


class VideoWriteError(OSError):
    """Encoding failed midway (a full disk, an encoder error): a failure, not a usage error."""


def _av():  # type: ignore[no-untyped-def]
    try:
        import av
    except ImportError:
        raise VideoError("video needs PyAV: pip install 'painterly[video]' (or pip install av)") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a file. ``times`` are the frames' display times in
    seconds from the start of the file, in display order."""

    path: Path
    width: int
    height: int
    rate: Fraction  # average frame rate
    codec: str
    audio_codec: str | None
    times: tuple[float, ...]

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def duration(self) -> float:
        return self.times[-1] + 1 / float(self.rate) if self.times else 0.0


def _open(path: Path, what: str):  # type: ignore[no-untyped-def]
    av = _av()
    check_input(path, what, limit=None, error=VideoError)  # a video is streamed, not read whole: no size limit
    try:
        return av.open(str(path))
    except PermissionError:
        raise VideoError(f"{what} {path}: cannot be read; check its permissions") from None
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise VideoError(f"{what} {path}: not a video file FFmpeg can read ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    text = str(getattr(e, "strerror", None) or e)
    return text.split(":")[0].strip() or type(e).__name__


def _decoded(container, stream) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Decoded frames of ``stream``, skipping damaged packets (as FFmpeg's tools do)."""
    av = _av()
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            log.warning("skipped a damaged packet at %s", packet.pts)


def probe(path: str | os.PathLike, *, what: str = "input") -> VideoInfo:
    """Open ``path``, check that its video can be decoded, and time every frame (one decoding pass).

    Raises :class:`VideoError` for missing, unreadable, audio-only, undecodable or empty files.
    """
    av = _av()
    path = Path(path)
    with _open(path, what) as c:
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams}) or ["no streams"]
            raise VideoError(f"{what} {path}: has no video stream (only {', '.join(kinds)}); give a video file")
        vs = c.streams.video[0]
        if vs.codec_context is None:
            raise VideoError(f"{what} {path}: its video codec is unknown to this FFmpeg build, which cannot "
                             "decode it; convert the file to H.264 first")
        codec = vs.codec_context.name
        audio = c.streams.audio[0].codec_context.name if c.streams.audio and c.streams.audio[0].codec_context else None
        origin = (c.start_time or 0) / 1_000_000
        pts: list[int | None] = []
        width = height = 0
        try:
            for frame in _decoded(c, vs):
                pts.append(frame.pts)  # type: ignore[attr-defined]
                width, height = frame.width, frame.height  # type: ignore[attr-defined]
        except av.error.FFmpegError as e:
            raise VideoError(f"{what} {path}: the {codec} video cannot be decoded ({_reason(e)}); "
                             "convert it to H.264 first") from None
        if not pts:
            raise VideoError(f"{what} {path}: the video stream has no frames that can be decoded")
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        if any(p is None for p in pts):
            times = tuple(i / float(rate) for i in range(len(pts)))
        else:
            tb = vs.time_base
            times = tuple(float(p * tb) - origin for p in sorted(pts))  # type: ignore[operator, type-var]
    return VideoInfo(path, width, height, Fraction(rate), codec, audio, times)


@dataclass(frozen=True)
class FramePlan:
    """Which source frame each output frame shows. ``start`` is the first output frame's
    time in the source (seconds); output frame k lasts from ``start + k / rate``."""

    sources: tuple[int, ...]
    rate: Fraction
    start: float

    @property
    def end(self) -> float:
        return self.start + len(self.sources) / self.rate


def plan_frames(info: VideoInfo, start: float = 0.0, duration: float | None = None,
                fps: float | None = None) -> FramePlan:
    """Select the frames in [start, start + duration) at ``fps`` (default: the source's rate).

    Output frame k shows the latest source frame at or before time T0 + k / fps (dropping or
    repeating frames when ``fps`` differs), where T0 is the first source frame in range. At
    the source's own rate every frame in range is kept once. Raises :class:`VideoError`
    when the range holds no frame.
    """
    times = info.times
    rate = _fraction(fps) if fps is not None else info.rate
    tol = 0.25 / max(float(rate), float(info.rate))  # timestamps are rounded to their time base
    end = float("inf") if duration is None else start + duration
    first = next((i for i, t in enumerate(times) if t >= start - tol), None)
    if first is None or times[first] >= end - tol:
        if start >= info.duration - tol:
            raise VideoError(f"--start {start:g}: {info.path} is only {info.duration:.2f} s long")
        raise VideoError(f"--start {start:g} --duration {duration:g}: no frame starts in that range "
                         f"(frames are {1 / float(info.rate):.3f} s apart); give a longer --duration")
    t0 = times[first]
    last_time = min(end, info.duration) - tol  # an output frame starts before the range (and the source) ends
    sources: list[int] = []
    j = first
    k = 0
    while True:
        target = t0 + k / float(rate)
        if target >= last_time and k > 0:
            break
        while j + 1 < len(times) and times[j + 1] <= target + tol:
            j += 1
        sources.append(j)
        k += 1
    return FramePlan(tuple(sources), rate, t0)


def _fraction(fps: float) -> Fraction:
    f = Fraction(fps).limit_denominator(1001)
    return f if f > 0 else Fraction(fps)


def output_size(info: VideoInfo, size: int) -> tuple[int, int]:
    """(H, W) with the long edge about ``size`` (:func:`painterly.images.fit_long_edge`, as for an image), at least
    :data:`MIN_SIZE` and both sides even (yuv420p needs them even). The frames are read at this size, so the
    painting's plan (painterly.plan.prepare) keeps it."""
    h, w = (max(MIN_SIZE, side) for side in fit_long_edge((info.height, info.width), size))
    return h - h % 2, w - w % 2


def read_frames(info: VideoInfo, plan: FramePlan, hw: tuple[int, int]) -> Generator[torch.Tensor, None, None]:
    """The planned frames in order, each (1, 3, H, W) float32 in [0, 1] at ``hw`` (antialiased)."""
    wanted: dict[int, int] = {}
    for s in plan.sources:
        wanted[s] = wanted.get(s, 0) + 1
    last = max(plan.sources)
    with _open(info.path, "input") as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        for i, frame in enumerate(_decoded(c, vs)):
            if i in wanted:
                arr = frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
                x = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).float().div_(255)
                x = resize(x, hw)
                for _ in range(wanted[i]):
                    yield x
            if i >= last:
                return


def check_output(path: str | os.PathLike) -> Path:
    """Fail early if ``path`` cannot be written as a video (type by extension, folder writable)."""
    return check_writable(path, option="--output", formats=OUTPUT_FORMATS, kind="video", example="out.mp4",
                          error=VideoError)


def check_encoders(info: VideoInfo, output: Path, audio: bool) -> None:
    """Check, before any heavy work, that libx264 exists and the audio can be copied into ``output``'s container."""
    import io

    av = _av()
    if "libx264" not in av.codecs_available:
        raise VideoError("this PyAV/FFmpeg build has no libx264 encoder; install the PyAV wheel from PyPI")
    if not (audio and info.audio_codec):
        return
    fmt = OUTPUT_FORMATS[output.suffix.lower()]
    with _open(info.path, "input") as c:
        try:
            with av.open(io.BytesIO(), "w", format=fmt) as out:
                out.add_stream_from_template(c.streams.audio[0])
                out.start_encoding()
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"--output {output}: {info.audio_codec} audio cannot be copied into {output.suffix} "
                             f"({_reason(e)}); write .mkv, or drop the sound with --no-audio") from None


def encode(
    frames: Iterator[np.ndarray],
    info: VideoInfo,
    plan: FramePlan,
    output: Path,
    *,
    crf: int = 18,
    audio: bool = True,
) -> None:
    """Write ``frames`` ((H, W, 3) uint8 RGB, one per planned frame) as H.264 to ``output``,
    with the source's audio packets in [plan.start, plan.end) copied unchanged.

    Atomic: a temporary file next to ``output``, renamed when complete.
    """
    av = _av()
    fmt = OUTPUT_FORMATS[output.suffix.lower()]
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part" + output.suffix, dir=output.parent)
    os.close(fd)
    try:
        with _open(info.path, "input") as src, av.open(tmp, "w", format=fmt) as out:
            v = out.add_stream("libx264", rate=plan.rate)
            v.pix_fmt = "yuv420p"
            v.options = {"crf": str(crf), "preset": "medium"}
            copy = audio and bool(src.streams.audio) and src.streams.audio[0].codec_context is not None
            packets = _audio_packets(src, out, plan) if copy else iter(())
            pending = next(packets, None)
            first = True
            for k, arr in enumerate(frames):
                if first:
                    v.height, v.width = arr.shape[:2]
                    first = False
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
                frame.pts = k
                # Interleave: the audio up to this frame's time goes first.
                while pending is not None and pending[0] <= k / plan.rate:
                    out.mux(pending[1])
                    pending = next(packets, None)
                out.mux(v.encode(frame))
            out.mux(v.encode(None))
            while pending is not None:
                out.mux(pending[1])
                pending = next(packets, None)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except av.error.FFmpegError as e:
        _unlink(tmp)
        raise VideoWriteError(f"--output {output}: encoding failed ({_reason(e)})") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _audio_packets(src, out, plan: FramePlan) -> Iterator[tuple[Fraction, object]]:  # type: ignore[no-untyped-def]
    """(output time, packet) for the audio packets that overlap [plan.start, plan.end), re-stamped so
    that the first video frame's time is 0 (picture and sound stay in sync).

    A packet that ends just at the start is kept too (an AAC stream's priming packet, which
    the decoder needs and the container's edit list hides); packets running into the range
    keep their negative start, which the muxer turns into an edit list.
    """
    stream = src.streams.audio[0]
    ostream = out.add_stream_from_template(stream)
    tb = stream.time_base
    origin = Fraction(src.start_time or 0, 1_000_000)
    start = Fraction(plan.start) + origin
    end = Fraction(plan.end) + origin
    shift = round(start / tb)
    eps = Fraction(1, 10_000)
    for packet in src.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        t = packet.pts * tb
        if (packet.pts + (packet.duration or 0)) * tb < start - eps:
            continue
        if t >= end - eps:
            break
        dts = packet.dts if packet.dts is not None else packet.pts
        packet.pts, packet.dts = packet.pts - shift, dts - shift
        packet.stream = ostream
        yield (t - start), packet
