"""``runpod.serverless.modules.rp_http``: the result URLs, which a handler may reassign.

Assigning ``JOB_DONE_URL`` or ``JOB_STREAM_URL`` here changes where this
worker posts results, as with the SDK (see :mod:`rpworker.result_urls`).
"""

import os
import uuid

from rpworker.result_urls import initial

WORKER_ID = os.environ.get("RUNPOD_POD_ID", str(uuid.uuid4()))

JOB_DONE_URL_TEMPLATE = initial("RUNPOD_WEBHOOK_POST_OUTPUT", "JOB_DONE_URL", WORKER_ID)
JOB_DONE_URL = JOB_DONE_URL_TEMPLATE
JOB_STREAM_URL_TEMPLATE = initial("RUNPOD_WEBHOOK_POST_STREAM", "JOB_STREAM_URL", WORKER_ID)
JOB_STREAM_URL = JOB_STREAM_URL_TEMPLATE

INITIAL_URLS = {"JOB_DONE_URL": JOB_DONE_URL, "JOB_STREAM_URL": JOB_STREAM_URL}
"""Read by rpworker to tell a reassigned URL from the one the platform gave."""

__all__ = [
    "JOB_DONE_URL",
    "JOB_DONE_URL_TEMPLATE",
    "JOB_STREAM_URL",
    "JOB_STREAM_URL_TEMPLATE",
    "WORKER_ID",
]
