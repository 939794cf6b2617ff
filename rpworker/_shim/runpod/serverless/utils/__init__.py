"""``runpod.serverless.utils``: the helpers handlers import, and the SDK's re-exports.

The upload module is loaded only when used (``rp_upload`` or one of its
names): importing it checks that boto3 is there when a bucket is configured.
"""

import importlib
from typing import Any

from rpworker import unsupported
from rpworker.downloads import download_files_from_urls

from . import rp_cleanup, rp_cuda, rp_debugger, rp_download, rp_validator

_FROM_UPLOAD = ("upload_file_to_bucket", "upload_in_memory_object")


def __getattr__(name: str) -> Any:
    if name in _FROM_UPLOAD or name == "rp_upload":
        upload = importlib.import_module(f"{__name__}.rp_upload")
        return upload if name == "rp_upload" else getattr(upload, name)
    raise unsupported.explain(__name__, name)


__all__ = [
    "download_files_from_urls",
    "rp_cleanup",
    "rp_cuda",
    "rp_debugger",
    "rp_download",
    "rp_upload",
    "rp_validator",
    "upload_file_to_bucket",
    "upload_in_memory_object",
]
