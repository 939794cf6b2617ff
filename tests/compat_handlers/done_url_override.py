"""A test worker that sends its results elsewhere by reassigning ``rp_http.JOB_DONE_URL``."""

import os

import runpod
from runpod.serverless.modules import rp_http

if os.environ.get("OVERRIDE_DONE_URL"):
    rp_http.JOB_DONE_URL = os.environ["OVERRIDE_DONE_URL"]


def handler(job):
    return {"echo": job["input"]}


runpod.serverless.start({"handler": handler})
