"""A minimal streaming worker: yields a few tokens, aggregated for /run and test mode."""

import asyncio

import runpod


async def handler(job):
    prompt = job["input"].get("prompt", "world")
    for i in range(3):
        yield f"hello {prompt} {i}"
        await asyncio.sleep(0.1)


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
