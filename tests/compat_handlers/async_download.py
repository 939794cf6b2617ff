"""An ``async def`` handler that calls the blocking download helpers, as public workers do."""

import os

import runpod
from runpod.serverless.utils.rp_download import download_files_from_urls, file


async def handler(job):
    paths = download_files_from_urls(job["id"], job["input"]["urls"])
    single = file(job["input"]["urls"][0])
    with open(single["file_path"], encoding="utf-8") as downloaded:
        first = downloaded.read()
    return {
        "found": [p is not None and os.path.isfile(p) for p in paths],
        "type": single["type"],
        "original_name": single["original_name"],
        "first": first,
    }


runpod.serverless.start({"handler": handler})
