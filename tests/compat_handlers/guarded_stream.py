"""A streaming worker: ``start`` under ``if __name__ == "__main__"``, a concurrency modifier."""

import asyncio

import runpod

MODIFIER_CALLS = []


def adjust_concurrency(current):
    MODIFIER_CALLS.append(current)
    return 2


async def handler(job):
    for index in range(job["input"]["count"]):
        runpod.serverless.progress_update(job, f"step {index}")
        await asyncio.sleep(0.01)
        yield {"index": index, "modifier_consulted": bool(MODIFIER_CALLS)}


if __name__ == "__main__":
    runpod.serverless.start(
        {
            "handler": handler,
            "return_aggregate_stream": True,
            "concurrency_modifier": adjust_concurrency,
        }
    )
