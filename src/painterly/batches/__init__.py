"""``painterly batch``: many images, on one machine or a Dask cluster (see :mod:`.run`).

``run`` drives a batch (expand, skip, paint, report), ``jobs`` turns inputs and manifests
into jobs, ``feed`` reads their files and keeps a pool fed (painting again what a lost
worker had), ``workers`` paints them in this process, a process pool or on a cluster, ``cli``
is the command.
"""

from .jobs import MANIFEST_SUFFIXES, Job, check_format, expand
from .run import Event, Ledger, Summary, batch, check_arguments
from .workers import BatchError, CachingPainter, StyleTargetCache, default_workers

__all__ = ["MANIFEST_SUFFIXES", "BatchError", "CachingPainter", "Event", "Job", "Ledger", "StyleTargetCache",
           "Summary", "batch", "check_arguments", "check_format", "default_workers", "expand"]
