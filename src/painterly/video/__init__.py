"""``painterly video``: paint a clip frame by frame without flicker (see :mod:`.render`).

``render`` paints and resumes, ``temporal`` holds the optical flow and the temporal loss,
``io`` reads and writes video with PyAV, ``work`` keeps finished frames on disk, ``progress``
carries the events, ``chunks`` and ``parallel`` paint a clip in chunks on many workers at once,
``cli`` is the command.
"""

from .config import VideoConfig
from .io import VideoError
from .render import FrameStep, VideoInterrupted, VideoResult, stylize_video
from .work import work_folder_for

__all__ = ["FrameStep", "VideoConfig", "VideoError", "VideoInterrupted", "VideoResult", "stylize_video",
           "work_folder_for"]
