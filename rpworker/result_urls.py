"""The job-done and job-stream URL templates, as a handler may have reassigned them.

Handlers reach into ``runpod.serverless.modules.rp_http`` and assign its
``JOB_DONE_URL`` / ``JOB_STREAM_URL`` (one public worker does so to test a
failing post); under the SDK those are the URLs posted to, so here too.
"""

from __future__ import annotations

import os
import sys

RP_HTTP = "runpod.serverless.modules.rp_http"


def initial(env_name: str, placeholder: str, worker_id: str) -> str:
    """The SDK's value at import: the env template with the worker id filled in."""
    return os.environ.get(env_name, placeholder).replace("$RUNPOD_POD_ID", worker_id)


def _reassigned(name: str) -> str | None:
    module = sys.modules.get(RP_HTTP)
    initial_values = getattr(module, "INITIAL_URLS", None)
    if not isinstance(initial_values, dict):
        return None
    value = getattr(module, name, None)
    if isinstance(value, str) and value != initial_values.get(name):
        return value
    return None


def done_url(template: str) -> str:
    return _reassigned("JOB_DONE_URL") or template


def stream_url(template: str) -> str:
    return _reassigned("JOB_STREAM_URL") or template
