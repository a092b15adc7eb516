"""Idempotent submission: the ``Idempotency-Key`` header (the IETF draft's, and Stripe's convention).

A client that sends ``POST /api/jobs`` with a key and loses the answer (a timeout, a dropped
connection, the server restarted) sends the same request with the same key again, and gets
the job the first request created instead of a second one, for :data:`KEY_TTL` seconds. The
key is kept in the job's ``job.json`` (pending, then finished), so it holds across a restart
for every job the server still knows (done, queued, interrupted; not one that failed or was
cancelled before the restart). The same key with other images or options is refused
(:class:`KeyReused`, 422), and so is a key whose first request is still being accepted
(:class:`KeyInFlight`, 409), as the draft says.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from .job import Job, KeyInFlight, KeyReused

KEY_TTL = 24 * 3600  # seconds a key stands for its first job (Stripe keeps keys for 24 hours)
KEY_PATTERN = r"^[!-~]{1,255}$"  # printable ASCII without spaces, as Stripe's keys (up to 255 characters)


class Keys:
    """Which job each key was first sent with. Not locked: the JobManager calls it under its lock."""

    def __init__(self, jobs: Iterable[Job]):
        self._ids: dict[str, str] = {}  # key -> job id; "" while its first request is being accepted
        for job in sorted(jobs, key=lambda j: j.created, reverse=True):  # the first job of a key wins
            if job.key:
                self._ids[job.key] = job.id

    def claim(self, job: Job, jobs: Mapping[str, Job]) -> Job | None:
        """The job accepted earlier with ``job``'s key, if any; else the key is reserved for ``job``."""
        if job.key is None:
            return None
        first = jobs.get(self._ids.get(job.key) or "")
        if self._ids.get(job.key) == "":
            raise KeyInFlight("a request with this Idempotency-Key is still being accepted; try again in a moment")
        if first is not None and time.time() - first.created < KEY_TTL:
            if first.fingerprint != job.fingerprint:
                raise KeyReused(f"this Idempotency-Key was used for another request (job {first.id}: other images "
                                "or options); send a new key for a new job")
            return first
        self._ids[job.key] = ""
        return None

    def settle(self, job: Job) -> None:
        """``job`` is accepted: its key stands for it from now on."""
        if job.key is not None:
            self._ids[job.key] = job.id

    def release(self, job: Job) -> None:
        """``job`` was not accepted: its key is free again."""
        if job.key is not None and self._ids.get(job.key) == "":
            del self._ids[job.key]
