"""``painterly serve``: paint in the browser, with live progress.

:func:`create_app` builds the FastAPI app (a page, a JSON API, server-sent events) around a
:class:`JobManager` that runs jobs one at a time in a background thread and keeps finished
results in an output folder. Needs the ``web`` extra (fastapi, uvicorn, python-multipart).
"""

from .app import create_app
from .job import JobStatus
from .jobs import JobManager
from .params import PRESETS, Limits

__all__ = ["PRESETS", "JobManager", "JobStatus", "Limits", "create_app"]
