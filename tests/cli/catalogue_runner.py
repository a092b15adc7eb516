"""Run many ``painterly`` command lines quickly, each as the console script would run it.

Used by tests/cli/test_catalogue.py. Python, torch and painterly are imported once; every case
then runs in a forked child with its own stdout/stderr files and working folder, through
``painterly.cli.run`` (the console script's entry point, ``sys.exit`` included). A fork costs
milliseconds where a fresh interpreter costs about two seconds, and the child sees exactly
what a user's process sees: no pytest capture, the default warning filters.

Reads ``{"folder": "...", "cases": [[arg, ...], ...]}`` as JSON on stdin and runs each case in
``folder``; writes ``[{"code": int, "stderr": str, "stdout": str, "changed": [path, ...]}, ...]``
as JSON on stdout. ``changed`` lists what a case added, removed or altered in the folder, which
is then put back as it was, so that one case's mess cannot spoil the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import painterly.cli
import painterly.pipeline  # noqa: F401  (torch and the engine, imported once for all cases)

CASE_SECONDS = 120  # a case still running after this is killed and reported as code -SIGALRM


def run_case(argv: list[str], cwd: str) -> dict[str, object]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = os.fork()
        if pid == 0:  # the child: become the console script
            code = 70
            try:
                os.chdir(cwd)
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                signal.alarm(CASE_SECONDS)
                sys.argv = ["painterly", *argv]
                painterly.cli.run()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"code": code, "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


def main() -> None:
    job = json.load(sys.stdin)
    folder = Path(job["folder"])
    before = snapshot(folder)
    with tempfile.TemporaryDirectory() as tmp:
        pristine = Path(tmp) / "pristine"
        shutil.copytree(folder, pristine, symlinks=True)
        results = []
        for argv in job["cases"]:
            started = time.perf_counter()
            result = run_case(argv, str(folder))
            result["seconds"] = time.perf_counter() - started
            after = snapshot(folder)
            result["changed"] = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            if result["changed"]:
                shutil.rmtree(folder)
                shutil.copytree(pristine, folder, symlinks=True)
            results.append(result)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
