"""Every worker-side helper, ``start`` at module level (the most common layout)."""

import os
import re
import urllib.request

import runpod
from runpod import RunPodLogger as TopLevelLogger
from runpod.serverless.modules.rp_logger import RunPodLogger
from runpod.serverless.utils import (
    download_files_from_urls,
    rp_cleanup,
    rp_download,
    rp_upload,
    upload_file_to_bucket,
    upload_in_memory_object,
)
from runpod.serverless.utils.rp_cuda import is_available
from runpod.serverless.utils.rp_debugger import FunctionTimer, LineTimer
from runpod.serverless.utils.rp_validator import validate

logger = RunPodLogger()

INPUT_SCHEMA = {
    "text": {"type": str, "required": True},
    "scale": {"type": float, "required": False, "default": 2},
    "seed": {"type": int, "required": False, "default": None},
    "urls": {"type": list, "required": False, "default": []},
    "archive_url": {"type": str, "required": False, "default": None},
    "upload": {"type": bool, "required": False, "default": False},
}

UUID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|\b[0-9a-f]{8}\b")


def shape(path):
    """A path or URL with its random names masked, relative to the working directory."""
    if path is None:
        return None
    if os.path.isabs(path):
        path = os.path.relpath(path)
    return UUID.sub("<id>", path.split("?")[0])


def fetch(location):
    if location.startswith("http"):
        with urllib.request.urlopen(location) as answer:
            return answer.read().decode()
    with open(location, encoding="utf-8") as local:
        return local.read()


@FunctionTimer
def shout(text):
    return text.upper()


def handler(job):
    checked = validate(job["input"], INPUT_SCHEMA)
    if "errors" in checked:
        return {"error": checked["errors"]}
    args = checked["validated_input"]
    logger.info("input validated", job["id"])
    with LineTimer("work"):
        text = shout(args["text"])
    result = {
        "text": text,
        "args": args,
        "scale_type": type(args["scale"]).__name__,
        "cuda": is_available(),
        "one_logger": TopLevelLogger() is logger,
        "version": isinstance(runpod.__version__, str),
    }
    if args["urls"]:
        paths = download_files_from_urls(job["id"], args["urls"])
        result["downloaded"] = [shape(p) for p in paths]
        result["contents"] = [fetch(p) if p else None for p in paths]
    if args["archive_url"]:
        info = rp_download.file(args["archive_url"])
        result["archive"] = {key: shape(value) for key, value in info.items()}
        result["extracted"] = sorted(os.listdir(info["extracted_path"]))
    if args["upload"]:
        with open("out.txt", "w", encoding="utf-8") as out:
            out.write(text)
        urls = {
            "image": rp_upload.upload_image(job["id"], "out.txt"),
            "files": rp_upload.files(job["id"], ["out.txt", "out.txt"]),
            "bucket": upload_file_to_bucket("named.txt", "out.txt", prefix=job["id"]),
            "memory": upload_in_memory_object("mem.txt", b"in memory"),
        }
        result["uploaded"] = {
            "image": shape(urls["image"]),
            "files": [shape(u) for u in urls["files"]],
            "bucket": shape(urls["bucket"]),
            "memory": shape(urls["memory"]),
        }
        result["read_back"] = [fetch(urls["image"]), fetch(urls["bucket"]), fetch(urls["memory"])]
    rp_cleanup.clean(["jobs"])
    result["cleaned"] = not os.path.exists("jobs") and not os.path.exists("job_files")
    return result


runpod.serverless.start({"handler": handler})
