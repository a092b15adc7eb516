"""The test client the server's tests use loads without a warning.

Starlette 1.10's TestClient takes ``httpx2`` and, with only ``httpx`` installed, warns on every
test run that it is deprecated; the test extra installs ``httpx2`` (pyproject.toml).
"""

import subprocess
import sys

import pytest

pytest.importorskip("fastapi")


def test_the_test_client_loads_without_a_warning() -> None:
    proc = subprocess.run([sys.executable, "-W", "error", "-c", "import fastapi.testclient"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1:]
