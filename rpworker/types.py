"""Shared aliases: what a job, a handler and a result body look like."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Job = dict[str, Any]
"""A job as the platform hands it over: ``{"id": str, "input": <json>, ...}``."""

Handler = Callable[[Job], Any]
"""Any callable taking a job: plain, async, generator or async generator."""

ResultBody = dict[str, Any]
"""What is posted to job-done: ``output``, ``error`` (a string), ``stopPod``."""

Config = dict[str, Any]
"""The dict users pass to ``start``: handler, return_aggregate_stream, ..."""
