"""Schemathesis hooks for tests/server/test_server_contract.py (loaded through SCHEMATHESIS_HOOKS).

Two refusals of ``POST /api/jobs`` that no schema can state, each a 422 that is the right answer
to a schema-valid request, not a valid request rejected (ST202):

- ``style_blend_weights`` has one weight per ``style`` part: the two live in different parts of the
  form (tests/server/test_server_api.py checks the message);
- an ``Idempotency-Key`` sent earlier with other images or options (the IETF draft's 422): it
  depends on what was sent before, and schemathesis reuses short keys such as "0"
  (tests/server/test_server_contract.py checks it).

Every other failure stands.
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False (drop it) only for those two 422s on ``POST /api/jobs``."""
    if failure.code != "ST202" or case.operation.method.upper() != "POST" or case.operation.path != "/api/jobs":
        return True
    if response.status_code != 422:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    weights, styles = options.get("style_blend_weights"), body.get("style")
    styles = styles if isinstance(styles, list) else [styles]
    blend = isinstance(weights, list) and bool(weights) and len(weights) != len(styles)
    key = any(k.lower() == "idempotency-key" for k in (case.headers or {}))
    return not ((blend and "give one weight per style image" in response.text)
                or (key and "Idempotency-Key was used for another request" in response.text))
