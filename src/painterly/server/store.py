"""The output folder: finished results (the gallery) and accepted jobs that have not finished.

- ``<output_dir>/<job id>/``: a finished result: ``result.png`` (provenance in a text chunk),
  ``sheet.png``, ``thumb.jpg``, ``job.json`` and the inputs as the job had them (``content.png``,
  ``style-1.png`` ...: to paint it again). Built as ``.tmp-<job id>/`` and renamed into
  place, so the gallery never shows half a result.
- ``<output_dir>/.pending/<job id>/``: an accepted job until it ends: ``job.json`` (creation
  time, the resolved config, the options and inputs as the API shows them, how many times a
  worker started it, the Idempotency-Key it came with) and its inputs as decoded and shrunk for the job, as 16-bit PNG
  (``content.png``, ``style-1.png``, ...; alpha kept). Written before the server answers 201,
  as ``.pending/.tmp-<job id>/`` renamed into place, so it is whole or absent. Removed when the
  job is done, cancelled or fails; kept when the server stops first, so that the next start
  queues the job again (from its start: no optimiser state is kept).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ..config import StyleConfig
from ..errors import ConfigError
from ..events import Result
from ..images import ImageError, Loaded, load_image, save_image, to_pil, write_bytes_atomic
from ..meta import provenance, save_with_provenance
from ..sheet import contact_sheet
from .job import JOB_ID, Job, JobStatus, encoded, finite

log = logging.getLogger("painterly.server")

META_FILE = "job.json"
PENDING = ".pending"
TMP = ".tmp-"
MAX_STARTS = 3  # a job that the server stopped this many times while painting it waits for a retry


class StoreError(Exception):
    """The output folder could not be written or read back; the message is one line."""


class Store:
    def __init__(self, output_dir: Path):
        self.root = output_dir
        self.pending = output_dir / PENDING
        self._lock = threading.Lock()  # between making and removing the .pending folder

    # Finished results -----------------------------------------------------------------
    def write_result(self, job: Job, result: Result) -> tuple[dict[str, Any], float]:
        """Write the result folder atomically; returns the result summary and the finishing time."""
        assert job.content is not None
        tmp = self.root / f"{TMP}{job.id}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            finished = time.time()
            h, w = result.image.shape[-2:]
            summary = {"seed": result.config.seed, "seconds": round(result.seconds, 2),
                       "iterations": result.iterations, "loss": finite(result.loss), "size": [h, w]}
            record = provenance(result.config, job.inputs, job=job.id, options=job.options, **summary)
            save_with_provenance(result.image, tmp / "result.png", record, alpha=result.alpha, sidecar=False)
            panels = [("content", to_pil(job.content.rgb))]
            names = [s["name"] for s in job.inputs["styles"]]
            panels += [(f"style: {n}"[:40], to_pil(s.rgb)) for n, s in zip(names, job.styles)]
            panels.append(("result", result.pil()))
            _save_pil(contact_sheet(panels, height=min(384, int(h))), tmp / "sheet.png", "PNG")  # no upscaling
            thumb = result.pil().convert("RGB")
            thumb.thumbnail((320, 320))
            _save_pil(thumb, tmp / "thumb.jpg", "JPEG")
            meta = {"id": job.id, "status": JobStatus.DONE.value, "created": job.created, "started": job.started,
                    "finished": finished, "result": summary, "inputs": job.inputs, "options": job.options,
                    "history": job.history, "provenance": record, "images": self._keep_inputs(job.id, tmp),
                    **_key_record(job)}
            _write_json(tmp / META_FILE, meta)
            os.replace(tmp, self.root / job.id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return summary, finished

    def read_results(self) -> list[Job]:
        """The finished jobs in the folder; removes results interrupted mid-write."""
        jobs = []
        for entry in self.root.iterdir():
            if entry.name.startswith(TMP) and JOB_ID.match(entry.name[len(TMP):]):
                shutil.rmtree(entry, ignore_errors=True)
                continue
            if not (JOB_ID.match(entry.name) and (entry / META_FILE).is_file()):
                continue
            try:
                meta = json.loads((entry / META_FILE).read_text())
                job = Job(id=entry.name, config=StyleConfig.from_dict(meta["provenance"]["config"]),
                          options=meta.get("options", {}), inputs=meta.get("inputs", {}),
                          created=float(meta["created"]), status=JobStatus.DONE, started=meta.get("started"),
                          finished=float(meta["finished"]), result=meta.get("result"),
                          history=[(int(d), float(v)) for d, v in meta.get("history", [])])
            except (OSError, ValueError, KeyError, TypeError, ConfigError) as e:
                log.warning("skipping %s: unreadable %s (%s)", entry, META_FILE, e)
                continue
            job.done = job.total = int((job.result or {}).get("iterations", 0))
            job.key, job.fingerprint = _read_key(meta)
            jobs.append(job)
        return jobs

    # Accepted jobs --------------------------------------------------------------------
    def keep(self, job: Job) -> None:
        """Write the job's folder under .pending (before the server accepts it)."""
        assert job.content is not None
        tmp = self.pending / f"{TMP}{job.id}"
        try:
            with self._lock:
                self.pending.mkdir(exist_ok=True)
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir()
            images = []
            for i, img in enumerate([job.content, *job.styles]):
                name = f"style-{i}.png" if i else "content.png"
                save_image(img.rgb, tmp / name, alpha=img.alpha, bit_depth=16)
                images.append({"file": name, "bit_depth": img.bit_depth})
            record = {"id": job.id, "created": job.created, "config": job.config.to_dict(), "options": job.options,
                      "inputs": job.inputs, "images": images, "starts": 0, **_key_record(job)}
            _write_json(tmp / META_FILE, record)
            os.replace(tmp, self.pending / job.id)
        except (OSError, ImageError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise StoreError(f"could not keep the job in {self.pending} ({reason}); "
                             "check the space and permissions of the output folder") from None

    def count_start(self, job_id: str, *, reset: bool = False) -> int:
        """Record that a worker starts the job (or, ``reset``, that it may be tried afresh)."""
        path = self.pending / job_id / META_FILE
        try:
            record = json.loads(path.read_text())
            record["starts"] = 0 if reset else int(record.get("starts", 0)) + 1
            _write_json(path, record)
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise StoreError(f"could not update {path} ({e})") from None
        return int(record["starts"])

    def drop(self, job_id: str) -> None:
        """Forget an accepted job (it ended); the .pending folder goes with its last job."""
        shutil.rmtree(self.pending / job_id, ignore_errors=True)
        self._remove_if_empty()

    def _remove_if_empty(self) -> None:
        with self._lock:
            try:
                self.pending.rmdir()
            except OSError:  # other jobs are still there (or it is gone already)
                pass

    def read_pending(self, finished: set[str]) -> list[Job]:
        """The accepted jobs of an earlier run, oldest first: queued, or interrupted when they cannot run."""
        if not self.pending.is_dir():
            return []
        jobs = []
        for entry in self.pending.iterdir():
            if entry.name.startswith(TMP):  # the server stopped before it accepted this one
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name in finished:  # its result was written just before the server stopped
                shutil.rmtree(entry, ignore_errors=True)
            elif JOB_ID.match(entry.name):
                job = self._read_pending(entry)
                if job is not None:
                    jobs.append(job)
        self._remove_if_empty()
        return sorted(jobs, key=lambda j: (j.created, j.id))

    def _read_pending(self, entry: Path) -> Job | None:
        try:
            record = json.loads((entry / META_FILE).read_text())
            job = Job(id=entry.name, config=StyleConfig.from_dict(record["config"]), options=record["options"],
                      inputs=record["inputs"], created=float(record["created"]))
            starts = int(record.get("starts", 0))
            job.key, job.fingerprint = _read_key(record)
        except (OSError, ValueError, KeyError, TypeError, ConfigError) as e:
            log.warning("leaving %s alone: unreadable %s (%s)", entry, META_FILE, e)
            return None
        try:
            if starts >= MAX_STARTS:
                raise StoreError(f"the server stopped {starts} times while painting it (out of memory?)")
            self.load_inputs(job)
        except StoreError as e:
            job.status, job.error = JobStatus.INTERRUPTED, str(e)
        return job

    def _keep_inputs(self, job_id: str, folder: Path) -> list[dict[str, Any]]:
        """Copy the job's inputs (as decoded for it, under .pending) into its result ``folder``, so that
        the result can be painted again (:meth:`painterly.server.jobs.JobManager.again`); their list."""
        entry = self.pending / job_id
        try:
            images: list[dict[str, Any]] = json.loads((entry / META_FILE).read_text())["images"]
            for item in images:
                name = Path(item["file"]).name
                shutil.copyfile(entry / name, folder / name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("job %s: its inputs are not kept with the result (%s)", job_id, e)
            return []
        return images

    def load_inputs(self, job: Job, entry: Path | None = None) -> None:
        """Read the job's inputs back into ``job`` from ``entry`` (a result's folder), by default its .pending folder."""
        entry = entry if entry is not None else self.pending / job.id
        try:
            images: list[Loaded] = []
            for i, item in enumerate(json.loads((entry / META_FILE).read_text())["images"]):
                img = load_image(entry / Path(item["file"]).name, what="content" if i == 0 else "style")
                images.append(Loaded(img.rgb, img.alpha, int(item["bit_depth"])))
        except (OSError, ValueError, KeyError, TypeError, ImageError) as e:
            reason = str(e).replace(f"{entry}{os.sep}", "").splitlines()[0][:200]  # no server paths in messages
            raise StoreError(f"its inputs could not be read back ({reason})") from None
        if not images:
            raise StoreError("its inputs could not be read back (none listed)")
        job.content, job.styles = images[0], images[1:]


def _key_record(job: Job) -> dict[str, Any]:
    """The job's Idempotency-Key as its job.json keeps it (nothing without one)."""
    return {"idempotency": {"key": job.key, "fingerprint": job.fingerprint}} if job.key else {}


def _read_key(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(Idempotency-Key, fingerprint) from a job.json; (None, None) when it has none or a damaged one."""
    kept = record.get("idempotency")
    key, fp = (kept.get("key"), kept.get("fingerprint")) if isinstance(kept, dict) else (None, None)
    return (key, fp) if isinstance(key, str) and isinstance(fp, str) else (None, None)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _save_pil(im: Any, path: Path, fmt: str) -> None:
    write_bytes_atomic(path, encoded(im, fmt))
