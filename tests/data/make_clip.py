"""Recreate tests/data/clip.mp4 from OpenCV's sample video Megamind.avi (run once; not a test).

    python tests/data/make_clip.py /path/to/Megamind.avi tests/data/clip.mp4

Cuts 1.5 s starting at 2.5 s, downscales to 96 px wide (96x70), encodes H.264 (libx264,
yuv420p) at the source frame rate (2997/125 = 23.976 fps) and AAC stereo audio at 64 kbit/s.
The AVI stores decode timestamps on its frames (packed B-frames); decoded frames come out
in display order, so frame i's time is the i-th smallest timestamp.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av
import numpy as np
from PIL import Image

START, LENGTH, WIDTH = 2.5, 1.5, 96


def main(src: str, dst: str) -> None:
    with av.open(src) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        times = sorted(float(f.pts * vs.time_base) for f in frames)
        rate = vs.average_rate
    keep = [(t, f) for t, f in zip(times, frames) if START <= t < START + LENGTH]
    t0 = keep[0][0]
    h = round(frames[0].height * WIDTH / frames[0].width) // 2 * 2
    with av.open(src) as c:
        a = c.streams.audio[0]
        sr = a.codec_context.sample_rate
        chunks = []
        for packet in c.demux(a):
            try:
                chunks += [fr.to_ndarray() for fr in packet.decode()]
            except av.error.InvalidDataError:  # the file has a few damaged AC-3 packets
                chunks.append(np.zeros((a.codec_context.channels, 1536), np.float32))
    pcm = np.concatenate(chunks, axis=1)  # (channels, samples), float planar
    pcm = pcm[:, round(t0 * sr): round((t0 + len(keep) / rate) * sr)]
    with av.open(dst, "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=Fraction(rate))
        v.width, v.height, v.pix_fmt = WIDTH, h, "yuv420p"
        v.options = {"crf": "20", "preset": "slow"}
        au = out.add_stream("aac", rate=sr, layout="stereo")
        au.bit_rate = 64000
        for k, (_, f) in enumerate(keep):
            img = f.to_image().resize((WIDTH, h), Image.LANCZOS)
            frame = av.VideoFrame.from_ndarray(np.asarray(img), format="rgb24")
            frame.pts = k
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        step = 1024
        for i in range(0, pcm.shape[1], step):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm[:, i:i + step], dtype=np.float32),
                                            format="fltp", layout="stereo")
            af.sample_rate, af.pts = sr, i
            out.mux(au.encode(af))
        out.mux(au.encode(None))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
