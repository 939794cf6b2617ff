"""The benchmark's handlers, one file for both runtimes.

Run by the reference SDK as ``python handlers.py`` and by ours as
``rpworker handlers.py`` (where ``import runpod`` is rpworker's alias);
BENCH_HANDLER picks the handler and BENCH_CONCURRENCY the concurrency (the
SDK runs one job at a time unless ``concurrency_modifier`` says otherwise).
"""

import asyncio
import os
import time

import runpod


def echo(job):
    return job["input"]


async def sleep_50ms(job):
    await asyncio.sleep(0.05)
    return job["input"]


async def stream_5(job):
    for n in range(5):
        yield n
        await asyncio.sleep(0.01)


def sync_sleep_200ms(job):
    time.sleep(0.2)
    return job["input"]


concurrency = int(os.environ.get("BENCH_CONCURRENCY", "1"))
runpod.serverless.start(
    {
        "handler": globals()[os.environ.get("BENCH_HANDLER", "echo")],
        "concurrency_modifier": lambda current: concurrency,
        "return_aggregate_stream": True,
    }
)
